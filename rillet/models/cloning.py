"""Copies of models: ``clone_model`` (same architecture, new weights) and models rebuilt
from their configuration (``model_from_config``, ``model_from_json``)."""

from __future__ import annotations

import json

from ..errors import ArgumentError, ArgumentTypeError
from .functional import Functional, deserialize_layer
from .sequential import Sequential
from .symbolic import Input, InputLayer, flatten, is_keras_tensor, map_structure


def _default_clone(layer):
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the architecture of ``model`` (a Sequential or functional model)
    and freshly initialized weights. ``clone_function(layer)`` makes each new layer (by
    default from the layer's config); ``input_tensors`` replace the model's inputs."""
    clone_function = clone_function or _default_clone
    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone_function)
    if isinstance(model, Functional):
        return _clone_functional(model, input_tensors, clone_function)
    raise ArgumentTypeError(
        "clone_model: expected a Sequential or functional model; a subclassed model cannot "
        f"be cloned from its graph, received {type(model).__name__}"
    )


def _clone_sequential(model, input_tensors, clone_function):
    layers = [clone_function(layer) for layer in model.layers]
    first = model._layers[0] if model._layers else None
    if input_tensors is not None:
        tensors = flatten(input_tensors)
        if len(tensors) != 1 or not is_keras_tensor(tensors[0]):
            raise ArgumentError("clone_model: a Sequential model takes one input tensor")
        layers = [tensors[0], *layers]
    elif isinstance(first, InputLayer):
        layers = [Input(batch_shape=first.batch_shape, dtype=first.dtype, name=first.name), *layers]
    return Sequential(layers, trainable=model.trainable, name=model.name)


def _clone_functional(model, input_tensors, clone_function):
    if input_tensors is None:
        new_inputs = [
            Input(batch_shape=t.shape, dtype=t.dtype, name=t._keras_history.operation.name)
            for t in model.inputs
        ]
    else:
        new_inputs = flatten(input_tensors)
        if len(new_inputs) != len(model.inputs):
            raise ArgumentError(
                f"clone_model: the model has {len(model.inputs)} inputs, received "
                f"{len(new_inputs)} input tensors"
            )
    values = {id(old): new for old, new in zip(model.inputs, new_inputs)}
    clones: dict = {}
    for node in model._nodes:
        layer = clones.get(id(node.layer))
        if layer is None:
            layer = clones[id(node.layer)] = clone_function(node.layer)
        args, kwargs = map_structure(
            lambda v: values[id(v)] if is_keras_tensor(v) else v, (node.call_args, node.call_kwargs)
        )
        outputs = layer(*args, **kwargs)
        for old, new in zip(flatten(node.outputs), flatten(outputs)):
            if is_keras_tensor(old):
                values[id(old)] = new
    inputs = map_structure(lambda t: values[id(t)], model._inputs_struct)
    outputs = map_structure(lambda t: values[id(t)], model._outputs_struct)
    return Functional(inputs, outputs, name=model.name, trainable=model.trainable)


def model_from_config(config: dict, custom_objects=None):
    """The model (or layer) described by a ``serialize_layer``-style config."""
    if not isinstance(config, dict):
        raise ArgumentTypeError(f"model_from_config: expected a dict, received {config!r}")
    return deserialize_layer(config, custom_objects)


def model_from_json(json_string: str, custom_objects=None):
    """The model described by ``model.to_json()``."""
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as error:
        raise ArgumentError(f"model_from_json: not valid JSON ({error})") from None
    return model_from_config(config, custom_objects)
