"""Global settings."""

from __future__ import annotations

import os
from types import SimpleNamespace


class _Config:
    run_functions_eagerly = False
    intra_op_threads = 0


_CONFIG = _Config()


def run_functions_eagerly(run_eagerly: bool) -> None:
    """Make every ``rl.function`` run its Python function eagerly (for debugging).

    >>> import rillet as rl
    >>> rl.config.run_functions_eagerly(True)
    >>> rl.config.functions_run_eagerly()
    True
    >>> rl.config.run_functions_eagerly(False)
    """
    _CONFIG.run_functions_eagerly = bool(run_eagerly)


def functions_run_eagerly() -> bool:
    """Whether :func:`run_functions_eagerly` is on."""
    return _CONFIG.run_functions_eagerly


def floatx() -> str:
    """The default float dtype's name (Keras's ``keras.config.floatx``): ``"float32"``."""
    from . import dtypes

    return dtypes.default_float.name


def epsilon() -> float:
    """The fuzz factor Keras uses in numeric expressions: ``1e-7``."""
    return 1e-7


def image_data_format() -> str:
    """rillet is channels-last, as Keras's default: ``"channels_last"``."""
    return "channels_last"


def backend() -> str:
    """The name of the engine under the Keras API: ``"rillet"``."""
    return "rillet"


def set_intra_op_parallelism_threads(num_threads: int) -> None:
    """Threads that one op of a compiled program may use (TensorFlow's
    ``tf.config.threading.set_intra_op_parallelism_threads``); ``0`` lets rillet choose
    (see :func:`intra_op_threads`). Programs compiled afterwards use the new setting.
    BLAS keeps its own pool (``OPENBLAS_NUM_THREADS`` and friends).

    >>> import rillet as rl
    >>> rl.config.threading.set_intra_op_parallelism_threads(1)
    >>> rl.config.threading.get_intra_op_parallelism_threads()
    1
    >>> rl.config.threading.set_intra_op_parallelism_threads(0)
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        from .errors import ArgumentError

        raise ArgumentError(
            f"set_intra_op_parallelism_threads: received num_threads={num_threads!r}, "
            "expected an int >= 0 (0: rillet chooses)"
        )
    _CONFIG.intra_op_threads = num_threads


def get_intra_op_parallelism_threads() -> int:
    """The setting of :func:`set_intra_op_parallelism_threads` (``0``: rillet chooses)."""
    return _CONFIG.intra_op_threads


def intra_op_threads() -> int:
    """The threads one op may use now: the setting, or for ``0`` the cores (at most 4) when
    BLAS runs on one thread, else 1. By measurement: on 2 cores, splitting an MLP step's
    optimizer updates over 2 threads made the step 7% faster next to a one-thread OpenBLAS,
    and 6% slower next to a two-thread one (whose threads spin between products)."""
    if _CONFIG.intra_op_threads:
        return _CONFIG.intra_op_threads
    if not any(os.environ.get(name) == "1" for name in _BLAS_THREADS):
        return 1
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# ``rl.config.threading.*``, as TensorFlow spells it.
threading = SimpleNamespace(
    set_intra_op_parallelism_threads=set_intra_op_parallelism_threads,
    get_intra_op_parallelism_threads=get_intra_op_parallelism_threads,
)
