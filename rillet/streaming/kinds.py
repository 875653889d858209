"""Which streaming layer stands for each trained layer, and the Timing of its output (see
:mod:`rillet.streaming.convert`); a layer that cannot stream raises an ArgumentError that
names it and says why."""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from .. import layers as L
from .. import ops
from ..errors import ArgumentError
from ..layers.layer import Layer
from ..models.functional import OperatorLayer
from .layers import (
    Buffered,
    FrameLayer,
    MergeLayer,
    StreamingAttention,
    StreamingRNN,
    Window,
    causal_window_mask,
)


class Timing(NamedTuple):
    """A tensor's stride (model frames per frame of it; ``None`` without a time axis), delay
    (stream frame ``t`` is the original's frame ``t - delay``) and start (its first frame
    that is not warm-up; above the delay after a time padding, whose zeros it stands for).
    ``history`` says whether its frames depend on frames from before a window of the model's
    input (through causal padding, RNN states or attention), where the original, run on that
    window alone, saw zeros or nothing."""

    stride: int | None
    delay: int = 0
    start: int = 0
    history: bool = False  # whether a padding, an RNN state or attention reaches back


# Layers that see each frame on its own at inference: run as they are.
FRAME_LAYERS = (
    L.Dense, L.Activation, L.Identity, L.ReLU, L.LeakyReLU, L.ELU, L.PReLU,
    L.Dropout, L.SpatialDropout1D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
    L.ActivityRegularization,
)  # fmt: skip
MERGES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum, L.Concatenate)
RNNS = (L.SimpleRNN, L.GRU, L.LSTM)
CONVS = (L.Conv1D, L.Conv2D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D,
         L.SeparableConv2D)  # fmt: skip
POOLS = (L.MaxPooling1D, L.MaxPooling2D, L.AveragePooling1D, L.AveragePooling2D)
WINDOWS = (L.GlobalMaxPooling1D, L.GlobalAveragePooling1D, L.GlobalMaxPooling2D,
           L.GlobalAveragePooling2D, L.Flatten)  # fmt: skip
PADDINGS = (L.ZeroPadding1D, L.ZeroPadding2D)
CROPPINGS = (L.Cropping1D, L.Cropping2D)


def cannot(layer: Layer, why: str) -> ArgumentError:
    return ArgumentError(
        f"to_streaming: layer '{layer.name}' ({type(layer).__name__}) cannot stream: {why}"
    )


def check_unpadded(layer: Layer, timing: Timing) -> None:
    """Only a convolution or pooling may follow a time padding: it alone reads the padding
    as the zeros its buffer starts with."""
    if timing.stride is not None and timing.start != timing.delay:
        raise cannot(
            layer, "it follows a ZeroPadding along time; only a 'valid' convolution or "
            "pooling may follow one"
        )  # fmt: skip


def single(layer: Layer, node, timing: Timing, model_frames: int | None) -> tuple:
    """``(streaming layer, output Timing)`` for a one-input layer; ``model_frames`` is the
    fixed number of frames of the model's input, if it has one."""
    if isinstance(layer, L.Bidirectional):
        raise cannot(layer, "a bidirectional RNN needs future frames")
    if timing.stride is None:
        return _after_window(layer, node, timing)
    if isinstance(layer, (*CONVS, *POOLS)):
        return _buffered(layer, node, timing)
    check_unpadded(layer, timing)
    if isinstance(layer, PADDINGS):
        return _padding(layer, node, timing)
    if isinstance(layer, CROPPINGS):
        return _cropping(layer, timing)
    if isinstance(layer, RNNS):
        return _rnn(layer, timing), timing._replace(history=True)
    if isinstance(layer, WINDOWS):
        return _window(layer, node, timing, model_frames), Timing(None)
    if isinstance(layer, L.Reshape):
        return _reshape(layer, node, timing), timing
    _check_frame_layer(layer, node)
    return FrameLayer(layer, timing.stride, timing.start), timing


