"""rillet: tensors, ops, automatic differentiation, graphs and Keras-style models.

>>> import rillet as rl
>>> x = rl.asarray([1.0, 2.0, 3.0])
>>> with rl.GradientTape() as tape:
...     tape.watch(x)
...     y = rl.sum(x * x)
>>> tape.gradient(y, x).numpy().tolist()
[2.0, 4.0, 6.0]
"""

# The Keras-style modules (activations ... utils) make ``import rillet as keras`` work. Those
# a model's training step needs are imported here, the others on first use (``_lazy``).
from . import (
    _allocator,  # first: malloc's thresholds, before anything large is allocated
    _lazy,
    _operators,
    activations,
    backend,
    config,
    constraints,
    dtypes,
    errors,
    graph,
    initializers,
    layers,
    losses,
    models,
    ops,
    optimizers,
    random,
    regularizers,
)
from .autodiff.api import grad, value_and_grad
from .autodiff.tape import GradientTape, UnconnectedGradients
from .device import Device, get_device
from .dtypes import (
    bool_,
    finfo,
    float16,
    float32,
    float64,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    result_type,
    uint8,
)
from .graph import Graph, TensorSpec, function
from .initializers import Initializer
from .layers import Layer
from .losses import Loss
from .models import Input, KerasTensor, Model, Sequential
from .ops.activations import *  # noqa: F403  (each op family lists its ops in __all__)
from .ops.creation import *  # noqa: F403
from .ops.elementwise import *  # noqa: F403
from .ops.linalg import *  # noqa: F403
from .ops.nn import *  # noqa: F403
from .ops.random import *  # noqa: F403
from .ops.reduction import *  # noqa: F403
from .ops.shapes import *  # noqa: F403
from .ops.shapes import cast
from .optimizers import Optimizer
from .regularizers import Regularizer
from .tensor import Tensor, asarray, is_tensor
from .variable import Variable

bool = bool_  # noqa: A001  (rl.bool, as in the array-API namespace)
_operators.install(Tensor)
_operators.install(Variable)

__version__ = "0.1.0"


_SUBPACKAGES = ("callbacks", "data", "datasets", "debugging", "metrics", "saving", "signal")
_SUBPACKAGES += ("streaming", "summary", "train", "utils")
# rl.sklearn needs scikit-learn, an optional dependency: imported on first use, like these.
__getattr__, __dir__ = _lazy.attach(
    __name__,
    submodules=_SUBPACKAGES,
    names={"Metric": ".metrics", "bfloat16": ".dtypes"},  # bfloat16: ml_dtypes on first use
    sources=("ops",),
    unlisted=("sklearn",),
)
