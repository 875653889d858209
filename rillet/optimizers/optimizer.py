"""The optimizer base class: learning rate, gradient clipping, weight decay, slot variables.

Keras 3's lifecycle: an optimizer builds its slot variables lazily, on the first
``apply(grads, trainable_variables)``, for the variables it is given, and afterwards only
accepts those. Every update is a rillet op and a ``variable.assign*`` call with no Python
branching on tensor values, so a whole training step traces into one graph under
``rl.function`` (the assignments become ``assign_variable`` nodes).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np

from .. import dtypes as _dtypes
from .. import ops
from ..errors import ArgumentError, ArgumentTypeError
from ..tensor import Tensor
from ..variable import Variable
from . import schedules as _schedules


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_number(owner: str, name: str, value, low=None, high=None, allow_none=False):
    """``value`` as a Python float, or an ``ArgumentError`` naming ``owner`` and the value.

    ``low``/``high`` are inclusive bounds (either may be None).
    """
    if value is None and allow_none:
        return None
    if not _is_number(value) or not math.isfinite(float(value)):
        raise ArgumentError(f"{owner}: received {name}={value!r}, expected a finite number")
    value = float(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ArgumentError(f"{owner}: received {name}={value!r}, expected a value in {bounds}")
    return value


_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def cast_to(value, dtype):
    """``value`` (a tensor, variable or number) as a tensor of ``dtype``; no op when it
    already has that dtype."""
    if getattr(value, "dtype", None) == dtype:
        return value
    if not hasattr(value, "dtype"):
        return Tensor._wrap(np.asarray(value, dtype))
    return ops.cast(value, dtype=dtype)


def _is_variable(value) -> bool:
    return isinstance(value, Variable) or hasattr(value, "_rillet_read")


class Optimizer:
    """Base class of the optimizers (Keras 3's ``keras.optimizers.Optimizer``).

    Subclasses create their slot variables in ``build(variables)`` (calling
    ``super().build(variables)`` first) and implement ``update_step(gradient, variable,
    learning_rate)`` with rillet ops and ``variable.assign*``.

    >>> import rillet as rl
    >>> from rillet import optimizers
    >>> w = rl.Variable([1.0, 2.0])
    >>> opt = optimizers.SGD(learning_rate=0.5)
    >>> opt.apply([rl.asarray([1.0, -1.0])], [w])
    >>> w.numpy().tolist(), int(opt.iterations)
    ([0.5, 2.5], 1)
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name: str | None = None,
        **kwargs,
    ):
        owner = type(self).__name__
        self._reject_kwargs(owner, kwargs)
        self.name = name or _snake(owner)
        self.weight_decay = check_number(owner, "weight_decay", weight_decay, 0.0, None, True)
        self.clipnorm = check_number(owner, "clipnorm", clipnorm, 0.0, None, True)
        self.clipvalue = check_number(owner, "clipvalue", clipvalue, 0.0, None, True)
        self.global_clipnorm = check_number(
            owner, "global_clipnorm", global_clipnorm, 0.0, None, True
        )
        clips = (clipnorm, clipvalue, global_clipnorm)
        if sum(c is not None for c in clips) > 1:
            raise ArgumentError(
                f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        self.use_ema = bool(use_ema)
        self.ema_momentum = check_number(owner, "ema_momentum", ema_momentum, 0.0, 1.0)
        if ema_overwrite_frequency is not None and (
            not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1
        ):
            raise ArgumentError(
                f"{owner}: received ema_overwrite_frequency={ema_overwrite_frequency!r}, "
                "expected None or a positive integer"
            )
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = check_number(
            owner, "loss_scale_factor", loss_scale_factor, None, None, True
        )
        if gradient_accumulation_steps is not None:
            raise ArgumentError(
                f"{owner}: received gradient_accumulation_steps={gradient_accumulation_steps!r};"
                " gradient accumulation is not supported yet (accumulate in the train step)"
            )
        self.gradient_accumulation_steps = None
        self.built = False
        self._variables: list[Variable] = []
        self._trainable_variables: list[Variable] = []
        self._index: dict[int, int] = {}
        self._exclude_ids: set[int] = set()
        self._exclude_names: list[str] = []
        self._iterations = self._track(
            Variable(np.zeros((), np.int64), trainable=False, name=f"{self.name}/iteration")
        )
        self._learning_rate = self._make_learning_rate(learning_rate)

    @staticmethod
    def _reject_kwargs(owner: str, kwargs: dict) -> None:
        if "lr" in kwargs:
            raise ArgumentError(f"{owner}: argument lr is no longer supported; use learning_rate")
        if "decay" in kwargs:
            raise ArgumentError(
                f"{owner}: argument decay is no longer supported; use a learning rate schedule "
                "(rl.optimizers.schedules)"
            )
        if kwargs:
            raise ArgumentTypeError(f"{owner}: argument(s) not recognized: {kwargs}")

    def _make_learning_rate(self, learning_rate):
        if isinstance(learning_rate, _schedules.LearningRateSchedule) or (
            callable(learning_rate) and not _is_variable(learning_rate)
        ):
            return learning_rate
        if isinstance(learning_rate, (Tensor, Variable)) and learning_rate.ndim == 0:
            learning_rate = float(learning_rate)
        value = check_number(type(self).__name__, "learning_rate", learning_rate, 0.0)
        variable = Variable(
            np.asarray(value, _dtypes.float32), trainable=False, name=f"{self.name}/learning_rate"
        )
        return self._track(variable)

    def _track(self, variable: Variable) -> Variable:
        self._variables.append(variable)
        return variable

    # -- state ----------------------------------------------------------------------------

    @property
    def iterations(self) -> Variable:
        """The number of steps applied so far (an int64 variable)."""
        return self._iterations

    @property
    def variables(self) -> list[Variable]:
        """``iterations``, the learning rate (unless a schedule), then the slot variables."""
        return list(self._variables)

    @property
    def learning_rate(self):
        """The current learning rate: the variable itself for a constant rate (settable,
        also from inside compiled steps), the schedule's value at ``iterations`` otherwise."""
        return self._current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, _schedules.LearningRateSchedule) or (
            callable(value) and not _is_variable(value)
        ):
            if _is_variable(self._learning_rate):
                self._variables = [v for v in self._variables if v is not self._learning_rate]
            self._learning_rate = value
            return
        if not _is_variable(self._learning_rate):
            raise ArgumentTypeError(
                f"{type(self).__name__}: this optimizer was created with a learning rate "
                "schedule, so its learning rate is not settable; create it with a float "
                "learning_rate to set it"
            )
        if isinstance(value, (Tensor, Variable)):
            self._learning_rate.assign(ops.cast(value, dtype=self._learning_rate.dtype))
            return
        value = check_number(type(self).__name__, "learning_rate", value, 0.0)
        self._learning_rate.assign(np.asarray(value, self._learning_rate.dtype))

    def _current_learning_rate(self):
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            return self._learning_rate(self._iterations)
        if callable(self._learning_rate) and not _is_variable(self._learning_rate):
            return self._learning_rate()
        return self._learning_rate

    def add_variable(
        self, shape, initializer="zeros", dtype=None, aggregation="none", name=None
    ) -> Variable:
        """Create and track an optimizer variable (Keras's ``Optimizer.add_variable``)."""
        shape = tuple(int(s) for s in shape)
        dtype = _dtypes.float32 if dtype is None else _dtypes.as_dtype(dtype)
        value = _initial_value(initializer, shape, dtype, type(self).__name__)
        # A fresh array: the variable takes it over, no copy.
        name = f"{self.name}/{name or 'variable'}"
        return self._track(Variable(Tensor._wrap(value), trainable=False, name=name))

    def add_variable_from_reference(
        self, reference_variable, name: str | None = None, initializer="zeros"
    ) -> Variable:
        """A slot variable shaped and typed like ``reference_variable``."""
        base = reference_variable.name.replace("/", "_")
        return self.add_variable(
            reference_variable.shape,
            initializer=initializer,
            dtype=reference_variable.dtype,
            name=f"{base}_{name}" if name else base,
        )

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One slot per variable for each name in ``name`` (a string or a list), interleaved
        variable by variable as Keras orders them; a list per name (a tuple for a list)."""
        names = [name] if isinstance(name, str) else list(name)
        inits = (
            initializer if isinstance(initializer, (list, tuple)) else [initializer] * len(names)
        )
        slots: tuple[list, ...] = tuple([] for _ in names)
        for variable in trainable_variables:
            for i, (slot_name, init) in enumerate(zip(names, inits)):
                slots[i].append(self.add_variable_from_reference(variable, slot_name, init))
        return slots[0] if isinstance(name, str) else slots

    def build(self, variables) -> None:
        """Create the slot variables for ``variables`` (subclasses extend this)."""
        variables = list(variables)
        for v in variables:
            if not _is_variable(v):
                raise ArgumentTypeError(
                    f"{type(self).__name__}: can only optimize rl.Variable objects, "
                    f"received {type(v).__name__}"
                )
        if self.use_ema:
            self._averages = self.add_optimizer_variables(variables, "average")
        self._trainable_variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        self.built = True

    def _slot(self, slots: list, variable):
        return slots[self._index[id(variable)]]

    # -- applying gradients ---------------------------------------------------------------

    def apply_gradients(self, grads_and_vars):
        """Apply ``(gradient, variable)`` pairs; returns ``iterations``."""
        pairs = list(grads_and_vars)
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        self.apply(grads, variables)
        return self._iterations

    def apply(self, grads, trainable_variables=None) -> None:
        """Update ``trainable_variables`` (the built variables when None) with ``grads``.

        None gradients are skipped; variable constraints run after the update.
        """
        grads = list(grads)
        if trainable_variables is None:
            if not self.built:
                raise ArgumentError(
                    f"{type(self).__name__}: apply() without trainable_variables needs a "
                    "built optimizer; call build(variables) first"
                )
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ArgumentError(
                f"{type(self).__name__}: received {len(grads)} gradients for "
                f"{len(trainable_variables)} variables"
            )
        if not self.built:
            self.build(trainable_variables)
        self._check_known(trainable_variables)
        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        if not pairs:
            return
        grads = [cast_to(g, v.dtype) for g, v in pairs]
        variables = [v for _, v in pairs]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        self._apply_gradients(grads, variables)
        for variable in variables:
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                variable.assign(constraint(variable))

    def _check_known(self, variables) -> None:
        for v in variables:
            if id(v) not in self._index:
                raise ArgumentError(
                    f"{type(self).__name__}: unknown variable '{getattr(v, 'name', v)}': this "
                    "optimizer can only update the variables it was built with; create a new "
                    "optimizer for a new set of variables"
                )

    def _apply_gradients(self, grads: list, variables: list) -> None:
        grads = self._clip_gradients(grads)
        learning_rate = self.learning_rate
        self._apply_weight_decay(variables, learning_rate)
        self._update_step(grads, variables, learning_rate)
        if self.use_ema:
            self._update_averages()
        self._iterations.assign_add(np.int64(1))

    def _update_step(self, grads: list, variables: list, learning_rate) -> None:
        for grad, variable in zip(grads, variables):
            self.update_step(grad, variable, learning_rate)

    def update_step(self, gradient, variable, learning_rate) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_step()")

    def _fusable(self, owner: type, gradient, variable, *slots) -> bool:
        """Whether ``owner``'s fused update (one op writing the variable and its slots in
        place) may replace its op-by-op one: ``owner.update_step`` runs unchanged, on
        float32/float64 rl.Variables and a gradient of their dtype."""
        if type(self).update_step is not owner.update_step:
            return False
        if not all(type(x) is Variable for x in (variable, *slots)):
            return False
        return variable.dtype in _FUSED_DTYPES and gradient.dtype == variable.dtype

    # -- clipping and weight decay --------------------------------------------------------

    def _clip_gradients(self, grads: list) -> list:
        if self.clipnorm:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue:
            return [ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Exempt these variables (or those whose name contains one of ``var_names``)."""
        if self.built:
            raise ArgumentError(
                f"{type(self).__name__}: exclude_from_weight_decay() must be called before "
                "the optimizer is built"
            )
        self._exclude_ids |= {id(v) for v in var_list or []}
        self._exclude_names += list(var_names or [])

    def _use_weight_decay(self, variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        return not any(re.search(name, variable.name) for name in self._exclude_names)

    def _apply_weight_decay(self, variables: list, learning_rate) -> None:
        """Decoupled weight decay: ``variable -= variable * weight_decay * learning_rate``."""
        if not self.weight_decay:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                lr = cast_to(learning_rate, variable.dtype)
                variable.assign_sub(variable * (lr * self.weight_decay))

    # -- exponential moving average of the weights ----------------------------------------

    def _update_averages(self) -> None:
        # The first step copies the weights (momentum 0), later steps average them.
        started = ops.not_equal(self._iterations, 0)
        for variable, average in zip(self._trainable_variables, self._averages):
            momentum = ops.cast(started, dtype=variable.dtype) * self.ema_momentum
            average.assign(momentum * average + (1.0 - momentum) * variable)
        if self.ema_overwrite_frequency:
            due = ops.equal(ops.remainder(self._iterations + 1, self.ema_overwrite_frequency), 0)
            for variable, average in zip(self._trainable_variables, self._averages):
                variable.assign(ops.where(due, average, variable))

    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``, set the variables to their moving averages (end of ``fit``)."""
        if self.use_ema and self.built:
            for variable in var_list:
                variable.assign(self._slot(self._averages, variable))

    # -- saving ---------------------------------------------------------------------------

    def save_own_variables(self, store) -> None:
        """Write ``variables`` into the dict-like ``store`` under keys "0", "1", ..."""
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store) -> None:
        """Restore ``variables`` from ``store`` (as written by ``save_own_variables``)."""
        if len(store.keys()) != len(self._variables):
            message = (
                f"Skipping variable loading for optimizer '{self.name}', because it has "
                f"{len(self._variables)} variables whereas the saved optimizer has "
                f"{len(store.keys())} variables."
            )
            if not self.built:
                message += " This is likely because the optimizer has not been built yet."
            warnings.warn(message, stacklevel=2)
            return
        for i, variable in enumerate(self._variables):
            variable.assign(np.asarray(store[str(i)]).astype(variable.dtype))

    def get_config(self) -> dict:
        rate = self._learning_rate
        if isinstance(rate, _schedules.LearningRateSchedule):
            rate = _schedules.serialize(rate)
        elif _is_variable(rate):
            rate = float(rate.numpy())
        return {
            "name": self.name,
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# -- helpers ------------------------------------------------------------------------------


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _initial_value(initializer, shape: tuple, dtype, owner: str) -> np.ndarray:
    if isinstance(initializer, str):
        if initializer == "zeros":
            return np.zeros(shape, dtype)
        if initializer == "ones":
            return np.ones(shape, dtype)
        raise ArgumentError(
            f"{owner}: received initializer={initializer!r}, expected 'zeros', 'ones', a "
            "number or a callable(shape, dtype)"
        )
    if _is_number(initializer):
        return np.full(shape, initializer, dtype)
    if callable(initializer):
        return np.asarray(initializer(shape, dtype=dtype)).astype(dtype)
    raise ArgumentError(f"{owner}: received initializer={initializer!r}")


def clip_by_norm(gradient, clipnorm: float):
    """``gradient`` scaled so its L2 norm is at most ``clipnorm`` (Keras's formula)."""
    squares = ops.sum(ops.square(gradient))
    positive = squares > 0
    # sqrt of a zero sum has an infinite gradient: take it of 1 there, and keep the 0.
    norm = ops.where(positive, ops.sqrt(ops.where(positive, squares, 1.0)), squares)
    return gradient * clipnorm / ops.maximum(norm, clipnorm)


def global_norm(tensors: list):
    """The L2 norm of all ``tensors`` taken together, in their widest dtype (at least
    float32, so half-precision squares cannot overflow)."""
    dtype = _dtypes.result_type(_dtypes.float32, *[t.dtype for t in tensors])
    sums = [ops.sum(ops.square(ops.cast(t, dtype=dtype))) for t in tensors]
    total = sums[0]
    for s in sums[1:]:
        total = total + s
    return ops.sqrt(total)


def clip_by_global_norm(tensors: list, clip_norm: float) -> list:
    """``tensors`` scaled together so their global norm is at most ``clip_norm``.

    A non-finite norm makes every value NaN (as Keras and TensorFlow do).
    """
    norm = global_norm(tensors)
    scale = clip_norm * ops.minimum(1.0 / norm, 1.0 / clip_norm)
    scale = scale + (norm - norm)  # NaN when the norm is Inf or NaN
    return [t * ops.cast(scale, dtype=t.dtype) for t in tensors]
