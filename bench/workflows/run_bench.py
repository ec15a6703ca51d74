#!/usr/bin/python3
"""configs/audio_to_embedding.yaml against the sequential Python loop a torchaudio user writes,
side by side in one run, with the same random-weight resnet18 on both sides.

1. Throughput on 256 ten-second clips (16 kHz mono WAV): `embedflow run
   configs/audio_to_embedding.yaml` as a user runs it (the whole process: start-up, model load,
   writing embeddings.npy, segments.npy and the top-k file included) against

       for path in files:                                    # torch.set_num_threads(2)
           wav, sr = torchaudio.load(path)
           s = AmplitudeToDB(top_db=80)(MelSpectrogram(16000, 400, hop_length=160, n_mels=128)(wav.mean(0)))
           x = ((s - s.min()) / (s.max() - s.min())).flip(0)
           x = F.interpolate(x[None, None], (224, 224), mode="bilinear")[0].expand(3, -1, -1)
           batch.append(Normalize(IMAGENET_MEAN, IMAGENET_STD)(x))
           if len(batch) == 16: out.append(resnet18(torch.stack(batch)))   # eval, inference_mode

   timed from the first file to the last embedding (model already loaded). The ratio compares
   like with like: embedflow's run timer less the time it spent opening its stages (loading
   the model), from its --stats file; the whole process (libtorch's ~1 s start-up and the
   model load included) is printed beside it. Each side runs twice, alternating, and its better
   run counts. Both outputs are compared (cosine per clip).
2. Peak RSS of the embedflow run on 256 clips and on 2560 (the 256 files ten times, through
   symlinks): bounded in-flight items (max_in_flight, 256 by default) keep it flat. Peaks vary
   by some 10 % between runs of one size (how many items are decoded, imaged or waiting for the
   encoder when the peak happens), so the check is on the 2560-clip run itself: the RSS of its
   last quarter against its second. Exits 1 if that grows by more than 10 % or if the two
   sides' embeddings disagree.

Run via `ninja -C build bench_workflows`, or directly:
  /usr/bin/python3 bench/workflows/run_bench.py --cli build/apps/embedflow \\
      --data build/generated/bench-workflows --threads 2
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.io.wavfile
import torch
import torch.nn.functional as F
import torchaudio
import torchvision
from torchvision import transforms as T

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(REPO, "configs", "audio_to_embedding.yaml")
RESNET = os.path.join(REPO, "tests", "fixtures", "generated", "resnet18-random.safetensors")
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
from safetensors_np import load_safetensors  # noqa: E402

SR = 16000
SECONDS = 10


def make_clips(folder, n, media):
    """n ten-second 16 kHz clips: pieces of the bundled recordings at random offsets and gains
    over a bed of filtered noise and a few tones (seeded, so every run measures the same
    files)."""
    folder = os.path.abspath(folder)
    os.makedirs(folder, exist_ok=True)
    names = sorted(f for f in os.listdir(folder) if f.endswith(".wav"))
    if len(names) >= n:
        return [os.path.join(folder, f) for f in names[:n]]
    sources = []
    for f in sorted(os.listdir(media)):
        wav, sr = torchaudio.load(os.path.join(media, f))
        sources.append(torchaudio.functional.resample(wav.mean(0), sr, SR).numpy())
    rng = np.random.default_rng(0)
    length = SR * SECONDS
    t = np.arange(length) / SR
    for i in range(n):
        x = np.convolve(rng.standard_normal(length), np.ones(8) / 8, "same") * 0.01
        for _ in range(rng.integers(1, 4)):
            x += 0.05 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) * (rng.random() < 0.5)
        for _ in range(rng.integers(2, 7)):
            src = sources[rng.integers(len(sources))]
            at = rng.integers(0, length - 1)
            piece = src[: length - at] * rng.uniform(0.2, 1.0)
            x[at:at + len(piece)] += piece
        pcm = np.clip(x / max(1.0, np.abs(x).max()) * 32767, -32768, 32767).astype(np.int16)
        scipy.io.wavfile.write(os.path.join(folder, f"clip_{i:04d}.wav"), SR, pcm)
    return make_clips(folder, n, media)


def symlink_folder(folder, files, times):
    os.makedirs(folder, exist_ok=True)
    for k in range(times):
        for f in files:
            link = os.path.join(folder, f"r{k}_{os.path.basename(f)}")
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(f), link)
    return len(files) * times


def python_loop(model, files, batch_size):
    mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=400, hop_length=160, n_mels=128)
    to_db = torchaudio.transforms.AmplitudeToDB(top_db=80)
    normalize = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    t0 = time.perf_counter()
    out, batch = [], []
    with torch.inference_mode():
        for path in files:
            wav, sr = torchaudio.load(path)
            wav = wav.mean(0)
            if sr != SR:
                wav = torchaudio.functional.resample(wav, sr, SR)
            s = to_db(mel(wav))
            x = ((s - s.min()) / (s.max() - s.min())).flip(0)
            x = F.interpolate(x[None, None], size=(224, 224), mode="bilinear",
                              align_corners=False)[0]
            batch.append(normalize(x.expand(3, -1, -1)))
            if len(batch) == batch_size:
                out.append(model(torch.stack(batch)))
                batch = []
        if batch:
            out.append(model(torch.stack(batch)))
    secs = time.perf_counter() - t0
    return torch.cat(out).numpy(), secs


def embedflow_run(cli, audio_dir, out_dir, model, threads):
    """Wall time, peak RSS (the kernel's VmHWM) and the RSS sampled every 0.25 s of one
    `embedflow run` of the config."""
    env = dict(os.environ, AUDIO=audio_dir, OUT=out_dir, MODEL=model)
    t0 = time.perf_counter()
    stats = os.path.join(out_dir, "run-stats.json")
    os.makedirs(out_dir, exist_ok=True)
    proc = subprocess.Popen([cli, "run", CONFIG, "--progress", "off", "--threads", str(threads),
                             "--stats", stats],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    samples, hwm = [], 0.0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = int(line.split()[1]) / 1024
                    elif line.startswith("VmRSS:"):
                        samples.append((time.perf_counter() - t0, int(line.split()[1]) / 1024))
        except OSError:
            pass
        time.sleep(0.25)
    secs = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        sys.exit(f"embedflow run failed on {audio_dir}:\n{err[-3000:]}")
    # Seconds after the model is loaded: what the Python loop's timing covers too.
    with open(stats) as f:
        st = json.load(f)
    loaded_secs = st["seconds"] - st["open_seconds"]
    # VmHWM (the kernel's high-water mark) as last read, at most 0.25 s before the end.
    return secs, loaded_secs, max([hwm] + [v for _, v in samples]), samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True, help="the embedflow binary")
    ap.add_argument("--data", required=True, help="folder for the generated clips and outputs")
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--scale", type=int, default=10, help="RSS: the clips this many times over")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    cli = os.path.abspath(a.cli)
    torch.set_num_threads(a.threads)
    if not os.path.exists(RESNET):
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "fixtures", "image",
                                                     "make_random_resnet.py"), "--out", RESNET],
                       check=True)
    files = make_clips(os.path.join(a.data, "clips"), a.clips,
                       os.path.join(REPO, "examples", "media", "audio"))
    big = os.path.join(a.data, f"clips_x{a.scale}")
    n_big = symlink_folder(big, files, a.scale)
    for f in files:  # page cache: both sides read warm files
        open(f, "rb").read()

    model = torchvision.models.resnet18(weights=None)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in load_safetensors(RESNET).items()})
    model.fc = torch.nn.Identity()
    model.eval()

    load_start = os.getloadavg()
    print(f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, torchvision "
          f"{torchvision.__version__}; {a.threads} threads, {os.cpu_count()} cores; "
          f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} at the start")
    print(f"{len(files)} ten-second clips (16 kHz mono WAV), random-weight resnet18, "
          f"batch {a.batch}:", flush=True)
    py_best, ef_best, ef_loaded_best, py_out, rss_small = None, None, None, None, 0.0
    out_small = os.path.join(a.data, "out-small")
    for r in range(a.rounds):
        secs, loaded, peak, _ = embedflow_run(cli, os.path.join(a.data, "clips"), out_small,
                                              RESNET, a.threads)
        ef_best = secs if ef_best is None else min(ef_best, secs)
        ef_loaded_best = loaded if ef_loaded_best is None else min(ef_loaded_best, loaded)
        rss_small = max(rss_small, peak)
        emb, py_secs = python_loop(model, files, a.batch)
        py_best = py_secs if py_best is None else min(py_best, py_secs)
        py_out = emb
        print(f"  round {r + 1}: embedflow {len(files) / secs:6.1f} clips/s whole process, "
              f"{len(files) / loaded:6.1f} after the model load; python loop "
              f"{len(files) / py_secs:6.1f} clips/s", flush=True)
    n = len(files)
    py_rate, ef_rate, ef_loaded_rate = n / py_best, n / ef_best, n / ef_loaded_best
    print(f"python loop (torchaudio.load, MelSpectrogram+AmplitudeToDB, interpolate 224x224, "
          f"Normalize, resnet18 eager), model loaded: {py_rate:.1f} clips/s")
    print(f"embedflow run configs/audio_to_embedding.yaml, model loaded (the run's own timer "
          f"less opening the stages): {ef_loaded_rate:.1f} clips/s")
    print(f"embedflow run, whole process (libtorch start-up ~1 s and the model load included): "
          f"{ef_rate:.1f} clips/s")
    print(f"ratio embedflow / python, both with the model loaded: {ef_loaded_rate / py_rate:.2f}x "
          f"(target >= 2x); whole process vs loop: {ef_rate / py_rate:.2f}x")

    ours = np.load(os.path.join(out_small, "embeddings.npy"))
    ids = [json.loads(l)["id"] for l in open(os.path.join(out_small, "embeddings.jsonl"))]
    ok = ids == [os.path.basename(f) for f in files] and ours.shape == py_out.shape
    cos = (ours * py_out).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(py_out, axis=1))
    ok = ok and cos.min() >= 0.9999
    print(f"outputs: {len(ids)} rows, min cosine embedflow vs python {cos.min():.6f} "
          f"({'agree' if ok else 'DISAGREE'})")

    secs_big, _, rss_big, samples = embedflow_run(cli, big, os.path.join(a.data, "out-big"), RESNET,
                                               a.threads)
    ratio = rss_big / rss_small
    # RSS by quarter of the large run: once the in-flight window is full it must not grow.
    quarters = [max([v for t, v in samples if q * secs_big / 4 <= t < (q + 1) * secs_big / 4],
                    default=0.0) for q in range(4)]
    growth = quarters[3] / max(quarters[1], 1e-9)
    print(f"peak RSS of embedflow run: {len(files)} clips {rss_small:.1f} MiB (the larger of "
          f"{a.rounds} runs), {n_big} clips {rss_big:.1f} MiB: ratio {ratio:.3f}")
    print(f"  {n_big}-clip run, max RSS per quarter of its {secs_big:.0f} s: "
          + ", ".join(f"{q:.0f}" for q in quarters)
          + f" MiB (last / second quarter {growth:.3f}, bound 1.10); {n_big / secs_big:.1f} clips/s")
    load_end = os.getloadavg()
    print(f"load average {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} at the end")
    sys.exit(0 if ok and growth <= 1.10 else 1)


if __name__ == "__main__":
    main()
