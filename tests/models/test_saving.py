"""save_weights / load_weights: round trips by structure, atomic writes, bad files."""

import os

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ShapeError
from rillet.models.saving import weight_paths


def _model(units=4, seed=0):
    rl.utils.set_random_seed(seed)
    x = rl.Input(shape=(3,))
    hidden = rl.layers.Dense(units)(x)
    normed = rl.layers.BatchNormalization()(hidden)
    return rl.Model(x, rl.layers.Dense(1)(normed))


def test_weight_paths_follow_the_structure_not_global_names():
    first, second = _model(), _model()
    assert list(weight_paths(first)) == list(weight_paths(second))
    assert list(weight_paths(first))[:2] == ["dense/kernel", "dense/bias"]
    assert any(path.startswith("batch_normalization/") for path in weight_paths(first))


def test_round_trip_into_a_fresh_model(tmp_path, rng):
    model, fresh = _model(seed=0), _model(seed=1)
    path = tmp_path / "model.weights.npz"
    model.save_weights(path)
    fresh.load_weights(path)
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["model.weights.npz"]  # no temporary left


def test_nested_and_subclassed_models(tmp_path):
    class Tower(rl.Model):
        def __init__(self):
            super().__init__()
            self.inner = rl.Sequential([rl.layers.Dense(2), rl.layers.Dense(2)])
            self.head = rl.layers.Dense(1)

        def call(self, x):
            return self.head(self.inner(x))

    model, fresh = Tower(), Tower()
    model(np.ones((1, 3), np.float32))
    fresh(np.ones((1, 3), np.float32))
    assert "sequential/dense_1/kernel" in weight_paths(model)
    model.save_weights(tmp_path / "w.npz")
    fresh.load_weights(tmp_path / "w.npz")
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_bfloat16_weights_round_trip(tmp_path):
    model = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(3, dtype="bfloat16")])
    model.save_weights(tmp_path / "w.npz")
    fresh = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(3, dtype="bfloat16")])
    fresh.load_weights(tmp_path / "w.npz")
    assert fresh.weights[0].dtype == rl.bfloat16
    np.testing.assert_array_equal(fresh.get_weights()[0], model.get_weights()[0])


def test_mismatched_architectures(tmp_path):
    _model(units=4).save_weights(tmp_path / "w.npz")
    with pytest.raises(ShapeError, match=r"'dense/kernel' has shape \(3, 5\)"):
        _model(units=5).load_weights(tmp_path / "w.npz")
    other = rl.Sequential([rl.Input(shape=(3,)), rl.layers.Dense(4)])
    with pytest.raises(ArgumentError, match="does not match"):
        other.load_weights(tmp_path / "w.npz")
    other.load_weights(tmp_path / "w.npz", skip_mismatch=True)


def test_unbuilt_model_cannot_load(tmp_path):
    _model().save_weights(tmp_path / "w.npz")
    with pytest.raises(ArgumentError, match="no weights yet"):
        rl.Sequential([rl.layers.Dense(2)]).load_weights(tmp_path / "w.npz")


def test_corrupted_and_missing_files(tmp_path):
    path = tmp_path / "w.npz"
    _model().save_weights(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArgumentError, match="truncated or corrupted"):
        _model().load_weights(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        _model().load_weights(tmp_path / "missing.npz")


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"dense/kernel": np.array([object()], dtype=object)})
    with pytest.raises(ArgumentError, match="cannot read"):
        _model().load_weights(path)


def test_overwrite_false_keeps_the_file(tmp_path):
    path = tmp_path / "w.npz"
    _model().save_weights(path)
    stamp = os.path.getmtime(path)
    with pytest.raises(ArgumentError, match="overwrite=False"):
        _model().save_weights(path, overwrite=False)
    assert os.path.getmtime(path) == stamp


def test_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    model = _model()
    model.save_weights(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["w.npz"]
