"""Random ops: stateless draws from the counter-based Philox-4x32-10 generator, and dropout.

Every random op takes a **key**: a uint32 tensor of shape ``(4,)`` (make one with
``rl.random.key(seed)``). The op's numbers depend only on the key and its attributes, so a
key gives the same numbers on every machine, eagerly or in a graph.

The stream of a key ``[k0, k1, k2, k3]`` is a sequence of 32-bit words: block ``b`` (a 64-bit
index) is Philox-4x32-10 (Salmon et al., 2011; the generator of Random123, cuRAND, TF and JAX)
of the counter ``(b mod 2**32, b // 2**32, k2, k3)`` under the key ``(k0, k1)``, and gives
words ``4b .. 4b+3``. An op reads the words it needs from word 0 on, in row-major order of
its output. A stateless seed pair ``(a, b)`` (64-bit each) is the key
``[a mod 2**32, a // 2**32, b mod 2**32, b // 2**32]``: distinct seeds never share a stream.

Stateful draws (``rl.random.normal``, ``rl.dropout``, ...) take their keys from a
:class:`SeedStream`: variables holding a seed pair, read by the ``stream_key`` op and advanced
with ``assign_add``, so that compiled functions draw new numbers on every run.

Floats are built from the top bits of a word, so they are exact multiples of a power of two:
a uniform in [0, 1) has as many bits as the dtype's significand (8 for bfloat16, 11 for
float16, 24 for float32, 53 for float64, the last from two words). Arithmetic that follows
runs in float64 and is rounded once to the output dtype.
"""

from __future__ import annotations

import math
import operator
import os
import threading

import numpy as np

from .. import dtypes as _dtypes
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    RilletError,
    ShapeError,
    attach_context,
)
from ..tensor import Tensor
from . import _rules as rules
from ._philox import (
    MASK32,
    MASK64,
    PHI_HIGH,
    PHI_LOW,
    in_spans,
    ndtri_central,
    philox4x32,
    random_words,
    sample_bits,
    significand_bits,
    unit_uniform,
    words64,
)
from ._registry import Spec, defop

__all__ = ["dropout"]

# --- shared rule checks --------------------------------------------------------------------------


def check_key(key) -> None:
    """A key is a uint32 tensor of shape (4,)."""
    if key.dtype != np.uint32:
        raise DTypeError(f"key has dtype {key.dtype}, expected uint32 (see rl.random.key)")
    if tuple(key.shape) not in ((4,), (None,)):
        raise ShapeError(f"key must have shape (4,), got {rules.fmt(key.shape)}")


def as_shape(shape) -> tuple:
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints."""
    try:
        dims = (operator.index(shape),) if not hasattr(shape, "__iter__") else tuple(shape)
        dims = tuple(operator.index(d) for d in dims)
    except TypeError:
        raise ArgumentTypeError(f"shape must be a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ArgumentError(f"shape={dims} has a negative size")
    return dims


def as_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be a Python number, got {value!r}")
    if not math.isfinite(value):
        raise ArgumentError(f"{name}={value} is not finite")
    return float(value)


def _floating(dtype) -> np.dtype:
    dtype = _dtypes.as_dtype(dtype)
    if not _dtypes.is_floating(dtype):
        raise DTypeError(f"dtype={dtype.name} is not a floating dtype")
    return dtype


def _into(xp, result, out):
    """Honour ``out=``: copy the result into the caller's buffer."""
    if out is None:
        return result
    out[...] = result
    return out


# --- uniform -------------------------------------------------------------------------------------


def _uniform_rule(key, *, shape, minval=0.0, maxval=1.0, dtype=_dtypes.float32):
    check_key(key)
    dtype = _dtypes.as_dtype(dtype)
    if _dtypes.is_integer(dtype):
        _check_int_range(minval, maxval, dtype)
    elif _dtypes.is_floating(dtype):
        if not as_real(minval, "minval") < as_real(maxval, "maxval"):
            raise ArgumentError(f"maxval={maxval} must be greater than minval={minval}")
    else:
        raise DTypeError(f"dtype={dtype.name} is neither floating nor integer")
    return Spec(as_shape(shape), dtype)


