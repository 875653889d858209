"""Random models of every layer kind that streams, fed call by call (one stride, and a few
strides, per call) through the streaming model in both modes, reproduce the original's
outputs to 1e-5."""

import numpy as np
import pytest

import rillet as rl

from ._harness import (
    MODES,
    check_sequence_model,
    check_window_model,
    run_stream,
    trained_statistics,
)

L = rl.layers
SEEDS = range(4)


def _ints(rng, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _conv1d(rng, padding: str, lookahead: bool = False):
    """A random 1-D convolution; ``lookahead`` makes a 'valid' one delay the stream."""
    kind = rng.choice(["conv", "depthwise", "separable"])
    k, d, s = _ints(rng, 1, 4), _ints(rng, 1, 2), _ints(rng, 1, 2)
    if lookahead:
        k, s = max(k, 2), 1
    if s > 1:
        d = 1  # strides and dilations do not combine
    args = dict(padding=padding, strides=s, dilation_rate=d, activation="relu")
    if kind == "depthwise":
        return L.DepthwiseConv1D(k, depth_multiplier=_ints(rng, 1, 2), **args)
    if kind == "separable":
        return L.SeparableConv1D(_ints(rng, 2, 5), k, depth_multiplier=_ints(rng, 1, 2), **args)
    return L.Conv1D(_ints(rng, 2, 5), k, **args)


def _pool1d(rng):
    pool = rng.choice([L.MaxPooling1D, L.AveragePooling1D])
    size = _ints(rng, 1, 3)
    return pool(size, strides=_ints(rng, 1, min(size, 2)))


def _frame_layer(rng):
    units = _ints(rng, 2, 5)
    choices = [
        lambda: L.Dense(units, activation="tanh"),
        lambda: L.TimeDistributed(L.Dense(units)),
        lambda: L.Activation("sigmoid"),
        lambda: L.Dropout(0.5),
        lambda: L.BatchNormalization(),
        lambda: L.LayerNormalization(),
        lambda: L.Softmax(),
    ]
    return choices[_ints(rng, 0, len(choices) - 1)]()


def _rnn(rng):
    rnn = rng.choice([L.SimpleRNN, L.GRU, L.LSTM])
    return rnn(_ints(rng, 2, 5), return_sequences=True)


def _geometry(layers: list) -> tuple:
    """``(stride, receptive field)`` in input frames of a chain of layers."""
    stride, field = 1, 1
    for layer in reversed(layers):
        if isinstance(layer, (L.MaxPooling1D, L.AveragePooling1D)):
            s, span = layer.strides[0], layer.pool_size[0] - 1
        elif hasattr(layer, "kernel_size"):
            s, span = layer.strides[0], (layer.kernel_size[0] - 1) * layer.dilation_rate[0]
        else:
            continue
        stride, field = stride * s, (field - 1) * s + span + 1
    return stride, field


def _sequence_model(rng, features: int, makers: list, outputs: int = 12):
    """A chain over a fixed number of steps (a multiple of three calls' frames) that leaves
    at least ``outputs`` output frames. Returns ``(model, stride)``."""
    layers = [make(rng) for make in makers]
    stride, field = _geometry(layers)
    steps = -(-(outputs * stride + field) // (3 * stride)) * 3 * stride
    model = rl.Sequential([rl.Input((steps, features)), *layers])
    trained_statistics(model, rng)
    return model, stride


def _check_all(model, x, stride: int) -> None:
    for mode in MODES:
        for calls in (1, 3):
            check_sequence_model(model, x, stride * calls, mode)


def _input(rng, batch: int, steps: int, *features):
    return rng.normal(size=(batch, steps, *features)).astype("float32")


LAYER_KINDS = {
    "conv1d_causal": [lambda r: _conv1d(r, "causal")],
    "conv1d_valid": [lambda r: _conv1d(r, "valid")],
    "conv1d_stack": [lambda r: _conv1d(r, "causal"), lambda r: _conv1d(r, "valid")],
    "pooling1d": [lambda r: _conv1d(r, "causal"), _pool1d],
    "frame_layers": [_frame_layer, _frame_layer, _frame_layer],
    "rnn": [_rnn, _frame_layer],
    "valid_conv_then_rnn": [lambda r: _conv1d(r, "valid", lookahead=True), _rnn],
    "valid_then_causal_conv": [
        lambda r: _conv1d(r, "valid", lookahead=True),
        lambda r: _conv1d(r, "causal"),
    ],
}


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
@pytest.mark.parametrize("seed", SEEDS)
def test_random_layer_kind_streams_equal(kind, seed):
    rng = np.random.default_rng([seed, len(kind)])
    model, stride = _sequence_model(rng, _ints(rng, 1, 4), LAYER_KINDS[kind])
    assert rl.streaming.to_streaming(model).stride == stride
    _check_all(model, _input(rng, _ints(rng, 1, 2), *model.inputs[0].shape[1:]), stride)


MIXED = [lambda r: _conv1d(r, "causal"), lambda r: _conv1d(r, "valid"), _pool1d, _frame_layer,
         _rnn]  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_random_mixed_stack_streams_equal(seed):
    rng = np.random.default_rng([seed, 99])
    makers = [MIXED[_ints(rng, 0, len(MIXED) - 1)] for _ in range(_ints(rng, 2, 5))]
    model, stride = _sequence_model(rng, _ints(rng, 1, 3), makers, outputs=6)
    _check_all(model, _input(rng, 2, *model.inputs[0].shape[1:]), stride)


def _conv2d_model(rng, freq: int, channels: int):
    """ZeroPadding2D pads time causally, frequency any way; then a 'valid' Conv2D."""
    kt, kf = _ints(rng, 1, 3), _ints(rng, 1, 3)
    st, dt = _ints(rng, 1, 2), 1
    if st == 1:
        dt = _ints(rng, 1, 2)
    pf = _ints(rng, 0, 1)
    inputs = rl.Input((None, freq, channels))
    x = L.ZeroPadding2D((((kt - 1) * dt, 0), (pf, pf)))(inputs)
    args = dict(strides=(st, _ints(rng, 1, 2)), dilation_rate=(dt, 1), activation="relu")
    kind = rng.choice(["conv", "depthwise", "separable"])
    if kind == "depthwise":
        x = L.DepthwiseConv2D((kt, kf), depth_multiplier=_ints(rng, 1, 2), **args)(x)
    elif kind == "separable":
        x = L.SeparableConv2D(_ints(rng, 2, 4), (kt, kf), **args)(x)
    else:
        x = L.Conv2D(_ints(rng, 2, 4), (kt, kf), **args)(x)
    if rng.integers(2):
        x = L.MaxPooling2D((1, 2), padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Conv2D(_ints(rng, 2, 4), (1, 1))(x)
    x = L.Reshape((-1, x.shape[2] * x.shape[3]))(x)
    outputs = L.GRU(3, return_sequences=True)(x)
    model = rl.Model(inputs, outputs)
    trained_statistics(model, rng)
    return model


@pytest.mark.parametrize("seed", range(6))
def test_random_conv2d_over_time_and_frequency_streams_equal(seed):
    rng = np.random.default_rng([seed, 2])
    freq, channels = _ints(rng, 4, 7), _ints(rng, 1, 2)
    model = _conv2d_model(rng, freq, channels)
    stride = rl.streaming.to_streaming(model).stride
    _check_all(model, _input(rng, _ints(rng, 1, 2), 10 * stride, freq, channels), stride)


def _residual_model(rng, features: int):
    """Branches with different delays: a 'valid' conv looks ahead of the cropped skip path
    in the original, so the stream must hold the skip path back."""
    k, crop = _ints(rng, 2, 4), 0
    crop = _ints(rng, 0, k - 1)
    inputs = rl.Input((14, features))
    x = L.Conv1D(4, 1)(inputs)
    branch = L.Conv1D(4, k, padding="valid", activation="relu")(x)
    skip = L.Cropping1D((crop, k - 1 - crop))(x)
    merge = rng.choice([L.Add, L.Concatenate, L.Multiply, L.Average])
    y = merge()([branch, skip])
    causal = L.Conv1D(y.shape[-1], _ints(rng, 1, 3), padding="causal",
                      dilation_rate=_ints(rng, 1, 2))(y)  # fmt: skip
    y = L.Add()([y, causal])
    y = L.Concatenate()([y, L.LSTM(3, return_sequences=True)(y)])
    return rl.Model(inputs, L.Dense(2)(y))


@pytest.mark.parametrize("seed", range(6))
def test_random_residual_branches_with_different_delays_stream_equal(seed):
    rng = np.random.default_rng([seed, 3])
    model = _residual_model(rng, _ints(rng, 1, 3))
    _check_all(model, _input(rng, 2, 14, model.inputs[0].shape[-1]), 1)


def test_strided_residual_branches_line_up(rng):
    inputs = rl.Input((16, 3))
    a = L.Conv1D(4, 3, strides=2, padding="valid")(inputs)  # frame h sees x[2h .. 2h+2]
    b = L.AveragePooling1D(2)(L.Dense(4)(L.Cropping1D((0, 2))(inputs)))  # x[2h .. 2h+1]
    model = rl.Model(inputs, L.Subtract()([a, b]))
    stream = rl.streaming.to_streaming(model)
    assert stream.stride == 2
    _check_all(model, _input(rng, 1, 16, 3), 2)


def _attention_model(rng, steps: int, window: int, valid: bool):
    """Self-attention (or attention with a separate key) limited to ``window`` frames, after a
    'valid' conv (its frames start one frame into the stream) or a causal one."""
    features = _ints(rng, 2, 4)
    inputs = rl.Input((steps, features))
    mha = L.MultiHeadAttention(_ints(rng, 1, 2), _ints(rng, 2, 3))
    x = L.Conv1D(features, 2, padding="valid" if valid else "causal")(inputs)
    value = L.Dense(3)(x) if rng.integers(2) else x
    mask = rl.streaming.causal_window_mask(x.shape[1], window)
    y = mha(x, value, key=x if value is not x else None, attention_mask=mask)
    y = L.LayerNormalization()(L.Add()([x, y]))
    return rl.Model(inputs, L.Dense(2)(y))


@pytest.mark.parametrize("valid", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_windowed_attention_streams_equal(seed, valid):
    rng = np.random.default_rng([seed, 4])
    steps = 12
    model = _attention_model(rng, steps, _ints(rng, 1, 5), valid)
    for mode in MODES:
        for frames in (1, 2, 3):
            check_sequence_model(model, _input(rng, 2, steps, model.inputs[0].shape[-1]),
                                 frames, mode)  # fmt: skip


def _window_model(rng, features: int):
    """Trained on windows of a fixed number of frames: 'valid' convolutions and pooling, then
    a global pooling or Flatten over the window."""
    layers = [_conv1d(rng, "valid"), _pool1d(rng)]
    if rng.integers(2):
        layers.append(_conv1d(rng, "valid"))
    head = rng.choice([L.GlobalMaxPooling1D, L.GlobalAveragePooling1D, L.Flatten])
    stride, field = _geometry(layers)
    window = stride * _ints(rng, 3, 5) + -(-field // stride) * stride
    model = rl.Sequential([rl.Input((window, features)), *layers, head(), L.Dense(3)])
    return model, stride


@pytest.mark.parametrize("seed", range(8))
def test_random_window_model_gives_the_latest_window(seed):
    rng = np.random.default_rng([seed, 5])
    features = _ints(rng, 1, 3)
    model, stride = _window_model(rng, features)
    steps = -(-(model.inputs[0].shape[1] + 6 * stride) // (2 * stride)) * 2 * stride
    x = _input(rng, 2, steps, features)
    for mode in MODES:
        for calls in (1, 2):
            check_window_model(model, x, stride * calls, mode)


def _conv2d_window_model(rng, window: int, freq: int):
    """A keyword-spotting CNN over (time, frequency) windows."""
    inputs = rl.Input((window, freq, 1))
    x = L.Conv2D(3, (3, 3), activation="relu")(inputs)
    x = L.MaxPooling2D((2, 2))(x)
    x = L.Conv2D(4, (2, 2), strides=(1, 2))(x)
    head = rng.choice([L.Flatten, L.GlobalAveragePooling2D, L.GlobalMaxPooling2D])
    outputs = L.Dense(3, activation="softmax")(L.Dropout(0.3)(head()(x)))
    return rl.Model(inputs, outputs)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_conv2d_window_model_gives_the_latest_window(seed):
    rng = np.random.default_rng([seed, 6])
    window, freq = 2 * _ints(rng, 4, 6), _ints(rng, 6, 8)
    model = _conv2d_window_model(rng, window, freq)
    x = _input(rng, 2, -(-(window + 8) // 4) * 4, freq, 1)
    for mode in MODES:
        for frames in (2, 4):
            check_window_model(model, x, frames, mode)


def _traced_stream(stream):
    """``stream`` in external_state mode called through ``rl.function``, with the harness's
    interface (``mode``, ``initial_states``)."""
    step = rl.function(lambda frames, states: stream(frames, states))

    class Traced:
        mode = "external_state"
        initial_states = staticmethod(stream.initial_states)

        def __call__(self, frames, states):
            return step(frames, states)

    return Traced()


def _residual_gru(rng):
    inputs = rl.Input((None, 3))
    x = L.Conv1D(4, 3, strides=2, padding="causal", activation="relu")(inputs)
    y = L.Add()([L.GRU(4, return_sequences=True)(x), x])
    return rl.Model(inputs, L.Dense(2)(y)), 4


def _attention(rng):
    return _attention_model(rng, 12, 3, valid=True), 3


TRACED = {"residual_gru": _residual_gru, "attention": _attention}


@pytest.mark.parametrize("name", list(TRACED))
def test_external_state_model_runs_in_rl_function(name, rng):
    model, frames = TRACED[name](rng)
    x = _input(rng, 2, 12, model.inputs[0].shape[-1])
    stream = rl.streaming.to_streaming(model, mode="external_state")
    assert stream.non_trainable_weights == []  # the states are all in the arguments
    (eager,) = run_stream(stream, x, frames)
    (traced,) = run_stream(_traced_stream(stream), x, frames)
    for got, want in zip(traced, eager):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    delay, want = stream.delays[0], model(x).numpy()
    got = np.concatenate(traced, axis=1)[:, delay:]
    np.testing.assert_allclose(got, want[:, : got.shape[1]], rtol=0, atol=1e-5)
