"""Elementwise fusion benchmarks: fused vs unfused graphs, and the kernel technologies.

    .venv/bin/python benchmarks/fusion.py            # (a), and (b) where numexpr/numba exist
    .venv/bin/python benchmarks/fusion.py --quick    # fewer rounds (a smoke test)
    .venv/bin/python benchmarks/fusion.py --allocator    # (c)
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/fusion.py --training    # (d)

(a) Three expressions, ``relu(x*w+b)``, ``tanh(a)*sigmoid(b)+c`` and Adam's update
``p - lr * (b1*m + (1-b1)*g) / (sqrt(b2*v + (1-b2)*g*g) + eps)``, traced with
``optimize=False`` and run unfused (one node per op) and after ``fuse_elementwise`` (one
``fused_elementwise`` node each), through the interpreter and through the compiled executor,
on float32 arrays of 512x512, 128x512 and 4x4. Ratios are unfused time / fused time.

(b) The same expressions as hand-written kernels of each candidate technology, against
NumPy op by op: numexpr (``ne.evaluate``) and Numba (``@vectorize``), when installed, and
rillet's fused kernel (generated NumPy calling the registered kernels, in place). Ratios
are NumPy op-by-op time / candidate time.

(c) ``--allocator``: ``tanh(a)*sigmoid(b)+c`` and Adam's update at 512x512, unfused and
fused, through the interpreter and the compiled executor, each alone in a fresh process,
with glibc's default malloc tuning and with ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` raised: microseconds and minor page faults per call (see the
allocator note in benchmarks/RESULTS.md).

(d) ``--training``: the compiled training step of ``benchmarks/graph_overhead.py`` (a
784-512-512-10 MLP with Adam, batch 128), traced with the full pass pipeline and with the
same pipeline less ``fuse_elementwise``: milliseconds per step and the largest difference
between the two loss trajectories.

Every comparison interleaves its contenders round by round, so load on the machine hits
them alike; each reports the best round (the least disturbed).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import timeit

import numpy as np

import rillet as rl
from rillet.graph.executors.interpreter import Interpreter
from rillet.graph.function import make_executor
from rillet.graph.passes.fuse_elementwise import fuse_elementwise

SHAPES = ((512, 512), (128, 512), (4, 4))
B1, B2, LR, EPS = 0.9, 0.999, 1e-3, 1e-7


def relu_affine(x, w, b):
    return rl.relu(x * w + b)


def tanh_sigmoid(a, b, c):
    return rl.tanh(a) * rl.sigmoid(b) + c


def adam(p, g, m, v):
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * rl.square(g)
    return p - LR * m / (rl.sqrt(v) + EPS)


def _inputs(name: str, shape: tuple, rng) -> list[np.ndarray]:
    def normal(s=shape):
        return rng.standard_normal(s).astype(np.float32)

    if name == "relu(x*w+b)":
        return [normal(), normal(), normal(shape[-1:])]
    if name == "adam":
        return [normal(), normal(), normal(), np.abs(normal())]
    return [normal(), normal(), normal()]


EXPRESSIONS = {"relu(x*w+b)": relu_affine, "tanh(a)*sigmoid(b)+c": tanh_sigmoid, "adam": adam}


def best_of(contenders: dict, rounds: int, number: int) -> dict:
    """Best microseconds per call of each contender, over interleaved rounds."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = min(best[name], timeit.timeit(fn, number=number) / number * 1e6)
    return best


def _number(shape) -> int:
    return 10 if np.prod(shape) > 1000 else 1000


# -- (a) fused vs unfused graphs --------------------------------------------------------------


def graphs(rounds: int) -> None:
    print("(a) unfused / fused graph time (microseconds per call)")
    print(f"{'expression':22s} {'shape':10s} {'executor':11s} {'unfused':>9s} {'fused':>9s} ratio")
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        for name, fn in EXPRESSIONS.items():
            args = _inputs(name, shape, rng)
            graph = rl.function(fn, optimize=False).get_graph(*args)
            fused = fuse_elementwise(graph)
            for kind in ("interpreter", "compiled"):
                plain, fast = _executor(graph, kind), _executor(fused, kind)
                np.testing.assert_allclose(fast(args), plain(args), rtol=1e-6, atol=1e-7)
                contenders = {
                    "unfused": lambda run=plain, args=args: run(args),
                    "fused": lambda run=fast, args=args: run(args),
                }
                times = best_of(contenders, rounds, _number(shape))
                u, f = times["unfused"], times["fused"]
                print(f"{name:22s} {str(shape):10s} {kind:11s} {u:9.1f} {f:9.1f} {u / f:5.2f}")


