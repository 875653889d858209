"""Whole-model files: model.save / rl.models.load_model."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import rillet as rl
from rillet.saving import ModelFileError


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1))).astype(np.float32)
    return x, y


def _dense_model():
    inputs = rl.Input(shape=(4,))
    hidden = rl.layers.Dense(8, activation="tanh", kernel_initializer="glorot_uniform")(inputs)
    model = rl.Model(inputs, rl.layers.Dense(1)(hidden))
    model.compile(optimizer=rl.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    return model


_RESUME = textwrap.dedent(
    """
    import sys
    import numpy as np
    import rillet as rl
    model = rl.models.load_model(sys.argv[1])
    data = np.load(sys.argv[2])
    model.fit(data["x"], data["y"], batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.savez(sys.argv[3], iterations=model.optimizer.iterations.numpy(),
             **{str(i): w for i, w in enumerate(model.get_weights())})
    """
)


def test_training_resumes_in_a_fresh_process(tmp_path):
    x, y = _data()
    straight = _dense_model()
    resumed = _dense_model()
    resumed.set_weights(straight.get_weights())
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)  # 20 steps
    resumed.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 10 steps
    path = tmp_path / "model.rillet"
    resumed.save(path)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    script = tmp_path / "resume.py"
    script.write_text(_RESUME)
    out = tmp_path / "out.npz"
    subprocess.run(
        [sys.executable, str(script), str(path), str(tmp_path / "data.npz"), str(out)],
        check=True,
        timeout=120,
    )
    with np.load(out) as result:
        assert int(result["iterations"]) == 20
        weights = [result[str(i)] for i in range(len(straight.get_weights()))]
    for got, want in zip(weights, straight.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert int(straight.optimizer.iterations.numpy()) == 20


def test_loaded_model_is_compiled_with_the_optimizer_state(tmp_path):
    x, y = _data()
    model = _dense_model()
    model.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.rillet")
    again = rl.models.load_model(tmp_path / "m.rillet")
    assert again.compiled and isinstance(again.optimizer, rl.optimizers.Adam)
    assert again.optimizer.get_config() == model.optimizer.get_config()
    for got, want in zip(again.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    again.evaluate(x, y, verbose=0)  # builds the metrics, as in Keras
    assert again.metrics_names == model.metrics_names == ["loss", "mae"]
    plain = rl.models.load_model(tmp_path / "m.rillet", compile=False)
    assert not plain.compiled


def test_functional_model_with_two_inputs_round_trips(tmp_path):
    a, b = rl.Input(shape=(3,), name="a"), rl.Input(shape=(2,), name="b")
    joined = rl.layers.Concatenate()([rl.layers.Dense(4)(a), b])
    model = rl.Model([a, b], rl.layers.Dense(2, activation="softmax")(joined))
    rng = np.random.default_rng(2)
    xa, xb = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    xa, xb = xa.astype(np.float32), xb.astype(np.float32)
    model.save(tmp_path / "two.rillet")
    again = rl.saving.load_model(tmp_path / "two.rillet")
    assert not again.compiled
    np.testing.assert_array_equal(
        again.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0)
    )
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]


def test_bfloat16_weights_round_trip(tmp_path):
    inputs = rl.Input(shape=(3,), dtype="bfloat16")
    model = rl.Model(inputs, rl.layers.Dense(2, dtype="bfloat16")(inputs))
    model.save(tmp_path / "bf.rillet")
    again = rl.models.load_model(tmp_path / "bf.rillet")
    for got, want in zip(again.get_weights(), model.get_weights()):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))


@rl.saving.register_keras_serializable(package="tests")
class _Scale(rl.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_custom_layers_come_from_the_registry(tmp_path):
    inputs = rl.Input(shape=(2,))
    model = rl.Model(inputs, _Scale(3.0)(rl.layers.Dense(2)(inputs)))
    model.save(tmp_path / "c.rillet")
    again = rl.models.load_model(tmp_path / "c.rillet")
    assert isinstance(again.layers[-1], _Scale) and again.layers[-1].factor == 3.0
    x = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert rl.saving.get_registered_name(_Scale) == "tests>_Scale"


def test_save_is_atomic_and_checks_arguments(tmp_path):
    model = _dense_model()
    path = tmp_path / "m.rillet"
    model.save(path)
    assert os.listdir(tmp_path) == ["m.rillet"]  # no temporary file left behind
    with pytest.raises(rl.errors.ArgumentError, match="overwrite=False"):
        model.save(path, overwrite=False)
    with pytest.raises(rl.errors.ArgumentError, match="m.h5"):
        model.save(tmp_path / "m.h5")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [
            "config.json", "metadata.json", "model.weights.safetensors",
        ]  # fmt: skip
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["compile_config"]["loss"] == "mse"
    assert metadata["compile_config"]["optimizer"]["class_name"] == "Adam"
    with pytest.raises(FileNotFoundError, match="nothing.rillet"):
        rl.models.load_model(tmp_path / "nothing.rillet")


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory):
    x, y = _data()
    model = _dense_model()
    model.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    path = tmp_path_factory.mktemp("good") / "m.rillet"
    model.save(path)
    return path.read_bytes()


def _expect_error(path, match=None):
    with pytest.raises(ModelFileError, match=match) as info:
        rl.models.load_model(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize("cut", [0, 10, 100, 1000, -300, -22, -1])
def test_truncated_files_are_refused(tmp_path, good_bytes, cut):
    path = tmp_path / "cut.rillet"
    path.write_bytes(good_bytes[:cut])
    _expect_error(path)


def test_fuzzed_bytes_give_model_file_errors(tmp_path, good_bytes):
    rng = np.random.default_rng(3)
    path = tmp_path / "fuzz.rillet"
    for _ in range(60):
        data = bytearray(good_bytes)
        for position in rng.integers(0, len(data), size=rng.integers(1, 8)):
            data[position] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        try:
            rl.models.load_model(path)
        except ModelFileError as error:
            assert str(path) in str(error)
        # a flip that zip's CRC and the formats do not notice may still load


def test_foreign_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.rillet"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    _expect_error(foreign, "metadata.json")
    text = tmp_path / "text.rillet"
    text.write_text("just some text\n")
    _expect_error(text, "not a zip")
    npz = tmp_path / "weights.rillet"
    with open(npz, "wb") as file:
        np.savez(file, a=np.ones(3))
    _expect_error(npz)


def test_a_pickle_inside_is_never_loaded(tmp_path, good_bytes, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle must never be loaded")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    path = tmp_path / "pickled.rillet"
    (tmp_path / "src.rillet").write_bytes(good_bytes)
    with zipfile.ZipFile(tmp_path / "src.rillet") as source, zipfile.ZipFile(path, "w") as out:
        for name in source.namelist():
            out.writestr(name, source.read(name))
        out.writestr("payload.pkl", pickle.dumps({"boom": 1}))
    _expect_error(path, "payload.pkl")
    # A pickle in place of the weights is refused as not-safetensors.
    swapped = tmp_path / "swapped.rillet"
    with zipfile.ZipFile(tmp_path / "src.rillet") as source, zipfile.ZipFile(swapped, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            out.writestr(name, pickle.dumps(data) if name.endswith(".safetensors") else data)
    _expect_error(swapped, "safetensors")


def test_mismatched_weights_are_refused(tmp_path, good_bytes):
    path = tmp_path / "m.rillet"
    (tmp_path / "src.rillet").write_bytes(good_bytes)
    with zipfile.ZipFile(tmp_path / "src.rillet") as source, zipfile.ZipFile(path, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["config"]["units"] = 9
                data = json.dumps(config).encode()
            out.writestr(name, data)
    _expect_error(path, "shape")
