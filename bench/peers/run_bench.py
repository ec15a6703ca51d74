"""embedflow against ONNX Runtime, the speed peer users pick: the same random-weight models (the
.onnx files export_onnx.py writes from the safetensors embedflow loads) on the same inputs, in
alternating rounds of one run, with a check that both compute the same embeddings.

    (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci)
    /usr/bin/python3 bench/peers/run_bench.py --build build [--threads 1 2] [--repeat 3]
        [--models minilm,clip-image,clip-text]

embedflow's side is its own bench binaries, unchanged:
- minilm: build/bench/text/text_bench (SentenceTransformer::encode of 512 sentences, batches of
  32, best of 3 passes after a warm-up pass); ORT gets the ids of embedflow's tokenizer
  (`embedflow tokenize`), sorted longest first and padded per batch of 32 as sentence-transformers
  does, and runs the same passes. Tokenisation is timed on embedflow's side only.
- clip-image, clip-text: build/bench/clip/clip_bench --batch 16 --batches 4 (one warm-up batch,
  then 4 batches of the same 16 images / 16 batches of the same 16 captions); ORT runs exactly
  that on the same pixels (clip_bench's std::mt19937(0) normals, reproduced bit for bit) and the
  ids of clip_bench's captions.
The correctness check: text_bench --save for MiniLM; for CLIP, clip_bench writes nothing, so
clip_outputs.yaml runs the same towers on the bundled photos (prepared pixels written out for
ORT) and the captions. Every row's cosine between the two engines must be >= 0.9999.

Both engines load copies of the model folders taken at start (BUILD/generated/peers/models);
each row says how much CPU other processes took during its runs ("others"), since a busy
machine moves the ratios more than most code changes do."""

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures", "text"))

from corpus import bench_sentences  # noqa: E402
from onnx_ops import op_counts  # noqa: E402

MODELS = ("minilm", "clip-image", "clip-text")
GOALS = {"minilm": 1.5, "clip-image": 1.2, "clip-text": 1.5}  # embedflow ÷ ORT, fp32
UNITS = {"minilm": "sentences/s", "clip-image": "images/s", "clip-text": "captions/s"}
MIN_COSINE = 0.9999
MINILM_BATCH, CLIP_BATCH, CLIP_BATCHES = 32, 16, 4
# clip_bench.cpp's captions(n): these, cycled, each with " #<i>" appended.
CAPTION_BASE = ["A crazy cat smiling.", "A white and brown cat with a yellow bandana.",
                "A man eating in the garden.", "a photo of a dog playing in the snow",
                "two people riding bicycles along a river at sunset, seen from a bridge"]


def busy_seconds():
    """CPU time all processes spent so far (the machine's non-idle time), and ours."""
    ticks = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    ours = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = sum(ticks) - ticks[3] - ticks[4]  # less idle and iowait
    return busy / os.sysconf("SC_CLK_TCK"), ours.ru_utime + ours.ru_stime


def run_json(cmd, **kw):
    """The last line of cmd's output as JSON, plus "others": the share of the machine's CPU
    that other processes took while it ran (the benchmark is only as good as that is small)."""
    t0, (busy0, ours0) = time.perf_counter(), busy_seconds()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout
    wall, (busy1, ours1) = time.perf_counter() - t0, busy_seconds()
    r = json.loads(out.strip().splitlines()[-1])
    r["others"] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (wall * os.cpu_count())
    return r


def std_normal_floats(n, seed=0):
    """What std::normal_distribution<float> draws from std::mt19937(seed) with GCC's libstdc++
    (clip_bench's pixels), bit for bit: generate_canonical<float> of one 32-bit draw each,
    Marsaglia's polar method on pairs (rejecting r2 > 1 or 0), y * mult returned first and
    x * mult kept for the next call. glibc's logf is called itself: numpy's float32 log and a
    correctly rounded one each differ from it in the last bit on some inputs."""
    raw = np.random.RandomState(seed).randint(0, 2**32, size=int(n * 1.3) + 64, dtype=np.uint32)
    u = raw.astype(np.float32) / np.float32(2**32)
    u[u >= 1] = np.nextafter(np.float32(1), np.float32(0))
    x, y = np.float32(2) * u[0::2] - np.float32(1), np.float32(2) * u[1::2] - np.float32(1)
    r2 = x * x + y * y
    ok = (r2 <= 1) & (r2 != 0)
    x, y, r2 = x[ok], y[ok], r2[ok]
    libm = ctypes.CDLL("libm.so.6")
    libm.logf.restype, libm.logf.argtypes = ctypes.c_float, [ctypes.c_float]
    log_r2 = np.array([libm.logf(v) for v in r2.tolist()], np.float32)
    mult = np.sqrt(np.float32(-2) * log_r2 / r2)
    out = np.empty(2 * len(x), np.float32)
    out[0::2], out[1::2] = y * mult, x * mult
    return out[:n]


