"""CLIP benchmark driver: runs embedflow's clip_bench and the Python reference
(clip_reference_bench.py) on the same ViT-B/32-shaped checkpoint, one after the other in one
run, and prints images/s and captions/s side by side with the ratio. Then what users run,
`embedflow run configs/clip_image_embeddings.yaml` on a folder of photos (the bundled examples,
repeated to --pipeline-images), printed as pipeline ÷ kernel: images/s with the model loaded
against clip_bench's prepared-tensor row of the same run, and the whole process.

    /usr/bin/python3 bench/clip/run_bench.py --bench build/bench/clip/clip_bench \
        --cli build/apps/embedflow --model build/generated/clip-vit-b32/model [--threads 2]

Without the model folder it is generated first (tests/fixtures/clip/gen_clip_fixture.py).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "bench", "core"))
import pipeline_run  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "clip_image_embeddings.yaml")
PHOTOS = os.path.join(REPO, "examples", "media", "images")


def photo_folder(folder, n):
    """n photos: the bundled examples, cycled, as symlinks (decoded like any file)."""
    os.makedirs(folder, exist_ok=True)
    sources = sorted(os.listdir(PHOTOS))
    for i in range(n):
        src = sources[i % len(sources)]
        link = os.path.join(folder, f"{i:04d}{os.path.splitext(src)[1]}")
        if not os.path.lexists(link):
            os.symlink(os.path.join(PHOTOS, src), link)
    return folder


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the clip_bench executable")
    ap.add_argument("--cli", required=True, help="the embedflow executable")
    ap.add_argument("--pipeline-images", type=int, default=128)
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
    folder = photo_folder(os.path.join(os.path.dirname(os.path.normpath(args.model)),
                                       f"photos-{args.pipeline_images}"), args.pipeline_images)
    ours, ref = {}, {}
    pipes, ratios, process_ratios = [], [], []
    for _ in range(args.repeat):  # alternating, so a load change hits both sides alike
        for best, cmd in ((ours, [args.bench] + common),
                          (ref, [sys.executable, os.path.join(HERE, "clip_reference_bench.py")]
                           + common)):
            result = run_json(cmd)
            for key, value in result.items():
                if isinstance(value, float):
                    best[key] = max(best.get(key, 0.0), value)
                else:
                    best[key] = value
            if best is ours:
                # The pipeline right after the kernel it is compared with (speed drifts).
                p = pipeline_run.run(args.cli, CONFIG, [
                    f"images.dir={folder}", f"embed.model={args.model}",
                    f"embed.batch_size={args.batch}",
                    f"out.path={folder}-out/image_embeddings.npy"], threads=args.threads)
                pipes.append(p)
                ratios.append(p["pipeline_per_s"] / result["images_per_s"])
                process_ratios.append(p["process_per_s"] / result["images_per_s"])

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

    r = max(pipes, key=lambda x: x["pipeline_per_s"])
    embed = next(st for st in r["stages"] if st["id"] == "embed")
    print(f"\n`embedflow run configs/clip_image_embeddings.yaml`, {r['items']} photos, on "
          f"{pipeline_run.describe_machine()}")
    print(f"  pipeline {r['pipeline_per_s']:.1f} images/s (best round); pipeline ÷ kernel "
          f"(prepared-tensor row of the same round): {', '.join(f'{x:.2f}' for x in ratios)}; "
          f"whole process: {', '.join(f'{x:.2f}' for x in process_ratios)}")
    print(f"  user {r['user']:.1f} s, sys {r['sys']:.2f} s ({r['sys'] / r['user']:.1%} of user), "
          f"peak RSS {r['peak_rss_mib']:.0f} MiB; encode stage: concurrency "
          f"{embed['concurrency']}, {embed.get('threads')} thread(s) per call")


if __name__ == "__main__":
    main()
