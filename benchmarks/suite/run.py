"""The benchmark suite's driver: every (framework, variant, workload) in its own process,
interleaved round by round, with rillet's ratio to the best peer per workload.

    make bench                                        # creates .venv-bench, then runs this
    .venv/bin/python benchmarks/suite/run.py          # the same, with .venv-bench in place
    .venv/bin/python benchmarks/suite/run.py --quick  # every worker once, a few steps
    .venv/bin/python benchmarks/suite/run.py --latency   # the streaming-latency table only
    .venv/bin/python benchmarks/suite/run.py --workloads mlp,cnn --frameworks rillet,torch

Workloads and their data: benchmarks/suite/spec.py; workers: benchmarks/suite/worker.py and
benchmarks/suite/frameworks/<fw>.py. rillet and the NumPy-by-hand worker run in the main
.venv (the same NumPy and BLAS), the other frameworks in .venv-bench. A framework whose file
is missing, whose environment is missing, or whose worker fails is reported and left out.

Protocol: each framework is asked once (``worker.py --list``) which variants it offers; then
every round runs, workload by workload, each contender once (A B C A B C ...), so load on the
machine hits all contenders alike. A run times the first call (tracing/compilation), warm-up
steps, then timed steps. Every run gets ``--threads`` intra-op threads (OMP/OpenBLAS/MKL by
environment, the framework's own setting in its worker) and one inter-op thread. Reported per
contender: the median step time over all timed steps of the runs used, the min-max of the
per-run medians, the median peak RSS and first-call time; per workload, rillet's median over
the best peer's (for fit: rillet's samples/s over Keras'; for overhead: per-op cost). A run
during which other processes used more than ``--busy`` cores is left out when at least
``--min-quiet`` quieter runs remain (one other busy process stalls a two-thread BLAS at every
barrier: rillet's and NumPy's steps then take 10-50x longer, TensorFlow's far less).
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped from the workers'
environment (they force an older BLAS kernel) unless ``--keep-openblas-env``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = Path(__file__).resolve().parent
ROOT = SUITE.parent.parent
WORKER = SUITE / "worker.py"
RESULTS = SUITE.parent / "RESULTS.md"
SECTION = "## Benchmark suite"
sys.path.insert(0, str(SUITE))
sys.path.insert(0, str(SUITE.parent))

import spec  # noqa: E402
from driver import machine, relative, run_worker, tail, worker_env  # noqa: E402

FRAMEWORKS = ("rillet", "numpy", "torch", "onnxruntime", "tf", "jax")
MAIN_ENV = ("rillet", "numpy")  # run with the main .venv's python
# (timed steps, warm-up steps) per workload kind, unless --steps / --warmup say otherwise
STEPS = {
    "train": (20, 3),
    "infer": (100, 10),
    "stream": (500, 50),
    "fit": (2, 0),  # the first call is a whole epoch already
    "overhead": (300, 30),
}
# the targets: (workload, comparison, bound); ratios are rillet / best peer
TARGETS = {
    "mlp": ("<=", 1.0),
    "lstm": ("<=", 1.2),
    "transformer": ("<=", 1.2),
    "cnn": ("<=", 1.5),
    "kws_frame": ("<=", 1.3),
    "kws_window": ("<=", 2.0),
    "fit_cnn": (">=", 1.5),
    "fit_lstm": (">=", 1.5),
    "overhead": ("<=", 1 / 3),
}
OVERHEAD_LIMIT_US = 2.0
PROTOCOL = (
    "Each (framework, variant, workload) ran in its own process, interleaved round by round; "
    "see benchmarks/suite/run.py for the protocol. Ratios are rillet / best peer of the median "
    "step time (lower is better), except fit (samples/s against Keras, higher is better) and "
    "overhead (compiled rillet against PyTorch eager, per op); NumPy by hand counts as a peer."
)
SLIDING_MIN_RATIO = 5.0


@dataclass(frozen=True)
class Contender:
    framework: str
    variant: str
    workload: str

    @property
    def label(self) -> str:
        return f"{self.framework} ({self.variant})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(spec.WORKLOADS))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--rounds", type=int, default=5, help="runs of each contender")
    parser.add_argument("--steps", type=int, help="timed steps per run (default: by workload)")
    parser.add_argument("--warmup", type=int, help="warm-up steps per run (default: by workload)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for all")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 steps, no warm-up")
    parser.add_argument(
        "--latency",
        action="store_true",
        help="only kws_frame: the streaming-latency table (printed, RESULTS.md left alone)",
    )
    parser.add_argument("--rillet-python", default=str(ROOT / ".venv/bin/python"))
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-bench/bin/python"))
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument(
        "--busy",
        type=float,
        default=0.1,
        help="a run during which other processes used more cores than this (on average) is "
        "left out of the statistics when at least --min-quiet quieter runs remain",
    )
    parser.add_argument("--min-quiet", type=int, default=1, help="see --busy")
    parser.add_argument("--json", metavar="FILE", help="also write every run's result here")
    parser.add_argument(
        "--from-json", metavar="FILE", help="report the results a --json FILE holds; run nothing"
    )
    parser.add_argument("--note", default="", help="a paragraph to put first in the section")
    parser.add_argument(
        "--no-write", action="store_true", help=f"do not update {RESULTS.name}'s section"
    )
    parser.add_argument(
        "--keep-openblas-env", action="store_true", help="pass OPENBLAS_CORETYPE/L2_SIZE on"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.warmup = 1, 2, 0
    if args.latency:
        args.workloads = "kws_frame"
    unknown = set(args.workloads.split(",")) - set(spec.WORKLOADS)
    if unknown:
        parser.error(f"--workloads: unknown {sorted(unknown)}; known: {list(spec.WORKLOADS)}")
    return args


def python_for(args, framework: str) -> str:
    return args.rillet_python if framework in MAIN_ENV else args.peer_python


def offered(args, frameworks: list[str], env) -> tuple[dict[str, dict], dict[str, str]]:
    """Each usable framework's VARIANTS, and why each unusable one was left out."""
    variants, missing = {}, {}
    for framework in frameworks:
        python = python_for(args, framework)
        if not (SUITE / "frameworks" / f"{framework}.py").is_file():
            missing[framework] = f"no benchmarks/suite/frameworks/{framework}.py"
        elif not Path(python).exists():
            missing[framework] = f"{python} not found (make bench creates it)"
        else:
            command = [python, str(WORKER), "--framework", framework, "--list"]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            try:
                variants[framework] = json.loads(done.stdout.strip().splitlines()[-1])["variants"]
            except (IndexError, ValueError, KeyError):
                missing[framework] = f"--list failed (exit {done.returncode}):\n" + tail(
                    done.stderr
                )
    return variants, missing


