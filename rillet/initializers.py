"""Weight initializers, with the names, arguments and defaults of Keras 3.

An initializer is called as ``init(shape, dtype=None)`` (float32 by default) and returns a
tensor. Random initializers draw through ``rl.random``:

* with ``seed=`` an int, from the stateless generator at the seed pair ``(seed, 0)``, so
  every call gives the same values (as in Keras 3);
* without a seed, from the global random stream, so ``rl.random.set_seed`` makes a program's
  initial weights reproducible.

>>> import rillet as rl
>>> from rillet import initializers
>>> init = initializers.get("glorot_uniform")
>>> init((3, 4)).shape
(3, 4)
>>> a = initializers.HeNormal(seed=1)((2, 2))
>>> b = initializers.HeNormal(seed=1)((2, 2))
>>> bool((a == b).all())
True
>>> initializers.serialize(initializers.Constant(2.0))["config"]
{'value': 2.0}
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import _objects
from . import dtypes as _dtypes
from . import random as _random
from .errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from .ops import creation as _creation
from .ops.shapes import broadcast_to, cast, reshape
from .tensor import Tensor, asarray

__all__ = [
    "Initializer", "Constant", "Zeros", "Ones", "Identity", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal",
    "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal", "constant", "zeros", "ones",
    "identity", "random_normal", "random_uniform", "truncated_normal", "variance_scaling",
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "orthogonal", "compute_fans", "get", "serialize", "deserialize",
]  # fmt: skip


def _shape(shape, who: str) -> tuple:
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise ArgumentTypeError(f"{who}: received shape={shape!r}, expected ints") from None
    if any(s < 0 for s in shape):
        raise ArgumentError(f"{who}: received shape={shape}, expected non-negative sizes")
    return shape


def _dtype(dtype):
    return _dtypes.float32 if dtype is None else _dtypes.as_dtype(dtype)


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None)`` and ``get_config``."""

    def __call__(self, shape, dtype=None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def clone(self):
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Every element is ``value`` (a number, or an array broadcast to the shape)."""

    def __init__(self, value=0.0):
        self.value = value.tolist() if isinstance(value, (np.ndarray, Tensor)) else value

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = _shape(shape, "Constant"), _dtype(dtype)
        if np.ndim(self.value) == 0:
            return _creation.full(shape, self.value, dtype=dtype)
        value = np.asarray(self.value)
        try:
            np.broadcast_shapes(value.shape, shape)
        except ValueError:
            raise ShapeError(
                f"Constant: a value of shape {value.shape} does not broadcast to shape={shape}"
            ) from None
        return broadcast_to(asarray(value, dtype=dtype), shape=shape)

    def get_config(self) -> dict:
        return {"value": self.value}


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None) -> Tensor:
        return _creation.zeros(_shape(shape, "Zeros"), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None) -> Tensor:
        return _creation.ones(_shape(shape, "Ones"), dtype=_dtype(dtype))


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; rectangular is fine)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = _shape(shape, "Identity"), _dtype(dtype)
        if len(shape) != 2:
            raise ShapeError(
                f"Identity: received shape={shape} of rank {len(shape)}, expected a 2-D shape"
            )
        return _creation.eye(shape[0], shape[1], dtype=dtype) * cast(
            asarray(self.gain), dtype=dtype
        )

    def get_config(self) -> dict:
        return {"gain": self.gain}


# --- random initializers -------------------------------------------------------------------------


class RandomInitializer(Initializer):
    """Base of the random initializers: holds and validates ``seed``, and draws."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ArgumentTypeError(
                f"{type(self).__name__}: received seed={seed!r}, expected an int or None"
            )
        self.seed = None if seed is None else int(seed)

    def _check(self, shape, dtype) -> tuple:
        shape, dtype = _shape(shape, type(self).__name__), _dtype(dtype)
        if not _dtypes.is_floating(dtype):
            raise DTypeError(
                f"{type(self).__name__}: received dtype={dtype.name}, expected a floating dtype"
            )
        return shape, dtype

    def _draw(self, kind: str, shape, dtype, **kwargs) -> Tensor:
        """A draw from ``rl.random.<kind>``: stateless at ``(seed, 0)`` when seeded."""
        if self.seed is None:
            return getattr(_random, kind)(shape, dtype=dtype, **kwargs)
        draw = getattr(_random, f"stateless_{kind}")
        return draw(shape, seed=(self.seed, 0), dtype=dtype, **kwargs)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal numbers with mean ``mean`` and standard deviation ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = self._check(shape, dtype)
        return self._draw("normal", shape, dtype, mean=self.mean, stddev=self.stddev)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(RandomInitializer):
    """Uniform numbers in ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = self._check(shape, dtype)
        return self._draw("uniform", shape, dtype, minval=self.minval, maxval=self.maxval)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    """Normal numbers redrawn when more than two standard deviations from the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = self._check(shape, dtype)
        return self._draw("truncated_normal", shape, dtype, mean=self.mean, stddev=self.stddev)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape: ``(in, out)`` for a matrix, and for a
    convolution kernel ``(*window, in, out)`` both times the window size."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# Standard deviation of a standard normal truncated to [-2, 2]: dividing by it keeps the
