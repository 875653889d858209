"""The op library. Each family module declares its ops once and lists them in ``__all__``."""

import importlib

from .. import _lazy
from . import (
    activations,
    creation,
    elementwise,
    epilogue,
    linalg,
    nn,
    random,
    reduction,
    shapes,
    state,
)
from ._registry import REGISTRY, OpDef, Spec, defop, get_op
from .activations import *  # noqa: F403
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .linalg import *  # noqa: F403
from .nn import *  # noqa: F403
from .random import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shapes import *  # noqa: F403

# Every family, in the README's order. Those a dense model needs are imported above; the
# others (and the fused and pool-routing ops) on first use: ``rl.ops.conv2d``, an op name
# looked up in REGISTRY, or ``__all__``.
FAMILY_NAMES = (
    "creation", "elementwise", "activations", "reduction", "linalg", "shapes", "rearrange",
    "indexing", "gathers", "sorting", "nn", "pooling", "conv", "random", "control", "rnn",
)  # fmt: skip
_ON_FIRST_USE = ("rearrange", "indexing", "gathers", "sorting", "pooling", "conv", "control")
_ON_FIRST_USE += ("rnn", "fused", "pool_routing")


def families() -> tuple:
    """The op family modules, each listing its ops in ``__all__`` (imports them all)."""
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in FAMILY_NAMES)


def _load_all() -> None:
    for name in _ON_FIRST_USE:
        importlib.import_module(f"{__name__}.{name}")


REGISTRY.load_all = _load_all
__getattr__, __dir__ = _lazy.attach(
    __name__,
    submodules=_ON_FIRST_USE,
    sources=FAMILY_NAMES,
    public=(),  # rl.ops.__all__ lists the families' ops only
)


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
