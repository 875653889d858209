"""Recurrent layers with the arguments and defaults of Keras 3: the cells SimpleRNNCell,
LSTMCell and GRUCell, StackedRNNCells, the generic ``RNN(cell)`` loop, and SimpleRNN, LSTM
and GRU, which run the whole sequence in one fused kernel (``rillet.ops.rnn``).

>>> import rillet as rl
>>> import rillet.layers
>>> lstm = rl.layers.LSTM(4, return_sequences=True, return_state=True)
>>> outputs, h, c = lstm(rl.ones((2, 5, 3)))
>>> outputs.shape, h.shape, [w.shape for w in lstm.weights]
((2, 5, 4), (2, 4), [(3, 16), (4, 16), (16,)])

The fused kernel serves every activation in ``rillet.ops.rnn.FUSED_ACTIVATIONS`` (tanh,
sigmoid, hard_sigmoid, relu, linear, softsign), input ``dropout`` (one mask per sequence,
as Keras), masks and ``go_backwards``. Other activations, and ``recurrent_dropout`` while
training (which drops different units for each gate, Keras's ``implementation=1``), run the
cell step by step: a Python loop of ops (3x slower eagerly for an LSTM of 128 units over
50 steps, forward and backward; see ``rillet/ops/rnn.py``), which needs the number of steps
to be known when the layer is traced. ``unroll`` is accepted and ignored.
"""

from __future__ import annotations

from .. import activations, constraints, initializers, ops, regularizers
from ..errors import ArgumentError, ShapeError
from ..graph.trace import init_scope
from ..ops.rnn import FUSED_ACTIVATIONS, gru_sequence, lstm_sequence, simple_rnn_sequence
from ..variable import Variable
from ._args import positive_int, record_activity_loss, seed_arg, set_activity_regularizer
from .layer import Layer

__all__ = [
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "SimpleRNN", "LSTM",
    "GRU",
]  # fmt: skip


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


