"""Recurrent layers: shapes, config round trips, eager == traced, gradients against finite
differences (float64), values and gradients against PyTorch given the same weights, masks,
go_backwards, return_state, stateful, the cell loop against the fused kernels, errors, and
the fused kernel's speed against a loop of ops."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, DTypeError, GradientError, ShapeError
from tests.layers.core_harness import check_layer_grads, run_layer_test
from tests.ops.opinfo.rnn import gru_reference, lstm_reference, simple_rnn_reference


def _torch():
    return pytest.importorskip("torch")


def _randomize(layer, rng, scale=0.5) -> None:
    for w in layer.weights:
        w.assign(rng.standard_normal(w.shape) * scale)


def _weights(layer) -> list:
    return [w.numpy() for w in layer.weights]


# --- the harness: shapes, config, traced, finite-difference gradients ---------------------------

CASES = [
    (L.LSTM, {"units": 3}),
    (L.LSTM, {"units": 2, "return_sequences": True, "go_backwards": True}),
    (L.LSTM, {"units": 2, "use_bias": False, "activation": "relu", "unit_forget_bias": False}),
    (L.LSTM, {"units": 2, "activation": "selu", "return_sequences": True}),  # the cell loop
    (L.GRU, {"units": 3}),
    (L.GRU, {"units": 2, "reset_after": False, "return_sequences": True}),
    (L.GRU, {"units": 2, "recurrent_activation": "gelu", "go_backwards": True}),  # cell loop
    (L.SimpleRNN, {"units": 3, "return_sequences": True}),
    (L.SimpleRNN, {"units": 2, "activation": "softsign", "go_backwards": True}),
]


@pytest.mark.parametrize("cls, kwargs", CASES, ids=[f"{c.__name__}-{i}" for i, (c, _) in
                                                     enumerate(CASES)])  # fmt: skip
def test_rnn_harness(rng, cls, kwargs):
    layer, y = run_layer_test(cls, kwargs, rng.standard_normal((2, 4, 3)) * 0.7)
    units = kwargs["units"]
    assert y.shape == ((2, 4, units) if kwargs.get("return_sequences") else (2, units))


@pytest.mark.parametrize(
    "cells",
    [
        lambda: L.LSTMCell(2, dtype="float64"),
        lambda: L.GRUCell(2, reset_after=False, dtype="float64"),
        lambda: [L.SimpleRNNCell(3, dtype="float64"), L.GRUCell(2, dtype="float64")],
    ],
    ids=["lstm_cell", "gru_cell", "stacked"],
)
def test_rnn_of_cells(rng, cells):
    layer = L.RNN(cells(), return_sequences=True, dtype="float64")
    x = rl.asarray(rng.standard_normal((2, 3, 2)))
    y = layer(x)
    assert y.shape == (2, 3, 2) and layer.compute_output_shape((None, 3, 2)) == (None, 3, 2)
    clone = L.RNN.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-12)
    traced = rl.function(lambda v: layer(v))
    np.testing.assert_allclose(traced(x).numpy(), y.numpy(), rtol=1e-10, atol=1e-12)
    check_layer_grads(layer, x)


# --- against PyTorch, given the same weights -----------------------------------------------------


def _torch_rnn(torch, kind, layer, units, features):
    """A torch recurrent module holding ``layer``'s weights (Keras gates mapped to torch's)."""
    kernel, recurrent = layer.cell.kernel.numpy(), layer.cell.recurrent_kernel.numpy()
    bias = layer.cell.bias.numpy()
    u = units
    if kind == "gru":  # Keras z, r, h; torch r, z, n
        order = np.r_[u : 2 * u, 0:u, 2 * u : 3 * u]
        kernel, recurrent, bias = kernel[:, order], recurrent[:, order], bias[:, order]
        b_ih, b_hh = bias[0], bias[1]
    else:
        b_ih, b_hh = bias, np.zeros_like(bias)
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple": torch.nn.RNN}[kind]
    net = module(features, units, batch_first=True).double()
    with torch.no_grad():
        for name, value in (("weight_ih_l0", kernel.T), ("weight_hh_l0", recurrent.T),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):  # fmt: skip
            getattr(net, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return net


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple"])
def test_values_and_gradients_match_torch(rng, kind):
    torch = _torch()
    cls = {"lstm": L.LSTM, "gru": L.GRU, "simple": L.SimpleRNN}[kind]
    layer = cls(6, return_sequences=True, return_state=True, dtype="float64")
    x = rng.standard_normal((4, 7, 5))
    layer(x)
    _randomize(layer, rng)
    net = _torch_rnn(torch, kind, layer, 6, 5)
    xt = torch.from_numpy(x).requires_grad_()
    expected, state = net(xt)
    cotangent = rng.standard_normal(expected.shape)
    (expected * torch.from_numpy(cotangent)).sum().backward()

    xr = rl.asarray(x)
    with rl.GradientTape() as tape:
        tape.watch(xr)
        got = layer(xr)
        loss = rl.sum(got[0] * rl.asarray(cotangent))
    grads = tape.gradient(loss, [xr, layer.cell.kernel, layer.cell.recurrent_kernel])
    np.testing.assert_allclose(got[0].numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    h = state[0] if kind == "lstm" else state
    np.testing.assert_allclose(got[1].numpy(), h[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    if kind == "lstm":
        np.testing.assert_allclose(got[2].numpy(), state[1][0].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(grads[0].numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    kernel_grad = net.weight_ih_l0.grad.numpy().T
    recurrent_grad = net.weight_hh_l0.grad.numpy().T
    if kind == "gru":  # back to Keras's gate order
        u = 6
        order = np.r_[u : 2 * u, 0:u, 2 * u : 3 * u]
        kernel_grad, recurrent_grad = kernel_grad[:, order], recurrent_grad[:, order]
    np.testing.assert_allclose(grads[1].numpy(), kernel_grad, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads[2].numpy(), recurrent_grad, rtol=1e-9, atol=1e-12)


def test_initial_state_matches_torch(rng):
    torch = _torch()
    layer = L.LSTM(3, return_state=True, dtype="float64")
    x, h0, c0 = (
        rng.standard_normal((2, 4, 2)),
        rng.standard_normal((2, 3)),
        rng.standard_normal((2, 3)),
    )
    layer(x)
    _randomize(layer, rng)
    net = _torch_rnn(torch, "lstm", layer, 3, 2)
    _, (h, c) = net(torch.from_numpy(x), (torch.from_numpy(h0[None]), torch.from_numpy(c0[None])))
    out, h_got, c_got = layer(x, initial_state=[h0, c0])
    np.testing.assert_allclose(h_got.numpy(), h[0].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(c_got.numpy(), c[0].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(out.numpy(), h_got.numpy())


# --- Keras semantics: masks, go_backwards, states ------------------------------------------------


def _reference(layer, x, mask=None, initial=None):
    """The NumPy step loop of tests/ops/opinfo/rnn.py, with the layer's weights."""
    c = layer.cell
    w = [c.kernel.numpy(), c.recurrent_kernel.numpy(), c.bias.numpy()]
    batch, units = x.shape[0], c.units
    flags = {"go_backwards": layer.go_backwards,
             "zero_output_for_mask": layer.zero_output_for_mask}  # fmt: skip
    zeros = np.zeros((batch, units))
    if isinstance(layer, L.LSTM):
        h0, c0 = initial or (zeros, zeros)
        return lstm_reference(x, h0, c0, *w, mask, **flags)
    h0 = initial[0] if initial else zeros
    if isinstance(layer, L.GRU):
        return gru_reference(x, h0, *w, mask, reset_after=c.reset_after, **flags)
    return simple_rnn_reference(x, h0, *w, mask, **flags)


