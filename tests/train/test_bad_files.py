"""Truncated, corrupted and foreign checkpoint files: a CheckpointError naming the file."""

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import rillet as rl
from rillet.train import Checkpoint, CheckpointError


@pytest.fixture
def prefix(tmp_path):
    variables = {"a": rl.Variable(np.arange(64, dtype=np.float32)), "b": rl.Variable(3)}
    return Checkpoint(**variables).write(tmp_path / "w")


def _restore(prefix):
    fresh = {"a": rl.Variable(np.zeros(64, np.float32)), "b": rl.Variable(0)}
    return Checkpoint(**fresh).read(prefix)


def test_fuzzed_data_bytes_are_caught_by_the_checksum(prefix, rng):
    path = Path(prefix + ".safetensors")
    original = path.read_bytes()
    for _ in range(30):
        damaged = bytearray(original)
        for position in rng.integers(0, len(damaged), size=rng.integers(1, 4)):
            damaged[position] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match=r"w\.safetensors' is corrupted: its SHA-256"):
            _restore(prefix)


def test_truncated_data_file(prefix):
    path = Path(prefix + ".safetensors")
    data = path.read_bytes()
    for size in (0, 7, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:size])
        with pytest.raises(CheckpointError, match=rf"w\.safetensors' has {size} bytes.*truncated"):
            _restore(prefix)


def test_fuzzed_and_truncated_index_files(prefix, rng):
    path = Path(prefix + ".index.json")
    original = path.read_bytes()
    for size in (0, 1, len(original) // 2):
        path.write_bytes(original[:size])
        with pytest.raises(CheckpointError, match=r"w\.index\.json' is not a rillet checkpoint"):
            _restore(prefix)
    for _ in range(30):
        damaged = bytearray(original)
        damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(damaged))
        try:
            _restore(prefix)  # a change to whitespace, or to the same byte, is harmless
        except CheckpointError as error:
            assert "w.index.json" in str(error) or "w.safetensors" in str(error)


def test_foreign_files(prefix):
    index, data = Path(prefix + ".index.json"), Path(prefix + ".safetensors")
    stored = json.loads(index.read_bytes())
    index.write_text(json.dumps({"format": "something.else"}))
    with pytest.raises(CheckpointError, match=r"w\.index\.json' .*'format': 'rillet.checkpoint'"):
        _restore(prefix)
    index.write_text(json.dumps({**stored, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99"):
        _restore(prefix)
    with zipfile.ZipFile(data, "w") as archive:  # a foreign file that the index vouches for
        archive.writestr("x", "y")
    raw = data.read_bytes()
    stored.update(data_bytes=len(raw), data_sha256=hashlib.sha256(raw).hexdigest())
    index.write_text(json.dumps(stored))
    with pytest.raises(CheckpointError, match=r"w\.safetensors' is not readable"):
        _restore(prefix)


def test_missing_data_file(prefix):
    Path(prefix + ".safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"data file .*w\.safetensors' is missing"):
        _restore(prefix)
