// The ONNX Runtime side of bench/peers: runs an .onnx on batches of inputs (.npy files listed in a
// manifest that run_bench.py writes) the way its users configure a CPU session, and prints one
// JSON line with items/s (best and median of the timed passes).
//
//   node ort_bench.js --model M.onnx --manifest batches.json --threads N
//        [--repeat 3] [--seconds S] [--warmup BATCHES] [--save out.npy] [--optimized graph.onnx]
//
// manifest: {"batches": [{"input_ids": "b0_ids.npy", "attention_mask": "b0_mask.npy"}, ...]};
// a file named in several batches is read once. --warmup: batches run before timing (default:
// all of them, one untimed pass). --seconds: go on with timed passes until they took this long
// in all (and at least --repeat of them), as image_bench does. --save: the outputs of the last
// timed pass, rows in batch order. --optimized: also write the graph ORT runs after its
// optimisations (to see fusions).
const fs = require('fs')
const path = require('path')
const ort = require('onnxruntime-node')

function arg(name, fallback) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}

const NPY_TYPES = {
  '<f4': ['float32', Float32Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
}

function readNpy(file) {
  const buf = fs.readFileSync(file)
  const major = buf[6]
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  const header = buf.toString('latin1', start, start + headerLen)
  const descr = header.match(/'descr':\s*'([^']+)'/)[1]
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`)
  const dims = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim())
    .map(Number)
  if (!NPY_TYPES[descr]) throw new Error(`${file}: dtype ${descr} not supported`)
  const [type, Array] = NPY_TYPES[descr]
  const data = buf.subarray(start + headerLen)
  // copied: the typed array needs its own aligned buffer
  const values = new Array(new Uint8Array(data).buffer, 0, data.length / Array.BYTES_PER_ELEMENT)
  return new ort.Tensor(type, values, dims)
}

function writeNpy(file, rows, dims) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')},), }`
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'
  const pre = Buffer.alloc(10)
  Buffer.from('\x93NUMPY', 'latin1').copy(pre)
  pre[6] = 1
  pre.writeUInt16LE(header.length, 8)
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    ...rows.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))]))
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main() {
  const modelFile = arg('--model')
  const manifestFile = arg('--manifest')
  const threads = Number(arg('--threads', 1))
  const repeat = Number(arg('--repeat', 3))
  const budget = Number(arg('--seconds', 0))
  const optimized = arg('--optimized')

  // As ORT's users set up a CPU session: every graph optimisation, N intra-op threads, one
  // sequential executor (no inter-op pool), the default arena and memory patterns.
  const options = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  }
  if (optimized) options.optimizedModelFilePath = optimized
  let t0 = performance.now()
  const session = await ort.InferenceSession.create(modelFile, options)
  const loadSeconds = (performance.now() - t0) / 1000

  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'))
  const dir = path.dirname(manifestFile)
  const cache = new Map()
  const batches = manifest.batches.map((b) => Object.fromEntries(Object.entries(b).map(([k, f]) => {
    const p = path.resolve(dir, f)
    if (!cache.has(p)) cache.set(p, readNpy(p))
    return [k, cache.get(p)]
  })))
  const items = batches.reduce((n, b) => n + Object.values(b)[0].dims[0], 0)
  const output = session.outputNames[0]

  const warmup = Number(arg('--warmup', batches.length))
  for (let i = 0; i < warmup; ++i) await session.run(batches[i % batches.length])
  const seconds = []
  let rows = []
  const sum = (xs) => xs.reduce((a, b) => a + b, 0)
  while (seconds.length < repeat || (repeat && sum(seconds) < budget)) {
    rows = []
    t0 = performance.now()
    for (const b of batches) rows.push((await session.run(b))[output])
    seconds.push((performance.now() - t0) / 1000)
  }
  const save = arg('--save')
  if (save && rows.length) {
    writeNpy(save, rows.map((t) => t.data), [items, rows[0].dims[1]])
  }
  const best = Math.min(...seconds)
  console.log(JSON.stringify({
    impl: `onnxruntime-node ${ort.env.versions.node}`,
    model: path.basename(modelFile),
    threads,
    items,
    batches: batches.length,
    passes: seconds.length,
    load_seconds: loadSeconds,
    seconds: best,
    items_per_s: repeat ? items / best : null,
    items_per_s_median: repeat ? items / median(seconds) : null,
    // every timed pass together (image_bench's images_per_s)
    items_per_s_all: repeat ? items * seconds.length / sum(seconds) : null,
  }))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
