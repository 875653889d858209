"""The op library. Each family module declares its ops once and lists them in ``__all__``."""

from . import (
    activations,
    control,
    conv,
    creation,
    elementwise,
    epilogue,
    fused,
    gathers,
    indexing,
    linalg,
    nn,
    pool_routing,
    pooling,
    random,
    rearrange,
    reduction,
    rnn,
    shapes,
    sorting,
    state,
)
from ._registry import REGISTRY, OpDef, Spec, defop, get_op
from .activations import *  # noqa: F403
from .control import *  # noqa: F403
from .conv import *  # noqa: F403
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .gathers import *  # noqa: F403
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .nn import *  # noqa: F403
from .pooling import *  # noqa: F403
from .random import *  # noqa: F403
from .rearrange import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shapes import *  # noqa: F403
from .sorting import *  # noqa: F403

FAMILIES = (
    creation,
    elementwise,
    activations,
    reduction,
    linalg,
    shapes,
    rearrange,
    indexing,
    gathers,
    sorting,
    nn,
    pooling,
    conv,
    random,
    control,
    rnn,
)
__all__ = [name for family in FAMILIES for name in family.__all__]


def shape(x) -> tuple:
    """The static shape of ``x`` as a tuple (Keras's ``keras.ops.shape``; ``None`` for a size
    unknown while tracing)."""
    return tuple(x.shape)


def convert_to_tensor(x, dtype=None):
    """``x`` as a tensor (Keras's ``keras.ops.convert_to_tensor``)."""
    from ..tensor import asarray

    return asarray(x, dtype=dtype)


def convert_to_numpy(x):
    """``x`` as a NumPy array (Keras's ``keras.ops.convert_to_numpy``)."""
    import numpy as np

    return np.asarray(x)
