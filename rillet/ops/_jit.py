"""Compiled loops for the few kernels NumPy cannot fuse: Numba, ahead of time or on first use.

A kernel written as a plain loop over arrays (``@loop_kernel``) is compiled by Numba the first
time it is asked for and cached on disk (``cache=True``), so a later process loads it in
milliseconds. A kernel that names ``aot`` signatures is also built ahead of time, at install
(``rillet/ops/_aot.py``): a process whose kernels all match such a build never loads Numba
or LLVM. ``error_model="numpy"`` lets divisions vectorize (a division by zero gives
inf/nan as in NumPy instead of raising); there is no ``fastmath``, so results are IEEE exact
and match the NumPy kernels they replace operation for operation.

Callers keep a NumPy path: ``kernel.compiled`` is ``None`` when Numba (and an ahead-of-time
build) is missing or when the environment variable ``RILLET_DISABLE_JIT`` is set (to compare
the two paths, or to avoid the compile cost and the ~110 MB that LLVM adds to a process).
Numba is imported only when a kernel is first asked for that has no ahead-of-time build, so
``import rillet`` does not pay for it. Loops must not call
``np.dot`` or other BLAS routines: Numba would call SciPy's BLAS, a second thread pool.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import types

import numpy as np

__all__: list[str] = []

_LOCK = threading.RLock()  # compiled -> jit -> _numba take it nested

# tanh(x) ~ x * p(x^2) / q(x^2) on [-9, 9], the float32 approximation of Eigen (TensorFlow)
# and ONNX Runtime's MLAS: within 7 ulp of the exact value, and a vectorizable fraction
# where the C library's tanh is a scalar call ~20-50 times slower. Beyond 9 the float32 tanh
# is +-1, which the clamped fraction gives. The recurrent loops (_rnn_jit, _rnn_lstm_jit) use it.
TANH_CLAMP = np.float32(9.0)
TANH_P = tuple(np.float32(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
    1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03,
))  # fmt: skip
TANH_Q = tuple(np.float32(c) for c in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03,
))  # fmt: skip


def loop_helper(py_func):
    """Decorator: a plain function that loop kernels call (:func:`tanh32`). It stays a Python
    function, for the loops' Python path; when a loop kernel that names it as a global is
    compiled, the helper is compiled too (inlined into the loop) and that name in the loop's
    module is rebound to the compiled helper. Numba's disk cache knows only the loop's own
    file: after editing a helper, clear the ``__pycache__`` of the loops that call it."""
    _HELPERS[py_func] = None
    return py_func


_HELPERS: dict = {}  # helper -> its compiled form, None until a loop that calls it compiles


@loop_helper
def tanh32(z):
    """tanh by the rational approximation above (``TANH_CLAMP``, ``TANH_P``, ``TANH_Q``); NaN
    stays NaN."""
    z = min(max(z, -TANH_CLAMP), TANH_CLAMP)
    z2 = z * z
    p = TANH_P[0]
    for c in TANH_P[1:]:
        p = p * z2 + c
    q = TANH_Q[0]
    for c in TANH_Q[1:]:
        q = q * z2 + c
    return z * p / q


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def flat_floats(*arrays) -> bool:
    """Whether a loop may walk ``arrays`` as flat memory: C-contiguous NumPy arrays of one
    float32/float64 dtype (``None`` entries are skipped)."""
    present = [a for a in arrays if a is not None]
    dtype = present[0].dtype
    return dtype in FLOAT_DTYPES and all(
        type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == dtype for a in present
    )


def enabled() -> bool:
    """Whether compiled loops are used: Numba imports and ``RILLET_DISABLE_JIT`` is unset."""
    return _numba() is not None


_NUMBA: list = []  # [module or None], filled on first use


def _numba():
    if not _NUMBA:
        with _LOCK:
            if not _NUMBA:
                _NUMBA.append(_import_numba())
    return _NUMBA[0]


@functools.cache  # read once, as Numba's import and the ahead-of-time build are looked up once
def _disabled() -> bool:
    return os.environ.get("RILLET_DISABLE_JIT", "").strip() not in ("", "0")


def _import_numba():
    if _disabled():
        return None
    try:
        import numba
    except ImportError:
        return None
    _without_scipy_blas()
    return numba


def _without_scipy_blas() -> None:
    """Keep Numba from loading SciPy's BLAS (a second OpenBLAS, with its own threads, beside
    NumPy's) when it first compiles: loops here never call BLAS from compiled code."""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return
    sys.modules[name] = None  # makes "import scipy.linalg.cython_blas" fail: no BLAS
    try:
        import numba.np.arraymath  # noqa: F401  (decides here whether BLAS is there)
    finally:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]