def _check_int_range(minval, maxval, dtype) -> None:
    for name, value in (("minval", minval), ("maxval", maxval)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ArgumentTypeError(f"{name} must be an int for dtype={dtype.name}, got {value!r}")
    if maxval <= minval:
        raise ArgumentError(f"maxval={maxval} must be greater than minval={minval}")
    info = np.iinfo(dtype)
    if minval < info.min or maxval > info.max + 1:
        raise ArgumentError(
            f"[minval, maxval) = [{minval}, {maxval}) does not fit dtype={dtype.name}"
        )


@defop(rule=_uniform_rule, differentiable=False, low_precision="native")
def stateless_random_uniform(
    xp, key, *, shape, minval=0.0, maxval=1.0, dtype=_dtypes.float32, out=None
):
    """Uniform numbers in ``[minval, maxval)``: floats, or integers for an integer dtype."""
    shape, dtype = as_shape(shape), _dtypes.as_dtype(dtype)
    count = math.prod(shape)
    if _dtypes.is_integer(dtype):
        result = _uniform_ints(xp, key, count, int(minval), int(maxval), dtype)
    else:
        result = _uniform_floats(xp, key, count, float(minval), float(maxval), dtype)
    return _into(xp, result.reshape(shape), out)


def _uniform_floats(xp, key, count, minval, maxval, dtype):
    bits = significand_bits(dtype)
    # Rounding to the dtype can land on maxval; keep the interval half-open.
    top = xp.nextafter(xp.asarray(maxval, dtype), xp.asarray(minval, dtype))

    def draw(start, stop):
        u = unit_uniform(xp, key, stop - start, bits, start)
        return xp.minimum((minval + u * (maxval - minval)).astype(dtype), top)

    return in_spans(xp, count, dtype, draw)


def _uniform_ints(xp, key, count, minval, maxval, dtype):
    # A 64-bit word modulo the span: the bias is below span / 2**64.
    words, span = words64(xp, key, count), maxval - minval
    offset = words if span == 2**64 else words % xp.uint64(span)
    shifted = offset + xp.uint64(minval & MASK64)  # wraps modulo 2**64, like int64 addition
    return shifted.view(xp.int64).astype(dtype)


# --- normal and truncated normal -----------------------------------------------------------------


def _normal_rule(key, *, shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32):
    check_key(key)
    as_real(mean, "mean")
    as_real(stddev, "stddev")
    return Spec(as_shape(shape), _floating(dtype))


@defop(rule=_normal_rule, differentiable=False, low_precision="native")
def stateless_random_normal(
    xp, key, *, shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32, out=None
):
    """Normal numbers (Box-Muller): ``mean + stddev * z`` with ``z`` standard normal."""
    shape, dtype = as_shape(shape), _dtypes.as_dtype(dtype)
    bits = sample_bits(dtype)

    def draw(start, stop):  # start is even: pairs of uniforms give pairs of normals
        pairs = -(-(stop - start) // 2)
        u = unit_uniform(xp, key, 2 * pairs, bits, start).reshape(pairs, 2)
        radius = xp.sqrt(-2.0 * xp.log1p(-u[:, 0]))  # 1 - u is in (0, 1]: the log is finite
        angle = (2.0 * math.pi) * u[:, 1]
        z = xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=-1).reshape(-1)
        return (mean + stddev * z[: stop - start]).astype(dtype)

    return _into(xp, in_spans(xp, math.prod(shape), dtype, draw).reshape(shape), out)


@defop(rule=_normal_rule, differentiable=False, low_precision="native")
def stateless_truncated_normal(
    xp, key, *, shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32, out=None
):
    """Normal numbers within two standard deviations of the mean, by inverting the CDF on
    the uniform range [Phi(-2), Phi(2)) (no rejection, so no data-dependent loop)."""
    shape, dtype = as_shape(shape), _dtypes.as_dtype(dtype)
    bits, refine = sample_bits(dtype), dtype == _dtypes.float64
    low, high = sorted(xp.asarray([mean - 2 * stddev, mean + 2 * stddev]).astype(dtype))

    def draw(start, stop):
        u = unit_uniform(xp, key, stop - start, bits, start)
        z = xp.clip(ndtri_central(xp, PHI_LOW + u * (PHI_HIGH - PHI_LOW), refine), -2.0, 2.0)
        return xp.clip((mean + stddev * z).astype(dtype), low, high)  # bounds after rounding

    return _into(xp, in_spans(xp, math.prod(shape), dtype, draw).reshape(shape), out)


# --- bernoulli, categorical, shuffle -------------------------------------------------------------


def _bernoulli_rule(key, p, *, shape):
    check_key(key)
    if not _dtypes.is_floating(p.dtype):
        raise DTypeError(f"p has dtype {p.dtype}, expected a floating dtype")
    shape = as_shape(shape)
    if rules.broadcast_shapes(tuple(p.shape), shape, names=("p", "shape")) != shape:
        raise ShapeError(f"p{rules.fmt(p.shape)} does not broadcast to shape={shape}")
    return Spec(shape, _dtypes.bool_)


@defop(rule=_bernoulli_rule, differentiable=False, low_precision="native")
def stateless_random_bernoulli(xp, key, p, *, shape, out=None):
    """Booleans, True with probability ``p`` (broadcast to ``shape``)."""
    shape = as_shape(shape)
    u = unit_uniform(xp, key, math.prod(shape), 32).reshape(shape)
    return xp.less(u, p, out=out)


def _categorical_rule(key, logits, *, num_samples, dtype=_dtypes.int64):
    check_key(key)
    rules.check_rank(logits, (1, 2), "logits")
    if not _dtypes.is_floating(logits.dtype):
        raise DTypeError(f"logits has dtype {logits.dtype}, expected a floating dtype")
    if logits.shape[-1] == 0:
        raise ShapeError(f"logits{rules.fmt(logits.shape)} has no classes to draw from")
    dtype = _dtypes.as_dtype(dtype)
    if dtype not in (_dtypes.int32, _dtypes.int64):
        raise DTypeError(f"dtype={dtype.name} is not int32 or int64")
    (samples,) = as_shape((num_samples,))
    return Spec(tuple(logits.shape[:-1]) + (samples,), dtype)


@defop(rule=_categorical_rule, differentiable=False, low_precision="native")
def stateless_categorical(xp, key, logits, *, num_samples, dtype=_dtypes.int64, out=None):
    """Class indices drawn from ``softmax(logits)`` along the last axis (Gumbel-max)."""
    batch, classes = logits.shape[:-1], logits.shape[-1]
    noise_shape = batch + (num_samples, classes)
    words = random_words(xp, key, math.prod(noise_shape)).reshape(noise_shape)
    u = (words.astype(xp.float64) + 0.5) * 2.0**-32  # in (0, 1): both logs are finite
    scores = logits.astype(xp.float64)[..., None, :] - xp.log(-xp.log(u))
    return _into(xp, xp.argmax(scores, axis=-1).astype(_dtypes.as_dtype(dtype)), out)


def _shuffle_rule(key, x):
    check_key(key)
    if len(x.shape) == 0:
        raise ShapeError("x must have rank >= 1 to shuffle along axis 0, got shape ()")
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_shuffle_rule, differentiable=False, low_precision="native")
def stateless_shuffle(xp, key, x, *, out=None):
    """``x`` with its rows (axis 0) in random order: sorted by random 64-bit keys."""
    order = xp.argsort(words64(xp, key, x.shape[0]), kind="stable")
    return xp.take(x, order, axis=0, out=out)


