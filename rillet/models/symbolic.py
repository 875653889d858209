"""Symbolic tensors (``rl.Input``) and the record of layer calls on them.

Calling a layer on :class:`KerasTensor` objects does not compute: the layer is built from
the symbolic shapes, its ``call`` is traced once on placeholders (unknown sizes stay
unknown) to find the output shapes and dtypes, and a :class:`Node` records the call. The
outputs are new KerasTensors whose ``_keras_history`` is ``(layer, node_index,
tensor_index)``; ``rl.Model(inputs, outputs)`` walks these records back to the inputs.
"""

from __future__ import annotations

import itertools
from collections import namedtuple

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ArgumentTypeError, RilletError
from ..layers import masking
from ..layers.layer import Layer, unique_name

_TENSOR_IDS = itertools.count()


class KerasHistory(namedtuple("KerasHistory", ["operation", "node_index", "tensor_index"])):
    """Where a :class:`KerasTensor` comes from: ``(layer, node_index, tensor_index)``."""

    @property
    def layer(self):
        return self.operation


class KerasTensor:
    """A symbolic tensor: a shape (``None`` for unknown sizes) and a dtype, no value.

    >>> import rillet as rl
    >>> x = rl.Input(shape=(3,), name="features")
    >>> x
    <KerasTensor shape=(None, 3), dtype=float32, name=features>
    >>> rl.layers.Dense(2)(x).shape
    (None, 2)
    """

    __array_priority__ = 200  # NumPy defers to our operators (array + KerasTensor)

    def __init__(self, shape, dtype="float32", name: str | None = None, mask_shape=None):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = _dtypes.as_dtype(dtype)
        self.name = name or f"keras_tensor_{next(_TENSOR_IDS)}"
        self._mask_shape = None if mask_shape is None else tuple(mask_shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, name={self.name}>"

    def __bool__(self):
        raise ArgumentTypeError(
            f"{self} is symbolic: it has no truth value. A KerasTensor only describes the "
            "input of a functional model; compute with layers (or rl.layers.Lambda)"
        )

    def numpy(self):
        raise ArgumentTypeError(
            f"{self} is symbolic and has no value; build a model with rl.Model(inputs, "
            "outputs) and call it on data"
        )

    __array__ = numpy


# -- nodes ----------------------------------------------------------------------------------


def flatten(value) -> list:
    """The leaves of a (nested) list/tuple/dict structure, dicts in key order as given."""
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in flatten(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in flatten(v)]
    return [value]


def map_structure(fn, value):
    """``value`` with ``fn`` applied to every leaf (``None`` leaves included)."""
    if isinstance(value, (list, tuple)):
        return type(value)(map_structure(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: map_structure(fn, v) for k, v in value.items()}
    return fn(value)


def is_keras_tensor(value) -> bool:
    return isinstance(value, KerasTensor)


class Node:
    """One call of ``layer``: its (symbolic) arguments and its output KerasTensors."""

    def __init__(self, layer: Layer, call_args: tuple, call_kwargs: dict, outputs):
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.outputs = outputs
        self.input_tensors = [t for t in flatten((call_args, call_kwargs)) if is_keras_tensor(t)]
        self.output_tensors = [t for t in flatten(outputs) if is_keras_tensor(t)]
        nodes = inbound_nodes(layer)
        self.index = len(nodes)
        nodes.append(self)
        for i, tensor in enumerate(self.output_tensors):
            tensor._keras_history = KerasHistory(layer, self.index, i)

    @property
    def parent_nodes(self) -> list:
        """The nodes that made this node's input tensors."""
        found = []
        for tensor in self.input_tensors:
            layer, index, _ = tensor._keras_history
            node = inbound_nodes(layer)[index]
            if not any(node is f for f in found):
                found.append(node)
        return found

    def __repr__(self) -> str:
        return f"<Node {self.layer.name}#{self.index}>"


def inbound_nodes(layer: Layer) -> list:
    """The list of :class:`Node` objects recording the symbolic calls of ``layer``."""
    nodes = layer.__dict__.get("_inbound_nodes")
    if nodes is None:
        nodes = []
        object.__setattr__(layer, "_inbound_nodes", nodes)
    return nodes


# -- Input ------------------------------------------------------------------------------------


def _check_shape(who: str, name: str, shape) -> tuple:
    if not isinstance(shape, (tuple, list)):
        raise ArgumentError(f"{who}: received {name}={shape!r}, expected a tuple of sizes")
    for size in shape:
        ok = size is None or (isinstance(size, int) and not isinstance(size, bool) and size >= 0)
        if not ok:
            raise ArgumentError(
                f"{who}: received {name}={tuple(shape)!r}; sizes must be non-negative "
                "integers or None"
            )
    return tuple(shape)


class InputLayer(Layer):
    """The layer behind ``rl.Input``: it has no weights and one output, a KerasTensor."""

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        sparse=None,
        batch_shape=None,
        input_tensor=None,
        optional=False,
        name=None,
        **kwargs,
    ):
        kwargs.pop("trainable", None)
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        if sparse:
            raise ArgumentError(
                f"InputLayer: received sparse={sparse!r}; sparse inputs are not supported"
            )
        self.sparse, self.optional = False, bool(optional)
        if input_tensor is not None:
            if not is_keras_tensor(input_tensor):
                raise ArgumentTypeError(
                    f"InputLayer: received input_tensor={input_tensor!r}, expected a KerasTensor"
                )
            batch_shape = input_tensor.shape
            self.dtype = input_tensor.dtype
        self.batch_shape = _batch_shape(shape, batch_size, batch_shape)
        self.built = True
        if input_tensor is None:
            input_tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name)
        Node(self, (), {}, input_tensor)  # so that self.output is input_tensor

    def call(self, inputs):
        return inputs

    def get_config(self) -> dict:
        return {
            "batch_shape": self.batch_shape,
            "dtype": self.dtype.name,
            "sparse": self.sparse,
            "name": self.name,
        }


