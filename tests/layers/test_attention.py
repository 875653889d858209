"""Attention layers: values against PyTorch's nn.MultiheadAttention and NumPy references
given the same weights, Keras masks (padding, attention_mask, causal), the causal property
(outputs at t do not depend on inputs after t), config round trips, eager == traced,
gradients against finite differences (float64), and errors."""

import string

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from tests.layers.core_harness import check_layer_grads


def _torch():
    return pytest.importorskip("torch")


def _randomize(layer, rng, scale=0.5) -> None:
    for w in layer.weights:
        w.assign(rng.standard_normal(w.shape) * scale)


def _softmax(x, axes):
    x = x - x.max(axis=axes, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axes, keepdims=True)


def mha_reference(layer, query, value, key=None, mask=None):
    """Keras's multi-head attention in NumPy einsums, for any attention axes: ``(output,
    scores)``. ``mask`` is already broadcast to the scores' shape."""
    key = value if key is None else key
    w = [v.numpy() for v in layer.weights]
    if not layer.use_bias:
        w = [w[0], 0.0, w[1], 0.0, w[2], 0.0, w[3], 0.0]
    q = np.tensordot(query, w[0], axes=1) + w[1]
    k = np.tensordot(key, w[2], axes=1) + w[3]
    v = np.tensordot(value, w[4], axes=1) + w[5]
    rank = q.ndim
    axes = layer.attention_axes
    letters = string.ascii_lowercase
    target = letters[:rank]  # the query side: b, inner axes..., heads, dim
    source = "".join(letters[rank + i] if i in axes else target[i] for i in range(rank))
    batch = [i for i in range(rank - 1) if i not in axes]  # includes the heads axis
    product = "".join([target[i] for i in batch] + [target[i] for i in axes]
                      + [source[i] for i in axes])  # fmt: skip
    scores = np.einsum(f"{source},{target}->{product}", k, q / np.sqrt(layer.key_dim))
    if mask is not None:
        scores = scores + (1.0 - mask) * -1e9
    scores = _softmax(scores, tuple(range(-len(axes), 0)))
    out = np.einsum(f"{product},{source}->{target}", scores, v)
    return np.tensordot(out, w[6], axes=2) + w[7], scores


def _torch_mha(torch, layer, embed, heads, kdim=None, vdim=None):
    """nn.MultiheadAttention holding a Keras-shaped MultiHeadAttention's weights."""
    w = [v.numpy() for v in layer.weights]
    net = torch.nn.MultiheadAttention(embed, heads, batch_first=True, kdim=kdim, vdim=vdim)
    net = net.double()

    def put(param, value):
        param.copy_(torch.from_numpy(np.array(value)))

    with torch.no_grad():
        if kdim is None:
            put(net.in_proj_weight, np.concatenate([x.reshape(len(x), -1).T for x in w[0:6:2]]))
        else:
            for name, x in zip(("q", "k", "v"), w[0:6:2]):
                put(getattr(net, f"{name}_proj_weight"), x.reshape(len(x), -1).T)
        put(net.in_proj_bias, np.concatenate([b.ravel() for b in w[1:6:2]]))
        put(net.out_proj.weight, w[6].reshape(-1, w[6].shape[-1]).T)
        put(net.out_proj.bias, w[7])
    return net


# --- MultiHeadAttention against references --------------------------------------------------


