"""One benchmark run: one framework, one workload, one variant, in this process.

    <python> benchmarks/suite/worker.py --framework FW --workload W [--variant V] \
        --steps N --warmup K --threads T

Imports ``benchmarks/suite/frameworks/<FW>.py`` by file path (the peer environment needs no
install of rillet), calls its ``build(workload, variant, threads)`` to get ``step``, a
zero-argument callable that runs one complete step with its results materialized, then times
the first call (tracing and compilation included), runs K warm-up steps and N timed steps, and
prints one JSON line:

    {"framework", "variant", "workload", "step_times_s": [...], "first_call_s",
     "peak_rss_bytes", "threads", "blas", "versions"}

A framework module may define ``versions() -> dict[str, str]`` to add to ``versions``. Thread
environment variables (OMP/OPENBLAS/MKL_NUM_THREADS) are set by the driver (run.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import sys
import time
from pathlib import Path
from types import ModuleType

SUITE = Path(__file__).resolve().parent
FRAMEWORKS = SUITE / "frameworks"


def framework_path(name: str) -> Path:
    return FRAMEWORKS / f"{name}.py"


def load_framework(name: str) -> ModuleType:
    """The module ``frameworks/<name>.py``, imported under a name no package can shadow."""
    path = framework_path(name)
    if not path.is_file():
        raise SystemExit(f"worker: no framework file {path} for --framework {name!r}")
    if str(SUITE) not in sys.path:
        sys.path.insert(0, str(SUITE))  # so that the module can `import spec`
    module_spec = importlib.util.spec_from_file_location(f"suite_framework_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def default_variant(module: ModuleType, workload: str) -> str:
    variants = module.VARIANTS.get(workload, ())
    if not variants:
        offered = ", ".join(sorted(module.VARIANTS)) or "none"
        raise SystemExit(
            f"worker: framework {module.__name__} has no workload {workload!r} "
            f"(it offers: {offered})"
        )
    return variants[0]


def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def versions(module: ModuleType) -> dict[str, str]:
    found = {"python": platform.python_version()}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        found["numpy"] = numpy.__version__
    if hasattr(module, "versions"):
        found.update(module.versions())
    return found


def measure(step, steps: int, warmup: int) -> tuple[float, list[float]]:
    """The first call's time, then ``warmup`` untimed and ``steps`` timed calls."""
    clock = time.perf_counter
    start = clock()
    step()
    first_call_s = clock() - start
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = clock()
        step()
        times.append(clock() - start)
    return first_call_s, times


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="one benchmark-suite run (one process)")
    parser.add_argument("--framework", required=True)
    parser.add_argument("--workload", help="a name in spec.WORKLOADS (required unless --list)")
    parser.add_argument("--variant", default=None, help="default: the framework's first")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after the first")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    parser.add_argument(
        "--list", action="store_true", help="print the framework's VARIANTS as JSON and exit"
    )
    args = parser.parse_args(argv)
    if not args.list and not args.workload:
        parser.error("--workload is required (or --list)")
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error(
            f"need --steps >= 1, --warmup >= 0, --threads >= 1; got {args.steps}, "
            f"{args.warmup}, {args.threads}"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    module = load_framework(args.framework)
    if args.list:
        print(json.dumps({"variants": module.VARIANTS, "versions": versions(module)}))
        return
    variant = args.variant or default_variant(module, args.workload)
    if variant not in module.VARIANTS.get(args.workload, ()):
        raise SystemExit(
            f"worker: {args.framework} offers variants "
            f"{module.VARIANTS.get(args.workload, ())} for {args.workload!r}, got {variant!r}"
        )
    step = module.build(args.workload, variant, args.threads)
    first_call_s, times = measure(step, args.steps, args.warmup)
    record = {
        "framework": args.framework,
        "variant": variant,
        "workload": args.workload,
        "step_times_s": times,
        "first_call_s": first_call_s,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": args.threads,
        "blas": blas_info(),
        "versions": versions(module),
    }
    sys.stdout.flush()
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