def tokenize(cli, model, texts, max_length):
    """embedflow's token ids of each text (special tokens included)."""
    out = subprocess.run([cli, "tokenize", model, "--json", "--max-length", str(max_length)],
                         input="\n".join(texts) + "\n", check=True, capture_output=True,
                         text=True).stdout
    return [json.loads(line)["ids"] for line in out.splitlines() if line.strip()]


def padded(ids, pad):
    """[B, L] int64 ids padded with `pad` to the longest, and the attention mask."""
    n = max(len(x) for x in ids)
    a = np.full((len(ids), n), pad, np.int64)
    mask = np.zeros((len(ids), n), np.int64)
    for r, x in enumerate(ids):
        a[r, :len(x)], mask[r, :len(x)] = x, 1
    return a, mask


def write_manifest(folder, batches):
    """batches: [{input name: array}]; an array object used in several batches is saved once."""
    os.makedirs(folder, exist_ok=True)
    names, listed = {}, []
    for b in batches:
        entry = {}
        for key, arr in b.items():
            if id(arr) not in names:
                names[id(arr)] = f"{len(names)}_{key}.npy"
                np.save(os.path.join(folder, names[id(arr)]), arr)
            entry[key] = names[id(arr)]
        listed.append(entry)
    path = os.path.join(folder, "manifest.json")
    with open(path, "w") as f:
        json.dump({"batches": listed}, f)
    return path


