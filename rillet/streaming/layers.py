"""Streaming counterparts of trained layers: each takes ``(batch, stride, features)`` and keeps
what the next call needs (a ring buffer of past frames, RNN states) in non-trainable
variables. The trained layer is kept as ``self.layer``, so its weights are shared, not copied.
"""

from __future__ import annotations

from .. import ops
from ..errors import ShapeError
from ..layers.layer import Layer


class StreamingLayer(Layer):
    """A trained ``layer`` run on ``stride`` frames per call, with its state in variables."""

    def __init__(self, layer: Layer, batch_size: int, **kwargs):
        super().__init__(name=f"streaming_{layer.name}", dtype=layer.dtype, **kwargs)
        self.layer = layer
        self.batch_size = batch_size
        self.built = True

    def _state(self, shape: tuple, name: str):
        return self.add_weight(shape=shape, initializer="zeros", trainable=False, name=name)

    @property
    def states(self) -> list:
        """The variables that carry the stream from one call to the next."""
        return list(self._tracked["untrainable"])

    def reset_states(self) -> None:
        """Zero the states: the next call starts a new stream."""
        for variable in self.states:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def _check_batch(self, x) -> None:
        if len(x.shape) != 3 or x.shape[0] != self.batch_size:
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': expected frames (batch={self.batch_size}, "
                f"stride, features), got shape {tuple(x.shape)}"
            )


class FrameLayer(StreamingLayer):
    """A layer that treats each frame on its own (Dense, activations, normalization at
    inference, Dropout): the trained layer itself, run without training."""

    def call(self, inputs):
        return self.layer(inputs, training=False)


class StreamingConv1D(StreamingLayer):
    """A causal Conv1D: the last ``(kernel_size - 1) * dilation_rate`` input frames are kept
    in a buffer and prepended to each call's frames, then a "valid" convolution gives
    exactly the outputs of the new frames."""

    def __init__(self, layer: Layer, batch_size: int, **kwargs):
        super().__init__(layer, batch_size, **kwargs)
        self.memory = (layer.kernel_size[0] - 1) * layer.dilation_rate[0]
        shape = (batch_size, self.memory, layer._input_channels)
        self.buffer = self._state(shape, "buffer") if self.memory else None

    def call(self, inputs):
        self._check_batch(inputs)
        layer = self.layer
        x = ops.cast(inputs, dtype=layer.dtype) if inputs.dtype != layer.dtype else inputs
        if self.buffer is not None:
            x = ops.concat([self.buffer, x], axis=1)
            self.buffer.assign(x[:, x.shape[1] - self.memory :])
        y = ops.conv1d(
            x, layer.kernel, strides=1, padding="valid", dilations=layer.dilation_rate,
            groups=layer.groups,
        )  # fmt: skip
        if layer.bias is not None:
            y = y + layer.bias
        return layer.activation(y)


class StreamingRNN(StreamingLayer):
    """A unidirectional RNN returning sequences: its last states are the initial states of
    the next call."""

    def __init__(self, layer: Layer, batch_size: int, **kwargs):
        super().__init__(layer, batch_size, **kwargs)
        self.rnn_states = [
            self._state((batch_size, size), f"state_{i}") for i, size in enumerate(layer.state_size)
        ]

    def call(self, inputs):
        self._check_batch(inputs)
        x = ops.cast(inputs, dtype=self.layer.dtype) if inputs.dtype != self.layer.dtype else inputs
        _, outputs, states = self.layer.inner_loop(x, list(self.rnn_states), None, False)
        for variable, state in zip(self.rnn_states, states):
            variable.assign(state)
        return outputs