# variance of the truncated draw equal to the target variance.
_TRUNCATED_STDDEV = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Draws whose variance is ``scale / n``, ``n`` the fan-in, fan-out or their average.

    ``distribution="truncated_normal"`` (stddev ``sqrt(scale / n) / 0.8796``),
    ``"untruncated_normal"`` (stddev ``sqrt(scale / n)``) or ``"uniform"`` (within
    ``[-limit, limit]``, ``limit = sqrt(3 scale / n)``).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ArgumentError(f"VarianceScaling: received scale={scale!r}, expected > 0")
        if mode not in _MODES:
            raise ArgumentError(
                f"VarianceScaling: received mode={mode!r}, expected one of {_MODES}"
            )
        distribution = str(distribution).lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise ArgumentError(
                f"VarianceScaling: received distribution={distribution!r}, "
                f"expected one of {_DISTRIBUTIONS}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _variance(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        return self.scale / max(1.0, fan[self.mode])

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = self._check(shape, dtype)
        variance = self._variance(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return self._draw("uniform", shape, dtype, minval=-limit, maxval=limit)
        if self.distribution == "untruncated_normal":
            return self._draw("normal", shape, dtype, stddev=math.sqrt(variance))
        stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
        return self._draw("truncated_normal", shape, dtype, stddev=stddev)

    def get_config(self) -> dict:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A named ``VarianceScaling`` whose only argument is ``seed``."""

    _ARGS: tuple = ()

    def __init__(self, seed=None):
        super().__init__(*self._ARGS, seed=seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: within ``sqrt(6 / (fan_in + fan_out))``."""

    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated, variance ``2 / (fan_in + fan_out)``."""

    _ARGS = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated, variance ``2 / fan_in``."""

    _ARGS = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """He uniform: within ``sqrt(6 / fan_in)``."""

    _ARGS = (2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated, variance ``1 / fan_in``."""

    _ARGS = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: within ``sqrt(3 / fan_in)``."""

    _ARGS = (1.0, "fan_in", "uniform")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (times ``gain``): the Q factor of a normal draw, with the signs
    of R's diagonal, reshaped from ``(prod(shape[:-1]), shape[-1])``.

    The QR factorization runs in NumPy at build time (an initializer is not traced).
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None) -> Tensor:
        shape, dtype = self._check(shape, dtype)
        if len(shape) < 2:
            raise ShapeError(
                f"Orthogonal: received shape={shape} of rank {len(shape)}, expected rank >= 2"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        draw = self._draw("normal", (max(rows, cols), min(rows, cols)), _dtypes.float64)
        q, r = np.linalg.qr(draw.numpy())
        q = q * np.where(np.diagonal(r) < 0, -1.0, 1.0)  # unique Q: R's diagonal positive
        if rows < cols:
            q = np.ascontiguousarray(q.T)  # row-major, like every other weight
        return reshape(asarray(self.gain * q, dtype=dtype), shape=shape)

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}


# Keras 3's lower-case aliases of the classes.
constant, zeros, ones, identity = Constant, Zeros, Ones, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_normal, he_uniform = (
    GlorotUniform,
    GlorotNormal,
    HeNormal,
    HeUniform,
)
lecun_normal, lecun_uniform = LecunNormal, LecunUniform

# --- look-up ----------------------------------------------------------------------------------

_CLASSES = (
    Constant, Zeros, Ones, Identity, RandomNormal, RandomUniform, TruncatedNormal,
    VarianceScaling, GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal,
    LecunUniform, Orthogonal,
)  # fmt: skip
_NAMES = _objects.table(
    _CLASSES,
    {
        "uniform": RandomUniform,
        "normal": RandomNormal,
        "one": Ones,
        "zero": Zeros,
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
    },
)


def serialize(initializer) -> dict | None:
    """The Keras 3 config dict ``{"module", "class_name", "config", "registered_name"}``."""
    return _objects.serialize(initializer, "rillet.initializers")


def deserialize(config, custom_objects=None) -> Initializer:
    """An initializer from a name or a ``{"class_name", "config"}`` dict."""
    return _objects.deserialize(config, _NAMES, "initializers", custom_objects)


def get(identifier):
    """An initializer from None (None), a name (``"he_normal"``), a config dict, a class, an
    instance or a callable ``fn(shape, dtype=None)``."""
    return _objects.get(identifier, _NAMES, "initializers", Initializer)