def _batch_shape(shape, batch_size, batch_shape) -> tuple:
    if shape is not None and batch_shape is not None:
        raise ArgumentError(
            f"Input: give shape or batch_shape, not both: received shape={shape!r} and "
            f"batch_shape={batch_shape!r}"
        )
    if batch_shape is not None:
        return _check_shape("Input", "batch_shape", batch_shape)
    if shape is None:
        raise ArgumentError("Input: needs shape= (the shape of one sample) or batch_shape=")
    shape = _check_shape("Input", "shape", shape)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
        raise ArgumentError(f"Input: received batch_size={batch_size!r}, expected a positive int")
    return (batch_size, *shape)


def Input(  # noqa: N802  (Keras's name for the function)
    shape=None,
    batch_size=None,
    dtype=None,
    sparse=None,
    batch_shape=None,
    name=None,
    tensor=None,
    optional=False,
) -> KerasTensor:
    """A symbolic input of a functional model: ``shape`` is one sample's shape (the batch
    size stays ``None`` unless ``batch_size`` or ``batch_shape`` fixes it).

    >>> import rillet as rl
    >>> inputs = rl.Input(shape=(4,))
    >>> outputs = rl.layers.Dense(1)(inputs)
    >>> rl.Model(inputs, outputs).output_shape
    (None, 1)
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        input_tensor=tensor,
        optional=optional,
        name=name,
    )
    return layer.output


# -- calling a layer on symbolic inputs -------------------------------------------------------


def call_symbolic(layer: Layer, inputs, args: tuple, kwargs: dict):
    """Record ``layer(inputs, *args, **kwargs)`` on KerasTensors; returns output KerasTensors.

    The layer is built from the input shapes first (weights are created outside any trace),
    then ``call`` is traced once on placeholders to find the outputs' shapes and dtypes.
    """
    call_args = (inputs, *args)
    ensure_built(layer, inputs, args, kwargs)
    specs = output_specs(layer, call_args, kwargs)
    outputs = map_structure(
        lambda spec: (
            None if spec is None else KerasTensor(spec.shape, spec.dtype, mask_shape=spec.mask)
        ),
        specs,
    )
    Node(layer, call_args, dict(kwargs), outputs)
    return outputs


def ensure_built(layer: Layer, inputs, args=(), kwargs=None) -> None:
    """Build ``layer`` (and any sublayer its ``call`` would build) from symbolic shapes."""
    if not layer.built:
        layer._build_for(inputs)
    if all(sub.built for sub in layer._flat_layers()):
        return
    # A sublayer builds lazily inside call (a subclassed model): run one eager call on a
    # dummy batch, so no weight is created while tracing.
    dummies = map_structure(_dummy, (inputs, args, kwargs or {}))
    layer(dummies[0], *dummies[1], **dummies[2])


def _dummy(value):
    from ..ops import zeros

    if not is_keras_tensor(value):
        return value
    return zeros(tuple(1 if s is None else s for s in value.shape), dtype=value.dtype)


def output_specs(layer: Layer, call_args: tuple, kwargs: dict):
    """The shape, dtype and mask shape of each output of ``layer``, by tracing its call with
    unknown sizes left unknown; if the layer cannot trace them, with two dummy sizes, and
    the sizes that differ between the two traces are unknown."""
    try:
        return _trace_specs(layer, call_args, kwargs, None)
    except (RilletError, TypeError, ValueError, IndexError):
        pass
    first = _trace_specs(layer, call_args, kwargs, 2)
    second = _trace_specs(layer, call_args, kwargs, 3)
    return _merge_specs(first, second)


class _Spec:
    """The shape, dtype and mask shape (or None) of one output."""

    __slots__ = ("shape", "dtype", "mask")

    def __init__(self, shape: tuple, dtype, mask):
        self.shape, self.dtype, self.mask = shape, dtype, mask


def _merge_specs(a, b):
    if isinstance(a, (list, tuple)):
        return type(a)(_merge_specs(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return {k: _merge_specs(a[k], b[k]) for k in a}
    if a is None:
        return None

    def merge(s, t):
        return None if s is None else tuple(x if x == y else None for x, y in zip(s, t))

    return _Spec(merge(a.shape, b.shape), a.dtype, merge(a.mask, b.mask))


def _trace_specs(layer: Layer, call_args: tuple, kwargs: dict, fill):
    from ..graph.ir import Graph
    from ..graph.trace import Tracer, tracing

    tracer = Tracer(Graph(f"{layer.name}_spec"))

    def placeholder(shape, dtype):
        shape = tuple(fill if s is None else s for s in shape) if fill else shape
        return tracer.traced(tracer.graph.add_placeholder(shape, dtype))

    def convert(value):
        if not is_keras_tensor(value):
            return value
        tensor = placeholder(value.shape, value.dtype)
        if value._mask_shape is not None:
            masking.attach(tensor, placeholder(value._mask_shape, _dtypes.bool_))
        return tensor

    saved = _save_losses(layer)
    try:
        with tracing(tracer):
            args, call_kwargs = map_structure(convert, (call_args, kwargs))
            outputs = layer(*args, **call_kwargs)
    finally:
        _restore_losses(saved)
    return map_structure(_spec, outputs)


def _spec(tensor):
    if tensor is None:
        return None
    mask = masking.get(tensor)
    return _Spec(tuple(tensor.shape), tensor.dtype, None if mask is None else tuple(mask.shape))


def _save_losses(layer: Layer) -> list:
    """The added losses of ``layer`` and its sublayers, so a trace leaves none behind."""
    return [
        (sub, list(sub._losses), sub.__dict__.get("_activity_loss")) for sub in layer._flat_layers()
    ]


def _restore_losses(saved: list) -> None:
    for sub, losses, activity in saved:
        sub._losses = losses
        if "_activity_loss" in sub.__dict__:
            sub._activity_loss = activity
