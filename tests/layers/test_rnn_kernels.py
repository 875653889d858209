"""The fast paths of the fused recurrent ops: the gate-major LSTM kernels (unmasked
sequences), the LSTM's separate input-gradient op, and the single-step GRU (a streaming
frame). Values and gradients against PyTorch given the same weights, and against the ops'
general (masked) path, which shares no code with them."""

import numpy as np
import pytest

import rillet as rl
from rillet.ops import rnn
from tests.ops.opinfo.rnn import gru_reference


def _torch():
    return pytest.importorskip("torch")


def _lstm_args(rng, batch, steps, features, units, dtype=np.float64, bias=True):
    def r(*shape, scale=0.6):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    return [
        r(batch, steps, features, scale=1.0),
        r(batch, units),
        r(batch, units),
        r(features, 4 * units),
        r(units, 4 * units),
        r(4 * units) if bias else None,
    ]


def _lstm_grads(args, mask, cotangents, **attrs):
    """Outputs and the gradients of ``sum(outputs * g_seq) + sum(h * g_h) + sum(c * g_c)``
    with respect to every input."""
    tensors = [None if a is None else rl.asarray(a) for a in args]
    watched = [t for t in tensors if t is not None]
    mask = None if mask is None else rl.asarray(mask)
    with rl.GradientTape() as tape:
        for t in watched:
            tape.watch(t)
        outputs = rnn.lstm_sequence(*tensors, mask, **attrs)
        loss = sum(rl.sum(o * rl.asarray(g)) for o, g in zip(outputs, cotangents))
    grads = tape.gradient(loss, watched)
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


ACTIVATIONS = [
    ("tanh", "sigmoid"),
    ("relu", "hard_sigmoid"),
    ("softsign", "sigmoid"),
    ("tanh", "linear"),
    ("linear", "tanh"),
]


