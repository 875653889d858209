"""Core layers: Dense, Activation, Identity, Flatten, Reshape, Permute, RepeatVector, Lambda,
Embedding and Masking, with the arguments and defaults of Keras 3 (Dropout and its kin are in
``regularization.py``).

>>> import rillet as rl
>>> import rillet.layers
>>> dense = rl.layers.Dense(4, activation="relu")
>>> dense(rl.ones((2, 3))).shape, [w.shape for w in dense.weights]
((2, 4), [(3, 4), (4,)])
>>> emb = rl.layers.Embedding(10, 2, mask_zero=True)
>>> emb.compute_mask(rl.asarray([[3, 0]])).tolist()
[[True, False]]
"""

from __future__ import annotations

import inspect
import math
import operator
import sys

from .. import activations, constraints, initializers, ops, regularizers
from .. import dtypes as _dtypes
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ._args import (
    autocast,
    check_rank,
    data_format_arg,
    positive_int,
    record_activity_loss,
    set_activity_regularizer,
)
from .layer import Layer

__all__ = [
    "Dense", "Activation", "Identity", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Lambda", "Embedding", "Masking",
]  # fmt: skip


# --- Dense and Activation --------------------------------------------------------------------


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` over the last axis of the input (any rank >= 2).

    The kernel has shape ``(input_dim, units)``; regularizers add to ``layer.losses`` and
    constraints are applied by the optimizer after each update.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        set_activity_regularizer(self, activity_regularizer)
        self.supports_masking = True
        self.kernel = self.bias = None

    def build(self, input_shape) -> None:
        check_rank("Dense", input_shape, min_rank=2)
        if input_shape[-1] is None:
            raise ShapeError(f"Dense: the last axis of the input must be known, got {input_shape}")
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                name="bias",
            )
        self.built = True

    def call(self, inputs, mask=None):
        x = autocast(inputs, self.dtype)
        depth = self.kernel.shape[0]
        if x.shape[-1] != depth:
            raise ShapeError(
                f"Dense '{self.name}': expected the last axis of the input to be {depth}, "
                f"got input shape {tuple(x.shape)}"
            )
        middle = tuple(x.shape[1:-1])
        if middle and None not in middle:  # one large matmul instead of a batch of small ones
            flat = ops.matmul(ops.reshape(x, (-1, depth)), self.kernel)
            y = ops.reshape(flat, (-1, *middle, self.units))
        else:
            y = ops.matmul(x, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        y = self.activation(y)
        record_activity_loss(self, y)
        return y

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Activation(Layer):
    """Applies an activation function (a name from ``rl.activations`` or a callable)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Identity(Layer):
    """Returns its input unchanged (masks pass through)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


# --- reshaping -------------------------------------------------------------------------------


def _prod(dims) -> int | None:
    return None if any(d is None for d in dims) else math.prod(dims)


class Flatten(Layer):
    """Flattens each sample to one axis: ``(batch, ...) -> (batch, prod(...))``.

    With ``data_format="channels_first"``, the channels axis is moved last first, so the
    order of the features matches a channels-last model.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg("Flatten", data_format)
        self.supports_masking = False

    def call(self, inputs):
        rank = len(inputs.shape)
        if self.data_format == "channels_first" and rank > 2:
            inputs = ops.transpose(inputs, axes=(0, *range(2, rank), 1))
        size = _prod(inputs.shape[1:])
        if size is not None and size > 0:
            return ops.reshape(inputs, (-1, size))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _prod(input_shape[1:]))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (without the batch axis; one entry may be -1).

    >>> import rillet as rl
    >>> import rillet.layers
    >>> rl.layers.Reshape((-1, 2))(rl.ones((5, 6))).shape
    (5, 3, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(operator.index(s) for s in target_shape)
        except TypeError:
            raise ArgumentTypeError(
                f"Reshape: received target_shape={target_shape!r}, expected a tuple of ints"
            ) from None
        if target.count(-1) > 1 or any(s < -1 for s in target):
            raise ArgumentError(
                f"Reshape: received target_shape={target}, expected sizes >= 0 and at most one -1"
            )
        self.target_shape = target

    def _resolve(self, sample_shape) -> tuple:
        """The target shape with -1 resolved against a sample shape (None where unknown)."""
        size, target = _prod(sample_shape), self.target_shape
        if size is None:
            return tuple(None if s == -1 else s for s in target)
        known = math.prod(s for s in target if s != -1)
        fits = size % known == 0 if -1 in target and known else known == size
        if not fits:
            raise ShapeError(
                f"Reshape '{self.name}': cannot reshape an input of shape {tuple(sample_shape)} "
                f"({size} values per sample) to target_shape={target}"
            )
        return tuple(size // known if s == -1 else s for s in target)

    def build(self, input_shape) -> None:
        self._resolve(tuple(input_shape)[1:])
        self.built = True

    def call(self, inputs):
        target = self._resolve(tuple(inputs.shape)[1:])
        if None not in target:
            return ops.reshape(inputs, (-1, *target))
        return ops.reshape(inputs, (inputs.shape[0], *self.target_shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._resolve(tuple(input_shape)[1:]))

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` numbers them from 1, e.g. ``(2, 1)`` swaps the
    two axes of a ``(batch, steps, features)`` input."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ArgumentError(
                f"Permute: received dims={self.dims}, expected a permutation of "
                f"1..{len(self.dims)} (axes count from 1; the batch axis stays first)"
            )
        self.supports_masking = True

    def build(self, input_shape) -> None:
        check_rank("Permute", input_shape, rank=len(self.dims) + 1)
        self.built = True

    def call(self, inputs, mask=None):
        return ops.transpose(inputs, axes=(0, *self.dims))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int("RepeatVector", "n", n)

    def build(self, input_shape) -> None:
        check_rank("RepeatVector", input_shape, rank=2)
        self.built = True

    def call(self, inputs):
        return ops.tile(ops.expand_dims(inputs, axis=1), reps=(1, self.n, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


# --- Lambda ----------------------------------------------------------------------------------


def _serialize_function(fn):
    if fn is None or not callable(fn):
        return fn
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    return {
        "module": getattr(fn, "__module__", None),
        "class_name": "function",
        "config": name,
        "registered_name": name,
    }


def _deserialize_function(config, custom_objects, what: str):
    """A function from its config, by name only: from ``custom_objects``, rillet's
    activations and ops, or a module that is already imported (nothing is imported or run)."""
    if not isinstance(config, dict):
        return config
    name, module = config.get("config"), config.get("module")
    short = name.rsplit(".", 1)[-1] if isinstance(name, str) else name
    for key in (name, short):
        if custom_objects and key in custom_objects:
            return custom_objects[key]
    if module == activations.__name__ and name in activations.__all__:
        return getattr(activations, name)
    found = sys.modules.get(module) if module else None
    for part in name.split(".") if found is not None and "<" not in name else ():
        found = getattr(found, part, None)
    if found is None or not callable(found):
        raise ArgumentError(
            f"Lambda: cannot restore {what} {name!r} of module {module!r} by name (a lambda or "
            "nested function, or its module is not imported); pass it in custom_objects="
        )
    return found


class Lambda(Layer):
    """Wraps a function of tensors as a layer: ``Lambda(lambda x: x ** 2)``.

    ``output_shape`` (without the batch axis, or a function of the input shape) is needed
    only when the shape cannot be found by tracing the function. The function gets
    ``mask=`` and ``training=`` when it takes them, and ``arguments`` as keywords.

    ``get_config`` stores functions **by name** only (module and qualified name): no code is
    saved, so ``from_config`` restores named functions of imported modules and rillet's
    activations, but a lambda or a nested function must be given back through
    ``custom_objects={"name": fn}``. Prefer a subclassed layer for anything you will save.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ArgumentTypeError(f"Lambda: received function={function!r}, not a callable")
        self.function = function
        self.output_shape = (
            output_shape
            if output_shape is None or callable(output_shape)
            else (tuple(output_shape))
        )
        self.mask = mask
        self.arguments = dict(arguments or {})
        params = _parameters(function)
        self._wants_mask, self._wants_training = "mask" in params, "training" in params
        self.supports_masking = mask is not None

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._wants_mask:
            kwargs["mask"] = mask
        if self._wants_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def compute_output_shape(self, input_shape):
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape):
            return self.output_shape(input_shape)
        batch = input_shape[0][0] if isinstance(input_shape[0], (tuple, list)) else input_shape[0]
        return (batch, *self.output_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "function": _serialize_function(self.function),
            "output_shape": _serialize_function(self.output_shape),
            "mask": _serialize_function(self.mask),
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        for key, what in (("function", "function"), ("output_shape", "output_shape function")):
            config[key] = _deserialize_function(config.get(key), custom_objects, what)
        config["mask"] = _deserialize_function(config.get("mask"), custom_objects, "mask")
        return cls(**config)


def _parameters(fn) -> frozenset:
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


# --- Embedding and Masking -------------------------------------------------------------------


class Embedding(Layer):
    """Looks up rows of an ``(input_dim, output_dim)`` matrix: integer inputs of any shape
    ``s`` give outputs of shape ``s + (output_dim,)``.

    ``mask_zero=True`` treats index 0 as padding: the output mask is ``inputs != 0`` (so the
    vocabulary needs ``input_dim = vocabulary size + 1``).
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        **kwargs,
    ):
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        kwargs.pop("input_length", None)  # Keras 2's argument: the shape comes from the input
        super().__init__(**kwargs)
        set_activity_regularizer(self, activity_regularizer)
        self.input_dim = positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        if weights is not None:
            self.build(None)
            self.built = True
            self.set_weights(weights if isinstance(weights, (list, tuple)) else [weights])

    def build(self, input_shape=None) -> None:
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            name="embeddings",
        )
        self.built = True

    def call(self, inputs):
        if not _dtypes.is_integer(inputs.dtype):
            inputs = ops.cast(inputs, dtype=_dtypes.int32)
        outputs = ops.take(self.embeddings, inputs, axis=0)
        record_activity_loss(self, outputs)
        return outputs

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }


class Masking(Layer):
    """Masks the time steps whose features all equal ``mask_value``: zeroes them and emits
    the mask ``any(inputs != mask_value, axis=-1)`` for the layers downstream (RNNs,
    attention, pooling)."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def _keep(self, inputs, keepdims: bool):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=keepdims)

    def call(self, inputs):
        return inputs * ops.cast(self._keep(inputs, True), dtype=inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs, False)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}
