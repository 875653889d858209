"""``Model.save_weights``/``load_weights``: the weights as a NumPy ``.npz`` archive.

Each weight is stored under a path made from the model's structure, not from the global
layer names (``dense_7``), so the weights of one model load into a freshly built model of
the same architecture: ``dense/kernel``, ``dense_1/kernel``, ``sequential/dense/bias``, ...
(layers are named by class within their container, in order). The file is written under a
temporary name and renamed, so a crash never leaves a truncated file behind, and it is read
with ``allow_pickle=False``: loading never runs code from the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from .. import dtypes as _dtypes
from .._objects import snake_case
from ..errors import ArgumentError, ShapeError

_META = "__rillet__/dtypes"


def weight_paths(model) -> dict:
    """``path -> variable`` for every weight of ``model``, in a structural order."""
    found: dict = {}
    seen: set = set()
    _walk(model, "", found, seen, top=True)
    return found


def _walk(layer, prefix: str, found: dict, seen: set, top: bool = False) -> None:
    seen.add(id(layer))
    own = layer._tracked["trainable"] + layer._tracked["untrainable"]
    used: dict[str, int] = {}
    for variable in own:
        name = _dedupe(variable.name.rsplit("/", 1)[-1], used)
        found[f"{prefix}{name}"] = variable
    children = layer.layers if top or hasattr(layer, "fit") else layer._tracked["layers"]
    for child in children:
        if id(child) in seen:
            continue
        segment = _dedupe(snake_case(type(child).__name__), used)
        _walk(child, f"{prefix}{segment}/", found, seen)


def _dedupe(name: str, used: dict) -> str:
    count = used.get(name, 0)
    used[name] = count + 1
    return name if count == 0 else f"{name}_{count}"


def _storable(array: np.ndarray) -> tuple[np.ndarray, str | None]:
    """NumPy cannot read back ml_dtypes arrays without pickle: store their bits."""
    if array.dtype.kind not in "biufc":  # bfloat16 and the float8 types
        return array.view(f"u{array.dtype.itemsize}"), array.dtype.name
    return array, None


def save_weights(model, filepath, overwrite: bool = True) -> None:
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise ArgumentError(f"save_weights: {filepath!r} exists and overwrite=False")
    arrays, special = {}, {}
    for path, variable in weight_paths(model).items():
        arrays[path], dtype = _storable(variable.numpy())
        if dtype is not None:
            special[path] = dtype
    arrays[_META] = np.asarray(json.dumps(special))
    directory = os.path.dirname(os.path.abspath(filepath))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-weights-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def read_weights(filepath) -> dict:
    """``path -> array`` from a file written by :func:`save_weights`."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_weights: no such file: {filepath!r}")
    try:
        with open(filepath, "rb") as file, np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ArgumentError(
            f"load_weights: cannot read {filepath!r}: not a weights file written by "
            f"save_weights, or it is truncated or corrupted ({error})"
        ) from None
    special = json.loads(str(arrays.pop(_META))) if _META in arrays else {}
    for path, dtype in special.items():
        if path in arrays:
            arrays[path] = arrays[path].view(_dtypes.as_dtype(dtype))
    return arrays


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    arrays = read_weights(filepath)
    targets = weight_paths(model)
    if arrays and not targets:
        raise ArgumentError(
            f"load_weights: model '{model.name}' has no weights yet: build it (call it on "
            "data, or give it an rl.Input) before loading weights"
        )
    missing, extra = sorted(set(targets) - set(arrays)), sorted(set(arrays) - set(targets))
    if (missing or extra) and not skip_mismatch:
        owners = _owners(model)
        raise ArgumentError(
            f"load_weights: the file {os.fspath(filepath)!r} does not match model "
            f"'{model.name}': weights missing from the file "
            f"[{_listing(missing, targets, owners)}], unexpected weights in the file "
            f"[{_listing(extra, arrays, {})}]"
        )
    common = [path for path in targets if path in arrays]
    wrong = [p for p in common if tuple(arrays[p].shape) != tuple(targets[p].shape)]
    if wrong and not skip_mismatch:
        owners = _owners(model)
        first = wrong[0]
        raise ShapeError(
            f"load_weights: weight '{first}' has shape {tuple(targets[first].shape)} in the "
            f"model (layer '{owners.get(first, '?')}') but {tuple(arrays[first].shape)} in the "
            f"file {os.fspath(filepath)!r}" + _more_mismatches(wrong[1:], targets, arrays)
        )
    for path in common:
        if path not in wrong:
            targets[path].assign(np.asarray(arrays[path], dtype=targets[path].dtype))


def _owners(model) -> dict:
    """``path -> name`` of the layer that owns each weight (``dense/kernel -> 'dense_7'``)."""
    owners: dict = {}
    for layer in [model, *_sublayers(model)]:
        for variable in layer._tracked["trainable"] + layer._tracked["untrainable"]:
            owners.setdefault(id(variable), layer.name)
    return {path: owners.get(id(v), "?") for path, v in weight_paths(model).items()}


def _sublayers(layer) -> list:
    found, stack = [], list(getattr(layer, "layers", []) or layer._tracked["layers"])
    while stack:
        child = stack.pop(0)
        if all(child is not f for f in found):
            found.append(child)
            stack += list(child._tracked["layers"])
    return found


def _listing(paths: list, values: dict, owners: dict) -> str:
    """``'dense_1/kernel' (4, 1) in layer 'dense_9', ...`` for at most ten paths."""
    parts = []
    for path in paths[:10]:
        where = f" in layer '{owners[path]}'" if path in owners else ""
        parts.append(f"'{path}' {tuple(values[path].shape)}{where}")
    more = f", and {len(paths) - 10} more" if len(paths) > 10 else ""
    return ", ".join(parts) + more


def _more_mismatches(paths: list, targets: dict, arrays: dict) -> str:
    if not paths:
        return ""
    shown = ", ".join(
        f"'{p}' {tuple(targets[p].shape)} vs {tuple(arrays[p].shape)}" for p in paths[:10]
    )
    return f"; other weights whose shapes differ (model vs file): {shown}"
