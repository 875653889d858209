"""Op table for rillet.ops.rnn: the fused sequences against naive step-by-step NumPy loops
written from the Keras 3 cell formulas (one step at a time, nothing shared with the kernels).
"""

import numpy as np

import rillet as rl
from rillet.ops.rnn import gru_sequence, lstm_sequence, simple_rnn_sequence
from rillet.testing.opinfo import OpInfo, Sample, randn

F16, BF16 = np.dtype(np.float16), rl.bfloat16
# Errors of a low-precision input grow a little along the steps of the recurrence.
RECURRENT = {F16: (2e-2, 2e-2), BF16: (1e-1, 1e-1)}

ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
    "softsign": lambda z: z / (1.0 + np.abs(z)),
}


def run_steps(cell, x, states, mask=None, go_backwards=False, zero_output_for_mask=False):
    """Keras's RNN loop in NumPy: ``cell(x_t, states) -> new states`` (the first is the
    output); masked steps keep the states and show the previous output (or zeros)."""
    steps = x.shape[1]
    shown = np.zeros_like(states[0])
    outputs = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        new = cell(x[:, t], states)
        if mask is not None:
            keep = mask[:, t, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
            shown = np.where(keep, new[0], 0.0 if zero_output_for_mask else shown)
        else:
            shown = new[0]
        outputs.append(shown)
        states = new
    return np.stack(outputs, axis=1), states


def lstm_reference(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, **attrs):
    act = ACTIVATIONS[attrs.pop("activation", "tanh")]
    ract = ACTIVATIONS[attrs.pop("recurrent_activation", "sigmoid")]
    u = h0.shape[-1]

    def cell(x_t, states):
        h, c = states
        z = x_t @ kernel + h @ recurrent_kernel + (0.0 if bias is None else bias)
        i, f, g, o = (
            ract(z[:, :u]),
            ract(z[:, u : 2 * u]),
            act(z[:, 2 * u : 3 * u]),
            ract(z[:, 3 * u :]),
        )
        c = f * c + i * g
        return [o * act(c), c]

    outputs, (h, c) = run_steps(cell, x, [h0, c0], mask, **attrs)
    return outputs, h, c


def gru_reference(x, h0, kernel, recurrent_kernel, bias=None, mask=None, **attrs):
    act = ACTIVATIONS[attrs.pop("activation", "tanh")]
    ract = ACTIVATIONS[attrs.pop("recurrent_activation", "sigmoid")]
    reset_after = attrs.pop("reset_after", True)
    u = h0.shape[-1]
    if bias is None:
        b_in, b_rec = 0.0, 0.0
    else:
        b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, 0.0)

    def cell(x_t, states):
        (h,) = states
        xz = x_t @ kernel + b_in
        if reset_after:
            inner = h @ recurrent_kernel + b_rec
            z = ract(xz[:, :u] + inner[:, :u])
            r = ract(xz[:, u : 2 * u] + inner[:, u : 2 * u])
            hh = act(xz[:, 2 * u :] + r * inner[:, 2 * u :])
        else:
            z = ract(xz[:, :u] + h @ recurrent_kernel[:, :u])
            r = ract(xz[:, u : 2 * u] + h @ recurrent_kernel[:, u : 2 * u])
            hh = act(xz[:, 2 * u :] + (r * h) @ recurrent_kernel[:, 2 * u :])
        return [z * h + (1.0 - z) * hh]

    outputs, (h,) = run_steps(cell, x, [h0], mask, **attrs)
    return outputs, h


def simple_rnn_reference(x, h0, kernel, recurrent_kernel, bias=None, mask=None, **attrs):
    act = ACTIVATIONS[attrs.pop("activation", "tanh")]

    def cell(x_t, states):
        z = x_t @ kernel + states[0] @ recurrent_kernel + (0.0 if bias is None else bias)
        return [act(z)]

    outputs, (h,) = run_steps(cell, x, [h0], mask, **attrs)
    return outputs, h


# --- samples: tiny shapes (batch 2, 3 steps, 2 features, 2 units) so that finite differences
# over every weight stay fast; masks with a fully masked row start and a hole.

