"""Printing a shrunk failing program as a pytest regression test, and saving it."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import textwrap

from .oracle import TOLERANCE, Disagreement
from .program import INPUT, VARIABLE, Program, leaf_arrays, literal, to_source

HEADER = '''"""Regression test found by the graph-mode fuzzer (rillet.testing.fuzz), seed {seed}.

{summary}
"""
# ruff: noqa: E501, F401, F841

import numpy as np

import rillet as rl
from rillet.testing.fuzz import check_function

'''


def test_name(program: Program, failure: Disagreement) -> str:
    kind = re.sub(r"\W+", "_", failure.kind.lower()).strip("_")
    return f"test_fuzz_seed_{program.seed}_{kind}_in_{failure.mode.replace('-', '_')}"


def _arrays_source(arrays) -> str:
    if not arrays:
        return "[]"
    return "[\n" + "".join(f"        {literal(a)},\n" for a in arrays) + "    ]"


def regression_source(program: Program, failure: Disagreement) -> str:
    """A pytest module that fails while the disagreement lasts (and passes once fixed)."""
    message = failure.message.replace('"""', "'''").replace("\\", "\\\\")
    title = f"{failure.kind} disagreement in mode {failure.mode!r}:"
    summary = "\n".join([title, *textwrap.wrap(message, 96)])
    lines = [
        HEADER.format(seed=program.seed, summary=summary),
        to_source(program),
        "",
        f"def {test_name(program, failure)}():",
        f"    inputs = {_arrays_source(leaf_arrays(program, INPUT))}",
        f"    variables = {_arrays_source(leaf_arrays(program, VARIABLE))}",
        f"    tolerance = {TOLERANCE[program.precision]!r}",
        "    check_function(program, inputs, variables, tolerance)",
    ]
    return "\n".join(lines) + "\n"


def save_regression(program: Program, failure: Disagreement, folder) -> pathlib.Path:
    """Write the regression test into ``folder`` (formatted by ruff when it is installed)."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{test_name(program, failure)}.py"
    path.write_text(regression_source(program, failure))
    subprocess.run(
        [sys.executable, "-m", "ruff", "format", "-q", str(path)], check=False, capture_output=True
    )
    return path
