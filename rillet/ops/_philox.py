"""The Philox-4x32-10 stream behind the random ops, and the float transforms they share.

A key's stream and how draws read it are described in :mod:`rillet.ops.random`. Words can be
read from any position (``start``), so a large draw is made span by span (``in_spans``) with
the same numbers as in one pass.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dtypes

# --- Philox-4x32-10 ------------------------------------------------------------------------------

MASK32 = 0xFFFFFFFF
MASK64 = 2**64 - 1
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # key schedule increments (golden ratio, sqrt(3) - 1)


def philox4x32(xp, counter, key, rounds: int = 10) -> tuple:
    """Philox-4x32 of ``counter`` (four uint32 arrays, broadcast together) under ``key``
    (two ints below 2**32): four uint32 arrays.

    >>> [hex(int(w)) for w in philox4x32(np, (0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    words = xp.broadcast_arrays(*(xp.asarray(c).astype(xp.uint32) for c in counter))
    c0, c1, c2, c3 = words
    k0, k1 = int(key[0]), int(key[1])
    for r in range(rounds):
        if r:  # bump the key between rounds
            k0, k1 = (k0 + _W0) & MASK32, (k1 + _W1) & MASK32
        c0, c1, c2, c3 = _philox_round(xp, c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


def _philox_round(xp, c0, c1, c2, c3, k0: int, k1: int) -> tuple:
    # 32x32 -> 64-bit products are exact in uint64; split them into high and low words.
    p0 = c0.astype(xp.uint64) * xp.uint64(_M0)
    p1 = c2.astype(xp.uint64) * xp.uint64(_M1)
    hi0, lo0 = (p0 >> xp.uint64(32)).astype(xp.uint32), p0.astype(xp.uint32)
    hi1, lo1 = (p1 >> xp.uint64(32)).astype(xp.uint32), p1.astype(xp.uint32)
    return hi1 ^ c1 ^ xp.uint32(k0), lo1, hi0 ^ c3 ^ xp.uint32(k1), lo0


_CHUNK = 65536  # blocks per pass: the round temporaries stay in cache (3-4x faster on CPU)


def random_words(xp, key, count: int, start: int = 0):
    """Words ``start .. start + count - 1`` of ``key``'s stream (uint32)."""
    k0, k1, k2, k3 = (int(k) for k in key)
    first, stop = start // 4, -(-(start + count) // 4)  # the blocks holding those words
    words = xp.empty((stop - first, 4), dtype=xp.uint32)
    for begin in range(first, stop, _CHUNK):
        block = xp.arange(begin, min(begin + _CHUNK, stop), dtype=xp.uint64)
        counter = (block & xp.uint64(MASK32), block >> xp.uint64(32), k2, k3)
        rows = slice(begin - first, begin - first + block.shape[0])
        for i, w in enumerate(philox4x32(xp, counter, (k0, k1))):
            words[rows, i] = w
    skip = start - 4 * first
    return words.reshape(-1)[skip : skip + count]


def words64(xp, key, count: int, start: int = 0):
    """64-bit words ``start ..`` (``count`` of them), each from two consecutive 32-bit words
    (high word first)."""
    w = random_words(xp, key, 2 * count, 2 * start).reshape(count, 2).astype(xp.uint64)
    return (w[:, 0] << xp.uint64(32)) | w[:, 1]


def unit_uniform(xp, key, count: int, bits: int, start: int = 0):
    """Uniforms ``start .. start + count - 1`` of ``key``'s stream: float64 in [0, 1),
    multiples of ``2**-bits`` (``bits`` <= 32 from one word each, or 53 from two)."""
    if bits <= 32:
        top = random_words(xp, key, count, start) >> xp.uint32(32 - bits)
        return top.astype(xp.float64) * 2.0**-bits
    top = words64(xp, key, count, start) >> xp.uint64(64 - bits)  # below 2**53: exact
    return top.astype(xp.float64) * 2.0**-bits


SPAN = 1 << 16  # elements per pass of a large draw (a multiple of 4): 512 KiB float64 arrays


def in_spans(xp, count: int, dtype, draw):
    """``count`` numbers of ``dtype``, made by ``draw(start, stop)`` (elements ``start ..
    stop - 1``, of ``dtype``) over spans of at most ``SPAN`` elements, so that the float64
    working arrays of a large draw (a big layer's initial weights) stay one span long."""
    if count <= SPAN:
        return draw(0, count)
    result = xp.empty(count, dtype=dtype)
    for start in range(0, count, SPAN):
        stop = min(start + SPAN, count)
        result[start:stop] = draw(start, stop)
    return result


def significand_bits(dtype) -> int:
    info = _dtypes.finfo(dtype) if dtype.kind == "V" else np.finfo(dtype)  # V: bfloat16
    return info.nmant + 1


def sample_bits(dtype) -> int:
    """Uniform bits behind one sample of a transformed distribution (normal, ...)."""
    return 53 if dtype == _dtypes.float64 else 32


# --- the inverse normal CDF, for truncated normals -----------------------------------------------

# Acklam's rational approximation (relative error < 1.2e-9), refined below by one Newton step.
_ACKLAM_A = (
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.3577518672690,
    -30.66479806614716,
    2.506628277459239,
)
_ACKLAM_B = (
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
    1.0,
)
_ACKLAM_C = (
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
)
_ACKLAM_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416, 1.0)
_ACKLAM_SPLIT = 0.02425
# Maclaurin series of erf: erf(z) = 2/sqrt(pi) * z * sum_n c_n z^(2n). For |z| <= sqrt(2)
# (|x| <= 2 standard deviations) 30 terms reach float64 precision.
_ERF_SERIES = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(30))
# Phi(-2) and Phi(2), the normal CDF at the truncation points (literals: no libm dependence).
PHI_LOW = 0.022750131948179195
PHI_HIGH = 0.9772498680518208


def _polyval(xp, coefficients, x):
    result = xp.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        result *= x
        result += c
    return result


def _acklam(xp, p):
    q = p - 0.5
    r = q * q
    x = q * _polyval(xp, _ACKLAM_A, r) / _polyval(xp, _ACKLAM_B, r)
    tail = (p < _ACKLAM_SPLIT) | (p > 1 - _ACKLAM_SPLIT)  # a few per thousand here
    if tail.any():
        p_tail = p[tail]
        t = xp.sqrt(-2.0 * xp.log(xp.minimum(p_tail, 1.0 - p_tail)))
        x_tail = _polyval(xp, _ACKLAM_C, t) / _polyval(xp, _ACKLAM_D, t)
        x[tail] = xp.where(p_tail > 0.5, -x_tail, x_tail)
    return x


def _normal_cdf_central(xp, x):
    """Phi(x) for |x| <= 2, from the erf series."""
    z = x / math.sqrt(2.0)
    erf = 2.0 / math.sqrt(math.pi) * z * _polyval(xp, _ERF_SERIES[::-1], z * z)
    return 0.5 + 0.5 * erf


def ndtri_central(xp, p, refine: bool = True):
    """The standard normal quantile for ``p`` in [Phi(-2), Phi(2)]: to float64 precision,
    or to Acklam's relative 1.2e-9 (far below float32's 6e-8) when not ``refine``."""
    x = xp.clip(_acklam(xp, p), -2.0, 2.0)
    if not refine:
        return x
    # One Newton step on Phi(x) = p squares Acklam's 1e-9 relative error away.
    density = xp.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return x - (_normal_cdf_central(xp, x) - p) / density
