"""Whole-model files: ``model.save("x.rillet")`` and ``rl.saving.load_model``.

A model file is one zip archive holding

* ``metadata.json``: the format tag and version, the rillet version, the date, and the
  compile configuration (optimizer config, losses, metrics);
* ``config.json``: the architecture (``serialize_layer(model)``, as ``model.to_json()``);
* ``model.weights.safetensors``: the weights, keyed by the structural paths
  ``save_weights`` uses (``dense/kernel``, ``dense_1/bias``, ...);
* ``optimizer.safetensors``: the optimizer's variables (iterations, learning rate, slots),
  keyed "0", "1", ..., when the model was compiled and has trained.

The file is written under a temporary name in the same folder, fsynced and renamed, so a
crash never leaves a half-written file under the final name. Loading never runs code from
the file: JSON and safetensors only, and classes are found by name among rillet's own, the
registry (``register_keras_serializable``) and ``custom_objects``.

>>> import os, tempfile
>>> import numpy as np
>>> import rillet as rl
>>> inputs = rl.Input(shape=(3,))
>>> model = rl.Model(inputs, rl.layers.Dense(2)(inputs))
>>> path = os.path.join(tempfile.mkdtemp(), "model.rillet")
>>> model.save(path)
>>> again = rl.models.load_model(path)
>>> x = np.ones((1, 3), np.float32)
>>> bool(np.array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0)))
True
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import zipfile

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, ArgumentTypeError, RilletError
from . import object_registration

FORMAT = "rillet.model"
FORMAT_VERSION = 1
_METADATA, _CONFIG = "metadata.json", "config.json"
_WEIGHTS, _OPTIMIZER = "model.weights.safetensors", "optimizer.safetensors"
_MEMBERS = (_METADATA, _CONFIG, _WEIGHTS, _OPTIMIZER)
_DTYPES_KEY, _SCALARS_KEY = "rillet.dtypes", "rillet.scalars"
_EXTENSIONS = (".rillet", ".keras")


class ModelFileError(RilletError, ValueError):
    """A model file that cannot be read: truncated, corrupted, foreign or unsafe."""


# -- saving -------------------------------------------------------------------------------


def save_model(model, filepath, overwrite: bool = True) -> None:
    """Write ``model`` (architecture, weights, compile config and optimizer state) to
    ``filepath``, a ``.rillet`` zip, atomically."""
    filepath = os.fspath(filepath)
    if not str(filepath).endswith(_EXTENSIONS):
        raise ArgumentError(
            f"save: received filepath={filepath!r}; a model file name must end in '.rillet'"
        )
    if not overwrite and os.path.exists(filepath):
        raise ArgumentError(f"save: {filepath!r} exists and overwrite=False")
    members = {
        _METADATA: _json_bytes(_metadata(model)),
        _CONFIG: model.to_json().encode("utf-8"),
        _WEIGHTS: _safetensors_bytes(_model_arrays(model)),
    }
    optimizer = getattr(model, "optimizer", None)
    if getattr(model, "compiled", False) and optimizer is not None and optimizer.built:
        store: dict = {}
        optimizer.save_own_variables(store)
        members[_OPTIMIZER] = _safetensors_bytes(store)
    _write_atomically(filepath, members)


def _metadata(model) -> dict:
    from .. import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "rillet_version": __version__,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "compile_config": _compile_config(model),
    }


def _compile_config(model) -> dict | None:
    from .. import optimizers

    if not getattr(model, "compiled", False):
        return None
    loss, metrics = model._compile_loss, model._compile_metrics
    return {
        "optimizer": None if model.optimizer is None else optimizers.serialize(model.optimizer),
        "loss": _serialize_tree(None if loss is None else loss._user_loss, "loss"),
        "loss_weights": None if loss is None else loss._user_loss_weights,
        "metrics": _serialize_tree(None if metrics is None else metrics._user_metrics, "metric"),
        "weighted_metrics": _serialize_tree(
            None if metrics is None else metrics._user_weighted_metrics, "metric"
        ),
        "run_eagerly": model.run_eagerly,
        "steps_per_execution": model.steps_per_execution,
    }


def _serialize_tree(value, kind: str):
    """Losses/metrics (a name, an object, a function, or lists and dicts of them) as JSON."""
    from .. import losses, metrics

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_serialize_tree(v, kind) for v in value]
    if isinstance(value, dict):
        return {str(k): _serialize_tree(v, kind) for k, v in value.items()}
    registered = object_registration._GLOBAL_CUSTOM_NAMES.get(value)
    if registered is None and not isinstance(value, type):
        registered = object_registration._GLOBAL_CUSTOM_NAMES.get(type(value))
        if registered is not None and hasattr(value, "get_config"):
            return {"class_name": registered, "config": value.get_config()}
    if registered is not None:
        return registered
    if isinstance(value, losses.Loss):
        return losses.serialize(value)
    if isinstance(value, metrics.Metric):
        return metrics.serialize(value)
    try:
        return losses.serialize(value)
    except (ArgumentTypeError, TypeError):
        pass
    name = getattr(value, "__name__", None)
    if name is not None and _builtin(kind, name) is value:
        return name
    raise ArgumentError(
        f"save: cannot serialize the {kind} {value!r}; register it with "
        "@rl.saving.register_keras_serializable() so that load_model can find it"
    )


def _builtin(kind: str, name: str):
    from .. import losses, metrics

    module = losses if kind == "loss" else metrics
    try:
        return module.get(name)
    except (RilletError, TypeError, ValueError):
        return None


def _model_arrays(model) -> dict:
    from ..models.saving import weight_paths

    return {path: variable.numpy() for path, variable in weight_paths(model).items()}


def _safetensors_bytes(arrays: dict) -> bytes:
    """safetensors reads back only NumPy's own dtypes: bfloat16 and float8 go as their bits,
    with the dtype names kept in the header's metadata."""
    from safetensors.numpy import save

    stored, special, scalars = {}, {}, []
    for key, array in arrays.items():
        array = np.asarray(array)
        if array.ndim == 0:  # np.ascontiguousarray makes these shape (1,)
            scalars.append(key)
        array = np.ascontiguousarray(array)
        if array.dtype.kind not in "biufc":
            special[key] = array.dtype.name
            array = array.view(f"u{array.dtype.itemsize}")
        stored[key] = array
    metadata = {_DTYPES_KEY: json.dumps(special), _SCALARS_KEY: json.dumps(scalars)}
    return save(stored, metadata=metadata)