@pytest.mark.parametrize("cls", [L.LSTM, L.GRU, L.SimpleRNN])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_embedding_mask_zero_masks_padded_steps(rng, cls, go_backwards):
    tokens = np.array([[3, 1, 4, 0, 0], [0, 2, 0, 5, 6]])  # padding at the end and in the middle
    embed = L.Embedding(7, 3, mask_zero=True, dtype="float64")
    layer = cls(4, return_sequences=True, go_backwards=go_backwards, dtype="float64")
    y = layer(embed(tokens))
    _randomize(layer, rng)
    x = embed(tokens)
    y = layer(x)
    expected, *_ = _reference(layer, x.numpy(), tokens != 0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert rl.layers.masking.get(y) is not None  # the mask goes on with return_sequences
    if not go_backwards:  # a masked step repeats the previous output; before any step, zeros
        np.testing.assert_allclose(y.numpy()[0, 3], y.numpy()[0, 2])
        np.testing.assert_allclose(y.numpy()[1, 0], 0.0)
    last = cls(4, go_backwards=go_backwards, dtype="float64")
    last(x)
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(x).numpy(), expected[:, -1], rtol=1e-10, atol=1e-12)
    assert rl.layers.masking.get(last(x)) is None


def test_masking_layer_and_zero_output_for_mask(rng):
    x = rng.standard_normal((2, 4, 3))
    x[0, 2:] = 0.0
    masked = L.Masking(dtype="float64")(rl.asarray(x))
    layer = L.GRU(3, return_sequences=True, zero_output_for_mask=True, dtype="float64")
    layer(masked)
    _randomize(layer, rng)
    y = layer(masked).numpy()
    np.testing.assert_array_equal(y[0, 2:], 0.0)
    expected, *_ = _reference(layer, x, np.any(x != 0, axis=-1))
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


