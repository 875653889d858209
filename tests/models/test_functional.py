"""Functional models: rl.Input, symbolic layer calls, graphs with several inputs and outputs,
shared layers, nested models, masks, configs and cloning."""

import json

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from rillet.layers import masking
from rillet.models.symbolic import KerasTensor, inbound_nodes
from rillet.testing import check_grads


class Scale(rl.layers.Layer):
    """A tiny layer with one weight, defined here so the tests do not depend on others."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


# --- Input and KerasTensor -------------------------------------------------------------------


def test_input_returns_a_keras_tensor_with_history():
    x = rl.Input(shape=(3,), name="features")
    assert isinstance(x, KerasTensor)
    assert x.shape == (None, 3) and x.dtype == rl.float32 and x.ndim == 2
    layer, node_index, tensor_index = x._keras_history
    assert isinstance(layer, rl.models.InputLayer) and layer.name == "features"
    assert (node_index, tensor_index) == (0, 0)


def test_input_batch_size_batch_shape_and_dtype():
    assert rl.Input(shape=(2,), batch_size=4).shape == (4, 2)
    assert rl.Input(batch_shape=(None, None, 5)).shape == (None, None, 5)
    assert rl.Input(shape=(7,), dtype="int32").dtype == rl.int32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shape": 5}, "shape=5"),
        ({"shape": (-1, 2)}, "shape=(-1, 2)"),
        ({}, "needs shape"),
        ({"shape": (2,), "batch_shape": (None, 2)}, "not both"),
        ({"shape": (2,), "batch_size": 0}, "batch_size=0"),
    ],
)
def test_input_rejects_bad_shapes(kwargs, message):
    with pytest.raises(ArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rl.Input(**kwargs)


def test_symbolic_tensor_has_no_value():
    x = rl.Input(shape=(2,))
    with pytest.raises(ArgumentTypeError, match="symbolic"):
        x.numpy()
    with pytest.raises(ArgumentTypeError, match="truth value"):
        bool(x)


def test_layer_call_records_a_node_and_infers_shape_and_dtype():
    x = rl.Input(shape=(None, 4))
    dense = rl.layers.Dense(3)
    y = dense(x)
    assert y.shape == (None, None, 3) and y.dtype == rl.float32
    assert y._keras_history.layer is dense
    assert inbound_nodes(dense)[0].input_tensors == [x]
    ids = rl.Input(shape=(5,), dtype="int64")
    emb = rl.layers.Embedding(10, 2)(ids)
    assert emb.shape == (None, 5, 2) and emb.dtype == rl.float32


# --- building and running ------------------------------------------------------------------


def test_sequential_chain_matches_direct_calls(rng):
    x = rl.Input(shape=(3,))
    d1, d2 = rl.layers.Dense(4, activation="relu"), rl.layers.Dense(2)
    model = rl.Model(x, d2(d1(x)))
    data = rng.standard_normal((5, 3)).astype(np.float32)
    expected = d2(d1(rl.asarray(data))).numpy()
    np.testing.assert_allclose(model(data).numpy(), expected, rtol=1e-6)
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    assert [w.shape for w in model.trainable_weights] == [(3, 4), (4,), (4, 2), (2,)]


def test_several_inputs_and_outputs_as_lists_and_dicts(rng):
    a, b = rl.Input(shape=(2,), name="a"), rl.Input(shape=(3,), name="b")
    joined = rl.layers.Concatenate()([a, b])
    out1, out2 = Scale(name="s1")(joined), Scale(2.0, name="s2")(joined)
    listed = rl.Model([a, b], [out1, out2])
    keyed = rl.Model({"a": a, "b": b}, {"one": out1, "two": out2})
    xa, xb = rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
    expected = np.concatenate([xa, xb], axis=1)
    r1, r2 = listed([xa, xb])
    np.testing.assert_allclose(r1.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(r2.numpy(), 2 * expected, rtol=1e-6)
    result = keyed({"b": xb, "a": xa})
    assert set(result) == {"one", "two"}
    np.testing.assert_allclose(result["two"].numpy(), 2 * expected, rtol=1e-6)
    np.testing.assert_allclose(listed({"a": xa, "b": xb})[0].numpy(), expected, rtol=1e-6)
    assert listed.output_names == ["s1", "s2"] and keyed.output_names == ["one", "two"]
    assert listed.input_shape == [(None, 2), (None, 3)]


def test_shared_layer_weights_are_used_twice(rng):
    a, b = rl.Input(shape=(3,)), rl.Input(shape=(3,))
    shared = rl.layers.Dense(2)
    model = rl.Model([a, b], rl.layers.Add()([shared(a), shared(b)]))
    assert len(model.trainable_weights) == 2 and len(inbound_nodes(shared)) == 2
    xa, xb = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    w, bias = (v.numpy() for v in shared.weights)
    np.testing.assert_allclose(
        model([xa, xb]).numpy(), xa @ w + xb @ w + 2 * bias, rtol=1e-5, atol=1e-6
    )


def test_nested_model_is_a_layer(rng):
    inner_in = rl.Input(shape=(3,))
    inner = rl.Model(inner_in, rl.layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    x = rl.Input(shape=(3,))
    outer = rl.Model(x, rl.layers.Dense(1)(inner(x)))
    assert inner in outer.layers and outer.count_params() == 3 * 2 + 2 + 2 + 1
    data = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        outer(data).numpy(), outer.layers[-1](inner(data)).numpy(), rtol=1e-6
    )


def test_graph_disconnected_is_an_error():
    a, b = rl.Input(shape=(2,), name="left"), rl.Input(shape=(2,), name="right")
    out = rl.layers.Add()([a, b])
    with pytest.raises(ArgumentError, match="graph disconnected.*'right'"):
        rl.Model(a, out)


def test_outputs_must_be_symbolic():
    with pytest.raises(ArgumentTypeError, match="symbolic tensors"):
        rl.Model(rl.Input(shape=(2,)), rl.ones((2, 2)))


def test_input_shape_mismatch_names_both_shapes():
    x = rl.Input(shape=(4,))
    model = rl.Model(x, rl.layers.Dense(1)(x))
    with pytest.raises(ShapeError, match=r"expected shape=\(None, 4\), found shape=\(2, 5\)"):
        model(np.ones((2, 5), np.float32))


def test_wrong_number_of_inputs():
    a, b = rl.Input(shape=(2,)), rl.Input(shape=(2,))
    model = rl.Model([a, b], rl.layers.Add()([a, b]))
    with pytest.raises(ArgumentError, match="expects 2 inputs"):
        model([np.ones((1, 2))] * 3)


def test_inputs_are_cast_to_the_input_dtype_and_rank():
    x = rl.Input(shape=(3,))
    model = rl.Model(x, Scale()(x))
    assert model(np.ones((2, 3), np.float64)).dtype == rl.float32
    assert model(np.ones((2, 3, 1), np.float32)).shape == (2, 3)


def test_masks_propagate_through_the_graph():
    tokens = rl.Input(shape=(4,), dtype="int64")
    embedded = rl.layers.Embedding(5, 2, mask_zero=True)(tokens)
    assert embedded._mask_shape == (None, 4)
    model = rl.Model(tokens, rl.layers.Dense(3)(embedded))
    out = model(np.array([[1, 2, 0, 0]]))
    np.testing.assert_array_equal(masking.get(out).numpy(), [[True, True, False, False]])


def test_gradients_through_a_functional_model(rng):
    x = rl.Input(shape=(3,), dtype="float64")
    model = rl.Model(x, rl.layers.Dense(2, activation="tanh", dtype="float64")(x))
    data = rl.asarray(rng.standard_normal((2, 3)))
    check_grads(lambda v: rl.sum(model(v) ** 2), [data])


def test_operators_on_keras_tensors(rng):
    x = rl.Input(shape=(3,))
    y = -(2.0 * Scale(3.0)(x) + x - 1.0) / 2
    model = rl.Model(x, y**2)
    data = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(
        model(data).numpy(), (-(2 * 3 * data + data - 1) / 2) ** 2, rtol=1e-5
    )
    again = rl.Model.from_config(model.get_config(), custom_objects={"Scale": Scale})
    np.testing.assert_allclose(again(data).numpy(), model(data).numpy(), rtol=1e-6)


def test_training_flag_reaches_dropout():
    x = rl.Input(shape=(1000,))
    model = rl.Model(x, rl.layers.Dropout(0.5)(x))
    ones = np.ones((1, 1000), np.float32)
    assert np.all(model(ones).numpy() == 1.0)
    dropped = model(ones, training=True).numpy()
    assert 300 < np.sum(dropped == 0) < 700


# --- configs and clones ---------------------------------------------------------------------


def _multi_io_model():
    a, b = rl.Input(shape=(2,), name="a"), rl.Input(shape=(3,), name="b")
    shared = rl.layers.Dense(3, name="shared")
    h = rl.layers.Concatenate(name="cat")([shared(rl.layers.Dense(3)(a)), shared(b)])
    return rl.Model([a, b], [rl.layers.Dense(1, name="out1")(h), Scale(name="out2")(h)])


def test_get_config_is_json_and_rebuilds_the_same_model(rng):
    model = _multi_io_model()
    config = json.loads(json.dumps(model.get_config()))
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    shared = next(entry for entry in config["layers"] if entry["name"] == "shared")
    assert len(shared["inbound_nodes"]) == 2
    clone = rl.Model.from_config(config, custom_objects={"Scale": Scale})
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    data = [rng.standard_normal((4, 2)), rng.standard_normal((4, 3))]
    for got, want in zip(clone(data), model(data)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_from_config_needs_custom_objects_for_unknown_layers():
    config = _multi_io_model().get_config()
    with pytest.raises(ArgumentError, match="Unknown layer: 'Scale'"):
        rl.Model.from_config(config)


def test_to_json_and_model_from_json():
    model = _multi_io_model()
    again = rl.models.model_from_json(model.to_json(), custom_objects={"Scale": Scale})
    assert again.count_params() == model.count_params()
    assert again.output_names == model.output_names


def test_nested_model_config_round_trip(rng):
    inner_in = rl.Input(shape=(3,))
    inner = rl.Model(inner_in, rl.layers.Dense(2)(inner_in), name="inner")
    x = rl.Input(shape=(3,))
    model = rl.Model(x, rl.layers.Dense(1)(inner(x)))
    again = rl.Model.from_config(model.get_config())
    again.set_weights(model.get_weights())
    data = rng.standard_normal((2, 3))
    np.testing.assert_allclose(again(data).numpy(), model(data).numpy(), rtol=1e-6)


def test_clone_model_has_new_weights_and_same_architecture(rng):
    model = _multi_io_model()
    clone = rl.models.clone_model(model)
    assert clone.count_params() == model.count_params()
    assert all(a is not b for a, b in zip(clone.weights, model.weights))
    renamed = rl.models.clone_model(
        model, clone_function=lambda layer: type(layer).from_config(layer.get_config())
    )
    renamed.set_weights(model.get_weights())
    data = [rng.standard_normal((2, 2)), rng.standard_normal((2, 3))]
    np.testing.assert_allclose(renamed(data)[0].numpy(), model(data)[0].numpy(), rtol=1e-6)


def test_clone_model_rejects_subclassed_models():
    class Tiny(rl.Model):
        def call(self, x):
            return x

    with pytest.raises(ArgumentTypeError, match="subclassed"):
        rl.models.clone_model(Tiny())


def test_subclass_of_model_built_functionally(rng):
    class Wrapped(rl.Model):
        def __init__(self):
            x = rl.Input(shape=(2,))
            super().__init__(x, rl.layers.Dense(1)(x), name="wrapped")

        def describe(self):
            return f"{self.name} with {self.count_params()} parameters"

    model = Wrapped()
    assert isinstance(model, rl.models.Functional) and isinstance(model, Wrapped)
    assert model.describe() == "wrapped with 3 parameters"
    assert model(rng.standard_normal((4, 2))).shape == (4, 1)


def test_subclassed_and_deferred_models_inside_a_functional_graph(rng):
    class Doubler(rl.Model):
        def __init__(self):
            super().__init__()
            self.dense = rl.layers.Dense(3)

        def call(self, x):
            return self.dense(x) * 2.0

    x = rl.Input(shape=(None, 4))
    doubled = Doubler()(x)  # its Dense builds on a dummy batch, outside any trace
    assert doubled.shape == (None, None, 3)
    stack = rl.Sequential([rl.layers.Dense(2), rl.layers.Dense(5)])
    model = rl.Model(x, stack(doubled))
    assert stack.built and model.output_shape == (None, None, 5)
    assert model(rng.standard_normal((2, 7, 4))).shape == (2, 7, 5)


def test_keras_history_fields():
    x = rl.Input(shape=(2,))
    y = rl.layers.Dense(1, name="head")(x)
    history = y._keras_history
    assert history.layer is history.operation and history.layer.name == "head"
    assert tuple(history)[1:] == (0, 0)
