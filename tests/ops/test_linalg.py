"""Linear algebra: einsum forms and gradients, tensordot/outer/inner/dot/vecdot against NumPy,
diagonals and traces, and bad-input errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rillet as rl
from rillet.errors import ArgumentError, AxisError, ShapeError
from rillet.testing.gradcheck import check_grads

RNG = np.random.default_rng(0)


def _randn(*shape):
    return RNG.standard_normal(shape)


# ---------------------------------------------------------------- einsum


EINSUM_FORMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),  # a chain of three
    ("bij,bkj->kbi", [(2, 3, 4), (2, 5, 4)]),  # a batched contraction, output permuted
    ("ijk,jl->li", [(2, 3, 4), (3, 2)]),  # k is summed within the first operand alone
    ("i,i->", [(4,), (4,)]),  # inner product
    ("i,j", [(3,), (2,)]),  # implicit outer product
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->j", [(2, 2, 3)]),
    ("iii->i", [(2, 2, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i...,i...->...", [(3, 2), (3, 1)]),
    ("a...,...", [(2, 3), (4, 1)]),  # implicit output with an ellipsis
    ("ij,ij->ij", [(1, 3), (4, 3)]),  # size-1 broadcasting
    ("ij,jk->ik", [(3, 1), (4, 5)]),  # a contracted letter broadcast
    ("bA,cb", [(2, 3), (5, 2)]),  # implicit output sorts upper case first
    (" ij , jk -> ik ", [(2, 2), (2, 3)]),  # spaces
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM_FORMS, ids=[f[0] for f in EINSUM_FORMS])
def test_einsum_matches_numpy_and_gradients_check(subscripts, shapes):
    operands = [_randn(*s) for s in shapes]
    got = rl.einsum(subscripts, *operands)
    want = np.einsum(subscripts, *operands)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    check_grads(lambda *xs: rl.einsum(subscripts, *xs), operands, order=2)


def test_einsum_gradient_of_a_trace_is_the_identity():
    x = rl.asarray(_randn(3, 3))
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.einsum("ii", x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.eye(3))


def test_einsum_promotes_mixed_dtypes_and_integers_get_no_gradient():
    a = rl.asarray([[1, 2], [3, 4]])
    b = rl.asarray([[0.5, 1.0], [1.5, 2.0]], dtype=rl.float16)
    assert rl.einsum("ij,jk->ik", a, b).dtype == rl.float16
    with rl.GradientTape() as tape:
        tape.watch(b)
        y = rl.sum(rl.einsum("ij,jk->ik", a, b))
    np.testing.assert_allclose(tape.gradient(y, b).numpy(), [[4, 4], [6, 6]])


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_einsum_matches_numpy_on_random_two_operand_subscripts(data):
    letters = "abcde"
    sizes = {c: data.draw(st.integers(1, 3)) for c in letters}
    a_term = "".join(data.draw(st.permutations(letters))[: data.draw(st.integers(0, 4))])
    b_term = "".join(data.draw(st.permutations(letters))[: data.draw(st.integers(0, 4))])
    used = sorted(set(a_term + b_term))
    output = "".join(data.draw(st.permutations(used))[: data.draw(st.integers(0, len(used)))])
    subscripts = f"{a_term},{b_term}->{output}"
    a = _randn(*(sizes[c] for c in a_term))
    b = _randn(*(sizes[c] for c in b_term))
    got = rl.einsum(subscripts, a, b)
    np.testing.assert_allclose(got.numpy(), np.einsum(subscripts, a, b), rtol=1e-10, atol=1e-12)
    check_grads(lambda x, y: rl.einsum(subscripts, x, y), [a, b])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_einsum_matches_numpy_on_random_matmul_batches(data):
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
    a, b = _randn(*batch, m, k), _randn(*batch, k, n)
    np.testing.assert_allclose(
        rl.einsum("...mk,...kn->...mn", a, b).numpy(), np.matmul(a, b), rtol=1e-12, atol=1e-12
    )


# ---------------------------------------------------------------- tensordot and wrappers


@pytest.mark.parametrize(
    "a_shape,b_shape,axes",
    [
        ((3, 4), (3, 4), 2),
        ((2, 3), (3, 4), 1),
        ((2,), (3,), 0),
        ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])),
        ((2, 3), (4, 3), ((-1,), (-1,))),
        ((3, 2), (2, 4), (1, 0)),
    ],  # fmt: skip
)
def test_tensordot_matches_numpy_and_gradients_check(a_shape, b_shape, axes):
    a, b = _randn(*a_shape), _randn(*b_shape)
    np.testing.assert_allclose(rl.tensordot(a, b, axes).numpy(), np.tensordot(a, b, axes))
    check_grads(lambda x, y: rl.tensordot(x, y, axes=axes), [a, b], order=2)


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [
        ((3,), (3,)),
        ((2, 3), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3, 4)),
        ((2, 3), (4, 3, 2)),
        ((), (3,)),
        ((2, 3), ()),
    ],  # fmt: skip
)
def test_dot_matches_numpy(a_shape, b_shape):
    a, b = _randn(*a_shape), _randn(*b_shape)
    np.testing.assert_allclose(rl.dot(a, b).numpy(), np.dot(a, b), rtol=1e-12)
    check_grads(lambda x, y: rl.dot(x, y), [a, b])


@pytest.mark.parametrize(
    "a_shape,b_shape", [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((), (2, 2))]
)
def test_inner_matches_numpy(a_shape, b_shape):
    a, b = _randn(*a_shape), _randn(*b_shape)
    np.testing.assert_allclose(rl.inner(a, b).numpy(), np.inner(a, b), rtol=1e-12)


def test_outer_matches_numpy_and_flattens_like_it():
    a, b = _randn(3), _randn(2, 2)
    np.testing.assert_allclose(rl.outer(a, b).numpy(), np.outer(a, b))
    check_grads(lambda x, y: rl.outer(x, y), [a, b], order=2)


def test_vecdot_broadcasts_then_contracts_axis():
    a, b = _randn(2, 3, 4), _randn(3, 4)
    np.testing.assert_allclose(rl.vecdot(a, b).numpy(), np.sum(a * b, axis=-1))
    np.testing.assert_allclose(rl.vecdot(a, b, axis=-2).numpy(), np.sum(a * b, axis=-2))


# ---------------------------------------------------------------- trace, diagonal, diag_embed


def test_diagonal_gradient_scatters_onto_the_diagonal():
    x = rl.asarray(_randn(3, 4))
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.sum(rl.diagonal(x, offset=1) * rl.asarray([1.0, 2.0, 3.0], dtype=rl.float64))
    want = np.zeros((3, 4))
    want[[0, 1, 2], [1, 2, 3]] = [1, 2, 3]
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), want)


def test_trace_gradient_is_the_batched_identity():
    x = rl.asarray(_randn(2, 3, 3))
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.sum(rl.trace(x, axis1=1, axis2=2))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.broadcast_to(np.eye(3), x.shape))


def test_diag_embed_inverts_diagonal():
    d = rl.asarray(_randn(2, 3))
    for offset in (-2, 0, 1):
        m = rl.diag_embed(d, offset=offset, axis1=0, axis2=2)
        np.testing.assert_array_equal(rl.diagonal(m, offset=offset, axis1=0, axis2=2).numpy(), d)


def test_trace_of_integers_accumulates_in_int64():
    x = rl.asarray(np.full((3, 3), 100, dtype=np.int8))
    assert rl.trace(x).dtype == rl.int64 and rl.trace(x).item() == 300


# ---------------------------------------------------------------- errors


def test_einsum_mismatched_sizes_names_subscripts_and_shapes():
    pattern = (
        r"einsum: subscripts 'ij,jk->ik': 'j' has size 3 in operand 0 \('ij', shape \(2, 3\)\)"
    )
    with pytest.raises(
        ShapeError, match=pattern + r" but size 4 in operand 1 \('jk', shape \(4, 5\)\)"
    ):
        rl.einsum("ij,jk->ik", rl.zeros((2, 3)), rl.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"test_linalg\.py:\d+"):
        rl.einsum("ii->i", rl.zeros((2, 3)))


def test_einsum_operand_count_and_rank_must_fit_the_subscripts():
    with pytest.raises(ShapeError, match=r"einsum: subscripts 'ij,jk' name 2 operand\(s\), got 1"):
        rl.einsum("ij,jk", rl.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"einsum: .*operand 0 has rank 3 but 'ij' names 2 axes"):
        rl.einsum("ij->i", rl.zeros((2, 3, 4)))


def test_einsum_bad_output_letters_are_errors():
    with pytest.raises(ArgumentError, match=r"einsum: .*output letter 'k' is not in any input"):
        rl.einsum("ij->ik", rl.zeros((2, 3)))
    with pytest.raises(ArgumentError, match=r"einsum: .*output letter 'i' repeats"):
        rl.einsum("ij->ii", rl.zeros((2, 3)))
    with pytest.raises(ArgumentError, match=r"einsum: subscripts 'i\.j': bad term"):
        rl.einsum("i.j", rl.zeros((2, 3)))


def test_tensordot_axes_mismatch_names_axes_and_shapes():
    with pytest.raises(
        ShapeError,
        match=r"tensordot: cannot contract a\(2, 3\) over axes \(1,\) "
        r"with b\(4, 5\) over axes \(0,\): sizes \(3,\) != \(4,\)",
    ):
        rl.tensordot(rl.zeros((2, 3)), rl.zeros((4, 5)), axes=1)
    with pytest.raises(ShapeError, match=r"tensordot: axes=.* pair 2 axes of a\(2, 3\) with 1"):
        rl.tensordot(rl.zeros((2, 3)), rl.zeros((3, 2)), axes=([0, 1], [0]))
    with pytest.raises(ArgumentError, match=r"tensordot: axes=3 must be between 0 and"):
        rl.tensordot(rl.zeros((2, 3)), rl.zeros((3, 2)), axes=3)


def test_diagonal_needs_two_distinct_axes():
    with pytest.raises(AxisError, match=r"diagonal: axis1=0 and axis2=-2 name the same axis"):
        rl.diagonal(rl.zeros((2, 3)), axis1=0, axis2=-2)
    with pytest.raises(ShapeError, match=r"trace: x must have rank >= 2, got shape \(3,\)"):
        rl.trace(rl.zeros((3,)))


def test_diag_embed_length_must_fit_the_matrix():
    with pytest.raises(
        ShapeError, match=r"diag_embed: x\(3,\) has 3 diagonal elements but .* 2 x 4"
    ):
        rl.diag_embed(rl.zeros((3,)), num_rows=2, num_cols=4)


def test_matrix_transpose_of_a_vector_names_the_op_and_line():
    with pytest.raises(ShapeError, match=r"matrix_transpose: .*\(3,\).*test_linalg\.py:\d+"):
        rl.matrix_transpose(rl.zeros((3,)))
