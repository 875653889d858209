"""Numeric checks: find the first op that produced NaN or Inf."""

from __future__ import annotations

from ._context import FLAGS


def enable_check_numerics() -> None:
    """Make every op check its outputs and raise ``NumericsError`` at the first op that
    turns finite inputs into NaN or Inf, naming the op and the caller's line.

    >>> import rillet as rl
    >>> rl.debugging.enable_check_numerics()
    >>> try:
    ...     rl.log(rl.asarray([-1.0]))
    ... except rl.errors.NumericsError as e:
    ...     print(e.op)
    log
    >>> rl.debugging.disable_check_numerics()
    """
    FLAGS.check_numerics = True


def disable_check_numerics() -> None:
    """Turn the checks of :func:`enable_check_numerics` off."""
    FLAGS.check_numerics = False
