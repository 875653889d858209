"""Keras-style layers. Each module lists its layers in ``__all__``.

``Layer`` and the core layers (Dense, Embedding, Flatten, ...) are imported with the package;
the other modules on first use (``rl.layers.Conv2D`` imports ``convolutional``).
"""

from .. import _lazy
from . import core, masking
from .core import *  # noqa: F403
from .layer import Layer, clear_session

_MODULES = (
    "core", "merging", "preprocessing", "regularization", "convolutional", "normalization",
    "pooling", "reshaping", "rnn", "attention", "wrappers", "activation", "noise",
)  # fmt: skip
__getattr__, __dir__ = _lazy.attach(
    __name__,
    submodules=_MODULES,
    sources=_MODULES,
    public=("Layer", "clear_session", "masking", "Input", "InputLayer"),
)

# Keras also offers the model inputs here (rl.layers.Input); they live with the models.
from ..models.symbolic import Input, InputLayer  # noqa: E402
