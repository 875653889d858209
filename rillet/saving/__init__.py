"""Saving (``keras.saving``): whole-model files (``save_model``/``load_model``, the
``.rillet`` zip of JSON and safetensors) and the registry of custom objects.

>>> import rillet as rl
>>> sorted(n for n in rl.saving.__all__ if n.endswith("model"))
['load_model', 'save_model']
"""

from .model_file import ModelFileError, load_model, save_model
from .object_registration import (
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)

__all__ = [
    "save_model", "load_model", "ModelFileError", "register_keras_serializable",
    "get_custom_objects", "get_registered_name", "get_registered_object",
]  # fmt: skip