def _json_bytes(value) -> bytes:
    from ..models.model import _json_default

    return json.dumps(value, default=_json_default, indent=1).encode("utf-8")


def _write_atomically(filepath: str, members: dict) -> None:
    directory = os.path.dirname(os.path.abspath(filepath))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-model-", suffix=".rillet", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


# -- loading ------------------------------------------------------------------------------


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, safe_mode=True):
    """The model saved in ``filepath`` by ``model.save``: same architecture and weights and,
    with ``compile=True``, compiled with the saved optimizer (its state restored), losses and
    metrics, so that training continues as if it had never stopped."""
    from ..models.functional import deserialize_layer

    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_model: no such file: {filepath!r}")
    metadata, config, weights, optimizer_state = _read(filepath)
    table = object_registration.lookup_table(custom_objects)
    try:
        model = deserialize_layer(config, table)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"load_model: cannot rebuild the model described in {filepath!r}: {error}"
        ) from None
    _assign_weights(model, weights, filepath)
    compile_config = metadata.get("compile_config")
    if compile and compile_config:
        _compile(model, compile_config, table, filepath)
        if optimizer_state is not None and model.optimizer is not None:
            _restore_optimizer(model, optimizer_state, filepath)
    return model


def _read(filepath: str):
    """The four members of the file, checked; ModelFileError naming the file otherwise."""

    def fail(what: str):
        return ModelFileError(f"load_model: {filepath!r} is not a readable rillet model: {what}")

    if not zipfile.is_zipfile(filepath):
        raise fail("not a zip archive (a model file is a zip written by model.save)")
    try:
        with zipfile.ZipFile(filepath) as archive:
            names = archive.namelist()
            unknown = sorted(set(names) - set(_MEMBERS))
            if _METADATA not in names:
                raise fail(f"no {_METADATA} in the archive (members: {sorted(names)[:10]})")
            if unknown:
                raise fail(f"unexpected members {unknown[:10]} (nothing but JSON and safetensors "
                           "is ever loaded)")  # fmt: skip
            data = {name: archive.read(name) for name in names}
    except ModelFileError:
        raise
    except Exception as error:  # noqa: BLE001  zipfile/zlib fail in many ways on bad bytes
        raise fail(f"truncated or corrupted archive ({type(error).__name__}: {error})") from None
    metadata = _json_member(data, _METADATA, fail)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise fail(f"{_METADATA} does not describe a {FORMAT!r} file")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise fail(
            f"format version {metadata.get('format_version')!r}; this rillet reads version "
            f"{FORMAT_VERSION}"
        )
    for name in (_CONFIG, _WEIGHTS):
        if name not in data:
            raise fail(f"{name} is missing from the archive")
    config = _json_member(data, _CONFIG, fail)
    if not isinstance(config, dict):
        raise fail(f"{_CONFIG} is not a model configuration")
    weights = _arrays_member(data, _WEIGHTS, fail)
    optimizer = _arrays_member(data, _OPTIMIZER, fail) if _OPTIMIZER in data else None
    return metadata, config, weights, optimizer