def contenders(variants: dict[str, dict], workloads: list[str]) -> list[Contender]:
    return [
        Contender(framework, variant, workload)
        for workload in workloads
        for framework, offers in variants.items()
        for variant in offers.get(workload, ())
    ]


def run_once(args, who: Contender, env) -> dict:
    steps, warmup = STEPS[spec.WORKLOADS[who.workload].kind]
    command = [python_for(args, who.framework), str(WORKER), "--framework", who.framework]
    command += ["--workload", who.workload, "--variant", who.variant]
    command += ["--steps", str(args.steps or steps)]
    command += ["--warmup", str(warmup if args.warmup is None else args.warmup)]
    command += ["--threads", str(args.threads)]
    return run_worker(command, env, args.timeout)


def run_all(args, everyone: list[Contender], env) -> dict[Contender, list[dict]]:
    results: dict[Contender, list[dict]] = {who: [] for who in everyone}
    for round_ in range(1, args.rounds + 1):
        for who in everyone:
            result = run_once(args, who, env)
            results[who].append(result)
            line = f"round {round_}/{args.rounds} {who.workload:11s} {who.label:28s}"
            print(f"{line} {_brief(result)}", flush=True)
    return results


def _brief(result: dict) -> str:
    if "error" in result:
        return "FAILED: " + result["error"].replace("\n", " | ")
    median = statistics.median(result["step_times_s"])
    return (
        f"median {_time(median)}, first call {_time(result['first_call_s'])}, "
        f"peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB, "
        f"others used {result['foreign_cores']:.2f} cores"
    )


