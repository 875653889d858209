"""Linear algebra: matmul, einsum, tensordot, transposes, outer, trace, diagonal."""

from __future__ import annotations

import functools
import math
import string

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, AxisError, DTypeError, ShapeError
from . import _rules as rules
from . import creation
from ._registry import Spec, defop
from .reduction import _distinct_axes, _sum_dtype

__all__ = [
    "matmul", "transpose", "permute_dims", "matrix_transpose",
    "einsum", "tensordot", "outer", "inner", "dot", "vecdot",
    "trace", "diagonal", "diag_embed",
]  # fmt: skip


def _matmul_rule(a, b):
    if len(a.shape) == 0 or len(b.shape) == 0:
        raise ShapeError(
            f"inputs must be at least 1-D, got a{rules.fmt(a.shape)}, b{rules.fmt(b.shape)}"
        )
    if a.dtype == _dtypes.bool_:
        raise DTypeError("matmul does not take bool inputs")
    a_shape = (1,) + tuple(a.shape) if len(a.shape) == 1 else tuple(a.shape)
    b_shape = tuple(b.shape) + (1,) if len(b.shape) == 1 else tuple(b.shape)
    k_a, k_b = a_shape[-1], b_shape[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise ShapeError(
            f"cannot contract a{rules.fmt(a.shape)} with b{rules.fmt(b.shape)}: {k_a} != {k_b}"
        )
    batch = rules.broadcast_shapes(a_shape[:-2], b_shape[:-2], names=("a batch", "b batch"))
    shape = batch + a_shape[-2:-1] * (len(a.shape) > 1) + b_shape[-1:] * (len(b.shape) > 1)
    return Spec(shape, a.dtype)


@defop(rule=_matmul_rule, promote=True)
def matmul(xp, a, b, *, out=None):
    """Matrix product with NumPy semantics: batched, broadcasting, 1-D operands promoted."""
    return xp.matmul(a, b, out=out)


@matmul.defvjp
def _matmul_vjp(g, y, a, b):
    from .shapes import reshape

    # Treat 1-D operands as matrices (a row, b a column), as the forward pass does.
    a2 = reshape(a, shape=(1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, shape=b.shape + (1,)) if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1 or b.ndim == 1:
        g_shape = g.shape + (1,) * (b.ndim == 1)
        if a.ndim == 1:
            g_shape = g_shape[:-1] + (1,) + g_shape[-1:]
        g2 = reshape(g, shape=g_shape)
    g_a = matmul(g2, matrix_transpose(b2))
    g_b = matmul(matrix_transpose(a2), g2)
    if a.ndim == 1:
        g_a = reshape(g_a, shape=g_a.shape[:-2] + g_a.shape[-1:])
    if b.ndim == 1:
        g_b = reshape(g_b, shape=g_b.shape[:-1])
    return (g_a, g_b)  # the engine sums broadcast batch axes away


def _transpose_rule(x, *, axes=None):
    ndim = len(x.shape)
    perm = _permutation(axes, ndim)
    return Spec(tuple(x.shape[i] for i in perm), x.dtype)


def _permutation(axes, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim - 1, -1, -1))
    perm = tuple(rules.normalize_axis(a, ndim, "axes") for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeError(f"axes={tuple(axes)} is not a permutation of the {ndim} axes")
    return perm


@defop(rule=_transpose_rule, low_precision="native")
def transpose(xp, x, *, axes=None, out=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return xp.transpose(x, None if axes is None else _permutation(axes, x.ndim))


@transpose.defvjp
def _transpose_vjp(g, y, x, *, axes):
    perm = _permutation(axes, x.ndim)
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return (transpose(g, axes=tuple(inverse)),)


def permute_dims(x, axes):
    """Array-API name for :func:`transpose` with explicit axes."""
    return transpose(x, axes=axes)


def matrix_transpose(x):
    """Swap the last two axes."""
    ndim = len(x.shape)
    if ndim < 2:
        raise ShapeError(f"needs rank >= 2, got shape {tuple(x.shape)}", op="matrix_transpose")
    return transpose(x, axes=tuple(range(ndim - 2)) + (ndim - 1, ndim - 2))


# --- einsum ------------------------------------------------------------------------------

_LETTERS = string.ascii_letters


@functools.lru_cache(maxsize=1024)
def _parse_einsum(subscripts: str, ranks: tuple[int, ...]) -> tuple[tuple[str, ...], str]:
    """Explicit subscripts: each ``...`` spelled out in spare letters, the output written.

    Ellipsis axes are right-aligned and broadcast as in NumPy; an implicit output is the
    ellipsis axes followed by the letters used once, sorted (NumPy's rule).
    """
    text = subscripts.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ShapeError(
            f"subscripts {subscripts!r} name {len(terms)} operand(s), got {len(ranks)}"
        )
    for term in terms + [rhs]:
        if "->" in term or not set(term.replace("...", "", 1)) <= set(_LETTERS):
            raise ArgumentError(
                f"subscripts {subscripts!r}: bad term {term!r}; expected letters, at most one "
                "'...' per term, and at most one '->'"
            )
    spare = [c for c in _LETTERS if c not in text]
    named = [len(t.replace("...", "")) for t in terms]
    for i, (term, n, rank) in enumerate(zip(terms, named, ranks)):
        if rank != n and not ("..." in term and rank > n):
            raise ShapeError(
                f"subscripts {subscripts!r}: operand {i} has rank {rank} but {term!r} names "
                f"{n} axes"
            )
    n_ell = max([r - n for t, n, r in zip(terms, named, ranks) if "..." in t], default=0)
    if n_ell > len(spare):
        raise ShapeError(f"subscripts {subscripts!r}: too many axes under '...'")
    ell = "".join(spare[:n_ell])
    full = tuple(t.replace("...", ell[n_ell - (r - n) :]) for t, n, r in zip(terms, named, ranks))
    return full, _einsum_output(subscripts, lhs, rhs if arrow else None, ell)


def _einsum_output(subscripts: str, lhs: str, rhs: str | None, ell: str) -> str:
    if rhs is None:
        once = sorted(c for c in set(lhs) if c in _LETTERS and lhs.count(c) == 1)
        return ell + "".join(once)
    output = rhs.replace("...", ell)
    for c in rhs.replace("...", ""):
        if c not in lhs or rhs.count(c) > 1:
            what = "repeats" if rhs.count(c) > 1 else "is not in any input of"
            raise ArgumentError(f"subscripts {subscripts!r}: output letter {c!r} {what} them")
    return output


def _letter_sizes(terms: tuple[str, ...], shapes: list[tuple], subscripts: str) -> dict:
    """Each letter's size: equal wherever it appears, except that 1 broadcasts across
    operands (as in NumPy); None where unknown."""
    sizes: dict[str, tuple] = {}  # letter -> (size, operand index)
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        _check_diagonals(term, shape, i, subscripts)
        for c, size in zip(term, shape):
            seen, where = sizes.get(c, (1, i))
            if seen == 1 or (seen is None and size != 1):
                sizes[c] = (size, i)  # 1 broadcasts; an unknown size takes a known one
            elif size not in (None, 1, seen):
                raise ShapeError(
                    f"subscripts {subscripts!r}: {c!r} has size {seen} in operand {where} "
                    f"({terms[where]!r}, shape {rules.fmt(shapes[where])}) but size {size} in "
                    f"operand {i} ({term!r}, shape {rules.fmt(shape)})"
                )
    return {c: size for c, (size, _) in sizes.items()}


def _check_diagonals(term: str, shape: tuple, i: int, subscripts: str) -> None:
    """A letter repeated within one operand (a diagonal) must name axes of one size."""
    for c in set(term):
        found = {s for s, letter in zip(shape, term) if letter == c} - {None}
        if len(found) > 1:
            raise ShapeError(
                f"subscripts {subscripts!r}: operand {i} ({term!r}, shape {rules.fmt(shape)}) "
                f"repeats {c!r} over axes of different sizes {sorted(found)}"
            )


def _einsum_rule(*operands, subscripts):
    if not isinstance(subscripts, str):
        raise ArgumentError(f"subscripts must be a string, got {subscripts!r}")
    if not operands:
        raise ArgumentError(f"subscripts {subscripts!r} need at least one operand")
    shapes = [tuple(o.shape) for o in operands]
    terms, output = _parse_einsum(subscripts, tuple(len(s) for s in shapes))
    sizes = _letter_sizes(terms, shapes, subscripts)
    return Spec(tuple(sizes[c] for c in output), operands[0].dtype)


@defop(rule=_einsum_rule, name="einsum", variadic=True, promote=True)
def _einsum(xp, *operands, subscripts, out=None):
    terms, output = _parse_einsum(subscripts, tuple(o.ndim for o in operands))
    if len(operands) == 2:
        result = _contract_pair(xp, terms, output, *operands)
        if result is not None:
            return result
    # optimize: pairwise contractions in a good order, through BLAS where it can
    spec = f"{','.join(terms)}->{output}"
    return xp.einsum(spec, *operands, optimize=len(operands) > 2, out=out)


def _contract_pair(xp, terms, output: str, a, b):
    """A two-operand einsum with a contraction as one batched matmul (BLAS), or None when it
    is not one (diagonals, broadcasting, nothing to contract). NumPy's own einsum reaches
    BLAS only through tensordot, which has no batch axes."""
    (ta, tb), sizes = terms, {}
    for term, x in ((ta, a), (tb, b)):
        if len(set(term)) < len(term):
            return None
        if any(sizes.setdefault(c, n) != n for c, n in zip(term, x.shape)):
            return None
    contracted = [c for c in ta if c in tb and c not in output]
    if not contracted:
        return None
    a, ta = _sum_alone(xp, a, ta, tb + output)
    b, tb = _sum_alone(xp, b, tb, ta + output)
    batch = [c for c in output if c in ta and c in tb]
    free_a, free_b = [c for c in ta if c not in tb], [c for c in tb if c not in ta]
    a3 = _as_3d(xp, a, ta, batch, free_a, contracted, sizes)
    b3 = _as_3d(xp, b, tb, batch, contracted, free_b, sizes)
    order = batch + free_a + free_b
    result = xp.matmul(a3, b3).reshape([sizes[c] for c in order])
    return xp.transpose(result, [order.index(c) for c in output])


def _sum_alone(xp, x, term: str, elsewhere: str):
    """Sum out the letters found in ``term`` alone."""
    alone = tuple(i for i, c in enumerate(term) if c not in elsewhere)
    if not alone:
        return x, term
    return xp.sum(x, axis=alone), "".join(c for c in term if c in elsewhere)


def _as_3d(xp, x, term: str, batch, rows, cols, sizes):
    """``x`` transposed to (batch, rows, cols) letters and reshaped to three axes."""
    x = xp.transpose(x, [term.index(c) for c in batch + rows + cols])
    return x.reshape([math.prod(sizes[c] for c in group) for group in (batch, rows, cols)])


def einsum(subscripts: str, *operands):
    """Einstein summation, as ``numpy.einsum``: implicit or explicit (``->``) output,
    ``...`` for broadcast axes, repeated letters for diagonals and traces.

    >>> import rillet as rl
    >>> a, b = rl.ones((2, 3)), rl.ones((3, 4))
    >>> rl.einsum("ij,jk->ik", a, b).shape
    (2, 4)
    >>> float(rl.einsum("ii", rl.eye(3)))
    3.0
    """
    return _einsum(list(operands), subscripts=subscripts)


@_einsum.defvjp
def _einsum_vjp(g, y, *operands, subscripts):
    terms, output = _parse_einsum(subscripts, tuple(len(o.shape) for o in operands))
    sizes = _letter_sizes(terms, [tuple(o.shape) for o in operands], subscripts)
    return tuple(
        _einsum_operand_grad(g, output, terms, operands, k, sizes)
        if _dtypes.is_floating(operands[k].dtype)
        else None
        for k in range(len(operands))
    )


def _einsum_operand_grad(g, output: str, terms, operands, k: int, sizes: dict):
    """The gradient of operand ``k``: the einsum of g with the other operands, written out to
    operand k's subscripts."""
    from .shapes import broadcast_to

    used = set(output).union(*terms)
    spare = iter(c for c in _LETTERS if c not in used)
    target, extra_terms, extra_ops = "", [], []
    for c in terms[k]:
        if c in target:  # a repeated letter (a diagonal): the gradient lives on it alone
            fresh = next(spare)
            target += fresh
            extra_terms.append(c + fresh)
            extra_ops.append(creation.eye(sizes[c], dtype=g.dtype))
        else:
            target += c
    others = [j for j in range(len(terms)) if j != k]
    present = set(output).union(*(terms[j] for j in others), *extra_terms)
    for c in dict.fromkeys(terms[k]):
        if c not in present:  # summed within operand k alone: the gradient is constant along it
            extra_terms.append(c)
            extra_ops.append(creation.ones(sizes[c], dtype=g.dtype))
    inputs = [output] + [terms[j] for j in others] + extra_terms
    grad = einsum(f"{','.join(inputs)}->{target}", g, *(operands[j] for j in others), *extra_ops)
    full = tuple(sizes[c] for c in terms[k])
    # a letter of size 1 everywhere but in operand k comes back with size 1: broadcast it
    return grad if tuple(grad.shape) == full else broadcast_to(grad, shape=full)


# --- tensordot, outer, inner, dot, vecdot ------------------------------------------------


def _tensordot_axes(axes, a_shape: tuple, b_shape: tuple) -> tuple[tuple, tuple]:
    """``axes`` (an int N, or a pair of axis sequences) as two tuples of non-negative axes."""
    na, nb = len(a_shape), len(b_shape)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(na, nb):
            raise ArgumentError(
                f"axes={axes} must be between 0 and the smaller rank, got "
                f"a{rules.fmt(a_shape)} and b{rules.fmt(b_shape)}"
            )
        return tuple(range(na - axes, na)), tuple(range(axes))
    try:
        a_axes, b_axes = axes
    except (TypeError, ValueError):
        raise ArgumentError(f"axes must be an int or a pair of axis lists, got {axes!r}") from None
    a_axes = (a_axes,) if isinstance(a_axes, (int, np.integer)) else tuple(a_axes)
    b_axes = (b_axes,) if isinstance(b_axes, (int, np.integer)) else tuple(b_axes)
    if len(a_axes) != len(b_axes):
        raise ShapeError(
            f"axes={axes!r} pair {len(a_axes)} axes of a{rules.fmt(a_shape)} with "
            f"{len(b_axes)} axes of b{rules.fmt(b_shape)}"
        )
    return _distinct_axes(a_axes, na, "a axes"), _distinct_axes(b_axes, nb, "b axes")


def _tensordot_rule(a, b, *, axes=2):
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)
    a_axes, b_axes = _tensordot_axes(axes, a_shape, b_shape)
    a_sizes = tuple(a_shape[i] for i in a_axes)
    b_sizes = tuple(b_shape[i] for i in b_axes)
    if any(m is not None and n is not None and m != n for m, n in zip(a_sizes, b_sizes)):
        raise ShapeError(
            f"cannot contract a{rules.fmt(a_shape)} over axes {a_axes} with "
            f"b{rules.fmt(b_shape)} over axes {b_axes}: sizes {a_sizes} != {b_sizes}"
        )
    free_a = tuple(s for i, s in enumerate(a_shape) if i not in a_axes)
    free_b = tuple(s for i, s in enumerate(b_shape) if i not in b_axes)
    return Spec(free_a + free_b, a.dtype)


@defop(rule=_tensordot_rule, promote=True)
def tensordot(xp, a, b, *, axes=2, out=None):
    """Contract the last ``axes`` axes of ``a`` with the first of ``b``, or the axes paired
    by ``axes=(a_axes, b_axes)``; free axes of a come first, then those of b."""
    return xp.tensordot(a, b, axes=_tensordot_axes(axes, a.shape, b.shape))


def _tensordot_subscripts(axes, a_ndim: int, b_ndim: int) -> tuple[str, str, str]:
    """Einsum subscripts (a, b, output) of a tensordot: a contracted pair shares a letter."""
    a_axes, b_axes = _tensordot_axes(axes, (None,) * a_ndim, (None,) * b_ndim)
    a_sub = _LETTERS[:a_ndim]
    pairs = dict(zip(b_axes, a_axes))
    fresh = iter(_LETTERS[a_ndim:])
    b_sub = "".join(a_sub[pairs[i]] if i in pairs else next(fresh) for i in range(b_ndim))
    out = "".join(c for i, c in enumerate(a_sub) if i not in a_axes)
    out += "".join(c for i, c in enumerate(b_sub) if i not in b_axes)
    return a_sub, b_sub, out


@tensordot.defvjp
def _tensordot_vjp(g, y, a, b, *, axes):
    a_sub, b_sub, out = _tensordot_subscripts(axes, len(a.shape), len(b.shape))
    return (einsum(f"{out},{b_sub}->{a_sub}", g, b), einsum(f"{a_sub},{out}->{b_sub}", a, g))


def _ndim(x) -> int:
    return len(x.shape) if hasattr(x, "shape") else np.ndim(x)


def outer(a, b):
    """Outer product of two vectors (inputs of other ranks are flattened, as in NumPy)."""
    from .shapes import reshape

    a = a if _ndim(a) == 1 else reshape(a, shape=(-1,))
    b = b if _ndim(b) == 1 else reshape(b, shape=(-1,))
    return einsum("i,j->ij", a, b)


def inner(a, b):
    """Sum product over the last axes of ``a`` and ``b`` (NumPy's ``inner``)."""
    from .elementwise import multiply

    if _ndim(a) == 0 or _ndim(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=((-1,), (-1,)))


def dot(a, b):
    """NumPy's ``dot``: sum product over the last axis of ``a`` and the second-to-last of
    ``b`` (its only axis when ``b`` is a vector); a product when either is a scalar."""
    from .elementwise import multiply

    if _ndim(a) == 0 or _ndim(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=((-1,), (max(_ndim(b) - 2, 0),)))


def vecdot(x1, x2, axis: int = -1):
    """Array-API ``vecdot``: ``sum(x1 * x2, axis)`` after broadcasting x1 against x2."""
    from .elementwise import multiply
    from .reduction import sum as reduce_sum

    return reduce_sum(multiply(x1, x2), axis=axis)


# --- trace, diagonal, diag_embed ---------------------------------------------------------


def _diagonal_axes(shape: tuple, axis1, axis2) -> tuple[int, int]:
    if len(shape) < 2:
        raise ShapeError(f"x must have rank >= 2, got shape {rules.fmt(shape)}")
    a1 = rules.normalize_axis(axis1, len(shape), "axis1")
    a2 = rules.normalize_axis(axis2, len(shape), "axis2")
    if a1 == a2:
        raise AxisError(
            f"axis1={axis1} and axis2={axis2} name the same axis of x{rules.fmt(shape)}"
        )
    return a1, a2


def _diagonal_length(rows, cols, offset: int):
    """How many elements the ``offset`` diagonal of a rows x cols matrix holds."""
    if rows is None or cols is None:
        return None
    return max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))


