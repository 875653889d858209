"""Streaming counterparts of trained layers.

Each one runs its trained ``layer`` (kept as ``self.layer``, so weights are shared, not
copied) on the few frames of one call. What the next call needs (a buffer of past frames,
RNN states) is not held here: ``state_shapes(batch)`` says what it is, and ``step(inputs,
states, count)`` takes the current states and returns ``(output, new_states)``; the
:class:`~rillet.streaming.StreamingModel` keeps them in variables or passes them in and out.

``count`` is the number of model input frames seen before this call (an int tensor). A
tensor with stride ``S`` (``S`` model frames per frame of it) has, in this call, the frames
``count / S + i``. Frames before a tensor's ``start`` are warm-up frames that the original
model never produces: layers that remember frames treat them as zeros (the original's
padding) or skip them.
"""

from __future__ import annotations

import copy
import functools

import numpy as np

from .. import ops
from ..layers.convolutional import Conv1D
from ..layers.layer import Layer


class StreamingLayer(Layer):
    """A trained ``layer`` run on the frames of one call (see the module doc).

    ``stride`` is the input's stride in model frames and ``start`` the first of its frames
    that is not warm-up.
    """

    def __init__(self, layer: Layer, stride: int | None = 1, start: int = 0, **kwargs):
        super().__init__(name=f"streaming_{layer.name}", dtype=layer.dtype, **kwargs)
        self.layer = layer
        self.stride, self.start = stride, start
        self.built = True

    def state_shapes(self, batch: int) -> list[tuple]:
        """The shapes of the states ``step`` carries from one call to the next."""
        return []

    def reads_count(self) -> bool:
        """Whether ``step`` uses ``count`` (to tell warm-up frames, or past frames' places)."""
        return True

    def step(self, inputs: list, states: list, count) -> tuple:
        """``(output, new_states)`` for this call's ``inputs`` (one tensor per input)."""
        raise NotImplementedError

    def call(self, inputs):
        raise NotImplementedError(f"{self.name}: call step(inputs, states, count)")

    def _valid(self, count, frames: int):
        """Bool ``(frames,)``: which of this call's input frames are not warm-up."""
        positions = count + self.stride * ops.arange(frames, dtype=count.dtype)
        return ops.greater_equal(positions, self.start * self.stride)

    def _zero_warm_up(self, x, count):
        """``x`` with its warm-up frames set to zero, as the original's padding."""
        if self.start <= 0:
            return x
        keep = ops.reshape(self._valid(count, x.shape[1]), shape=(1, -1) + (1,) * (x.ndim - 2))
        return ops.where(keep, x, ops.zeros_like(x))


def _cast(x, dtype):
    return x if x.dtype == dtype else ops.cast(x, dtype=dtype)


def _shift_in(buffer, x):
    """``(buffer + x, the last len(buffer) frames of it)``: frames pushed through a FIFO."""
    frames = ops.concat([buffer, x], axis=1)
    return frames, frames[:, frames.shape[1] - buffer.shape[1] :]


class FrameLayer(StreamingLayer):
    """A layer that treats each frame on its own (Dense, activations, normalization at
    inference, Dropout, Reshape keeping the frames): the trained layer itself."""

    def __init__(self, layer: Layer, stride=1, start=0, frame_shape: tuple | None = None):
        super().__init__(layer, stride, start)
        self.frame_shape = frame_shape  # set for Reshape: the output shape of one frame

    def reads_count(self) -> bool:
        return False

    def step(self, inputs, states, count):
        (x,) = inputs
        if self.frame_shape is not None:
            return ops.reshape(x, shape=(x.shape[0], x.shape[1], *self.frame_shape)), []
        return self.layer(x, training=False), []


class PassThrough(StreamingLayer):
    """Hands a tensor on unchanged: the way into and out of a nested model's layers."""

    def reads_count(self) -> bool:
        return False

    def step(self, inputs, states, count):
        return inputs[0], []


class MergeLayer(StreamingLayer):
    """Add, Concatenate, ...: inputs already aligned frame for frame by :class:`Delay`."""

    def reads_count(self) -> bool:
        return False

    def step(self, inputs, states, count):
        return self.layer(list(inputs), training=False), []


