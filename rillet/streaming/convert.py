"""``to_streaming``: a trained model turned into one that runs on a few frames per call.

The model's graph is walked from its input; each tensor gets a :class:`Timing`: its stride
(model frames per frame of it, ``None`` once a window layer has removed the time axis), its
delay (frame ``t`` of the stream is the original's frame ``t - delay``) and its start (the
first frame that is not warm-up). Each layer is replaced by its streaming counterpart, and
where branches with different delays meet, :class:`~rillet.streaming.layers.Delay` buffers
line them up.
"""

from __future__ import annotations

import math

from .. import layers as L
from ..errors import ArgumentError
from ..layers.layer import Layer
from ..models import Model, Sequential
from ..models.functional import Functional, OperatorLayer
from ..models.symbolic import InputLayer, flatten
from . import kinds
from .kinds import Timing
from .layers import Delay, PassThrough
from .model import Step, StreamingModel

MODES = ("internal_state", "external_state")


def to_streaming(model: Model, mode: str = "internal_state", batch_size: int = 1) -> Model:
    """Convert a trained ``Sequential`` or functional model over ``(batch, time, features...)``
    into a :class:`StreamingModel` called on ``(batch, frames, features...)``, ``frames`` a
    multiple of ``stream.stride``, that returns the original's outputs for those frames
    (``(batch, frames / stride_of_output, ...)``; one result a call for an output over a
    window). Weights are shared with ``model``.

    ``mode="internal_state"`` keeps ring buffers and RNN states in variables for
    ``batch_size`` streams (``reset_states()`` starts new ones); ``mode="external_state"``
    takes and returns them: ``outputs, states = stream(frames, states)``, starting from
    ``stream.initial_states(batch_size)``. ``stream.delays`` gives each output's lag in frames.

    Streams: Conv1D/Conv2D/DepthwiseConv1D/SeparableConv1D (causal or 'valid' along time,
    dilated, strided; ZeroPadding1D/2D before a 'valid' one pads time causally),
    Max/AveragePooling1D/2D, GlobalMax/GlobalAveragePooling and Flatten over the model's
    fixed window (``rl.Input((frames, ...))``, with only 'valid' convolutions and per-frame
    layers before them), SimpleRNN/GRU/LSTM (``return_sequences=True``), Dense,
    TimeDistributed, BatchNormalization, LayerNormalization, activations, Dropout, Reshape
    keeping the frames, Cropping, nested models, Add/Subtract/Multiply/Average/Maximum/
    Minimum/Concatenate (branches with different delays are lined up) and MultiHeadAttention
    with ``attention_mask=rl.streaming.causal_window_mask(length, window)``. Any other layer
    raises an ArgumentError naming it and why.

    >>> import numpy as np
    >>> import rillet as rl
    >>> model = rl.Sequential([rl.Input((None, 2)), rl.layers.Conv1D(3, 2, padding="causal")])
    >>> x = np.random.default_rng(0).normal(size=(1, 4, 2)).astype("float32")
    >>> stream = rl.streaming.to_streaming(model)
    >>> frames = np.concatenate([stream(x[:, t : t + 1]).numpy() for t in range(4)], axis=1)
    >>> bool(np.abs(frames - model(x).numpy()).max() < 1e-6)
    True
    """
    if mode not in MODES:
        raise ArgumentError(f"to_streaming: received mode={mode!r}, expected one of {MODES}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"to_streaming: received batch_size={batch_size!r}, expected int >= 1")
    graph = _graph(model)
    inputs = flatten(graph.input)
    if len(inputs) != 1:
        raise ArgumentError(
            f"to_streaming: model '{model.name}' has {len(inputs)} inputs; only single-input "
            "models stream"
        )
    converter = _Converter(inputs[0])
    for node in graph._nodes:
        converter.convert(node)
    outputs = flatten(graph.output)
    delays = [converter.timing[id(t)].delay if converter.timing[id(t)].stride else None
              for t in outputs]  # fmt: skip
    return StreamingModel(
        converter.steps, id(inputs[0]), [id(t) for t in outputs], converter.stride(), delays,
        mode, batch_size, name=f"streaming_{model.name}",
    )  # fmt: skip


def _graph(model) -> Functional:
    if isinstance(model, Sequential) and model.built:
        graph = model._functional
        if graph is None:
            raise ArgumentError(
                f"to_streaming: Sequential '{model.name}' has no input shape; start it with "
                "rl.Input((None, features)) so that frame shapes are known"
            )
        return graph
    if isinstance(model, Functional):
        return model
    raise ArgumentError(
        f"to_streaming: received {type(model).__name__} '{getattr(model, 'name', '?')}'; "
        "expected a built Sequential (with an rl.Input) or functional model"
    )


class _Converter:
    """Walks the nodes in order, keeping each tensor's Timing and the streaming steps."""

    def __init__(self, input_tensor):
        self.timing = {id(input_tensor): Timing(1)}
        self.model_frames = input_tensor.shape[1]
        self.steps: list[Step] = []
        self.strides = [1]
        self.delayed: set = set()

    def stride(self) -> int:
        """The smallest number of model frames a call may take."""
        return math.lcm(*self.strides)

    def convert(self, node) -> None:
        layer = node.layer
        if isinstance(layer, InputLayer):
            return
        if isinstance(layer, Model):
            return self._inline(layer, node)
        if len(node.output_tensors) != 1:
            raise kinds.cannot(layer, f"it returns {len(node.output_tensors)} tensors, not one")
        ins = kinds.merge_inputs(layer, node) if _is_merge(layer, node) else node.input_tensors
        timings = [self.timing[id(t)] for t in ins]
        if _is_merge(layer, node):
            keys, timing = self._aligned(layer, ins, timings)
            streaming = kinds.merge(layer, node, timing)
        else:
            if len(ins) != 1:
                raise kinds.cannot(layer, f"it takes {len(ins)} tensors")
            keys = [id(ins[0])]
            streaming, timing = kinds.single(layer, node, timings[0], self.model_frames)
        out = node.output_tensors[0]
        self.timing[id(out)] = timing
        if timing.stride:
            self.strides.append(timing.stride)
        self.steps.append(Step(streaming, keys, id(out)))

    def _inline(self, model: Model, node) -> None:
        """A model used as a layer: its own layers, between two pass-through steps."""
        graph = _graph(model)
        inner_in, inner_out = flatten(graph.input), flatten(graph.output)
        if len(inner_in) != 1 or len(inner_out) != 1 or len(node.output_tensors) != 1:
            raise kinds.cannot(model, "a nested model streams with one input and one output")
        outer_in, outer_out = node.input_tensors[0], node.output_tensors[0]
        self._pass(model, outer_in, inner_in[0])
        for inner in graph._nodes:
            self.convert(inner)
        self._pass(model, inner_out[0], outer_out)

    def _pass(self, model: Model, source, target) -> None:
        self.timing[id(target)] = self.timing[id(source)]
        self.steps.append(Step(PassThrough(model), [id(source)], id(target)))

    def _aligned(self, layer: Layer, tensors: list, timings: list) -> tuple:
        """The keys of ``tensors`` after Delay steps that give them all the largest delay."""
        strides = {t.stride for t in timings}
        if len(strides) != 1:
            found = sorted(strides, key=str)
            raise kinds.cannot(layer, f"its inputs have different strides {found}")
        for timing in timings:
            kinds.check_unpadded(layer, timing)
        (stride,) = strides
        if stride is None:
            return [id(t) for t in tensors], Timing(None)
        delay = max(t.delay for t in timings)
        keys = []
        for tensor, timing in zip(tensors, timings):
            key = id(tensor)
            if timing.delay < delay:
                key = (key, delay)
                if key not in self.delayed:  # one Delay per tensor and delay
                    self.delayed.add(key)
                    delayed = Delay(layer, delay - timing.delay, tensor.shape[2:])
                    self.steps.append(Step(delayed, [id(tensor)], key))
            keys.append(key)
        history = any(t.history for t in timings) or isinstance(layer, L.MultiHeadAttention)
        return keys, Timing(stride, delay, delay, history)


def _is_merge(layer: Layer, node) -> bool:
    if isinstance(layer, L.MultiHeadAttention):
        return True
    if isinstance(layer, OperatorLayer):
        return layer.constant is None and len(node.input_tensors) == 2
    return isinstance(layer, kinds.MERGES)


__all__ = ["MODES", "to_streaming"]
