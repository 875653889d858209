"""The recurrent cells of Keras 3 (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells) and the
dropout masks they share; ``rillet.layers.rnn`` runs them over sequences."""

from __future__ import annotations

from .. import activations, constraints, initializers, ops, regularizers
from ..errors import ArgumentError
from ._args import positive_int, seed_arg
from .layer import Layer

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]


def _rate(who: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError(f"{who}: received {name}={value!r}, expected a float in [0, 1]")
    return min(1.0, max(0.0, float(value)))  # clipped, as Keras does


def _serialize_layer(layer) -> dict:
    from ..models import serialize_layer

    return serialize_layer(layer)


def _deserialize_layer(config, custom_objects=None):
    from ..models import deserialize_layer

    return config if isinstance(config, Layer) else deserialize_layer(config, custom_objects)


# --- cells -------------------------------------------------------------------------------------

_WEIGHT_MODULES = {
    "initializer": initializers,
    "regularizer": regularizers,
    "constraint": constraints,
}


class _DropoutCell(Layer):
    """A cell's weights and its dropout masks: one mask (or one per gate) drawn per sequence
    and reused at every step, as Keras's ``DropoutRNNCell``."""

    _mask_count: int | None = None  # masks per dropout (Keras's implementation=1: one per gate)

    def _setup(self, who, units, use_bias, dropout, recurrent_dropout, seed, **weights):
        """Check and keep the arguments every cell takes; ``weights`` are the
        ``<kernel|recurrent|bias>_<initializer|regularizer|constraint>`` arguments."""
        self.units = positive_int(who, "units", units)
        self.use_bias = bool(use_bias)
        self.dropout = _rate(who, "dropout", dropout)
        self.recurrent_dropout = _rate(who, "recurrent_dropout", recurrent_dropout)
        self.seed = seed_arg(who, seed)
        for key, value in weights.items():
            setattr(self, key, _WEIGHT_MODULES[key.rsplit("_", 1)[1]].get(value))
        self._dropout_mask = self._recurrent_dropout_mask = None

    def _weights_config(self) -> dict:
        return {
            f"{prefix}_{kind}": module.serialize(getattr(self, f"{prefix}_{kind}"))
            for prefix in ("kernel", "recurrent", "bias")
            for kind, module in _WEIGHT_MODULES.items()
        }

    def _make_weights(self, input_dim: int, gates: int, bias_shape, bias_initializer=None):
        def weight(name, shape, prefix, initializer=None):
            return self.add_weight(
                shape=shape,
                initializer=initializer or getattr(self, f"{prefix}_initializer"),
                regularizer=getattr(self, f"{prefix}_regularizer"),
                constraint=getattr(self, f"{prefix}_constraint"),
                name=name,
            )

        self.kernel = weight("kernel", (input_dim, gates * self.units), "kernel")
        self.recurrent_kernel = weight(
            "recurrent_kernel", (self.units, gates * self.units), "recurrent"
        )
        self.bias = weight("bias", bias_shape, "bias", bias_initializer) if self.use_bias else None

    def _draw(self, like, rate: float):
        ones = ops.ones_like(like)
        if self._mask_count is None:
            return ops.dropout(ones, rate, seed=self.seed)
        return [ops.dropout(ones, rate, seed=self.seed) for _ in range(self._mask_count)]

    def reset_dropout_mask(self) -> None:
        """Forget the masks: the next call draws new ones (the RNN layer calls this before
        and after each sequence, so one sequence shares its masks)."""
        self._dropout_mask = self._recurrent_dropout_mask = None

    reset_recurrent_dropout_mask = reset_dropout_mask

    def get_dropout_mask(self, step_input):
        if self._dropout_mask is None and self.dropout > 0:
            self._dropout_mask = self._draw(step_input, self.dropout)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, state):
        if self._recurrent_dropout_mask is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._draw(state, self.recurrent_dropout)
        return self._recurrent_dropout_mask

    def _masked(self, training, inputs, h):
        """The step input and previous output with their dropout masks (each a tensor, or a
        list of one per gate) applied while training."""
        drop = training and 0.0 < self.dropout < 1.0
        rec = training and 0.0 < self.recurrent_dropout < 1.0
        dp = self.get_dropout_mask(inputs) if drop else None
        rdp = self.get_recurrent_dropout_mask(h) if rec else None
        return _apply_masks(inputs, dp, self._mask_count), _apply_masks(h, rdp, self._mask_count)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, s), dtype=self.dtype) for s in sizes]

    def _base_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            **self._weights_config(),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


def _apply_masks(x, masks, count):
    """``x`` times each mask: a list of ``count`` tensors when ``count`` is set."""
    if count is None:
        return x if masks is None else x * masks
    return [x] * count if masks is None else [x * m for m in masks]


