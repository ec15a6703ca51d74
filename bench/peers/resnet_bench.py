"""ResNet-18 and ResNet-50 against ONNX Runtime: the same random torchvision weights, the same
pixels, batch 1 and 16, 1 and 2 threads, the two engines alternating in rounds of one run, after
a check that both compute the same pooled features.

    (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci)
    /usr/bin/python3 bench/peers/resnet_bench.py --build build [--archs resnet18,resnet50]
        [--batches 1 16] [--threads 1 2] [--rounds 2] [--seconds 3] [--engine auto]

- embedflow: BUILD/bench/image/image_bench model --batch B --threads T --seconds S --engine E
  (two warm-up batches, then the same batch of std::mt19937(0) normals until S seconds and 3
  batches have passed; images/s over all of them), the global-average-pooled features.
- ONNX Runtime (onnxruntime-node, CPU, graph optimisation "all", intra-op threads = T): the
  torchvision model as shipped (torchvision.models.resnet18/50 with these weights, `fc` replaced
  by Identity so that both sides output the pooled features), exported with torch.onnx.export
  (opset 14, dynamic batch); ORT folds the BatchNorms and fuses ReLU and the residual add into
  its NCHWc convolutions itself. Same pixels, same warm-up and timing rule (ort_bench.js).
- The check: every row's cosine between the two engines' features >= 0.9999 (batch 16, T=2).

Prints images/s of each side per (arch, batch, threads), the median over rounds, and the ratio
against the goals of issue #16 (>= 1.2x at batch 16, >= 1.0x at batch 1); then one JSON line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
import run_bench as peers  # noqa: E402  (pixels, manifests, CPU facts, the ORT runner's JSON)
from safetensors_np import load_safetensors, save_safetensors, torch_arrays  # noqa: E402

GOALS = {1: 1.0, 16: 1.2}


def model_file(folder, arch):
    """The random-weight torchvision model of bench/image (same seed), made if missing."""
    import torch
    import torchvision
    path = os.path.join(folder, f"{arch}.safetensors")
    if not os.path.exists(path):
        torch.manual_seed(0)
        model = getattr(torchvision.models, arch)(weights=None).eval()
        os.makedirs(folder, exist_ok=True)
        save_safetensors(path, torch_arrays(model.state_dict()))
    return path


def export_onnx(weights, arch, out):
    """torchvision's model with these weights, fc → Identity, as an .onnx with a dynamic batch."""
    import torch
    import torchvision
    if os.path.exists(out) and os.path.getmtime(out) > os.path.getmtime(weights):
        return out
    model = getattr(torchvision.models, arch)(weights=None)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in load_safetensors(weights).items()})
    model.fc = torch.nn.Identity()
    model.eval()
    x = torch.from_numpy(peers.bench_pixels(2).copy())
    torch.onnx.export(model, (x,), out + ".tmp", input_names=["pixel_values"],
                      output_names=["features"], opset_version=14,
                      dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}})
    os.replace(out + ".tmp", out)
    return out


def image_bench(build, weights, batch, threads, seconds, engine, save=None):
    cmd = [os.path.join(build, "bench/image/image_bench"), "model", "--model", weights,
           "--batch", str(batch), "--threads", str(threads), "--seconds", str(seconds),
           "--engine", engine]
    cmd += ["--save", save] if save else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ort_bench(onnx, manifest, threads, seconds, save=None):
    cmd = ["node", os.path.join(HERE, "ort_bench.js"), "--model", onnx, "--manifest", manifest,
           "--threads", str(threads), "--repeat", "3", "--warmup", "2", "--seconds", str(seconds)]
    cmd += ["--save", save] if save else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--archs", default="resnet18,resnet50")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--engine", default="auto", help="image_bench --engine (models/resnet.h)")
    a = ap.parse_args()
    archs = a.archs.split(",")
    work = os.path.join(a.build, "generated", "peers", "resnet")
    os.makedirs(work, exist_ok=True)

    weights = {arch: model_file(os.path.join(a.build, "generated", "image"), arch)
               for arch in archs}
    onnx = {arch: export_onnx(weights[arch], arch, os.path.join(work, f"{arch}.onnx"))
            for arch in archs}
    manifest = {}
    for b in a.batches:
        folder = os.path.join(work, f"batch{b}")
        os.makedirs(folder, exist_ok=True)
        manifest[b] = peers.write_manifest(folder, [{"pixel_values": peers.bench_pixels(b)}])

    # The check: both engines' features of the same 16 (or largest) images.
    check_batch = max(a.batches)
    for arch in archs:
        ef = os.path.join(work, f"{arch}-embedflow.npy")
        rt = os.path.join(work, f"{arch}-ort.npy")
        image_bench(a.build, weights[arch], check_batch, 2, 0.1, a.engine, save=ef)
        ort_bench(onnx[arch], manifest[check_batch], 2, 0.1, save=rt)
        cos = peers.cosines(np.load(ef), np.load(rt))
        print(f"{arch}: features of {check_batch} images, cosine embedflow/ORT min {min(cos):.7f}")
        if min(cos) < 0.9999:
            sys.exit(f"{arch}: the engines disagree (cosine {min(cos)})")

    rates = {}  # (arch, batch, threads, side) -> [images/s per round]
    describe = {}
    for rnd in range(a.rounds):
        for arch in archs:
            for b in a.batches:
                for t in a.threads:
                    r = image_bench(a.build, weights[arch], b, t, a.seconds, a.engine)
                    describe[arch] = r["describe"]
                    rates.setdefault((arch, b, t, "embedflow"), []).append(r["images_per_s"])
                    o = ort_bench(onnx[arch], manifest[b], t, a.seconds)
                    rates.setdefault((arch, b, t, "ort"), []).append(o["items_per_s_all"])
                    ort_version = o["impl"]

    print(f"\nCPU: {peers.cpu_name()}; level {peers.active_level()}; {a.rounds} rounds, "
          f"{a.seconds} s per side; images/s, median over rounds (224x224)")
    print(f"ORT: {ort_version}, graph optimisation all; embedflow engine: {a.engine}")
    print(f"{'model':10} {'batch':>5} {'thr':>3} {'embedflow':>10} {'ORT':>8} {'ratio':>6}  goal")
    summary = []
    for arch in archs:
        for b in a.batches:
            for t in a.threads:
                ef = statistics.median(rates[(arch, b, t, "embedflow")])
                rt = statistics.median(rates[(arch, b, t, "ort")])
                goal = GOALS.get(b)
                verdict = "" if goal is None else (f">= {goal}x " +
                                                   ("met" if ef / rt >= goal else "NOT met"))
                print(f"{arch:10} {b:>5} {t:>3} {ef:>10.1f} {rt:>8.1f} {ef / rt:>5.2f}x  {verdict}")
                summary.append({"model": arch, "batch": b, "threads": t, "embedflow": ef,
                                "ort": rt, "ratio": ef / rt,
                                "rounds": {"embedflow": rates[(arch, b, t, "embedflow")],
                                           "ort": rates[(arch, b, t, "ort")]}})
    for arch in archs:
        print(f"{arch}: {describe[arch]}")
    print(json.dumps({"cpu": peers.cpu_name(), "level": peers.active_level(), "ort": ort_version,
                      "engine": a.engine, "rows": summary}))


if __name__ == "__main__":
    main()
