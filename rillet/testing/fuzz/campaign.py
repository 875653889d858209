"""A fuzzing campaign: generate and check programs for a number of seeds or seconds, shrink
each disagreement and print (or save) it as a regression test.

``make fuzz`` runs ``python -m rillet.testing.fuzz --seconds $(FUZZ_SECONDS) --save-dir
tests/graph/regressions``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import os
import re
import time
from collections.abc import Callable, Iterable

from .generator import generate
from .oracle import Disagreement, check_program
from .program import Program
from .regression import regression_source, save_regression
from .shrink import cost, shrink

PROGRESS_EVERY = 60.0  # seconds between progress lines of a long campaign


@dataclasses.dataclass
class Failure:
    """A disagreement: the program as generated, and shrunk with the shrunk disagreement."""

    program: Program
    disagreement: Disagreement
    shrunk: Program
    shrunk_disagreement: Disagreement

    @property
    def signature(self) -> tuple:
        """Failures with one signature are most likely one bug (one saved test each)."""
        ops = tuple(sorted({s.op for s in self.shrunk.steps}))
        return self.shrunk_disagreement.kind, self.shrunk_disagreement.mode, ops

    def source(self) -> str:
        return regression_source(self.shrunk, self.shrunk_disagreement)


@dataclasses.dataclass
class Report:
    checked: int = 0
    seconds: float = 0.0
    failures: list = dataclasses.field(default_factory=list)
    ops: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    saved: list = dataclasses.field(default_factory=list)
    repeats: int = 0  # disagreements like one already found (not shrunk again)
    notes: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def summary(self) -> str:
        kinds = collections.Counter(f.signature[:2] for f in self.failures)
        found = ", ".join(f"{n} x {kind} in {mode}" for (kind, mode), n in kinds.items())
        return (
            f"checked {self.checked} programs ({sum(self.ops.values())} op steps, "
            f"{len(self.ops)} kinds of step) in {self.seconds:.0f} s: "
            f"{len(self.failures) + self.repeats} disagreements"
            f"{': ' + found if found else ''}"
            f"{f' ({self.repeats} repeats of these)' if self.repeats else ''}"
        )


def fuzz(
    seeds: Iterable[int],
    seconds: float | None = None,
    shrink_budget: int = 400,
    save_dir=None,
    max_saved: int = 10,
    max_failures: int | None = None,
    modes=None,
    log: Callable[[str], None] = lambda line: None,
) -> Report:
    """Check the program of every seed (until ``seconds`` pass, or ``max_failures``
    disagreements are found), shrinking each disagreement and saving one regression test
    per signature into ``save_dir`` (at most ``max_saved``)."""
    report, start, signatures, known = Report(), time.perf_counter(), set(), set()
    progress = start + PROGRESS_EVERY
    for seed in seeds:
        now = time.perf_counter()
        if seconds is not None and now - start > seconds:
            break
        if now > progress:
            progress = now + PROGRESS_EVERY
            log(f"... {report.checked} programs checked, {len(report.failures)} disagreements")
        if max_failures is not None and len(report.failures) >= max_failures:
            break
        try:
            program = generate(seed)
        except Exception as error:  # a bug of the fuzzer itself: note it, keep fuzzing
            report.notes[f"generate(seed={seed}) failed: {type(error).__name__}: {error}"] += 1
            continue
        report.checked += 1
        report.ops.update(s.op for s in program.steps)
        report.notes.update(program.notes)
        found = check_program(program, modes)
        if found is not None:
            if _known(found) in known and seconds is not None:
                report.repeats += 1  # (a long run does not shrink a known failure again)
                continue
            known.add(_known(found))
            failure = _shrunk(program, found, shrink_budget, modes)
            report.failures.append(failure)
            log(
                f"seed {seed}: {found}\nshrunk to {failure.shrunk.n_ops} op steps:\n"
                f"{failure.source()}"
            )
            if save_dir is not None and failure.signature not in signatures:
                if len(report.saved) < max_saved:
                    report.saved.append(
                        save_regression(failure.shrunk, failure.shrunk_disagreement, save_dir)
                    )
                    log(f"saved {report.saved[-1]}")
            signatures.add(failure.signature)
    report.seconds = time.perf_counter() - start
    return report


def _known(found: Disagreement) -> tuple:
    """A failure's kind, mode and message without its numbers: repeats of one bug."""
    return found.kind, found.mode, re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", found.message)


def _shrunk(program: Program, found: Disagreement, budget: int, modes) -> Failure:
    small = shrink(program, found, budget, modes)
    again = check_program(small, modes)
    if again is None or cost(small) >= cost(program):  # (cannot happen: a kept edit fails)
        small, again = program, found
    return Failure(program, found, small, again)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rillet.testing.fuzz",
        description="Differential fuzzing of rillet graph mode.",
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to run")
    parser.add_argument(
        "--seed", type=int, default=None, help="first seed (default: random, printed)"
    )
    parser.add_argument("--count", type=int, default=None, help="stop after this many programs")
    parser.add_argument("--save-dir", default=None, help="where to save regression tests")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else int.from_bytes(os.urandom(3), "little") * 1000
    print(f"fuzzing graph mode from seed {first} for up to {args.seconds:g} s", flush=True)
    seeds = itertools.count(first) if args.count is None else range(first, first + args.count)
    report = fuzz(seeds, args.seconds, save_dir=args.save_dir, log=lambda s: print(s, flush=True))
    print(report.summary())
    for note, count in report.notes.most_common(10):
        print(f"eager anomaly met while generating ({count} x): {note}")
    return 1 if report.failures else 0
