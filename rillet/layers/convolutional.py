"""Convolution layers, channels-last, with the arguments and defaults of Keras 3: Conv1D,
Conv2D, DepthwiseConv1D/2D, SeparableConv1D/2D and Conv1DTranspose/Conv2DTranspose.

Kernels have Keras's layouts: ``Conv2D`` ``(kh, kw, in / groups, filters)``,
``DepthwiseConv2D`` ``(kh, kw, in, depth_multiplier)``, ``SeparableConv2D`` a depthwise
kernel and a pointwise ``(1, 1, in * depth_multiplier, filters)``, and ``Conv2DTranspose``
``(kh, kw, filters, in)``. Like Keras on TensorFlow, "same" padding puts an odd padding pixel
at the end, and the layers compute a cross-correlation (the kernel is not flipped).

>>> import rillet as rl
>>> import rillet.layers
>>> conv = rl.layers.Conv2D(4, 3, padding="same", strides=2)
>>> conv(rl.ones((1, 7, 7, 3))).shape, [w.shape for w in conv.weights]
((1, 4, 4, 4), [(3, 3, 3, 4), (4,)])
"""

from __future__ import annotations

import operator

from .. import activations, constraints, initializers, ops, regularizers
from .. import dtypes as _dtypes
from ..errors import ArgumentError, ShapeError
from ._args import (
    check_rank,
    data_format_arg,
    positive_int,
    record_activity_loss,
    set_activity_regularizer,
)
from .layer import Layer

__all__ = [
    "Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D",
    "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Convolution1D", "Convolution2D",
    "Convolution1DTranspose", "Convolution2DTranspose", "SeparableConvolution1D",
    "SeparableConvolution2D",
]  # fmt: skip


# --- argument checks shared by the spatial layers (pooling and reshaping use them too) -------


def int_tuple(who: str, name: str, value, n: int, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int, or ``n`` ints) as ``n`` ints ``>= minimum``, or an ArgumentError
    that repeats it."""
    items = (value,) * n if not isinstance(value, (list, tuple)) else tuple(value)
    try:
        if any(isinstance(v, bool) for v in items):
            raise TypeError
        items = tuple(operator.index(v) for v in items)
    except TypeError:
        items = ()
    if len(items) != n or any(v < minimum for v in items):
        kind = "positive" if minimum == 1 else f">= {minimum}"
        raise ArgumentError(
            f"{who}: received {name}={value!r}, expected an int or {n} ints, each {kind}"
        )
    return items


def channels_last(who: str, data_format) -> str:
    """Check ``data_format``: rillet's spatial layers are channels-last only."""
    data_format = data_format_arg(who, data_format)
    if data_format == "channels_first":
        raise ArgumentError(
            f"{who}: received data_format='channels_first', but rillet layers support "
            "'channels_last' only (inputs (batch, ..., channels)); transpose the inputs instead"
        )
    return data_format


def padding_mode(who: str, padding, allowed: tuple[str, ...]) -> str:
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in allowed:
        raise ArgumentError(
            f"{who}: received padding={padding!r}, expected one of {', '.join(allowed)}"
        )
    return mode


def float_autocast(x, dtype):
    """Floating inputs in the layer's dtype (as Keras autocasts); other dtypes unchanged."""
    if _dtypes.is_floating(x.dtype) and x.dtype != dtype:
        return ops.cast(x, dtype=dtype)
    return x


