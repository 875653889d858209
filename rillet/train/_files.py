"""The files of a checkpoint, each written atomically, and their checks on reading.

A checkpoint with prefix ``dir/ckpt-3`` is two files:

* ``dir/ckpt-3.safetensors``: the values, keyed by object path (``model/dense/kernel``);
* ``dir/ckpt-3.index.json``: the format tag and version, the data file's size and SHA-256,
  and every entry's shape and dtype. It is written after the data, so an index only ever
  describes a complete data file; the checksum catches a data file replaced or damaged later.

The state file ``dir/checkpoint`` (JSON) names the latest checkpoint and all kept ones; it is
written last. Every file goes to a temporary name in the same folder, is fsynced, renamed over
the final name, and the folder is fsynced: a crash at any moment leaves the previous state
file, which names only complete checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

from ..errors import RilletError
from ..saving.model_file import _arrays_member, _fsync_directory, _safetensors_bytes

FORMAT = "rillet.checkpoint"
FORMAT_VERSION = 1
STATE_FORMAT = "rillet.checkpoint_state"
STATE_FILE = "checkpoint"
DATA_SUFFIX, INDEX_SUFFIX = ".safetensors", ".index.json"


class CheckpointError(RilletError, ValueError):
    """A checkpoint that cannot be read or does not fit the objects it is restored into."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint files at the given path."""


def write_atomically(filepath: str, data: bytes) -> None:
    """Write ``data`` to ``filepath`` so that a crash leaves the old file or the new one."""
    directory = os.path.dirname(os.path.abspath(filepath))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def write_checkpoint(prefix: str, arrays: dict) -> None:
    """The data file, then the index that vouches for it."""
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    data = _safetensors_bytes(arrays)
    write_atomically(prefix + DATA_SUFFIX, data)
    entries = {
        key: {"shape": list(np.shape(value)), "dtype": np.asarray(value).dtype.name}
        for key, value in arrays.items()
    }
    index = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "data_file": os.path.basename(prefix + DATA_SUFFIX),
        "data_bytes": len(data),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "entries": entries,
    }
    write_atomically(prefix + INDEX_SUFFIX, json.dumps(index, indent=1).encode("utf-8"))


def read_checkpoint(prefix: str) -> dict:
    """``key -> array`` from the checkpoint at ``prefix``, checked against its index."""
    index_path, data_path = prefix + INDEX_SUFFIX, prefix + DATA_SUFFIX
    if not os.path.exists(index_path):
        raise CheckpointNotFoundError(
            f"Checkpoint.read: no checkpoint at {prefix!r} (no index file {index_path!r}; "
            "pass the prefix that save/write returned, e.g. 'dir/ckpt-3')"
        )
    index = _read_index(index_path)
    if not os.path.exists(data_path):
        raise CheckpointError(f"Checkpoint.read: the data file {data_path!r} is missing")
    with open(data_path, "rb") as file:
        data = file.read()
    _check_data(data, index, data_path)

    def fail(what: str):
        return CheckpointError(f"Checkpoint.read: {data_path!r} is not readable: {what}")

    arrays = _arrays_member({data_path: data}, data_path, fail)
    listed = {key: entry.get("shape") for key, entry in index["entries"].items()}
    if {key: list(np.shape(value)) for key, value in arrays.items()} != listed:
        raise fail("its entries or their shapes differ from those its index lists")
    return arrays


def _read_index(index_path: str) -> dict:
    def fail(what: str):
        return CheckpointError(
            f"Checkpoint.read: {index_path!r} is not a rillet checkpoint index: {what}"
        )

    with open(index_path, "rb") as file:
        raw = file.read()
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise fail(f"not valid JSON ({error})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise fail(f"no 'format': {FORMAT!r} tag (truncated, corrupted or a foreign file)")
    if index.get("format_version") != FORMAT_VERSION:
        raise fail(
            f"format version {index.get('format_version')!r}; this rillet reads version "
            f"{FORMAT_VERSION}"
        )
    fields = {"data_bytes": int, "data_sha256": str, "entries": dict}
    for name, kind in fields.items():
        if not isinstance(index.get(name), kind):
            raise fail(f"the field {name!r} is missing or not a {kind.__name__}")
    return index


def _check_data(data: bytes, index: dict, data_path: str) -> None:
    if len(data) != index["data_bytes"]:
        raise CheckpointError(
            f"Checkpoint.read: {data_path!r} has {len(data)} bytes but its index expects "
            f"{index['data_bytes']}: the file is truncated or was replaced"
        )
    if hashlib.sha256(data).hexdigest() != index["data_sha256"]:
        raise CheckpointError(
            f"Checkpoint.read: {data_path!r} is corrupted: its SHA-256 checksum differs from "
            "the one in its index"
        )


def remove_checkpoint(prefix: str) -> None:
    """Delete a checkpoint's files: the index first, so no index outlives its data."""
    for path in (prefix + INDEX_SUFFIX, prefix + DATA_SUFFIX):
        if os.path.exists(path):
            os.remove(path)


# -- the state file ------------------------------------------------------------------------


def read_state(directory: str) -> dict | None:
    """``{"latest": name, "all": [names]}`` from ``directory/checkpoint``, or None."""
    path = os.path.join(os.fspath(directory), STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as file:
        raw = file.read()
    try:
        state = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(
            f"latest_checkpoint: the state file {path!r} is not valid JSON ({error})"
        ) from None
    ok = isinstance(state, dict) and state.get("format") == STATE_FORMAT
    ok = ok and isinstance(state.get("all"), list) and isinstance(state.get("latest"), str)
    if not ok:
        raise CheckpointError(
            f"latest_checkpoint: {path!r} is not a rillet checkpoint state file (no "
            f"'format': {STATE_FORMAT!r}, 'latest' and 'all')"
        )
    return state


def write_state(directory: str, latest: str, kept: list[str]) -> None:
    """Record ``latest`` and ``kept`` (paths) in ``directory/checkpoint``, by relative name."""
    directory = os.fspath(directory)
    names = [os.path.relpath(path, directory) for path in kept]
    state = {"format": STATE_FORMAT, "latest": os.path.relpath(latest, directory), "all": names}
    write_atomically(os.path.join(directory, STATE_FILE), json.dumps(state).encode("utf-8"))
