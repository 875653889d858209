"""Graph executor benchmarks: per-op overhead on tiny tensors, and an MLP training step.

    .venv/bin/python benchmarks/graph_overhead.py            # both, as in RESULTS.md
    .venv/bin/python benchmarks/graph_overhead.py --quick    # fewer rounds (a smoke test)

(a) A chain of 200 adds and multiplies on 1-element tensors, run eagerly, by the interpreter
and by the compiled executor (graphs traced with optimize=False, so that every op runs),
with raw NumPy ufunc calls as the floor: microseconds per op and ratios.

(b) One training step of a 784-512-512-10 MLP (ReLU, softmax cross-entropy, Adam written
with rillet ops and in-place assign_*, batch 128, float32), eager vs rl.function (compiled
executor, all passes; again with two intra-op threads, and with elementwise fusion), on copies
of the same model trained on the same batches: median step times, ratios, page faults per
step, and the largest difference between the loss trajectories.

Every comparison interleaves its contenders round by round, so load on the machine hits
them alike; each reports the median over rounds. On a machine busy with other work,
``--clock cpu`` times with the process's CPU time instead of the wall clock (use it with
``OPENBLAS_NUM_THREADS=1``: threads waiting for a core would count otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import resource
import statistics
import time

import numpy as np

import rillet as rl
from rillet.graph import passes

CHAIN_OPS = 200
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter
SIZES = (784, 512, 512, 10)
BATCH = 128


# -- (a) per-op overhead ---------------------------------------------------------------------


def chain(x, y):
    """CHAIN_OPS ops, alternating add and multiply (y keeps the values bounded)."""
    for _ in range(CHAIN_OPS // 2):
        x = x + y
        x = x * y
    return x


def numpy_chain(x, y):
    """The same ufunc calls without rillet: the floor any executor could reach."""
    for _ in range(CHAIN_OPS // 2):
        x = np.add(x, y)
        x = np.multiply(x, y)
    return x


def per_op_overhead(rounds: int, calls: int) -> dict[str, float]:
    """Median microseconds per op of each way to run the chain."""
    x, y = rl.ones((1,)), rl.asarray(np.full((1,), 0.5, np.float32))
    contenders = {
        "numpy (floor)": lambda: numpy_chain(x.numpy(), y.numpy()),
        "eager": lambda: chain(x, y),
        "interpreter": _graph_runner(chain, "interpreter", x, y),
        "compiled": _graph_runner(chain, "compiled", x, y),
    }
    times, _ = _interleaved(contenders, rounds, calls)
    return {name: t / CHAIN_OPS * 1e6 for name, t in times.items()}


def _graph_runner(fn, executor: str, *args):
    traced = rl.function(fn, executor=executor, optimize=False)
    traced(*args)  # trace and compile outside the timing
    return lambda: traced(*args)


def _interleaved(contenders: dict, rounds: int, calls: int) -> tuple[dict, dict]:
    """Median seconds per call of each contender, timed round by round in turn, and its
    mean count of minor page faults per call (memory mapped afresh by the allocator)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    faults = dict.fromkeys(contenders, 0)
    for _ in range(rounds):
        for name, run in contenders.items():
            before = _minor_faults()
            start = clock()
            for _ in range(calls):
                run()
            samples[name].append((clock() - start) / calls)
            faults[name] += _minor_faults() - before
    medians = {name: statistics.median(s) for name, s in samples.items()}
    return medians, {name: count / (rounds * calls) for name, count in faults.items()}


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# -- (b) MLP training step -----------------------------------------------------------------------


class Trainer:
    """A 784-512-512-10 MLP and its Adam state, all rillet variables."""

    def __init__(self, seed: int = 0, lr: float = 1e-3):
        rng = np.random.default_rng(seed)
        self.params = []
        for a, b in zip(SIZES[:-1], SIZES[1:]):
            w = rng.standard_normal((a, b)) * np.sqrt(2.0 / a)
            self.params += [rl.Variable(w.astype(np.float32)), rl.Variable(np.zeros(b, np.float32))]
        self.m = [rl.Variable(np.zeros(p.shape, np.float32)) for p in self.params]
        self.v = [rl.Variable(np.zeros(p.shape, np.float32)) for p in self.params]
        self.t = rl.Variable(np.zeros((), np.float32))
        self.lr = lr

    def step(self, x, y, beta1=0.9, beta2=0.999, eps=1e-7):
        with rl.GradientTape() as tape:
            h = x
            for i in range(0, len(self.params), 2):
                h = rl.matmul(h, self.params[i]) + self.params[i + 1]
                if i + 2 < len(self.params):
                    h = rl.relu(h)
            loss = rl.mean(rl.softmax_cross_entropy_with_logits(y, h))
        grads = tape.gradient(loss, self.params)
        self.t.assign_add(1.0)
        t = self.t.value()
        lr = self.lr * rl.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)  # bias corrections
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.assign_add((g - m) * (1.0 - beta1))
            v.assign_add((g * g - v) * (1.0 - beta2))
            p.assign_sub(lr * m / (rl.sqrt(v) + eps))
        return loss


