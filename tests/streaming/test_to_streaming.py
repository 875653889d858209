"""``rl.streaming.to_streaming``: random models fed frame by frame reproduce the whole-sequence
outputs; states reset; layers that cannot stream say why."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ShapeError

L = rl.layers
STEPS = 12


def _random_layer(rng):
    """One supported layer with random sizes, kernel sizes and dilations."""
    units = int(rng.integers(2, 6))
    choices = [
        lambda: L.Conv1D(
            units,
            int(rng.integers(1, 5)),
            padding="causal",
            dilation_rate=int(rng.integers(1, 4)),
            activation="relu",
        ),  # fmt: skip
        lambda: L.Dense(units, activation="tanh"),
        lambda: L.TimeDistributed(L.Dense(units)),
        lambda: L.Activation("sigmoid"),
        lambda: L.Dropout(0.5),
        lambda: L.BatchNormalization(),
        lambda: L.LayerNormalization(),
        lambda: L.SimpleRNN(units, return_sequences=True),
        lambda: L.GRU(units, return_sequences=True),
        lambda: L.LSTM(units, return_sequences=True),
    ]
    return choices[int(rng.integers(len(choices)))]()


def _random_model(rng, features: int):
    layers = [_random_layer(rng) for _ in range(int(rng.integers(2, 6)))]
    model = rl.Sequential([rl.Input((None, features)), *layers])
    for layer in model.layers:  # trained-looking statistics, not the zeros and ones of init
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(size=n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=n).astype("float32"))
    return model


def _stream(streaming, x, stride: int):
    frames = [streaming(x[:, t : t + stride]).numpy() for t in range(0, x.shape[1], stride)]
    return np.concatenate(frames, axis=1)


@pytest.mark.parametrize("seed", range(30))
def test_streaming_matches_whole_sequence_random_models(seed):
    rng = np.random.default_rng(seed)
    features, batch = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    model = _random_model(rng, features)
    x = rng.normal(size=(batch, STEPS, features)).astype("float32")
    expected = model(x).numpy()
    streaming = rl.streaming.to_streaming(model, batch_size=batch)
    for stride in (1, 2, 3):
        streaming.reset_states()
        np.testing.assert_allclose(_stream(streaming, x, stride), expected, rtol=0, atol=1e-5)


def _conv_lstm():
    return rl.Sequential([
        rl.Input((None, 3)),
        L.Conv1D(4, 3, padding="causal", dilation_rate=2),
        L.LSTM(5, return_sequences=True),
    ])  # fmt: skip


def test_reset_states_restarts_the_stream(rng):
    streaming = rl.streaming.to_streaming(_conv_lstm())
    x = rng.normal(size=(1, 6, 3)).astype("float32")
    first = _stream(streaming, x, 1)
    carried = _stream(streaming, x, 1)  # continues the first stream
    streaming.reset_states()
    assert np.abs(carried - first).max() > 1e-3
    np.testing.assert_array_equal(_stream(streaming, x, 1), first)


def test_weights_are_shared_and_states_untrainable():
    model = _conv_lstm()
    streaming = rl.streaming.to_streaming(model)
    ids = {id(w) for w in streaming.trainable_weights}
    assert ids == {id(w) for w in model.trainable_weights}
    assert all(not w.trainable for w in streaming.non_trainable_weights)
    assert len(streaming.non_trainable_weights) == 3  # conv buffer, LSTM h and c


@pytest.mark.parametrize(
    "layer, why",
    [
        (L.Bidirectional(L.LSTM(2, return_sequences=True)), "bidirectional"),
        (L.Conv1D(2, 3, padding="same"), "padding='same'"),
        (L.Conv1D(2, 3, padding="causal", strides=2), "strides"),
        (L.GRU(2), "return_sequences=True"),
        (L.GRU(2, return_sequences=True, go_backwards=True), "go_backwards"),
        (L.LayerNormalization(axis=1), "axis=1"),
        (L.Softmax(axis=1), "axis=1"),
        (L.MaxPooling1D(2), "not among"),
        (L.TimeDistributed(L.Flatten()), "inner Flatten"),
    ],
)
def test_unstreamable_layer_raises_naming_it(layer, why):
    model = rl.Sequential([rl.Input((8, 3)), layer])
    with pytest.raises(ArgumentError, match=f"'{layer.name}'.*{type(layer).__name__}") as info:
        rl.streaming.to_streaming(model)
    assert why in str(info.value)


def test_bad_arguments_raise():
    model = _conv_lstm()
    with pytest.raises(ArgumentError, match="mode='external_state'"):
        rl.streaming.to_streaming(model, mode="external_state")
    with pytest.raises(ArgumentError, match="batch_size=0"):
        rl.streaming.to_streaming(model, batch_size=0)
    inputs = rl.Input((None, 3))
    two = rl.Model(inputs, [L.Dense(2)(inputs), L.Dense(1)(inputs)])
    with pytest.raises(ArgumentError, match="1 inputs and 2 outputs"):
        rl.streaming.to_streaming(two)
    added = L.Add()([L.Dense(3)(inputs), inputs])
    with pytest.raises(ArgumentError, match=r"'add.*' \(Add\).*takes 2 tensors"):
        rl.streaming.to_streaming(rl.Model(inputs, added))


def test_functional_chain_streams(rng):
    inputs = rl.Input((None, 3))
    conv = L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(inputs)
    outputs = L.Dense(2)(L.GRU(5, return_sequences=True)(conv))
    model = rl.Model(inputs, outputs)
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    streaming = rl.streaming.to_streaming(model, batch_size=2)
    np.testing.assert_allclose(_stream(streaming, x, 2), model(x).numpy(), rtol=0, atol=1e-5)


def test_wrong_batch_size_raises(rng):
    streaming = rl.streaming.to_streaming(_conv_lstm(), batch_size=2)
    with pytest.raises(ShapeError, match=r"batch=2.*\(1, 1, 3\)"):
        streaming(rng.normal(size=(1, 1, 3)).astype("float32"))
