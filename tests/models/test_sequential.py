"""Sequential models and subclassed models: building, layers, configs and summary()."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError


def _mlp(**kwargs):
    return rl.Sequential(
        [rl.Input(shape=(4,)), rl.layers.Dense(8, activation="relu"), rl.layers.Dense(2)],
        **kwargs,
    )


def test_sequential_with_input_is_built_with_output_shape():
    model = _mlp()
    assert model.built and model.output_shape == (None, 2) and model.input_shape == (None, 4)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert model.count_params() == 4 * 8 + 8 + 8 * 2 + 2


def test_input_shape_on_the_first_layer_builds_the_model():
    model = rl.Sequential([rl.layers.Dense(3, input_shape=(5,)), rl.layers.Dense(1)])
    assert model.built and model.output_shape == (None, 1)


def test_deferred_build_on_first_call(rng):
    model = rl.Sequential([rl.layers.Dense(3), rl.layers.Dense(1)])
    assert not model.built
    with pytest.raises(ArgumentError, match="not been built"):
        _ = model.output_shape
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = model(x)
    assert model.built and y.shape == (6, 1) and model.output_shape == (None, 1)
    expected = model.layers[1](model.layers[0](rl.asarray(x))).numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)


def test_add_and_pop():
    model = rl.Sequential()
    model.add(rl.Input(shape=(3,)))
    model.add(rl.layers.Dense(4))
    model.add(rl.layers.Dense(2))
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert isinstance(popped, rl.layers.Dense) and model.output_shape == (None, 4)
    model.pop()
    with pytest.raises(ArgumentError, match="no layers to pop"):
        model.pop()


def test_add_rejects_non_layers_duplicates_and_late_inputs():
    model = rl.Sequential([rl.layers.Dense(2, name="d")])
    with pytest.raises(ArgumentTypeError, match="Only instances"):
        model.add("dense")
    with pytest.raises(ArgumentError, match="unique names.*'d'"):
        model.add(rl.layers.Dense(2, name="d"))
    with pytest.raises(ArgumentError, match="first layer"):
        model.add(rl.Input(shape=(2,)))


def test_sequential_config_round_trip(rng):
    model = _mlp(name="mlp")
    config = model.get_config()
    assert config["name"] == "mlp" and config["build_input_shape"] == (None, 4)
    assert [entry["class_name"] for entry in config["layers"]] == ["InputLayer", "Dense", "Dense"]
    again = rl.Sequential.from_config(config)
    again.set_weights(model.get_weights())
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert rl.models.clone_model(model).output_shape == (None, 2)


def test_trainable_false_freezes_weights():
    model = _mlp()
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    model.trainable = False
    assert model.trainable_weights == [] and len(model.weights) == 4


def test_get_layer_by_name_and_index():
    model = rl.Sequential([rl.Input(shape=(2,)), rl.layers.Dense(3, name="hidden")])
    assert model.get_layer("hidden") is model.layers[0] is model.get_layer(index=0)
    with pytest.raises(ArgumentError, match="no layer named 'missing'"):
        model.get_layer("missing")
    with pytest.raises(ArgumentError, match="exactly one"):
        model.get_layer()


# --- subclassed models -----------------------------------------------------------------------


class TwoTowers(rl.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.left = rl.layers.Dense(units)
        self.right = rl.layers.Dense(units)
        self.towers = [rl.layers.Dense(1), rl.layers.Dense(1)]

    def call(self, x):
        return self.towers[0](self.left(x)) + self.towers[1](self.right(x))


def test_subclassed_model_tracks_attribute_and_list_layers(rng):
    model = TwoTowers()
    y = model(rng.standard_normal((5, 2)).astype(np.float32))
    assert y.shape == (5, 1)
    assert len(model.layers) == 4 and len(model.trainable_weights) == 8
    assert model.count_params() == 2 * (2 * 3 + 3) + 2 * (3 + 1)


def test_subclassed_model_training_flag_reaches_sublayers():
    class WithDropout(rl.Model):
        def __init__(self):
            super().__init__()
            self.drop = rl.layers.Dropout(0.5)

        def call(self, x):  # no training argument: the flag still reaches Dropout
            return self.drop(x)

    model = WithDropout()
    ones = np.ones((1, 1000), np.float32)
    assert np.all(model(ones).numpy() == 1)
    assert np.any(model(ones, training=True).numpy() == 0)


def test_model_positional_arguments_need_inputs_and_outputs():
    with pytest.raises(ArgumentError, match="positional"):
        TwoTowers.__mro__[1](3)  # rl.Model(3): neither a functional nor a keyword call


# --- summary ---------------------------------------------------------------------------------


def _summary_lines(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines


def test_summary_of_a_sequential_model():
    model = _mlp(name="mlp")
    lines = _summary_lines(model)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "mlp"'
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    first, second = model.layers
    assert f"{first.name} (Dense)" in text and "(None, 8)" in text and "(None, 2)" in text
    assert " Total params: 58 (232.00 B)" in lines
    assert " Trainable params: 58 (232.00 B)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines
    assert "InputLayer" not in text


def test_summary_of_a_functional_model_shows_connections():
    a, b = rl.Input(shape=(2,), name="left"), rl.Input(shape=(2,), name="right")
    out = rl.layers.Add(name="sum")([a, b])
    text = "\n".join(_summary_lines(rl.Model([a, b], out)))
    assert "Connected to" in text and "left (InputLayer)" in text
    assert "left[0][0], right[0][0]" in text


def test_summary_counts_non_trainable_and_optimizer_params():
    model = _mlp()
    model.layers[1].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 4)), np.ones((4, 2)), verbose=0)
    lines = _summary_lines(model, show_trainable=True)
    assert " Non-trainable params: 18 (72.00 B)" in lines
    assert any(line.startswith(" Optimizer params: ") for line in lines)
    assert "Trainable" in lines[2]


def test_summary_of_an_unbuilt_subclassed_model():
    text = "\n".join(_summary_lines(TwoTowers()))
    assert "0 (unbuilt)" in text and "?" in text
