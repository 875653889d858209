"""``rl.train.CheckpointManager`` and ``latest_checkpoint``: numbered checkpoints in one
folder, the oldest deleted beyond ``max_to_keep``.

>>> import tempfile
>>> import numpy as np
>>> import rillet as rl
>>> checkpoint = rl.train.Checkpoint(weights=rl.Variable(np.zeros(3, np.float32)))
>>> manager = rl.train.CheckpointManager(checkpoint, tempfile.mkdtemp(), max_to_keep=2)
>>> for _ in range(3):
...     _ = manager.save()
>>> [path.rsplit("-", 1)[-1] for path in manager.checkpoints]
['2', '3']
>>> manager.latest_checkpoint == rl.train.latest_checkpoint(manager.directory)
True
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from . import _files
from .checkpoint import Checkpoint


def latest_checkpoint(checkpoint_dir) -> str | None:
    """The prefix of the newest checkpoint recorded in ``checkpoint_dir``, or None."""
    directory = os.fspath(checkpoint_dir)
    state = _files.read_state(directory)
    if state is None:
        return None
    path = os.path.join(directory, state["latest"])
    return path if os.path.exists(path + _files.INDEX_SUFFIX) else None


class CheckpointManager:
    """Saves ``checkpoint`` as ``directory/checkpoint_name-N`` and keeps the newest
    ``max_to_keep`` (all of them when None); picks up the checkpoints already there."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        directory,
        max_to_keep: int | None = 5,
        checkpoint_name: str = "ckpt",
    ):
        if not isinstance(checkpoint, Checkpoint):
            raise ArgumentTypeError(
                f"CheckpointManager: received checkpoint={type(checkpoint).__name__}; "
                "expected an rl.train.Checkpoint"
            )
        if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep < 1):
            raise ArgumentError(
                f"CheckpointManager: received max_to_keep={max_to_keep!r}; expected a "
                "positive int or None (keep all)"
            )
        self.checkpoint, self.max_to_keep = checkpoint, max_to_keep
        self.directory = os.fspath(directory)
        self._prefix = os.path.join(self.directory, checkpoint_name)
        os.makedirs(self.directory, exist_ok=True)
        state = _files.read_state(self.directory)
        names = [] if state is None else state["all"]
        found = [os.path.join(self.directory, name) for name in names]
        self._checkpoints = [p for p in found if os.path.exists(p + _files.INDEX_SUFFIX)]

    @property
    def checkpoints(self) -> list[str]:
        """The kept checkpoints' prefixes, oldest first."""
        return list(self._checkpoints)

    @property
    def latest_checkpoint(self) -> str | None:
        return self._checkpoints[-1] if self._checkpoints else None

    def save(self, checkpoint_number: int | None = None) -> str:
        """Write the next checkpoint, record it, then delete those beyond ``max_to_keep``;
        returns its prefix. ``checkpoint_number`` (e.g. the step) names it instead of
        ``save_counter``."""
        counter = self.checkpoint.save_counter
        counter.assign_add(np.int64(1))
        number = int(counter.numpy()) if checkpoint_number is None else int(checkpoint_number)
        prefix = f"{self._prefix}-{number}"
        self.checkpoint.write(prefix)
        kept = [p for p in self._checkpoints if p != prefix] + [prefix]
        if self.max_to_keep is not None:
            kept, dropped = kept[-self.max_to_keep :], kept[: -self.max_to_keep]
        else:
            dropped = []
        # The state file stops naming a checkpoint before its files go.
        _files.write_state(self.directory, prefix, kept)
        self._checkpoints = kept
        for old in dropped:
            _files.remove_checkpoint(old)
        return prefix

    def restore_or_initialize(self) -> str | None:
        """Restore the latest checkpoint if there is one; returns its prefix or None."""
        latest = self.latest_checkpoint
        if latest is not None:
            self.checkpoint.restore(latest)
        return latest
