"""Normalization layers with the arguments and defaults of Keras 3: BatchNormalization,
LayerNormalization and GroupNormalization.

>>> import rillet as rl
>>> import rillet.layers
>>> bn = rl.layers.BatchNormalization(momentum=0.9)
>>> x = rl.asarray([[0.0, 2.0], [2.0, 6.0]])
>>> bn(x, training=True).numpy().round(2).tolist()
[[-1.0, -1.0], [1.0, 1.0]]
>>> [round(float(m), 4) for m in bn.moving_mean.numpy()]  # 0.9 * 0 + 0.1 * batch mean
[0.1, 0.4]
"""

from __future__ import annotations

import operator

from .. import constraints, initializers, ops, regularizers
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from .convolutional import float_autocast
from .layer import Layer

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization"]


def _int(who: str, name: str, value) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{who}: received {name}={value!r}, expected an int") from None


def _number(who: str, name: str, value, low: float = 0.0, high: float = float("inf")) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ArgumentError(
            f"{who}: received {name}={value!r}, expected a number in [{low}, {high}]"
        )
    return float(value)


def _axis_in(who: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ArgumentError(
            f"{who}: received axis={axis}, out of range for an input of rank {ndim}"
        )
    return axis % ndim


def _known(who: str, shape, axes) -> tuple[int, ...]:
    sizes = tuple(shape[a] for a in axes)
    if None in sizes:
        raise ShapeError(
            f"{who}: the input's axes {tuple(axes)} must have known sizes, got {shape}"
        )
    return sizes


class _Affine(Layer):
    """The ``center``/``scale`` arguments and the ``gamma``/``beta`` weights they create."""

    def _set_affine_args(
        self,
        center,
        scale,
        beta_initializer,
        gamma_initializer,
        beta_regularizer,
        gamma_regularizer,
        beta_constraint,
        gamma_constraint,
    ):
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None
        self.supports_masking = True

    def _add_affine(self, shape: tuple, scale: bool, center: bool) -> None:
        if scale:
            self.gamma = self.add_weight(
                shape=shape, initializer=self.gamma_initializer, name="gamma",
                regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
            )  # fmt: skip
        if center:
            self.beta = self.add_weight(
                shape=shape, initializer=self.beta_initializer, name="beta",
                regularizer=self.beta_regularizer, constraint=self.beta_constraint,
            )  # fmt: skip

    def _affine_config(self) -> dict:
        return {
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }

    def _check_input(self, x, axes: tuple[int, ...], sizes: tuple[int, ...]) -> None:
        shape = tuple(x.shape)
        if len(shape) != self._ndim or tuple(shape[a] for a in axes) != sizes:
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': expected inputs of rank {self._ndim} "
                f"with sizes {sizes} on axes {axes} (the layer was built for them), got shape "
                f"{shape}"
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _broadcastable(v, ndim: int, axes: tuple[int, ...]):
    """Weight ``v`` (sizes of ``axes``) reshaped to broadcast against a rank-``ndim`` input."""
    if v is None or axes == tuple(range(ndim - len(axes), ndim)):
        return v  # trailing axes broadcast as they are
    shape = [1] * ndim
    for a, n in zip(axes, v.shape):
        shape[a] = n
    return ops.reshape(v, shape=tuple(shape))


# --- BatchNormalization ----------------------------------------------------------------------


class BatchNormalization(_Affine):
    """Normalizes each channel (``axis``) over the batch and every other axis.

    With ``training=True`` (and ``trainable``), it uses the batch's mean and (biased)
    variance and updates ``moving_mean``/``moving_variance`` (non-trainable weights) as
    ``moving = moving * momentum + batch * (1 - momentum)``; these assignments become graph
    nodes when traced, so a compiled train step updates them. Otherwise it normalizes with
    the moving statistics. A mask ``(batch, ...)`` of one rank less than the input leaves
    masked entries out of the batch statistics.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = "BatchNormalization"
        self.axis = _int(who, "axis", axis)
        self.momentum = _number(who, "momentum", momentum, 0.0, 1.0)
        self.epsilon = _number(who, "epsilon", epsilon)
        if synchronized:
            raise ArgumentError(
                f"{who}: received synchronized={synchronized!r}; synchronized batch statistics "
                "need a distribution strategy, which rillet does not have yet"
            )
        self.synchronized = False
        self._set_affine_args(center, scale, beta_initializer, gamma_initializer,
                              beta_regularizer, gamma_regularizer, beta_constraint,
                              gamma_constraint)  # fmt: skip
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.moving_mean = self.moving_variance = None

    def build(self, input_shape) -> None:
        self._ndim = len(input_shape)
        self._axis = _axis_in("BatchNormalization", self.axis, self._ndim)
        self._channels = _known("BatchNormalization", input_shape, (self._axis,))
        self._add_affine(self._channels, self.scale, self.center)
        for name, initializer in (
            ("moving_mean", self.moving_mean_initializer),
            ("moving_variance", self.moving_variance_initializer),
        ):
            variable = self.add_weight(shape=self._channels, initializer=initializer,
                                       trainable=False, name=name)  # fmt: skip
            setattr(self, name, variable)
        self._reduced = tuple(a for a in range(self._ndim) if a != self._axis)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = float_autocast(inputs, self.dtype)
        self._check_input(x, (self._axis,), self._channels)
        if not (training and self.trainable):
            return self._normalize(x, self.moving_mean, self.moving_variance)
        if mask is None:
            # one kernel for the statistics and the normalization, and a fused gradient
            y, mean, variance = ops.fused_batch_norm(
                x, self.gamma, self.beta, epsilon=self.epsilon, axis=self._axis
            )
        else:
            mean, variance = self._masked_moments(x, mask)
            y = self._normalize(x, mean, variance)
        self._update_moving(mean, variance)
        return y

    def _normalize(self, x, mean, variance):
        ndim, axes = self._ndim, (self._axis,)
        mean, variance, beta, gamma = (
            _broadcastable(v, ndim, axes) for v in (mean, variance, self.beta, self.gamma)
        )
        return ops.batch_norm(x, mean, variance, beta, gamma, variance_epsilon=self.epsilon)

    def _masked_moments(self, x, mask):
        """Per-channel mean and variance over the entries where ``mask`` is True."""
        if len(mask.shape) != self._ndim - 1:
            raise ShapeError(
                f"BatchNormalization '{self.name}': the mask must have one axis less than the "
                f"inputs, got mask shape {tuple(mask.shape)} and inputs {tuple(x.shape)}"
            )
        weights = ops.expand_dims(ops.cast(mask, dtype=x.dtype), axis=-1)
        count = ops.maximum(ops.sum(weights, axis=self._reduced), 1.0)
        mean = ops.sum(x * weights, axis=self._reduced) / count
        centered = x - _broadcastable(mean, self._ndim, (self._axis,))
        variance = ops.sum(weights * centered * centered, axis=self._reduced) / count
        return mean, variance

    def _update_moving(self, mean, variance) -> None:
        keep = self.momentum
        for variable, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            batch = ops.stop_gradient(batch)
            variable.assign(variable * keep + batch * (1.0 - keep))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            **self._affine_config(),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "synchronized": self.synchronized,
        }


# --- LayerNormalization ----------------------------------------------------------------------


class LayerNormalization(_Affine):
    """Normalizes each sample over ``axis`` (an int or a list of ints) to zero mean and unit
    variance, then ``* gamma + beta`` (weights spanning those axes).

    ``rms_scaling=True`` (as Keras) skips the centring and ``beta``: ``x * rsqrt(var(x) +
    epsilon) * gamma``.
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        rms_scaling=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = "LayerNormalization"
        if isinstance(axis, (list, tuple)):
            self.axis = [_int(who, "axis", a) for a in axis]
            if not self.axis:
                raise ArgumentError(f"{who}: received axis={axis!r}, expected at least one axis")
        else:
            self.axis = _int(who, "axis", axis)
        self.epsilon = _number(who, "epsilon", epsilon)
        self.rms_scaling = bool(rms_scaling)
        self._set_affine_args(center, scale, beta_initializer, gamma_initializer,
                              beta_regularizer, gamma_regularizer, beta_constraint,
                              gamma_constraint)  # fmt: skip

    def build(self, input_shape) -> None:
        self._ndim = len(input_shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = sorted({_axis_in("LayerNormalization", a, self._ndim) for a in given})
        if len(axes) != len(given):
            raise ArgumentError(f"LayerNormalization: received axis={self.axis}, with repeats")
        self._axes = tuple(axes)
        self._sizes = _known("LayerNormalization", input_shape, self._axes)
        self._add_affine(self._sizes, self.scale or self.rms_scaling,
                         self.center and not self.rms_scaling)  # fmt: skip
        self.built = True

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        self._check_input(x, self._axes, self._sizes)
        gamma, beta = (_broadcastable(v, self._ndim, self._axes) for v in (self.gamma, self.beta))
        if not self.rms_scaling:
            return ops.layer_norm(x, gamma, beta, axis=self._axes, epsilon=self.epsilon)
        variance = ops.moments(x, axes=self._axes, keepdims=True)[1]
        y = x * ops.rsqrt(variance + self.epsilon)
        return y if gamma is None else y * gamma

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "rms_scaling": self.rms_scaling,
            **self._affine_config(),
        }


# --- GroupNormalization ----------------------------------------------------------------------


class GroupNormalization(_Affine):
    """Splits the channels (``axis``) into ``groups`` groups of consecutive channels and
    normalizes each sample over each group and every non-batch axis; then ``* gamma + beta``
    per channel. ``groups=-1`` makes one group per channel (instance normalization),
    ``groups=1`` normalizes over the whole sample.

    >>> import rillet as rl
    >>> import rillet.layers
    >>> rl.layers.GroupNormalization(groups=2)(rl.ones((1, 5, 4))).shape
    (1, 5, 4)
    """

    def __init__(
        self,
        groups=32,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = "GroupNormalization"
        self.groups = _int(who, "groups", groups)
        if self.groups < 1 and self.groups != -1:
            raise ArgumentError(f"{who}: received groups={groups!r}, expected a positive int or -1")
        self.axis = _int(who, "axis", axis)
        self.epsilon = _number(who, "epsilon", epsilon)
        self._set_affine_args(center, scale, beta_initializer, gamma_initializer,
                              beta_regularizer, gamma_regularizer, beta_constraint,
                              gamma_constraint)  # fmt: skip

    def build(self, input_shape) -> None:
        who = "GroupNormalization"
        self._ndim = len(input_shape)
        self._axis = _axis_in(who, self.axis, self._ndim)
        if self._axis == 0:
            raise ArgumentError(f"{who}: received axis={self.axis}, which is the batch axis")
        self._channels = _known(who, input_shape, (self._axis,))
        channels = self._channels[0]
        self._groups = channels if self.groups == -1 else self.groups
        if channels < self._groups or channels % self._groups:
            raise ShapeError(
                f"{who}: received groups={self.groups}, which must divide the {channels} "
                f"channels of the input (shape {tuple(input_shape)})"
            )
        self._add_affine(self._channels, self.scale, self.center)
        self.built = True

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        a = self._axis
        self._check_input(x, (a,), self._channels)
        shape = tuple(x.shape)
        _known(f"GroupNormalization '{self.name}'", shape, range(1, self._ndim))
        split = (self._groups, self._channels[0] // self._groups)
        grouped = ops.reshape(x, shape=(-1, *shape[1:a], *split, *shape[a + 1 :]))
        axes = tuple(i for i in range(1, self._ndim + 1) if i != a)  # all but batch, group
        # weights as (groups, channels per group, 1, ...): per channel in the grouped layout
        param_shape = split + (1,) * (self._ndim - a - 1)
        gamma, beta = (
            None if v is None else ops.reshape(v, shape=param_shape)
            for v in (self.gamma, self.beta)
        )
        y = ops.layer_norm(grouped, gamma, beta, axis=axes, epsilon=self.epsilon)
        return ops.reshape(y, shape=(-1, *shape[1:]))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            **self._affine_config(),
        }
