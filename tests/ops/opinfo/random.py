"""Random ops: dropout's deterministic parts (a fixed key) against a pure-Python Philox.

The draws themselves are tested in tests/test_random.py (known answers, statistics).
"""

import math

import numpy as np

import rillet as rl
from rillet.ops import random as random_ops
from rillet.testing.opinfo import OpInfo, Sample, away_from

MASK32 = 0xFFFFFFFF


def philox_reference(counter, key, rounds=10):
    """Philox-4x32 on Python ints, written from Salmon et al. (2011), one block at a time."""
    x0, x1, x2, x3 = counter
    k0, k1 = key
    for i in range(rounds):
        if i > 0:
            k0 = (k0 + 0x9E3779B9) % 2**32
            k1 = (k1 + 0xBB67AE85) % 2**32
        a = 0xD2511F53 * x0
        b = 0xCD9E8D57 * x2
        x0, x1, x2, x3 = (b >> 32) ^ x1 ^ k0, b % 2**32, (a >> 32) ^ x3 ^ k1, a % 2**32
    return [x0, x1, x2, x3]


def key_words(seed):
    """The documented key of a stateless seed pair (a, b): the low and high halves of each."""
    a, b = (s % 2**64 for s in seed)
    return [a % 2**32, a >> 32, b % 2**32, b >> 32]


def stream_reference(key, count):
    """The first ``count`` words of a key's stream: block i is Philox of (i_lo, i_hi, k2, k3)."""
    k = [int(v) for v in np.asarray(key)]
    words = []
    for block in range(math.ceil(count / 4)):
        words += philox_reference([block % 2**32, block >> 32, k[2], k[3]], [k[0], k[1]])
    return words[:count]


def keep_reference(key, shape):
    """Dropout keeps an element when its word / 2**32 is at least the rate."""
    words = stream_reference(key, math.prod(shape))
    return np.array([w / 2**32 for w in words]).reshape(shape)


def _dropout_ref(x, key, rate, noise_shape=None):
    shape = (
        x.shape
        if noise_shape is None
        else tuple(s if d is None else d for d, s in zip(noise_shape, x.shape))
    )
    return x * (keep_reference(key, shape) >= rate) / (1.0 - rate)


def _dropout_samples(rng, dtype):
    key = rl.random.key((5, 11))
    cases = [
        ((3, 4), 0.5, None),
        ((2, 3, 4), 0.25, (2, 1, 4)),
        ((2, 3), 0.0, None),
        ((2, 3, 2), 0.7, (None, 1, None)),
        ((4,), 0.4, (1,)),
    ]
    return [
        Sample((away_from(rng, shape, dtype), key), {"rate": r, "noise_shape": n})
        for shape, r, n in cases
    ]


def _mask_ref(key, shape, rate, dtype):
    return (keep_reference(key, shape) >= rate) / (1.0 - rate)


def _mask_samples(rng, dtype):
    key = rl.random.key((3, 2**40 + 1))
    return [
        Sample((key,), {"shape": s, "rate": r, "dtype": dtype})
        for s, r in [((3, 5), 0.3), ((7,), 0.0), ((2, 2, 2), 0.9)]
    ]


def _stream_key_ref(state):
    """A state holds the seed pair's two 64-bit words as int64 bits: its key is theirs."""
    return np.array(key_words([int(w) % 2**64 for w in state]), dtype=np.uint32)


def _stream_key_samples(rng, dtype):
    pairs = [(0, 0), (5, 11), (2**64 - 1, 2**63 + 7), (123456789 * 2**32 + 3, 2**32)]
    return [Sample((np.array([a, b], dtype=np.uint64).astype(np.int64),)) for a, b in pairs]


OPS = [
    OpInfo(
        "stream_key",
        random_ops.stream_key,
        _stream_key_ref,
        _stream_key_samples,
        dtypes=(np.int64,),
        grad=False,
    ),
    OpInfo(
        "stateless_dropout",
        random_ops.stateless_dropout,
        _dropout_ref,
        _dropout_samples,
        grad2=True,
    ),
    OpInfo("dropout_mask", random_ops.dropout_mask, _mask_ref, _mask_samples, grad=False),
]

UNTABLED = {
    name: "random draws: tested in tests/test_random.py (known answers and statistics)"
    for name in (
        "stateless_random_uniform",
        "stateless_random_normal",
        "stateless_truncated_normal",
        "stateless_random_bernoulli",
        "stateless_categorical",
        "stateless_shuffle",
    )
}
