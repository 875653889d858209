"""Layer wrappers with the arguments of Keras 3: TimeDistributed and Bidirectional.

>>> import rillet as rl
>>> import rillet.layers
>>> rl.layers.TimeDistributed(rl.layers.Dense(2))(rl.ones((3, 5, 4))).shape
(3, 5, 2)
>>> bi = rl.layers.Bidirectional(rl.layers.LSTM(4, return_sequences=True))
>>> bi(rl.ones((3, 5, 2))).shape, bi.forward_layer.name[:12], bi.backward_layer.go_backwards
((3, 5, 8), 'forward_lstm', True)
"""

from __future__ import annotations

import inspect

from .. import ops
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from .layer import Layer

__all__ = ["Wrapper", "TimeDistributed", "Bidirectional"]


def _serialize_layer(layer) -> dict:
    from ..models import serialize_layer

    return serialize_layer(layer)


def _deserialize_layer(config, custom_objects=None):
    from ..models import deserialize_layer

    return config if isinstance(config, Layer) else deserialize_layer(config, custom_objects)


def _takes(layer, argument: str) -> bool:
    return argument in inspect.signature(layer.call).parameters


class Wrapper(Layer):
    """Base class of the layers that wrap another layer (``self.layer``)."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ArgumentTypeError(
                f"{type(self).__name__}: received layer={layer!r}, expected a Layer instance"
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": _serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config["layer"] = _deserialize_layer(config["layer"], custom_objects)
        return cls(**config)


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every temporal slice ``inputs[:, t]`` of ``(batch, time, ...)``
    inputs, with the same weights.

    The slices run as one call on ``(batch * time, ...)`` (one GEMM for a Dense, rather
    than one per step); this equals Keras 3's per-step loop for every layer that treats
    the samples of a batch independently (not BatchNormalization while training, whose
    statistics then cover all the steps). A ``(batch, time, ...)`` mask is passed on to
    layers that take one.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.supports_masking = True

    def _child_shape(self, input_shape) -> tuple:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ShapeError(
                f"TimeDistributed: expected an input of rank >= 3 (batch, time, ...), got "
                f"shape {input_shape}"
            )
        batch, steps = input_shape[0], input_shape[1]
        merged = None if batch is None or steps is None else batch * steps
        return (merged, *input_shape[2:])

    def build(self, input_shape) -> None:
        super().build(self._child_shape(tuple(input_shape)))

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *tuple(input_shape)[2:]))
        return (input_shape[0], input_shape[1], *tuple(inner)[1:])

    def call(self, inputs, training=None, mask=None):
        shape = tuple(inputs.shape)
        self._child_shape(shape)
        if None in shape[2:] or shape[1] is None:
            raise ShapeError(
                f"TimeDistributed: the time and feature sizes must be known, got shape {shape}"
            )
        if mask is not None and tuple(mask.shape[:2]) != shape[:2]:
            raise ShapeError(
                f"TimeDistributed: expected a mask of shape {shape[:2]} + (...), got "
                f"{tuple(mask.shape)}"
            )
        kwargs = {}
        if _takes(self.layer, "training"):
            kwargs["training"] = training
        if mask is not None and _takes(self.layer, "mask"):
            kwargs["mask"] = ops.reshape(mask, (-1, *tuple(mask.shape)[2:]))
        merged = ops.reshape(inputs, (-1, *shape[2:]))
        outputs = self.layer(merged, **kwargs)
        return ops.reshape(outputs, (-1, shape[1], *tuple(outputs.shape)[1:]))


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs an RNN layer forwards and a copy of it backwards over the sequence, and merges
    their outputs (``merge_mode``: "concat", "sum", "mul", "ave", or None for a pair).

    The forward layer is rebuilt from ``layer``'s config (named ``forward_<name>``), the
    backward one likewise with ``go_backwards=True`` unless ``backward_layer`` is given.
    The backward outputs are flipped back to the input's time order. With
    ``return_sequences`` the masked steps output zeros, as in Keras. An ``initial_state``
    list is split in halves: forward states, then backward states.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):
            raise ArgumentTypeError(
                f"Bidirectional: received layer={layer!r}, expected a Layer instance"
            )
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ArgumentTypeError(
                f"Bidirectional: received backward_layer={backward_layer!r}, expected a Layer"
            )
        if merge_mode not in _MERGE_MODES:
            raise ArgumentError(
                f"Bidirectional: received merge_mode={merge_mode!r}, expected one of "
                "'concat', 'sum', 'mul', 'ave' or None"
            )
        super().__init__(**kwargs)
        self.forward_layer = _copy(layer, "forward_")
        self.backward_layer = (
            _copy(layer, "backward_", go_backwards=True)
            if backward_layer is None
            else backward_layer
        )
        self._verify()
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self._initial_weights = None if not weights else list(weights)
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True

    def _verify(self) -> None:
        f, b = self.forward_layer, self.backward_layer
        if f.go_backwards == b.go_backwards:
            raise ArgumentError(
                "Bidirectional: the forward and backward layers need different go_backwards, "
                f"got {f.go_backwards} for both"
            )
        for name in ("stateful", "return_sequences", "return_state"):
            if getattr(f, name) != getattr(b, name):
                raise ArgumentError(
                    f"Bidirectional: the forward and backward layers need the same {name}, got "
                    f"{getattr(f, name)} and {getattr(b, name)}"
                )

    def build(self, sequences_shape, initial_state_shape=None) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(sequences_shape)
                sub.built = True
        if self._initial_weights is not None:
            half = len(self._initial_weights) // 2
            self.forward_layer.set_weights(self._initial_weights[:half])
            self.backward_layer.set_weights(self._initial_weights[half:])
            self._initial_weights = None
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        kwargs = {"mask": mask, "training": training}
        y = self.forward_layer(sequences, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **kwargs)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        output = _merge(self.merge_mode, y, y_rev)
        if self.return_state:
            return (*output, *states) if self.merge_mode is None else (output, *states)
        return output

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = self.forward_layer.compute_output_shape(sequences_shape)
        states = ()
        if self.return_state:
            shape, states = shape[0], tuple(shape[1:])
        shape = tuple(shape)
        if self.merge_mode == "concat":
            shape = (*shape[:-1], None if shape[-1] is None else shape[-1] * 2)
        outputs = (shape, shape) if self.merge_mode is None else (shape,)
        if self.return_state:
            return (*outputs, *states, *states)
        return outputs if self.merge_mode is None else shape

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n_states = len(self.forward_layer.state_size) * 2
            return masks + [None] * n_states
        return masks if self.merge_mode is None else output_mask

    @property
    def states(self):
        f, b = self.forward_layer.states, self.backward_layer.states
        return tuple(f + b) if f and b else None

    def reset_state(self) -> None:
        if not self.stateful:
            raise ArgumentError("Bidirectional: reset_state() needs a stateful layer")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": _serialize_layer(self.forward_layer),
            "backward_layer": _serialize_layer(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config["layer"] = _deserialize_layer(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = _deserialize_layer(config["backward_layer"], custom_objects)
        return cls(**config)


def _copy(layer, prefix: str, **changes):
    """A fresh layer of ``layer``'s class and config, renamed ``prefix + name``."""
    config = {**layer.get_config(), **changes}
    name = config.get("name", layer.name)
    for known in ("forward_", "backward_"):
        name = name.removeprefix(known)
    config["name"] = prefix + name
    return type(layer).from_config(config)


def _merge(mode, y, y_rev):
    if mode == "concat":
        return ops.concat([y, y_rev], axis=-1)
    if mode == "sum":
        return y + y_rev
    if mode == "ave":
        return (y + y_rev) * 0.5
    if mode == "mul":
        return y * y_rev
    return (y, y_rev)