MASK = np.array([[True, False, True], [False, True, True]])
VARIANTS = [
    {},
    {"go_backwards": True},
    {"mask": MASK},
    {"mask": MASK, "zero_output_for_mask": True, "go_backwards": True},
]


def _weights(rng, dtype, gates: int, bias_shape):
    return (
        randn(rng, (2, gates * 2), dtype, scale=0.7),
        randn(rng, (2, gates * 2), dtype, scale=0.7),
        randn(rng, bias_shape, dtype, scale=0.5),
    )


def _sample(args, variant, bias_position, **attrs):
    attrs = {**attrs, **{k: v for k, v in variant.items() if k != "mask"}}
    return Sample((*args[: bias_position + 1], variant.get("mask")), attrs)


def _lstm_samples(rng, dtype):
    samples = []
    for variant in VARIANTS:
        x, h0, c0 = (
            randn(rng, (2, 3, 2), dtype),
            randn(rng, (2, 2), dtype),
            randn(rng, (2, 2), dtype),
        )
        samples.append(_sample((x, h0, c0, *_weights(rng, dtype, 4, (8,))), variant, 5))
    x, h0, c0 = randn(rng, (2, 3, 2), dtype), randn(rng, (2, 2), dtype), randn(rng, (2, 2), dtype)
    w, r, _ = _weights(rng, dtype, 4, (8,))
    samples.append(
        Sample(
            (x, h0, c0, w, r, None, None),
            {"activation": "softsign", "recurrent_activation": "hard_sigmoid"},
        )
    )
    samples.append(
        Sample(
            (x, h0, c0, w, r, None, MASK), {"activation": "relu", "recurrent_activation": "linear"}
        )
    )
    return samples


def _gru_samples(rng, dtype):
    samples = []
    for reset_after, variant in zip((True, False, True, False), VARIANTS):
        bias_shape = (2, 6) if reset_after else (6,)
        x, h0 = randn(rng, (2, 3, 2), dtype), randn(rng, (2, 2), dtype)
        args = (x, h0, *_weights(rng, dtype, 3, bias_shape))
        samples.append(_sample(args, variant, 4, reset_after=reset_after))
    x, h0 = randn(rng, (2, 3, 2), dtype), randn(rng, (2, 2), dtype)
    w, r, _ = _weights(rng, dtype, 3, (6,))
    samples.append(Sample((x, h0, w, r, None, MASK), {"activation": "relu", "reset_after": False}))
    samples.append(Sample((x, h0, w, r, None, None), {"recurrent_activation": "hard_sigmoid"}))
    return samples


def _simple_rnn_samples(rng, dtype):
    samples = []
    for variant in VARIANTS:
        x, h0 = randn(rng, (2, 3, 2), dtype), randn(rng, (2, 2), dtype)
        samples.append(_sample((x, h0, *_weights(rng, dtype, 1, (2,))), variant, 4))
    x, h0 = randn(rng, (2, 3, 2), dtype), randn(rng, (2, 2), dtype)
    w, r, _ = _weights(rng, dtype, 1, (2,))
    samples.append(Sample((x, h0, w, r, None, MASK), {"activation": "softsign"}))
    samples.append(Sample((x, h0, w, r, None, None), {"activation": "relu"}))
    return samples


OPS = [
    OpInfo("lstm_forward", lstm_sequence, lstm_reference, _lstm_samples, tolerance=RECURRENT),
    OpInfo("gru_forward", gru_sequence, gru_reference, _gru_samples, tolerance=RECURRENT),
    OpInfo(
        "simple_rnn_forward",
        simple_rnn_sequence,
        simple_rnn_reference,
        _simple_rnn_samples,
        tolerance=RECURRENT,
    ),
]

UNTABLED = {
    name: "the fused BPTT op: its values are the forward row's gradients, checked against "
    "finite differences there; traced and masked cases in tests/layers/test_rnn.py"
    for name in ("lstm_backward", "lstm_input_grad", "gru_backward", "simple_rnn_backward")
}
