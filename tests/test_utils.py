"""rl.utils: seeding, to_categorical, normalize, Progbar, batch packing."""

import random

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError


def test_set_random_seed_replays_every_generator():
    draws = []
    for _ in range(2):
        rl.utils.set_random_seed(123)
        draws.append((random.random(), np.random.rand(), rl.random.uniform((2,)).numpy().tolist()))
    assert draws[0] == draws[1]
    with pytest.raises(ArgumentError, match="seed=-1"):
        rl.utils.set_random_seed(-1)


def test_to_categorical():
    np.testing.assert_array_equal(
        rl.utils.to_categorical([[1], [0], [2]]), [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    )
    assert rl.utils.to_categorical(np.array([0, 1]), num_classes=4).shape == (2, 4)
    assert rl.utils.to_categorical([[0, 1], [1, 1]]).shape == (2, 2, 2)
    with pytest.raises(ArgumentError, match="num_classes=2"):
        rl.utils.to_categorical([0, 3], num_classes=2)
    with pytest.raises(ArgumentError, match="integers"):
        rl.utils.to_categorical([0.5])


def test_normalize_numpy_and_tensors():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(rl.utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(rl.utils.normalize(rl.asarray(x)).numpy(), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(rl.utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0]])


def test_pack_and_unpack():
    assert rl.utils.unpack_x_y_sample_weight((1, 2, 3)) == (1, 2, 3)
    assert rl.utils.unpack_x_y_sample_weight([1]) == (1, None, None)
    assert rl.utils.pack_x_y_sample_weight([1, 2]) == ([1, 2],)
    assert rl.utils.pack_x_y_sample_weight(1, 2) == (1, 2)
    with pytest.raises(ArgumentError, match="4 elements"):
        rl.utils.unpack_x_y_sample_weight((1, 2, 3, 4))


def test_progbar_prints_averages_and_the_final_line(capsys):
    bar = rl.utils.Progbar(4, verbose=1, stateful_metrics=["acc"])
    bar.update(2, [("loss", 1.0), ("acc", 0.5)])
    bar.update(4, [("loss", 3.0), ("acc", 0.75)])
    out = capsys.readouterr().out
    assert "4/4" in out and "━" in out and "loss: 2.0000" in out and "acc: 0.7500" in out
    quiet = rl.utils.Progbar(2, verbose=2)
    quiet.add(1, [("loss", 1e-5)])
    assert capsys.readouterr().out == ""
    quiet.add(1, [("loss", 1e-5)])
    assert "2/2 - " in capsys.readouterr().out
