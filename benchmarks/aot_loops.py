"""Loops built ahead of time against Numba's just-in-time ones, per suite workload.

    python benchmarks/aot_loops.py [--rounds 3] [--workloads mlp,cnn,...]

Runs the suite's rillet worker (benchmarks/suite/worker.py) on each workload with the
ahead-of-time build (rillet/ops/_aot.py) and with ``RILLET_DISABLE_AOT=1``, alternating, each
run its own process, and prints one markdown row per workload: the median step time, peak RSS
and first call (trace, compile and, just in time, Numba's import and cache loads) of each,
medians over the rounds, with the suite's environment (``--threads`` BLAS threads, 2 by
default, and no OpenBLAS override).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
SUITE = BENCHMARKS / "suite"
sys.path.insert(0, str(BENCHMARKS))

from driver import worker_env  # noqa: E402

WORKLOADS = ["mlp", "cnn", "lstm", "transformer", "kws_window", "kws_frame", "fit_lstm"]
STEPS = {"kws_frame": 3000, "kws_window": 300, "fit_lstm": 5}


def run(workload: str, disable_aot: bool, threads: int) -> dict:
    env = worker_env(threads)
    env["RILLET_DISABLE_AOT"] = "1" if disable_aot else ""
    steps = STEPS.get(workload, 50)
    command = [sys.executable, str(SUITE / "worker.py"), "--framework", "rillet"]
    command += ["--workload", workload, "--steps", str(steps), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=True)
    record = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "step": statistics.median(record["step_times_s"]),
        "rss": record["peak_rss_bytes"] / 2**20,
        "first": record["first_call_s"],
    }


def _medians(records: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in records) for key in records[0]}


def _time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("| workload | step: ahead of time / just in time | peak RSS | first call |")
    print("|---|---|---|---|")
    for workload in args.workloads.split(","):
        runs = {False: [], True: []}
        for _ in range(args.rounds):
            for disable in (False, True):
                runs[disable].append(run(workload, disable, args.threads))
        aot, jit = (_medians(runs[disable]) for disable in (False, True))
        print(
            f"| {workload} | {_time(aot['step'])} / {_time(jit['step'])} "
            f"({aot['step'] / jit['step']:.2f}) | {aot['rss']:.0f} / {jit['rss']:.0f} MiB | "
            f"{aot['first']:.2f} / {jit['first']:.2f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
