"""Random numbers from a counter-based generator (Philox-4x32-10), the same on every machine.

Every draw is a stateless random op of a **key** (see ``rillet.ops.random`` for the stream a
key names). The functions here only choose the key:

* ``stateless_*(..., seed=(a, b))`` use the key of the seed pair ``(a, b)``: the same
  numbers every time, as TF's ``tf.random.stateless_*``.
* The stateful functions (``normal``, ``uniform``, ..., and ``rl.dropout``) take the next
  seed pair from the global stream. After ``set_seed(s)``, the ``i``-th draw (counting from
  0) without an op seed uses the seed pair ``(s, i)``: it equals
  ``stateless_*(..., seed=(s, i))``.
* An op seed ``seed=o`` combines with the global seed as in TF: the ``n``-th draw with op
  seed ``o`` since ``set_seed(s)`` uses the seed pair ``(fold_seeds(s, o), n)`` (a Philox
  hash of the two seeds; see ``rillet.ops.random.fold_seeds``), so it neither shifts nor is
  shifted by the draws without an op seed. If ``set_seed`` was never called, ``s`` is TF's
  default 87654321 here, so op-seeded programs are reproducible anyway.
* Without ``set_seed``, the global seed is drawn from the OS once per process.

The same holds inside ``rl.function``: the stream's counters are hidden non-trainable
variables (``rillet.ops.random.GLOBAL_STREAM``) that a traced function reads and advances
with graph nodes. Eager draws and the draws of compiled functions count together, in the
order they run; each run of a compiled function takes the next seed pairs, in the order its
draws appear in the traced program (so every call draws new numbers), and tracing itself
draws nothing. Hence ``set_seed(s)`` followed by the same sequence of calls gives the same
numbers whether the functions run eagerly or compiled. ``Generator`` keeps its own counter
in a variable the same way.

Seeds are ints, taken modulo 2**64.

>>> import rillet as rl
>>> [round(u, 4) for u in rl.random.stateless_uniform((3,), seed=(1, 2)).tolist()]
[0.9031, 0.5505, 0.2462]
>>> rl.random.set_seed(7)
>>> a = rl.random.normal((2,))
>>> b = rl.random.stateless_normal((2,), seed=(7, 0))
>>> a.numpy().tolist() == b.numpy().tolist()
True
>>> draw = rl.function(lambda: rl.random.uniform((2,)))
>>> first, second = draw(), draw()  # the draws number 1 and 2 since set_seed(7)
>>> second.numpy().tolist() == rl.random.stateless_uniform((2,), seed=(7, 2)).numpy().tolist()
True
>>> rl.random.set_seed(None)  # back to a seed from the OS
"""

from __future__ import annotations

import numpy as np

from . import dtypes as _dtypes
from .errors import ArgumentError
from .ops import random as _ops
from .ops.creation import arange
from .tensor import Tensor

__all__ = [
    "set_seed",
    "key",
    "Generator",
    "normal",
    "uniform",
    "truncated_normal",
    "bernoulli",
    "categorical",
    "permutation",
    "shuffle",
    "stateless_normal",
    "stateless_uniform",
    "stateless_truncated_normal",
    "stateless_bernoulli",
    "stateless_categorical",
    "stateless_shuffle",
    "SeedGenerator",
    "randint",
    "dropout",
]


def set_seed(seed: int | None) -> None:
    """Set the global seed and restart its counters, so a program replays its numbers.

    ``set_seed(None)`` goes back to a seed drawn from the OS.
    """
    with _ops.errors_named("random.set_seed"):
        _ops.GLOBAL_STREAM.reset(None if seed is None else _ops.seed_int(seed))


def key(seed) -> Tensor:
    """The uint32 key (shape (4,)) that the random ops take, from a seed pair ``(a, b)``.

    >>> import rillet as rl
    >>> rl.random.key((1, 2)).numpy().tolist()
    [1, 0, 2, 0]
    """
    with _ops.errors_named("random.key"):
        return _ops.key_from_seed(seed)


# --- draws from a key: one function per distribution, shared by every entry point ----------------


def _normal(key, shape, mean, stddev, dtype):
    return _ops.stateless_random_normal(
        key, shape=_ops.as_shape(shape), mean=mean, stddev=stddev, dtype=_dtypes.as_dtype(dtype)
    )


def _truncated_normal(key, shape, mean, stddev, dtype):
    return _ops.stateless_truncated_normal(
        key, shape=_ops.as_shape(shape), mean=mean, stddev=stddev, dtype=_dtypes.as_dtype(dtype)
    )