def _check_offset(offset) -> int:
    if not isinstance(offset, (int, np.integer)):
        raise ArgumentError(f"offset must be an int, got {offset!r}")
    return int(offset)


def _diagonal_rule(x, *, offset=0, axis1=0, axis2=1):
    shape = tuple(x.shape)
    a1, a2 = _diagonal_axes(shape, axis1, axis2)
    length = _diagonal_length(shape[a1], shape[a2], _check_offset(offset))
    rest = tuple(s for i, s in enumerate(shape) if i not in (a1, a2))
    return Spec(rest + (length,), x.dtype)


@defop(rule=_diagonal_rule, low_precision="native")
def diagonal(xp, x, *, offset=0, axis1=0, axis2=1, out=None):
    """The ``offset`` diagonal of the matrices over ``axis1`` and ``axis2``, as a last axis
    (NumPy's ``diagonal``).

    >>> import rillet as rl
    >>> rl.diagonal(rl.asarray([[1, 2], [3, 4]])).numpy().tolist()
    [1, 4]
    """
    return xp.diagonal(x, offset, axis1, axis2)


@diagonal.defvjp
def _diagonal_vjp(g, y, x, *, offset, axis1, axis2):
    a1, a2 = _diagonal_axes(tuple(x.shape), axis1, axis2)
    return (
        diag_embed(
            g, offset=offset, axis1=a1, axis2=a2, num_rows=x.shape[a1], num_cols=x.shape[a2]
        ),
    )