@pytest.mark.parametrize("activation, recurrent_activation", ACTIVATIONS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gate_major_lstm_matches_the_masked_path(rng, activation, recurrent_activation,
                                                 go_backwards):  # fmt: skip
    """Without a mask the gate-major kernels run; an all-true mask takes the general loop:
    same outputs, states and gradients (float64)."""
    args = _lstm_args(rng, 3, 5, 4, 6)
    cotangents = [rng.standard_normal(s) for s in ((3, 5, 6), (3, 6), (3, 6))]
    attrs = {
        "go_backwards": go_backwards,
        "activation": activation,
        "recurrent_activation": recurrent_activation,
    }
    fast, fast_grads = _lstm_grads(args, None, cotangents, **attrs)
    general, general_grads = _lstm_grads(args, np.ones((3, 5), bool), cotangents, **attrs)
    for got, expected in zip(fast + fast_grads, general + general_grads):
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_gate_major_lstm_matches_torch_in_float32(rng):
    """The benchmark's sizes, float32: outputs and the gradients of x, the weights and the
    initial states against torch.nn.LSTM."""
    torch = _torch()
    x, h0, c0, kernel, recurrent, bias = _lstm_args(rng, 32, 50, 64, 128, np.float32)
    kernel *= 0.2
    recurrent *= 0.2
    net = torch.nn.LSTM(64, 128, batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(bias))
        net.bias_hh_l0.zero_()
    leaves = [torch.from_numpy(a).requires_grad_() for a in (x, h0, c0)]
    expected, (h, c) = net(leaves[0], (leaves[1][None], leaves[2][None]))
    g_seq = rng.standard_normal(expected.shape).astype(np.float32)
    (expected * torch.from_numpy(g_seq)).sum().backward()

    zeros = np.zeros((32, 128), np.float32)
    outputs, grads = _lstm_grads([x, h0, c0, kernel, recurrent, bias], None, [g_seq, zeros, zeros])
    np.testing.assert_allclose(outputs[0], expected.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(outputs[1], h[0].detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(outputs[2], c[0].detach().numpy(), atol=2e-5)
    torch_grads = [leaf.grad.numpy() for leaf in leaves] + [
        net.weight_ih_l0.grad.numpy().T,
        net.weight_hh_l0.grad.numpy().T,
        net.bias_ih_l0.grad.numpy(),
    ]
    for got, want in zip(grads, torch_grads):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got / scale, want / scale, atol=2e-5)


def test_lstm_without_bias_and_of_one_step(rng):
    for steps in (1, 2):
        args = _lstm_args(rng, 2, steps, 3, 4, bias=False)
        cotangents = [rng.standard_normal(s) for s in ((2, steps, 4), (2, 4), (2, 4))]
        fast, fast_grads = _lstm_grads(args, None, cotangents)
        general, general_grads = _lstm_grads(args, np.ones((2, steps), bool), cotangents)
        for got, expected in zip(fast + fast_grads, general + general_grads):
            np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def _training_step_source(watch_x: bool) -> tuple[str, list]:
    layer = rl.layers.LSTM(4)
    x = rl.asarray(np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32))
    layer(x)

    def grads(v):
        with rl.GradientTape() as tape:
            if watch_x:
                tape.watch(v)
            loss = rl.sum(layer(v) ** 2)
        return tape.gradient(loss, [v, *layer.trainable_weights] if watch_x else
                             layer.trainable_weights)  # fmt: skip

    step = rl.function(grads)
    values = step(x)
    return step.get_concrete_function(x).executor.source, values


def test_input_gradient_is_left_out_of_a_graph_that_does_not_need_it():
    """The gradient of x is its own op: a training step on data (no gradient for x) drops it;
    a step asking for it keeps it."""
    source, _ = _training_step_source(watch_x=False)
    assert "lstm_backward(" in source and "lstm_input_grad(" not in source
    source, values = _training_step_source(watch_x=True)
    assert "lstm_input_grad(" in source and values[0].shape == (2, 3, 5)


def test_input_grad_op_checks_its_mask():
    with pytest.raises(rl.errors.ShapeError, match=r"mask\(2, 2\) must have shape \(2, 3\)"):
        rnn.lstm_input_grad(rl.ones((3, 2, 8)), rl.ones((5, 8)), rl.asarray(np.ones((2, 2), bool)))


# --- the single-step GRU ----------------------------------------------------------------------


def _gru_args(rng, batch, features, units, reset_after, bias=True):
    bias_shape = (2, 3 * units) if reset_after else (3 * units,)
    return [
        rng.standard_normal((batch, 1, features)),
        rng.standard_normal((batch, units)) * 0.5,
        rng.standard_normal((features, 3 * units)) * 0.5,
        rng.standard_normal((units, 3 * units)) * 0.5,
        rng.standard_normal(bias_shape) * 0.3 if bias else None,
    ]


@pytest.mark.parametrize("batch", [1, 3])
def test_single_step_gru_matches_torch_cell(rng, batch):
    torch = _torch()
    x, h0, kernel, recurrent, bias = _gru_args(rng, batch, 5, 4, reset_after=True)
    order = np.r_[4:8, 0:4, 8:12]  # Keras z, r, h; torch r, z, n
    cell = torch.nn.GRUCell(5, 4).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(kernel[:, order].T.copy()))
        cell.weight_hh.copy_(torch.from_numpy(recurrent[:, order].T.copy()))
        cell.bias_ih.copy_(torch.from_numpy(bias[0, order]))
        cell.bias_hh.copy_(torch.from_numpy(bias[1, order]))
    expected = cell(torch.from_numpy(x[:, 0]), torch.from_numpy(h0)).detach().numpy()
    outputs, h = rnn.gru_sequence(*(rl.asarray(a) for a in (x, h0, kernel, recurrent, bias)))
    np.testing.assert_allclose(outputs.numpy()[:, 0], expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activations", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_single_step_gru_values_and_gradients(rng, reset_after, use_bias, activations):
    """One unmasked step (the streaming path) against the Keras formulas, and its gradients
    (through the general backward op, reading the step's reserve) against an all-true mask's."""
    args = _gru_args(rng, 2, 3, 4, reset_after, use_bias)
    attrs = {"activation": activations[0], "recurrent_activation": activations[1],
             "reset_after": reset_after}  # fmt: skip
    expected, h_expected = gru_reference(*args, **dict(attrs))
    tensors = [None if a is None else rl.asarray(a) for a in args]
    watched = [t for t in tensors if t is not None]
    g_seq, g_h = rng.standard_normal((2, 1, 4)), rng.standard_normal((2, 4))

    def run(mask):
        with rl.GradientTape() as tape:
            for t in watched:
                tape.watch(t)
            outputs, h = rnn.gru_sequence(*tensors, mask, **attrs)
            loss = rl.sum(outputs * rl.asarray(g_seq)) + rl.sum(h * rl.asarray(g_h))
        return outputs.numpy(), h.numpy(), [g.numpy() for g in tape.gradient(loss, watched)]

    outputs, h, grads = run(None)
    np.testing.assert_allclose(outputs, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, h_expected, rtol=1e-12, atol=1e-14)
    _, _, general = run(rl.asarray(np.ones((2, 1), bool)))
    for got, want in zip(grads, general):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_single_step_gru_state_is_not_its_output_buffer(rng):
    """The returned state and output hold their own memory: writing one leaves the other."""
    args = [np.asarray(a, np.float32) for a in _gru_args(rng, 1, 3, 4, reset_after=True)]
    kernel = rnn.gru_forward.kernel
    outputs, h, reserve = kernel(np, *args, None)
    before = outputs.copy()
    h += 1.0
    np.testing.assert_array_equal(outputs, before)
    assert reserve.shape == (1, 1, 20)
