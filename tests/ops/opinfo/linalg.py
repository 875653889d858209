"""Op table for linear algebra: einsum, tensordot, trace, diagonal, diag_embed."""

import numpy as np

import rillet as rl
from rillet.testing.opinfo import OpInfo, Sample, randn

# Contractions round their float16/bfloat16 result once, but sums of products can cancel.
PRODUCTS = {np.dtype(np.float16): (1e-2, 1e-2), rl.bfloat16: (5e-2, 1e-1)}

EINSUM_CASES = [
    ("ij,jk->ik", (3, 4), (4, 2)),
    ("ij,jk", (2, 3), (3, 2)),  # implicit output
    ("bij,bjk->bik", (2, 2, 3), (2, 3, 2)),
    ("...ij,...jk->...ik", (2, 1, 2, 3), (3, 3, 2)),  # broadcast batch axes
    ("i,j->ij", (3,), (2,)),
    ("ij,j,k->ik", (2, 3), (3,), (2,)),
    ("ij->j", (3, 4)),
    ("ji", (2, 3)),  # implicit transpose
    ("ii", (3, 3)),  # trace
    ("bii->bi", (2, 3, 3)),  # batched diagonal
    ("ij,ij->", (1, 3), (2, 3)),  # size-1 broadcast
]


def _einsum_samples(rng, dtype):
    return [
        Sample((subscripts,) + tuple(randn(rng, s, dtype) for s in shapes))
        for subscripts, *shapes in EINSUM_CASES
    ]


def _tensordot_samples(rng, dtype):
    cases = [
        ((3, 4), (3, 4), 2), ((2, 3), (3, 2), 1), ((2, 3), (2,), 0),
        ((2, 3, 4), (4, 2, 3), ([1, 2], [2, 0])), ((3, 2), (2, 2, 2), ((-1,), (-2,))),
    ]  # fmt: skip
    return [
        Sample((randn(rng, a, dtype), randn(rng, b, dtype)), {"axes": axes}) for a, b, axes in cases
    ]


DIAGONAL_CASES = [{}, {"offset": 1}, {"offset": -2}, {"axis1": 2, "axis2": 0},
                  {"offset": 1, "axis1": -1, "axis2": 1}]  # fmt: skip


def _diagonal_samples(rng, dtype):
    x = randn(rng, (3, 4, 2), dtype)
    return [Sample((x,), kw) for kw in DIAGONAL_CASES]


def _diag_embed_samples(rng, dtype):
    cases = [((3,), {}), ((2, 3), {"offset": 1}), ((2, 3), {"offset": -1, "axis1": 0, "axis2": 2}),
             ((2, 2), {"offset": 1, "num_rows": 2, "num_cols": 4}),
             ((2, 3), {"axis1": -1, "axis2": 0})]  # fmt: skip
    return [Sample((randn(rng, s, dtype),), kw) for s, kw in cases]


def _diag_embed_ref(x, offset=0, axis1=-2, axis2=-1, num_rows=None, num_cols=None):
    """The result as a sum of outer products of unit vectors: sum_i x_i e_r(i) e_c(i)^T."""
    n = x.shape[-1]
    rows = n + abs(offset) if num_rows is None else num_rows
    cols = n + abs(offset) if num_cols is None else num_cols
    at_row = np.eye(rows)[np.arange(n) + max(-offset, 0)]  # (n, rows)
    at_col = np.eye(cols)[np.arange(n) + max(offset, 0)]  # (n, cols)
    matrices = np.einsum("...i,ir,ic->...rc", x, at_row, at_col)
    return np.moveaxis(matrices, (-2, -1), (axis1, axis2))


OPS = [
    OpInfo("einsum", rl.einsum, np.einsum, _einsum_samples, grad2=True, tolerance=PRODUCTS),
    OpInfo("tensordot", rl.tensordot, lambda a, b, axes: np.tensordot(a, b, axes),
           _tensordot_samples, grad2=True, tolerance=PRODUCTS),
    OpInfo("trace", rl.trace, np.trace, _diagonal_samples, grad2=True, tolerance=PRODUCTS),
    OpInfo("diagonal", rl.diagonal, np.diagonal, _diagonal_samples, grad2=True),
    OpInfo("diag_embed", rl.diag_embed, _diag_embed_ref, _diag_embed_samples, grad2=True),
]  # fmt: skip
