"""Keras-style layers. Each module lists its layers in ``__all__``."""

from . import (
    activation,
    attention,
    convolutional,
    core,
    masking,
    merging,
    noise,
    normalization,
    pooling,
    preprocessing,
    regularization,
    reshaping,
    rnn,
    wrappers,
)
from .activation import *  # noqa: F403
from .attention import *  # noqa: F403
from .convolutional import *  # noqa: F403
from .core import *  # noqa: F403
from .layer import Layer, clear_session
from .merging import *  # noqa: F403
from .noise import *  # noqa: F403
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .preprocessing import *  # noqa: F403
from .regularization import *  # noqa: F403
from .reshaping import *  # noqa: F403
from .rnn import *  # noqa: F403
from .wrappers import *  # noqa: F403

__all__ = ["Layer", "clear_session", "masking"]
__all__ += core.__all__ + merging.__all__ + preprocessing.__all__ + regularization.__all__
__all__ += convolutional.__all__ + normalization.__all__ + pooling.__all__ + reshaping.__all__
__all__ += rnn.__all__ + attention.__all__ + wrappers.__all__
__all__ += activation.__all__ + noise.__all__

# Keras also offers the model inputs here (rl.layers.Input); they live with the models.
from ..models.symbolic import Input, InputLayer  # noqa: E402

__all__ += ["Input", "InputLayer"]
