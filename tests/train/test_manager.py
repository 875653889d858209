"""rl.train.CheckpointManager and latest_checkpoint: numbering, keeping, resuming."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError
from rillet.train import Checkpoint, CheckpointError, CheckpointManager


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


def test_keeps_the_newest_and_deletes_the_rest(tmp_path):
    variable = rl.Variable(np.float32(0.0))
    manager = CheckpointManager(Checkpoint(v=variable), tmp_path, max_to_keep=2)
    assert manager.latest_checkpoint is None and manager.checkpoints == []
    for step in range(4):
        variable.assign(np.float32(step))
        manager.save()
    assert manager.checkpoints == [str(tmp_path / "ckpt-3"), str(tmp_path / "ckpt-4")]
    assert manager.latest_checkpoint == rl.train.latest_checkpoint(tmp_path)
    assert _files(tmp_path) == [
        "checkpoint", "ckpt-3.index.json", "ckpt-3.safetensors",
        "ckpt-4.index.json", "ckpt-4.safetensors",
    ]  # fmt: skip
    variable.assign(np.float32(-1.0))
    Checkpoint(v=variable).restore(manager.checkpoints[0])
    assert float(variable.numpy()) == 2.0


def test_a_new_manager_picks_up_existing_checkpoints_and_numbering(tmp_path):
    variable = rl.Variable(np.float32(1.0))
    first = CheckpointManager(Checkpoint(v=variable), tmp_path, max_to_keep=3)
    first.save()
    first.save()
    checkpoint = Checkpoint(v=rl.Variable(np.float32(0.0)))
    second = CheckpointManager(checkpoint, tmp_path, max_to_keep=3)
    assert second.checkpoints == first.checkpoints
    assert second.restore_or_initialize() == str(tmp_path / "ckpt-2")
    assert float(checkpoint.v.numpy()) == 1.0
    assert second.save() == str(tmp_path / "ckpt-3")


def test_checkpoint_number_and_keep_all(tmp_path):
    manager = CheckpointManager(Checkpoint(v=rl.Variable(1.0)), tmp_path, max_to_keep=None)
    paths = [manager.save(checkpoint_number=step) for step in (100, 200, 300)]
    assert manager.checkpoints == paths and paths[-1].endswith("ckpt-300")


def test_restore_or_initialize_without_checkpoints(tmp_path):
    manager = CheckpointManager(Checkpoint(v=rl.Variable(1.0)), tmp_path / "new")
    assert manager.restore_or_initialize() is None
    assert rl.train.latest_checkpoint(tmp_path / "new") is None


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ArgumentTypeError, match="received checkpoint=Variable"):
        CheckpointManager(rl.Variable(1.0), tmp_path)
    with pytest.raises(ArgumentError, match="received max_to_keep=0"):
        CheckpointManager(Checkpoint(), tmp_path, max_to_keep=0)


def test_a_corrupted_state_file_is_named(tmp_path):
    (tmp_path / "checkpoint").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"state file .*checkpoint' is not valid JSON"):
        rl.train.latest_checkpoint(tmp_path)
    (tmp_path / "checkpoint").write_text('{"latest": 3}')
    with pytest.raises(CheckpointError, match="not a rillet checkpoint state file"):
        CheckpointManager(Checkpoint(), tmp_path)
