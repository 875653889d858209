"""Peak RSS of one benchmark-suite worker, phase by phase, in this process.

    .venv/bin/python benchmarks/memory_phases.py --framework rillet --workload mlp \
        [--without schedule,release,mapped]

Runs ``benchmarks/suite/frameworks/<framework>.py`` as the suite's worker does (its
``build`` gives a step) and prints the process's peak RSS (``VmHWM``, MiB) after Python and
NumPy, after importing the framework (with the suite's ``spec``), after building the model
and data, after the first step, and after ten more. For rillet, ``--without`` leaves out
parts of its memory policy, to measure what each is worth:

- ``schedule``: the graph pass running each variable update early (graph/passes/schedule.py);
- ``release``: handing the heap's free pages back once a traced function is compiled;
- ``mapped``: kernel probes making their large arrays in their own mappings.

Thread variables (OMP/OPENBLAS_NUM_THREADS) are set to 2 here, as the suite's driver does.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "suite"
POLICY = ("schedule", "release", "mapped")


def peak_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def leave_out(parts: set[str]) -> None:
    """Switch off parts of rillet's memory policy (rillet is imported here)."""
    if "schedule" in parts:
        passes = importlib.import_module("rillet.graph.passes")
        passes.PIPELINE_SPEC[:] = [p for p in passes.PIPELINE_SPEC if p[1] != "schedule_updates"]
    allocator = importlib.import_module("rillet._allocator")  # looked up at each call
    if "release" in parts:
        allocator.release = lambda: None
    if "mapped" in parts:
        allocator.mapped = contextlib.nullcontext


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", default="rillet")
    parser.add_argument("--workload", default="mlp")
    parser.add_argument("--without", default="", help=f"for rillet: some of {','.join(POLICY)}")
    args = parser.parse_args()
    parts = {p for p in args.without.split(",") if p}
    if parts - set(POLICY) or (parts and args.framework != "rillet"):
        parser.error(f"--without takes {', '.join(POLICY)}, for --framework rillet only")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "2"
    phases = [("python", peak_mib())]
    import numpy  # noqa: F401  (the suite's workers all use it)

    phases.append(("numpy", peak_mib()))
    sys.path.insert(0, str(SUITE))
    worker = importlib.import_module("worker")
    module = worker.load_framework(args.framework)
    if parts:
        leave_out(parts)
    phases.append(("import", peak_mib()))
    step = module.build(args.workload, worker.default_variant(module, args.workload), 2)
    phases.append(("model and data", peak_mib()))
    step()
    phases.append(("first step", peak_mib()))
    for _ in range(10):
        step()
    phases.append(("ten more", peak_mib()))
    label = f"{args.framework} {args.workload}" + (f" without {args.without}" if parts else "")
    print(label + ": " + ", ".join(f"{name} {mib:.1f}" for name, mib in phases))


if __name__ == "__main__":
    main()
