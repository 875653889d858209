"""Error types raised by rillet.

Every error raised by an op names the op, what it got, what it expected, and the
line of user code that called it, e.g.::

    ShapeError: matmul: cannot contract a(32, 784) with b(512, 10): 784 != 512 (train.py:41)
"""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class RilletError(Exception):
    """Base class of every error raised by rillet."""

    op: str | None = None

    def __init__(self, message: str, *, op: str | None = None):
        super().__init__(message)
        self.message = message
        self.op = op
        self.location: str | None = user_location()

    def __str__(self) -> str:
        text = f"{self.op}: {self.message}" if self.op else self.message
        return f"{text} ({self.location})" if self.location else text


class ShapeError(RilletError, ValueError):
    """An input has a shape the op cannot take."""


class DTypeError(RilletError, TypeError):
    """An input has a dtype the op cannot take."""


class AxisError(RilletError, ValueError, IndexError):
    """An axis argument is out of range for the input's rank."""


class ArgumentError(RilletError, ValueError):
    """A non-tensor argument (attribute) has a bad value."""


class ArgumentTypeError(RilletError, TypeError):
    """An argument has a type the op cannot take."""


class NumericsError(RilletError, ArithmeticError):
    """An op produced NaN or Inf while numeric checks are enabled."""


class MemoryBudgetError(RilletError, ValueError):
    """No plan found fits a graph's planned peak memory within ``memory_budget``."""


class GradientError(RilletError, ValueError):
    """A gradient cannot be computed as asked."""


def user_location() -> str | None:
    """The ``file:line`` of the innermost stack frame outside the rillet package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def attach_context(error: RilletError, op: str | None) -> RilletError:
    """Fill in the op name and the caller's location if the error lacks them."""
    if error.op is None:
        error.op = op
    if error.location is None:
        error.location = user_location()
    return error
