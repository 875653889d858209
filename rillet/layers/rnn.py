"""Recurrent layers with the arguments and defaults of Keras 3: the generic ``RNN(cell)`` loop
over the cells of ``rnn_cells.py``, and SimpleRNN, LSTM and GRU, which run the whole sequence
in one fused kernel (``rillet.ops.rnn``).

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

from .. import activations, ops, regularizers
from ..errors import ArgumentError, ShapeError
from ..graph.trace import init_scope
from ..ops.rnn import FUSED_ACTIVATIONS, gru_sequence, lstm_sequence, simple_rnn_sequence
from ..variable import Variable
from ._args import record_activity_loss, set_activity_regularizer
from .layer import Layer
from .rnn_cells import (
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedRNNCells,
    _deserialize_layer,
    _DropoutCell,
    _serialize_layer,
    _state_sizes,
)

__all__ = [
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "SimpleRNN", "LSTM",
    "GRU",
]  # fmt: skip


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