def merge(layer: Layer, node, timing: Timing) -> Layer:
    """The streaming layer of a layer over aligned inputs (merges, attention)."""
    if isinstance(layer, L.MultiHeadAttention):
        return _attention(layer, node, timing)
    if isinstance(layer, L.Concatenate) and timing.stride is not None:
        rank = len(node.output_tensors[0].shape)
        if layer.axis % rank in (0, 1):
            raise cannot(layer, f"axis={layer.axis} joins along time or batch, not features")
    return MergeLayer(layer, timing.stride, timing.start)


def merge_inputs(layer: Layer, node) -> list:
    """The input tensors of a merge, in the order its streaming layer takes them."""
    if not isinstance(layer, L.MultiHeadAttention):
        return list(node.input_tensors)
    args, kwargs = node.call_args, node.call_kwargs
    query = args[0]
    value = args[1] if len(args) > 1 else kwargs.get("value")
    key = args[2] if len(args) > 2 else kwargs.get("key")
    return [query, value] if key is None or key is value else [query, value, key]


def _after_window(layer: Layer, node, timing: Timing) -> tuple:
    if isinstance(layer, (*FRAME_LAYERS, L.Softmax, L.BatchNormalization, L.LayerNormalization,
                          L.Flatten, L.Reshape, OperatorLayer)):  # fmt: skip
        return FrameLayer(layer, None), timing
    raise cannot(layer, "its input has no time axis any more (it is over a window)")


def _check_frame_layer(layer: Layer, node) -> None:
    rank = len(node.input_tensors[0].shape)
    if isinstance(layer, L.TimeDistributed):
        inner = layer.layer
        if not isinstance(inner, (*FRAME_LAYERS, L.Softmax, L.BatchNormalization,
                                  L.LayerNormalization)):  # fmt: skip
            name = type(inner).__name__
            raise cannot(layer, f"its inner {name} is not among the per-frame layers")
        return
    if isinstance(layer, (L.Softmax, L.BatchNormalization, L.LayerNormalization)):
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if any(a % rank in (0, 1) for a in axes):
            raise cannot(layer, f"{type(layer).__name__} over axis={layer.axis} mixes frames")
        return
    if isinstance(layer, OperatorLayer) and layer.op != "matmul":
        return
    if not isinstance(layer, FRAME_LAYERS):
        raise cannot(layer, "it is not among the layers streaming supports")


def _time_geometry(layer: Layer) -> tuple:
    """``(kernel extent along time, time stride)`` of a convolution or pooling."""
    kernel = layer.pool_size if isinstance(layer, POOLS) else layer.kernel_size
    dilation = getattr(layer, "dilation_rate", (1,))[0]
    return (kernel[0] - 1) * dilation, layer.strides[0]


def _buffered(layer: Layer, node, timing: Timing) -> tuple:
    """A convolution or pooling: it keeps ``memory`` past frames, the fewest that complete
    the span of its last output in a call and put its outputs on the original's grid of
    strided frames."""
    span, stride = _time_geometry(layer)
    if layer.padding == "causal":
        pad = span
    elif layer.padding == "valid" or span < stride:  # "same" pads no time then
        pad = 0
    else:
        raise cannot(
            layer, f"padding={layer.padding!r} sees future frames; use 'causal' (1-D) or "
            "ZeroPadding before a 'valid' one"
        )  # fmt: skip
    least = max(span - stride + 1, 0)  # the call's own frames cover the rest of the span
    memory = least + (pad - least - timing.delay) % stride
    delay = (memory - pad + timing.delay) // stride
    if delay < 0:
        raise cannot(layer, "the time padding before it is longer than its kernel")
    shape = node.input_tensors[0].shape[2:]
    streaming = Buffered(layer, timing.stride, timing.start, memory, span, stride, shape)
    history = timing.history or pad > 0 or timing.start != timing.delay
    return streaming, Timing(timing.stride * stride, delay, delay, history)


def _padding(layer: Layer, node, timing: Timing) -> tuple:
    """ZeroPadding: the leading time padding becomes a shorter delay (the zeros are the
    next convolution's buffer); the other axes are padded as they were."""
    (before, after), *rest = layer.padding
    if after:
        raise cannot(layer, f"padding={layer.padding} pads time at the end, with future frames")
    twin = copy.copy(layer)
    twin.padding = ((0, 0), *rest)
    padded = timing._replace(delay=timing.delay - before)
    return FrameLayer(twin, timing.stride), padded


