"""Merging layers: values against NumPy (and PyTorch for Dot), broadcasting, masks, errors."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from rillet.layers import masking
from tests.layers.core_harness import run_layer_test


@pytest.fixture
def pair(rng):
    return [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))]


ELEMENTWISE = [
    (L.Add, lambda xs: sum(xs)),
    (L.Multiply, lambda xs: np.prod(xs, axis=0)),
    (L.Average, lambda xs: np.mean(xs, axis=0)),
    (L.Maximum, lambda xs: np.max(xs, axis=0)),
    (L.Minimum, lambda xs: np.min(xs, axis=0)),
]


@pytest.mark.parametrize("cls, reference", ELEMENTWISE)
def test_elementwise_merges(rng, cls, reference):
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    _, y = run_layer_test(cls, {}, xs, expected_shape=(2, 3, 4))
    np.testing.assert_allclose(y.numpy(), reference(xs), rtol=1e-12)


def test_subtract(pair):
    _, y = run_layer_test(L.Subtract, {}, pair)
    np.testing.assert_allclose(y.numpy(), pair[0] - pair[1])
    with pytest.raises(ArgumentError, match="exactly 2 inputs"):
        L.Subtract()(pair + pair[:1])


def test_functional_forms(pair):
    for fn, reference in [
        (L.add, pair[0] + pair[1]),
        (L.subtract, pair[0] - pair[1]),
        (L.multiply, pair[0] * pair[1]),
        (L.average, (pair[0] + pair[1]) / 2),
        (L.maximum, np.maximum(*pair)),
        (L.minimum, np.minimum(*pair)),
        (L.concatenate, np.concatenate(pair, axis=-1)),
    ]:
        np.testing.assert_allclose(fn(pair).numpy(), reference, rtol=1e-6)
    expected = np.einsum("bik,bjk->bij", *pair)
    np.testing.assert_allclose(L.dot(pair, axes=2).numpy(), expected, rtol=1e-6)


def test_merges_broadcast_lower_ranks(rng):
    a, b = rng.standard_normal((2, 4)), rng.standard_normal((2, 3, 4))
    y = L.Add()([a, b])
    np.testing.assert_allclose(y.numpy(), a[:, None, :] + b, rtol=1e-6)  # float32 layer
    assert L.Add().compute_output_shape([(None, 4), (None, 3, 4)]) == (None, 3, 4)
    assert L.Multiply()([np.ones((2, 1, 4)), np.ones((2, 3, 1))]).shape == (2, 3, 4)


def test_merges_reject_bad_inputs(pair):
    with pytest.raises(ShapeError, match="incompatible shapes"):
        L.Add()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ShapeError, match="different batch sizes"):
        L.Add()([np.ones((2, 3)), np.ones((5, 3))])
    with pytest.raises(ArgumentTypeError, match="list of input tensors"):
        L.Add()(pair[0])


def test_merge_masks_are_ored_when_all_inputs_have_one():
    emb = L.Embedding(5, 2, mask_zero=True)
    a, b = emb(np.array([[1, 0, 0]])), emb(np.array([[0, 2, 0]]))
    assert masking.get(L.Add()([a, b])).numpy().tolist() == [[True, True, False]]
    assert masking.get(L.Add()([a, rl.ones((1, 3, 2))])) is None


def test_maximum_ignores_masked_steps():
    emb = L.Embedding(4, 1, mask_zero=True, embeddings_initializer="ones")
    a = emb(np.array([[1, 0]]))  # [[1], [1 (masked)]]
    b = rl.asarray(np.array([[[5.0], [-2.0]]]))
    masking.attach(b, rl.asarray(np.array([[False, True]])))
    y = L.Maximum()([a, b]).numpy()
    assert y.tolist() == [[[1.0], [-2.0]]]  # masked steps take the other input's value
    assert L.Minimum()([a, b]).numpy().tolist() == [[[1.0], [-2.0]]]


# --- Concatenate -----------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate(rng, axis):
    xs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))]
    _, y = run_layer_test(L.Concatenate, {"axis": axis}, xs)
    np.testing.assert_allclose(y.numpy(), np.concatenate(xs, axis=axis))


def test_concatenate_rejects_mismatched_shapes():
    with pytest.raises(ShapeError, match="matching shapes except along axis -1"):
        L.Concatenate()([np.ones((2, 3, 4)), np.ones((2, 5, 4))])
    with pytest.raises(ShapeError, match="same rank"):
        L.Concatenate()([np.ones((2, 3, 4)), np.ones((2, 3))])
    assert L.Concatenate(axis=1).compute_output_shape([(None, 2, 4), (None, 3, 4)]) == (
        None,
        5,
        4,
    )


def test_concatenate_masks():
    emb = L.Embedding(5, 2, mask_zero=True)
    a = emb(np.array([[1, 0, 3]]))
    b = rl.ones((1, 3, 2))
    last = L.Concatenate()([a, b])
    assert masking.get(last).numpy().tolist() == [[True, True, True]]
    steps = L.Concatenate(axis=1)([a, b])
    assert masking.get(steps).numpy().tolist() == [[True, False, True, True, True, True]]


# --- Dot -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shapes, axes, subscripts",
    [
        (((2, 4), (2, 4)), 1, "bi,bi->b"),
        (((2, 3, 4), (2, 5, 4)), 2, "bik,bjk->bij"),
        (((2, 3, 5), (2, 7, 3)), (1, 2), "bki,bjk->bij"),
        (((2, 3, 4), (2, 4)), (-1, -1), "bik,bk->bi"),
        (((2, 3, 4, 2), (2, 4, 5)), (2, 1), "bikl,bkj->bilj"),
    ],
)
def test_dot(rng, shapes, axes, subscripts):
    xs = [rng.standard_normal(s) for s in shapes]
    _, y = run_layer_test(L.Dot, {"axes": axes}, xs)
    expected = np.einsum(subscripts, *xs)
    np.testing.assert_allclose(y.numpy(), expected.reshape(y.shape), rtol=1e-12)
    if expected.ndim == 1:
        assert y.shape == (2, 1)


def test_dot_normalized_matches_torch_cosine_similarity(rng):
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    _, y = run_layer_test(L.Dot, {"axes": 1, "normalize": True}, [a, b])
    expected = torch.nn.functional.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(y.numpy()[:, 0], expected.numpy(), rtol=1e-10)


def test_dot_matches_torch_bmm(rng):
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    y = L.Dot(axes=(2, 1))([a, b])
    expected = torch.bmm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)


def test_dot_rejects_bad_axes_and_shapes():
    with pytest.raises(ShapeError, match="axis 2 has size 4 and axis 2 has size 5"):
        L.Dot(axes=2)([np.ones((2, 3, 4)), np.ones((2, 3, 5))])
    with pytest.raises(ArgumentError, match="batch axis"):
        L.Dot(axes=0)([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ArgumentError, match=r"axes=\(1, 2, 3\)"):
        L.Dot(axes=(1, 2, 3))
    with pytest.raises(ArgumentError, match="exactly 2 inputs"):
        L.Dot(axes=1)([np.ones((2, 3))] * 3)