# --- dropout -------------------------------------------------------------------------------------


def check_rate(rate) -> float:
    rate = as_real(rate, "rate")
    if not 0.0 <= rate < 1.0:
        raise ArgumentError(f"rate={rate} must be in [0, 1)")
    return rate


def _noise_shape(noise_shape, shape: tuple) -> tuple:
    """The mask's shape: ``noise_shape`` with None entries taken from ``shape``."""
    if noise_shape is None:
        return tuple(shape)
    dims = tuple(noise_shape)
    if len(dims) == len(shape):
        dims = tuple(s if d is None else d for d, s in zip(dims, shape))
    return as_shape(dims)


def _check_noise_shape(noise_shape, shape: tuple) -> tuple:
    mask = _noise_shape(noise_shape, shape)
    fits = all(d in (1, s) or s is None for d, s in zip(mask[::-1], shape[::-1]))
    if len(mask) > len(shape) or not fits:
        raise ShapeError(f"noise_shape={mask} does not broadcast to x{rules.fmt(shape)}")
    return mask


def _keep_mask(xp, key, shape: tuple, rate: float):
    """True where an element is kept: where the uniform ``word / 2**32`` is >= rate, tested
    on the integer word (``rate * 2**32`` is exact in float64, so the ceiling is too)."""
    threshold = math.ceil(rate * 2.0**32)
    words = random_words(xp, key, math.prod(shape)).reshape(shape)
    if threshold >= 2**32:
        return xp.zeros(shape, dtype=bool)
    return words >= xp.uint32(threshold)


def _dropout_rule(x, key, *, rate, noise_shape=None):
    check_key(key)
    if not _dtypes.is_floating(x.dtype):
        raise DTypeError(f"x has dtype {x.dtype}, expected a floating dtype")
    check_rate(rate)
    _check_noise_shape(noise_shape, tuple(x.shape))
    return Spec(tuple(x.shape), x.dtype)


