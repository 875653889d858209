"""Models (``keras.models``): ``Model`` (functional or subclassed), ``Sequential``, the
symbolic ``Input``, and cloning/rebuilding models from their configuration.

>>> import rillet as rl
>>> inputs = rl.Input(shape=(3,))
>>> model = rl.models.Model(inputs, rl.layers.Dense(2)(inputs))
>>> clone = rl.models.clone_model(model)
>>> clone.output_shape, clone.count_params()
((None, 2), 8)
"""

from .. import _lazy
from .functional import Functional, deserialize_layer, serialize_layer
from .model import Model
from .sequential import Sequential
from .symbolic import Input, InputLayer, KerasTensor

__all__ = [
    "Model", "Sequential", "Functional", "Input", "InputLayer", "KerasTensor",
    "clone_model", "model_from_config", "model_from_json", "serialize_layer",
    "deserialize_layer", "load_model",
]  # fmt: skip

# Cloning and loading (zipfile, json, the saving package) are imported on first use.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    submodules=("cloning", "compile_utils", "saving", "summary"),
    names={
        "clone_model": ".cloning",
        "model_from_config": ".cloning",
        "model_from_json": ".cloning",
        "load_model": "..saving",
    },  # fmt: skip
    public=__all__,
)
del __all__  # read through __getattr__: the names above are not attributes yet
