"""``to_streaming``: a trained model turned into one that runs on a few frames per call."""

from __future__ import annotations

from .. import layers as L
from ..errors import ArgumentError
from ..layers.layer import Layer
from ..models import Model, Sequential
from ..models.functional import Functional
from ..models.symbolic import InputLayer, flatten, inbound_nodes
from .layers import FrameLayer, StreamingConv1D, StreamingLayer, StreamingRNN

MODES = ("internal_state",)

# Layers that see each frame on its own at inference: run as they are.
_FRAME_LAYERS = (
    L.Dense, L.Activation, L.Identity, L.ReLU, L.LeakyReLU, L.ELU, L.Dropout,
    L.SpatialDropout1D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
    L.ActivityRegularization,
)  # fmt: skip
_RNNS = (L.SimpleRNN, L.GRU, L.LSTM)


class StreamingModel(Model):
    """The streaming layers of a converted model, called in order on ``(batch, stride,
    features)`` frames; ``reset_states()`` starts a new stream."""

    def __init__(self, streaming_layers: list, name: str | None = None):
        super().__init__(name=name)
        self.streaming_layers = list(streaming_layers)
        self.built = True

    def call(self, inputs):
        x = inputs
        for layer in self.streaming_layers:
            x = layer(x)
        return x

    def reset_states(self) -> None:
        """Zero every ring buffer and RNN state: the next call starts a new stream."""
        for layer in self.streaming_layers:
            layer.reset_states()


def to_streaming(model: Model, mode: str = "internal_state", batch_size: int = 1) -> Model:
    """Convert a trained ``Sequential`` model or functional chain over ``(batch, time,
    features)`` into a ``StreamingModel`` that takes ``(batch_size, stride, features)`` frames
    per call and returns the original's outputs for those frames. Weights are shared with
    ``model``; ring buffers and RNN states live in non-trainable variables.

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
        raise ArgumentError(
            f"to_streaming: received mode={mode!r}, expected one of {MODES} "
            "(external_state is not implemented yet)"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"to_streaming: received batch_size={batch_size!r}, expected int >= 1")
    layers = _chain(model)
    converted = [_convert(layer, batch_size) for layer in layers]
    return StreamingModel(converted, name=f"streaming_{model.name}")


def _chain(model) -> list:
    if not isinstance(model, Model) or not model.built:
        raise ArgumentError(
            f"to_streaming: received {type(model).__name__} '{getattr(model, 'name', '?')}'; "
            "expected a built Sequential or functional model (call it or give it an Input)"
        )
    if isinstance(model, Sequential):
        return [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    if isinstance(model, Functional):
        return _functional_chain(model)
    raise ArgumentError(
        f"to_streaming: received a subclassed {type(model).__name__} '{model.name}'; only "
        "Sequential models and functional chains can be converted"
    )


def _functional_chain(model) -> list:
    """The layers from the single input to the single output, each fed by the one before."""
    outputs = flatten(model.output)
    if len(outputs) != 1 or len(flatten(model.input)) != 1:
        raise ArgumentError(
            f"to_streaming: model '{model.name}' has {len(flatten(model.input))} inputs and "
            f"{len(outputs)} outputs; only single-input, single-output chains stream so far"
        )
    chain, tensor = [], outputs[0]
    while not isinstance(tensor._keras_history.operation, InputLayer):
        layer, index, _ = tensor._keras_history
        node = inbound_nodes(layer)[index]
        if len(node.input_tensors) != 1:
            raise _cannot(layer, f"it takes {len(node.input_tensors)} tensors, not a chain")
        chain.insert(0, layer)
        tensor = node.input_tensors[0]
    return chain


def _cannot(layer: Layer, why: str) -> ArgumentError:
    return ArgumentError(
        f"to_streaming: layer '{layer.name}' ({type(layer).__name__}) cannot stream: {why}"
    )


def _convert(layer: Layer, batch_size: int) -> StreamingLayer:
    kind = _kind(layer)
    return kind(layer, batch_size)


def _kind(layer: Layer) -> type:
    if isinstance(layer, L.Bidirectional):
        raise _cannot(layer, "a bidirectional RNN needs future frames")
    if type(layer) is L.Conv1D:
        return _conv_kind(layer)
    if isinstance(layer, _RNNS):
        return _rnn_kind(layer)
    if isinstance(layer, L.TimeDistributed):
        return _time_distributed_kind(layer)
    if isinstance(layer, L.Softmax) and layer.axis not in (-1, 2):
        raise _cannot(layer, f"softmax over axis={layer.axis} mixes frames")
    if isinstance(layer, (*_FRAME_LAYERS, L.Softmax)):
        return FrameLayer
    if isinstance(layer, (L.BatchNormalization, L.LayerNormalization)):
        return _norm_kind(layer)
    raise _cannot(layer, "it is not among the layers streaming supports yet")


def _time_distributed_kind(layer) -> type:
    inner = layer.layer
    if not isinstance(inner, (*_FRAME_LAYERS, L.Softmax)):
        raise _cannot(layer, f"its inner {type(inner).__name__} is not among the per-frame layers")
    return FrameLayer


def _conv_kind(layer) -> type:
    if layer.padding != "causal" and layer.kernel_size[0] > 1:
        raise _cannot(layer, f"padding={layer.padding!r} sees future frames; use 'causal'")
    if layer.strides[0] != 1:
        raise _cannot(layer, f"strides={layer.strides} is not supported yet (only 1)")
    return StreamingConv1D


def _rnn_kind(layer) -> type:
    if layer.go_backwards:
        raise _cannot(layer, "go_backwards=True needs the whole sequence")
    if not layer.return_sequences or layer.return_state:
        raise _cannot(
            layer, "only return_sequences=True, return_state=False streams (one output a frame)"
        )
    return StreamingRNN


def _norm_kind(layer) -> type:
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    if any(a not in (-1, 2) for a in axes):
        raise _cannot(layer, f"normalization over axis={layer.axis} mixes frames")
    return FrameLayer
