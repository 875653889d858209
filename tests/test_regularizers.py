"""Regularizers: penalties against NumPy, gradients, look-up, serialization, errors."""

import numpy as np
import pytest

import rillet as rl
from rillet import regularizers as R
from rillet.errors import ArgumentError, ShapeError
from rillet.testing import check_grads


@pytest.fixture
def w(rng):
    return rng.standard_normal((4, 3))


def _orthogonal_reference(w, factor, mode):
    units = w / np.linalg.norm(w, axis=1 if mode == "rows" else 0, keepdims=True)
    product = units @ units.T if mode == "rows" else units.T @ units
    size = product.shape[0]
    off = np.abs(product * (1 - np.eye(size))).sum()
    return factor * 0.5 * off / (size * (size - 1) / 2)


@pytest.mark.parametrize(
    "regularizer, reference",
    [
        (R.L1(0.3), lambda w: 0.3 * np.abs(w).sum()),
        (R.L2(0.2), lambda w: 0.2 * (w**2).sum()),
        (R.L1L2(l1=0.1, l2=0.5), lambda w: 0.1 * np.abs(w).sum() + 0.5 * (w**2).sum()),
        (R.OrthogonalRegularizer(0.4), lambda w: _orthogonal_reference(w, 0.4, "rows")),
        (
            R.OrthogonalRegularizer(0.4, mode="columns"),
            lambda w: _orthogonal_reference(w, 0.4, "columns"),
        ),
    ],
)
def test_penalties_and_gradients(w, regularizer, reference):
    np.testing.assert_allclose(float(regularizer(rl.asarray(w))), reference(w), rtol=1e-12)
    check_grads(lambda v: regularizer(v), [w])


def test_defaults_and_names():
    assert R.L1().get_config() == {"l1": 0.01}
    assert R.L2().get_config() == {"l2": 0.01}
    assert R.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.OrthogonalRegularizer().get_config() == {"factor": 0.01, "mode": "rows"}
    for name, cls in [
        ("l1", R.L1),
        ("L2", R.L2),
        ("l1_l2", R.L1L2),
        ("l1l2", R.L1L2),
        ("orthogonal_regularizer", R.OrthogonalRegularizer),
    ]:
        assert type(R.get(name)) is cls
    assert R.l2 is R.L2 and R.l1_l2 is R.L1L2
    assert float(R.L1L2()(rl.ones((2,)))) == 0.0


def test_serialize_round_trip_and_get():
    reg = R.L1L2(l1=0.2, l2=0.3)
    config = R.serialize(reg)
    assert config["class_name"] == "L1L2" and config["config"] == {"l1": 0.2, "l2": 0.3}
    assert R.deserialize(config).get_config() == reg.get_config()
    assert R.get(config).get_config() == reg.get_config()
    assert R.get(None) is None and R.get(reg) is reg
    fn = lambda x: rl.sum(x)  # noqa: E731
    assert R.get(fn) is fn


def test_errors():
    with pytest.raises(ArgumentError, match="l1=-1"):
        R.L1(-1)
    with pytest.raises(ArgumentError, match="l2=nan"):
        R.L2(float("nan"))
    with pytest.raises(ArgumentError, match="mode='diagonal'"):
        R.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ShapeError, match=r"\(2, 2, 2\)"):
        R.OrthogonalRegularizer()(rl.ones((2, 2, 2)))
    with pytest.raises(ArgumentError, match="unknown name 'l3'"):
        R.get("l3")
