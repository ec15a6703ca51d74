#!/usr/bin/env python3
"""Peak RSS of `embedflow run` on a 1 000-line and a 100 000-line text source (source.text ->
text.stats -> write.jsonl): with bounded in-flight items the second must stay within 10 % of the
first. Prints both, the ratio, and exits 1 if the bound is broken.

usage: bench/core/peak_rss.py [--cli build/apps/embedflow] [--small 1000] [--large 100000]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

PIPELINE = """pipeline: peak_rss
threads: 2
stages:
  - id: lines
    type: source.text
    params: {{ file: {src} }}
  - id: stats
    type: text.stats
  - id: save
    type: write.jsonl
    params: {{ path: {out} }}
"""


def measure(cli, workdir, n):
    src = os.path.join(workdir, f"lines-{n}.txt")
    with open(src, "w") as f:
        for i in range(n):
            f.write(f"sentence {i}: the quick brown fox jumps over the lazy dog {i * 7919 % 10007}\n")
    yaml = os.path.join(workdir, f"p-{n}.yaml")
    out = os.path.join(workdir, f"out-{n}.jsonl")
    with open(yaml, "w") as f:
        f.write(PIPELINE.format(src=src, out=out))
    # Each measurement in its own child interpreter: RUSAGE_CHILDREN is a max over all children.
    code = (
        "import resource,subprocess,sys,time;t=time.time();"
        f"r=subprocess.run([{cli!r},'run',{yaml!r},'--progress','off'],capture_output=True);"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.time()-t);"
        "sys.stderr.write(r.stderr.decode()[-2000:] if r.returncode else '')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    rc, rss_kb, secs = res.stdout.split()
    if rc != "0":
        sys.exit(f"embedflow failed on {n} lines:\n{res.stderr}")
    with open(out) as f:
        rows = sum(1 for _ in f)
    if rows != n:
        sys.exit(f"expected {n} rows, got {rows}")
    return int(rss_kb), float(secs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default="build/apps/embedflow")
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100000)
    a = ap.parse_args()
    cli = os.path.abspath(a.cli)
    with tempfile.TemporaryDirectory() as d:
        small_kb, small_s = measure(cli, d, a.small)
        large_kb, large_s = measure(cli, d, a.large)
    ratio = large_kb / small_kb
    print(f"{a.small:>9} lines: peak RSS {small_kb / 1024:8.1f} MiB  ({small_s:.2f} s)")
    print(f"{a.large:>9} lines: peak RSS {large_kb / 1024:8.1f} MiB  ({large_s:.2f} s, {a.large / large_s:.0f} lines/s)")
    print(f"ratio large/small: {ratio:.3f}  (bound: <= 1.10)")
    sys.exit(0 if ratio <= 1.10 else 1)


if __name__ == "__main__":
    main()
