"""Functional models: ``rl.Model(inputs, outputs)`` over a graph of layer calls.

>>> import rillet as rl
>>> a, b = rl.Input(shape=(3,), name="a"), rl.Input(shape=(2,), name="b")
>>> merged = rl.layers.Concatenate()([a, b])
>>> model = rl.Model([a, b], rl.layers.Dense(1, name="score")(merged))
>>> model([rl.ones((4, 3)), rl.ones((4, 2))]).shape, model.output_names
((4, 1), ['score'])

The graph runs layer by layer in topological order; layers may be shared (called on several
inputs) and models may be nested (a model is a layer). ``get_config`` describes the layers
and their connections in Keras's format, and ``from_config`` rebuilds the same graph.
"""

from __future__ import annotations

import inspect

from .. import layers as _layers
from .. import ops
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..layers import masking
from ..layers.layer import Layer, unique_name
from ..tensor import Tensor, asarray
from .model import Model
from .symbolic import (
    Input,
    InputLayer,
    KerasHistory,
    KerasTensor,
    Node,
    call_symbolic,
    flatten,
    inbound_nodes,
    is_keras_tensor,
    map_structure,
)
from .trainer import Trainer

__all__ = [
    "Functional", "Input", "InputLayer", "KerasTensor", "KerasHistory", "Node",
    "call_symbolic", "serialize_layer", "deserialize_layer",
]  # fmt: skip


def _unwrap_single(structure):
    if isinstance(structure, (list, tuple)) and len(structure) == 1:
        return structure[0]
    return structure


def _check_tensors(who: str, what: str, structure) -> None:
    if isinstance(structure, dict):
        bad = [k for k in structure if not isinstance(k, str)]
        if bad:
            raise ArgumentTypeError(f"{who}: the keys of `{what}` must be strings, got {bad}")
    leaves = flatten(structure)
    if not leaves:
        raise ArgumentError(f"{who}: received empty {what}")
    for leaf in leaves:
        if not is_keras_tensor(leaf) or not hasattr(leaf, "_keras_history"):
            raise ArgumentTypeError(
                f"{who}: all {what} must be symbolic tensors (from rl.Input() and layers "
                f"called on them), received {leaf!r}"
            )