def conv_output_length(size, kernel: int, padding: str, stride: int, dilation: int = 1):
    """Output length of a conv or pool along one axis (None when ``size`` is unknown)."""
    if size is None:
        return None
    if padding == "valid":
        return (size - ((kernel - 1) * dilation + 1)) // stride + 1
    return -(-size // stride)  # "same" and "causal": ceil(size / stride)


def transpose_output_length(size, kernel, padding, output_padding, stride, dilation):
    """Keras's ``compute_conv_transpose_output_length`` (None when ``size`` is unknown)."""
    if size is None:
        return None
    extent = (kernel - 1) * dilation + 1
    if output_padding is None:
        return size * stride + (max(extent - stride, 0) if padding == "valid" else 0)
    pad = extent // 2 if padding == "same" else 0
    return (size - 1) * stride + extent - 2 * pad + output_padding


# --- the shared base -------------------------------------------------------------------------


class _SpatialConv(Layer):
    """What every conv layer shares: the spatial arguments, the input check against the
    built channels, bias, activation and activity regularization. Subclasses create their
    kernels in ``_build_kernels`` and compute in ``_convolve``."""

    rank = 2
    causal = False  # whether padding="causal" is accepted (1-D layers)

    def __init__(
        self,
        kernel_size,
        strides,
        padding,
        data_format,
        dilation_rate,
        activation,
        use_bias,
        bias_initializer,
        bias_regularizer,
        activity_regularizer,
        bias_constraint,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who, n = type(self).__name__, self.rank
        self.kernel_size = int_tuple(who, "kernel_size", kernel_size, n)
        self.strides = int_tuple(who, "strides", strides, n)
        modes = ("valid", "same", "causal") if self.causal else ("valid", "same")
        self.padding = padding_mode(who, padding, modes)
        self.data_format = channels_last(who, data_format)
        self.dilation_rate = int_tuple(who, "dilation_rate", dilation_rate, n)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        set_activity_regularizer(self, activity_regularizer)
        self._input_channels = None
        self.bias = None

    def _weight(self, name: str, shape: tuple, initializer, regularizer, constraint):
        return self.add_weight(
            shape=shape, initializer=initializer, regularizer=regularizer,
            constraint=constraint, name=name,
        )  # fmt: skip

    def build(self, input_shape) -> None:
        who = type(self).__name__
        check_rank(who, input_shape, rank=self.rank + 2)
        channels = input_shape[-1]
        if channels is None:
            raise ShapeError(
                f"{who}: the channels axis of the input must be known, got {input_shape}"
            )
        self._input_channels = int(channels)
        self._build_kernels(self._input_channels)
        if self.use_bias:
            shape = (self._output_channels(self._input_channels),)
            self.bias = self._weight(
                "bias", shape, self.bias_initializer, self.bias_regularizer, self.bias_constraint
            )
        self.built = True

    def _check_input(self, x) -> None:
        if len(x.shape) != self.rank + 2 or x.shape[-1] != self._input_channels:
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': expected inputs of rank {self.rank + 2} "
                f"with {self._input_channels} channels (the layer was built for them), "
                f"got shape {tuple(x.shape)}"
            )

    def call(self, inputs):
        x = float_autocast(inputs, self.dtype)
        self._check_input(x)
        y = self._convolve(x)
        if self.bias is not None:
            y = y + self.bias
        y = self.activation(y)
        record_activity_loss(self, y)
        return y

    def _output_length(self, size, i: int):
        return conv_output_length(
            size, self.kernel_size[i], self.padding, self.strides[i], self.dilation_rate[i]
        )

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        check_rank(type(self).__name__, input_shape, rank=self.rank + 2)
        spatial = tuple(self._output_length(n, i) for i, n in enumerate(input_shape[1:-1]))
        if any(n is not None and n < 1 for n in spatial):
            raise ShapeError(
                f"{type(self).__name__} '{self.name}': an input of shape {input_shape} is too "
                f"small for kernel_size={self.kernel_size} with padding={self.padding!r}, "
                f"dilation_rate={self.dilation_rate}"
            )
        channels = input_shape[-1] if self._input_channels is None else self._input_channels
        return (input_shape[0], *spatial, self._output_channels(channels))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class _KernelArgs:
    """The ``kernel_*`` arguments of Conv and ConvTranspose layers."""

    def _set_kernel_args(self, filters, initializer, regularizer, constraint) -> None:
        self.filters = positive_int(type(self).__name__, "filters", filters)
        self.kernel_initializer = initializers.get(initializer)
        self.kernel_regularizer = regularizers.get(regularizer)
        self.kernel_constraint = constraints.get(constraint)
        self.kernel = None

    def _kernel_config(self) -> dict:
        return {
            "filters": self.filters,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
        }

    def _output_channels(self, channels: int) -> int:
        return self.filters


# --- Conv1D / Conv2D -------------------------------------------------------------------------


class _Conv(_KernelArgs, _SpatialConv):
    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
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
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        self._set_kernel_args(filters, kernel_initializer, kernel_regularizer, kernel_constraint)
        who = type(self).__name__
        self.groups = positive_int(who, "groups", groups)
        if self.filters % self.groups:
            raise ArgumentError(
                f"{who}: the number of filters must be divisible by groups, received "
                f"filters={self.filters}, groups={self.groups}"
            )

    def _build_kernels(self, channels: int) -> None:
        if channels % self.groups:
            raise ShapeError(
                f"{type(self).__name__}: the number of input channels must be divisible by "
                f"groups, received groups={self.groups} and an input with {channels} channels"
            )
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self._weight(
            "kernel", shape, self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint,
        )  # fmt: skip

    def _convolve(self, x):
        conv = ops.conv1d if self.rank == 1 else ops.conv2d
        return conv(
            x, self.kernel, strides=self.strides, padding=self.padding,
            dilations=self.dilation_rate, groups=self.groups,
        )  # fmt: skip

    def get_config(self) -> dict:
        return {**super().get_config(), **self._kernel_config(), "groups": self.groups}


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``: kernel ``(kernel_size, channels /
    groups, filters)``; ``padding`` is "valid", "same" or "causal" (output ``t`` sees inputs
    ``<= t`` only).

    >>> import rillet as rl
    >>> import rillet.layers
    >>> rl.layers.Conv1D(2, 3, padding="causal")(rl.ones((1, 5, 4))).shape
    (1, 5, 2)
    """

    rank = 1
    causal = True


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)``: kernel ``(kh, kw, channels
    / groups, filters)``; ``groups > 1`` convolves channel groups separately."""

    rank = 2


# --- depthwise and separable -----------------------------------------------------------------


class _DepthwiseArgs:
    """The ``depthwise_*`` arguments of DepthwiseConv and SeparableConv layers."""

    def _set_depthwise_args(self, depth_multiplier, initializer, regularizer, constraint):
        who = type(self).__name__
        self.depth_multiplier = positive_int(who, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(initializer)
        self.depthwise_regularizer = regularizers.get(regularizer)
        self.depthwise_constraint = constraints.get(constraint)

    def _depthwise_weight(self, channels: int, name: str):
        return self._weight(
            name, (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer, self.depthwise_regularizer, self.depthwise_constraint,
        )  # fmt: skip

    def _depthwise(self, x, kernel):
        conv = ops.depthwise_conv1d if self.rank == 1 else ops.depthwise_conv2d
        return conv(x, kernel, self.strides, self.padding, self.dilation_rate)

    def _depthwise_config(self) -> dict:
        return {
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
        }


class _DepthwiseConv(_DepthwiseArgs, _SpatialConv):
    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        self._set_depthwise_args(
            depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint
        )
        self.kernel = None

    def _build_kernels(self, channels: int) -> None:
        self.kernel = self._depthwise_weight(channels, "kernel")

    def _output_channels(self, channels):
        return None if channels is None else channels * self.depth_multiplier

    def _convolve(self, x):
        return self._depthwise(x, self.kernel)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._depthwise_config()}


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters; kernel ``(kernel_size, channels, depth_multiplier)``, output
    channel ``c * depth_multiplier + m``."""

    rank = 1
    causal = True


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: kernel ``(kh, kw, channels, depth_multiplier)``.

    >>> import rillet as rl
    >>> import rillet.layers
    >>> rl.layers.DepthwiseConv2D(3, depth_multiplier=2)(rl.ones((1, 5, 5, 3))).shape
    (1, 3, 3, 6)
    """

    rank = 2


class _SeparableConv(_DepthwiseArgs, _SpatialConv):
    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        self.filters = positive_int(type(self).__name__, "filters", filters)
        self._set_depthwise_args(
            depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint
        )
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.depthwise_kernel = self.pointwise_kernel = None

    def _build_kernels(self, channels: int) -> None:
        self.depthwise_kernel = self._depthwise_weight(channels, "depthwise_kernel")
        shape = (1,) * self.rank + (channels * self.depth_multiplier, self.filters)
        self.pointwise_kernel = self._weight(
            "pointwise_kernel", shape, self.pointwise_initializer, self.pointwise_regularizer,
            self.pointwise_constraint,
        )  # fmt: skip

    def _output_channels(self, channels) -> int:
        return self.filters

    def _convolve(self, x):
        y = self._depthwise(x, self.depthwise_kernel)
        kernel = ops.reshape(self.pointwise_kernel, shape=(-1, self.filters))
        spatial = tuple(y.shape[1:-1])
        if None in spatial:
            return ops.matmul(y, kernel)
        # a 1x1 conv is one (batch * pixels, C) x (C, filters) GEMM
        flat = ops.matmul(ops.reshape(y, shape=(-1, kernel.shape[0])), kernel)
        return ops.reshape(flat, shape=(-1, *spatial, self.filters))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._depthwise_config(),
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        }


class SeparableConv1D(_SeparableConv):
    """Depthwise 1-D convolution followed by a pointwise (1x1) one mixing the channels:
    ``depthwise_kernel`` ``(kernel_size, channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, channels * depth_multiplier, filters)``."""

    rank = 1
    causal = True


class SeparableConv2D(_SeparableConv):
    """Depthwise 2-D convolution followed by a pointwise (1x1) one:
    ``depthwise_kernel`` ``(kh, kw, channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, 1, channels * depth_multiplier, filters)``."""

    rank = 2


# --- transposed convolutions -----------------------------------------------------------------


class _ConvTranspose(_KernelArgs, _SpatialConv):
    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
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
        super().__init__(
            kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
            bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs,
        )  # fmt: skip
        self._set_kernel_args(filters, kernel_initializer, kernel_regularizer, kernel_constraint)
        self.output_padding = None
        if output_padding is not None:
            who = type(self).__name__
            self.output_padding = int_tuple(who, "output_padding", output_padding, self.rank, 0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ArgumentError(
                    f"{who}: received output_padding={self.output_padding}, which must be "
                    f"smaller than strides={self.strides} on every axis"
                )

    def _build_kernels(self, channels: int) -> None:
        shape = (*self.kernel_size, self.filters, channels)
        self.kernel = self._weight(
            "kernel", shape, self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint,
        )  # fmt: skip

    def _output_length(self, size, i: int):
        output_padding = None if self.output_padding is None else self.output_padding[i]
        return transpose_output_length(
            size, self.kernel_size[i], self.padding, output_padding, self.strides[i],
            self.dilation_rate[i],
        )  # fmt: skip

    def _convolve(self, x):
        spatial = (self._output_length(n, i) for i, n in enumerate(x.shape[1:-1]))
        shape = (x.shape[0], *spatial, self.filters)
        conv = ops.conv1d_transpose if self.rank == 1 else ops.conv2d_transpose
        return conv(x, self.kernel, shape, self.strides, self.padding, self.dilation_rate)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._kernel_config(),
            "output_padding": self.output_padding,
        }


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution (the gradient of Conv1D with respect to its input):
    kernel ``(kernel_size, filters, channels)``."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution ("deconvolution"): kernel ``(kh, kw, filters, channels)``.
    The output size is Keras's: ``size * stride`` for "same", ``size * stride +
    max(kernel - stride, 0)`` for "valid", and with ``output_padding``
    ``(size - 1) * stride + kernel - 2 * pad + output_padding``.

    >>> import rillet as rl
    >>> import rillet.layers
    >>> rl.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(rl.ones((1, 4, 4, 3))).shape
    (1, 8, 8, 2)
    """

    rank = 2


Convolution1D, Convolution2D = Conv1D, Conv2D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