@defop(rule=_dropout_rule)
def stateless_dropout(xp, x, key, *, rate, noise_shape=None, out=None):
    """``x`` with elements zeroed with probability ``rate`` and the rest scaled by
    ``1 / (1 - rate)``; the mask depends only on ``key`` and the mask's shape."""
    keep = _keep_mask(xp, key, _noise_shape(noise_shape, x.shape), rate)
    scale = xp.where(keep, x.dtype.type(1.0 / (1.0 - rate)), x.dtype.type(0.0))
    return xp.multiply(x, scale, out=out)


@stateless_dropout.defvjp
def _stateless_dropout_vjp(g, y, x, key, *, rate, noise_shape):
    mask_shape = _noise_shape(noise_shape, x.shape)
    # Recompute the same mask from the same key; it is a constant for higher derivatives.
    return (g * dropout_mask(key, shape=mask_shape, rate=rate, dtype=g.dtype), None)


def _dropout_mask_rule(key, *, shape, rate, dtype=_dtypes.float32):
    check_key(key)
    check_rate(rate)
    return Spec(as_shape(shape), _floating(dtype))


@defop(rule=_dropout_mask_rule, differentiable=False, low_precision="native")
def dropout_mask(xp, key, *, shape, rate, dtype=_dtypes.float32, out=None):
    """Dropout's scaled keep mask: ``1 / (1 - rate)`` where kept, else 0."""
    keep = _keep_mask(xp, key, as_shape(shape), rate)
    return _into(xp, xp.where(keep, 1.0 / (1.0 - rate), 0.0).astype(dtype), out)


# --- seeds and the global stream -----------------------------------------------------------------

DEFAULT_GLOBAL_SEED = 87654321  # TF's default graph seed, used when only an op seed is given


def seed_int(seed, name: str = "seed") -> int:
    """A seed (any int, taken modulo 2**64) as a non-negative Python int."""
    if isinstance(seed, bool) or isinstance(seed, float):
        raise ArgumentTypeError(f"{name} must be an int, got {seed!r}")
    try:
        return operator.index(seed) & MASK64
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an int, got {seed!r}") from None


def seed_pair(seed) -> tuple[int, int]:
    """A stateless seed: two ints (a tuple, list, array or integer tensor of shape (2,))."""
    if isinstance(seed, (Tensor, np.ndarray)):
        if np.asarray(seed).dtype.kind not in "iu":
            raise ArgumentTypeError(f"seed must hold ints, got dtype {np.asarray(seed).dtype}")
        seed = np.asarray(seed).tolist()
    if not isinstance(seed, (tuple, list)) or len(seed) != 2:
        raise ArgumentTypeError(f"seed must be a pair of ints (a, b), got {seed!r}")
    return seed_int(seed[0]), seed_int(seed[1])


def key_from_seed(seed) -> Tensor:
    """The uint32 key of the stateless seed pair ``seed`` (see the module docstring)."""
    a, b = seed_pair(seed)
    words = [a & MASK32, a >> 32, b & MASK32, b >> 32]
    return Tensor._wrap(np.array(words, dtype=np.uint32))


def fold_seeds(a: int, b: int) -> int:
    """A 64-bit seed mixing ``a`` and ``b``: the first two words of Philox-4x32-10 of the
    counter ``(b mod 2**32, b // 2**32, 0, 0)`` under the key ``(a mod 2**32, a // 2**32)``."""
    words = philox4x32(np, (b & MASK32, b >> 32, 0, 0), (a & MASK32, a >> 32))
    return int(words[0]) | int(words[1]) << 32


# --- the state of stateful draws: variables, so that graphs read and advance them ---------------


def _stream_key_rule(state):
    if state.dtype != _dtypes.int64:
        raise DTypeError(f"state has dtype {state.dtype}, expected int64 (a seed pair)")
    if tuple(state.shape) not in ((2,), (None,)):
        raise ShapeError(f"state must have shape (2,) (a seed pair), got {rules.fmt(state.shape)}")
    return Spec((4,), np.dtype(np.uint32))


@defop(rule=_stream_key_rule, differentiable=False, low_precision="native")
def stream_key(xp, state, *, out=None):
    """The key of the seed pair ``(a, b)`` held as the 64-bit words of ``state`` (int64,
    shape (2,)): ``[a mod 2**32, a // 2**32, b mod 2**32, b // 2**32]``, as ``key_from_seed``."""
    words = state.astype(xp.uint64)  # int64 -> uint64 keeps the 64 bits
    low = (words & xp.uint64(MASK32)).astype(xp.uint32)
    high = (words >> xp.uint64(32)).astype(xp.uint32)
    return _into(xp, xp.stack([low, high], axis=-1).reshape(4), out)


def _state_words(a: int, b: int) -> np.ndarray:
    """The seed pair ``(a, b)`` (each below 2**64) as the bits of two int64 words."""
    return np.array([a, b], dtype=np.uint64).view(np.int64)