class Functional(Model):
    """A model defined by its symbolic ``inputs`` and ``outputs`` (see the module doc)."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable, **kwargs)
        Trainer.__init__(self)
        inputs, outputs = _unwrap_single(inputs), _unwrap_single(outputs)
        _check_tensors("Model", "inputs", inputs)
        _check_tensors("Model", "outputs", outputs)
        for tensor in flatten(inputs):
            if not isinstance(tensor._keras_history.operation, InputLayer):
                raise ArgumentError(
                    f"Model: every input must come from rl.Input(); {tensor} was made by layer "
                    f"'{tensor._keras_history.operation.name}'"
                )
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        self._nodes = _topological_nodes(self.inputs, self.outputs, self.name)
        layers = [t._keras_history.operation for t in self.inputs]
        for node in self._nodes:
            if not any(node.layer is known for known in layers):
                layers.append(node.layer)
        self._tracked["layers"] = layers
        self.built = True

    # -- structure ----------------------------------------------------------------------

    @property
    def layers(self) -> list:
        return list(self._tracked["layers"])

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        return map_structure(lambda t: t.shape, self._inputs_struct)

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self._outputs_struct)

    @property
    def input_names(self) -> list[str]:
        return [t._keras_history.operation.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct)
        return [t._keras_history.operation.name for t in self.outputs]

    # -- running ------------------------------------------------------------------------

    def _autocast(self, inputs):
        return inputs  # each input is converted to its own Input's dtype in call()

    def call(self, inputs, training=None, mask=None):
        values = {}
        flat = self._flat_call_inputs(inputs)
        masks = [None] * len(flat) if mask is None else self._flat_call_inputs(mask)
        for i, (tensor, value, m) in enumerate(zip(self.inputs, flat, masks)):
            values[id(tensor)] = self._conform(i, tensor, value, m)
        for node in self._nodes:
            args, kwargs = map_structure(
                lambda v: values[id(v)] if is_keras_tensor(v) else v,
                (node.call_args, node.call_kwargs),
            )
            outputs = node.layer(*args, **kwargs)
            for symbolic, value in zip(flatten(node.outputs), flatten(outputs)):
                if is_keras_tensor(symbolic):
                    values[id(symbolic)] = value
        return map_structure(lambda t: values[id(t)], self._outputs_struct)

    def _flat_call_inputs(self, inputs) -> list:
        struct, count = self._inputs_struct, len(self.inputs)
        if isinstance(inputs, dict):
            keys = list(struct) if isinstance(struct, dict) else self.input_names
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ArgumentError(
                    f"Model '{self.name}': missing inputs {missing}; the model's inputs are "
                    f"{keys}, received the keys {list(inputs)}"
                )
            return [inputs[k] for k in keys]
        if isinstance(inputs, (list, tuple)) and count > 1:
            if len(inputs) != count:
                raise ArgumentError(
                    f"Model '{self.name}' expects {count} inputs, but it received "
                    f"{len(inputs)} input tensors"
                )
            return list(inputs)
        if count > 1:
            raise ArgumentError(
                f"Model '{self.name}' expects {count} inputs {self.input_names}, but it received "
                "one tensor; pass a list or a dict"
            )
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            return [inputs[0]]
        return [inputs]

    def _conform(self, index: int, symbolic: KerasTensor, value, mask):
        """``value`` as a tensor of the input's dtype and rank, or a ShapeError."""
        mask = masking.get(value) if mask is None else mask
        tensor = value if isinstance(value, Tensor) else asarray(value)
        expected, shape = symbolic.shape, tuple(tensor.shape)
        if len(shape) == len(expected) + 1 and shape[-1] == 1:
            tensor = ops.squeeze(tensor, axis=-1)
        elif len(shape) + 1 == len(expected) and expected[-1] == 1:
            tensor = ops.expand_dims(tensor, axis=-1)
        shape = tuple(tensor.shape)
        if len(shape) != len(expected) or any(
            e is not None and s is not None and e != s for e, s in zip(expected, shape)
        ):
            raise ShapeError(
                f"Input {index} of layer '{self.name}' is incompatible with the layer: "
                f"expected shape={expected}, found shape={tuple(value.shape)}"
            )
        if tensor.dtype != symbolic.dtype:
            tensor = ops.cast(tensor, dtype=symbolic.dtype)
        if mask is not None:
            masking.attach(tensor, mask)
        return tensor

    # -- configuration ------------------------------------------------------------------

    def get_config(self) -> dict:
        index = _node_indices(self)
        layers = []
        for layer in self.layers:
            entry = serialize_layer(layer)
            entry["name"] = layer.name
            nodes = [n for n in inbound_nodes(layer) if id(n) in index and n.call_args]
            entry["inbound_nodes"] = [_serialize_node(n, index) for n in nodes]
            layers.append(entry)

        def history(tensor):
            layer, node_index, tensor_index = tensor._keras_history
            node = inbound_nodes(layer)[node_index]
            return [layer.name, index.get(id(node), 0), tensor_index]

        def structure(value):
            if is_keras_tensor(value):
                return [history(value)]
            return map_structure(history, value)

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": structure(self._inputs_struct),
            "output_layers": structure(self._outputs_struct),
        }


# -- the graph ------------------------------------------------------------------------------


def _topological_nodes(inputs: list, outputs: list, who: str) -> list:
    """The nodes between ``inputs`` and ``outputs``, each after the nodes it depends on."""
    input_ids = {id(t) for t in inputs}
    order, done, on_path = [], set(), set()
    stack = [(t, False) for t in reversed(outputs)]
    while stack:
        tensor, expanded = stack.pop()
        if id(tensor) in input_ids:
            continue
        layer, node_index, _ = tensor._keras_history
        node = inbound_nodes(layer)[node_index]
        if expanded:
            on_path.discard(id(node))
            if id(node) not in done:
                done.add(id(node))
                order.append(node)
            continue
        if id(node) in done:
            continue
        if isinstance(layer, InputLayer):
            names = [t._keras_history.operation.name for t in inputs]
            raise ArgumentError(
                f"Model '{who}': graph disconnected: cannot obtain the value of {tensor} "
                f"(the input '{layer.name}'), which is not among the model's inputs {names}"
            )
        on_path.add(id(node))
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(node.input_tensors) if id(t) not in input_ids)
    return _by_depth(order, input_ids)


