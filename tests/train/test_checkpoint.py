"""rl.train.Checkpoint: object-graph paths, round trips in place, mismatch errors."""

import os

import ml_dtypes
import numpy as np
import pytest

import rillet as rl
from rillet.train import Checkpoint, CheckpointError, CheckpointNotFoundError


def _model(seed=0):
    rl.utils.set_random_seed(seed)
    x = rl.Input(shape=(3,))
    hidden = rl.layers.Dense(4, activation="relu")(x)
    return rl.Model(x, rl.layers.Dense(1)(hidden))


def _trained(seed=0, steps=3):
    model = _model(seed)
    model.compile(optimizer=rl.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((16, 3)).astype(np.float32), np.ones((16, 1), np.float32)
    model.fit(x, y, batch_size=8, epochs=steps, verbose=0, shuffle=False)
    return model, x, y


def test_paths_follow_attribute_names_and_structure():
    model = _model()
    optimizer = rl.optimizers.SGD(0.1)
    inner = Checkpoint(step=rl.Variable(np.int64(0)))
    paths = list(Checkpoint(model=model, optimizer=optimizer, inner=inner)._variables())
    assert paths[:3] == ["save_counter", "model/dense/kernel", "model/dense/bias"]
    assert "optimizer/0" in paths
    assert paths[-2:] == ["inner/save_counter", "inner/step"]


def test_model_and_optimizer_round_trip_resumes_training_exactly(tmp_path):
    model, x, y = _trained(seed=0)
    prefix = Checkpoint(model=model, optimizer=model.optimizer).save(tmp_path / "ckpt")
    fresh, _, _ = _trained(seed=1, steps=1)  # other weights, an optimizer already built
    status = Checkpoint(model=fresh, optimizer=fresh.optimizer).restore(prefix)
    status.assert_consumed()
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(fresh.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    fresh.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for got, want in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_save_numbers_and_records_the_latest(tmp_path):
    checkpoint = Checkpoint(v=rl.Variable(np.arange(3.0)))
    first = checkpoint.save(tmp_path / "ckpt")
    second = checkpoint.save(tmp_path / "ckpt")
    assert [os.path.basename(first), os.path.basename(second)] == ["ckpt-1", "ckpt-2"]
    assert rl.train.latest_checkpoint(tmp_path) == second
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint", "ckpt-1.index.json", "ckpt-1.safetensors",
        "ckpt-2.index.json", "ckpt-2.safetensors",
    ]  # fmt: skip
    again = Checkpoint(v=rl.Variable(np.zeros(3)))
    again.restore(second)
    assert int(again.save_counter.numpy()) == 2  # so the next save is ckpt-3


def test_write_is_unnumbered_and_leaves_no_state_file(tmp_path):
    variable = rl.Variable(np.float32(2.5))
    assert Checkpoint(v=variable).write(tmp_path / "w") == str(tmp_path / "w")
    assert rl.train.latest_checkpoint(tmp_path) is None
    variable.assign(np.float32(0.0))
    Checkpoint(v=variable).read(tmp_path / "w").assert_consumed()
    assert variable.numpy() == np.float32(2.5)


def test_dtypes_round_trip_bit_exact(tmp_path):
    values = {
        "bf16": np.array([1.5, -2.25], dtype=ml_dtypes.bfloat16),
        "f64": np.array([np.pi, 1e-300]),
        "i8": np.array([-128, 127], np.int8),
        "flag": np.array([True, False]),
        "scalar": np.float16(3.0),
    }
    variables = {name: rl.Variable(value) for name, value in values.items()}
    prefix = Checkpoint(**variables).write(tmp_path / "w")
    fresh = {name: rl.Variable(np.zeros_like(value)) for name, value in values.items()}
    Checkpoint(**fresh).read(prefix).assert_consumed()
    for name, value in values.items():
        assert fresh[name].dtype == np.asarray(value).dtype
        np.testing.assert_array_equal(fresh[name].numpy(), value)


def test_shape_mismatch_names_the_entry_and_assigns_nothing(tmp_path):
    prefix = Checkpoint(a=rl.Variable(np.ones(2)), b=rl.Variable(np.ones(3))).write(tmp_path / "w")
    a, b = rl.Variable(np.zeros(2)), rl.Variable(np.zeros(4))
    with pytest.raises(CheckpointError, match=r"entry 'b' .* shape \(3,\), .* shape \(4,\)"):
        Checkpoint(a=a, b=b).read(prefix)
    np.testing.assert_array_equal(a.numpy(), np.zeros(2))


def test_dtype_mismatch_float_into_int_is_an_error(tmp_path):
    prefix = Checkpoint(a=rl.Variable(np.ones(2))).write(tmp_path / "w")
    with pytest.raises(CheckpointError, match="entry 'a' .* dtype float64.*variable's int32"):
        Checkpoint(a=rl.Variable(np.zeros(2, np.int32))).read(prefix)


def test_missing_and_unused_entries_are_named_unless_partial(tmp_path):
    prefix = Checkpoint(a=rl.Variable(1.0), old=rl.Variable(2.0)).write(tmp_path / "w")
    a, new = rl.Variable(0.0), rl.Variable(5.0)
    status = Checkpoint(a=a, new=new).read(prefix)
    assert float(a.numpy()) == 1.0 and float(new.numpy()) == 5.0
    assert (status.missing, status.unused) == (["new"], ["old"])
    with pytest.raises(CheckpointError, match=r"missing from the file: \['new'\].*took: \['old'\]"):
        status.assert_consumed()
    with pytest.raises(CheckpointError, match=r"lacks values for variables: \['new'\]"):
        status.assert_existing_objects_matched()
    assert status.expect_partial() is status


def test_unbuilt_optimizer_gets_a_hint(tmp_path):
    model, _, _ = _trained()
    prefix = Checkpoint(optimizer=model.optimizer).write(tmp_path / "w")
    status = Checkpoint(optimizer=rl.optimizers.Adam(0.01)).read(prefix)
    with pytest.raises(CheckpointError, match=r"optimizer/2.*optimizer\.build"):
        status.assert_consumed()


def test_restore_none_and_missing_paths(tmp_path):
    checkpoint = Checkpoint(a=rl.Variable(1.0))
    assert checkpoint.restore(None).missing == []
    with pytest.raises(CheckpointNotFoundError, match="no checkpoint at .*nope"):
        checkpoint.restore(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        checkpoint.read(tmp_path / "nope")


def test_unsupported_objects_are_rejected_by_name():
    with pytest.raises(CheckpointError, match="received model=str"):
        Checkpoint(model="not a model")


def test_attribute_access_and_custom_objects_with_variables(tmp_path):
    class Counter:
        def __init__(self):
            self.variables = [rl.Variable(np.int64(0)), rl.Variable(np.float32(0.5))]

    counter = Counter()
    checkpoint = Checkpoint(counter=counter)
    assert checkpoint.counter is counter
    counter.variables[0].assign(np.int64(9))
    prefix = checkpoint.write(tmp_path / "w")
    other = Counter()
    Checkpoint(counter=other).read(prefix).assert_consumed()
    assert int(other.variables[0].numpy()) == 9