def _uniform(key, shape, minval, maxval, dtype):
    dtype = _dtypes.as_dtype(dtype)
    if maxval is None:
        if not _dtypes.is_floating(dtype):
            raise ArgumentError(f"maxval is required for dtype={dtype.name}")
        maxval = 1.0
    return _ops.stateless_random_uniform(
        key, shape=_ops.as_shape(shape), minval=minval, maxval=maxval, dtype=dtype
    )


def _bernoulli(key, shape, p):
    if not isinstance(p, Tensor):
        probability = _ops.as_real(p, "p")
        if not 0.0 <= probability <= 1.0:
            raise ArgumentError(f"p={p} must be in [0, 1]")
        p = Tensor._wrap(np.asarray(probability))
    return _ops.stateless_random_bernoulli(key, p, shape=_ops.as_shape(shape))


def _categorical(key, logits, num_samples, dtype):
    return _ops.stateless_categorical(
        key, logits, num_samples=num_samples, dtype=_dtypes.as_dtype(dtype)
    )


def _permutation(key, x_or_n):
    if isinstance(x_or_n, (int, np.integer)) and not isinstance(x_or_n, bool):
        (n,) = _ops.as_shape((x_or_n,))
        return _ops.stateless_shuffle(key, arange(n))
    return _ops.stateless_shuffle(key, x_or_n)


# --- stateful draws from the global stream -------------------------------------------------------


def _global_key(seed):
    if isinstance(seed, Generator):  # Keras's SeedGenerator as seed=: draw from its stream
        return seed._key()
    return _ops.GLOBAL_STREAM.next_key(seed)


def normal(shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32, seed=None) -> Tensor:
    """Normal numbers with the given mean and standard deviation."""
    with _ops.errors_named("random.normal"):
        return _normal(_global_key(seed), shape, mean, stddev, dtype)


def uniform(shape, minval=0, maxval=None, dtype=_dtypes.float32, seed=None) -> Tensor:
    """Uniform numbers in ``[minval, maxval)``; ``maxval`` defaults to 1 for floats and is
    required for integer dtypes."""
    with _ops.errors_named("random.uniform"):
        return _uniform(_global_key(seed), shape, minval, maxval, dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32, seed=None) -> Tensor:
    """Normal numbers within two standard deviations of the mean."""
    with _ops.errors_named("random.truncated_normal"):
        return _truncated_normal(_global_key(seed), shape, mean, stddev, dtype)


def bernoulli(shape, p=0.5, seed=None) -> Tensor:
    """Booleans, True with probability ``p`` (a number or a tensor broadcast to ``shape``)."""
    with _ops.errors_named("random.bernoulli"):
        return _bernoulli(_global_key(seed), shape, p)


def categorical(logits, num_samples: int, dtype=_dtypes.int64, seed=None) -> Tensor:
    """``num_samples`` class indices per row of ``logits`` (batch, classes), drawn from
    ``softmax(logits)``."""
    with _ops.errors_named("random.categorical"):
        return _categorical(_global_key(seed), logits, num_samples, dtype)


def permutation(x_or_n, seed=None) -> Tensor:
    """A random permutation of ``range(n)`` (int64), or of ``x``'s rows."""
    with _ops.errors_named("random.permutation"):
        return _permutation(_global_key(seed), x_or_n)


def shuffle(x, seed=None) -> Tensor:
    """``x`` with its rows (axis 0) in random order."""
    with _ops.errors_named("random.shuffle"):
        return _ops.stateless_shuffle(_global_key(seed), x)


# --- stateless draws -----------------------------------------------------------------------------


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dtypes.float32) -> Tensor:
    """Normal numbers determined by the seed pair ``seed=(a, b)``."""
    with _ops.errors_named("random.stateless_normal"):
        return _normal(_ops.key_from_seed(seed), shape, mean, stddev, dtype)


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=_dtypes.float32) -> Tensor:
    """Uniform numbers in ``[minval, maxval)`` determined by the seed pair ``seed``."""
    with _ops.errors_named("random.stateless_uniform"):
        return _uniform(_ops.key_from_seed(seed), shape, minval, maxval, dtype)


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dtypes.float32) -> Tensor:
    """Truncated normal numbers (within two standard deviations) determined by ``seed``."""
    with _ops.errors_named("random.stateless_truncated_normal"):
        return _truncated_normal(_ops.key_from_seed(seed), shape, mean, stddev, dtype)


def stateless_bernoulli(shape, seed, p=0.5) -> Tensor:
    """Booleans, True with probability ``p``, determined by the seed pair ``seed``."""
    with _ops.errors_named("random.stateless_bernoulli"):
        return _bernoulli(_ops.key_from_seed(seed), shape, p)