def _by_depth(order: list, input_ids: set) -> list:
    """``order`` (topological) stably sorted by distance from the inputs, as Keras lists
    layers: a node's parents always come before it."""
    depth: dict[int, int] = {}
    for node in order:
        parents = [inbound_nodes(t._keras_history.operation)[t._keras_history.node_index]
                   for t in node.input_tensors if id(t) not in input_ids]  # fmt: skip
        depth[id(node)] = 1 + max((depth[id(p)] for p in parents), default=0)
    return sorted(order, key=lambda node: depth[id(node)])


def _node_indices(model: Functional) -> dict:
    """``id(node) -> index`` among the nodes of each layer that belong to ``model``."""
    members = {id(n) for n in model._nodes}
    members |= {id(inbound_nodes(t._keras_history.operation)[0]) for t in model.inputs}
    index = {}
    for layer in model.layers:
        position = 0
        for node in inbound_nodes(layer):
            if id(node) in members:
                index[id(node)] = position
                position += 1
    return index


def _serialize_node(node: Node, index: dict) -> dict:
    def tensor_config(value):
        if not is_keras_tensor(value):
            return _plain(value)
        layer, node_index, tensor_index = value._keras_history
        parent = inbound_nodes(layer)[node_index]
        return {
            "class_name": "__keras_tensor__",
            "config": {
                "shape": list(value.shape),
                "dtype": value.dtype.name,
                "keras_history": [layer.name, index.get(id(parent), 0), tensor_index],
            },
        }

    return {
        "args": [map_structure(tensor_config, a) for a in node.call_args],
        "kwargs": {k: map_structure(tensor_config, v) for k, v in node.call_kwargs.items()},
    }


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ArgumentTypeError(
        f"get_config: a layer was called with the argument {value!r}, which cannot be written "
        "to a config (only tensors, numbers, strings, booleans and None can)"
    )


def rebuild_graph(config: dict, custom_objects=None):
    """The input and output KerasTensors of the graph described by a functional config."""
    created, pending, tensors, counts = {}, {}, {}, {}
    for entry in config["layers"]:
        layer = deserialize_layer(entry, custom_objects)
        name = entry.get("name", layer.name)
        created[name] = layer
        if isinstance(layer, InputLayer):
            tensors[(name, 0, 0)] = layer.output
            counts[name] = 1
        else:
            pending[name] = list(entry.get("inbound_nodes", []))
            counts[name] = 0
    while any(pending.values()):
        progress = False
        for entry in config["layers"]:
            name = entry.get("name")
            while pending.get(name):
                node = pending[name][0]
                resolved = _resolve_node(node, tensors)
                if resolved is None:
                    break
                args, kwargs = resolved
                outputs = created[name](*args, **kwargs)
                for i, tensor in enumerate(t for t in flatten(outputs) if is_keras_tensor(t)):
                    tensors[(name, counts[name], i)] = tensor
                counts[name] += 1
                pending[name].pop(0)
                progress = True
        if not progress:
            stuck = sorted(name for name, nodes in pending.items() if nodes)
            raise ArgumentError(
                f"from_config: cannot connect the layers {stuck}: an input is missing"
            )

    def lookup(value):
        if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
            key = tuple(value)
            if key not in tensors:
                raise ArgumentError(f"from_config: no tensor {value} in the config's graph")
            return tensors[key]
        if isinstance(value, dict):
            return {k: lookup(v) for k, v in value.items()}
        return [lookup(v) for v in value]

    return (
        _unwrap_single(lookup(config["input_layers"])),
        _unwrap_single(lookup(config["output_layers"])),
    )


