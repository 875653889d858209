"""Keras-style ``fit`` throughput of rillet against Keras 3 (TensorFlow) and PyTorch.

    make bench-fit                                   # creates .venv-bench, then runs this
    .venv/bin/python benchmarks/fit_throughput.py    # the same, with .venv-bench in place
    .venv/bin/python benchmarks/fit_throughput.py --rounds 1 --epochs 1   # a smoke test

Workloads (float32, seeded random data, channels-last; benchmarks/peers/_common.py):
- cnn: 28x28x1 -> Conv2D(32, 3, relu) -> MaxPool2 -> Conv2D(64, 3, relu) -> MaxPool2 ->
  Flatten -> Dense(128, relu) -> Dense(10); Adam, sparse CE from logits; batch 64, 2048 samples;
- lstm: 50 steps of 64 features -> LSTM(128) -> Dense(10); the same loss and optimizer;
  batch 32, 1024 samples.

rillet and Keras run the same script (benchmarks/peers/keras_fit.py: ``import rillet as
keras`` against ``import keras``); PyTorch runs an idiomatic training loop
(benchmarks/peers/torch_fit.py). rillet runs from the main .venv, the peers from .venv-bench.

Protocol: every (framework, workload) run is its own process, and the runs are interleaved
round by round (rillet, keras, torch, rillet, keras, torch, ...), so load on the machine hits
all contenders alike. In each run, a first ``fit`` of one epoch (tracing and compilation
included: "first epoch") is followed by one ``fit`` of ``--epochs`` epochs, timed as a whole:
samples/s = epochs * samples / time. Every framework gets ``--threads`` intra-op threads
(OpenMP/OpenBLAS/MKL by environment; ``tf.config.threading`` and ``torch.set_num_threads``
in the workers) and one inter-op thread. Reported: the median and min-max samples/s over the
rounds, rillet's median over the best peer's median, and the median first-epoch time.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when set (some machines set them for old OpenBLAS
builds), force NumPy's BLAS onto an older kernel than the CPU's; the workers run without them
(NumPy then picks its kernel for the CPU, and the table names it) unless
``--keep-openblas-env`` is given.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

from driver import machine, relative, run_worker, worker_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
SCRIPTS = {"rillet": "keras_fit.py", "keras": "keras_fit.py", "torch": "torch_fit.py"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs of each contender")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per run")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for all")
    parser.add_argument("--workloads", default="cnn,lstm")
    parser.add_argument("--frameworks", default="rillet,keras,torch")
    parser.add_argument("--rillet-python", default=str(ROOT / ".venv/bin/python"))
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-bench/bin/python"))
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run")
    parser.add_argument(
        "--busy",
        type=float,
        default=0.1,
        help="a run during which other processes used more cores than this (on average) is "
        "left out of the statistics when at least 3 quieter runs remain",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every run's result here")
    parser.add_argument(
        "--keep-openblas-env", action="store_true", help="pass OPENBLAS_CORETYPE/L2_SIZE on"
    )
    return parser.parse_args()


def run_once(args, framework: str, workload: str, env) -> dict:
    python = args.rillet_python if framework == "rillet" else args.peer_python
    command = [python, str(PEERS / SCRIPTS[framework]), "--framework", framework]
    command += ["--workload", workload, "--epochs", str(args.epochs)]
    command += ["--threads", str(args.threads)]
    return run_worker(command, env, args.timeout)


def available(args, frameworks: list[str]) -> list[str]:
    keep = []
    for framework in frameworks:
        python = args.rillet_python if framework == "rillet" else args.peer_python
        if Path(python).exists():
            keep.append(framework)
        else:
            print(f"skipping {framework}: {python} not found (make bench-fit creates it)")
    return keep


def run_all(args, workloads, frameworks) -> dict[tuple[str, str], list[dict]]:
    env = worker_env(args.threads, args.keep_openblas_env)
    results = {(w, f): [] for w in workloads for f in frameworks}
    for round_ in range(1, args.rounds + 1):
        for workload in workloads:
            for framework in frameworks:
                result = run_once(args, framework, workload, env)
                results[workload, framework].append(result)
                print(f"round {round_}/{args.rounds} {workload:4s} {framework:6s} {_brief(result)}")
    return results


def _brief(result: dict) -> str:
    if "error" in result:
        return "FAILED: " + result["error"].replace("\n", " | ")
    return (
        f"{_samples_per_s(result):8.0f} samples/s, first epoch {result['first_epoch_s']:.2f} s,"
        f" loss {result['final_loss']:.4f}, others used {result['foreign_cores']:.2f} cores"
    )


def _samples_per_s(result: dict) -> float:
    return result["epochs"] * result["samples"] / result["timed_s"]


def summarize(runs: list[dict], busy: float) -> dict | None:
    good = [r for r in runs if "error" not in r]
    if not good:
        return None
    quiet = [r for r in good if r["foreign_cores"] <= busy]
    if len(quiet) >= 3:
        good = quiet
    rates = [_samples_per_s(r) for r in good]
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "first_epoch_s": statistics.median(r["first_epoch_s"] for r in good),
        "runs": len(good),
        "failed": sum("error" in r for r in runs),
        "loss": statistics.median(r["final_loss"] for r in good),
    }


def table(results, workloads, frameworks, busy: float) -> list[str]:
    lines = [
        "| workload | framework | samples/s median | min-max | rillet / this | "
        "first epoch s (median) | final loss | runs used |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for workload in workloads:
        stats = {f: summarize(results[workload, f], busy) for f in frameworks}
        rillet = stats.get("rillet")
        for framework, s in stats.items():
            if s is None:
                lines.append(f"| {workload} | {framework} | failed | | | | | 0 |")
                continue
            ratio = f"{rillet['median'] / s['median']:.2f}" if rillet else "-"
            failed = f" ({s['failed']} failed)" if s["failed"] else ""
            used = f"{s['runs']} of {len(results[workload, framework])}{failed}"
            lines.append(
                f"| {workload} | {framework} | {s['median']:.0f} | {s['min']:.0f}-{s['max']:.0f}"
                f" | {ratio} | {s['first_epoch_s']:.2f} | {s['loss']:.3f} | {used} |"
            )
        lines.append(_best_peer_line(workload, stats))
    return [line for line in lines if line]


def _best_peer_line(workload: str, stats: dict) -> str:
    peers = {f: s for f, s in stats.items() if f != "rillet" and s}
    if not stats.get("rillet") or not peers:
        return ""
    best = max(peers, key=lambda f: peers[f]["median"])
    ratio = stats["rillet"]["median"] / peers[best]["median"]
    return f"| {workload} | **rillet / best peer ({best})** | | | **{ratio:.2f}** | | | |"


def main() -> None:
    args = parse_args()
    workloads = args.workloads.split(",")
    frameworks = available(args, args.frameworks.split(","))
    started = time.perf_counter()
    results = run_all(args, workloads, frameworks)
    elapsed = time.perf_counter() - started
    if args.json:
        serial = {f"{w}/{f}": runs for (w, f), runs in results.items()}
        Path(args.json).write_text(json.dumps(serial, indent=1))
    print(f"\nCommand: {shlex.join([relative(sys.executable), *sys.argv])}")
    print(
        f"{args.rounds} rounds x {len(frameworks)} frameworks x {len(workloads)} workloads, "
        f"{args.epochs} timed epochs per run, {args.threads} intra-op thread(s) each; "
        f"{elapsed / 60:.1f} min in all\n"
    )
    print("\n".join(machine(results)) + "\n")
    print("\n".join(table(results, workloads, frameworks, args.busy)))
    print(
        f"\nruns used: those during which other processes used at most {args.busy} cores, "
        "when at least 3 such runs remain (else all runs)"
    )
    if any("error" in r for runs in results.values() for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