def _executor(graph, kind: str):
    if kind == "interpreter":
        interpreter = Interpreter(graph)
        return lambda args: interpreter.run_arrays(args)[0]
    executor = make_executor(graph, kind)
    return lambda args: executor(*args)[0].numpy()


# -- (b) kernel technologies ------------------------------------------------------------------


def _sigmoid(x):
    return np.exp(np.minimum(x, 0.0)) / (1.0 + np.exp(-np.abs(x)))


NUMPY = {
    "relu(x*w+b)": lambda x, w, b: np.maximum(x * w + b, 0),
    "tanh(a)*sigmoid(b)+c": lambda a, b, c: np.tanh(a) * _sigmoid(b) + c,
    "adam": lambda p, g, m, v: (
        p
        - np.float32(LR)
        * (np.float32(B1) * m + np.float32(1 - B1) * g)
        / (np.sqrt(np.float32(B2) * v + np.float32(1 - B2) * g * g) + np.float32(EPS))
    ),
}


def _numexpr_kernels():
    import numexpr as ne

    f = np.float32
    text = {
        "relu(x*w+b)": ("where(x*w+b > 0, x*w+b, 0)", "xwb"),
        "tanh(a)*sigmoid(b)+c": ("tanh(a) * exp(where(b < 0, b, 0)) / (1 + exp(-abs(b))) + c",
                                 "abc"),
        "adam": ("p - lr * (b1*m + c1*g) / (sqrt(b2*v + c2*g*g) + eps)", "pgmv"),
    }  # fmt: skip
    scalars = dict(lr=f(LR), b1=f(B1), c1=f(1 - B1), b2=f(B2), c2=f(1 - B2), eps=f(EPS))

    def kernel(expression, names):
        return lambda *xs: ne.evaluate(expression, local_dict={**dict(zip(names, xs)), **scalars})

    return {name: kernel(*spec) for name, spec in text.items()}


def _numba_kernels():
    import numba

    f4 = numba.float32
    zero, one = np.float32(0), np.float32(1)

    @numba.vectorize([f4(f4, f4, f4)])
    def relu_affine(x, w, b):
        return max(x * w + b, zero)

    @numba.vectorize([f4(f4, f4, f4)])
    def tanh_sigmoid(a, b, c):
        return np.tanh(a) * (np.exp(min(b, zero)) / (one + np.exp(-abs(b)))) + c

    lr, b1, c1 = np.float32(LR), np.float32(B1), np.float32(1 - B1)
    b2, c2, eps = np.float32(B2), np.float32(1 - B2), np.float32(EPS)

    @numba.vectorize([f4(f4, f4, f4, f4)])
    def adam_update(p, g, m, v):
        return p - lr * (b1 * m + c1 * g) / (np.sqrt(b2 * v + c2 * g * g) + eps)

    return {"relu(x*w+b)": relu_affine, "tanh(a)*sigmoid(b)+c": tanh_sigmoid, "adam": adam_update}


def _rillet_kernels(shape, rng) -> dict:
    """The fused op's kernel on the programs the pass writes for each expression."""
    kernels = {}
    for name, fn in EXPRESSIONS.items():
        args = _inputs(name, shape, rng)
        graph = fuse_elementwise(rl.function(fn, optimize=False).get_graph(*args))
        node = next(n for n in graph.nodes if n.op == "fused_elementwise")
        constants = {id(n.outputs[0]): n.attrs["value"] for n in graph.nodes if n.op == "constant"}
        slots = [constants.get(id(v)) for v in node.inputs]
        positions = [
            graph.inputs.index(v) if s is None else None for v, s in zip(node.inputs, slots)
        ]
        kernel, program = node.opdef.kernel, node.attrs["program"]

        def run(*xs, kernel=kernel, program=program, slots=slots, positions=positions):
            inputs = [s if p is None else xs[p] for s, p in zip(slots, positions)]
            return kernel(np, *inputs, program=program)

        kernels[name] = run
    return kernels


