"""embedflow against ONNX Runtime, the speed peer users pick: the same random-weight models (the
.onnx files export_onnx.py writes from the safetensors embedflow loads) on the same inputs, in
alternating rounds of one run, with a check that both compute the same embeddings.

    (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci)
    /usr/bin/python3 bench/peers/run_bench.py --build build [--threads 1 2] [--repeat 3]
        [--models minilm,clip-image,clip-text,vit-b16,dinov2-s] [--seconds 5]
        [--precisions fp32,int8,bf16]

embedflow's side is its own bench binaries, unchanged, at each of --precisions:
- minilm: build/bench/text/text_bench (SentenceTransformer::encode of 512 sentences, batches of
  32, best of 3 passes after a warm-up pass); ORT gets the ids of embedflow's tokenizer
  (`embedflow tokenize`), sorted longest first and padded per batch of 32 as sentence-transformers
  does, and runs the same passes. Tokenisation is timed on embedflow's side only.
- clip-image, clip-text: build/bench/clip/clip_bench --batch 16 --batches 4 (one warm-up batch,
  then 4 batches of the same 16 images / 16 batches of the same 16 captions); ORT runs exactly
  that on the same pixels (clip_bench's std::mt19937(0) normals, reproduced bit for bit) and the
  ids of clip_bench's captions.
- vit-b16, dinov2-s: build/bench/image/image_bench model --batch 16 --size 224 --seconds S (two
  warm-up batches, then the same batch of those normals again until S seconds and 3 batches
  have passed; the class token after the final layernorm); ORT does the same on the same
  pixels. Beside them, the pipeline users run: `embedflow run configs/image_embeddings.yaml`
  with the folder's preprocessor and pooling cls, on the bundled photos cycled (as many as the
  isolated model embeds in about S seconds), as a third side of the same rounds.
The correctness check (fp32): text_bench --save for MiniLM; for CLIP, clip_outputs.yaml runs
the same towers on the bundled photos (prepared pixels written out for ORT) and the captions;
vision_outputs.yaml does the same for ViT and DINOv2, and every timed pipeline run's rows are
compared with ORT's embedding of their photo. Every row's cosine between the two engines must
be >= 0.9999.

int8 and bf16 (on by default; --precisions fp32 leaves both out) are more sides of the same
rounds: the same binaries with --precision int8 / bf16, on the same inputs. The fidelity of each
is the cosine, row by row, between its embeddings and fp32's of the same inputs, both saved
(--save) by the first round's timed runs at each thread count; it is printed with the
precision's items/s, ÷ fp32 and ÷ ORT against its goal (PRECISION_GOALS): int8's >= 2x fp32 at
mean cosine >= 0.999, for CPU levels from avx512vnni (elsewhere the rows show what int8 reaches
there); bf16's a mean cosine >= 0.999 on every CPU, with no speed goal. Which path each runs on
(AMX, VNNI, 7-bit activations; bf16 on AMX, on AVX512-BF16 or emulated on the fp32 GEMM) is
printed from the CPU's flags and EMBEDFLOW_CPU.

Both engines load copies of the model folders taken at start (BUILD/generated/peers/models; the
vision folders are written there by tests/fixtures/vision/make_vision.py's functions);
each row says how much CPU other processes took during its runs ("others"), since a busy
machine moves the ratios more than most code changes do."""

import argparse
import ctypes
import functools
import importlib.util
import json
import math
import os
import re
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
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures", "vision"))
sys.path.insert(0, os.path.join(REPO, "bench", "core"))

import pipeline_run  # noqa: E402
from corpus import bench_sentences  # noqa: E402
from onnx_ops import op_counts  # noqa: E402


