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
    shapes = [tuple(w.shape) for w in streaming.non_trainable_weights]
    assert shapes == [(), (1, 4, 3), (1, 5), (1, 5)]  # frame count, conv buffer, LSTM h and c


def test_external_state_model_holds_no_state(rng):
    model = _conv_lstm()
    stream = rl.streaming.to_streaming(model, mode="external_state")
    assert stream.non_trainable_weights == []
    states = stream.initial_states(3)
    assert [tuple(s.shape) for s in states] == [(), (3, 4, 3), (3, 5), (3, 5)]
    x = rng.normal(size=(3, 6, 3)).astype("float32")
    first, states = stream(x[:, :4], states)
    second, _ = stream(x[:, 4:], states)
    got = np.concatenate([first.numpy(), second.numpy()], axis=1)
    np.testing.assert_allclose(got, model(x).numpy(), rtol=0, atol=1e-5)


def test_causal_window_mask_matches_a_loop():
    mask = rl.streaming.causal_window_mask(6, 3)
    expected = np.zeros((1, 6, 6), dtype=bool)
    for i in range(6):
        for j in range(max(0, i - 2), i + 1):
            expected[0, i, j] = True
    np.testing.assert_array_equal(mask, expected)


def test_delays_and_stride_are_reported():
    inputs = rl.Input((12, 2))
    x = L.Conv1D(3, 3, padding="valid")(inputs)  # frame t sees inputs t .. t + 2
    y = L.MaxPooling1D(2)(L.Conv1D(3, 2, strides=2, padding="causal")(x))
    stream = rl.streaming.to_streaming(rl.Model(inputs, [x, y]))
    assert stream.stride == 4
    assert stream.delays == [2, 1]


def _model(inputs, outputs):
    return rl.Model(inputs, outputs)


def _mha(steps, mask):
    inputs = rl.Input((steps, 4))
    mha = L.MultiHeadAttention(1, 2, name="mha")
    return _model(inputs, mha(inputs, inputs, attention_mask=mask))


@pytest.mark.parametrize(
    "layer, why",
    [
        (L.Bidirectional(L.LSTM(2, return_sequences=True)), "bidirectional"),
        (L.Conv1D(2, 3, padding="same"), "padding='same'"),
        (L.GRU(2), "return_sequences=True"),
        (L.GRU(2, return_sequences=True, go_backwards=True), "go_backwards"),
        (L.LayerNormalization(axis=1), "axis=1"),
        (L.Softmax(axis=1), "axis=1"),
        (L.Conv1DTranspose(2, 2), "not among"),
        (L.TimeDistributed(L.Flatten()), "inner Flatten"),
        (L.ZeroPadding1D((0, 2)), "pads time at the end"),
        (L.Permute((2, 1)), "not among"),
    ],
)
def test_unstreamable_layer_raises_naming_it(layer, why):
    model = rl.Sequential([rl.Input((8, 3)), layer])
    with pytest.raises(ArgumentError, match=f"'{layer.name}'.*{type(layer).__name__}") as info:
        rl.streaming.to_streaming(model)
    assert why in str(info.value)


def test_unstreamable_graphs_raise_naming_the_layer():
    cases = []
    inputs = rl.Input((None, 3))
    cases.append((_model(inputs, L.GlobalMaxPooling1D(name="gmp")(inputs)), "gmp", "fixed"))
    cases.append((_mha(6, None), "mha", "not limited to a window"))
    cases.append((_mha(6, np.ones((1, 6, 6), bool)), "mha", "not a causal window"))
    inputs = rl.Input((8, 3))
    for before in (L.GRU(2, return_sequences=True), L.Conv1D(2, 2, padding="causal")):
        pooled = L.GlobalAveragePooling1D(name="late_pool")(before(inputs))
        cases.append((_model(inputs, pooled), "late_pool", "frames before the window"))
    padded = L.ZeroPadding1D((2, 0))(inputs)
    dense = L.Dense(2, name="dense_after_pad")(padded)
    cases.append((_model(inputs, dense), "dense_after", "ZeroPadding"))
    joined = L.Concatenate(axis=1, name="join")([inputs, inputs])
    cases.append((_model(inputs, joined), "join", "along time"))
    halved = L.AveragePooling1D(2)(inputs)
    cropped = L.Cropping1D((0, 4))(inputs)
    cases.append((_model(inputs, L.Add(name="rates")([halved, cropped])), "rates", "strides"))
    cases.append(
        (_model(inputs, L.Reshape((4, 6), name="fold")(inputs)), "fold", "keep the frames")
    )
    for model, name, why in cases:
        with pytest.raises(ArgumentError, match=f"'{name}.*'.*cannot stream.*{why}"):
            rl.streaming.to_streaming(model)


def test_bad_arguments_raise(rng):
    model = _conv_lstm()
    with pytest.raises(ArgumentError, match="mode='stateful'"):
        rl.streaming.to_streaming(model, mode="stateful")
    with pytest.raises(ArgumentError, match="batch_size=0"):
        rl.streaming.to_streaming(model, batch_size=0)
    inputs = [rl.Input((None, 3)), rl.Input((None, 3))]
    with pytest.raises(ArgumentError, match="2 inputs"):
        rl.streaming.to_streaming(rl.Model(inputs, L.Add()(inputs)))
    frames = rng.normal(size=(1, 1, 3)).astype("float32")
    with pytest.raises(ArgumentError, match="stream.initial_states"):
        rl.streaming.to_streaming(model, mode="external_state")(frames)
    external = rl.streaming.to_streaming(model, mode="external_state")
    with pytest.raises(ArgumentError, match="received 1 states, expected 4"):
        external(frames, external.initial_states(1)[:1])
    with pytest.raises(ArgumentError, match="keeps its states"):
        rl.streaming.to_streaming(model)(frames, [])