def _json_member(data: dict, name: str, fail):
    try:
        return json.loads(data[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise fail(f"{name} is not valid JSON ({error})") from None


def _arrays_member(data: dict, name: str, fail) -> dict:
    from safetensors.numpy import load

    raw = data[name]
    try:
        arrays = load(raw)
        size = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + size].decode("utf-8"))
        metadata = header.get("__metadata__") or {}
        for key, dtype in json.loads(metadata.get(_DTYPES_KEY, "{}")).items():
            arrays[key] = arrays[key].view(_dtypes.as_dtype(dtype))
        for key in json.loads(metadata.get(_SCALARS_KEY, "[]")):
            arrays[key] = arrays[key].reshape(())
    except Exception as error:  # noqa: BLE001  safetensors raises its own and builtin types
        raise fail(
            f"{name} is not a valid safetensors file ({type(error).__name__}: {error})"
        ) from None
    return arrays


def _assign_weights(model, arrays: dict, filepath: str) -> None:
    from ..models.saving import weight_paths

    targets = weight_paths(model)
    missing, extra = sorted(set(targets) - set(arrays)), sorted(set(arrays) - set(targets))
    if missing or extra:
        hint = "" if targets else " (the rebuilt model has no weights: give it an rl.Input)"
        raise ModelFileError(
            f"load_model: the weights in {filepath!r} do not match the model it describes: "
            f"missing {missing[:10]}, unexpected {extra[:10]}{hint}"
        )
    for path, variable in targets.items():
        value = arrays[path]
        if tuple(value.shape) != tuple(variable.shape):
            raise ModelFileError(
                f"load_model: weight {path!r} in {filepath!r} has shape {tuple(value.shape)}, "
                f"but the model's has shape {tuple(variable.shape)}"
            )
        variable.assign(np.asarray(value, dtype=variable.dtype))


def _compile(model, config: dict, table: dict, filepath: str) -> None:
    from .. import optimizers

    try:
        optimizer = config.get("optimizer")
        if isinstance(optimizer, dict):
            optimizer = optimizers.deserialize(optimizer, table)
        model.compile(
            optimizer=optimizer,
            loss=_deserialize_tree(config.get("loss"), "loss", table),
            loss_weights=config.get("loss_weights"),
            metrics=_deserialize_tree(config.get("metrics"), "metric", table),
            weighted_metrics=_deserialize_tree(config.get("weighted_metrics"), "metric", table),
            run_eagerly=bool(config.get("run_eagerly", False)),
            steps_per_execution=config.get("steps_per_execution", 1),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"load_model: cannot compile the model from the compile config in {filepath!r}: {error}"
        ) from None


def _deserialize_tree(value, kind: str, table: dict):
    from .. import losses, metrics

    if isinstance(value, list):
        return [_deserialize_tree(v, kind, table) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_tree(v, kind, table) for k, v in value.items()}
    if isinstance(value, str):
        return table.get(value, value)
    if isinstance(value, dict):
        found = table.get(value.get("registered_name") or value["class_name"])
        if isinstance(found, type):
            return found.from_config(dict(value.get("config") or {}))
        module = losses if kind == "loss" else metrics
        return module.deserialize(value, table)
    return value


def _restore_optimizer(model, store: dict, filepath: str) -> None:
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_weights)
    variables = optimizer.variables
    if len(store) != len(variables) or set(store) != {str(i) for i in range(len(variables))}:
        raise ModelFileError(
            f"load_model: the optimizer state in {filepath!r} has {len(store)} variables, but "
            f"optimizer '{optimizer.name}' has {len(variables)}"
        )
    for i, variable in enumerate(variables):
        value = store[str(i)]
        if tuple(value.shape) != tuple(variable.shape):
            raise ModelFileError(
                f"load_model: optimizer variable {i} ({variable.name}) in {filepath!r} has "
                f"shape {tuple(value.shape)}, expected {tuple(variable.shape)}"
            )
        variable.assign(np.asarray(value, dtype=variable.dtype))