def _set_state(variable, a: int, b: int) -> None:
    # Written at once, even while a function traces: seeding is a Python side effect.
    variable._write(_state_words(a, b), "assign")


_ADVANCE = Tensor._wrap(np.array([0, 1], dtype=np.int64))  # one constant per traced graph


class SeedStream:
    """Seed pairs for stateful draws, held in non-trainable int64 variables ``[a, b]``.

    The ``i``-th draw without an op seed uses the seed pair ``(seed, i)``. The ``n``-th draw
    with op seed ``o`` uses ``(fold_seeds(seed, o), n)``, where ``seed`` is
    ``DEFAULT_GLOBAL_SEED`` if the stream was made without one (as TF does), so op-seeded
    draws are reproducible even then. Without a seed, the stream's seed is drawn from the OS.

    A draw reads the state variable, makes its key with the ``stream_key`` op and adds
    ``[0, 1]`` to the variable. Eagerly that happens at once; inside ``rl.function`` the same
    calls become graph nodes, so every run of the graph takes the next pairs, and eager and
    compiled draws count together, in the order they run.
    """

    def __init__(self, seed: int | None = None, name: str = "random_state"):
        from ..variable import Variable  # variables sit above the op library

        self._lock = threading.Lock()
        self._name = name
        self.state = Variable(np.zeros(2, np.int64), trainable=False, name=name)
        self._op_states: dict = {}  # op seed -> its state variable, made on first use
        self.reset(seed)

    def reset(self, seed: int | None) -> None:
        """Start again from ``seed`` (from the OS if None); every counter goes back to 0."""
        with self._lock:
            self.seeded = seed is not None
            self.seed = seed_int(seed) if self.seeded else _entropy()
            _set_state(self.state, self.seed, 0)
            for op_seed, variable in self._op_states.items():
                _set_state(variable, self._op_base(op_seed), 0)

    def _op_base(self, op_seed: int) -> int:
        return fold_seeds(self.seed if self.seeded else DEFAULT_GLOBAL_SEED, op_seed)

    def _state_of(self, op_seed: int | None):
        if op_seed is None:
            return self.state
        variable = self._op_states.get(op_seed)
        if variable is None:
            from ..variable import Variable

            words, name = _state_words(self._op_base(op_seed), 0), f"{self._name}_op{op_seed}"
            variable = Variable(words, trainable=False, name=name)
            self._op_states[op_seed] = variable
        return variable

    def next_key(self, op_seed=None) -> Tensor:
        """The key of the next seed pair, advancing the state (now, or as graph nodes)."""
        op_seed = None if op_seed is None else seed_int(op_seed)
        with self._lock:
            state = self._state_of(op_seed)
            key = stream_key(state)
            state.assign_add(_ADVANCE)
        return key

    def next_pair(self, op_seed: int | None = None) -> tuple[int, int]:
        """The next seed pair as Python ints, advancing the state at once (also while a
        function traces: then it is a trace-time side effect, like ``Generator.split``)."""
        op_seed = None if op_seed is None else seed_int(op_seed)
        with self._lock:
            state = self._state_of(op_seed)
            a, b = (int(w) for w in state._array.view(np.uint64))
            _set_state(state, a, (b + 1) & MASK64)
        return a, b


def _entropy() -> int:
    return int.from_bytes(os.urandom(8), "little")


GLOBAL_STREAM = SeedStream()  # rl.random.set_seed resets it


class errors_named:
    """Context manager: errors raised inside carry the public function's name ``name``
    (not the op it called) and the caller's line."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, RilletError):
            error.op = self.name
            attach_context(error, self.name)  # a class, so that no contextlib frame is blamed
        return False


def dropout(x, rate, noise_shape=None, seed=None):
    """Zero each element of ``x`` with probability ``rate`` and scale the others by
    ``1 / (1 - rate)``, so the expected value is unchanged (as ``tf.nn.dropout``).

    ``noise_shape`` is the mask's shape, broadcast against ``x`` (None entries take ``x``'s
    size). ``seed`` is an op seed, combined with the global seed as in ``rl.random``.

    >>> import rillet as rl
    >>> y = rl.dropout(rl.ones((2, 4)), rate=0.5, seed=1)
    >>> sorted(set(y.numpy().ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    with errors_named("dropout"):
        rate = check_rate(rate)
        noise_shape = None if noise_shape is None else tuple(noise_shape)
        key = GLOBAL_STREAM.next_key(seed)
        return stateless_dropout(x, key, rate=rate, noise_shape=noise_shape)