def test_functional_chain_streams(rng):
    inputs = rl.Input((None, 3))
    conv = L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu")(inputs)
    outputs = L.Dense(2)(L.GRU(5, return_sequences=True)(conv))
    model = rl.Model(inputs, outputs)
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    streaming = rl.streaming.to_streaming(model, batch_size=2)
    np.testing.assert_allclose(_stream(streaming, x, 2), model(x).numpy(), rtol=0, atol=1e-5)


def test_wrong_batch_or_stride_raises(rng):
    streaming = rl.streaming.to_streaming(_conv_lstm(), batch_size=2)
    with pytest.raises(ShapeError, match=r"batch=2.*\(1, 1, 3\)"):
        streaming(rng.normal(size=(1, 1, 3)).astype("float32"))
    inputs = rl.Input((None, 3))
    strided = rl.streaming.to_streaming(rl.Model(inputs, L.AveragePooling1D(2)(inputs)))
    with pytest.raises(ShapeError, match=r"multiple of 2.*\(1, 3, 3\)"):
        strided(rng.normal(size=(1, 3, 3)).astype("float32"))


def test_operators_and_one_delay_per_tensor(rng):
    inputs = rl.Input((10, 3))
    ahead = L.Conv1D(3, 3)(inputs)  # 'valid': frame t sees inputs t .. t + 2
    now = L.Cropping1D((0, 2))(inputs)
    y = L.Concatenate()([(ahead + now) * 2.0 - now, now, now])
    model = rl.Model(inputs, y)
    stream = rl.streaming.to_streaming(model)
    delays = [s.layer for s in stream.steps if isinstance(s.layer, rl.streaming.layers.Delay)]
    assert [d.frames for d in delays] == [2] and stream.delays == [2]
    x = rng.normal(size=(1, 10, 3)).astype("float32")
    np.testing.assert_allclose(_stream(stream, x, 1)[:, 2:], model(x).numpy(), atol=1e-5)


def test_conv2d_same_over_time_raises():
    inputs = rl.Input((None, 6, 1))
    model = rl.Model(inputs, L.Conv2D(2, (3, 3), padding="same", name="c2d")(inputs))
    with pytest.raises(ArgumentError, match="'c2d'.*padding='same' sees future frames"):
        rl.streaming.to_streaming(model)


def test_nested_models_stream_as_their_layers(rng):
    block = rl.Sequential([rl.Input((None, 4)), L.Conv1D(4, 3, padding="causal"), L.ReLU()])
    inputs = rl.Input((None, 3))
    x = L.Dense(4)(inputs)
    y = L.Add()([block(x), x])
    model = rl.Model(inputs, L.GRU(2, return_sequences=True)(y))
    x = rng.normal(size=(1, 7, 3)).astype("float32")
    stream = rl.streaming.to_streaming(model)
    np.testing.assert_allclose(_stream(stream, x, 1), model(x).numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("dilation", [1, 2])
def test_one_frame_conv_runs_as_one_matmul(rng, dilation):
    """A Conv1D called on one frame at a time computes its output frame as a matmul of the
    flattened window (no convolution op in the traced frame), with the layer's bias and
    activation; several frames a call keep the convolution."""
    model = rl.Sequential([
        rl.Input((None, 3)),
        L.Conv1D(4, 3, padding="causal", dilation_rate=dilation, activation="relu"),
        L.GRU(5, return_sequences=True),
    ])  # fmt: skip
    model.layers[0].bias.assign(rng.normal(size=4).astype("float32"))
    x = rng.normal(size=(1, STEPS, 3)).astype("float32")
    expected = model(x).numpy()
    for frames in (1, 2):
        stream = rl.streaming.to_streaming(model)
        run = rl.function(lambda f, stream=stream: stream(f))
        got = _stream(run, x, frames)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        ops = {node.op for node in run.get_graph(rl.asarray(x[:, :frames])).nodes}
        matmul = bool(ops & {"matmul", "fused_matmul"})
        conv = bool(ops & {"conv2d", "fused_conv2d"})
        assert (matmul, conv) == (frames == 1, frames == 2)


def test_rnn_weights_become_row_major_with_the_same_values():
    """Conversion gives a column-major recurrent kernel (the orthogonal initializer's) a
    row-major buffer, values and sharing with the model unchanged."""
    model = rl.Sequential([rl.Input((None, 3)), L.GRU(4, return_sequences=True)])
    kernel = model.layers[0].cell.recurrent_kernel
    before = kernel.numpy().copy()
    kernel._replace(np.asfortranarray(before))
    rl.streaming.to_streaming(model)
    assert kernel._array.flags.c_contiguous
    np.testing.assert_array_equal(kernel.numpy(), before)
    assert model.layers[0].cell.recurrent_kernel is kernel


def test_frame_count_advances_where_a_layer_reads_it(rng):
    """Internal state: the count of frames seen is kept where a layer reads it (attention
    places its keys by it) and left alone where none does, which saves two ops a call."""
    x = rng.normal(size=(1, 3, 4)).astype("float32")
    counts = {}
    for name, model in [
        ("conv and gru", _conv_lstm()),
        ("attention", _mha(3, rl.streaming.causal_window_mask(3, 2))),
    ]:
        stream = rl.streaming.to_streaming(model)
        for t in range(3):
            stream(x[:, t : t + 1, : model.inputs[0].shape[-1]])
        counts[name] = int(stream.state_variables[0].numpy())
    assert counts == {"conv and gru": 0, "attention": 3}