def summarize(runs: list[dict], busy: float = 0.1, min_quiet: int = 1) -> dict | None:
    """Median step time over the runs used, the min-max of their medians, RSS, first call."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return None
    quiet = [r for r in good if r.get("foreign_cores", 0.0) <= busy]
    if len(quiet) >= max(min_quiet, 1):
        good = quiet
    medians = [statistics.median(r["step_times_s"]) for r in good]
    return {
        "median": statistics.median(t for r in good for t in r["step_times_s"]),
        "min": min(medians),
        "max": max(medians),
        "first_call_s": statistics.median(r["first_call_s"] for r in good),
        "rss": statistics.median(r["peak_rss_bytes"] for r in good),
        "runs": len(good),
        "failed": sum("error" in r for r in runs),
    }


def ratios(workload: str, stats: dict[Contender, dict | None]) -> dict[str, float | str]:
    """rillet's best median over the best peer's (fit: samples/s ratio, so the inverse).

    Returns ``ratio``, ``rillet`` and ``peer`` (labels), or {} when either side is missing.
    Overhead compares rillet's compiled variant with PyTorch eager when both are there;
    a streaming frame is compared with the issue's peers (TensorFlow Lite is shown, not
    counted).
    """
    ok = {who: s for who, s in stats.items() if s is not None}
    mine = {who: s for who, s in ok.items() if who.framework == "rillet"}
    peers = {who: s for who, s in ok.items() if who.framework != "rillet"}
    if workload == "overhead":
        mine = {w: s for w, s in mine.items() if w.variant == "compiled"} or mine
        peers = {w: s for w, s in peers.items() if w.framework == "torch"} or peers
    if workload.startswith("fit_"):
        peers = {w: s for w, s in peers.items() if w.framework == "tf"} or peers
    if workload == "kws_frame":
        mine = {w: s for w, s in mine.items() if w.variant != "sliding-window"} or mine
        # The peers for a frame are Python-driven steps (PyTorch, NumPy, ONNX Runtime,
        # JAX); TensorFlow Lite's interpreter is reported beside them but not one of them.
        peers = {w: s for w, s in peers.items() if w.variant != "tflite"} or peers
    if not mine or not peers:
        return {}
    best_mine = min(mine, key=lambda w: mine[w]["median"])
    best_peer = min(peers, key=lambda w: peers[w]["median"])
    ratio = mine[best_mine]["median"] / peers[best_peer]["median"]
    if workload.startswith("fit_"):
        ratio = 1.0 / ratio  # samples/s: higher is better
    return {"ratio": ratio, "rillet": best_mine.label, "peer": best_peer.label}


def target_met(workload: str, ratio: float, stats: dict) -> str:
    if workload not in TARGETS:
        return ""
    comparison, bound = TARGETS[workload]
    met = ratio <= bound if comparison == "<=" else ratio >= bound
    text = f"{comparison} {bound:.2f}"
    if workload == "overhead":
        per_op = _per_op_us(workload, stats)
        met = met and per_op is not None and per_op <= OVERHEAD_LIMIT_US
        text += f" and <= {OVERHEAD_LIMIT_US:.0f} µs/op"
    return f"{text}: {'met' if met else 'MISSED'}"


def _per_op_us(workload: str, stats: dict) -> float | None:
    compiled = [s for w, s in stats.items() if w.framework == "rillet" and w.variant == "compiled"]
    if not compiled or compiled[0] is None:
        return None
    return compiled[0]["median"] / spec.WORKLOADS[workload].ops_per_step * 1e6


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _throughput(workload: spec.Workload, seconds: float) -> str:
    if workload.samples_per_step:
        return f"{workload.samples_per_step / seconds:.0f} samples/s"
    if workload.ops_per_step:
        return f"{seconds / workload.ops_per_step * 1e6:.2f} µs/op"
    return ""


def table(
    results: dict[Contender, list[dict]], workloads: list[str], busy: tuple[float, int]
) -> list[str]:
    lines = [
        "| workload | framework (variant) | median step | run medians min-max | per sample/op "
        "| first call | peak RSS | runs used |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in workloads:
        workload = spec.WORKLOADS[name]
        stats = {
            who: summarize(runs, *busy) for who, runs in results.items() if who.workload == name
        }
        for who, s in stats.items():
            if s is None:
                lines.append(f"| {name} | {who.label} | failed | | | | | 0 |")
                continue
            failed = f" ({s['failed']} failed)" if s["failed"] else ""
            lines.append(
                f"| {name} | {who.label} | {_time(s['median'])} | {_time(s['min'])} - "
                f"{_time(s['max'])} | {_throughput(workload, s['median'])} | "
                f"{_time(s['first_call_s'])} | {s['rss'] / 2**20:.0f} MiB | "
                f"{s['runs']} of {len(results[who])}{failed} |"
            )
        found = ratios(name, stats)
        if found:
            goal = target_met(name, found["ratio"], stats)
            lines.append(
                f"| {name} | **{found['rillet']} / {found['peer']}** | **{found['ratio']:.2f}**"
                f" | {goal} | | | | |"
            )
    return lines


def summary_table(results, workloads: list[str], busy: tuple[float, int]) -> list[str]:
    """One line per workload: the ratio, the target, and rillet's RSS against the peers'."""
    lines = [
        "| workload | rillet | best peer | ratio | target | rillet RSS / lowest peer RSS |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in workloads:
        stats = {
            who: summarize(runs, *busy) for who, runs in results.items() if who.workload == name
        }
        found = ratios(name, stats)
        if not found:
            lines.append(f"| {name} | | | missing | | |")
            continue
        rss = {w.framework: s["rss"] for w, s in stats.items() if s is not None}
        peer_rss = [v for f, v in rss.items() if f != "rillet"]
        rss_ratio = f"{rss['rillet'] / min(peer_rss):.2f}" if peer_rss and "rillet" in rss else ""
        lines.append(
            f"| {name} | {found['rillet']} | {found['peer']} | {found['ratio']:.2f} | "
            f"{target_met(name, found['ratio'], stats)} | {rss_ratio} |"
        )
    return lines


def latency_table(results, busy: tuple[float, int]) -> list[str]:
    """Cost per 10 ms of audio (one frame) of each kws_frame contender, and streaming's gain
    over re-running the whole-window model at every frame."""
    stats = {w: summarize(r, *busy) for w, r in results.items() if w.workload == "kws_frame"}
    stats = {w: s for w, s in stats.items() if s is not None}
    if not stats:
        return []
    lines = [
        "| kws, one 10 ms frame | median cost | share of real time | vs rillet streaming |",
        "| --- | --- | --- | --- |",
    ]
    streaming = next(
        (s for w, s in stats.items() if w.framework == "rillet" and w.variant == "compiled"), None
    )
    for who, s in sorted(stats.items(), key=lambda item: item[1]["median"]):
        relative = f"{s['median'] / streaming['median']:.2f}x" if streaming else ""
        lines.append(
            f"| {who.label} | {_time(s['median'])} | {s['median'] / 0.010 * 100:.3f} % | "
            f"{relative} |"
        )
    sliding = next((s for w, s in stats.items() if w.variant == "sliding-window"), None)
    if streaming and sliding:
        gain = sliding["median"] / streaming["median"]
        verdict = "met" if gain >= SLIDING_MIN_RATIO else "MISSED"
        lines.append(
            f"\nrillet streaming is **{gain:.1f}x** cheaper per frame than re-running the "
            f"98-frame window (target >= {SLIDING_MIN_RATIO:.0f}x: {verdict})."
        )
    return lines


def failures(results, missing: dict[str, str]) -> list[str]:
    lines = [f"- {framework}: left out: {why}" for framework, why in missing.items()]
    for who, runs in results.items():
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            lines.append(f"- {who.workload} {who.label}: {len(errors)} failed run(s); last:")
            lines += ["      " + line for line in errors[-1].splitlines()]
    return lines


def command_line(argv: list[str] | None = None) -> str:
    """This run's command line, without ``--note`` and its text."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--note" in argv:
        del argv[argv.index("--note") : argv.index("--note") + 2]
    argv = [a for a in argv if not a.startswith("--note=")]
    return shlex.join([relative(sys.executable), relative(sys.argv[0]), *argv])