class SimpleRNNCell(_DropoutCell):
    """One step of a fully connected RNN: ``h' = activation(x @ kernel + h @ recurrent_kernel
    + bias)``; the output is ``h'``."""

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._setup(
            "SimpleRNNCell", units, use_bias, dropout, recurrent_dropout, seed,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )  # fmt: skip
        self.activation = activations.get(activation)
        self.state_size = self.output_size = self.units

    def build(self, input_shape) -> None:
        self._make_weights(input_shape[-1], 1, (self.units,))
        self.built = True

    def call(self, sequence, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        x, prev = self._masked(training, sequence, prev)
        h = ops.matmul(x, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        output = self.activation(h + ops.matmul(prev, self.recurrent_kernel))
        return output, [output] if isinstance(states, (list, tuple)) else output

    def get_config(self) -> dict:
        return {**self._base_config(), "activation": activations.serialize(self.activation)}


class LSTMCell(_DropoutCell):
    """One LSTM step (Hochreiter 1997), gates ``i, f, c, o`` side by side in the kernels as
    Keras 3; ``unit_forget_bias`` starts the forget gate's bias at 1."""

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        self._setup(
            "LSTMCell", units, use_bias, dropout, recurrent_dropout, seed,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )  # fmt: skip
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = 1 if self.recurrent_dropout else implementation
        self._mask_count = 4 if self.implementation == 1 else None
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def _forget_bias_initializer(self, shape, dtype=None):
        u, init = self.units, self.bias_initializer
        ones = initializers.get("ones")((u,), dtype=dtype)
        return ops.concat([init((u,), dtype=dtype), ones, init((2 * u,), dtype=dtype)], axis=0)

    def build(self, input_shape) -> None:
        init = self._forget_bias_initializer if self.unit_forget_bias else None
        self._make_weights(input_shape[-1], 4, (4 * self.units,), init)
        self.built = True

    def call(self, inputs, states, training=False):
        h, c = states
        x, h_in = self._masked(training, inputs, h)
        u, ract, act = self.units, self.recurrent_activation, self.activation
        if self.implementation == 1:  # a mask per gate: four products per kernel
            kernels = ops.split(self.kernel, 4, axis=1)
            recurrents = ops.split(self.recurrent_kernel, 4, axis=1)
            z = [ops.matmul(xi, k) + ops.matmul(hi, r)
                 for xi, k, hi, r in zip(x, kernels, h_in, recurrents)]  # fmt: skip
            if self.bias is not None:
                z = [zi + b for zi, b in zip(z, ops.split(self.bias, 4, axis=0))]
        else:
            z = ops.matmul(x, self.kernel) + ops.matmul(h_in, self.recurrent_kernel)
            if self.bias is not None:
                z = z + self.bias
            z = [z[:, k * u : (k + 1) * u] for k in range(4)]
        i, f, o = ract(z[0]), ract(z[1]), ract(z[3])
        c = f * c + i * act(z[2])
        h = o * act(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {
            **self._base_config(),
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
            "implementation": self.implementation,
        }


class GRUCell(_DropoutCell):
    """One GRU step (Cho 2014), gates ``z, r, h`` as Keras 3. ``reset_after=True`` (the
    default, cuDNN's convention) applies the reset gate after the recurrent product and has
    two bias rows ``(2, 3 * units)``: input and recurrent."""

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        reset_after=True,
        seed=None,
        **kwargs,
    ):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        self._setup(
            "GRUCell", units, use_bias, dropout, recurrent_dropout, seed,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )  # fmt: skip
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.implementation = 1 if self.recurrent_dropout else implementation
        self._mask_count = 3 if self.implementation == 1 else None
        self.state_size = self.output_size = self.units

    def build(self, input_shape) -> None:
        u = self.units
        self._make_weights(input_shape[-1], 3, (2, 3 * u) if self.reset_after else (3 * u,))
        self.built = True

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x, h_in = self._masked(training, inputs, h)
        if self._mask_count is None:
            x, h_in = [x] * 3, [h_in] * 3
        u, ract = self.units, self.recurrent_activation
        kernels = [self.kernel[:, k * u : (k + 1) * u] for k in range(3)]
        recurrents = [self.recurrent_kernel[:, k * u : (k + 1) * u] for k in range(3)]
        b_in, b_rec = self._biases()
        xz = [ops.matmul(xi, k) + b for xi, k, b in zip(x, kernels, b_in)]
        if self.reset_after:
            inner = [ops.matmul(hi, r) + b for hi, r, b in zip(h_in, recurrents, b_rec)]
            z, r = ract(xz[0] + inner[0]), ract(xz[1] + inner[1])
            hh = self.activation(xz[2] + r * inner[2])
        else:
            z = ract(xz[0] + ops.matmul(h_in[0], recurrents[0]))
            r = ract(xz[1] + ops.matmul(h_in[1], recurrents[1]))
            hh = self.activation(xz[2] + ops.matmul(r * h_in[2], recurrents[2]))
        h = z * h + (1.0 - z) * hh
        return h, [h] if isinstance(states, (list, tuple)) else h

    def _biases(self):
        u, zero = self.units, [0.0] * 3
        if self.bias is None:
            return zero, zero
        rows = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        split = [None if row is None else [row[k * u : (k + 1) * u] for k in range(3)]
                 for row in rows]  # fmt: skip
        return split[0], split[1] or zero

    def get_config(self) -> dict:
        return {
            **self._base_config(),
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
            "implementation": self.implementation,
        }


class StackedRNNCells(Layer):
    """Cells run one after the other at each step, as one cell. Unlike Keras its states are
    one flat list (the cells' states in order)."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ArgumentError(f"StackedRNNCells: received cells={cells!r}, expected a list")
        self.cells = list(cells)
        self.state_size = [s for cell in self.cells for s in _state_sizes(cell)]
        self.output_size = getattr(self.cells[-1], "output_size", _state_sizes(self.cells[-1])[0])

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        for cell in self.cells:
            if not cell.built:
                cell.build(shape)
                cell.built = True
            shape = (*shape[:-1], getattr(cell, "output_size", _state_sizes(cell)[0]))
        self.built = True

    def call(self, inputs, states, training=False):
        new_states, start = [], 0
        for cell in self.cells:
            count = len(_state_sizes(cell))
            inputs, cell_states = cell(inputs, states[start : start + count], training=training)
            new_states += list(cell_states)
            start += count
        return inputs, new_states

    def get_config(self) -> dict:
        return {**super().get_config(), "cells": [_serialize_layer(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config["cells"] = [_deserialize_layer(c, custom_objects) for c in config["cells"]]
        return cls(**config)


def _state_sizes(cell) -> list:
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


# --- the RNN layer -----------------------------------------------------------------------------
