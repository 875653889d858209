"""``StreamingModel``: the converted layers run in order on the frames of one call."""

from __future__ import annotations

from .. import ops
from ..errors import ArgumentError, ShapeError
from ..models import Model

COUNT_DTYPE = "int64"


class Step:
    """One streaming layer with the keys of its input tensors and of its output tensor."""

    def __init__(self, layer, inputs: list, output):
        self.layer, self.inputs, self.output = layer, list(inputs), output


class StreamingModel(Model):
    """A converted model (see :func:`to_streaming`): called on ``(batch, frames, features...)``
    with ``frames`` a multiple of ``stride``, it returns the original's outputs for those
    frames.

    - ``mode="internal_state"``: ``stream(frames)``; the states live in non-trainable
      variables for ``batch_size`` streams; ``reset_states()`` starts new streams. The
      frame count (the first state) advances only where a layer reads it: warm-up frames
      after a time padding, attention.
    - ``mode="external_state"``: ``outputs, new_states = stream(frames, states)`` with
      ``states`` a list of tensors, ``initial_states(batch_size)`` to begin; the model holds no
      state, so it can be traced with ``rl.function`` and served.

    ``delays[i]`` is how many frames output ``i`` lags the original: frame ``t`` of the
    stream is the original's frame ``t - delays[i]`` (``None`` for an output over a window,
    which is the result over the most recent window).
    """

    def __init__(self, steps, input_key, output_keys, stride, delays, mode, batch_size, name):
        super().__init__(name=name)
        self.steps = list(steps)
        self.streaming_layers = [step.layer for step in self.steps]
        self.input_key, self.output_keys = input_key, list(output_keys)
        self.stride, self.delays = stride, list(delays)
        self.mode, self.batch_size = mode, batch_size
        self._state_counts = [len(step.layer.state_shapes(1)) for step in self.steps]
        self._reads_count = any(step.layer.reads_count() for step in self.steps)
        self.state_variables = []
        if mode == "internal_state":
            self.state_variables = [
                self.add_weight(shape=s.shape, initializer="zeros", dtype=s.dtype,
                                trainable=False, name=f"state_{i}")
                for i, s in enumerate(self.initial_states(batch_size))
            ]  # fmt: skip
        self.built = True

    def initial_states(self, batch_size: int = 1) -> list:
        """The states a new stream starts from (all zeros): the count of frames seen, then
        each layer's buffers and RNN states, for ``batch_size`` streams."""
        states = [ops.zeros((), dtype=COUNT_DTYPE)]
        for step in self.steps:
            for shape in step.layer.state_shapes(batch_size):
                states.append(ops.zeros(shape, dtype=step.layer.dtype))
        return states

    def call(self, frames, states=None):
        if self.mode == "external_state":
            if states is None:
                raise ArgumentError(
                    f"StreamingModel '{self.name}' (mode='external_state') is called as "
                    "stream(frames, states); start from stream.initial_states(batch_size)"
                )
            return self.run(frames, list(states))
        if states is not None:
            raise ArgumentError(
                f"StreamingModel '{self.name}' (mode='internal_state') keeps its states; "
                "call it as stream(frames)"
            )
        self._check_batch(frames)
        outputs, new_states = self.run(frames, [v.value() for v in self.state_variables])
        kept = 0 if self._reads_count else 1  # an unread count: two ops a call saved
        for variable, state in zip(self.state_variables[kept:], new_states[kept:]):
            variable.assign(state)
        return outputs

    def run(self, frames, states: list) -> tuple:
        """``(outputs, new_states)`` for ``frames`` from ``states``, without side effects."""
        self._check_frames(frames, states)
        count, rest = states[0], list(states[1:])
        values, new_states = {self.input_key: frames}, [count + frames.shape[1]]
        for step, n in zip(self.steps, self._state_counts):
            mine, rest = rest[:n], rest[n:]
            inputs = [values[key] for key in step.inputs]
            values[step.output], updated = step.layer.step(inputs, mine, count)
            new_states.extend(updated)
        outputs = [values[key] for key in self.output_keys]
        return (outputs[0] if len(outputs) == 1 else outputs), new_states

    def reset_states(self) -> None:
        """Zero every buffer and RNN state: the next call starts a new stream."""
        for variable in self.state_variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def _check_frames(self, frames, states: list) -> None:
        expected = 1 + sum(self._state_counts)
        if len(states) != expected:
            raise ArgumentError(
                f"StreamingModel '{self.name}': received {len(states)} states, expected "
                f"{expected} (as stream.initial_states(batch_size) gives)"
            )
        if len(frames.shape) < 2 or frames.shape[1] % self.stride:
            raise ShapeError(
                f"StreamingModel '{self.name}': expected frames (batch, stride, ...) with "
                f"stride a multiple of {self.stride}, got shape {tuple(frames.shape)}"
            )

    def _check_batch(self, frames) -> None:
        if frames.shape[0] != self.batch_size:
            raise ShapeError(
                f"StreamingModel '{self.name}': expected frames (batch={self.batch_size}, "
                f"stride, ...), got shape {tuple(frames.shape)}"
            )