def test_masked_gradients_match_finite_differences(rng):
    x = rl.asarray(rng.standard_normal((2, 4, 2)))
    mask = rl.asarray(np.array([[True, True, False, True], [False, True, True, False]]))
    for layer in (L.LSTM(2, return_sequences=True, dtype="float64"),
                  L.GRU(2, go_backwards=True, dtype="float64")):  # fmt: skip
        layer(x)
        _randomize(layer, rng)

        class Masked(L.Layer):
            def call(self, inputs, layer=layer):
                return layer(inputs, mask=mask)

        check_layer_grads(Masked(dtype="float64"), x)
        check_layer_grads(layer, x)


@pytest.mark.parametrize("cls", [L.LSTM, L.GRU, L.SimpleRNN])
def test_go_backwards_reads_the_sequence_reversed(rng, cls):
    x = rng.standard_normal((2, 5, 3))
    forward = cls(3, return_sequences=True, dtype="float64")
    backward = cls(3, return_sequences=True, go_backwards=True, dtype="float64")
    forward(x)
    backward(x)
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x).numpy(), forward(x[:, ::-1]).numpy(), rtol=1e-12)


def test_return_state_and_initial_state(rng):
    x = rng.standard_normal((2, 6, 3))
    layer = L.GRU(4, return_state=True, dtype="float64")
    out, h = layer(x)
    np.testing.assert_allclose(out.numpy(), h.numpy())
    assert layer.compute_output_shape((None, 6, 3)) == ((None, 4), (None, 4))
    first, h_mid = layer(x[:, :3])
    second, h_end = layer(x[:, 3:], initial_state=h_mid)
    np.testing.assert_allclose(h_end.numpy(), h.numpy(), rtol=1e-12)


@pytest.mark.parametrize("cls", [L.LSTM, L.SimpleRNN])
def test_stateful_carries_states_between_batches(rng, cls):
    x = rng.standard_normal((2, 6, 3))
    whole = cls(4, dtype="float64")
    stateful = cls(4, stateful=True, dtype="float64")
    expected = whole(x).numpy()
    stateful(x[:, :3])
    stateful.set_weights(whole.get_weights())
    assert len(stateful.weights) == 3  # the states are not weights
    stateful.reset_states()
    stateful(x[:, :3])
    np.testing.assert_allclose(stateful(x[:, 3:]).numpy(), expected, rtol=1e-12)
    stateful.reset_states()
    assert all(not np.any(v.numpy()) for v in stateful.states)
    step = rl.function(lambda v: stateful(v))  # compiled: the state updates are graph nodes
    step(x[:, :3])
    np.testing.assert_allclose(step(x[:, 3:]).numpy(), expected, rtol=1e-12)


def test_lstm_initial_weights_follow_keras(rng):
    layer = L.LSTM(3)
    layer(rng.standard_normal((1, 2, 4)).astype(np.float32))
    bias = layer.cell.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    r = layer.cell.recurrent_kernel.numpy()  # orthogonal: rows orthonormal
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)
    assert (layer.units, layer.unit_forget_bias, layer.use_bias) == (3, True, True)
    assert L.GRU(2).reset_after and L.GRU(2).recurrent_activation is rl.activations.sigmoid


def test_cell_loop_matches_fused_kernel(rng):
    x = rl.asarray(rng.standard_normal((3, 5, 2)))
    mask = rl.asarray(rng.random((3, 5)) > 0.3)
    for cls, cell in ((L.LSTM, L.LSTMCell), (L.GRU, L.GRUCell), (L.SimpleRNN, L.SimpleRNNCell)):
        fused = cls(3, return_sequences=True, go_backwards=True, dtype="float64")
        loop = L.RNN(cell(3, dtype="float64"), return_sequences=True, go_backwards=True,
                     dtype="float64")  # fmt: skip
        fused(x)
        loop(x)
        _randomize(fused, rng)
        loop.set_weights(fused.get_weights())
        for m in (None, mask):
            np.testing.assert_allclose(
                loop(x, mask=m).numpy(), fused(x, mask=m).numpy(), rtol=1e-10, atol=1e-12
            )


