"""``rl.train.Checkpoint``: save and restore the variables of a graph of objects.

Objects are given by keyword and found again by the same path: the variables of
``Checkpoint(model=m, optimizer=opt, step=v)`` are stored as ``model/dense/kernel``,
``optimizer/0``, ``step`` (as TensorFlow's object graph), so values restore into freshly
built objects of the same structure. Values only, in safetensors: restoring never runs
code from the file.

>>> import os, tempfile
>>> import numpy as np
>>> import rillet as rl
>>> step = rl.Variable(np.int64(7))
>>> prefix = rl.train.Checkpoint(step=step).save(os.path.join(tempfile.mkdtemp(), "ckpt"))
>>> os.path.basename(prefix)
'ckpt-1'
>>> _ = step.assign(np.int64(0))
>>> _ = rl.train.Checkpoint(step=step).restore(prefix)
>>> int(step.numpy())
7
"""

from __future__ import annotations

import os

import numpy as np

from ..variable import Variable
from . import _files
from ._files import CheckpointError


class Checkpoint:
    """Groups objects with variables (``Variable``, layers and models, optimizers, other
    checkpoints, or anything with a ``variables`` list) for ``save``/``write`` and
    ``restore``/``read``. ``save_counter`` counts the saves; it is saved too."""

    def __init__(self, root=None, **objects):
        if root is not None:
            objects = {"root": root, **objects}
        for name, value in objects.items():
            _children(value, name)  # reject unsupported objects now, not at the first save
        self._objects = dict(objects)
        self.save_counter = Variable(np.int64(0), trainable=False, name="save_counter")

    def __getattr__(self, name: str):
        objects = self.__dict__.get("_objects", {})
        if name in objects:
            return objects[name]
        raise AttributeError(f"'Checkpoint' object has no attribute {name!r}")

    def _variables(self) -> dict:
        """``path -> Variable`` for every variable reachable from this checkpoint."""
        found = {"save_counter": self.save_counter}
        for name, value in self._objects.items():
            for path, variable in _children(value, name).items():
                found[path] = variable
        return found

    # -- writing ---------------------------------------------------------------------------

    def write(self, file_prefix) -> str:
        """Write the variables to ``file_prefix`` (``.safetensors`` + ``.index.json``)
        atomically, without numbering or the state file; returns ``file_prefix``."""
        prefix = os.fspath(file_prefix)
        _files.write_checkpoint(prefix, {k: v.numpy() for k, v in self._variables().items()})
        return prefix

    def save(self, file_prefix) -> str:
        """Write a numbered checkpoint ``file_prefix-N`` (N = ``save_counter`` after adding
        one) and record it as the latest in its folder's ``checkpoint`` state file."""
        self.save_counter.assign_add(np.int64(1))
        prefix = f"{os.fspath(file_prefix)}-{int(self.save_counter.numpy())}"
        self.write(prefix)
        directory = os.path.dirname(os.path.abspath(prefix))
        state = _files.read_state(directory)
        kept = [] if state is None else [os.path.join(directory, n) for n in state["all"]]
        kept = [p for p in kept if os.path.abspath(p) != os.path.abspath(prefix)]
        _files.write_state(directory, prefix, kept + [prefix])
        return prefix

    # -- reading ---------------------------------------------------------------------------

    def read(self, save_path) -> CheckpointLoadStatus:
        """Restore the values written at ``save_path`` into the objects, in place. Shape or
        dtype mismatches raise ``CheckpointError`` before anything is assigned; use the
        returned status's ``assert_consumed()`` to require that everything matched."""
        arrays = _files.read_checkpoint(os.fspath(save_path))
        targets = self._variables()
        matched = [path for path in targets if path in arrays]
        for path in matched:
            _check_fits(path, targets[path], arrays[path], save_path)
        for path in matched:
            targets[path].assign(np.asarray(arrays[path]).astype(targets[path].dtype))
        missing = sorted(set(targets) - set(arrays))
        unused = sorted(set(arrays) - set(targets))
        return CheckpointLoadStatus(os.fspath(save_path), missing, unused)

    def restore(self, save_path) -> CheckpointLoadStatus:
        """``read(save_path)``; ``save_path=None`` (no checkpoint yet) restores nothing."""
        if save_path is None:
            return CheckpointLoadStatus(None, [], [])
        return self.read(save_path)


