"""The Keras layer lifecycle: ``__init__`` / ``build`` / ``call`` / ``get_config``.

A layer creates its weights in ``build(input_shape)``, run once, on the first call, from the
shape of the first input it sees. ``__call__`` builds when needed, passes ``training`` and
``mask`` on to ``call`` when its signature takes them (``training`` is inherited from the
enclosing layer's call when not given), and propagates masks of layers that support masking.
Calling a layer on a symbolic ``rl.Input`` builds a functional model instead of computing.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..graph.trace import init_scope
from ..ops.shapes import cast
from ..tensor import Tensor, asarray
from ..variable import Variable
from . import masking

_NAME_COUNTS: defaultdict[str, int] = defaultdict(int)


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``, ... as Keras names layers."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset the layer name counters (as ``keras.backend.clear_session``)."""
    _NAME_COUNTS.clear()


def _snake_case(name: str) -> str:
    """Keras's layer-name rule: ``Conv2D -> conv2d``, ``MaxPooling2D -> max_pooling2d``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class _CallContext(threading.local):
    def __init__(self):
        self.training = None  # the training flag of the outermost layer call in progress
        self.depth = 0  # how many layer calls are in progress (0: this call is outermost)


_CALL = _CallContext()

_AGGREGATIONS = ("none", "mean", "sum", "only_first_replica")
_BASE_ARGS = ("trainable", "name", "dtype", "input_shape", "batch_input_shape", "input_dim")


class Layer:
    """Base class of every layer.

    >>> import rillet as rl
    >>> class Scale(rl.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
    ...     def call(self, x):
    ...         return x * self.w
    >>> layer = Scale()
    >>> layer(rl.ones((2, 3))).shape, [w.shape for w in layer.weights]
    ((2, 3), [(3,)])
    """

    def __init__(self, *, trainable: bool = True, name: str | None = None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(_BASE_ARGS)
        if unknown:
            raise ArgumentTypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(unknown)}"
            )
        object.__setattr__(self, "_tracked", {"layers": [], "trainable": [], "untrainable": []})
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.float32
        self.built = False
        self.supports_masking = False
        self._losses: list = []
        shape = kwargs.get("batch_input_shape")
        if shape is None and kwargs.get("input_shape") is not None:
            shape = (None, *kwargs["input_shape"])
        if shape is None and kwargs.get("input_dim") is not None:
            shape = (None, kwargs["input_dim"])
        self._batch_input_shape = None if shape is None else tuple(shape)

    # -- tracking -------------------------------------------------------------------------

    def __setattr__(self, name: str, value) -> None:
        tracked = self.__dict__.get("_tracked")
        if tracked is not None and not name.startswith("_tracked"):
            for layer in _layers_in(value):
                if layer is not self and not any(layer is t for t in tracked["layers"]):
                    tracked["layers"].append(layer)
        object.__setattr__(self, name, value)

    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable: bool = True,
        regularizer=None,
        constraint=None,
        name: str | None = None,
        autocast: bool = True,
        aggregation: str = "none",
    ) -> Variable:
        """Create, track and return a weight (an ``rl.Variable``). ``autocast`` and
        ``aggregation`` (``"none"``, ``"mean"``, ``"sum"``, ``"only_first_replica"``) are
        Keras's and are kept on the variable; rillet runs on one device and has no mixed
        precision policies yet, so neither changes what a layer computes."""
        from .. import constraints, initializers, regularizers

        if aggregation not in _AGGREGATIONS:
            raise ArgumentError(
                f"add_weight: received aggregation={aggregation!r}, expected one of "
                f"{', '.join(map(repr, _AGGREGATIONS))}"
            )
        shape = () if shape is None else tuple(int(s) for s in shape)
        dtype = self.dtype if dtype is None else _dtypes.as_dtype(dtype)
        if initializer is None:
            initializer = "glorot_uniform" if _dtypes.is_floating(dtype) else "zeros"
        with init_scope():  # initial values are computed now, even inside rl.function
            value = initializers.get(initializer)(shape, dtype=dtype)
            variable = Variable(value, trainable=trainable, dtype=dtype, name=name or "variable")
        variable.path = f"{self.name}/{variable.name}"  # Keras: name "kernel", path "dense/kernel"
        variable.regularizer = regularizers.get(regularizer)
        variable.constraint = constraints.get(constraint)
        variable.autocast, variable.aggregation = bool(autocast), aggregation
        self._tracked["trainable" if trainable else "untrainable"].append(variable)
        return variable

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in (Keras's ``compute_dtype``): its ``dtype``."""
        return self.dtype.name

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights (Keras's ``variable_dtype``): its ``dtype``."""
        return self.dtype.name

    @property
    def layers(self) -> list:
        return list(self._tracked["layers"])

    def _flat_layers(self) -> list:
        found = [self]
        for layer in self._tracked["layers"]:
            found += [x for x in layer._flat_layers() if not any(x is f for f in found)]
        return found

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        weights = list(self._tracked["trainable"])
        for layer in self._tracked["layers"]:
            weights += [w for w in layer.trainable_weights if not any(w is x for x in weights)]
        return weights

    @property
    def non_trainable_weights(self) -> list:
        frozen = [] if self.trainable else self._tracked["trainable"]
        own = self._tracked["untrainable"] + frozen
        weights = list(own)
        for layer in self._tracked["layers"]:
            extra = layer.non_trainable_weights + (
                [] if self.trainable else layer.trainable_weights
            )
            weights += [w for w in extra if not any(w is x for x in weights)]
        return weights

    @property
    def weights(self) -> list:
        return self.trainable_weights + self.non_trainable_weights

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set the weights from a list of arrays, in the order of ``self.weights``."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ArgumentError(
                f"layer '{self.name}' has {len(mine)} weights, got {len(weights)} values"
            )
        for variable, value in zip(mine, weights):
            if tuple(np.shape(value)) != variable.shape:
                raise ShapeError(
                    f"layer '{self.name}': weight '{variable.name}' has shape {variable.shape}, "
                    f"got a value of shape {tuple(np.shape(value))}"
                )
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # -- losses ---------------------------------------------------------------------------

    def add_loss(self, loss) -> None:
        """Add a loss tensor (a regularization term) to this layer's ``losses``."""
        self._losses.append(loss)

    @property
    def losses(self) -> list:
        """Regularization losses of this layer's and its sublayers' weights, and added losses."""
        found = []
        for layer in self._flat_layers():
            found += layer._losses
            for w in layer._tracked["trainable"] + layer._tracked["untrainable"]:
                if getattr(w, "regularizer", None) is not None:
                    found.append(w.regularizer(w))
        return found

    # -- the lifecycle --------------------------------------------------------------------

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def __call__(self, inputs, *args, **kwargs):
        if _is_symbolic(inputs):
            from ..models.functional import call_symbolic

            return call_symbolic(self, inputs, args, kwargs)
        inputs = self._autocast(_as_tensors(inputs))
        if not self.built:
            self._build_for(inputs)
        if _CALL.depth == 0:
            self._clear_call_losses()
        input_mask = kwargs.get("mask")
        if input_mask is None:
            input_mask = _map_structure(masking.get, inputs)
            if not any(m is not None for m in _flatten(input_mask)):
                input_mask = None
        training = kwargs.get("training")
        kwargs = self._call_kwargs(kwargs, input_mask)
        outer = _CALL.training
        if training is not None:  # reaches sublayers even when this call() has no `training`
            _CALL.training = training
        _CALL.depth += 1
        try:
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            _CALL.training = outer
            _CALL.depth -= 1
        masking.attach(outputs, self.compute_mask(inputs, input_mask))
        return outputs

    def _autocast(self, inputs):
        """Floating inputs are computed in the layer's dtype (as Keras's autocast)."""
        dtype = self.dtype

        def convert(t):
            if isinstance(t, Tensor) and _dtypes.is_floating(t.dtype) and t.dtype != dtype:
                converted = cast(t, dtype=dtype)
                masking.attach(converted, masking.get(t))  # the mask stays with the value
                return converted
            return t

        return _map_structure(convert, inputs)

    def _clear_call_losses(self) -> None:
        """Losses added during a call (activity regularization) last until the next call."""
        for layer in self._flat_layers():
            layer._losses.clear()

    def _build_for(self, inputs) -> None:
        shapes = _map_structure(lambda t: tuple(t.shape), inputs)
        self.build(shapes)
        self.built = True

    def _call_kwargs(self, kwargs: dict, input_mask) -> dict:
        params = _call_parameters(type(self))
        if "training" in params and kwargs.get("training") is None:
            kwargs["training"] = _CALL.training
        elif "training" not in params:
            kwargs.pop("training", None)
        if "mask" in params:
            kwargs["mask"] = input_mask
        else:
            kwargs.pop("mask", None)
        return kwargs

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs: by default the input mask passes through when the layer
        supports masking, and is dropped otherwise."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Output shape(s) for ``input_shape``, found by tracing ``call`` on a dummy batch."""
        from ..graph.ir import Graph
        from ..graph.trace import Tracer, tracing

        tracer = Tracer(Graph("shape"))

        def placeholder(shape):
            concrete = tuple(2 if s is None else s for s in shape)
            return tracer.traced(tracer.graph.add_placeholder(concrete, self.dtype))

        with tracing(tracer):
            outputs = self(_map_shapes(placeholder, input_shape))
        return _map_structure(lambda t: _batch_unknown(tuple(t.shape), input_shape), outputs)

    # -- symbolic use ---------------------------------------------------------------------

    @property
    def input(self):
        """The KerasTensor(s) this layer was first called on symbolically (Keras's
        ``layer.input``, for building feature-extraction models)."""
        node = self._first_node("input")
        return node.call_args[0] if node.call_args else node.outputs  # an InputLayer: itself

    @property
    def output(self):
        """The KerasTensor(s) of this layer's first symbolic call."""
        return self._first_node("output").outputs

    def _first_node(self, what: str):
        from ..models.symbolic import inbound_nodes

        nodes = inbound_nodes(self)
        if not nodes:
            raise AttributeError(
                f"layer '{self.name}' has never been called on a symbolic input (rl.Input), "
                f"so it has no {what}"
            )
        return nodes[0]

    # -- configuration --------------------------------------------------------------------

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = self._batch_input_shape
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _call_parameters(cls) -> frozenset:
    cached = cls.__dict__.get("_call_parameter_cache")
    if cached is None:
        cached = frozenset(inspect.signature(cls.call).parameters)
        cls._call_parameter_cache = cached
    return cached


def _layers_in(value) -> list:
    if isinstance(value, Layer):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Layer)]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, Layer)]
    return []


def _is_symbolic(value) -> bool:
    return any(hasattr(v, "_keras_history") for v in _flatten(value))


def _flatten(value) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    return [value]


def _map_structure(fn, value):
    if isinstance(value, (list, tuple)):
        return type(value)(_map_structure(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _map_structure(fn, v) for k, v in value.items()}
    return None if value is None else fn(value)


def _map_shapes(fn, shape):
    """Apply ``fn`` to each shape in a (nested) structure of shapes (tuples of ints/None)."""
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return type(shape)(_map_shapes(fn, s) for s in shape)
    return fn(tuple(shape))


def _batch_unknown(shape: tuple, input_shape) -> tuple:
    first = input_shape
    while isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple)):
        first = first[0]
    if first and first[0] is None and shape:
        return (None,) + shape[1:]
    return shape


def _as_tensors(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_as_tensors(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_tensors(v) for k, v in value.items()}
    if value is None or isinstance(value, Tensor) or hasattr(value, "_rillet_read"):
        return value
    return asarray(value)