def test_dropout_only_while_training(rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    for layer in (L.LSTM(4, dropout=0.5, seed=1), L.GRU(4, recurrent_dropout=0.5, seed=2),
                  L.SimpleRNN(4, dropout=0.3, recurrent_dropout=0.3)):  # fmt: skip
        inference = layer(x).numpy()
        np.testing.assert_allclose(layer(x, training=False).numpy(), inference)
        assert not np.allclose(layer(x, training=True).numpy(), inference)
    with rl.GradientTape() as tape:  # the cell loop (recurrent dropout) is differentiable
        y = rl.sum(layer(x, training=True))
    assert all(g is not None for g in tape.gradient(y, layer.trainable_weights))


def test_traced_training_step_matches_eager(rng):
    """The fused backward op inside a compiled graph gives the eager gradients."""
    x = rl.asarray(rng.standard_normal((3, 4, 2)).astype(np.float32))
    mask = rl.asarray(np.array([[1, 1, 0, 1], [1, 1, 1, 1], [0, 1, 1, 0]], bool))
    layer = L.LSTM(3, return_sequences=True)
    layer(x)

    def grads(v, m):
        with rl.GradientTape() as tape:
            loss = rl.sum(layer(v, mask=m) ** 2)
        return tape.gradient(loss, layer.trainable_weights)

    eager = grads(x, mask)
    traced = rl.function(grads)(x, mask)
    for e, t in zip(eager, traced):
        np.testing.assert_allclose(t.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls, name", [(L.LSTM, "LSTM"), (L.GRU, "GRU"),
                                       (L.SimpleRNN, "SimpleRNN")])  # fmt: skip
def test_second_order_gradients_are_declared_unsupported(rng, cls, name):
    layer = cls(2, dtype="float64")
    x = rl.asarray(rng.standard_normal((1, 3, 2)))
    with rl.GradientTape() as outer:
        outer.watch(x)
        with rl.GradientTape() as inner:
            inner.watch(x)
            y = rl.sum(layer(x))
        g = rl.sum(inner.gradient(y, x))
    with pytest.raises(GradientError, match=f"second-order gradients of {name}"):
        outer.gradient(g, x)


def test_functional_model_with_embedding_and_bidirectional_lstm(rng):
    inputs = rl.Input(shape=(6,), dtype="int32")
    x = L.Embedding(10, 4, mask_zero=True)(inputs)
    x = L.LSTM(5, return_sequences=True)(x)
    outputs = L.GRU(3)(x)
    model = rl.Model(inputs, outputs)
    tokens = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    assert model.predict(tokens, verbose=0).shape == (2, 3)


def test_regularizers_add_losses(rng):
    layer = L.SimpleRNN(2, kernel_regularizer="l2", recurrent_regularizer="l1",
                        activity_regularizer="l2")  # fmt: skip
    layer(rng.standard_normal((2, 3, 2)).astype(np.float32))
    assert len(layer.losses) == 3


# --- errors ----------------------------------------------------------------------------------


def test_errors_repeat_the_bad_value():
    with pytest.raises(ArgumentError, match="received units=0"):
        L.LSTM(0)
    with pytest.raises(ArgumentError, match="received dropout='x'"):
        L.GRU(2, dropout="x")
    with pytest.raises(ShapeError, match=r"expected inputs of shape \(batch, steps, features\)"):
        L.SimpleRNN(2)(rl.ones((2, 3)))
    with pytest.raises(ShapeError, match="stateful=True needs a fixed batch size"):
        L.LSTM(2, stateful=True).build((None, 3, 2))
    with pytest.raises(ArgumentError, match="expected 2 initial state"):
        L.LSTM(2)(rl.ones((1, 3, 2)), initial_state=[rl.zeros((1, 2))])
    with pytest.raises(ArgumentError, match="expected a layer with call"):
        L.RNN("lstm")
    with pytest.raises(ArgumentError, match="activation='selu' has no fused kernel"):
        rl.ops.rnn.simple_rnn_sequence(
            rl.ones((1, 2, 2)), rl.zeros((1, 2)), rl.ones((2, 2)), rl.ones((2, 2)),
            activation="selu",
        )  # fmt: skip
    with pytest.raises(DTypeError, match="mask has dtype int64, expected bool"):
        rl.ops.rnn.gru_sequence(
            rl.ones((1, 2, 2)), rl.zeros((1, 2)), rl.ones((2, 6)), rl.ones((2, 6)),
            mask=rl.asarray(np.ones((1, 2), np.int64)),
        )  # fmt: skip
    with pytest.raises(ShapeError, match=r"kernel\(3, 8\) must have shape \(2, 8\)"):
        rl.ops.rnn.lstm_sequence(
            rl.ones((1, 2, 2)), rl.zeros((1, 2)), rl.zeros((1, 2)), rl.ones((3, 8)),
            rl.ones((2, 8)),
        )  # fmt: skip
