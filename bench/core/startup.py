"""Whole-process start-up of the CLI, beside `true` in the same run: the commands that need no
model (`--version`, `stages`, `validate`) and a model-free pipeline (one short recording →
log-mel spectrogram → .npy), each started N times, the commands taking turns so that drift in
the machine's speed touches all alike. Prints each median and its excess over `true`'s.

    /usr/bin/python3 bench/core/startup.py --cli build/apps/embedflow [--baseline OLD_CLI]

--baseline times a second build (e.g. one that links libtorch into the executable) in the same
rounds, and prints the ratio of medians.
"""
import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PIPELINE = """pipeline: startup_probe
stages:
  - id: audio
    type: source.files
    params: {{ dir: {audio_dir}, extensions: [.wav] }}
  - id: load
    type: audio.load
    input: audio
    params: {{ sample_rate: 16000, mono: true }}
  - id: mel
    type: audio.spectrogram
    input: load
    params: {{ n_fft: 400, hop_length: 160, mel: {{ n_mels: 80 }}, db: {{ top_db: 80 }} }}
  - id: npy
    type: write.npy
    input: mel
    params: {{ per_item: true, dir: {out}/npy }}
"""


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def wall(cmd, cwd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-400:]}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(ROOT, "build/apps/embedflow"))
    ap.add_argument("--baseline", help="a second embedflow executable, timed in the same rounds")
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        audio_dir = os.path.join(tmp, "audio")
        os.makedirs(audio_dir)
        # One second of a 440 Hz tone at 16 kHz, written by the standard library.
        import math
        import struct
        import wave
        with wave.open(os.path.join(audio_dir, "tone.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16000)))
                                   for i in range(16000)))
        config = os.path.join(tmp, "probe.yaml")
        with open(config, "w") as f:
            f.write(PIPELINE.format(audio_dir=audio_dir, out=os.path.join(tmp, "out")))

        clis = {"embedflow": args.cli}
        if args.baseline:
            clis["baseline"] = args.baseline
        cases = {
            "true": lambda cli: ["true"],
            "--version": lambda cli: [cli, "--version"],
            "stages": lambda cli: [cli, "stages"],
            "validate": lambda cli: [cli, "validate", config],
            "run (spectrogram, 1 clip)": lambda cli: [cli, "run", config, "--progress", "off",
                                                      "--force"],
        }
        times = {}
        for r in range(args.runs + 1):  # the first round warms the page cache, not counted
            for case, make in cases.items():
                for tag, cli in (clis.items() if case != "true" else [("", None)]):
                    dt = wall(make(cli), ROOT)
                    if r:
                        times.setdefault((case, tag), []).append(dt)

    base = statistics.median(times[("true", "")])
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; {args.runs} runs each, medians (ms)")
    print(f"{'command':28} " + " ".join(f"{t:>22}" for t in clis) +
          ("   baseline / embedflow" if args.baseline else ""))
    print(f"{'true':28} {1e3 * base:>8.1f}")
    for case in cases:
        if case == "true":
            continue
        cells, meds = [], []
        for tag in clis:
            m = statistics.median(times[(case, tag)])
            meds.append(m)
            cells.append(f"{1e3 * m:8.1f} (+{1e3 * (m - base):6.1f} over true)")
        ratio = f"   {meds[1] / meds[0]:.1f}x" if args.baseline else ""
        print(f"{case:28} " + " ".join(f"{c:>22}" for c in cells) + ratio)


if __name__ == "__main__":
    main()
