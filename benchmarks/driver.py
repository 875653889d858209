"""What the benchmark drivers share (fit_throughput.py, suite/run.py): the workers' environment,
running one worker process and reading its JSON line while measuring the machine's other load,
and the machine description of a report."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Some machines set these for old OpenBLAS builds; they force NumPy's BLAS onto an older
# kernel than the CPU's, so workers run without them unless asked to keep them.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_env(threads: int, keep_openblas_env: bool = False) -> dict[str, str]:
    """The environment of a worker: ``threads`` BLAS/OpenMP threads, no OpenBLAS override."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TensorFlow's start-up chatter goes to stderr anyway
    if not keep_openblas_env:
        for name in OPENBLAS_OVERRIDES:
            env.pop(name, None)
    return env


def tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_worker(command: list[str], env: dict[str, str], timeout: float) -> dict:
    """Run one worker; its last JSON line, with ``foreign_cores`` (the CPU time the rest of
    the machine used meanwhile, in cores), or ``{"error": ...}``."""
    before = _cpu_seconds()
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    except OSError as error:  # the interpreter went missing, say
        return {"error": f"could not start {command[0]}: {error}"}
    after = _cpu_seconds()
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}:\n{tail(done.stderr)}"}
    result = json.loads(lines[-1])
    wall = after[0] - before[0]
    # Another process taking a core from a 2-thread run stalls its every barrier, not just
    # half its work: such runs are set aside when quiet ones exist.
    result["foreign_cores"] = max(0.0, (after[1] - before[1]) - (after[2] - before[2])) / wall
    return result


def _cpu_seconds() -> tuple[float, float, float]:
    """(wall clock, busy CPU seconds of the whole machine, CPU seconds of our children)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = children.ru_utime + children.ru_stime
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return time.perf_counter(), mine, mine  # no /proc: every run counts as quiet
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    ticks = os.sysconf("SC_CLK_TCK")
    return time.perf_counter(), (user + nice + system + irq + softirq + steal) / ticks, mine


def machine(results) -> list[str]:
    """Report lines: the CPU, and each framework's versions and BLAS as its worker saw them."""
    lines = [f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; Linux {platform.release()}"]
    seen: dict[str, dict] = {}
    for runs in results.values():
        for r in runs:
            if "error" not in r:
                seen.setdefault(r["framework"], r)
    for framework, r in seen.items():
        versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        blas = "; ".join(
            " ".join(filter(None, (b.get("internal_api"), b.get("version"), b.get("architecture"))))
            + f" ({b.get('num_threads')} threads)"
            for b in r["blas"]
        )
        lines.append(f"- {framework}: {versions}; threadpoolctl: {blas or 'n/a'}")
    return lines


def cpu_model() -> str:
    """The CPU's model name, family and model, from /proc/cpuinfo."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    fields = dict(
        line.split(":", 1) for line in info.splitlines() if ":" in line and line[0] != " "
    )
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    family = f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"
    return f"{fields.get('model name', 'unknown CPU')} ({family})"


def relative(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    relative_path = os.path.relpath(os.path.abspath(path))
    return path if relative_path.startswith("..") else relative_path
