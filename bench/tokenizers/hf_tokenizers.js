// The reference for bench/tokenizers: Hugging Face `tokenizers` (the npm package pinned in
// tests/fixtures/tokenizers/package-lock.json; the Rust library behind every *TokenizerFast) on
// the same lines, one thread (run_bench.py sets TOKENIZERS_PARALLELISM=false and
// RAYON_NUM_THREADS=1), as its users call it: encodeBatch over chunks of lines, special tokens
// added, no truncation or padding. Prints the same JSON fields as tokenizer_bench.
//
//   node hf_tokenizers.js --tokenizer T/tokenizer.json --sentences s.txt [--repeat 3]
//   node hf_tokenizers.js --tokenizer T/tokenizer.json --long-line BYTES | --load-only
const fs = require('fs')
const path = require('path')
const { Tokenizer } = require(path.join(__dirname, '../../tests/fixtures/tokenizers/node_modules/tokenizers'))

function arg(name, fallback) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}

function peakRssKib() {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)/)
  return m ? Number(m[1]) : -1
}

// FNV-1a over the ids, as tokenizer_bench.cpp computes it (64-bit, in BigInt).
function mix(h, v) {
  return ((h ^ BigInt(v)) * 1099511628211n) & 0xffffffffffffffffn
}

async function main() {
  const file = arg('--tokenizer')
  const rssBefore = peakRssKib()
  let t0 = process.hrtime.bigint()
  const tok = Tokenizer.fromFile(file)
  tok.disableTruncation()
  tok.disablePadding()
  const out = { load_seconds: Number(process.hrtime.bigint() - t0) / 1e9, vocab_size: tok.getVocabSize(true) }
  if (process.argv.includes('--load-only')) {
    out.rss_before_kib = rssBefore
    out.peak_rss_kib = peakRssKib()
    console.log(JSON.stringify(out))
    return
  }
  const longLine = Number(arg('--long-line', 0))
  if (longLine) {
    const words = 'tokenization of a very long line stays linear in its length '
    const line = words.repeat(Math.ceil(longLine / words.length)).slice(0, longLine)
    t0 = process.hrtime.bigint()
    const enc = await tok.encode(line, null, { addSpecialTokens: true })
    out.bytes = longLine
    out.tokens = enc.getIds().length
    out.seconds = Number(process.hrtime.bigint() - t0) / 1e9
    console.log(JSON.stringify(out))
    return
  }
  const lines = fs.readFileSync(arg('--sentences'), 'utf8').split('\n')
  if (lines.length && lines[lines.length - 1] === '') lines.pop()
  const repeat = Number(arg('--repeat', 3))
  const chunk = 1024
  let best = Infinity
  let tokens = 0
  let checksum = 0n
  for (let r = 0; r < repeat; r++) {
    let n = 0
    let h = 1469598103934665603n
    t0 = process.hrtime.bigint()
    const all = []
    for (let i = 0; i < lines.length; i += chunk) {
      const encs = await tok.encodeBatch(lines.slice(i, i + chunk), { addSpecialTokens: true })
      for (const e of encs) all.push(e.getIds())
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    // The checksum is computed outside the timed region (BigInt arithmetic is slow in JS).
    for (const ids of all) {
      n += ids.length
      for (const id of ids) h = mix(h, id)
      h = mix(h, 0xffffffff)
    }
    if (s < best) best = s
    tokens = n
    checksum = h
  }
  Object.assign(out, {
    sentences: lines.length,
    tokens,
    seconds: best,
    tokens_per_s: tokens / best,
    checksum: checksum.toString(),
    peak_rss_kib: peakRssKib(),
  })
  console.log(JSON.stringify(out))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
