"""Constraints: projections against NumPy formulas, look-up, serialization, errors."""

import numpy as np
import pytest

import rillet as rl
from rillet import constraints as C
from rillet.errors import ArgumentError

EPS = 1e-7


@pytest.fixture
def w(rng):
    return rng.standard_normal((5, 4)) * 2


def _norms(w, axis):
    return np.sqrt((w**2).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, [0, 1]])
def test_max_norm(w, axis):
    axis_ = tuple(axis) if isinstance(axis, list) else axis
    norms = _norms(w, axis_)
    expected = w * (np.clip(norms, 0, 2.0) / (EPS + norms))
    got = C.MaxNorm(2.0, axis=axis)(rl.asarray(w)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert (_norms(got, axis_) <= 2.0 + 1e-6).all()


def test_min_max_norm(w):
    norms = _norms(w, 0)
    desired = 0.5 * np.clip(norms, 1.0, 3.0) + 0.5 * norms
    got = C.MinMaxNorm(1.0, 3.0, rate=0.5)(rl.asarray(w)).numpy()
    np.testing.assert_allclose(got, w * desired / (EPS + norms), rtol=1e-12)


def test_non_neg_and_unit_norm(w):
    assert C.NonNeg()(rl.asarray(w)).numpy().tolist() == np.maximum(w, 0).tolist()
    got = C.UnitNorm(axis=1)(rl.asarray(w)).numpy()
    np.testing.assert_allclose(_norms(got, 1), 1.0, rtol=1e-6)


def test_zero_columns_stay_finite():
    got = C.UnitNorm()(rl.zeros((3, 2))).numpy()
    assert np.isfinite(got).all() and (got == 0).all()


def test_defaults_names_and_serialization():
    assert C.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert C.MinMaxNorm().get_config() == {
        "min_value": 0.0,
        "max_value": 1.0,
        "rate": 1.0,
        "axis": 0,
    }
    for name, cls in [
        ("max_norm", C.MaxNorm),
        ("MinMaxNorm", C.MinMaxNorm),
        ("non_neg", C.NonNeg),
        ("unit_norm", C.UnitNorm),
    ]:
        assert type(C.get(name)) is cls
    constraint = C.MaxNorm(3.0, axis=[0, 1])
    clone = C.deserialize(C.serialize(constraint))
    assert clone.get_config() == {"max_value": 3.0, "axis": (0, 1)}
    assert C.get(None) is None and C.get(constraint) is constraint
    assert C.max_norm is C.MaxNorm and C.non_neg is C.NonNeg


def test_errors():
    with pytest.raises(ArgumentError, match="max_value=-1"):
        C.MaxNorm(-1)
    with pytest.raises(ArgumentError, match="rate=2"):
        C.MinMaxNorm(rate=2)
    with pytest.raises(ArgumentError, match="min_value=2"):
        C.MinMaxNorm(min_value=2, max_value=1)
    with pytest.raises(ArgumentError, match="unknown name 'positive'"):
        C.get("positive")