def technologies(rounds: int) -> None:
    candidates = {"rillet fused": None}
    for label, make in (("numexpr", _numexpr_kernels), ("numba", _numba_kernels)):
        try:
            candidates[label] = make()
        except ImportError:
            print(f"({label} is not installed: skipped)")
    print("\n(b) NumPy op-by-op time / candidate time (microseconds per call of NumPy in brackets)")
    print(f"{'expression':22s} {'shape':10s} " + " ".join(f"{c:>13s}" for c in candidates))
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        candidates["rillet fused"] = _rillet_kernels(shape, rng)
        for name in EXPRESSIONS:
            args = _inputs(name, shape, rng)
            reference = NUMPY[name](*args)
            contenders = {"numpy": lambda ref=NUMPY[name], args=args: ref(*args)}
            for label, kernels in candidates.items():
                kernels[name](*args)  # compile (Numba) before timing
                got = np.asarray(kernels[name](*args), np.float64)
                np.testing.assert_allclose(got, reference, rtol=2e-5, atol=1e-6, err_msg=label)
                contenders[label] = lambda k=kernels[name], args=args: k(*args)
            times = best_of(contenders, rounds, _number(shape))
            ratios = " ".join(f"{times['numpy'] / times[c]:13.2f}" for c in candidates)
            print(f"{name:22s} {str(shape):10s} {ratios}   [{times['numpy']:.1f}]")


# -- (c) the allocator ----------------------------------------------------------------------

TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967295"}


def allocator() -> None:
    print("(c) 512x512, each in a fresh process")
    for label, extra in (("default malloc", {}), ("tuned malloc", TUNED_MALLOC)):
        for name in ("tanh(a)*sigmoid(b)+c", "adam"):
            for kind in ("interpreter", "compiled"):
                for fused in ("unfused", "fused"):
                    how = f"{name};{kind};{fused}"
                    argv = [sys.executable, __file__, "--allocator-child", how]
                    env = {**os.environ, **extra}
                    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
                    print(f"{label:15s} {name:21s} {kind:11s} {fused:8s} {done.stdout.strip()}")


def allocator_child(name: str, kind: str, fused: str) -> None:
    rng = np.random.default_rng(0)
    args = _inputs(name, (512, 512), rng)
    graph = rl.function(EXPRESSIONS[name], optimize=False).get_graph(*args)
    execute = _executor(fuse_elementwise(graph) if fused == "fused" else graph, kind)
    run = lambda: execute(args)  # noqa: E731
    seconds = min(timeit.repeat(run, number=20, repeat=5)) / 20
    print(f"{seconds * 1e6:8.1f} us, {_faults(run, 20):6.1f} page faults per call")


def _faults(run, calls: int) -> float:
    """Minor page faults per call of ``run``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        run()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


# -- (d) a training step ----------------------------------------------------------------------


def training(rounds: int) -> None:
    import graph_overhead as overhead  # the MLP step of benchmarks/graph_overhead.py

    from rillet.graph import passes

    batches = overhead.mlp_batches()
    steps, losses = {}, {"fused": [], "unfused": []}
    full = list(passes.PIPELINE_SPEC)
    for name in ("fused", "unfused"):
        if name == "unfused":
            passes.PIPELINE_SPEC[:] = [p for p in full if p[0] != "fuse_elementwise"]
        step = rl.function(overhead.Trainer().step)
        graph = step.get_graph(*batches[0])  # trace with this pipeline, outside the timing
        passes.PIPELINE_SPEC[:] = full
        fused_nodes = graph.op_counts().get("fused_elementwise", 0)
        print(f"{name}: {len(graph.nodes)} nodes, {fused_nodes} fused")
        steps[name] = overhead._training(step, batches, losses[name])
    times = overhead._interleaved(steps, rounds, calls=1)
    faults = {name: _faults(step, 20) for name, step in steps.items()}
    diff = np.abs(np.array(losses["fused"]) - np.array(losses["unfused"])).max()
    ms = {k: round(v * 1e3, 2) for k, v in times.items()}
    print(f"(d) ms per step {ms}, unfused / fused {times['unfused'] / times['fused']:.2f}")
    print(f"    page faults per step {faults}")
    print(f"    largest loss difference {diff:.3g}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--allocator", action="store_true", help="run (c) only")
    parser.add_argument("--training", action="store_true", help="run (d) only")
    parser.add_argument("--allocator-child", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.allocator_child is not None:
        allocator_child(*options.allocator_child.split(";"))
    elif options.allocator:
        allocator()
    elif options.training:
        training(3 if options.quick else 15)
    else:
        rounds = 3 if options.quick else 15
        graphs(rounds)
        technologies(rounds)
