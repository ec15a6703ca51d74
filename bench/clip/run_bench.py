"""CLIP benchmark driver: runs embedflow's clip_bench and the Python reference
(clip_reference_bench.py) on the same ViT-B/32-shaped checkpoint, one after the other in one
run, and prints images/s and captions/s side by side with the ratio.

    /usr/bin/python3 bench/clip/run_bench.py --bench build/bench/clip/clip_bench \
        --model build/generated/clip-vit-b32/model [--threads 2] [--batch 32]

Without the model folder it is generated first (tests/fixtures/clip/gen_clip_fixture.py).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the clip_bench executable")
    ap.add_argument("--model", required=True, help="CLIP model folder (HF layout)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2,
                    help="alternate the two sides this many times and keep each one's best")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.model, "model.safetensors")):
        out = os.path.dirname(os.path.normpath(args.model))
        print(f"generating the random ViT-B/32 checkpoint in {out} ...", flush=True)
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "fixtures", "clip",
                                                     "gen_clip_fixture.py"), "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
    common = ["--model", args.model, "--threads", str(args.threads), "--batch", str(args.batch),
              "--batches", str(args.batches)]
    env_note = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start"
    ours, ref = {}, {}
    for _ in range(args.repeat):  # alternating, so a load change hits both sides alike
        for best, cmd in ((ours, [args.bench] + common),
                          (ref, [sys.executable, os.path.join(HERE, "clip_reference_bench.py")]
                           + common)):
            for key, value in run_json(cmd).items():
                if isinstance(value, float):
                    best[key] = max(best.get(key, 0.0), value)
                else:
                    best[key] = value

    print(ours["model"])
    print(f"threads {args.threads}, batch {args.batch}, best of {args.repeat} alternating runs; "
          f"{env_note}")
    print(f"embedflow: {ours['torch']}; reference: Python torch {ref['torch']}")
    rows = [("images/s  (prepared 224x224 tensors)", "images_per_s"),
            ("images/s  (640x480 photos, CLIPImageProcessor + tower)", "photos_per_s"),
            ("captions/s (embedflow: tokenise + tower; reference: tower)", "captions_per_s")]
    print(f"{'':58} {'embedflow':>10} {'reference':>10} {'ratio':>7}")
    for label, key in rows:
        print(f"{label:58} {ours[key]:10.1f} {ref[key]:10.1f} {ours[key] / ref[key]:6.2f}x")


if __name__ == "__main__":
    main()
