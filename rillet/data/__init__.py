"""Input pipelines (``tf.data``): ``Dataset`` and its readers.

>>> import rillet as rl
>>> ds = rl.data.Dataset.from_tensor_slices(([1, 2, 3], [4, 5, 6])).batch(2)
>>> [(x.numpy().tolist(), y.numpy().tolist()) for x, y in ds]
[([1, 2], [4, 5]), ([3], [6])]
"""

from . import experimental
from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from .readers import TextLineDataset

__all__ = [
    "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "Dataset", "TextLineDataset",
    "experimental",
]  # fmt: skip