class CheckpointLoadStatus:
    """What a restore left unmatched: ``missing`` (variables of the objects absent from the
    file) and ``unused`` (entries of the file no object took)."""

    def __init__(self, path, missing: list, unused: list):
        self.path, self.missing, self.unused = path, missing, unused
        self._partial = False

    def assert_consumed(self) -> CheckpointLoadStatus:
        """Raise ``CheckpointError`` unless every variable and every entry matched."""
        if self.missing or self.unused:
            raise CheckpointError(
                f"Checkpoint.restore: {self.path!r} did not match the objects exactly: "
                f"{_describe(self.missing, 'variables missing from the file')}; "
                f"{_describe(self.unused, 'entries in the file no object took')}"
                f"{_optimizer_hint(self.unused)}"
            )
        return self

    def assert_existing_objects_matched(self) -> CheckpointLoadStatus:
        """Raise ``CheckpointError`` if a variable of the objects was not in the file."""
        if self.missing:
            raise CheckpointError(
                f"Checkpoint.restore: {self.path!r} lacks values for "
                f"{_describe(self.missing, 'variables')}; they were left unchanged"
            )
        return self

    def expect_partial(self) -> CheckpointLoadStatus:
        """Say that a partial restore is intended (as TensorFlow's); returns the status."""
        self._partial = True
        return self


def _describe(paths: list, what: str) -> str:
    shown = ", ".join(repr(p) for p in paths[:10])
    more = f" and {len(paths) - 10} more" if len(paths) > 10 else ""
    return f"{what}: [{shown}{more}]" if paths else f"no {what}"


def _optimizer_hint(unused: list) -> str:
    if any(path.rsplit("/", 1)[-1].isdigit() for path in unused):
        return (
            " (an optimizer only has its slot variables once built: call "
            "optimizer.build(model.trainable_variables) before restoring)"
        )
    return ""


def _check_fits(path: str, variable, value, save_path) -> None:
    if tuple(value.shape) != tuple(variable.shape):
        raise CheckpointError(
            f"Checkpoint.restore: entry {path!r} in {os.fspath(save_path)!r} has shape "
            f"{tuple(value.shape)}, but the variable has shape {tuple(variable.shape)}"
        )
    stored, wanted = np.dtype(value.dtype).kind, np.dtype(variable.dtype).kind
    if (stored == "b") != (wanted == "b") or (stored == "f" and wanted in "iu"):
        raise CheckpointError(
            f"Checkpoint.restore: entry {path!r} in {os.fspath(save_path)!r} has dtype "
            f"{value.dtype.name}, which does not fit the variable's {variable.dtype.name}"
        )


# -- the object graph ----------------------------------------------------------------------


def _children(value, name: str) -> dict:
    """``path -> Variable`` for one object given to a Checkpoint under ``name``."""
    from ..layers import Layer
    from ..models.saving import weight_paths
    from ..optimizers import Optimizer

    if isinstance(value, Variable):
        return {name: value}
    if isinstance(value, Checkpoint):
        return {f"{name}/{path}": v for path, v in value._variables().items()}
    if isinstance(value, Layer):
        return {f"{name}/{path}": v for path, v in weight_paths(value).items()}
    if isinstance(value, Optimizer) or isinstance(getattr(value, "variables", None), list):
        return {f"{name}/{i}": v for i, v in enumerate(value.variables)}
    raise CheckpointError(
        f"Checkpoint: received {name}={type(value).__name__}; a checkpoint holds Variables, "
        "layers and models, optimizers, other Checkpoints, or objects with a 'variables' list"
    )