def _trace_rule(x, *, offset=0, axis1=0, axis2=1):
    spec = _diagonal_rule(x, offset=offset, axis1=axis1, axis2=axis2)
    return Spec(spec.shape[:-1], _sum_dtype(x.dtype))


@defop(rule=_trace_rule)
def trace(xp, x, *, offset=0, axis1=0, axis2=1, out=None):
    """Sum of the ``offset`` diagonal over ``axis1`` and ``axis2`` (NumPy's ``trace``)."""
    return xp.trace(x, offset, axis1, axis2, dtype=_sum_dtype(x.dtype), out=out)


@trace.defvjp
def _trace_vjp(g, y, x, *, offset, axis1, axis2):
    from .shapes import broadcast_to, reshape

    a1, a2 = _diagonal_axes(tuple(x.shape), axis1, axis2)
    length = _diagonal_length(x.shape[a1], x.shape[a2], offset)
    along = broadcast_to(reshape(g, shape=g.shape + (1,)), shape=g.shape + (length,))
    return _diagonal_vjp(along, None, x, offset=offset, axis1=axis1, axis2=axis2)


def _diag_embed_layout(shape: tuple, offset, axis1, axis2, num_rows, num_cols):
    """(output shape, axis1, axis2, rows, cols) of a diag_embed, or an error."""
    if len(shape) == 0:
        raise ShapeError("x must have rank >= 1 (its last axis is the diagonal), got shape ()")
    ndim = len(shape) + 1
    a1 = rules.normalize_axis(axis1, ndim, "axis1")
    a2 = rules.normalize_axis(axis2, ndim, "axis2")
    if a1 == a2:
        raise AxisError(f"axis1={axis1} and axis2={axis2} name the same axis of the result")
    rows, cols = _embed_sizes(shape, _check_offset(offset), num_rows, num_cols)
    batch = iter(shape[:-1])
    out = tuple(rows if i == a1 else cols if i == a2 else next(batch) for i in range(ndim))
    return out, a1, a2, rows, cols


