"""`embedflow run` as a user runs it, measured as a benchmark row: the whole process (wall
time, user and system CPU time from wait4, peak RSS from /proc) and the run's own --stats (its items, the
seconds spent opening stages, i.e. loading models). Imported by bench/text, bench/image and
bench/clip, which print these rows beside the isolated kernel they time in the same run.

Throughputs:
- pipeline: items / (run seconds - open seconds): what the running pipeline delivers, model
  load excluded, as a kernel benchmark (model loaded before the timer starts) measures it;
- whole process: items / wall time of the process, start-up and model load included.
"""
import json
import os
import subprocess
import tempfile
import threading
import time


def watch_peak_rss(pid, done, peak_kib):
    """The process's VmHWM (its own high-water mark since exec), polled until it exits. wait4's
    ru_maxrss is no use here: it starts from the RSS of the forked Python interpreter (which
    has torch loaded), so every run would report at least that."""
    path = f"/proc/{pid}/status"
    while not done.wait(0.02):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kib[0] = max(peak_kib[0], int(line.split()[1]))
        except (OSError, ValueError):
            return


def run(cli, config, sets=(), threads=2, env=None, competitor=False):
    """Runs `cli run config --set ... --threads T --stats F`; returns a dict of figures.

    competitor: a second CPU-bound process (a busy loop) runs for exactly as long as the
    pipeline does, to measure the run on a machine shared with other work.
    """
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = os.path.join(tmp, "stats.json")
        cmd = [cli, "run", config, "--threads", str(threads), "--progress", "off",
               "--stats", stats_file]
        for s in sets:
            cmd += ["--set", s]
        busy = None
        if competitor:
            busy = subprocess.Popen(["/usr/bin/python3", "-c", "while True: pass"])
            time.sleep(0.2)
        full_env = dict(os.environ)
        full_env.update(env or {})
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        out_chunks, err_chunks = [], []
        peak_kib = [0]
        done = threading.Event()
        readers = [threading.Thread(target=lambda: out_chunks.append(p.stdout.read())),
                   threading.Thread(target=lambda: err_chunks.append(p.stderr.read())),
                   threading.Thread(target=watch_peak_rss, args=(p.pid, done, peak_kib))]
        for r in readers:
            r.start()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        for r in readers:
            r.join()
        p.returncode = os.waitstatus_to_exitcode(status)
        if busy:
            busy.kill()
            busy.wait()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n"
                               f"{b''.join(err_chunks).decode(errors='replace')[-3000:]}")
        with open(stats_file) as f:
            stats = json.load(f)
    steady = stats["seconds"] - stats["open_seconds"]
    return {
        "items": stats["items"],
        "wall": wall,
        "user": usage.ru_utime,
        "sys": usage.ru_stime,
        "peak_rss_mib": peak_kib[0] / 1024.0,
        "open_seconds": stats["open_seconds"],
        "run_seconds": stats["seconds"],
        "pipeline_per_s": stats["items"] / steady if steady > 0 else 0.0,
        "process_per_s": stats["items"] / wall,
        "stages": stats["stages"],
    }


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return "+".join(x for x in ("avx2", "fma", "avx512f", "avx512_vnni",
                                            "avx512_bf16") if x in flags)
    return ""


def describe_machine():
    return f"{cpu_name()} ({cpu_flags()}), {os.cpu_count()} logical CPUs"
