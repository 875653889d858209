"""Training checkpoints (``tf.train``): ``Checkpoint``, ``CheckpointManager`` and
``latest_checkpoint``; every file is written atomically and read without running code.

>>> import rillet as rl
>>> sorted(rl.train.__all__)[:3]
['Checkpoint', 'CheckpointError', 'CheckpointLoadStatus']
"""

from ._files import CheckpointError, CheckpointNotFoundError
from .checkpoint import Checkpoint, CheckpointLoadStatus
from .manager import CheckpointManager, latest_checkpoint

__all__ = [
    "Checkpoint", "CheckpointManager", "latest_checkpoint", "CheckpointLoadStatus",
    "CheckpointError", "CheckpointNotFoundError",
]  # fmt: skip
