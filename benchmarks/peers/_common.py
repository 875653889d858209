"""What every fit-throughput worker shares: the workloads, their data, the timing protocol.

A worker is one process that trains one workload with one framework and prints one JSON line:
the first epoch's time (tracing/compilation included), then the time of ``epochs`` more
epochs run together, from which the driver (benchmarks/fit_throughput.py) computes samples/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

SEED = 0
CLASSES = 10


@dataclass(frozen=True)
class Workload:
    name: str
    samples: int
    batch_size: int
    input_shape: tuple[int, ...]  # per example, channels-last


WORKLOADS = {
    "cnn": Workload("cnn", samples=2048, batch_size=64, input_shape=(28, 28, 1)),
    "lstm": Workload("lstm", samples=1024, batch_size=32, input_shape=(50, 64)),
}


def make_data(workload: Workload) -> tuple[np.ndarray, np.ndarray]:
    """The same seeded float32 inputs and int64 labels for every framework."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((workload.samples, *workload.input_shape), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=workload.samples, dtype=np.int64)
    return x, y


def parse_args(frameworks: tuple[str, ...]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="one fit-throughput run (one process)")
    parser.add_argument("--framework", choices=frameworks, required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the first")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    return parser.parse_args()


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def blas_info() -> list[dict]:
    """The BLAS/OpenMP libraries loaded in this process, as threadpoolctl sees them."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    keys = ("internal_api", "version", "architecture", "num_threads", "prefix")
    return [{k: lib.get(k) for k in keys} for lib in threadpoolctl.threadpool_info()]


def emit(args, first_epoch_s: float, timed_s: float, loss: float, versions: dict) -> None:
    """Print the run's result as one JSON line (the driver reads the last line)."""
    result = {
        "framework": args.framework,
        "workload": args.workload,
        "threads": args.threads,
        "epochs": args.epochs,
        "samples": WORKLOADS[args.workload].samples,
        "first_epoch_s": first_epoch_s,
        "timed_s": timed_s,
        "final_loss": loss,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, **versions},
        "blas": blas_info(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_"))},
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