def mlp_batches(count: int = 8, seed: int = 1) -> list:
    """``count`` batches of random inputs and one-hot labels, trained on in turn."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
        y = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], BATCH)]
        batches.append((rl.asarray(x), rl.asarray(y)))
    return batches


def mlp_step(rounds: int) -> dict:
    """Eager vs compiled training step on copies of one model, interleaved; the compiled
    step also with two intra-op threads (its optimizer updates split over them) and with
    elementwise fusion forced on (the compiled executor's pipeline leaves it out, by this
    measurement)."""
    batches = mlp_batches()
    names = ("eager", "compiled", "compiled, 2 intra-op threads", "compiled, with fusion")
    losses: dict[str, list] = {name: [] for name in names}
    steps = {"eager": Trainer().step}
    steps.update({name: rl.function(Trainer().step) for name in names[1:]})
    contenders = {name: _training(steps[name], batches, losses[name]) for name in names}
    contenders["eager"]()
    contenders["compiled"]()  # trace and compile outside the timing
    with _intra_op_threads(2):
        contenders[names[2]]()
    with _fusion_for_compiled():
        contenders[names[3]]()
    times, faults = _interleaved(contenders, rounds, calls=1)
    eager = np.array(losses["eager"])
    differences = [np.abs(np.array(losses[name]) - eager).max() for name in names[1:]]
    executor = steps["compiled"].get_concrete_function(*batches[0]).executor
    return {
        "ms": {name: t * 1e3 for name, t in times.items()},
        "faults": faults,
        "steps": len(eager),
        "loss": (float(eager[0]), float(eager[-1])),
        "max_loss_diff": float(max(differences)),
        "plan": executor.plan,
        "nodes": len(executor.graph.nodes),
        "regions": executor.source.count("_run_parallel("),
        "threads": rl.config.intra_op_threads(),
    }


@contextlib.contextmanager
def _intra_op_threads(count: int):
    """Programs compiled meanwhile use ``count`` intra-op threads."""
    saved = rl.config.threading.get_intra_op_parallelism_threads()
    rl.config.threading.set_intra_op_parallelism_threads(count)
    try:
        yield
    finally:
        rl.config.threading.set_intra_op_parallelism_threads(saved)


@contextlib.contextmanager
def _fusion_for_compiled():
    """Make rl.function's compiled pipeline fuse elementwise chains meanwhile."""
    saved = set(passes.SKIPPED_FOR["compiled"])
    passes.SKIPPED_FOR["compiled"].clear()
    try:
        yield
    finally:
        passes.SKIPPED_FOR["compiled"].update(saved)


def _training(step, batches: list, losses: list):
    """A step on the next of ``batches`` in turn, recording its loss."""
    order = itertools.cycle(batches)

    def run():
        x, y = next(order)
        losses.append(step(x, y).numpy())

    return run


# -- report -----------------------------------------------------------------------------------


def report_overhead(us: dict[str, float]) -> None:
    print(f"(a) per-op overhead, chain of {CHAIN_OPS} ops on 1-element float32 tensors")
    print("| executor | us/op | vs eager | vs numpy |")
    print("|---|---|---|---|")
    for name, t in us.items():
        print(f"| {name} | {t:.2f} | {us['eager'] / t:.2f}x | {t / us['numpy (floor)']:.2f}x |")


def report_mlp(result: dict) -> None:
    ms, plan = result["ms"], result["plan"]
    print(f"\n(b) MLP {'-'.join(map(str, SIZES))} training step, Adam, batch {BATCH}, float32")
    print("| run | median ms/step | page faults/step |")
    print("|---|---|---|")
    for name, t in ms.items():
        print(f"| {name} | {t:.2f} | {result['faults'][name]:.0f} |")
    for name in list(ms)[1:]:
        print(f"{name}: {ms['eager'] / ms[name]:.2f}x faster than eager")
    first, last = result["loss"]
    print(
        f"loss {first:.4f} -> {last:.4f} over {result['steps']} steps; largest "
        f"|eager - compiled| loss difference (both graphs) {result['max_loss_diff']:.2e}"
    )
    mib = 2**20
    print(
        f"compiled graph: {result['nodes']} nodes; memory plan: unplanned peak "
        f"{plan.unplanned_peak_bytes / mib:.2f} MiB, planned peak {plan.peak_bytes / mib:.2f} "
        f"MiB, arena {plan.arena_bytes / mib:.2f} MiB for {len(plan.offsets)} values "
        f"({len(plan.in_place)} in place), resident {plan.resident_bytes / mib:.2f} MiB; "
        f"{result['regions']} elementwise regions on {result['threads']} intra-op threads"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke test")
    parser.add_argument("--clock", choices=CLOCKS, default="wall", help="what to time")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    print(f"clock: {args.clock}; BLAS threads: {_blas_threads()}\n")
    rounds = 5 if args.quick else 41
    report_overhead(per_op_overhead(rounds, calls=5 if args.quick else 20))
    report_mlp(mlp_step(rounds if args.quick else 101))


def _blas_threads() -> str:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if name in os.environ:
            return f"{name}={os.environ[name]}"
    return f"default ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
