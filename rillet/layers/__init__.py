"""Keras-style layers. Each module lists its layers in ``__all__``."""

from . import core, masking, merging, preprocessing, regularization
from .core import *  # noqa: F403
from .layer import Layer, clear_session
from .merging import *  # noqa: F403
from .preprocessing import *  # noqa: F403
from .regularization import *  # noqa: F403

__all__ = ["Layer", "clear_session", "masking"]
__all__ += core.__all__ + merging.__all__ + preprocessing.__all__ + regularization.__all__