def _resolve_node(node: dict, tensors: dict):
    """The call arguments of a serialized node, or None if an input is not made yet."""
    missing = []

    def resolve(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            key = tuple(value["config"]["keras_history"])
            if key not in tensors:
                missing.append(key)
                return None
            return tensors[key]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    args = [resolve(a) for a in node.get("args", [])]
    kwargs = {k: resolve(v) for k, v in node.get("kwargs", {}).items()}
    return None if missing else (args, kwargs)


# -- layer (de)serialization ----------------------------------------------------------------


def serialize_layer(layer: Layer) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` for ``layer``."""
    cls = type(layer)
    known = _layer_classes().get(cls.__name__) is cls
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": layer.get_config(),
        "registered_name": None if known else cls.__name__,
    }


def _layer_classes() -> dict:
    from .sequential import Sequential

    classes = {
        name: obj
        for name in _layers.__all__
        if isinstance(obj := getattr(_layers, name), type) and issubclass(obj, Layer)
    }
    classes.update(
        Layer=Layer, InputLayer=InputLayer, Model=Model, Functional=Functional,
        Sequential=Sequential, OperatorLayer=OperatorLayer,
    )  # fmt: skip
    return classes


def deserialize_layer(config: dict, custom_objects=None) -> Layer:
    """The layer described by ``config`` (from :func:`serialize_layer`): classes are looked
    up by name among rillet's layers and ``custom_objects``; nothing is imported."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ArgumentTypeError(f"deserialize_layer: expected a layer config dict, got {config!r}")
    name = config["class_name"]
    custom = dict(custom_objects or {})
    cls = custom.get(config.get("registered_name") or name) or custom.get(name)
    cls = cls or _layer_classes().get(name)
    if cls is None:
        raise ArgumentError(
            f"Unknown layer: '{name}'. Pass its class in custom_objects={{'{name}': {name}}}"
        )
    layer_config = dict(config.get("config") or {})
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(layer_config, custom_objects=custom_objects)
    return cls.from_config(layer_config)


# -- operators on KerasTensors --------------------------------------------------------------


class OperatorLayer(Layer):
    """An operator (``x + y``, ``2 * x``, ``-x``) applied to KerasTensors, as a layer.

    ``constant`` is the other operand when it is a number; ``reverse`` puts it first.
    """

    OPS = ("add", "subtract", "multiply", "divide", "power", "matmul", "negative")

    def __init__(self, op: str, constant=None, reverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        if op not in self.OPS:
            raise ArgumentError(f"OperatorLayer: received op={op!r}, expected one of {self.OPS}")
        self.op, self.constant, self.reverse = op, constant, bool(reverse)
        self.supports_masking = True

    def call(self, inputs):
        fn = getattr(ops, self.op)
        if self.op == "negative":
            return fn(inputs)
        if self.constant is None:
            return fn(inputs[0], inputs[1])
        return fn(self.constant, inputs) if self.reverse else fn(inputs, self.constant)

    def compute_mask(self, inputs, mask=None):
        """A binary op's output is masked where both operands are (as the merge layers)."""
        if not isinstance(mask, (list, tuple)):
            return mask
        if any(m is None for m in mask):
            return None
        return ops.logical_or(mask[0], mask[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "op": self.op, "constant": self.constant,
                "reverse": self.reverse}  # fmt: skip


def _operator(op: str, reverse: bool = False):
    def method(self, other=None):
        if op == "negative":
            return OperatorLayer(op)(self)
        if is_keras_tensor(other):
            pair = [other, self] if reverse else [self, other]
            return OperatorLayer(op)(pair)
        if isinstance(other, (bool, int, float)):
            return OperatorLayer(op, constant=other, reverse=reverse)(self)
        return NotImplemented

    return method


for _name, _op in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                   ("truediv", "divide"), ("pow", "power"), ("matmul", "matmul")):  # fmt: skip
    setattr(KerasTensor, f"__{_name}__", _operator(_op))
    setattr(KerasTensor, f"__r{_name}__", _operator(_op, reverse=True))
KerasTensor.__neg__ = _operator("negative")