class Delay(StreamingLayer):
    """Delays a tensor by ``frames`` frames, so that it lines up with a slower branch."""

    def __init__(self, layer: Layer, frames: int, frame_shape: tuple):
        super().__init__(layer)
        self.name = f"delay_{frames}_{layer.name}"
        self.frames, self.frame_shape = frames, tuple(frame_shape)

    def reads_count(self) -> bool:
        return False

    def state_shapes(self, batch):
        return [(batch, self.frames, *self.frame_shape)]

    def step(self, inputs, states, count):
        (x,), (buffer,) = inputs, states
        frames, buffer = _shift_in(_cast(buffer, x.dtype), x)
        return frames[:, : x.shape[1]], [buffer]


class Buffered(StreamingLayer):
    """A convolution or pooling over time (axis 1) with time kernel extent ``span`` (that is
    ``(kernel - 1) * dilation``) and time stride ``time_stride``: the last ``memory`` input
    frames are kept and put before each call's frames; ``layer`` then runs on them without
    time padding and gives exactly the outputs of this call's frames.

    ``memory`` is chosen by the converter so that the output frames fall on the original's
    grid; causal padding is the zeros the buffer starts with. A Conv1D giving one output
    frame a call (the usual frame-by-frame stream) runs as one matmul of the window.
    """

    def __init__(self, layer, stride, start, memory: int, span: int, time_stride: int, shape):
        super().__init__(layer, stride, start)
        self.memory, self.span, self.time_stride = memory, span, time_stride
        self.frame_shape = tuple(shape)
        self.valid_layer = _without_time_padding(layer)
        self.one_output_layer = _one_output_twin(self.valid_layer)

    def reads_count(self) -> bool:
        return self.start > 0  # only to zero the warm-up frames

    def state_shapes(self, batch):
        return [(batch, self.memory, *self.frame_shape)] if self.memory else []

    def step(self, inputs, states, count):
        x = self._zero_warm_up(_cast(inputs[0], self.dtype), count)
        new_states = []
        if self.memory:
            x, buffer = _shift_in(_cast(states[0], x.dtype), x)
            new_states = [buffer]
        outputs = (x.shape[1] - self.memory) // self.time_stride
        used = (outputs - 1) * self.time_stride + self.span + 1
        window = x[:, :used] if used < x.shape[1] else x
        if outputs == 1 and self.one_output_layer is not None:  # a frame a call, as a rule
            return self.one_output_layer(window, training=False), new_states
        return self.valid_layer(window, training=False), new_states


def _without_time_padding(layer: Layer) -> Layer:
    """``layer`` itself when it pads nothing, else a twin sharing its weights with
    ``padding="valid"`` (the buffer provides the causal padding)."""
    if layer.padding == "valid" or layer.padding == "same":
        return layer  # "same" only reaches here where it pads nothing along time
    twin = copy.copy(layer)
    twin.padding = "valid"
    return twin


def _one_output_twin(layer: Layer) -> Layer | None:
    """For a Conv1D (groups=1), a twin sharing its weights that computes its one output
    frame on a window exactly one kernel wide as one matmul of the flattened window (the
    taps side by side) with the kernel, instead of a convolution op that costs several
    times as much on a single frame; None for other layers."""
    if type(layer) is not Conv1D or layer.groups != 1:
        return None
    twin = copy.copy(layer)
    twin._convolve = functools.partial(_window_matmul, layer)
    return twin


def _window_matmul(layer, x):
    """``layer``'s convolution of ``x`` ``(batch, (taps - 1) * dilation + 1, channels)``:
    ``(batch, 1, filters)``."""
    taps, channels, filters = layer.kernel.shape
    if x.dtype != layer.kernel.dtype:
        return layer._convolve(x)
    dilation = layer.dilation_rate[0]
    window = x[:, ::dilation] if dilation > 1 else x
    flat = ops.reshape(window, (-1, 1, taps * channels))
    return ops.matmul(flat, ops.reshape(layer.kernel, (taps * channels, filters)))