def _clip_bench_driver():
    """bench/clip/run_bench.py as a module (its name is this file's): its photo_folder()."""
    spec = importlib.util.spec_from_file_location(
        "clip_run_bench", os.path.join(REPO, "bench", "clip", "run_bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


photo_folder = _clip_bench_driver().photo_folder

MODELS = ("minilm", "clip-image", "clip-text", "vit-b16", "dinov2-s")
GOALS = {"minilm": 1.5, "clip-image": 1.2, "clip-text": 1.5,  # embedflow ÷ ORT, fp32
         "vit-b16": 1.2, "dinov2-s": 1.2}
# The precisions the bench binaries take (--precision). fp32 is the reference the others are
# measured against (speed and cosine), so it always runs; each other one has a goal below and a
# path (PRECISION_PATHS, after the functions that describe them).
PRECISIONS = ("fp32", "int8", "bf16")
# Every model's goal for the other precisions: items/s ÷ embedflow fp32's ("vs_fp32", where the
# precision has a speed goal) and the mean cosine against fp32's embeddings; "cpu": the lowest
# embedflow CPU level (CPU_LEVELS) the goal is set for, where it has one: below it the rows show
# what the precision reaches, without a verdict.
# int8's is set for avx512vnni (u8·s8 products summed to int32 in one instruction, vpdpbusd);
# without it, oneDNN's u8·s8 GEMM spends three (vpmaddubsw, vpmaddwd, vpaddd) on what vpdpbusd
# does, which leaves less of int8's 4x data-width advantage.
# bf16 has no speed goal (without AMX or AVX512-BF16 it is emulated at fp32's speed), only a
# fidelity floor, which applies on every CPU.
PRECISION_GOALS = {"int8": {"vs_fp32": 2.0, "mean_cosine": 0.999, "cpu": "avx512vnni"},
                   "bf16": {"mean_cosine": 0.999}}
# embedflow's CPU levels, lowest first (pipelines/src/cpu.cpp), EMBEDFLOW_CPU's values.
CPU_LEVELS = ("baseline", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx")
# clip_bench's --save PREFIX writes each tower's embeddings to PREFIX_<tower>.npy.
CLIP_TOWERS = {"clip-image": "image", "clip-text": "text"}
UNITS = {"minilm": "sentences/s", "clip-image": "images/s", "clip-text": "captions/s",
         "vit-b16": "images/s", "dinov2-s": "images/s"}
# The vision rows and the case of tests/fixtures/vision/make_vision.py whose folder each runs
# (google/vit-base-patch16-224 and facebook/dinov2-small shapes).
VISION = {"vit-b16": "vit-b16", "dinov2-s": "dinov2-small"}
MIN_COSINE = 0.9999
MINILM_BATCH, CLIP_BATCH, CLIP_BATCHES = 32, 16, 4
VISION_BATCH, IMAGE_SIZE = 16, 224
PHOTOS = os.path.join(REPO, "examples", "media", "images")
# What users run for image embeddings; with `preprocess.model` the folder's
# preprocessor_config.json replaces the ResNet recipe written in it.
IMAGE_CONFIG = os.path.join(REPO, "configs", "image_embeddings.yaml")
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


def with_others(run):
    """run()'s dict plus "others": the share of the machine's CPU that other processes took
    while it ran (the benchmark is only as good as that is small). run's processes must have
    been waited for, so that their CPU time counts as ours."""
    t0, (busy0, ours0) = time.perf_counter(), busy_seconds()
    r = run()
    wall, (busy1, ours1) = time.perf_counter() - t0, busy_seconds()
    r["others"] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (wall * os.cpu_count())
    return r


def run_json(cmd, **kw):
    """The last line of cmd's output as JSON, plus "others" (with_others)."""
    def run():
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout
        return json.loads(out.strip().splitlines()[-1])
    return with_others(run)


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


@functools.lru_cache(maxsize=None)  # clip-image and the vision rows time the same batch
def bench_pixels(batch):
    """The [batch, 3, 224, 224] input clip_bench and image_bench time: std::mt19937(0) normals."""
    n = batch * 3 * IMAGE_SIZE * IMAGE_SIZE
    return std_normal_floats(n).reshape(batch, 3, IMAGE_SIZE, IMAGE_SIZE)


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


def vision_folder(case, dst):
    """dst, the model folder of make_vision.py's `case` as the hub publishes it (config.json,
    preprocessor_config.json, model.safetensors; not the test data), written with make_vision's
    own functions when missing or older than the generator. Written here, not copied from
    BUILD/generated/vision, so that the run needs no test fixture generated first."""
    weights = os.path.join(dst, "model.safetensors")
    fixtures = os.path.join(REPO, "tests", "fixtures")
    generator = max(os.path.getmtime(os.path.join(fixtures, f)) for f in
                    ("vision/make_vision.py", "vision/vision_reference.py", "torch_fixtures.py",
                     "safetensors_np.py"))
    if os.path.exists(weights) and os.path.getmtime(weights) >= generator:
        return dst
    import make_vision  # torch: only when a folder is (re)made
    c = make_vision.CASES[case]
    tmp = dst + ".tmp"  # renamed when complete: an interrupted run leaves no half-written folder
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    make_vision.write_json(os.path.join(tmp, "config.json"), c["config"])
    make_vision.write_json(os.path.join(tmp, "preprocessor_config.json"), c["preprocessor"])
    make_vision.ref.save_safetensors(os.path.join(tmp, "model.safetensors"),
                                     make_vision.case_state(c))
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(tmp, dst)
    return dst


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class Peers:
    def __init__(self, a, models):
        self.a = a
        self.cli = os.path.join(a.build, "apps", "embedflow")
        self.text_bench = os.path.join(a.build, "bench", "text", "text_bench")
        self.clip_bench = os.path.join(a.build, "bench", "clip", "clip_bench")
        self.image_bench = os.path.join(a.build, "bench", "image", "image_bench")
        self.work = os.path.join(a.build, "generated", "peers")
        # Copies of the model folders, taken at start: the test suites rewrite the originals
        # (a binary reading one while it is rewritten dies of SIGBUS), and both engines must
        # load the very same weights for the whole run.
        self.folder = {}
        if "minilm" in models:
            self.folder["minilm"] = snapshot(
                os.path.join(a.build, "generated", "text", "minilm-random"),
                os.path.join(self.work, "models", "minilm-random"))
        for m in ("clip-image", "clip-text"):
            if m in models:
                self.folder[m] = snapshot(os.path.join(a.build, "generated", "clip-vit-b32",
                                                       "model"),
                                          os.path.join(self.work, "models", "clip-vit-b32"))
        for m, case in VISION.items():
            if m in models:
                self.folder[m] = vision_folder(case, os.path.join(self.work, "models", case))
        self.minilm = self.folder.get("minilm")
        self.clip = self.folder.get("clip-image") or self.folder.get("clip-text")
        self.onnx = {m: os.path.join(self.work, m + ".onnx") for m in MODELS}
        self.clip_round = {}  # (round, threads, precision) -> clip_bench's JSON (both towers)
        self.manifest = {}  # model -> the batches ORT runs
        self.photo_embeddings = {}  # vision model -> {photo: ORT's embedding}
        self.pipeline_images = {}  # (vision model, threads) -> photos per pipeline run

    def ort(self, model, manifest, threads, repeat, warmup=None, save=None, optimized=None,
            seconds=None):
        """warmup: batches run before timing; None: all of them (one untimed pass)."""
        cmd = ["node", os.path.join(HERE, "ort_bench.js"), "--model", self.onnx[model],
               "--manifest", manifest, "--threads", str(threads), "--repeat", str(repeat)]
        cmd += ["--warmup", str(warmup)] if warmup is not None else []
        cmd += ["--seconds", str(seconds)] if seconds else []
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
            self.manifest["clip-image"] = write_manifest(
                os.path.join(self.work, "clip-image"),
                [{"pixel_values": bench_pixels(CLIP_BATCH)}] * CLIP_BATCHES)
        vision = [m for m in models if m in VISION]
        if vision:  # one batch, run again and again as image_bench does
            manifest = write_manifest(os.path.join(self.work, "vision"),
                                      [{"pixel_values": bench_pixels(VISION_BATCH)}])
            self.manifest.update({m: manifest for m in vision})
        if "clip-text" in models:
            captions = [CAPTION_BASE[i % 5] + f" #{i}" for i in range(CLIP_BATCH)]
            x, mask = padded(tokenize(self.cli, self.clip, captions, 77), 49407)
            self.manifest["clip-text"] = write_manifest(
                os.path.join(self.work, "clip-text"),
                [{"input_ids": x, "attention_mask": mask}] * (CLIP_BATCHES * 4))

    # --- one timed run of each side ------------------------------------------------------------

    def saved(self, model, side, threads):
        """The .npy a saving run of `side` (a precision, or "ort") writes model's embeddings to."""
        if model in CLIP_TOWERS and side != "ort":
            return f"{self.clip_save_prefix(side, threads)}_{CLIP_TOWERS[model]}.npy"
        return os.path.join(self.work, f"{model}_{side}_{threads}.npy")

    def clip_save_prefix(self, precision, threads):
        return os.path.join(self.work, f"clip_{precision}_{threads}")

    def embedflow(self, model, threads, rnd, precision, save=False):
        """One timed run at `precision`; save: the run also writes the embeddings of the inputs it
        times to self.saved(model, precision, threads)."""
        args = ["--threads", str(threads), "--precision", precision]
        if save:
            args += ["--save", self.clip_save_prefix(precision, threads) if model in CLIP_TOWERS
                     else self.saved(model, precision, threads)]
        if model in VISION:
            r = run_json([self.image_bench, "model", "--model", self.folder[model], "--batch",
                          str(VISION_BATCH), "--seconds", str(self.a.seconds), "--size",
                          str(IMAGE_SIZE)] + args)
            rate, described = r["images_per_s"], r["describe"]
        elif model == "minilm":
            r = run_json([self.text_bench, "--model", self.minilm, "--sentences", self.sent_file,
                          "--batch", str(MINILM_BATCH), "--repeat", "3"] + args)
            if r["tokens"] != self.minilm_tokens:
                sys.exit(f"text_bench counts {r['tokens']} tokens, ORT is given "
                         f"{self.minilm_tokens}: not the same inputs")
            rate, described = r["sentences_per_s"], r["model"]
        else:
            key = (rnd, threads, precision)
            if key not in self.clip_round:  # one clip_bench run times (and saves) both towers
                self.clip_round[key] = run_json([self.clip_bench, "--model", self.clip, "--batch",
                                                 str(CLIP_BATCH), "--batches", str(CLIP_BATCHES)]
                                                + args)
            r = self.clip_round[key]
            rate = r["images_per_s" if model == "clip-image" else "captions_per_s"]
            described = r["model"]
        # clip_bench skips flags it does not know: one older than --precision would time fp32
        # under another name. The description ends in the precision, what runs it here and
        # whether it is batch-invariant.
        ran = re.search(r", (fp32|int8|bf16)(?: \([^()]*\))?(?:; [^,;]*)?$", described)
        if not ran or ran.group(1) != precision:
            sys.exit(f"{model}: asked for {precision}, the bench binary ran '{described}'")
        return rate, r

    def peer(self, model, threads, save=None):
        if model in VISION:  # as image_bench: two warm-up batches, then >= 3 for >= --seconds
            r = self.ort(model, self.manifest[model], threads, 3, 2, seconds=self.a.seconds)
            return r["items_per_s_all"], r
        if model == "minilm":  # as text_bench: a warm-up pass, then the best of 3
            r = self.ort(model, self.manifest[model], threads, 3, save=save)
        else:  # as clip_bench: one warm-up batch, then one timed pass
            r = self.ort(model, self.manifest[model], threads, 1, 1)
        return r["items_per_s"], r

    def pipeline(self, model, threads, isolated):
        """`embedflow run configs/image_embeddings.yaml` on the bundled photos, cycled: the
        model's folder decides the preprocessing, pooling cls as image_bench. As many photos
        as the isolated model embeds in about --seconds (isolated: its images/s so far), fixed
        at the first run of (model, threads) so that every round does the same work."""
        n = self.pipeline_images.setdefault(
            (model, threads),
            VISION_BATCH * max(2, math.ceil(self.a.seconds * max(isolated, default=0)
                                            / VISION_BATCH)))
        photos = photo_folder(os.path.join(self.work, f"photos-{n}"), n)
        out = os.path.join(self.work, f"pipeline-{model}")
        folder = self.folder[model]
        r = with_others(lambda: pipeline_run.run(
            self.cli, IMAGE_CONFIG, [f"images.dir={photos}", f"preprocess.model={folder}",
                                     f"embed.model={folder}", "embed.pooling=cls",
                                     f"embed.batch_size={VISION_BATCH}"],
            threads=threads, env={"OUT": out}))
        embed = next(st for st in r["stages"] if st["type"] == "encode.image")
        r["encode_per_busy_s"] = embed["items"] / embed["busy_seconds"] \
            if embed.get("busy_seconds") else None
        r["plan"] = f"{embed['concurrency']}x{embed.get('threads', '?')}"
        # the rows it wrote, each against ORT's embedding of its photo (the links' targets)
        rows = np.load(os.path.join(out, "embeddings.npy"))
        with open(os.path.join(out, "embeddings.jsonl")) as f:
            names = [os.path.basename(os.path.realpath(json.loads(line)["source"])) for line in f]
        r["cosines"] = cosines(rows, np.stack([self.photo_embeddings[model][x] for x in names]))
        return r["process_per_s"], r

    # --- correctness ---------------------------------------------------------------------------

    def check_minilm(self, ef_file, ort_file):
        ort = np.load(ort_file)
        unsorted = np.empty_like(ort)
        unsorted[self.minilm_order] = ort
        return cosines(np.load(ef_file), unsorted)

    def embedflow_outputs(self, config, sets, threads):
        """`embedflow run` of one of this folder's pipelines, --set as given (its files)."""
        cmd = [self.cli, "run", os.path.join(HERE, config), "--progress", "off",
               "--threads", str(threads)]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        subprocess.run(cmd, check=True, capture_output=True)

    def ort_outputs(self, model, inputs, folder, threads):
        """ORT's outputs for one batch ({input name: array}), its files kept in folder."""
        self.ort(model, write_manifest(folder, [inputs]), threads, 1, 0,
                 save=os.path.join(folder, "ort.npy"))
        return np.load(os.path.join(folder, "ort.npy"))

    def check_clip(self, models, threads):
        """embedflow's CLIP embeddings from clip_outputs.yaml, ORT's on the same pixels / ids."""
        d = os.path.join(self.work, "check")
        os.makedirs(d, exist_ok=True)
        captions = [CAPTION_BASE[i % 5] + f" #{i}" for i in range(CLIP_BATCH)]
        with open(os.path.join(d, "captions.txt"), "w") as f:
            f.write("\n".join(captions) + "\n")
        sets = {"photos.dir": PHOTOS,
                "captions.file": os.path.join(d, "captions.txt"), "image.model": self.clip,
                "text.model": self.clip, "pixels_out.path": os.path.join(d, "pixels.npy"),
                "image_out.path": os.path.join(d, "ef_image.npy"),
                "text_out.path": os.path.join(d, "ef_text.npy")}
        self.embedflow_outputs("clip_outputs.yaml", sets, threads)
        out = {}
        if "clip-image" in models:
            ort = self.ort_outputs("clip-image", {"pixel_values": np.load(sets["pixels_out.path"])},
                                   os.path.join(d, "image"), threads)
            out["clip-image"] = cosines(np.load(sets["image_out.path"]), ort)
        if "clip-text" in models:
            x, mask = padded(tokenize(self.cli, self.clip, captions, 77), 49407)
            ort = self.ort_outputs("clip-text", {"input_ids": x, "attention_mask": mask},
                                   os.path.join(d, "text"), threads)
            out["clip-text"] = cosines(np.load(sets["text_out.path"]), ort)
        return out

    def check_vision(self, model, threads):
        """embedflow's ViT / DINOv2 embeddings of the bundled photos from vision_outputs.yaml,
        ORT's on the pixels its image.preprocess prepared; ORT's are kept by photo for the
        pipeline runs' check."""
        d = os.path.join(self.work, "check", model)
        os.makedirs(d, exist_ok=True)
        sets = {"photos.dir": PHOTOS, "prepare.model": self.folder[model],
                "embed.model": self.folder[model],
                "pixels_out.path": os.path.join(d, "pixels.npy"),
                "embed_out.path": os.path.join(d, "embedflow.npy")}
        self.embedflow_outputs("vision_outputs.yaml", sets, threads)
        ort = self.ort_outputs(model, {"pixel_values": np.load(sets["pixels_out.path"])},
                               os.path.join(d, "ort"), threads)
        with open(os.path.join(d, "embedflow.jsonl")) as f:
            photos = [json.loads(line)["id"] for line in f]
        self.photo_embeddings[model] = dict(zip(photos, ort))
        return cosines(np.load(sets["embed_out.path"]), ort)

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


@functools.lru_cache(maxsize=None)
def cpu_flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def detected_level():
    """The CPU level embedflow detects here (pipelines/src/cpu.cpp's detect()), from the CPU's
    flags. amx also needs the kernel's leave to use the tile state, which the flags do not show:
    a kernel that lists amx_* but refuses it leaves the binaries at avx512bf16."""
    flags = cpu_flags()
    level = "baseline"
    if {"avx2", "fma"} <= flags:
        level = "avx2"
        if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
            level = "avx512"
            if "avx512_vnni" in flags:
                level = "avx512vnni"
                if "avx512_bf16" in flags:
                    level = "avx512bf16"
                    if {"amx_bf16", "amx_tile", "amx_int8"} <= flags:
                        level = "amx"
    return level


def active_level():
    """The level the binaries run at: detected_level(), lowered by EMBEDFLOW_CPU (which never
    raises it; an unknown value is ignored, as the binaries ignore it)."""
    level = detected_level()
    env = os.environ.get("EMBEDFLOW_CPU")
    if env in CPU_LEVELS and CPU_LEVELS.index(env) < CPU_LEVELS.index(level):
        return env
    return level


def at_least(level):
    """Whether the binaries run at `level` or above here."""
    return CPU_LEVELS.index(active_level()) >= CPU_LEVELS.index(level)


def cpu_level():
    """The kernel level embedflow's dispatch picks here (pipelines/src/cpu.cpp): the binaries do
    not print it, so it is derived from the CPU's flags and EMBEDFLOW_CPU."""
    env = os.environ.get("EMBEDFLOW_CPU")
    if active_level() != detected_level():
        return f"{active_level()} (EMBEDFLOW_CPU={env}; the CPU's flags give {detected_level()})"
    return f"{active_level()} (from the CPU's flags; EMBEDFLOW_CPU={env or 'unset'})"


def capped(level):
    """"EMBEDFLOW_CPU=... is below `level`" when the CPU has `level` but EMBEDFLOW_CPU keeps the
    binaries below it, else ""."""
    if at_least(level) or CPU_LEVELS.index(detected_level()) < CPU_LEVELS.index(level):
        return ""
    return f"EMBEDFLOW_CPU={os.environ['EMBEDFLOW_CPU']} is below {level}"


def onednn_caps():
    """", capped by ..." when ONEDNN_MAX_CPU_ISA (or its old name) limits what oneDNN takes."""
    caps = [f"{v}={os.environ[v]}" for v in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
            if os.environ.get(v)]
    return f", capped by {' '.join(caps)}" if caps else ""


def goal_applies(precision):
    """Whether the rows at `precision` are held to their goal here (PRECISION_GOALS' "cpu")."""
    return at_least(PRECISION_GOALS[precision].get("cpu", CPU_LEVELS[0]))


def int8_path():
    """The instructions int8's Linears run on here. The binaries pick AMX's tiles, and 8-bit or
    7-bit activations, by their CPU level (the CPU's flags, capped by EMBEDFLOW_CPU); oneDNN's
    u8·s8 GEMM takes the best the CPU has unless ONEDNN_MAX_CPU_ISA caps it."""
    flags = cpu_flags()
    if at_least("amx"):
        path = "oneDNN's u8·s8 matmul on AMX (amx_int8), 8-bit activations"
    elif at_least("avx512vnni"):
        path = "oneDNN's u8·s8 GEMM with VNNI (vpdpbusd), 8-bit activations"
        path += f" ({capped('amx')})" if capped("amx") else ""
    else:
        if "avx512_vnni" in flags:  # EMBEDFLOW_CPU below avx512vnni
            isa = "avx512_vnni"
        elif "avx_vnni" in flags:
            isa = "avx_vnni (256-bit VNNI; no avx512_vnni)"
        elif "avx512bw" in flags:
            isa = "avx512 without VNNI"
        elif "avx2" in flags:
            isa = "avx2 without VNNI"
        else:
            isa = "no avx2"
        # Below avx512vnni the binaries quantise for vpmaddubsw, whose u8·s8 pair sums saturate
        # at int16 unless the activations keep to 7 bits.
        why = "; ".join(x for x in ("vpmaddubsw's saturating int16 sums", capped("avx512vnni"))
                        if x)
        path = f"oneDNN's u8·s8 GEMM on {isa}, 7-bit activations ({why})"
    return path + onednn_caps()


def bf16_path():
    """What bf16's Linears run on here: oneDNN's bf16 matmul on AMX's tiles at the amx level, on
    AVX512-BF16's dot products (vdpbf16ps) at avx512bf16; below it the binaries emulate bf16 on
    the fp32 GEMM, which gives bf16's fidelity at fp32's speed."""
    if at_least("amx"):
        path = "oneDNN's bf16 matmul on AMX (amx_bf16)"
    elif at_least("avx512bf16"):
        path = "oneDNN's bf16 matmul on AVX512-BF16 (vdpbf16ps)"
        if capped("amx"):
            path += f" ({capped('amx')})"
    else:
        why = capped("avx512bf16") or "neither AMX nor AVX512-BF16 on this CPU"
        path = (f"emulated: bf16-rounded weights and activations on the fp32 GEMM ({why}), "
                f"fp32 speed")
    return path + onednn_caps()


# The path each reduced precision runs on here, printed and recorded beside its rows.
PRECISION_PATHS = {"int8": int8_path, "bf16": bf16_path}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds per thread count")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seconds", type=float, default=5.0,
                    help="vit-b16, dinov2-s: each side's timed run lasts at least this long "
                         "(and 3 batches); the pipeline's photos take about as long")
    ap.add_argument("--precisions", default=",".join(PRECISIONS),
                    help="embedflow's sides, each a --precision of the bench binaries "
                         f"({', '.join(PRECISIONS)}); fp32 (the reference of the others) is "
                         "always among them")
    a = ap.parse_args()
    t_start = time.perf_counter()
    models = [m for m in MODELS if m in a.models.split(",")]
    unknown = set(a.precisions.split(",")) - set(PRECISIONS)
    if unknown:
        sys.exit(f"--precisions: {', '.join(sorted(unknown))} not among {', '.join(PRECISIONS)}")
    precisions = [x for x in PRECISIONS if x == "fp32" or x in a.precisions.split(",")]
    reduced = precisions[1:]  # measured against fp32
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        sys.exit(f"onnxruntime-node is missing: "
                 f"(cd {HERE} && ONNXRUNTIME_NODE_INSTALL=skip npm ci)")
    p = Peers(a, models)
    # (re-)export when an .onnx is missing or older than the weights it was made from
    weights = {m: os.path.join(p.folder[m], "model.safetensors") for m in models}
    missing = [m for m in models if not os.path.exists(p.onnx[m])
               or os.path.getmtime(p.onnx[m]) < os.path.getmtime(weights[m])]
    if missing:
        folders = {"--minilm": p.minilm, "--clip": p.clip, "--vit": p.folder.get("vit-b16"),
                   "--dinov2": p.folder.get("dinov2-s")}
        subprocess.run([sys.executable, os.path.join(HERE, "export_onnx.py"), "--build", a.build,
                        "--models", ",".join(missing)]
                       + [x for flag, d in folders.items() if d for x in (flag, d)], check=True)
    p.prepare(models)

    # Correctness first: a speed ratio of two different computations would mean nothing.
    # (MiniLM's embeddings are those of the first timed round, checked right after it, and the
    # vision pipelines' rows those of each timed run.)
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
    for m in models:
        if m in VISION:
            check(m, p.check_vision(m, max(a.threads)))
    fused = {m: p.fusions(m) for m in models}

    # Rounds alternate the sides (and which goes first): on a shared machine the speed drifts
    # within a minute, and one block per side would measure the drift instead of the code.
    # Sides: embedflow at each precision, then ORT (and for the vision models the pipeline).
    timed = precisions + ["ort"]
    runs = {(m, t): {side: [] for side in timed} for m in models for t in a.threads}
    others = {key: [] for key in runs}
    peaks = {key: [] for key in runs}  # clip_bench's GEMM peak of the round (GFLOP/s)
    best_batch = {key: {side: [] for side in timed} for key in runs if key[0] in VISION}
    pipes = {key: [] for key in best_batch}  # the vision pipelines' runs
    fidelity = {}  # (model, threads, reduced precision) -> cosines against fp32, row by row
    image_gflops = 0.0
    info = {}
    for t in a.threads:
        for rnd in range(a.repeat):
            for m in models:
                # The first round's runs save their embeddings: fp32's are checked against ORT's
                # (MiniLM; peer() saves for it only) and the other precisions' against fp32's.
                saved = rnd == 0
                sides = [(x, lambda x=x: p.embedflow(m, t, rnd, x, saved)) for x in precisions]
                sides.append(("ort", lambda: p.peer(m, t, p.saved(m, "ort", t) if saved
                                                    else None)))
                if m in VISION:
                    sides.append(("pipeline",
                                  lambda: p.pipeline(m, t, runs[(m, t)]["fp32"])))
                for side, fn in sides if rnd % 2 == 0 else sides[::-1]:
                    rate, r = fn()
                    if side == "pipeline":
                        pipes[(m, t)].append(r)
                        check(f"{m} pipeline", r["cosines"])
                        continue
                    runs[(m, t)][side].append(rate)
                    others[(m, t)].append(r["others"])
                    info[side] = r
                    if "torch" in r:
                        info["torch"] = r["torch"]
                    if m in VISION:
                        best_batch[(m, t)][side].append(
                            r["items_per_s" if side == "ort" else "best_batch_images_per_s"])
                        if side == "fp32":
                            info[m] = r["describe"]
                    if side == "fp32" and m == "clip-image":  # text_bench has a peak too
                        peaks[(m, t)].append(r["gemm_peak_gflops"])
                        image_gflops = r["image_gflops"]
                if saved:
                    fp32_out = p.saved(m, "fp32", t)
                    if m == "minilm":
                        check(m, p.check_minilm(fp32_out, p.saved(m, "ort", t)))
                    for x in reduced:
                        fidelity[(m, t, x)] = cosines(np.load(p.saved(m, x, t)),
                                                      np.load(fp32_out))

    print(f"embedflow vs ONNX Runtime (bench/peers): same random weights, same inputs; "
          f"{a.repeat} alternating rounds per thread count")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} "
          f"at the end")
    print(f"ORT: {info['ort']['impl']} (CPU EP; graph optimisation 'all', intra-op = threads, "
          f"inter-op 1, sequential)")
    print(f"embedflow: {info.get('torch', 'image_bench')}; kernels' CPU level: {cpu_level()}")
    for x in reduced:
        print(f"embedflow {x}: its path, from the CPU's flags and EMBEDFLOW_CPU: "
              f"{PRECISION_PATHS[x]()}")
    for m in models:
        if m in VISION:
            print(f"  {m}: {info[m]}")
    inputs = {"minilm": f"512 sentences ({getattr(p, 'minilm_tokens', 0)} tokens) in batches of "
                        f"{MINILM_BATCH}, 3 passes",
              "clip-image": f"{CLIP_BATCHES} batches of the same {CLIP_BATCH} images",
              "clip-text": f"{CLIP_BATCHES * 4} batches of the same {CLIP_BATCH} captions"}
    for m in VISION:
        inputs[m] = (f"the same {VISION_BATCH} images ({IMAGE_SIZE} px) after 2 warm-up batches, "
                     f"for >= {a.seconds:g} s")
    print("inputs: " + "; ".join(f"{m} {inputs[m]}" for m in models))
    print("\nfp32, embedflow's default precision, against ORT")
    print(f"{'model':11s} {'threads':>7s} {'unit':>12s} {'embedflow':>10s} {'ORT':>10s} "
          f"{'ratio':>7s} {'median':>7s} {'goal':>6s} {'others':>7s}")
    rows = []
    for m in models:
        for t in a.threads:
            ef, ort = runs[(m, t)]["fp32"], runs[(m, t)]["ort"]
            ratio = max(ef) / max(ort)
            median = statistics.median(e / o for e, o in zip(ef, ort))
            busy = max(others[(m, t)])
            rows.append({"model": m, "threads": t, "unit": UNITS[m], "embedflow": max(ef),
                         "ort": max(ort), "ratio": ratio, "median_round_ratio": median,
                         "goal": GOALS[m], "embedflow_rounds": ef, "ort_rounds": ort,
                         "others_max": busy})
            if m in VISION:  # the least disturbed batch of the timed runs, each side
                rows[-1].update({"embedflow_best_batch": max(best_batch[(m, t)]["fp32"]),
                                 "ort_best_batch": max(best_batch[(m, t)]["ort"])})
            print(f"{m:11s} {t:7d} {UNITS[m]:>12s} {max(ef):10.1f} {max(ort):10.1f} "
                  f"{ratio:6.2f}x {median:6.2f}x {GOALS[m]:5.1f}x {busy:6.0%}"
                  f"{'' if ratio >= GOALS[m] else '  (below goal)'}")
    print("ratio: best round of each side; median: of the ratios within each round; others: "
          "the largest share of the CPU other processes took during one of the row's runs "
          "(any side's)")
    if "clip-image" in models and image_gflops:
        # How much room the GEMMs leave: the tower's GEMM FLOPs per image times images/s over
        # the peak of oneDNN's sgemm at the tower's shapes, measured by clip_bench in each round.
        for t in a.threads:
            peak = max(peaks[("clip-image", t)])
            ef, ort = (max(runs[("clip-image", t)][side]) for side in ("fp32", "ort"))
            print(f"clip-image at {t} thread(s): {image_gflops:.2f} GFLOP per image, GEMM peak "
                  f"{peak:.1f} GFLOP/s: embedflow at {ef * image_gflops / peak:.0%} of it, "
                  f"ORT at {ort * image_gflops / peak:.0%}")
            for row in rows:
                if row["model"] == "clip-image" and row["threads"] == t:
                    row["gemm_peak_gflops"] = peak
                    row["roofline_embedflow"] = ef * image_gflops / peak
                    row["roofline_ort"] = ort * image_gflops / peak
    precision_rows = []
    for x in reduced:
        goal, applies, path = PRECISION_GOALS[x], goal_applies(x), PRECISION_PATHS[x]()
        speed = "vs_fp32" in goal  # bf16 has a fidelity floor only
        goal_text = (f"{goal['vs_fp32']:.1f}x/" if speed else "cos ") + str(goal["mean_cosine"])
        print(f"\n{x}: `--precision {x}` of the same binaries, a side of the same rounds; "
              f"cosines row by row against fp32's embeddings of the same inputs")
        print(f"{'model':11s} {'threads':>7s} {'unit':>12s} {x + ' items/s':>13s} "
              f"{'÷ fp32':>7s} {'÷ ORT':>7s} {'mean cos':>9s} {'min cos':>9s} {'goal':>11s}")
        for m in models:
            for t in a.threads:
                rates, c = runs[(m, t)][x], fidelity[(m, t, x)]
                vs_fp32 = max(rates) / max(runs[(m, t)]["fp32"])
                vs_ort = max(rates) / max(runs[(m, t)]["ort"])
                met = ((not speed or vs_fp32 >= goal["vs_fp32"])
                       and c.mean() >= goal["mean_cosine"])
                precision_rows.append({
                    "model": m, "threads": t, "precision": x, "unit": UNITS[m],
                    "items_per_s": max(rates), "rounds": rates, "vs_fp32": vs_fp32,
                    "median_round_vs_fp32": statistics.median(
                        r / f for r, f in zip(rates, runs[(m, t)]["fp32"])),
                    "vs_ort": vs_ort, "cosine_mean": float(c.mean()),
                    "cosine_min": float(c.min()), "rows_compared": len(c),
                    "goal": goal, "goal_applies": applies, "goal_met": met, "path": path})
                if m in VISION:
                    precision_rows[-1]["best_batch"] = max(best_batch[(m, t)][x])
                # Below the level the goal is set for, it is not the row's to meet: no verdict,
                # only the mark.
                mark = (("" if met else f"  (below {'goal' if speed else 'floor'})") if applies
                        else f"  ({goal['cpu']} only)")
                print(f"{m:11s} {t:7d} {UNITS[m]:>12s} {max(rates):13.1f} {vs_fp32:6.2f}x "
                      f"{vs_ort:6.2f}x {c.mean():9.6f} {c.min():9.6f} {goal_text:>11s}{mark}")
        if speed:
            wanted = f">= {goal['vs_fp32']:.1f}x fp32 at mean cosine >= {goal['mean_cosine']}"
        else:
            wanted = (f"mean cosine >= {goal['mean_cosine']}, a fidelity floor (no speed goal: "
                      f"÷ fp32 and ÷ ORT are what {x} reaches here)")
        if "cpu" in goal:
            wanted += f", at CPU level {goal['cpu']} or above" + (
                "" if applies else f"; here {x} runs below it, so the rows show what it "
                                   f"reaches there")
        print(f"÷ fp32, ÷ ORT: best round of each side; cosines: the first round's saved "
              f"embeddings at each thread count; goal: {wanted}; {x} path: {path}")
    pipeline_rows = []
    if pipes:
        print(f"\npipeline: `embedflow run configs/image_embeddings.yaml` (image.load -> "
              f"image.preprocess with the folder's preprocessor_config.json -> encode.image, "
              f"pooling cls, batches of {VISION_BATCH} -> write.npy) on the bundled photos, "
              f"cycled; images/s, best round each, beside the isolated model (image_bench)")
        print(f"{'model':11s} {'threads':>7s} {'photos':>7s} {'isolated':>9s} {'process':>8s} "
              f"{'÷ isol.':>7s} {'no-load':>8s} {'encode/busy s':>13s} {'plan':>5s} "
              f"{'others':>7s}")
        for (m, t), rs in pipes.items():
            isolated = max(runs[(m, t)]["fp32"])
            best = {k: max(r[k] for r in rs) for k in ("process_per_s", "pipeline_per_s")}
            busy = [r["encode_per_busy_s"] for r in rs if r["encode_per_busy_s"]]
            encode = max(busy) if busy else None
            pipeline_rows.append({"model": m, "threads": t, "photos": rs[0]["items"],
                                  "isolated": isolated, **best, "encode_per_busy_s": encode,
                                  "plan": rs[0]["plan"],
                                  "process_rounds": [r["process_per_s"] for r in rs],
                                  "others_max": max(r["others"] for r in rs)})
            print(f"{m:11s} {t:7d} {rs[0]['items']:7d} {isolated:9.1f} "
                  f"{best['process_per_s']:8.1f} {best['process_per_s'] / isolated:6.2f}x "
                  f"{best['pipeline_per_s']:8.1f} "
                  f"{encode if encode is not None else float('nan'):13.1f} {rs[0]['plan']:>5s} "
                  f"{pipeline_rows[-1]['others_max']:6.0%}")
        print("process: photos / wall time of the whole `embedflow run` (start-up, model load, "
              "decode and preprocessing included); no-load: less the time opening stages; "
              "encode/busy s: the encode.image stage's images per second of its calls' busy "
              "time (summed over concurrent calls); plan: its concurrent calls x threads each")
    if max(r["others_max"] for r in rows + pipeline_rows) > 0.05:
        print("warning: other processes were busy during some runs: measure again on a quiet "
              "machine before reading much into the ratios")

    print("\ncorrectness, cosine per row between ORT's and embedflow's embeddings "
          f"(must be >= {MIN_COSINE}):")
    for m, c in cos.items():
        print(f"  {m:17s} {len(c):4d} rows: min {c.min():.7f}, mean {c.mean():.7f}")
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
                      "embedflow_torch": info.get("torch"), "rounds": a.repeat,
                      "int8_path": int8_path(), "bf16_path": bf16_path(),
                      "avx512_vnni": bool("avx512_vnni" in cpu_flags()),
                      "amx": bool({"amx_bf16", "amx_tile", "amx_int8"} <= cpu_flags()),
                      "rows": rows, "precision_rows": precision_rows,
                      "pipeline_rows": pipeline_rows,
                      "cosine_min": {m: float(c.min()) for m, c in cos.items()},
                      "ort_fusions": {m: fused[m][0] for m in models}, "wall_seconds": wall},
                     default=lambda o: o.item()))  # numpy scalars (cosines, verdicts) as Python


if __name__ == "__main__":
    main()
