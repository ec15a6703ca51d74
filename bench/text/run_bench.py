"""Text encoder benchmark, one run, both sides: embedflow (bench/text/text_bench) against a
PyTorch-eager implementation of Hugging Face's BertModel forward (hf_eager_reference.py), with
the same random all-MiniLM-L6-v2-shaped weights and the same 512 sentences (5–40 words).

    ninja -C build text_bench
    /usr/bin/python3 bench/text/run_bench.py --build build [--threads 2] [--repeat 5]

Then what users run: `embedflow run configs/text_embeddings.yaml` with the same model on the
same sentences (repeated to --pipeline-sentences, 10,240 by default), once per round, printed as
pipeline ÷ kernel (kernel: the fp32 encode() row of the same round), steady state and whole
process, with its user/sys CPU time and peak RSS; --load adds a run beside a competing CPU-bound
process, --rss the peak RSS on 1,000 and 100,000 sentences.

Prints sentences/s of each, the ratio, the fraction of the GEMM roofline (Linear-layer FLOPs of
the real tokens ÷ libtorch's GEMM peak measured in the same run), each as the best round and as
the median over rounds of the ratios within a round, and the int8 fidelity against fp32
(mean/min cosine, top-1 neighbour agreement)."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures", "text"))

from corpus import bench_sentences  # noqa: E402
from hf_eager_reference import bench as eager_bench  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "bench", "core"))
import pipeline_run  # noqa: E402

CONFIG = os.path.join(REPO, "configs", "text_embeddings.yaml")


def run_cpp(exe, model, sentences_file, threads, repeat, extra, save=None):
    cmd = [exe, "--model", model, "--sentences", sentences_file, "--threads", str(threads),
           "--repeat", str(repeat)] + extra
    if save:
        cmd += ["--save", save]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def normalize(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def top1(a):
    s = normalize(a) @ normalize(a).T
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="rounds over all implementations")
    ap.add_argument("--cli", default=None, help="embedflow binary (default: BUILD/apps/embedflow)")
    ap.add_argument("--pipeline-sentences", type=int, default=10240,
                    help="sentences of the `embedflow run` row (the bench sentences repeated)")
    ap.add_argument("--rss", action="store_true",
                    help="also peak RSS of the pipeline on 1,000 and 100,000 sentences")
    ap.add_argument("--load", action="store_true",
                    help="also the pipeline beside a competing CPU-bound process")
    a = ap.parse_args()

    gen = os.path.join(a.build, "generated", "text")
    model = os.path.join(gen, "minilm-random")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "fixtures", "text",
                                                     "make_models.py"), "minilm", "--out", gen],
                       check=True)
    sentences = bench_sentences()
    sent_file = os.path.join(gen, "bench_sentences.txt")
    with open(sent_file, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    exe = os.path.join(a.build, "bench", "text", "text_bench")
    cli = a.cli or os.path.join(a.build, "apps", "embedflow")
    out_dir = os.path.join(gen, "pipeline-out")

    def lines_file(n):
        path = os.path.join(gen, f"bench_sentences_{n}.txt")
        with open(path, "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(sentences[i % len(sentences)] + "\n")
        return path

    def run_pipeline(n_or_file, competitor=False):
        path = n_or_file if isinstance(n_or_file, str) else lines_file(n_or_file)
        return pipeline_run.run(cli, CONFIG, [f"lines.file={path}", f"embed.model={model}",
                                              f"embeddings.path={out_dir}/embeddings.npy"],
                                threads=a.threads, competitor=competitor)

    pipeline_file = lines_file(a.pipeline_sentences)
    pipe_runs, pipe_ratio, process_ratio = [], [], []

    # Rounds alternate all implementations: on a shared machine the speed drifts by 20-30%
    # within a minute, and one block per implementation would measure the drift instead of
    # the code. Two statistics: each implementation's best round (against the best GEMM peak
    # of any round), and the median over rounds of the ratios within a round (each run against
    # the eager run of its own round, and against the GEMM peak its own process measured right
    # after it), which a slow spell hitting one side only moves much less.
    # "fp32" and "int8" time SentenceTransformer::encode (batches side by side, one per thread); the
    # others run one batch at a time on both threads, the fp32 ones differing from each other
    # in one choice each: input order instead of longest first, padding to the batch's longest.
    variants = {"fp32": ["--precision", "fp32"],
                "fp32 one batch at a time": ["--one-batch-at-a-time"],
                "fp32 one at a time, source order": ["--order", "source"],
                "fp32 one at a time, padded (cost only)": ["--padded"],
                "int8": ["--precision", "int8"],
                "int8 one batch at a time": ["--precision", "int8", "--one-batch-at-a-time"]}
    saves = {"fp32": os.path.join(gen, "bench_fp32.npy"),
             "int8": os.path.join(gen, "bench_int8.npy")}
    runs, eager, eager_emb, peak = {}, None, None, 0.0
    round_ratio = {name: [] for name in variants}
    round_roof = {name: [] for name in variants}
    round_roof["eager"] = []
    for _ in range(a.repeat):
        e, eager_emb = eager_bench(model, sentences, a.threads, 32, 1)
        if eager is None or e["seconds"] < eager["seconds"]:
            eager = e
        for name, extra in variants.items():
            r = run_cpp(exe, model, sent_file, a.threads, 1, extra, saves.get(name))
            peak = max(peak, r["gemm_peak_gflops"])
            round_ratio[name].append(r["sentences_per_s"] / e["sentences_per_s"])
            round_roof[name].append(r["roofline_fraction"])
            if name == "fp32":
                round_roof["eager"].append(
                    e["sentences_per_s"] / r["roofline_sentences_per_s"])
            if name not in runs or r["sentences_per_s"] > runs[name]["sentences_per_s"]:
                runs[name] = r
            if name == "fp32":
                kernel_round = r["sentences_per_s"]
        # What users run: the same model and sentences through `embedflow run`.
        p = run_pipeline(pipeline_file)
        pipe_runs.append(p)
        pipe_ratio.append(p["pipeline_per_s"] / kernel_round)
        process_ratio.append(p["process_per_s"] / kernel_round)
    # The best-round roofline from the best GEMM peak seen in any round.
    for r in runs.values():
        r["roofline_sentences_per_s"] *= peak / r["gemm_peak_gflops"]
        r["gemm_peak_gflops"] = peak

    base = eager["sentences_per_s"]
    roof = runs["fp32"]["roofline_sentences_per_s"]
    print(f"text encoder benchmark: {len(sentences)} sentences, {runs['fp32']['tokens']} tokens "
          f"({runs['fp32']['tokens'] / len(sentences):.1f}/sentence), batches of 32, "
          f"{a.threads} threads; {a.repeat} alternating rounds; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"model: {runs['fp32']['model']}")
    # Debian's reference BLAS would run these GEMMs ~30x slower: say which one is loaded.
    print(f"embedflow's {runs['fp32']['torch']}")
    blas = [l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.split()[-1]]
    print(f"the Python reference's BLAS: {sorted(set(blas))[0] if blas else 'unknown'}")
    print(f"GEMM peak, best of all rounds: {peak:.1f} GFLOP/s -> roofline {roof:.1f} sentences/s "
          f"({runs['fp32']['linear_gflop']:.1f} GFLOP of Linear layers)")
    print(f"{'':50s} {'best round':>30s}   {'median of rounds':>19s}")
    print(f"{'implementation':50s} {'sent/s':>9s} {'vs eager':>9s} {'roofline':>9s}   "
          f"{'vs eager':>9s} {'roofline':>9s}")
    print(f"{eager['impl']:50s} {base:9.1f} {1.0:8.2f}x {base / roof:8.1%}   {1.0:8.2f}x "
          f"{np.median(round_roof['eager']):8.1%}")
    for name, r in runs.items():
        print(f"{'embedflow ' + name:50s} {r['sentences_per_s']:9.1f} "
              f"{r['sentences_per_s'] / base:8.2f}x {r['sentences_per_s'] / roof:8.1%}   "
              f"{np.median(round_ratio[name]):8.2f}x {np.median(round_roof[name]):8.1%}")

    best = max(pipe_runs, key=lambda p: p["pipeline_per_s"])
    kernel = runs["fp32"]["sentences_per_s"]
    print(f"\n`embedflow run configs/text_embeddings.yaml` on {a.pipeline_sentences} sentences "
          f"(the bench sentences repeated), --threads {a.threads}, on {pipeline_run.describe_machine()}")
    print(f"{'':50s} {'best round':>30s}   {'median of rounds':>19s}")
    print(f"{'':50s} {'sent/s':>9s} {'÷ kernel':>9s}   {'÷ kernel':>9s}")
    print(f"{'kernel: embedflow fp32 (encode(), above)':50s} {kernel:9.1f} {1.0:8.2f}x")
    print(f"{'pipeline (run time less model load)':50s} {best['pipeline_per_s']:9.1f} "
          f"{best['pipeline_per_s'] / kernel:8.2f}x   {np.median(pipe_ratio):8.2f}x")
    bw = max(pipe_runs, key=lambda p: p["process_per_s"])
    print(f"{'whole process (start-up and model load included)':50s} {bw['process_per_s']:9.1f} "
          f"{bw['process_per_s'] / kernel:8.2f}x   {np.median(process_ratio):8.2f}x")
    embed_stage = next(st for st in best["stages"] if st["id"] == "embed")
    print(f"pipeline CPU time: user {best['user']:.1f} s, sys {best['sys']:.2f} s "
          f"(sys = {best['sys'] / best['user']:.1%} of user); peak RSS {best['peak_rss_mib']:.0f} MiB; "
          f"encode stage: concurrency {embed_stage['concurrency']}, "
          f"{embed_stage.get('threads')} thread(s) per call")
    if a.load:
        loaded = run_pipeline(pipeline_file, competitor=True)
        quiet = float(np.median([p["pipeline_per_s"] for p in pipe_runs]))
        print(f"beside one competing CPU-bound process: {loaded['pipeline_per_s']:.1f} sent/s, "
              f"{loaded['pipeline_per_s'] / quiet:.2f}x the quiet median ({quiet:.1f})")
    if a.rss:
        small, large = run_pipeline(1000), run_pipeline(100000)
        growth = large["peak_rss_mib"] / small["peak_rss_mib"]
        print(f"peak RSS: {small['peak_rss_mib']:.0f} MiB on 1,000 sentences, "
              f"{large['peak_rss_mib']:.0f} MiB on 100,000 ({growth - 1:+.1%}); "
              f"100,000 at {large['pipeline_per_s']:.1f} sent/s, sys {large['sys'] / large['user']:.1%} of user")

    fp32 = np.load(os.path.join(gen, "bench_fp32.npy"))
    int8 = np.load(os.path.join(gen, "bench_int8.npy"))
    print(f"fp32 vs eager reference: max |delta| = {np.abs(fp32 - eager_emb).max():.2e}")
    cos = (normalize(fp32) * normalize(int8)).sum(1)
    agree = (top1(fp32) == top1(int8)).mean()
    print(f"int8 fidelity vs fp32: mean cosine {cos.mean():.6f}, min {cos.min():.6f}, "
          f"top-1 neighbour agreement {agree:.1%}")


if __name__ == "__main__":
    main()
