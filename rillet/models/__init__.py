"""Models (``keras.models``): ``Model`` (functional or subclassed), ``Sequential``, the
symbolic ``Input``, and cloning/rebuilding models from their configuration.

>>> import rillet as rl
>>> inputs = rl.Input(shape=(3,))
>>> model = rl.models.Model(inputs, rl.layers.Dense(2)(inputs))
>>> clone = rl.models.clone_model(model)
>>> clone.output_shape, clone.count_params()
((None, 2), 8)
"""

from ..saving import load_model
from .cloning import clone_model, model_from_config, model_from_json
from .functional import Functional, deserialize_layer, serialize_layer
from .model import Model
from .sequential import Sequential
from .symbolic import Input, InputLayer, KerasTensor

__all__ = [
    "Model", "Sequential", "Functional", "Input", "InputLayer", "KerasTensor",
    "clone_model", "model_from_config", "model_from_json", "serialize_layer",
    "deserialize_layer", "load_model",
]  # fmt: skip
