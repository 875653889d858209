"""Feeding a sequence through a streaming model, call by call, in either mode, and checking
it against the whole-sequence (or whole-window) outputs of the original."""

import numpy as np

import rillet as rl

L = rl.layers
MODES = ("internal_state", "external_state")
ATOL = 1e-5


def trained_statistics(model, rng) -> None:
    """BatchNormalization statistics that look trained, not the zeros and ones of init."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(size=n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=n).astype("float32"))


def run_stream(stream, x, frames: int) -> list:
    """The outputs of each call on ``frames`` frames of ``x``, as lists of arrays per output."""
    states = stream.initial_states(x.shape[0]) if stream.mode == "external_state" else None
    if states is None:
        stream.reset_states()
    calls = []
    for t in range(0, x.shape[1], frames):
        chunk = x[:, t : t + frames]
        if states is None:
            out = stream(chunk)
        else:
            out, states = stream(chunk, states)
        out = out if isinstance(out, list) else [out]
        calls.append([np.asarray(o.numpy()) for o in out])
    return [list(per_output) for per_output in zip(*calls)]


def check_sequence_model(model, x, frames: int, mode: str) -> None:
    """Each sequence output, streamed and concatenated, is the original's shifted by the
    output's delay."""
    stream = rl.streaming.to_streaming(model, mode=mode, batch_size=x.shape[0])
    expected = model(x)
    expected = expected if isinstance(expected, list) else [expected]
    streamed = run_stream(stream, x, frames)
    for want, got, delay in zip(expected, streamed, stream.delays):
        got = np.concatenate(got, axis=1)
        want = want.numpy()
        n = min(got.shape[1] - delay, want.shape[1])
        assert n > 0, f"delay {delay} leaves no frame to compare"
        np.testing.assert_allclose(got[:, delay : delay + n], want[:, :n], rtol=0, atol=ATOL)


def check_window_model(model, x, frames: int, mode: str) -> int:
    """After each call, the output is the original's over the most recent window of input
    frames; returns how many windows were compared."""
    window = model.inputs[0].shape[1]
    stream = rl.streaming.to_streaming(model, mode=mode, batch_size=x.shape[0])
    (streamed,) = run_stream(stream, x, frames)
    compared = 0
    for i, got in enumerate(streamed):
        end = (i + 1) * frames
        if end >= window:
            want = model(x[:, end - window : end]).numpy()
            np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
            compared += 1
    assert compared > 0
    return compared