def snapshot(src, dst):
    """dst, a copy of the folder src, refreshed when src's weights changed (copy2 keeps mtimes)."""
    weights = "model.safetensors"
    if not os.path.exists(os.path.join(src, weights)):
        sys.exit(f"{src} has no {weights}: run bench/text/run_bench.py or bench/clip/run_bench.py "
                 "once to generate it")
    st, dt = (os.path.join(d, weights) for d in (src, dst))
    if not os.path.exists(dt) or os.path.getmtime(dt) != os.path.getmtime(st) or \
            os.path.getsize(dt) != os.path.getsize(st):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    return dst


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class Peers:
    def __init__(self, a):
        self.a = a
        self.cli = os.path.join(a.build, "apps", "embedflow")
        self.text_bench = os.path.join(a.build, "bench", "text", "text_bench")
        self.clip_bench = os.path.join(a.build, "bench", "clip", "clip_bench")
        self.work = os.path.join(a.build, "generated", "peers")
        # Copies of the model folders, taken at start: the test suites rewrite the originals
        # (a binary reading one while it is rewritten dies of SIGBUS), and both engines must
        # load the very same weights for the whole run.
        self.minilm = snapshot(os.path.join(a.build, "generated", "text", "minilm-random"),
                               os.path.join(self.work, "models", "minilm-random"))
        self.clip = snapshot(os.path.join(a.build, "generated", "clip-vit-b32", "model"),
                             os.path.join(self.work, "models", "clip-vit-b32"))
        self.onnx = {m: os.path.join(self.work, m + ".onnx") for m in MODELS}
        self.clip_round = {}  # (round, threads) -> clip_bench's JSON, shared by both towers
        self.manifest = {}  # model -> the batches ORT runs

    def ort(self, model, manifest, threads, repeat, warmup=None, save=None, optimized=None):
        """warmup: batches run before timing; None: all of them (one untimed pass)."""
        cmd = ["node", os.path.join(HERE, "ort_bench.js"), "--model", self.onnx[model],
               "--manifest", manifest, "--threads", str(threads), "--repeat", str(repeat)]
        cmd += ["--warmup", str(warmup)] if warmup is not None else []
        cmd += ["--save", save] if save else []
        cmd += ["--optimized", optimized] if optimized else []
        return run_json(cmd)

    # --- inputs --------------------------------------------------------------------------------

    def prepare(self, models):
        if "minilm" in models:
            sentences = bench_sentences()
            self.sent_file = os.path.join(self.work, "minilm_sentences.txt")
            with open(self.sent_file, "w", encoding="utf-8") as f:
                f.write("\n".join(sentences) + "\n")
            ids = tokenize(self.cli, self.minilm, sentences, 256)
            self.minilm_tokens = sum(len(x) for x in ids)
            # longest first, stable, as text_bench's encode() and sentence-transformers order them
            self.minilm_order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
            batches = []
            for s in range(0, len(ids), MINILM_BATCH):
                x, mask = padded([ids[i] for i in self.minilm_order[s:s + MINILM_BATCH]], 0)
                batches.append({"input_ids": x, "attention_mask": mask,
                                "token_type_ids": np.zeros_like(x)})
            self.manifest["minilm"] = write_manifest(os.path.join(self.work, "minilm"), batches)
        if "clip-image" in models:
            pixels = std_normal_floats(CLIP_BATCH * 3 * 224 * 224).reshape(CLIP_BATCH, 3, 224, 224)
            self.manifest["clip-image"] = write_manifest(os.path.join(self.work, "clip-image"),
                                                         [{"pixel_values": pixels}] * CLIP_BATCHES)
        if "clip-text" in models:
            captions = [CAPTION_BASE[i % 5] + f" #{i}" for i in range(CLIP_BATCH)]
            x, mask = padded(tokenize(self.cli, self.clip, captions, 77), 49407)
            self.manifest["clip-text"] = write_manifest(
                os.path.join(self.work, "clip-text"),
                [{"input_ids": x, "attention_mask": mask}] * (CLIP_BATCHES * 4))

    # --- one timed run of each side ------------------------------------------------------------

    def embedflow(self, model, threads, rnd, save=None):
        if model == "minilm":
            cmd = [self.text_bench, "--model", self.minilm, "--sentences", self.sent_file,
                   "--threads", str(threads), "--batch", str(MINILM_BATCH), "--repeat", "3"]
            r = run_json(cmd + (["--save", save] if save else []))
            if r["tokens"] != self.minilm_tokens:
                sys.exit(f"text_bench counts {r['tokens']} tokens, ORT is given "
                         f"{self.minilm_tokens}: not the same inputs")
            return r["sentences_per_s"], r
        key = (rnd, threads)
        if key not in self.clip_round:  # one clip_bench run times both towers
            self.clip_round[key] = run_json([self.clip_bench, "--model", self.clip, "--threads",
                                             str(threads), "--batch", str(CLIP_BATCH),
                                             "--batches", str(CLIP_BATCHES)])
        r = self.clip_round[key]
        return r["images_per_s" if model == "clip-image" else "captions_per_s"], r

    def peer(self, model, threads, save=None):
        if model == "minilm":  # as text_bench: a warm-up pass, then the best of 3
            r = self.ort(model, self.manifest[model], threads, 3, save=save)
        else:  # as clip_bench: one warm-up batch, then one timed pass
            r = self.ort(model, self.manifest[model], threads, 1, 1)
        return r["items_per_s"], r

    # --- correctness ---------------------------------------------------------------------------

    def check_minilm(self, ef_file, ort_file):
        ort = np.load(ort_file)
        unsorted = np.empty_like(ort)
        unsorted[self.minilm_order] = ort
        return cosines(np.load(ef_file), unsorted)

    def check_clip(self, models, threads):
        """embedflow's CLIP embeddings from clip_outputs.yaml, ORT's on the same pixels / ids."""
        d = os.path.join(self.work, "check")
        os.makedirs(d, exist_ok=True)
        captions = [CAPTION_BASE[i % 5] + f" #{i}" for i in range(CLIP_BATCH)]
        with open(os.path.join(d, "captions.txt"), "w") as f:
            f.write("\n".join(captions) + "\n")
        sets = {"photos.dir": os.path.join(REPO, "examples", "media", "images"),
                "captions.file": os.path.join(d, "captions.txt"), "image.model": self.clip,
                "text.model": self.clip, "pixels_out.path": os.path.join(d, "pixels.npy"),
                "image_out.path": os.path.join(d, "ef_image.npy"),
                "text_out.path": os.path.join(d, "ef_text.npy")}
        cmd = [self.cli, "run", os.path.join(HERE, "clip_outputs.yaml"), "--progress", "off",
               "--threads", str(threads)]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        subprocess.run(cmd, check=True, capture_output=True)
        out = {}
        if "clip-image" in models:
            m = write_manifest(os.path.join(d, "image"),
                               [{"pixel_values": np.load(sets["pixels_out.path"])}])
            self.ort("clip-image", m, threads, 1, 0, save=os.path.join(d, "ort_image.npy"))
            out["clip-image"] = cosines(np.load(sets["image_out.path"]),
                                        np.load(os.path.join(d, "ort_image.npy")))
        if "clip-text" in models:
            x, mask = padded(tokenize(self.cli, self.clip, captions, 77), 49407)
            m = write_manifest(os.path.join(d, "text"), [{"input_ids": x, "attention_mask": mask}])
            self.ort("clip-text", m, threads, 1, 0, save=os.path.join(d, "ort_text.npy"))
            out["clip-text"] = cosines(np.load(sets["text_out.path"]),
                                       np.load(os.path.join(d, "ort_text.npy")))
        return out

    def fusions(self, model):
        """Operators ORT's optimised graph has and the exported one has not, with counts."""
        optimized = os.path.join(self.work, model + ".ort-optimized.onnx")
        self.ort(model, self.manifest[model], 1, 0, 0, optimized=optimized)
        before, after = op_counts(self.onnx[model]), op_counts(optimized)
        os.remove(optimized)  # hundreds of MB, and specific to this CPU
        new = {op: n for op, n in after.items() if op not in before}
        kept = {op: after[op] for op in ("MatMul", "Softmax") if op in after}
        return new, kept


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cpu_level():
    """The kernel level embedflow's dispatch picks here (pipelines/src/cpu.cpp): the binaries do
    not print it, so it is derived from the CPU's flags and EMBEDFLOW_CPU."""
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    level = "baseline"
    if {"avx2", "fma"} <= flags:
        level = "avx2"
    if level == "avx2" and {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        level = "avx512"
        if "avx512_vnni" in flags:
            level = "avx512vnni"
            if "avx512_bf16" in flags:
                level = "avx512bf16"
    env = os.environ.get("EMBEDFLOW_CPU")
    return f"{level} (from the CPU's flags; EMBEDFLOW_CPU={env or 'unset'})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds per thread count")
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    t_start = time.perf_counter()
    models = [m for m in MODELS if m in a.models.split(",")]
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        sys.exit(f"onnxruntime-node is missing: "
                 f"(cd {HERE} && ONNXRUNTIME_NODE_INSTALL=skip npm ci)")
    p = Peers(a)
    # (re-)export when an .onnx is missing or older than the weights it was made from
    weights = {m: os.path.join(p.minilm if m == "minilm" else p.clip, "model.safetensors")
               for m in models}
    missing = [m for m in models if not os.path.exists(p.onnx[m])
               or os.path.getmtime(p.onnx[m]) < os.path.getmtime(weights[m])]
    if missing:
        subprocess.run([sys.executable, os.path.join(HERE, "export_onnx.py"), "--build", a.build,
                        "--minilm", p.minilm, "--clip", p.clip, "--models", ",".join(missing)],
                       check=True)
    p.prepare(models)

    # Correctness first: a speed ratio of two different computations would mean nothing.
    # (MiniLM's embeddings are those of the first timed round, checked right after it.)
    cos = {}

    def check(model, c):
        cos[model] = c if model not in cos or c.min() < cos[model].min() else cos[model]
        if c.min() < MIN_COSINE:
            sys.exit(f"{model}: ORT's and embedflow's embeddings disagree (min cosine "
                     f"{c.min():.6f} < {MIN_COSINE}): no benchmark of different computations")

    clip_models = [m for m in models if m.startswith("clip")]
    if clip_models:
        for m, c in p.check_clip(clip_models, max(a.threads)).items():
            check(m, c)
    fused = {m: p.fusions(m) for m in models}

    # Rounds alternate the two sides (and which goes first): on a shared machine the speed drifts
    # within a minute, and one block per side would measure the drift instead of the code.
    runs = {(m, t): {"embedflow": [], "ort": []} for m in models for t in a.threads}
    others = {key: [] for key in runs}
    peaks = {key: [] for key in runs}  # clip_bench's GEMM peak of the round (GFLOP/s)
    image_gflops = 0.0
    info = {}
    for t in a.threads:
        for rnd in range(a.repeat):
            for m in models:
                saved = m == "minilm" and rnd == 0
                ef_out, ort_out = (os.path.join(p.work, f"{m}_{side}_{t}.npy") if saved else None
                                   for side in ("embedflow", "ort"))
                sides = [("embedflow", lambda: p.embedflow(m, t, rnd, ef_out)),
                         ("ort", lambda: p.peer(m, t, ort_out))]
                for side, fn in sides if rnd % 2 == 0 else sides[::-1]:
                    rate, r = fn()
                    runs[(m, t)][side].append(rate)
                    others[(m, t)].append(r["others"])
                    info[side] = r
                    if side == "embedflow" and "gemm_peak_gflops" in r:
                        peaks[(m, t)].append(r["gemm_peak_gflops"])
                        image_gflops = r["image_gflops"]
                if saved:
                    check(m, p.check_minilm(ef_out, ort_out))

    print(f"embedflow vs ONNX Runtime (bench/peers): same random weights, same inputs; "
          f"{a.repeat} alternating rounds per thread count")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} "
          f"at the end")
    print(f"ORT: {info['ort']['impl']} (CPU EP; graph optimisation 'all', intra-op = threads, "
          f"inter-op 1, sequential)")
    print(f"embedflow: {info['embedflow']['torch']}; kernels' CPU level: {cpu_level()}")
    inputs = {"minilm": f"512 sentences ({getattr(p, 'minilm_tokens', 0)} tokens) in batches of "
                        f"{MINILM_BATCH}, 3 passes",
              "clip-image": f"{CLIP_BATCHES} batches of the same {CLIP_BATCH} images",
              "clip-text": f"{CLIP_BATCHES * 4} batches of the same {CLIP_BATCH} captions"}
    print("inputs: " + "; ".join(f"{m} {inputs[m]}" for m in models))
    print(f"\n{'model':11s} {'threads':>7s} {'unit':>12s} {'embedflow':>10s} {'ORT':>10s} "
          f"{'ratio':>7s} {'median':>7s} {'goal':>6s} {'others':>7s}")
    rows = []
    for m in models:
        for t in a.threads:
            ef, ort = runs[(m, t)]["embedflow"], runs[(m, t)]["ort"]
            ratio = max(ef) / max(ort)
            median = statistics.median(e / o for e, o in zip(ef, ort))
            busy = max(others[(m, t)])
            rows.append({"model": m, "threads": t, "unit": UNITS[m], "embedflow": max(ef),
                         "ort": max(ort), "ratio": ratio, "median_round_ratio": median,
                         "goal": GOALS[m], "embedflow_rounds": ef, "ort_rounds": ort,
                         "others_max": busy})
            print(f"{m:11s} {t:7d} {UNITS[m]:>12s} {max(ef):10.1f} {max(ort):10.1f} "
                  f"{ratio:6.2f}x {median:6.2f}x {GOALS[m]:5.1f}x {busy:6.0%}"
                  f"{'' if ratio >= GOALS[m] else '  (below goal)'}")
    print("ratio: best round of each side; median: of the ratios within each round; others: "
          "the largest share of the CPU other processes took during one of the row's runs")
    if "clip-image" in models and image_gflops:
        # How much room the GEMMs leave: the tower's GEMM FLOPs per image times images/s over
        # the peak of oneDNN's sgemm at the tower's shapes, measured by clip_bench in each round.
        for t in a.threads:
            peak = max(peaks[("clip-image", t)])
            ef, ort = (max(runs[("clip-image", t)][side]) for side in ("embedflow", "ort"))
            print(f"clip-image at {t} thread(s): {image_gflops:.2f} GFLOP per image, GEMM peak "
                  f"{peak:.1f} GFLOP/s: embedflow at {ef * image_gflops / peak:.0%} of it, "
                  f"ORT at {ort * image_gflops / peak:.0%}")
            for row in rows:
                if row["model"] == "clip-image" and row["threads"] == t:
                    row["gemm_peak_gflops"] = peak
                    row["roofline_embedflow"] = ef * image_gflops / peak
                    row["roofline_ort"] = ort * image_gflops / peak
    if max(r["others_max"] for r in rows) > 0.05:
        print("warning: other processes were busy during some runs: measure again on a quiet "
              "machine before reading much into the ratios")

    print("\ncorrectness, cosine per row between ORT's and embedflow's embeddings "
          f"(must be >= {MIN_COSINE}):")
    for m in models:
        print(f"  {m:11s} {len(cos[m]):4d} rows: min {cos[m].min():.7f}, mean {cos[m].mean():.7f}")
    print("ORT's graph after its optimisations (operators the export did not have; MatMul and "
          "Softmax left):")
    for m in models:
        new, kept = fused[m]
        print(f"  {m:11s} " + ", ".join(f"{op} {n}" for op, n in sorted(new.items()))
              + " | " + ", ".join(f"{op} {n}" for op, n in kept.items()))
    wall = time.perf_counter() - t_start
    print(f"wall time: {wall:.0f} s")
    print(json.dumps({"cpu": cpu_name(), "ort": info["ort"]["impl"],
                      "embedflow_cpu_level": cpu_level(),
                      "embedflow_torch": info["embedflow"]["torch"], "rounds": a.repeat,
                      "rows": rows,
                      "cosine_min": {m: float(cos[m].min()) for m in models},
                      "ort_fusions": {m: fused[m][0] for m in models}, "wall_seconds": wall}))


if __name__ == "__main__":
    main()