class StreamingRNN(StreamingLayer):
    """A unidirectional RNN returning sequences: its last states are the initial states of
    the next call; warm-up frames leave the states at zero. Its weights are given row-major
    buffers (same values) for the per-frame kernels."""

    def __init__(self, layer: Layer, stride=1, start=0):
        super().__init__(layer, stride, start)
        for variable in layer.weights:  # the per-frame kernels read their weights row by row
            variable._own_buffer()

    def reads_count(self) -> bool:
        return self.start > 0  # only to keep the warm-up frames out of the states

    def state_shapes(self, batch):
        return [(batch, size) for size in self.layer.state_size]

    def step(self, inputs, states, count):
        x = _cast(inputs[0], self.layer.dtype)
        states = [_cast(s, x.dtype) for s in states]
        mask = None
        if self.start > 0:
            valid = ops.reshape(self._valid(count, x.shape[1]), shape=(1, -1))
            mask = ops.broadcast_to(valid, (x.shape[0], x.shape[1]))
        _, outputs, new_states = self.layer.inner_loop(x, states, mask, False)
        return outputs, list(new_states)


class Window(StreamingLayer):
    """GlobalMax/GlobalAveragePooling or Flatten over a window of ``frames`` frames: the model
    was trained on windows of that many; each call gives the result over the most recent
    window, which ends ``lag`` frames before the newest frame."""

    def __init__(self, layer, stride, start, frames: int, shape: tuple, lag: int = 0):
        super().__init__(layer, stride, start)
        self.frames, self.frame_shape, self.lag = frames, tuple(shape), lag

    def reads_count(self) -> bool:
        return False

    def state_shapes(self, batch):
        return [(batch, self.frames + self.lag, *self.frame_shape)]

    def step(self, inputs, states, count):
        x = _cast(inputs[0], self.dtype)
        frames = ops.concat([_cast(states[0], x.dtype), x], axis=1)
        kept = frames[:, frames.shape[1] - self.frames - self.lag :]
        return self.layer(kept[:, : self.frames], training=False), [kept]


class StreamingAttention(StreamingLayer):
    """MultiHeadAttention of each frame over the last ``window`` frames (itself included):
    the last ``window - 1`` keys and values are kept; keys from before the stream (or
    warm-up) get no weight, as in the original."""

    def __init__(self, layer, stride, start, window: int, shapes: list, separate_key: bool):
        super().__init__(layer, stride, start)
        self.window, self.shapes, self.separate_key = window, shapes, separate_key

    def state_shapes(self, batch):
        kept = self.window - 1
        return [(batch, kept, *shape) for shape in self.shapes] if kept else []

    def step(self, inputs, states, count):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if self.separate_key else value
        kept, frames = self.window - 1, query.shape[1]
        if kept:
            value, buffer = _shift_in(_cast(states[0], value.dtype), value)
            new_states = [buffer]
            if self.separate_key:
                key, key_buffer = _shift_in(_cast(states[1], key.dtype), key)
                new_states.append(key_buffer)
            else:
                key = value
        else:
            new_states = []
        mask = self._mask(count, frames, kept)
        output = self.layer(query, value, key=key, attention_mask=mask, training=False)
        return output, new_states

    def _mask(self, count, frames: int, kept: int):
        """``(1, frames, kept + frames)``: query ``i`` (key position ``kept + i``) sees the
        keys ``i .. kept + i`` that are real frames of the stream."""
        band = np.asarray(causal_window_mask(kept + frames, self.window))[:, kept:]
        positions = count + self.stride * ops.arange(-kept, frames, dtype=count.dtype)
        real = ops.greater_equal(positions, max(self.start, 0) * self.stride)
        return ops.logical_and(ops.convert_to_tensor(band), ops.reshape(real, shape=(1, 1, -1)))


def causal_window_mask(length: int, window: int):
    """The attention mask of a causal attention limited to the last ``window`` frames:
    bool ``(1, length, length)``, True where query ``i`` may see key ``j``, that is
    ``i - window < j <= i``. Pass it as ``attention_mask=`` to ``MultiHeadAttention`` in
    the model to convert; its streaming version keeps the last ``window - 1`` keys and values.

    >>> import rillet as rl
    >>> rl.streaming.causal_window_mask(4, 2)[0].astype(int).tolist()
    [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    """
    rows = np.arange(length)[:, None]
    cols = np.arange(length)[None, :]
    return ((cols <= rows) & (cols > rows - window))[None]