def _embed_sizes(shape: tuple, offset: int, num_rows, num_cols) -> tuple:
    """The matrix sizes (square by default) whose ``offset`` diagonal holds x's last axis."""
    for name, value in (("num_rows", num_rows), ("num_cols", num_cols)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
            raise ArgumentError(f"{name} must be a non-negative int or None, got {value!r}")
    length = shape[-1]
    side = None if length is None else length + abs(offset)
    rows = side if num_rows is None else num_rows
    cols = side if num_cols is None else num_cols
    expected = _diagonal_length(rows, cols, offset)
    if None not in (expected, length) and expected != length:
        raise ShapeError(
            f"x{rules.fmt(shape)} has {length} diagonal elements but the offset={offset} "
            f"diagonal of a {rows} x {cols} matrix holds {expected}"
        )
    return rows, cols


def _diag_embed_rule(x, *, offset=0, axis1=-2, axis2=-1, num_rows=None, num_cols=None):
    layout = _diag_embed_layout(tuple(x.shape), offset, axis1, axis2, num_rows, num_cols)
    return Spec(layout[0], x.dtype)


@defop(rule=_diag_embed_rule, low_precision="native")
def diag_embed(xp, x, *, offset=0, axis1=-2, axis2=-1, num_rows=None, num_cols=None, out=None):
    """Matrices holding the last axis of ``x`` on their ``offset`` diagonal, zero elsewhere;
    the new matrix axes are ``axis1`` (rows) and ``axis2`` (columns) of the result, square
    unless ``num_rows``/``num_cols`` say otherwise (``tf.linalg.diag``). Inverse of
    :func:`diagonal`.

    >>> import rillet as rl
    >>> rl.diag_embed(rl.asarray([1, 2])).numpy().tolist()
    [[1, 0], [0, 2]]
    """
    _, a1, a2, rows, cols = _diag_embed_layout(x.shape, offset, axis1, axis2, num_rows, num_cols)
    result = xp.zeros(x.shape[:-1] + (rows, cols), dtype=x.dtype)
    index = xp.arange(x.shape[-1])
    result[..., index + max(-offset, 0), index + max(offset, 0)] = x
    return xp.moveaxis(result, (-2, -1), (a1, a2))


@diag_embed.defvjp
def _diag_embed_vjp(g, y, x, *, offset, axis1, axis2, num_rows, num_cols):
    _, a1, a2, _, _ = _diag_embed_layout(tuple(x.shape), offset, axis1, axis2, num_rows, num_cols)
    return (diagonal(g, offset=offset, axis1=a1, axis2=a2),)
