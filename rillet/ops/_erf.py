"""NumPy-style kernels for the error function, used by ``erf`` and ``gelu`` in
:mod:`rillet.ops.elementwise`. Functions of ``xp`` and arrays only (no ops, no gradients).

float64 uses W. J. Cody's three-range rational approximations (relative error below
1e-15); float32 uses the single-range rational approximation of XLA and Eigen (error below
5e-7), a quarter of the work.
"""

from __future__ import annotations


def erf(xp, x, out=None):
    """erf of a float32 or float64 array, written into ``out`` when given."""
    if x.dtype == xp.float32:
        return _erf_float32(xp, x, out=out)
    return _erf_float64(xp, x, out=out)


# float64: W. J. Cody, "Rational Chebyshev approximations for the error function", Math.
# Comp. 23 (1969) 631-638, with the coefficients of Netlib SPECFUN's CALERF. Three ranges of |x|,
# each a rational function R: erf = x R(x^2) for |x| <= 0.46875; erfc = exp(-x^2) R(x) up to
# 4; erfc = exp(-x^2) (1/sqrt(pi) - R(1/x^2) / x^2) / x beyond. Working from erfc away from
# zero avoids the cancellation in 1 - erfc near 0. Relative error is below 1e-15 in float64.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)  # fmt: skip
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
           2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
           2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
           1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
           3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
           1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
           6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
INV_SQRT_PI = 5.6418958354775628695e-1
_ERF_SMALL, _ERF_MEDIUM, _ERF_ONE = 0.46875, 4.0, 6.0  # erfc(6) < 2e-17: erf is 1 beyond


# The helpers below work in place on arrays they own: a fresh temporary per step would cost
# more than the arithmetic on large arrays (new pages from the OS for every multi-MB buffer).


def _rational(z, num_coeffs, den_coeffs, n: int):
    """Cody's nested evaluation of (...((c[n+1] z + c[0]) z + c[1]) z ... + c[n]) over
    (...((z + d[0]) z + d[1]) z ... + d[n]) (``n`` inner steps, z never raised to a power)."""
    num, den = num_coeffs[n + 1] * z, z.copy()
    for c, d in zip(num_coeffs[:n], den_coeffs[:n]):
        num += c
        num *= z
        den += d
        den *= z
    num += num_coeffs[n]
    den += den_coeffs[n]
    num /= den
    return num


def _exp_minus_square(xp, y):
    """``exp(-y^2)`` as ``exp(-t^2) exp(-(y - t)(y + t))`` with ``t`` = y rounded down to a
    multiple of 1/16 (so ``t^2`` is exact), so that the rounding error of ``y^2`` is not
    amplified by exp."""
    t = 16.0 * y
    xp.floor(t, out=t)
    t *= 1.0 / 16.0
    rest = y - t
    rest *= y + t
    xp.negative(rest, out=rest)
    xp.exp(rest, out=rest)
    t *= t
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    t *= rest
    return t


def _erfc_medium(xp, y):
    """erfc(y) for 0.46875 <= y <= 4."""
    result = _rational(y, _ERFC_C, _ERFC_D, 7)
    result *= _exp_minus_square(xp, y)
    return result


def _erfc_large(xp, y):
    """erfc(y) for 4 <= y <= 6 (past 6, erfc < 2e-17 and erf rounds to 1)."""
    z = y * y
    xp.reciprocal(z, out=z)
    tail = _rational(z, _ERFC_P, _ERFC_Q, 4)
    tail *= z
    xp.subtract(INV_SQRT_PI, tail, out=tail)
    tail /= y
    tail *= _exp_minus_square(xp, y)
    return tail


def _blend(xp, take_first, first, second):
    """``where(take_first, first, second)`` for finite ``first`` (both arrays ours), as
    arithmetic: np.where branches per element, many times slower on unpredictable masks."""
    weight = take_first.astype(first.dtype)
    first *= weight
    xp.subtract(1.0, weight, out=weight)
    second *= weight
    first += second
    return first


def _erf_float64(xp, x, out=None):
    # erf(|x|): each range's formula runs on the whole array clamped into its range (so it
    # stays finite; NaN stays NaN) and the results are blended; erf is odd, so the sign of x
    # is restored at the end. Ranges no element reaches are skipped. (1-d, as NumPy returns
    # scalars, which cannot be updated in place, for 0-d arrays.)
    y = xp.abs(x.reshape(-1))
    top = y.max() if y.size else 0.0
    y_small = xp.minimum(y, _ERF_SMALL)
    result = _rational(y_small * y_small, _ERF_A, _ERF_B, 3)
    result *= y_small
    if not top <= _ERF_SMALL:  # NaN also runs every range
        y_far = xp.clip(y, _ERF_SMALL, _ERF_ONE)
        erfc = _erfc_medium(xp, xp.minimum(y_far, _ERF_MEDIUM))
        if not top <= _ERF_MEDIUM:
            erfc_large = _erfc_large(xp, xp.maximum(y_far, _ERF_MEDIUM))
            erfc = _blend(xp, y_far <= _ERF_MEDIUM, erfc, erfc_large)
        xp.subtract(1.0, erfc, out=erfc)
        result = _blend(xp, y <= _ERF_SMALL, result, erfc)
    return xp.copysign(result.reshape(x.shape), x, out=out)


# float32 (and float16/bfloat16, computed in float32): the single rational approximation
# that XLA and Eigen use, erf(x) = x P(x^2) / Q(x^2) with x clamped to [-4, 4] (erf rounds to
# +-1 beyond); error below 5e-7, and a quarter of the work of the three ranges above.
_ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
            -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
            -1.60960333262415e-02)  # fmt: skip
_ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
            -7.37332916720468e-03, -1.42647390514189e-02)  # fmt: skip


def _polynomial(z, coeffs):
    """Horner's rule, highest power first, updating the running value in place."""
    result = z * coeffs[0]
    result += coeffs[1]
    for c in coeffs[2:]:
        result *= z
        result += c
    return result


def _erf_float32(xp, x, out=None):
    x = xp.clip(x, -4.0, 4.0)
    z = x * x
    p = _polynomial(z, _ERF32_P)
    p *= x
    p /= _polynomial(z, _ERF32_Q)
    return xp.clip(p, -1.0, 1.0, out=out)  # the rational overshoots 1 by an ulp or two
