"""TimeDistributed and Bidirectional: shapes, values against the wrapped layers run by hand
and against PyTorch's bidirectional LSTM, masks, states, config round trips, eager ==
traced, gradients against finite differences (float64), and errors."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from tests.layers.core_harness import run_layer_test


def _randomize(layer, rng, scale=0.5) -> None:
    for w in layer.weights:
        w.assign(rng.standard_normal(w.shape) * scale)


# --- TimeDistributed -------------------------------------------------------------------------


def test_time_distributed_dense_harness(rng):
    x = rng.standard_normal((2, 3, 4))
    layer, y = run_layer_test(L.TimeDistributed, {"layer": L.Dense(2, dtype="float64")}, x)
    kernel, bias = layer.layer.kernel.numpy(), layer.layer.bias.numpy()
    np.testing.assert_allclose(y.numpy(), x @ kernel + bias, rtol=1e-12)
    assert y.shape == (2, 3, 2) and len(layer.weights) == 2


def test_time_distributed_conv_equals_a_loop_over_steps(rng):
    x = rng.standard_normal((2, 3, 5, 5, 2))
    conv = L.Conv2D(4, 3, padding="same", dtype="float64")
    layer = L.TimeDistributed(conv, dtype="float64")
    y = layer(x)
    expected = np.stack([conv(x[:, t]).numpy() for t in range(3)], axis=1)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    assert layer.compute_output_shape((None, 3, 5, 5, 2)) == (None, 3, 5, 5, 4)


def test_time_distributed_passes_masks_and_training(rng):
    class Probe(L.Layer):
        def call(self, inputs, mask=None, training=None):
            self.seen = (None if mask is None else tuple(mask.shape), training)
            return inputs

    probe = Probe()
    tokens = np.array([[1, 0, 2], [3, 4, 0]])
    x = L.Embedding(5, 2, mask_zero=True)(tokens)
    y = L.TimeDistributed(probe)(x, training=True)
    assert probe.seen == ((6,), True)
    np.testing.assert_array_equal(rl.layers.masking.get(y).numpy(), tokens != 0)


# --- Bidirectional ---------------------------------------------------------------------------


def _directions(layer, x):
    """The forward and backward layers run by hand (backward outputs back in time order)."""
    forward = layer.forward_layer(x)
    backward = layer.backward_layer(x)
    if layer.return_sequences:
        backward = backward.numpy()[:, ::-1]
    return np.asarray(forward), np.asarray(backward)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(rng, merge_mode):
    x = rng.standard_normal((2, 4, 3))
    layer = L.Bidirectional(L.GRU(3, return_sequences=True, dtype="float64"),
                            merge_mode=merge_mode, dtype="float64")  # fmt: skip
    y = layer(x)
    f, b = _directions(layer, x)
    expected = {"concat": np.concatenate([f, b], -1), "sum": f + b, "mul": f * b,
                "ave": (f + b) / 2, None: (f, b)}[merge_mode]  # fmt: skip
    if merge_mode is None:
        np.testing.assert_allclose(y[0].numpy(), expected[0], rtol=1e-12)
        np.testing.assert_allclose(y[1].numpy(), expected[1], rtol=1e-12)
    else:
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    assert layer.forward_layer.name.startswith("forward_gru")
    assert layer.backward_layer.name.startswith("backward_gru")


@pytest.mark.parametrize(
    "inner", [L.LSTM(2, dtype="float64"), L.SimpleRNN(2, return_sequences=True, dtype="float64")]
)
def test_bidirectional_harness(rng, inner):
    layer, y = run_layer_test(L.Bidirectional, {"layer": inner}, rng.standard_normal((2, 3, 2)))
    assert y.shape[-1] == 4 and len(layer.weights) == 2 * len(inner.cell.weights or [0, 0, 0])


def test_bidirectional_lstm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 5, 4))
    layer = L.Bidirectional(L.LSTM(3, return_sequences=True, dtype="float64"), dtype="float64")
    layer(x)
    _randomize(layer, rng)
    net = torch.nn.LSTM(4, 3, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for suffix, sub in (("", layer.forward_layer), ("_reverse", layer.backward_layer)):
            c = sub.cell
            for name, value in (("weight_ih_l0", c.kernel.numpy().T),
                                ("weight_hh_l0", c.recurrent_kernel.numpy().T),
                                ("bias_ih_l0", c.bias.numpy()),
                                ("bias_hh_l0", np.zeros(12))):  # fmt: skip
                getattr(net, name + suffix).copy_(torch.from_numpy(np.array(value)))
    expected, _ = net(torch.from_numpy(x))
    np.testing.assert_allclose(layer(x).numpy(), expected.detach().numpy(), rtol=1e-10)


def test_bidirectional_masked_steps_output_zeros(rng):
    tokens = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    x = L.Embedding(6, 3, mask_zero=True)(tokens)
    layer = L.Bidirectional(L.LSTM(2, return_sequences=True))
    y = layer(x).numpy()
    np.testing.assert_array_equal(y[tokens == 0], 0.0)
    assert np.all(np.abs(y[tokens != 0]).sum(-1) > 0)
    np.testing.assert_array_equal(rl.layers.masking.get(layer(x)).numpy(), tokens != 0)


def test_bidirectional_states_and_initial_state(rng):
    x = rng.standard_normal((2, 4, 3))
    layer = L.Bidirectional(L.LSTM(2, return_state=True, dtype="float64"), dtype="float64")
    out, fh, fc, bh, bc = layer(x)
    assert out.shape == (2, 4) and fh.shape == bc.shape == (2, 2)
    assert layer.compute_output_shape((None, 4, 3)) == ((None, 4), *[(None, 2)] * 4)
    states = [rng.standard_normal((2, 2)) for _ in range(4)]
    out2, *new = layer(x, initial_state=states)
    expected = layer.forward_layer(x, initial_state=states[:2])
    np.testing.assert_allclose(new[0].numpy(), expected[1].numpy(), rtol=1e-12)


def test_bidirectional_custom_backward_layer_and_config(rng):
    x = rl.asarray(rng.standard_normal((2, 3, 2)))
    backward = L.GRU(3, go_backwards=True, activation="relu", dtype="float64")
    layer = L.Bidirectional(L.GRU(3, dtype="float64"), backward_layer=backward, merge_mode="sum",
                            dtype="float64")  # fmt: skip
    y = layer(x)
    assert layer.backward_layer is backward
    clone = L.Bidirectional.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-12)
    assert clone.backward_layer.activation is rl.activations.relu


def test_bidirectional_stateful_reset(rng):
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    layer = L.Bidirectional(L.SimpleRNN(2, stateful=True))
    first = layer(x).numpy()
    assert not np.allclose(layer(x).numpy(), first)
    layer.reset_states()
    np.testing.assert_allclose(layer(x).numpy(), first, rtol=1e-6)
    with pytest.raises(ArgumentError, match="needs a stateful layer"):
        L.Bidirectional(L.SimpleRNN(2)).reset_states()


def test_bidirectional_in_a_model_trains(rng):
    model = rl.Sequential([
        rl.Input(shape=(6,), dtype="int32"),
        L.Embedding(10, 4, mask_zero=True),
        L.Bidirectional(L.LSTM(4)),
        L.Dense(1),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    tokens = rng.integers(0, 10, (16, 6))
    history = model.fit(tokens, rng.standard_normal((16, 1)), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# --- errors ----------------------------------------------------------------------------------


def test_errors_repeat_the_bad_value():
    with pytest.raises(ArgumentTypeError, match="received layer='dense'"):
        L.TimeDistributed("dense")
    with pytest.raises(ShapeError, match="expected an input of rank >= 3"):
        L.TimeDistributed(L.Dense(2))(rl.ones((2, 3)))
    with pytest.raises(ArgumentError, match="received merge_mode='max'"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(ArgumentError, match="need different go_backwards"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))
    with pytest.raises(ArgumentError, match="need the same return_sequences"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2, go_backwards=True,
                                                         return_sequences=True))  # fmt: skip