class LoopKernel:
    """A Python loop function and, once asked for, its compiled version: the ahead-of-time
    build where one matches the arguments (``aot`` signatures, ``rillet/ops/_aot.py``), else
    Numba's just-in-time one."""

    def __init__(self, py_func, aot: tuple[str, ...] = ()):
        self.py_func = py_func
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__
        self.key = f"{py_func.__module__}.{py_func.__qualname__}"
        self.aot = tuple(dict.fromkeys(sig.format(f=f) for sig in aot for f in ("f4", "f8")))
        self._compiled = None
        self._jit = None
        if self.aot:
            AOT_KERNELS.append(self)

    @property
    def compiled(self):
        """The compiled function, or None where compiled loops are off (see the module)."""
        if self._compiled is None:
            if _disabled() or (not self.aot and _numba() is None):
                return None
            from . import _aot

            with _LOCK:
                if self._compiled is None:
                    self._compiled = _aot.dispatcher(self) or self.jit()
        return self._compiled

    def resolve(self, *args):
        """The compiled function that a call on ``args`` runs, or None where compiled loops
        are off. Calling it directly on arrays of the same types, layouts and flags (the same
        arrays, say, with other integer scalars) skips the argument checks of later calls."""
        run = self.compiled
        return getattr(run, "resolve", lambda *a: run)(*args) if run is not None else None

    def jit(self):
        """Numba's compiled version (compiled on the first call for new argument types), or
        the Python loop where Numba is missing."""
        if self._jit is None:
            numba = _numba()
            self._jit = self.py_func if numba is None else _njit(numba, self.py_func)
        return self._jit

    def __call__(self, *args):
        """Run compiled when possible, else as the plain Python loop (slow: for tests)."""
        run = self.compiled
        return (run or self.py_func)(*args)

    def __repr__(self) -> str:
        return f"<loop kernel {self.__name__}>"


AOT_KERNELS: list[LoopKernel] = []  # the kernels with ahead-of-time signatures, in import order


def _njit(numba, py_func, cache: bool = True):
    namespace = py_func.__globals__
    for name, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and value in _HELPERS:
            if _HELPERS[value] is None:
                _HELPERS[value] = numba.njit(inline="always", error_model="numpy")(value)
            namespace[name] = _HELPERS[value]
    if cache:
        try:
            return numba.njit(cache=True, nogil=True, error_model="numpy")(py_func)
        except RuntimeError:  # no file to cache beside (a function made by exec): compile only
            pass
    return numba.njit(nogil=True, error_model="numpy")(py_func)


def loop_kernel(py_func=None, *, aot: tuple[str, ...] = ()):
    """Decorator: ``py_func`` (loops over NumPy arrays, Numba's subset of Python) becomes a
    :class:`LoopKernel`. ``aot`` lists argument signatures to build ahead of time, in Numba's
    notation (``"f4[:, ::1], f4[::1], b1"``), ``in:`` before an array the loop only reads,
    `` -> type`` after them for a loop that returns something; ``{f}`` stands for both ``f4``
    and ``f8`` (``rillet/ops/_aot.py``)."""
    if py_func is None:
        return lambda func: LoopKernel(func, aot)
    return LoopKernel(py_func, aot)