def _cropping(layer: Layer, timing: Timing) -> tuple:
    """Cropping: frames cropped at the start become a longer delay; at the end, frames
    the original had no room for (the stream has); the other axes are cropped as they were."""
    (before, _), *rest = layer.cropping
    twin = copy.copy(layer)
    twin.cropping = ((0, 0), *rest)
    delay = timing.delay + before
    return FrameLayer(twin, timing.stride), timing._replace(delay=delay, start=delay)


def _rnn(layer: Layer, timing: Timing) -> Layer:
    if layer.go_backwards:
        raise cannot(layer, "go_backwards=True needs the whole sequence")
    if not layer.return_sequences or layer.return_state:
        raise cannot(
            layer, "only return_sequences=True, return_state=False streams (one output a frame)"
        )
    return StreamingRNN(layer, timing.stride, timing.start)


def _window(layer: Layer, node, timing: Timing, model_frames: int | None) -> Layer:
    """The window is the input's ``frames`` frames that the model computes from its last
    ``model_frames`` input frames: they end ``lag`` frames before the newest one (a 'valid'
    layer may leave input frames that no output uses)."""
    frames = node.input_tensors[0].shape[1]
    if frames is None or model_frames is None:
        raise cannot(
            layer, "it reduces over time, so the model must be built on windows of a fixed "
            "number of frames (rl.Input((frames, ...)))"
        )  # fmt: skip
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise cannot(layer, "only data_format='channels_last' streams")
    if timing.history:
        raise cannot(
            layer, "the model runs on each window afresh, but before this layer a causal "
            "padding, an RNN or attention would see, in a stream, the frames before the "
            "window; use 'valid' convolutions and per-frame layers before a window"
        )  # fmt: skip
    if model_frames % timing.stride:
        raise cannot(
            layer, f"the model's window of {model_frames} frames is not a multiple of the "
            f"stride {timing.stride} of its input"
        )  # fmt: skip
    lag = model_frames // timing.stride - timing.delay - frames
    if lag < 0:
        raise cannot(layer, f"its {frames} frames need more than the model's window")
    shape = node.input_tensors[0].shape[2:]
    return Window(layer, timing.stride, timing.start, frames, shape, lag)


def _reshape(layer: Layer, node, timing: Timing) -> Layer:
    before, after = node.input_tensors[0].shape, node.output_tensors[0].shape
    if after[1] != before[1] or None in after[2:]:
        raise cannot(layer, f"reshaping {before[1:]} to {after[1:]} does not keep the frames")
    return FrameLayer(layer, timing.stride, timing.start, frame_shape=after[2:])


def _attention(layer: Layer, node, timing: Timing) -> Layer:
    kwargs = node.call_kwargs
    if kwargs.get("return_attention_scores"):
        raise cannot(layer, "return_attention_scores=True is not streamed")
    tensors = merge_inputs(layer, node)
    if any(len(t.shape) != 3 for t in tensors):
        raise cannot(layer, "only (batch, time, features) query, value and key stream")
    window = _window_of(layer, kwargs.get("attention_mask"))
    shapes = [tuple(t.shape[2:]) for t in tensors[1:]]
    return StreamingAttention(layer, timing.stride, timing.start, window, shapes, len(tensors) == 3)


def _window_of(layer: Layer, mask) -> int:
    """The context window of a mask made by ``causal_window_mask(length, window)``."""
    how = "pass attention_mask=rl.streaming.causal_window_mask(length, window)"
    if mask is None:
        raise cannot(layer, f"its attention is not limited to a window of past frames; {how}")
    mask = np.asarray(ops.convert_to_numpy(mask)).astype(bool)
    length = mask.shape[-1]
    window = int(mask.reshape(-1, length)[-1].sum())
    if mask.shape[-2:] != (length, length) or not np.array_equal(
        mask.reshape(-1, length, length)[0], causal_window_mask(length, window)[0]
    ):
        raise cannot(layer, f"its attention_mask is not a causal window; {how}")
    return window
