#!/usr/bin/python3
"""audio.spectrogram vs torchaudio, side by side in one run, on the same clips.

64 clips x 10 s at 16 kHz (a mix of speech-like noise bursts, tones and chirps, fixed seed):
torchaudio MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=128) followed by
AmplitudeToDB(top_db=80) (configs/audio_spectrograms.yaml), as its users run it (one call on the
batch, torch.inference_mode, torch.set_num_threads(t)), against embedflow's audio.spectrogram with
the same parameters (each clip an item, spread over t threads). The batch is [64, 1, samples], the
(batch, channel, ...) form AmplitudeToDB documents for batches, so top_db clamps each clip against
its own maximum as embedflow does ([64, samples] would clamp against the whole batch's; the cost
is the same). Prints audio-seconds per second for both and the ratio, and checks the two agree.

Then what users run: `embedflow run configs/audio_spectrograms.yaml` on the same clips written as
16-bit WAV files (decode, mel + dB, one .npy and one PNG with axes per clip), as pipeline ÷
kernel (the 2-thread embedflow row above), with each stage's busy seconds: where a pipeline's
time goes beside the spectrogram itself.

Run via `ninja -C build bench_audio`, or directly:
  /usr/bin/python3 bench/audio/run_bench.py --bench build/bench/audio/spectrogram_bench \
      --cli build/apps/embedflow --data build/generated/bench-audio
"""
import argparse
import warnings
import json
import os
import subprocess
import time

import sys

import numpy as np
import scipy.io.wavfile
import torch
import torchaudio

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "bench", "core"))
import pipeline_run  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "audio_spectrograms.yaml")

SR, SECONDS, CLIPS, TOP_DB = 16000, 10, 64, 80.0


def make_clips(path):
    if os.path.exists(path):
        return np.load(path)
    rng = np.random.default_rng(0)
    t = np.arange(SR * SECONDS) / SR
    clips = np.empty((CLIPS, SR * SECONDS), dtype=np.float32)
    for i in range(CLIPS):
        f0 = rng.uniform(80, 400)
        tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
        chirp = np.sin(2 * np.pi * (100 * t + rng.uniform(200, 700) * t * t))
        bursts = rng.standard_normal(t.size) * (np.sin(2 * np.pi * rng.uniform(0.5, 3) * t) > 0.3)
        clips[i] = (0.2 * tone + 0.2 * chirp + 0.1 * bursts).astype(np.float32)
    np.save(path, clips)
    return clips


def torchaudio_rate(clips, threads, repeats):
    torch.set_num_threads(threads)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SR, n_fft=400, hop_length=160,
                                               n_mels=128)
    to_db = torchaudio.transforms.AmplitudeToDB(top_db=TOP_DB)
    x = torch.from_numpy(clips).unsqueeze(1)  # [batch, channel, samples], a view
    best = best_cpu = float("inf")
    with torch.inference_mode():
        out = to_db(mel(x))  # warm-up
        for _ in range(repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            out = to_db(mel(x))
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    audio_s = clips.shape[0] * clips.shape[1] / SR
    return audio_s / best, audio_s / best_cpu, out[0, 0].numpy()


def main():
    warnings.filterwarnings("ignore", message="At least one mel filterbank")  # n_mels 128 @ 201 bins
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="spectrogram_bench executable")
    ap.add_argument("--cli", required=True, help="embedflow executable")
    ap.add_argument("--data", required=True, help="folder for the generated clips")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(args.data, exist_ok=True)
    clips_path = os.path.join(args.data, "clips.npy")
    clips = make_clips(clips_path)
    dump = os.path.join(args.data, "embedflow_clip0.npy")

    cpp = json.loads(subprocess.run(
        [args.bench, "--clips", clips_path, "--sample-rate", str(SR), "--threads", args.threads,
         "--repeats", str(args.repeats), "--dump", dump],
        check=True, capture_output=True, text=True).stdout)

    print(f"{CLIPS} clips x {SECONDS} s at {SR} Hz; MelSpectrogram(n_fft=400, hop=160, n_mels=128)"
          f" + AmplitudeToDB(top_db={TOP_DB:g}); best of {args.repeats}")
    print("audio-seconds per second of wall clock, and per CPU-second (all threads; robust to a "
          "loaded machine)")
    print(f"{'threads':>7} {'torchaudio':>12} {'embedflow':>12} {'ratio':>7}   "
          f"{'torchaudio/cpu':>14} {'embedflow/cpu':>14} {'ratio':>7}")
    ref0 = None
    for t in args.threads.split(","):
        rate, rate_cpu, ref0 = torchaudio_rate(clips, int(t), args.repeats)
        ours, ours_cpu = cpp["threads"][t]["audio_s_per_s"], cpp["threads"][t]["audio_s_per_cpu_s"]
        print(f"{t:>7} {rate:>12.0f} {ours:>12.0f} {ours / rate:>6.1f}x   "
              f"{rate_cpu:>14.0f} {ours_cpu:>14.0f} {ours_cpu / rate_cpu:>6.1f}x")
    got = np.load(dump)
    diff = np.abs(got - ref0)
    resolvable = ref0 >= ref0.max(axis=0, keepdims=True) - 60.0  # above the float32 FFT floor
    print(f"agreement on clip 0 {got.shape}: max |dB difference| {diff[resolvable].max():.2e} "
          f"within 60 dB of each frame's peak ({resolvable.mean():.0%} of values), "
          f"{diff.max():.2e} overall (float32 FFT round-off far below the peak)")

    wavs = os.path.join(args.data, "wavs")
    os.makedirs(wavs, exist_ok=True)
    for i, clip in enumerate(clips):
        path = os.path.join(wavs, f"{i:03d}.wav")
        if not os.path.exists(path):
            scipy.io.wavfile.write(path, SR, np.round(clip * 32767).astype(np.int16))
    out = os.path.join(args.data, "pipeline-out")
    r = pipeline_run.run(args.cli, CONFIG, [f"audio.dir={wavs}", f"npy.dir={out}/npy",
                                            f"png.dir={out}/png"], threads=2)
    steady = r["items"] / r["pipeline_per_s"]
    kernel = cpp["threads"]["2"]["audio_s_per_s"] if "2" in cpp["threads"] else float("nan")
    rate = r["items"] * SECONDS / steady
    print(f"\n`embedflow run configs/audio_spectrograms.yaml` on the {r['items']} clips as WAV files, "
          f"2 threads, on {pipeline_run.describe_machine()}: {rate:.0f} audio-s/s = "
          f"{rate / kernel:.2f}x the 2-thread spectrogram kernel ({kernel:.0f}); whole process "
          f"{r['items'] * SECONDS / r['wall']:.0f} audio-s/s; sys {r['sys'] / r['user']:.1%} of user")
    print("  busy seconds per stage (summed over threads): " +
          ", ".join(f"{st['id']} {st['busy_seconds']:.2f}" for st in r["stages"]))

if __name__ == "__main__":
    main()