class RNN(Layer):
    """Runs ``cell`` over the steps of ``(batch, steps, features)`` inputs (a Python loop of
    ops, one cell call per step; the steps must be known when traced).

    The cell is a layer with ``call(inputs, states) -> (output, new_states)`` and a
    ``state_size`` (a list for several states); a list of cells is stacked. Masked steps
    keep the states and repeat the previous output (zeros with ``zero_output_for_mask``).
    With ``stateful=True`` the last states of a batch are the initial states of the next
    (kept in variables outside ``weights``; ``reset_states()`` zeroes them).
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        kwargs.pop("time_major", None)
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell, dtype=kwargs.get("dtype"))
        if not callable(getattr(cell, "call", None)) or not hasattr(cell, "state_size"):
            raise ArgumentError(
                f"RNN: received cell={cell!r}, expected a layer with call() and state_size"
            )
        set_activity_regularizer(self, activity_regularizer)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.states = None
        self.state_size = _state_sizes(cell)

    # -- shapes and building -----------------------------------------------------------

    def build(self, sequences_shape, initial_state_shape=None) -> None:
        if len(sequences_shape) < 3:
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': expected inputs of shape (batch, steps, "
                f"features), got {tuple(sequences_shape)}"
            )
        if not self.cell.built:
            self.cell.build((sequences_shape[0], *sequences_shape[2:]))
            self.cell.built = True
        if self.stateful:
            if sequences_shape[0] is None:
                raise ShapeError(
                    f"{type(self).__name__} '{self.name}': stateful=True needs a fixed batch "
                    f"size, got inputs of shape {tuple(sequences_shape)}"
                )
            with init_scope():  # created now, also while a function traces
                self.states = [
                    Variable(ops.zeros((sequences_shape[0], s), dtype=self.dtype),
                             trainable=False, name=f"{self.name}/rnn_state")
                    for s in self.state_size
                ]  # fmt: skip
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        size = getattr(self.cell, "output_size", self.state_size[0])
        output = (batch, steps, size) if self.return_sequences else (batch, size)
        if self.return_state:
            return (output, *[(batch, s) for s in self.state_size])
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    def get_initial_state(self, batch_size):
        if hasattr(self.cell, "get_initial_state"):
            states = self.cell.get_initial_state(batch_size=batch_size)
            return list(states) if isinstance(states, (list, tuple)) else [states]
        return [ops.zeros((batch_size, s), dtype=self.dtype) for s in self.state_size]

    def reset_state(self) -> None:
        """Zero the states of a stateful RNN."""
        for variable in self.states or []:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    reset_states = reset_state

    # -- the call ------------------------------------------------------------------------

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is not None and mask.dtype != bool:
            mask = ops.cast(mask, dtype=bool)
        states = self._initial_states(sequences, initial_state)
        last, outputs, states = self.inner_loop(sequences, states, mask, training)
        if self.stateful:
            for variable, state in zip(self.states, states):
                variable.assign(state)
        output = outputs if self.return_sequences else last
        record_activity_loss(self, output)
        return (output, *states) if self.return_state else output

    def _initial_states(self, sequences, initial_state) -> list:
        if initial_state is None:
            if self.stateful:
                return list(self.states)
            return [_zero_state(sequences, s, self.dtype) for s in self.state_size]
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
        if len(states) != len(self.state_size):
            raise ArgumentError(
                f"{type(self).__name__} '{self.name}': expected {len(self.state_size)} initial "
                f"state(s), got {len(states)}"
            )
        return [ops.cast(s, dtype=self.dtype) if s.dtype != self.dtype else s for s in states]

    def inner_loop(self, sequences, states, mask, training):
        """``(last output, all outputs, last states)``: the cell called at each step."""
        steps = sequences.shape[1]
        if steps is None:
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': the cell loop needs a known number of "
                f"steps, got inputs of shape {tuple(sequences.shape)}"
            )
        cell, kwargs = self.cell, {"training": training}
        self._reset_dropout(cell)  # the first step draws the masks of this sequence
        outputs, shown = [], None
        for t in reversed(range(steps)) if self.go_backwards else range(steps):
            output, new = cell(sequences[:, t], states, **kwargs)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if mask is not None:
                keep = mask[:, t : t + 1]
                new = [ops.where(keep, n, s) for n, s in zip(new, states)]
                if shown is None or self.zero_output_for_mask:
                    shown = ops.zeros_like(output)
                output = ops.where(keep, output, shown)
                shown = output
            outputs.append(output)
            states = new
        self._reset_dropout(cell)
        sequence = ops.stack(outputs, axis=1) if self.return_sequences else None
        return outputs[-1], sequence, states

    def _reset_dropout(self, cell) -> None:
        for c in cell.cells if isinstance(cell, StackedRNNCells) else [cell]:
            if isinstance(c, _DropoutCell):
                c.reset_dropout_mask()

    # -- configuration -------------------------------------------------------------------

    def _rnn_config(self) -> dict:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
        }

    def get_config(self) -> dict:
        return {**self._rnn_config(), "cell": _serialize_layer(self.cell)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        cell = _deserialize_layer(config.pop("cell"), custom_objects)
        return cls(cell, **config)


def _zero_state(sequences, size: int, dtype):
    """Zeros ``(batch, size)``, also when the batch size is unknown while tracing."""
    batch = sequences.shape[0]
    if batch is not None:
        return ops.zeros((batch, size), dtype=dtype)
    return ops.zeros_like(sequences[:, 0, :1]) + ops.zeros((size,), dtype=dtype)


# --- the fused layers --------------------------------------------------------------------------


def _fused_name(fn) -> str | None:
    """The fused kernel's name for an activation function, or None."""
    return next((n for n in FUSED_ACTIVATIONS if fn is activations.get(n)), None)


