"""Differential fuzzing of graph mode, in the manner of NNSmith.

The fuzzer generates random valid programs over the op registry (:mod:`.generator`, with the
op catalog in :mod:`.catalog` and the ``ops_*`` modules), runs each one eagerly and through
``rl.function`` with the passes off and on, under the interpreter and the compiled executor,
and compares outputs, gradients and variable updates (:mod:`.oracle`). A disagreement is
shrunk to a small program (:mod:`.shrink`) and printed as a pytest test
(:mod:`.regression`). Programs are data (:mod:`.program`): a list of steps that prints as
Python source, the only definition of what the program computes.

Run a campaign with ``make fuzz`` (``FUZZ_SECONDS=600``) or
``python -m rillet.testing.fuzz --seconds 60 [--seed N] [--save-dir DIR]``; check one
program with :func:`check_program`, or any function of tensors with :func:`check_function`:

>>> from rillet.testing.fuzz import check_program, generate
>>> program = generate(seed=3)
>>> check_program(program) is None
True
"""

from .generator import InvalidProgram, generate, replay
from .oracle import MODES, TOLERANCE, Disagreement, check_function, check_program
from .program import Program, Step, build, to_source

__all__ = [
    "Disagreement",
    "InvalidProgram",
    "MODES",
    "Program",
    "Step",
    "TOLERANCE",
    "build",
    "check_function",
    "check_program",
    "generate",
    "replay",
    "to_source",
]
