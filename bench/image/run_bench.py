#!/usr/bin/python3
"""embedflow vs torchvision, side by side in one run (same random weights, same inputs).

1. Encoder throughput, batch 16 at 224x224, for resnet18 and resnet50: torchvision eager (as
   shipped: model.eval() under torch.inference_mode()), torchvision eager with channels_last,
   and embedflow's encode.image model (BatchNorm folded, channels-last).
2. End to end on a folder of 256 JPEGs: what users run, `embedflow run
   configs/image_embeddings.yaml` (image.load → image.preprocess → encode.image → write.npy),
   vs a sequential Python loop (OpenCV decode, torchvision tensor transforms, the eager model
   in batches of 16), and pipeline ÷ kernel: the pipeline's images/s (run time less model load)
   against embedflow's encoder (as in 1., same model) run just before it, in --rounds
   alternating rounds; the whole process (start-up and model load included) and its user/sys
   CPU time beside it.

Run via `ninja -C build bench_image`, or directly:
  /usr/bin/python3 bench/image/run_bench.py --bench build/bench/image/image_bench \
      --cli build/apps/embedflow --data build/generated/bench-image \
      --images examples/media/images --threads 2
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

import cv2
import torch
import torchvision
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures"))
from safetensors_np import load_safetensors, save_safetensors, torch_arrays  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "bench", "core"))
import pipeline_run  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "image_embeddings.yaml")

ARCHS = ("resnet18", "resnet50")


def prepare(data, images):
    os.makedirs(f"{data}/jpegs", exist_ok=True)
    models = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, arch)(weights=None).eval()
        path = f"{data}/{arch}.safetensors"
        if os.path.exists(path):
            # Reload the exact weights the C++ side uses (written by an earlier run).
            model.load_state_dict({k: torch.from_numpy(v) for k, v in load_safetensors(path).items()})
        else:
            save_safetensors(path, torch_arrays(model.state_dict()))
        models[arch] = model
    jpegs = sorted(f for f in os.listdir(f"{data}/jpegs") if f.endswith(".jpg"))
    if len(jpegs) < 256:
        rng = random.Random(0)
        srcs = [cv2.imread(f"{images}/{n}", cv2.IMREAD_COLOR) for n in sorted(os.listdir(images))]
        for i in range(256):
            img = srcs[i % len(srcs)]
            h, w = img.shape[:2]
            ch, cw = rng.randint(h // 2, h), rng.randint(w // 2, w)
            y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
            crop = img[y:y + ch, x:x + cw]
            size = (500, 375) if rng.random() < 0.7 else (375, 500)  # ImageNet-like sizes
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            cv2.imwrite(f"{data}/jpegs/{i:03d}.jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return models



def time_loop(fn, budget):
    fn()
    fn()  # warm-up
    iters, t0 = 0, time.perf_counter()
    while True:
        fn()
        iters += 1
        if time.perf_counter() - t0 >= budget and iters >= 3:
            return iters, time.perf_counter() - t0


def torchvision_model(model, batch, budget, channels_last):
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        iters, s = time_loop(lambda: model(x), budget)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return iters * batch / s


def python_e2e(model, folder, batch):
    tf = T.Compose([T.Resize(256, InterpolationMode.BILINEAR, antialias=True), T.CenterCrop(224),
                    T.ConvertImageDtype(torch.float),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    files = sorted(f"{folder}/{n}" for n in os.listdir(folder) if n.endswith(".jpg"))
    t0 = time.perf_counter()
    feats, pending = [], []
    with torch.inference_mode():
        for path in files:
            rgb = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            pending.append(tf(torch.from_numpy(rgb).permute(2, 0, 1)))
            if len(pending) == batch:
                feats.append(model(torch.stack(pending)))
                pending = []
        if pending:
            feats.append(model(torch.stack(pending)))
    return len(files) / (time.perf_counter() - t0)


def embedflow(bench, *args):
    r = subprocess.run([bench, *args], check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path of the image_bench binary")
    ap.add_argument("--cli", required=True, help="path of the embedflow binary")
    ap.add_argument("--data", required=True, help="folder for the generated models and JPEGs")
    ap.add_argument("--images", required=True, help="source images for the JPEG folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="time budget per measurement")
    ap.add_argument("--e2e-arch", default="resnet50", choices=ARCHS)
    ap.add_argument("--rounds", type=int, default=3,
                    help="kernel / pipeline rounds for the pipeline ÷ kernel ratio")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    models = prepare(args.data, args.images)

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{args.threads} threads, batch {args.batch}, on {pipeline_run.describe_machine()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'model':10} {'torchvision eager':>18} {'tv channels_last':>17} {'embedflow':>10} "
          f"{'x eager':>8} {'x ch_last':>9}   (images/s)")
    for arch in ARCHS:
        eager = torchvision_model(models[arch], args.batch, args.seconds, False)
        cl = torchvision_model(models[arch], args.batch, args.seconds, True)
        ours = embedflow(args.bench, "model", "--model", f"{args.data}/{arch}.safetensors",
                         "--batch", str(args.batch), "--threads", str(args.threads),
                         "--seconds", str(args.seconds))["images_per_s"]
        print(f"{arch:10} {eager:18.1f} {cl:17.1f} {ours:10.1f} {ours / eager:7.2f}x "
              f"{ours / cl:8.2f}x", flush=True)

    arch = args.e2e_arch
    py = python_e2e(models[arch], f"{args.data}/jpegs", args.batch)
    # Pipeline ÷ kernel from alternating rounds (the kernel row just before each pipeline run):
    # the machine's speed drifts by 20-30% within minutes, more than the gap being measured.
    pipe, ratios, process_ratios = [], [], []
    for _ in range(args.rounds):
        k = embedflow(args.bench, "model", "--model", f"{args.data}/{arch}.safetensors",
                      "--batch", str(args.batch), "--threads", str(args.threads),
                      "--seconds", str(args.seconds))["images_per_s"]
        r = pipeline_run.run(args.cli, CONFIG, [f"images.dir={args.data}/jpegs",
                                                f"embed.model={args.data}/{arch}.safetensors",
                                                f"embed.batch_size={args.batch}",
                                                f"out.path={args.data}/pipeline_{arch}.npy"],
                             threads=args.threads)
        pipe.append(r)
        ratios.append(r["pipeline_per_s"] / k)
        process_ratios.append(r["process_per_s"] / k)
    r = max(pipe, key=lambda x: x["pipeline_per_s"])
    embed = next(st for st in r["stages"] if st["id"] == "embed")
    med = sorted(ratios)[len(ratios) // 2]
    med_process = sorted(process_ratios)[len(process_ratios) // 2]
    print(f"end to end, 256 JPEGs, {arch}: python loop {py:.1f} images/s; `embedflow run "
          f"configs/image_embeddings.yaml` {r['pipeline_per_s']:.1f} images/s (best of "
          f"{args.rounds}; {r['pipeline_per_s'] / py:.2f}x the loop)")
    print(f"  pipeline ÷ kernel (each round against the kernel run just before it): median "
          f"{med:.2f}x, rounds {', '.join(f'{x:.2f}' for x in ratios)}; whole process "
          f"(start-up and model load included): median {med_process:.2f}x")
    print(f"  user {r['user']:.1f} s, sys {r['sys']:.2f} s ({r['sys'] / r['user']:.1%} of user), "
          f"peak RSS {r['peak_rss_mib']:.0f} MiB; encode stage: concurrency "
          f"{embed['concurrency']}, {embed.get('threads')} thread(s) per call", flush=True)


if __name__ == "__main__":
    main()
