#!/usr/bin/env python3
"""Tokenizer throughput: embedflow's engine against Hugging Face `tokenizers` (npm, the Rust
library behind every *TokenizerFast), one thread each, the same 100,000 sentences, in one run.

For each published tokenizer (all-MiniLM-L6-v2 WordPiece, CLIP and RoBERTa byte-level BPE, and
the Unigram/SentencePiece fixture), the two alternate for --rounds rounds; each round is the best
of --repeat passes. Prints tokens/s of each, the ratio (median over rounds) and whether the ids
are identical (a checksum over every id). Then:
  - linearity: the time of one line of 100 KB and of 1 MB (ratio ~10 when linear);
  - memory: peak RSS after loading an XLM-R-size Unigram tokenizer (250,000 pieces, generated).
The CPU is named from /proc/cpuinfo. Needs `npm ci` in tests/fixtures/tokenizers.

  /usr/bin/python3 bench/tokenizers/run_bench.py --build build [--sentences 100000]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures", "text"))
from corpus import bench_sentences  # noqa: E402

TOKENIZERS = [
    ("all-MiniLM-L6-v2 (WordPiece)", "data/tokenizers/all-MiniLM-L6-v2/tokenizer.json"),
    ("clip-vit-base-patch32 (BPE)", "data/tokenizers/clip-vit-base-patch32/tokenizer.json"),
    ("roberta-base (byte-level BPE)", "data/tokenizers/roberta-base/tokenizer.json"),
    ("spm-nmt-nfkc (Unigram)", "tests/fixtures/tokenizers/models/spm-nmt-nfkc/tokenizer.json"),
]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def one_thread_env():
    env = dict(os.environ)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["RAYON_NUM_THREADS"] = "1"
    env["UV_THREADPOOL_SIZE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=one_thread_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def xlmr_size_unigram(path, pieces=250000, seed=0):
    """A Unigram tokenizer.json with XLM-R's piece count: SentencePiece-like pieces from several
    scripts with descending scores (memory only; its ids are not compared)."""
    rng = random.Random(seed)
    alphabets = ["abcdefghijklmnopqrstuvwxyz", "абвгдежзийклмнопрстуфхцчшщыэюя",
                 "αβγδεζηθικλμνξοπρστυφχψω", "".join(chr(c) for c in range(0x4E00, 0x4E00 + 2000)),
                 "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशसह"]
    seen = {"<s>", "<pad>", "</s>", "<unk>"}
    vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    while len(vocab) < pieces:
        a = rng.choice(alphabets)
        p = ("\u2581" if rng.random() < 0.4 else "") + "".join(
            rng.choice(a) for _ in range(rng.randint(1, 8)))
        if p in seen:
            continue
        seen.add(p)
        vocab.append([p, -1.0 - len(vocab) / 10000.0])
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
           "normalizer": None,
           "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                             "prepend_scheme": "always", "split": True},
           "post_processor": None, "decoder": None,
           "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--sentences", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()

    exe = os.path.join(a.build, "bench", "tokenizers", "tokenizer_bench")
    node_ref = os.path.join(HERE, "hf_tokenizers.js")
    gen = os.path.join(a.build, "generated")
    os.makedirs(gen, exist_ok=True)
    sent_file = os.path.join(gen, f"tokenizer_bench_{a.sentences}.txt")
    if not os.path.exists(sent_file):
        with open(sent_file, "w", encoding="utf-8") as f:
            f.write("\n".join(bench_sentences(a.sentences, seed=2026)) + "\n")

    print(f"CPU: {cpu_name()}; {a.sentences} sentences (5-40 English-like words), one thread "
          f"each; {a.rounds} alternating rounds, best of {a.repeat} passes per round")
    print(f"{'tokenizer':32} {'embedflow tok/s':>16} {'HF tok/s':>12} {'ratio':>7}  ids")
    ratios = {}
    for name, rel in TOKENIZERS:
        path = os.path.join(ROOT, rel)
        if not os.path.exists(path):
            print(f"{name:32} missing {rel}")
            continue
        ours, theirs, per_round = [], [], []
        same = True
        for _ in range(a.rounds):
            e = run_json([exe, "--tokenizer", path, "--sentences", sent_file,
                          "--repeat", str(a.repeat)])
            h = run_json(["node", node_ref, "--tokenizer", path, "--sentences", sent_file,
                          "--repeat", str(a.repeat)])
            ours.append(e["tokens_per_s"])
            theirs.append(h["tokens_per_s"])
            per_round.append(e["tokens_per_s"] / h["tokens_per_s"])
            same = same and e["checksum"] == h["checksum"] and e["tokens"] == h["tokens"]
        ratio = statistics.median(per_round)
        ratios[name] = ratio
        print(f"{name:32} {statistics.median(ours):16,.0f} {statistics.median(theirs):12,.0f} "
              f"{ratio:6.2f}x  {'identical' if same else 'DIFFERENT'}")

    print("\nlinearity: one line, seconds (ratio 1 MB / 100 KB; 10 is linear)")
    for name, rel in TOKENIZERS[:3]:
        path = os.path.join(ROOT, rel)
        row = []
        for who in ("embedflow", "HF"):
            times = {}
            for size in (100_000, 1_000_000):
                cmd = ([exe, "--tokenizer", path, "--long-line", str(size)] if who == "embedflow"
                       else ["node", node_ref, "--tokenizer", path, "--long-line", str(size)])
                times[size] = run_json(cmd)["seconds"]
            row.append(f"{who} {times[100_000]:.3f} / {times[1_000_000]:.3f} "
                       f"({times[1_000_000] / times[100_000]:.1f})")
        print(f"  {name:32} " + "   ".join(row))

    big = os.path.join(gen, "xlmr_size_unigram.json")
    if not os.path.exists(big):
        xlmr_size_unigram(big)
    e = run_json([exe, "--tokenizer", big, "--load-only"])
    h = run_json(["node", node_ref, "--tokenizer", big, "--load-only"])
    print(f"\nmemory: a 250,000-piece Unigram tokenizer.json loaded: embedflow peak RSS "
          f"{e['peak_rss_kib'] / 1024:.0f} MiB (before loading {e['rss_before_kib'] / 1024:.0f}), "
          f"load {e['load_seconds']:.2f} s; HF (node) {h['peak_rss_kib'] / 1024:.0f} MiB "
          f"(before {h['rss_before_kib'] / 1024:.0f}), load {h['load_seconds']:.2f} s")


if __name__ == "__main__":
    main()
