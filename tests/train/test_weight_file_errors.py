"""Model.load_weights mismatch errors name the weights, their layers and both shapes.

(These cover rillet/models/saving.py; they live here to keep tests/models/ untouched.)"""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ShapeError


def _model(units=4, seed=0):
    rl.utils.set_random_seed(seed)
    x = rl.Input(shape=(3,))
    hidden = rl.layers.Dense(units, name="hidden")(x)
    return rl.Model(x, rl.layers.Dense(1, name="head")(hidden))


def test_shape_mismatch_names_weight_layer_shapes_and_file_and_assigns_nothing(tmp_path):
    path = tmp_path / "w.npz"
    _model(units=4).save_weights(path)
    target = _model(units=5, seed=1)
    before = target.get_weights()
    pattern = (
        r"weight 'dense/kernel' has shape \(3, 5\) in the model \(layer 'hidden'\) but "
        r"\(3, 4\) in the file '.*w\.npz'; other weights .* 'dense_1/kernel' \(5, 1\) vs \(4, 1\)"
    )
    with pytest.raises(ShapeError, match=pattern):
        target.load_weights(path)
    for got, want in zip(target.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_missing_and_unexpected_weights_are_listed_with_shapes(tmp_path):
    path = tmp_path / "w.npz"
    rl.Sequential([rl.Input(shape=(3,)), rl.layers.Dense(4, name="only")]).save_weights(path)
    with pytest.raises(ArgumentError, match=r"missing from the file \['dense_1/bias' \(1,\) in "
                       r"layer 'head', 'dense_1/kernel' \(4, 1\) in layer 'head'\], "
                       r"unexpected weights in the file \[\]"):  # fmt: skip
        _model().load_weights(path)


def test_skip_mismatch_loads_what_fits(tmp_path):
    path = tmp_path / "w.npz"
    source = _model(units=4)
    source.save_weights(path)
    target = _model(units=5, seed=1)
    target.load_weights(path, skip_mismatch=True)
    np.testing.assert_array_equal(target.get_weights()[3], source.get_weights()[3])  # head bias