@pytest.mark.parametrize("cross", [False, True])
def test_mha_matches_torch(rng, cross):
    torch = _torch()
    q = rng.standard_normal((2, 4, 6))
    v = rng.standard_normal((2, 5, 3)) if cross else q
    k = rng.standard_normal((2, 5, 4)) if cross else None
    layer = L.MultiHeadAttention(num_heads=3, key_dim=2, dtype="float64")
    layer(q, v, key=k)
    _randomize(layer, rng)
    net = _torch_mha(torch, layer, 6, 3, kdim=4 if cross else None, vdim=3 if cross else None)
    tk = torch.from_numpy(v if k is None else k)
    expected, weights = net(torch.from_numpy(q), tk, torch.from_numpy(v),
                            average_attn_weights=False)  # fmt: skip
    got, scores = layer(q, v, key=k, return_attention_scores=True)
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), weights.detach().numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("compiled", [False, True])
def test_mha_self_attention_gradients_match_torch(rng, compiled):
    """Gradients of the input and of every weight (the projections run as 2-D matmuls)."""
    torch = _torch()
    x = rng.standard_normal((2, 5, 8))
    g = rng.standard_normal((2, 5, 8))
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4, dtype="float64")
    layer(x, x)
    _randomize(layer, rng)
    net = _torch_mha(torch, layer, 8, 2)

    def grads(t):
        with rl.GradientTape() as tape:
            tape.watch(t)
            loss = rl.sum(layer(t, t) * rl.asarray(g))
        return tape.gradient(loss, [t, *layer.weights])

    got = [t.numpy() for t in (rl.function(grads) if compiled else grads)(rl.asarray(x))]
    tx = torch.from_numpy(x).requires_grad_()
    y, _ = net(tx, tx, tx, need_weights=False)
    (y * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(got[0], tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    kernels = net.in_proj_weight.grad.numpy().reshape(3, 8, 8)  # (q|k|v, out, in)
    biases = net.in_proj_bias.grad.numpy().reshape(3, 8)
    for i in range(3):
        np.testing.assert_allclose(got[1 + 2 * i], kernels[i].T.reshape(8, 2, 4), rtol=1e-9,
                                   atol=1e-12)  # fmt: skip
        np.testing.assert_allclose(got[2 + 2 * i], biases[i].reshape(2, 4), rtol=1e-9, atol=1e-12)
    out = net.out_proj
    np.testing.assert_allclose(got[7], out.weight.grad.numpy().T.reshape(2, 4, 8), rtol=1e-9,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(got[8], out.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_mha_traced_with_unknown_sequence_length(rng):
    """Inner axes of unknown size while tracing take the tensordot projections; the values
    are those of the eager (matmul) projections, for several lengths."""
    layer = L.MultiHeadAttention(num_heads=2, key_dim=4, dtype="float64")
    layer(np.zeros((1, 3, 8)), np.zeros((1, 3, 8)))
    _randomize(layer, rng)
    spec = rl.TensorSpec((None, None, 8), "float64")
    traced = rl.function(lambda t: layer(t, t), input_signature=[spec])
    for shape in ((2, 5, 8), (3, 7, 8)):
        x = rng.standard_normal(shape)
        expected = mha_reference(layer, x, x)[0]
        np.testing.assert_allclose(traced(x).numpy(), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer(x, x).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_mha_padding_and_causal_masks_match_torch(rng):
    torch = _torch()
    tokens = np.array([[5, 2, 7, 0, 0], [1, 3, 4, 6, 2]])
    x = L.Embedding(8, 6, mask_zero=True, dtype="float64")(tokens)  # carries the padding mask
    layer = L.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    layer(x, x)
    _randomize(layer, rng)
    got, scores = layer(x, x, return_attention_scores=True, use_causal_mask=True)
    net = _torch_mha(torch, layer, 6, 2)
    t = torch.from_numpy(x.numpy().copy())
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    expected, weights = net(t, t, t, key_padding_mask=torch.from_numpy(tokens == 0),
                            attn_mask=causal, average_attn_weights=False)  # fmt: skip
    keep = tokens != 0  # torch leaves fully masked rows NaN; Keras's query mask covers them
    np.testing.assert_allclose(
        got.numpy()[keep], expected.detach().numpy()[keep], rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(scores.numpy()[:, :, :3], weights.detach().numpy()[:, :, :3],
                               atol=1e-12)  # fmt: skip
    assert rl.layers.masking.get(got) is not None  # the query mask goes on


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"num_heads": 2, "key_dim": 3, "value_dim": 4, "output_shape": (2, 5)}, (2, 4, 6)),
        ({"num_heads": 2, "key_dim": 2, "attention_axes": (1, 2)}, (2, 3, 4, 5)),
        ({"num_heads": 3, "key_dim": 2, "attention_axes": -2, "use_bias": False}, (2, 3, 4, 5)),
    ],
)
def test_mha_matches_numpy_reference(rng, kwargs, shape):
    x = rng.standard_normal(shape)
    layer = L.MultiHeadAttention(dtype="float64", **kwargs)
    layer(x, x)
    _randomize(layer, rng)
    got, scores = layer(x, x, return_attention_scores=True)
    expected, expected_scores = mha_reference(layer, x, x)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-10, atol=1e-13)
    assert got.shape == layer.compute_output_shape(shape, shape)


def test_mha_attention_mask_argument(rng):
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    mask = rng.random((2, 3, 5)) > 0.4
    mask[:, :, 0] = True
    layer = L.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    got, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
    expected, _ = mha_reference(layer, q, v, mask=mask[:, None].astype(float))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(scores.numpy()[np.broadcast_to(~mask[:, None], scores.shape)], 0)


@pytest.mark.parametrize("which", ["mha", "attention"])
def test_causal_outputs_do_not_see_the_future(rng, which):
    x = rng.standard_normal((2, 6, 4))
    if which == "mha":
        layer = L.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")

        def run(v):
            return layer(v, v, use_causal_mask=True).numpy()
    else:
        layer = L.Attention(dtype="float64")

        def run(v):
            return layer([v, v], use_causal_mask=True).numpy()

    before = run(x)
    for t in range(5):
        changed = x.copy()
        changed[:, t + 1 :] = rng.standard_normal(changed[:, t + 1 :].shape)
        after = run(changed)
        np.testing.assert_allclose(after[:, : t + 1], before[:, : t + 1], rtol=1e-12)
        assert not np.allclose(after[:, t + 1 :], before[:, t + 1 :])


class _SelfAttention(L.Layer):
    """``mha(x, x)`` as a one-input layer, for the gradient check."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, inputs):
        return self.inner(inputs, inputs, use_causal_mask=True)


def test_mha_config_traced_and_gradients(rng):
    x = rl.asarray(rng.standard_normal((2, 3, 4)))
    layer = L.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, output_shape=5,
                                 dtype="float64")  # fmt: skip
    y = layer(x, x)
    clone = L.MultiHeadAttention.from_config(layer.get_config())
    clone(x, x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, x).numpy(), y.numpy(), rtol=1e-12)
    traced = rl.function(lambda v: layer(v, v))
    np.testing.assert_allclose(traced(x).numpy(), y.numpy(), rtol=1e-10, atol=1e-12)
    _randomize(layer, rng)
    check_layer_grads(_SelfAttention(layer, dtype="float64"), x)


def test_mha_dropout_only_while_training(rng):
    x = rng.standard_normal((2, 4, 4)).astype(np.float32)
    layer = L.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.5, seed=3)
    inference = layer(x, x).numpy()
    np.testing.assert_allclose(layer(x, x, training=False).numpy(), inference)
    assert not np.allclose(layer(x, x, training=True).numpy(), inference)


def test_mha_in_a_functional_model(rng):
    inputs = rl.Input(shape=(5, 4))
    outputs = L.MultiHeadAttention(num_heads=2, key_dim=2)(inputs, inputs)
    model = rl.Model(inputs, outputs)
    assert model.predict(rng.standard_normal((3, 5, 4)), verbose=0).shape == (3, 5, 4)


# --- Attention ---------------------------------------------------------------------------


def attention_reference(q, v, k=None, q_mask=None, v_mask=None, causal=False, scale=1.0,
                        concat=None):  # fmt: skip
    k = v if k is None else k
    if concat is None:
        scores = scale * q @ np.swapaxes(k, -1, -2)
    else:
        scores = concat * np.tanh(scale * (q[:, :, None] + k[:, None])).sum(-1)
    keep = np.ones(scores.shape, bool)
    if v_mask is not None:
        keep &= v_mask[:, None, :]
    if causal:
        keep &= np.tril(np.ones(scores.shape[-2:], bool))
    weights = _softmax(scores - 1e9 * ~keep, (-1,))
    out = weights @ v
    return (out if q_mask is None else out * q_mask[..., None]), weights


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"use_scale": True},
        {"score_mode": "concat"},
        {"score_mode": "concat", "use_scale": True},
    ],  # fmt: skip
)
def test_attention_matches_numpy(rng, kwargs):
    q, v, k = (rng.standard_normal((2, n, 3)) for n in (4, 5, 5))
    layer = L.Attention(dtype="float64", **kwargs)
    layer([q, v, k])
    for w in layer.weights:
        w.assign(rng.uniform(0.5, 1.5, w.shape))
    q_mask, v_mask = rng.random((2, 4)) > 0.3, rng.random((2, 5)) > 0.3
    v_mask[:, 0] = True
    got, weights = layer([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True)
    scale = layer.scale.numpy() if layer.scale is not None else 1.0
    concat = None if layer.concat_score_weight is None else layer.concat_score_weight.numpy()
    expected, expected_w = attention_reference(q, v, k, q_mask, v_mask, scale=scale,
                                               concat=concat)  # fmt: skip
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), expected_w, rtol=1e-10, atol=1e-13)


def test_attention_takes_keras_masks_and_is_differentiable(rng):
    tokens = np.array([[1, 2, 0], [3, 0, 0]])
    x = L.Embedding(4, 3, mask_zero=True, dtype="float64")(tokens)
    layer = L.Attention(use_scale=True, dtype="float64")
    y = layer([x, x], use_causal_mask=True)
    expected, _ = attention_reference(x.numpy(), x.numpy(), q_mask=tokens != 0,
                                      v_mask=tokens != 0, causal=True)  # fmt: skip
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(rl.layers.masking.get(y).numpy(), tokens != 0)
    clone = L.Attention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert layer.compute_output_shape([(None, 3, 3), (None, 5, 7)]) == (None, 3, 7)

    class Self(L.Layer):
        def call(self, inputs):
            return layer([inputs, inputs * 0.5], use_causal_mask=True)

    check_layer_grads(Self(dtype="float64"), rl.asarray(rng.standard_normal((2, 3, 3))))


# --- errors ----------------------------------------------------------------------------------


def test_errors_repeat_the_bad_value(rng):
    with pytest.raises(ArgumentError, match="received num_heads=0"):
        L.MultiHeadAttention(0, 2)
    with pytest.raises(ArgumentError, match="received attention_axes='x'"):
        L.MultiHeadAttention(2, 2, attention_axes="x")
    with pytest.raises(ArgumentError, match=r"received attention_axes=\(3,\)"):
        L.MultiHeadAttention(2, 2, attention_axes=3)(rl.ones((1, 2, 3)), rl.ones((1, 2, 3)))
    with pytest.raises(ShapeError, match="must have the same shape but for the last axis"):
        L.MultiHeadAttention(2, 2)(rl.ones((1, 2, 3)), rl.ones((1, 4, 3)), key=rl.ones((1, 3, 3)))
    with pytest.raises(ArgumentError, match="received score_mode='add'"):
        L.Attention(score_mode="add")
    with pytest.raises(ArgumentTypeError, match="expected a list"):
        L.Attention()(rl.ones((1, 2, 3)))
