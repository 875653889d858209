"""The compiled CNN training step of rillet against PyTorch's, interleaved in one process.

    .venv/bin/python benchmarks/cnn_step.py                 # 30 rounds of 5 steps each
    .venv/bin/python benchmarks/cnn_step.py --rounds 5      # a smoke test
    .venv/bin/python benchmarks/cnn_step.py --profile 200   # rillet only, for py-spy

Model (float32, batch 64): 28x28x1 -> Conv2D(32, 3, relu) -> MaxPool2 -> Conv2D(64, 3, relu)
-> MaxPool2 -> Flatten -> Dense(128, relu) -> Dense(10); sparse cross-entropy from logits;
Adam (lr 1e-3, eps 1e-7, as Keras). rillet's step is ``rl.function`` over a GradientTape and
``optimizer.apply``, channels-last; PyTorch's is the eager idiom (zero_grad, backward, step),
channels-first, on 2 intra-op threads (``--threads``), as NumPy's BLAS is.

Protocol: both steps are warmed up (rillet's first call traces and compiles), then each round
times ``--steps`` steps of rillet, then of PyTorch, on the same batches. Reported: per-step
median and min-max over the rounds, the ratio of medians rillet / PyTorch, the same for the
CPU time the process used per step, and the BLAS NumPy runs on. On a loaded machine a
2-thread BLAS stalls at every barrier while another process holds a core, and the
wall-clock times say more about the load than about the step; ``--threads 1`` then gives
the steadier comparison, by CPU time.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set for old OpenBLAS builds, hold
NumPy's BLAS to an older kernel than the CPU's (Haswell's AVX2 on an AVX-512 CPU: the conv
GEMMs take twice as long); they are dropped, as in benchmarks/fit_throughput.py, unless
``--keep-openblas-env`` is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

BATCH = 64
CLASSES = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=5, help="steps per round and contender")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / intra-op threads")
    parser.add_argument(
        "--profile", type=int, metavar="STEPS", help="run only rillet's step this many times"
    )
    parser.add_argument(
        "--keep-openblas-env", action="store_true", help="keep OPENBLAS_CORETYPE/L2_SIZE"
    )
    return parser.parse_args()


def batches(count: int = 4, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=(count, BATCH), dtype=np.int64)
    return list(zip(x, y))


def rillet_step(data):
    """A compiled training step and a runner of ``n`` steps over ``data``."""
    import rillet as rl

    rl.random.set_seed(0)
    model = rl.Sequential(
        [
            rl.Input((28, 28, 1)),
            rl.layers.Conv2D(32, 3, activation="relu"),
            rl.layers.MaxPooling2D(2),
            rl.layers.Conv2D(64, 3, activation="relu"),
            rl.layers.MaxPooling2D(2),
            rl.layers.Flatten(),
            rl.layers.Dense(128, activation="relu"),
            rl.layers.Dense(CLASSES),
        ]
    )
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = rl.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7)

    @rl.function
    def step(x, y):
        with rl.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        variables = model.trainable_weights
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    tensors = [(rl.asarray(x), rl.asarray(y)) for x, y in data]

    def run(n: int) -> float:
        for i in range(n):
            loss = step(*tensors[i % len(tensors)])
        return float(loss.numpy())

    return run


def torch_step(data, threads: int):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128),
        nn.ReLU(),
        nn.Linear(128, CLASSES),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    tensors = [
        (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)) for x, y in data
    ]

    def run(n: int) -> float:
        for i in range(n):
            x, y = tensors[i % len(tensors)]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    return run


def blas() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    found = threadpoolctl.threadpool_info()
    return ", ".join(f"{b['internal_api']} {b['version']} {b.get('architecture')}" for b in found)


def timed(run, steps: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of the process) per step."""
    start, cpu = time.perf_counter(), time.process_time()
    run(steps)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def main() -> None:
    args = parse_args()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before NumPy loads its BLAS
    if not args.keep_openblas_env:
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            os.environ.pop(name, None)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    data = batches()
    start = time.perf_counter()
    rillet = rillet_step(data)
    rillet(1)
    first = time.perf_counter() - start
    if args.profile:
        rillet(args.profile)
        return
    torch = torch_step(data, args.threads)
    rillet(10)
    torch(10)
    times: dict[str, list[float]] = {"rillet": [], "torch": []}
    cpu: dict[str, list[float]] = {"rillet": [], "torch": []}
    for _ in range(args.rounds):
        for name, run in (("rillet", rillet), ("torch", torch)):
            wall, used = timed(run, args.steps)
            times[name].append(wall)
            cpu[name].append(used)
    report(times, cpu, args)
    print(f"NumPy's BLAS: {blas()}")
    print(f"rillet first call (trace + compile + step): {first:.2f} s")


def report(times: dict, cpu: dict, args) -> None:
    median = {name: statistics.median(t) for name, t in times.items()}
    cpu_median = {name: statistics.median(t) for name, t in cpu.items()}
    for name, t in times.items():
        print(
            f"{name:6s} step: median {median[name] * 1e3:6.2f} ms"
            f"  (min {min(t) * 1e3:.2f}, max {max(t) * 1e3:.2f}; {args.rounds} rounds"
            f" of {args.steps} steps), CPU {cpu_median[name] * 1e3:6.2f} ms"
        )
    print(f"ratio rillet / torch (medians): {median['rillet'] / median['torch']:.2f}")
    print(f"ratio rillet / torch (CPU time): {cpu_median['rillet'] / cpu_median['torch']:.2f}")


if __name__ == "__main__":
    main()
