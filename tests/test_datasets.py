"""The bundled digits and the demo that trains on them."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rillet as rl
from rillet.datasets import digits
from rillet.errors import ArgumentError

ROOT = Path(__file__).resolve().parents[1]

# Class sizes of UCI's optdigits.tes (the 1797 samples scikit-learn ships), from the UCI
# data set description.
UCI_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def _everything():
    (x, y), (x_none, y_none) = digits.load_data(test_split=0.0)
    assert len(x_none) == 0 and len(y_none) == 0
    return x, y


def test_load_data_returns_keras_style_arrays():
    (x_train, y_train), (x_test, y_test) = rl.datasets.digits.load_data()
    assert x_train.shape == (1438, 8, 8) and y_train.shape == (1438,)
    assert x_test.shape == (359, 8, 8) and y_test.shape == (359,)
    for array in (x_train, y_train, x_test, y_test):
        assert isinstance(array, np.ndarray) and array.dtype == np.uint8


def test_pixels_are_counts_from_0_to_16_and_labels_are_digits():
    x, y = _everything()
    assert x.shape == (digits.NUM_SAMPLES, 8, 8)
    assert x.min() == 0 and x.max() == 16
    assert set(np.unique(y).tolist()) == set(range(digits.NUM_CLASSES))


def test_class_counts_match_the_uci_description():
    _, y = _everything()
    assert np.bincount(y).tolist() == UCI_CLASS_COUNTS


def test_images_look_like_digits():
    # The mean "zero" is a ring: its centre is darker than the ring around it.
    x, y = _everything()
    zero = x[y == 0].mean(axis=0)
    assert zero[3:5, 3:5].mean() < 0.5 * zero[1:7, 1:7].mean()


@pytest.mark.parametrize("test_split, n_test", [(0.2, 359), (0.5, 898), (0.1, 180), (0.0, 0)])
def test_split_sizes(test_split, n_test):
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=test_split)
    assert len(x_test) == len(y_test) == n_test
    assert len(x_train) == len(y_train) == digits.NUM_SAMPLES - n_test


def test_split_is_a_partition_of_the_whole_set():
    x, y = _everything()
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0.3, seed=5)
    whole = sorted(zip(map(bytes, x), y.tolist()))
    parts = sorted(
        zip(
            map(bytes, np.concatenate([x_train, x_test])),
            np.concatenate([y_train, y_test]).tolist(),
        )
    )
    assert parts == whole


def test_same_seed_gives_the_same_split():
    first, second = digits.load_data(seed=3), digits.load_data(seed=3)
    for part_a, part_b in zip(first, second):  # (train, test)
        for array_a, array_b in zip(part_a, part_b):  # (images, labels)
            np.testing.assert_array_equal(array_a, array_b)


def test_different_seeds_give_different_splits():
    (_, y_a), _ = digits.load_data(seed=0)
    (_, y_b), _ = digits.load_data(seed=1)
    assert not np.array_equal(y_a, y_b)


def test_returned_arrays_are_independent_copies():
    (x_train, _), _ = digits.load_data()
    x_train[:] = 0
    (again, _), _ = digits.load_data()
    assert again.max() == 16


@pytest.mark.parametrize("test_split", [1.0, -0.1, 1.5])
def test_bad_test_split_raises(test_split):
    with pytest.raises(ArgumentError) as info:
        digits.load_data(test_split=test_split)
    message = str(info.value)
    assert message.startswith("digits.load_data: test_split must be in [0, 1)")
    assert f"test_split={test_split}" in message and "test_datasets.py:" in message


@pytest.mark.parametrize("test_split", ["0.2", None, True])
def test_non_numeric_test_split_raises(test_split):
    with pytest.raises(ArgumentError, match=r"digits.load_data: test_split must be a number"):
        digits.load_data(test_split=test_split)


def test_digits_mlp_demo_trains_to_high_accuracy():
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits_mlp.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr
    losses = [float(v) for v in re.findall(r"^epoch\s+\d+\s+loss (\S+)$", result.stdout, re.M)]
    assert len(losses) >= 10 and losses[-1] < 0.25 * losses[0]
    accuracy = re.search(r"held-out accuracy ([\d.]+)%", result.stdout)
    assert accuracy is not None, result.stdout
    assert float(accuracy.group(1)) >= 95.0


def test_synthetic_data_sets_are_reproducible_and_learnable():
    from rillet.datasets import synthetic

    for make in (synthetic.classification, synthetic.regression, synthetic.sequences,
                 synthetic.images):  # fmt: skip
        a, b = make(64, seed=3), make(64, seed=3)
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
        assert not np.array_equal(make(64, seed=4)[0], a[0])
    x, y = synthetic.sequences(200, length=10, seed=0)
    assert ((x == 1).any(axis=1) == (y == 1)).all()  # the label is whether the keyword occurs
    x, y = synthetic.regression(500, n_features=3, noise=0.0, seed=0)
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    np.testing.assert_allclose(x @ coefficients, y, atol=1e-4)  # exactly linear without noise


def test_synthetic_data_sets_reject_bad_sizes():
    from rillet.datasets import synthetic

    with pytest.raises(rl.errors.ArgumentError, match="n_samples=0"):
        synthetic.classification(0)
    with pytest.raises(rl.errors.ArgumentError, match="vocabulary=2"):
        synthetic.sequences(10, vocabulary=2)