class _FusedRNN(RNN):
    """An RNN whose cell the fused kernels know: the whole sequence runs in one op (see the
    module docstring for when the cell loop runs instead)."""

    def _fused_activations(self) -> dict | None:
        names = {}
        for attr in ("activation", "recurrent_activation"):
            if hasattr(self.cell, attr):
                names[attr] = _fused_name(getattr(self.cell, attr))
                if names[attr] is None:
                    return None
        return names

    def inner_loop(self, sequences, states, mask, training):
        names = self._fused_activations()
        cell = self.cell
        per_gate = training and cell._mask_count is not None and cell.dropout > 0
        if names is None or (training and cell.recurrent_dropout > 0) or per_gate:
            return super().inner_loop(sequences, states, mask, training)
        if training and 0.0 < cell.dropout < 1.0:  # one input mask for every step, as Keras
            keep = cell._draw(sequences[:, 0], cell.dropout)
            sequences = sequences * ops.expand_dims(keep, 1)
        flags = {
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        outputs, *states = self._sequence(sequences, states, mask, names, flags)
        return outputs[:, -1], outputs, states

    def get_config(self) -> dict:
        """The cell's arguments and the RNN's, without the cell (as Keras)."""
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype", "implementation"):
            cell.pop(key, None)
        return {**self._rnn_config(), **cell}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config.pop("cell", None)
        return cls(**config)


def _cell_property(name: str) -> property:
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's ``{name}``.")


# The cell's arguments read as the layer's (``lstm.units``), as in Keras.
for _name in (
    "units", "activation", "recurrent_activation", "use_bias", "unit_forget_bias",
    "reset_after", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
):  # fmt: skip
    setattr(_FusedRNN, _name, _cell_property(_name))


def _cell_kwargs(kwargs: dict, name: str) -> dict:
    return {
        "dtype": kwargs.get("dtype"),
        "trainable": kwargs.get("trainable", True),
        "name": name,
        "implementation": kwargs.pop("implementation", 2),
    }


class SimpleRNN(_FusedRNN):
    """Fully connected RNN whose output is fed back as the next input state (Keras 3
    arguments; the whole sequence in one fused kernel)."""

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
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        seed=None,
        **kwargs,
    ):
        cell_kwargs = _cell_kwargs(kwargs, "simple_rnn_cell")
        cell_kwargs.pop("implementation")
        cell = SimpleRNNCell(
            units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, **cell_kwargs,
        )  # fmt: skip
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            activity_regularizer=activity_regularizer, **kwargs,
        )  # fmt: skip

    def _sequence(self, x, states, mask, names, flags):
        c = self.cell
        return simple_rnn_sequence(
            x, states[0], c.kernel, c.recurrent_kernel, c.bias, mask, **names, **flags
        )


class LSTM(_FusedRNN):
    """Long Short-Term Memory layer (Hochreiter 1997) with the Keras 3 arguments; the whole
    sequence runs in one fused kernel. Weights: ``kernel (features, 4 * units)``,
    ``recurrent_kernel (units, 4 * units)`` and ``bias (4 * units,)``, gates ``i, f, c, o``."""

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
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = LSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            unit_forget_bias=unit_forget_bias, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed,
            **_cell_kwargs(kwargs, "lstm_cell"),
        )  # fmt: skip
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            activity_regularizer=activity_regularizer, **kwargs,
        )  # fmt: skip
        self.use_cudnn = use_cudnn  # accepted for Keras scripts; there is no cuDNN here

    def _sequence(self, x, states, mask, names, flags):
        c = self.cell
        return lstm_sequence(
            x, states[0], states[1], c.kernel, c.recurrent_kernel, c.bias, mask, **names, **flags
        )


class GRU(_FusedRNN):
    """Gated Recurrent Unit (Cho 2014) with the Keras 3 arguments (``reset_after=True`` by
    default); the whole sequence runs in one fused kernel. Weights: ``kernel (features, 3 *
    units)``, ``recurrent_kernel (units, 3 * units)``, ``bias (2, 3 * units)`` (``(3 *
    units,)`` without reset_after), gates ``z, r, h``."""

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
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = GRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed, **_cell_kwargs(kwargs, "gru_cell"),
        )  # fmt: skip
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            activity_regularizer=activity_regularizer, **kwargs,
        )  # fmt: skip
        self.use_cudnn = use_cudnn

    def _sequence(self, x, states, mask, names, flags):
        c = self.cell
        return gru_sequence(
            x, states[0], c.kernel, c.recurrent_kernel, c.bias, mask, **names, **flags,
            reset_after=c.reset_after,
        )  # fmt: skip