def report(args, results, workloads, missing, elapsed: float, command: str = "") -> str:
    parts = [*([args.note, ""] if args.note else [])]
    parts += [
        f"Command: `{command or command_line()}` ({args.rounds} round(s), {args.threads} "
        f"intra-op thread(s) per run, {elapsed / 60:.1f} min in all). {PROTOCOL}",
        "",
        *machine(results),
        "",
        *summary_table(results, workloads, (args.busy, args.min_quiet)),
        "",
        *table(results, workloads, (args.busy, args.min_quiet)),
    ]
    latency = latency_table(results, (args.busy, args.min_quiet))
    if latency:
        parts += ["", "Streaming latency (kws, cost per 10 ms of audio):", "", *latency]
    gone = failures(results, missing)
    if gone:
        parts += ["", "Left out or failed:", "", *gone]
    parts += [
        "",
        f"Runs used: those during which other processes used at most {args.busy} cores, when "
        f"at least {args.min_quiet} such run(s) remain (else all runs).",
    ]
    return "\n".join(parts)


def write_section(path: Path, body: str, heading: str = SECTION) -> None:
    """Replace ``heading``'s section of the Markdown file ``path`` (up to the next ``## ``
    heading) with ``body``, or append it; the rest of the file stays as it was."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    new = [heading, "", *body.strip().splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = new
    else:
        lines += ["", *new] if lines and lines[-1] else new
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text("\n".join(lines).rstrip("\n") + "\n")
    temporary.replace(path)


def save_results(path: Path, results, meta: dict) -> None:
    runs = {f"{w.workload}/{w.framework}/{w.variant}": r for w, r in results.items()}
    Path(path).write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))


def load_results(path: Path) -> tuple[dict[Contender, list[dict]], dict]:
    """The results and the run's description (command, rounds, threads, elapsed_s, missing)
    that a ``--json`` file holds (runs keyed "workload/framework/variant")."""
    saved = json.loads(Path(path).read_text())
    runs, meta = (saved["runs"], saved["meta"]) if "meta" in saved else (saved, {})
    results = {}
    for key, found in runs.items():
        workload, framework, variant = key.split("/", 2)
        results[Contender(framework, variant, workload)] = found
    return results, meta


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workloads = args.workloads.split(",")
    started = time.perf_counter()
    if args.from_json:
        results, meta = load_results(args.from_json)
        workloads = [w for w in workloads if any(c.workload == w for c in results)]
        args.rounds = meta.get("rounds", args.rounds)
        args.threads = meta.get("threads", args.threads)
        missing = meta.get("missing", {})
    else:
        env = worker_env(args.threads, args.keep_openblas_env)
        variants, missing = offered(args, args.frameworks.split(","), env)
        for framework, why in missing.items():
            print(f"skipping {framework}: {why}", flush=True)
        load_before = os.getloadavg()[0]
        results = run_all(args, contenders(variants, workloads), env)
        meta = {"command": command_line(), "rounds": args.rounds, "threads": args.threads}
        meta.update(elapsed_s=time.perf_counter() - started, missing=missing)
        meta["load_average"] = [load_before, os.getloadavg()[0]]
    if args.json:
        save_results(args.json, results, meta)
    elapsed = meta.get("elapsed_s", time.perf_counter() - started)
    text = report(args, results, workloads, missing, elapsed, meta.get("command", ""))
    if "load_average" in meta:
        start, end = meta["load_average"]
        text += f"\n\nLoad average (1 min) at the start: {start:.1f}, at the end: {end:.1f}."
    print("\n" + text)
    if not (args.no_write or args.quick or args.latency):
        write_section(RESULTS, text)
        print(f"\nwrote the '{SECTION}' section of {relative(str(RESULTS))}")
    if any("error" in r for runs in results.values() for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
