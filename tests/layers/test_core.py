"""Core layers: Dense, Activation, Dropout family, reshaping layers, Lambda, Embedding,
Masking, Identity, ActivityRegularization."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet import activations, constraints, initializers, regularizers
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from rillet.layers import masking
from tests.layers.core_harness import run_layer_test


@pytest.fixture
def x3(rng):
    return rng.standard_normal((2, 3, 4)).astype(np.float32)  # the layers compute in float32


def _torch():
    return pytest.importorskip("torch")


# --- Dense -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_dense_shapes_config_and_grads(rng, shape):
    layer, y = run_layer_test(
        L.Dense, {"units": 3, "activation": "tanh"}, rng.standard_normal(shape)
    )
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]
    assert y.shape == (*shape[:-1], 3)


def test_dense_matches_torch_linear(rng):
    torch = _torch()
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    layer = L.Dense(3, activation="relu")
    layer(x)
    kernel, bias = (w.numpy() for w in layer.weights)
    linear = torch.nn.Linear(4, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
        linear.bias.copy_(torch.from_numpy(bias + 0.1))
    layer.bias.assign(bias + 0.1)
    expected = torch.relu(linear(torch.from_numpy(x))).detach().numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dense_without_bias_and_initializers_by_object():
    layer = L.Dense(2, use_bias=False, kernel_initializer=initializers.Constant(0.5))
    y = layer(np.ones((1, 3), np.float32))
    assert len(layer.weights) == 1 and y.numpy().tolist() == [[1.5, 1.5]]
    assert layer.get_config()["kernel_initializer"]["config"] == {"value": 0.5}


def test_dense_regularizers_reach_losses(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    layer = L.Dense(
        2, kernel_regularizer=regularizers.L2(0.1), bias_regularizer="l1",
        activity_regularizer=regularizers.L1(0.01), bias_initializer="ones",
    )  # fmt: skip
    y = layer(x)
    layer(x)  # a second call replaces the activity penalty, it does not add one
    kernel = layer.kernel.numpy()
    expected = [0.1 * np.sum(kernel**2), 0.01 * 2.0, 0.01 * np.sum(np.abs(y.numpy()))]
    got = sorted(float(loss) for loss in layer.losses)
    np.testing.assert_allclose(got, sorted(expected), rtol=1e-5)


def test_dense_keeps_constraints_on_variables():
    layer = L.Dense(2, kernel_constraint="non_neg", bias_constraint=constraints.MaxNorm(1.0))
    layer(np.ones((1, 3), np.float32))
    assert isinstance(layer.kernel.constraint, constraints.NonNeg)
    assert isinstance(layer.bias.constraint, constraints.MaxNorm)
    config = L.Dense.from_config(layer.get_config()).get_config()
    assert config["bias_constraint"]["config"] == {"max_value": 1.0, "axis": 0}


def test_dense_passes_masks_through():
    emb = L.Embedding(5, 3, mask_zero=True)
    y = L.Dense(2)(emb(rl.asarray([[1, 0, 2]])))
    assert masking.get(y).numpy().tolist() == [[True, False, True]]


@pytest.mark.parametrize("units", [0, -3, 2.5, "4", True])
def test_dense_rejects_bad_units(units):
    with pytest.raises(ArgumentError, match=f"Dense: received units={units!r}"):
        L.Dense(units)


def test_dense_rejects_a_changed_input_size():
    layer = L.Dense(2)
    layer(np.ones((1, 3), np.float32))
    with pytest.raises(ShapeError, match=r"expected the last axis of the input to be 3.*\(1, 4\)"):
        layer(np.ones((1, 4), np.float32))
    with pytest.raises(ShapeError, match="rank >= 2"):
        L.Dense(2)(np.ones(3, np.float32))


def test_dense_casts_inputs_to_its_dtype():
    layer = L.Dense(2)
    assert layer(np.ones((1, 3))).dtype == rl.float32  # float64 NumPy input


# --- Activation, Identity, ActivityRegularization -------------------------------------------


def test_activation_layer(x3):
    layer, y = run_layer_test(L.Activation, {"activation": "softmax"}, x3)
    e = np.exp(x3 - x3.max(-1, keepdims=True))
    np.testing.assert_allclose(y.numpy(), e / e.sum(-1, keepdims=True), rtol=1e-6)
    assert layer.get_config()["activation"] == "softmax"


def test_activation_layer_accepts_a_callable(x3):
    y = L.Activation(activations.relu)(x3)
    np.testing.assert_allclose(y.numpy(), np.maximum(x3, 0))


def test_activation_layer_rejects_unknown_names():
    with pytest.raises(ArgumentError, match="'nope'"):
        L.Activation("nope")
    with pytest.raises(ArgumentError, match="'nope'"):
        L.Dense(2, activation="nope")


def test_identity_and_activity_regularization(x3):
    run_layer_test(L.Identity, {}, x3)
    layer, y = run_layer_test(L.ActivityRegularization, {"l1": 0.1, "l2": 0.2}, x3, grads=False)
    np.testing.assert_allclose(y.numpy(), x3)
    layer(x3)  # the harness's last call was traced: its penalty is a graph value
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), 0.1 * np.abs(x3).sum() + 0.2 * (x3**2).sum())


# --- Dropout ---------------------------------------------------------------------------------


def test_dropout_is_the_identity_unless_training(x3):
    layer = L.Dropout(0.5)
    assert layer(x3).numpy().tolist() == x3.tolist()
    assert layer(x3, training=False).numpy().tolist() == x3.tolist()
    run_layer_test(L.Dropout, {"rate": 0.3}, x3)


def test_dropout_in_training_drops_and_scales(rng):
    x = np.ones((200, 100), np.float32)
    y = L.Dropout(0.25, seed=3)(x, training=True).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1 / 0.75))}
    assert abs((y == 0).mean() - 0.25) < 0.02


def test_dropout_matches_torch_in_eval_mode(x3):
    torch = _torch()
    drop = torch.nn.Dropout(0.4).eval()
    expected = drop(torch.from_numpy(x3)).numpy()
    np.testing.assert_allclose(L.Dropout(0.4)(x3, training=False).numpy(), expected)


def test_dropout_gradient_uses_the_same_mask(x3):
    x = rl.asarray(x3)
    layer = L.Dropout(0.5, seed=7)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        total = rl.sum(y)
    g = tape.gradient(total, x).numpy()
    np.testing.assert_allclose(g, np.where(y.numpy() != 0, 2.0, 0.0))


def test_dropout_noise_shape_and_rate_edges(x3):
    y = L.Dropout(0.5, noise_shape=(None, 1, 4), seed=1)(np.ones((8, 3, 4)), training=True)
    kept = y.numpy() != 0
    assert (kept == kept[:, :1, :]).all()  # the same features dropped at every step
    assert (L.Dropout(1.0)(x3, training=True).numpy() == 0).all()
    assert L.Dropout(0.0)(x3, training=True).numpy().tolist() == x3.tolist()


def test_dropout_is_reproducible_with_the_global_seed():
    rl.random.set_seed(11)
    a = L.Dropout(0.5)(np.ones((4, 8)), training=True).numpy()
    rl.random.set_seed(11)
    b = L.Dropout(0.5)(np.ones((4, 8)), training=True).numpy()
    rl.random.set_seed(None)
    assert a.tolist() == b.tolist()


def test_training_flag_reaches_a_nested_dropout(x3):
    class Block(L.Layer):
        def __init__(self):
            super().__init__()
            self.drop = L.Dropout(0.5, seed=2)

        def call(self, inputs, training=None):
            return self.drop(inputs) * 1.0

    block = Block()
    x = np.ones((16, 16))
    assert (block(x, training=True).numpy() == 0).any()
    assert (block(x, training=False).numpy() == 1).all()
    assert (block(x).numpy() == 1).all()


def test_dropout_draws_a_new_mask_on_each_traced_run():
    layer = L.Dropout(0.5)
    fn = rl.function(lambda v: layer(v, training=True))
    a, b = fn(rl.ones((8, 8))).numpy(), fn(rl.ones((8, 8))).numpy()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("rate", [1.5, -0.1, "0.5", None])
def test_dropout_rejects_bad_rates(rate):
    with pytest.raises(ArgumentError, match=f"Dropout: received rate={rate!r}"):
        L.Dropout(rate)


@pytest.mark.parametrize(
    "cls, shape, kwargs, shared",
    [
        (L.SpatialDropout1D, (4, 5, 6), {}, (1,)),
        (L.SpatialDropout2D, (4, 3, 5, 6), {}, (1, 2)),
        (L.SpatialDropout2D, (4, 6, 3, 5), {"data_format": "channels_first"}, (2, 3)),
        (L.SpatialDropout3D, (2, 2, 3, 2, 6), {}, (1, 2, 3)),
    ],
)
def test_spatial_dropout_drops_whole_channels(cls, shape, kwargs, shared):
    y = cls(0.5, seed=4, **kwargs)(np.ones(shape), training=True).numpy()
    first = y[tuple(slice(0, 1) if d in shared else slice(None) for d in range(len(shape)))]
    assert (y == first).all() and (y == 0).any()
    run_layer_test(cls, {"rate": 0.5, **kwargs}, np.ones(shape), traced=False)


def test_spatial_dropout_checks_the_rank():
    with pytest.raises(ShapeError, match="rank 3"):
        L.SpatialDropout1D(0.5)(np.ones((2, 3)))


# --- reshaping -------------------------------------------------------------------------------


def test_flatten(x3):
    torch = _torch()
    _, y = run_layer_test(L.Flatten, {}, x3, expected_shape=(2, 12))
    np.testing.assert_allclose(y.numpy(), torch.flatten(torch.from_numpy(x3), 1).numpy())


def test_flatten_channels_first_matches_channels_last(rng):
    x = rng.standard_normal((2, 3, 4, 5))  # NCHW
    y = L.Flatten(data_format="channels_first")(x).numpy()
    np.testing.assert_allclose(y, x.transpose(0, 2, 3, 1).reshape(2, -1))


@pytest.mark.parametrize("target, expected", [((12,), (2, 12)), ((-1, 2), (2, 6, 2))])
def test_reshape(x3, target, expected):
    _, y = run_layer_test(L.Reshape, {"target_shape": target}, x3, expected_shape=expected)
    np.testing.assert_allclose(y.numpy(), x3.reshape(expected))


def test_reshape_rejects_incompatible_sizes(x3):
    with pytest.raises(ShapeError, match=r"\(3, 4\) \(12 values per sample\).*target_shape=\(5,\)"):
        L.Reshape((5,))(x3)
    with pytest.raises(ShapeError, match="target_shape"):
        L.Reshape((-1, 5))(x3)
    with pytest.raises(ArgumentError, match="at most one -1"):
        L.Reshape((-1, -1))
    assert L.Reshape((-1, 4)).compute_output_shape((None, None, 4)) == (None, None, 4)


def test_permute(x3):
    torch = _torch()
    _, y = run_layer_test(L.Permute, {"dims": (2, 1)}, x3, expected_shape=(2, 4, 3))
    np.testing.assert_allclose(y.numpy(), torch.from_numpy(x3).permute(0, 2, 1).numpy())
    with pytest.raises(ArgumentError, match=r"dims=\(0, 1\)"):
        L.Permute((0, 1))
    with pytest.raises(ShapeError, match="rank 3"):
        L.Permute((2, 1))(np.ones((2, 3, 4, 5)))


def test_repeat_vector(rng):
    x = rng.standard_normal((2, 3))
    _, y = run_layer_test(L.RepeatVector, {"n": 4}, x, expected_shape=(2, 4, 3))
    np.testing.assert_allclose(y.numpy(), np.repeat(x[:, None, :], 4, axis=1))
    with pytest.raises(ArgumentError, match="n=0"):
        L.RepeatVector(0)


# --- Lambda ----------------------------------------------------------------------------------


def scaled_square(x, factor=1.0):
    return rl.square(x) * factor


def test_lambda_with_a_named_function(x3):
    kwargs = {"function": scaled_square, "arguments": {"factor": 2.0}}
    layer, y = run_layer_test(L.Lambda, kwargs, x3)
    np.testing.assert_allclose(y.numpy(), 2 * x3**2)
    config = layer.get_config()
    assert config["function"]["config"] == "scaled_square"


def test_lambda_of_rillet_activation_round_trips(x3):
    for fn in (activations.gelu, rl.relu):
        layer = L.Lambda(fn)
        clone = L.Lambda.from_config(layer.get_config())
        np.testing.assert_allclose(clone(x3).numpy(), layer(x3).numpy())


def test_lambda_output_shape_and_masks(x3):
    layer = L.Lambda(lambda v: v[:, :, :2], output_shape=(3, 2))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)
    assert L.Lambda(lambda v: v * 2).compute_output_shape((None, 3, 4)) == (None, 3, 4)
    masked = L.Lambda(lambda v, mask=None: v, mask=lambda inputs, mask: mask)
    y = masked(L.Masking()(np.array([[[1.0], [0.0]]])))
    assert masking.get(y).numpy().tolist() == [[True, False]]


def test_lambda_of_a_lambda_needs_custom_objects(x3):
    fn = lambda v: v + 1.0  # noqa: E731
    config = L.Lambda(fn).get_config()
    with pytest.raises(ArgumentError, match="custom_objects"):
        L.Lambda.from_config(config)
    clone = L.Lambda.from_config(config, custom_objects={"<lambda>": fn})
    np.testing.assert_allclose(clone(x3).numpy(), x3 + 1)
    with pytest.raises(ArgumentTypeError, match="not a callable"):
        L.Lambda(3)


def test_lambda_passes_training(x3):
    layer = L.Lambda(lambda v, training=None: v * (2.0 if training else 1.0))
    assert layer(x3, training=True).numpy().tolist() == (2 * x3).tolist()


# --- Embedding and Masking -------------------------------------------------------------------


def test_embedding_matches_torch_and_masks_zero(rng):
    torch = _torch()
    ids = np.array([[1, 0, 4], [3, 3, 0]])
    layer = L.Embedding(5, 3, mask_zero=True)
    y = layer(ids)
    table = layer.embeddings.numpy()
    reference = torch.nn.Embedding.from_pretrained(torch.from_numpy(table))(torch.from_numpy(ids))
    np.testing.assert_allclose(y.numpy(), reference.numpy())
    assert masking.get(y).numpy().tolist() == (ids != 0).tolist()
    assert layer.compute_output_shape((None, 3)) == (None, 3, 3)
    assert np.abs(table).max() <= 0.05  # "uniform": RandomUniform(-0.05, 0.05)


def test_embedding_config_gradient_and_weights(rng):
    ids = np.array([[1, 2, 2], [0, 4, 1]])
    layer = L.Embedding(5, 2, dtype="float64")
    layer(ids)
    clone = L.Embedding.from_config(layer.get_config())
    clone(ids)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(ids).numpy(), layer(ids).numpy())
    with rl.GradientTape() as tape:
        total = rl.sum(layer(ids))
    (g,) = tape.gradient(total, layer.trainable_weights)
    np.testing.assert_allclose(np.asarray(g)[:, 0], np.bincount(ids.ravel(), minlength=5))
    given = L.Embedding(3, 2, weights=[np.arange(6.0).reshape(3, 2)])
    assert given(np.array([2])).numpy().tolist() == [[4.0, 5.0]]
    assert L.Embedding(5, 2)(np.array([[1.0, 2.0]])).shape == (1, 2, 2)  # float ids are cast


@pytest.mark.parametrize("args, bad", [((0, 2), "input_dim=0"), ((3, -1), "output_dim=-1")])
def test_embedding_rejects_bad_sizes(args, bad):
    with pytest.raises(ArgumentError, match=bad):
        L.Embedding(*args)


def test_masking(rng):
    x = rng.standard_normal((2, 4, 3))
    x[0, 1] = 0.0
    x[1, 3] = 0.0
    layer, y = run_layer_test(L.Masking, {"mask_value": 0.0}, x, grads=False)
    np.testing.assert_allclose(y.numpy(), x)
    with rl.GradientTape() as tape:
        inputs = rl.asarray(x)
        tape.watch(inputs)
        total = rl.sum(layer(inputs) * 3.0)
    kept = np.any(x != 0, axis=-1, keepdims=True)
    np.testing.assert_allclose(
        tape.gradient(total, inputs).numpy(), np.where(kept, 3.0, 0.0) + 0 * x
    )
    expected = [[True, False, True, True], [True, True, True, False]]
    assert masking.get(y).numpy().tolist() == expected
    x[1, 0] = -1.0
    y = L.Masking(mask_value=-1.0)(x)
    assert y.numpy()[1, 0].tolist() == [0.0, 0.0, 0.0]
    assert masking.get(y).numpy()[1].tolist() == [False, True, True, True]