def stateless_categorical(logits, num_samples: int, seed, dtype=_dtypes.int64) -> Tensor:
    """Class indices drawn from ``softmax(logits)``, determined by the seed pair ``seed``."""
    with _ops.errors_named("random.stateless_categorical"):
        return _categorical(_ops.key_from_seed(seed), logits, num_samples, dtype)


def stateless_shuffle(x, seed) -> Tensor:
    """``x`` with its rows in an order determined by the seed pair ``seed``."""
    with _ops.errors_named("random.stateless_shuffle"):
        return _ops.stateless_shuffle(_ops.key_from_seed(seed), x)


# --- Generator -----------------------------------------------------------------------------------


class Generator:
    """A random stream with its own seed and counter, like ``tf.random.Generator``.

    Its ``i``-th draw uses the seed pair ``(seed, i)``, so ``Generator.from_seed(s)`` replays
    the global stream after ``set_seed(s)``.

    >>> import rillet as rl
    >>> g = rl.random.Generator.from_seed(3)
    >>> g.uniform((2,)).numpy().tolist() == rl.random.stateless_uniform(
    ...     (2,), seed=(3, 0)).numpy().tolist()
    True
    """

    def __init__(self, seed: int | None = None):
        with _ops.errors_named("random.Generator"):
            seed = None if seed is None else _ops.seed_int(seed)
            self._stream = _ops.SeedStream(seed, name="generator_state")

    @classmethod
    def from_seed(cls, seed: int) -> Generator:
        """A generator replaying the same numbers for the same ``seed``."""
        if seed is None:
            with _ops.errors_named("random.Generator.from_seed"):
                raise ArgumentError("seed must be an int, got None")
        return cls(seed)

    @classmethod
    def from_non_deterministic_state(cls) -> Generator:
        """A generator seeded from the OS."""
        return cls(None)

    def _key(self) -> Tensor:
        return self._stream.next_key()

    def split(self, count: int = 1) -> list[Generator]:
        """``count`` new generators, each seeded by hashing this one's next seed pair.

        Splitting is Python work: inside ``rl.function`` it happens once, while tracing."""
        return [Generator(_ops.fold_seeds(*self._stream.next_pair())) for _ in range(count)]

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32) -> Tensor:
        with _ops.errors_named("Generator.normal"):
            return _normal(self._key(), shape, mean, stddev, dtype)

    def uniform(self, shape, minval=0, maxval=None, dtype=_dtypes.float32) -> Tensor:
        with _ops.errors_named("Generator.uniform"):
            return _uniform(self._key(), shape, minval, maxval, dtype)

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=_dtypes.float32) -> Tensor:
        with _ops.errors_named("Generator.truncated_normal"):
            return _truncated_normal(self._key(), shape, mean, stddev, dtype)

    def bernoulli(self, shape, p=0.5) -> Tensor:
        with _ops.errors_named("Generator.bernoulli"):
            return _bernoulli(self._key(), shape, p)

    def categorical(self, logits, num_samples: int, dtype=_dtypes.int64) -> Tensor:
        with _ops.errors_named("Generator.categorical"):
            return _categorical(self._key(), logits, num_samples, dtype)

    def permutation(self, x_or_n) -> Tensor:
        with _ops.errors_named("Generator.permutation"):
            return _permutation(self._key(), x_or_n)


class SeedGenerator(Generator):
    """Keras's ``keras.random.SeedGenerator``: a stream passed as ``seed=`` to the draws, each
    draw taking its next key.

    >>> import rillet as rl
    >>> a = rl.random.normal((2,), seed=rl.random.SeedGenerator(7))
    >>> b = rl.random.normal((2,), seed=rl.random.SeedGenerator(7))
    >>> a.numpy().tolist() == b.numpy().tolist()
    True
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs):
        super().__init__(seed)


def randint(shape, minval, maxval, dtype="int32", seed=None) -> Tensor:
    """Integers in ``[minval, maxval)`` (Keras's ``keras.random.randint``)."""
    with _ops.errors_named("random.randint"):
        return _uniform(_global_key(seed), shape, minval, maxval, _dtypes.as_dtype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None) -> Tensor:
    """``inputs`` with a fraction ``rate`` of entries zeroed and the rest scaled by
    ``1 / (1 - rate)`` (Keras's ``keras.random.dropout``)."""
    from .ops.random import dropout as _dropout

    if isinstance(seed, Generator):
        seed = int(seed.uniform((), 0, 2**31 - 1, dtype=_dtypes.int64))
    return _dropout(inputs, rate, noise_shape=noise_shape, seed=seed)
