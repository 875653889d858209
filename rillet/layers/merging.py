"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate and Dot,
and their functional forms (``add([a, b])``, ...), with the behaviour of Keras 3.

Each takes a list of tensors. The elementwise merges broadcast (inputs of lower rank get
axes inserted after the batch axis); the output mask is the OR of the input masks when every
input has one. ``Maximum`` and ``Minimum`` also ignore masked steps of an input, taking the
other inputs' values there.

>>> import rillet as rl
>>> import rillet.layers
>>> rl.layers.Add()([rl.ones((2, 3)), rl.ones((2, 3))]).tolist()
[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
>>> rl.layers.Concatenate(axis=1)([rl.ones((2, 3)), rl.ones((2, 1))]).shape
(2, 4)
>>> rl.layers.Dot(axes=1)([rl.ones((2, 3)), rl.ones((2, 3))]).tolist()
[[3.0], [3.0]]
"""

from __future__ import annotations

import math

from .. import ops
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from .layer import Layer

__all__ = [
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
]  # fmt: skip


def _shape_list(who: str, input_shape, count: int | None = None) -> list:
    """The input shapes as a list of tuples, checking it is a list (of ``count`` shapes)."""
    if (
        not isinstance(input_shape, (list, tuple))
        or not input_shape
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ArgumentTypeError(
            f"{who}: expected a list of input tensors, got input shape {input_shape}"
        )
    if count is not None and len(input_shape) != count:
        raise ArgumentError(
            f"{who}: expected exactly {count} inputs, got {len(input_shape)} with shapes "
            f"{[tuple(s) for s in input_shape]}"
        )
    return [tuple(s) for s in input_shape]


def _broadcast_dims(who: str, a: tuple, b: tuple, shapes) -> tuple:
    """The broadcast of two shapes, aligned at their last axes; None is unknown."""
    if len(a) < len(b):
        a, b = b, a
    head, out = a[: len(a) - len(b)], []
    for i, j in zip(a[len(a) - len(b) :], b):
        if i is None or j is None:
            out.append(None if i != 1 and j != 1 else (j if i == 1 else i))
        elif i == 1 or j == 1 or i == j:
            out.append(j if i == 1 else i)
        else:
            raise ShapeError(f"{who}: inputs have incompatible shapes {shapes}")
    return (*head, *out)


def _batch(who: str, shapes: list):
    sizes = {s[0] for s in shapes if s} - {None}
    if len(sizes) > 1:
        raise ShapeError(f"{who}: inputs have different batch sizes, got shapes {shapes}")
    return sizes.pop() if sizes else None


def _expand_mask(mask, x):
    """A time-step mask ``(batch, steps)`` with a trailing axis to broadcast against ``x``."""
    return ops.expand_dims(mask, axis=-1) if len(mask.shape) < len(x.shape) else mask


class Merge(Layer):
    """Base of the elementwise merging layers: subclasses define ``_merge_function``."""

    _COUNT: int | None = None  # the exact number of inputs, when fixed

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _merge_function(self, inputs: list, masks: list):
        raise NotImplementedError

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # validates the shapes
        self.built = True

    def call(self, inputs, mask=None):
        inputs = _as_list(self, inputs)
        top = max(len(x.shape) for x in inputs)
        for i, x in enumerate(inputs):
            for _ in range(top - len(x.shape)):  # lower ranks: new axes after the batch axis
                x = ops.expand_dims(x, axis=1)
            inputs[i] = x
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs)
        return self._merge_function(inputs, masks)

    def compute_output_shape(self, input_shape):
        who = type(self).__name__
        shapes = _shape_list(who, input_shape, self._COUNT)
        batch = _batch(who, shapes)
        top = max(len(s) for s in shapes)
        padded = [(s[0], *(1,) * (top - len(s)), *s[1:]) if s else s for s in shapes]
        out = padded[0][1:]
        for s in padded[1:]:
            out = _broadcast_dims(who, out, s[1:], shapes)
        return (batch, *out)

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
            return None
        output = mask[0]
        for m in mask[1:]:
            output = ops.logical_or(output, m)
        return output


def _as_list(layer: Layer, inputs) -> list:
    if not isinstance(inputs, (list, tuple)):
        raise ArgumentTypeError(
            f"{type(layer).__name__}: expected a list of input tensors, got {type(inputs).__name__}"
        )
    return list(inputs)


class Add(Merge):
    """The sum of the inputs."""

    def _merge_function(self, inputs, masks):
        output = inputs[0]
        for x in inputs[1:]:
            output = output + x
        return output


class Subtract(Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _COUNT = 2

    def _merge_function(self, inputs, masks):
        return inputs[0] - inputs[1]


class Multiply(Merge):
    """The elementwise product of the inputs."""

    def _merge_function(self, inputs, masks):
        output = inputs[0]
        for x in inputs[1:]:
            output = output * x
        return output


class Average(Merge):
    """The elementwise mean of the inputs."""

    def _merge_function(self, inputs, masks):
        output = inputs[0]
        for x in inputs[1:]:
            output = output + x
        return output * (1.0 / len(inputs))


def _masked_reduce(op, inputs: list, masks: list):
    """``op`` over the inputs where masked steps of one input take the others' values (as
    Keras's ``_apply_merge_op_and_or_mask``), so a masked step never wins a max or min."""
    output, output_mask = inputs[0], masks[0]
    if output_mask is not None:
        output_mask = _expand_mask(output_mask, output)
    for x, m in zip(inputs[1:], masks[1:]):
        m = None if m is None else _expand_mask(m, x)
        if m is not None:
            x = ops.where(m, x, output)
        if output_mask is not None:
            output = ops.where(output_mask, output, x)
        output_mask = None if m is None or output_mask is None else ops.logical_or(output_mask, m)
        output = op(output, x)
    return output


class Maximum(Merge):
    """The elementwise maximum of the inputs."""

    def _merge_function(self, inputs, masks):
        return _masked_reduce(ops.maximum, inputs, masks)


class Minimum(Merge):
    """The elementwise minimum of the inputs."""

    def _merge_function(self, inputs, masks):
        return _masked_reduce(ops.minimum, inputs, masks)


class Concatenate(Merge):
    """Concatenates the inputs along ``axis``; the other axes must match.

    With masks, the output mask is ``any`` over the last axis of the inputs' masks, each
    broadcast to its input's shape (all True for an unmasked input) and concatenated.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = _shape_list("Concatenate", input_shape)
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank:
            raise ShapeError(
                f"Concatenate: inputs must have the same rank, with axis={self.axis} in range; "
                f"got shapes {shapes}"
            )
        axis = self.axis % rank
        out = list(shapes[0])
        for d in range(rank):
            sizes = [s[d] for s in shapes]
            if d == axis:
                out[d] = None if None in sizes else sum(sizes)
            elif len(set(sizes) - {None}) > 1:
                raise ShapeError(
                    f"Concatenate: inputs must have matching shapes except along axis "
                    f"{self.axis}, got shapes {shapes}"
                )
            else:
                out[d] = next((v for v in sizes if v is not None), None)
        return tuple(out)

    def call(self, inputs, mask=None):
        return ops.concat(_as_list(self, inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            ones = ops.ones_like(x, dtype="bool")
            full.append(ones if m is None else ops.logical_and(_expand_mask(m, x), ones))
        return ops.any(ops.concat(full, axis=self.axis), axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


# --- Dot -------------------------------------------------------------------------------------

_EPSILON = 1e-7


def _l2_normalize(x, axis: int):
    # x / max(||x||, eps): rsqrt of the clamped sum of squares keeps zero vectors finite.
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squares, _EPSILON**2))


def _reshape_keep_batch(x, rest: tuple):
    """Reshape to ``(batch, *rest)``, the batch size left to the op where it is unknown."""
    if None not in rest and -1 not in rest:
        return ops.reshape(x, (-1, *rest))
    return ops.reshape(x, (x.shape[0], *rest))


def batch_dot(x, y, axes: tuple):
    """Per sample, the dot product of ``x`` along ``axes[0]`` with ``y`` along ``axes[1]``:
    the result has ``x``'s other axes then ``y``'s (``(batch, 1)`` when no axes are left)."""
    ax, ay = axes
    x_keep = [d for d in range(1, len(x.shape)) if d != ax]
    y_keep = [d for d in range(1, len(y.shape)) if d != ay]
    x_dims = tuple(x.shape[d] for d in x_keep)
    y_dims = tuple(y.shape[d] for d in y_keep)
    # (batch, P, k) @ (batch, k, Q): one batched matmul, then back to the kept axes.
    x = ops.transpose(x, axes=(0, *x_keep, ax))
    y = ops.transpose(y, axes=(0, ay, *y_keep))
    k = x.shape[-1]
    x = _reshape_keep_batch(x, (_size(x_dims), k))
    y = _reshape_keep_batch(y, (k, _size(y_dims)))
    out = ops.matmul(x, y)
    return _reshape_keep_batch(out, (*x_dims, *y_dims) or (1,))


def _size(dims: tuple):
    return None if None in dims else math.prod(dims)


class Dot(Merge):
    """The dot product of two inputs, sample by sample, along ``axes`` (an int for both, or
    a pair; never 0, the batch axis). ``normalize=True`` L2-normalizes both inputs along
    those axes first, giving cosine similarities.

    Inputs ``(b, 3, 5)`` and ``(b, 10, 3)`` with ``axes=(1, 2)`` give ``(b, 5, 10)``.
    """

    _COUNT = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ArgumentError(f"Dot: received axes={axes!r}, expected an int or two ints")
            axes = tuple(axes)
        elif not isinstance(axes, int) or isinstance(axes, bool):
            raise ArgumentTypeError(f"Dot: received axes={axes!r}, expected an int or two ints")
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes(self, shapes: list) -> tuple:
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        axes = tuple(a % len(s) if -len(s) <= a < len(s) else None for a, s in zip(pair, shapes))
        if None in axes or 0 in axes:
            raise ArgumentError(
                f"Dot: received axes={self.axes!r}, invalid for input shapes {shapes} (an axis "
                "must exist and not be the batch axis 0)"
            )
        return axes

    def compute_output_shape(self, input_shape):
        shapes = _shape_list("Dot", input_shape, 2)
        if any(len(s) < 2 for s in shapes):
            raise ShapeError(f"Dot: inputs must have rank >= 2, got shapes {shapes}")
        ax, ay = self._axes(shapes)
        (a, b), batch = shapes, _batch("Dot", shapes)
        if a[ax] is not None and b[ay] is not None and a[ax] != b[ay]:
            raise ShapeError(
                f"Dot: incompatible input shapes {a} and {b}: axis {ax} has size {a[ax]} and "
                f"axis {ay} has size {b[ay]}"
            )
        rest = [a[d] for d in range(1, len(a)) if d != ax] + [
            b[d] for d in range(1, len(b)) if d != ay
        ]
        return (batch, *(rest or [1]))

    def call(self, inputs, mask=None):
        x, y = _as_list(self, inputs)
        ax, ay = self._axes([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x, y = _l2_normalize(x, ax), _l2_normalize(y, ay)
        return batch_dot(x, y, (ax, ay))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


# --- functional forms ------------------------------------------------------------------------


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """``Dot(axes, **kwargs)(inputs)``."""
    return Dot(axes=axes, **kwargs)(inputs)
