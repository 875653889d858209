"""``GradientTape``: records the ops run on watched tensors so they can be differentiated.

Recording happens in ``_context.bind`` through :func:`record`; the gradient rules themselves
run through ``bind`` too, so an outer tape records the backward pass of an inner one and
gradients of gradients work.
"""

from __future__ import annotations

import enum
import threading

from .. import dtypes as _dtypes
from ..errors import GradientError


class UnconnectedGradients(enum.Enum):
    """What ``gradient`` returns for a source the target does not depend on."""

    NONE = "none"
    ZERO = "zero"


class _State(threading.local):
    def __init__(self):
        self.tapes: list[GradientTape] = []


STATE = _State()


class Node:
    """One recorded op call."""

    __slots__ = ("op", "inputs", "attrs", "outputs")

    def __init__(self, op, inputs, attrs, outputs):
        self.op, self.inputs, self.attrs, self.outputs = op, inputs, attrs, outputs


def record(op, inputs: list, attrs: dict, outputs) -> None:
    """Record an op call on every active tape that watches one of its inputs."""
    if not op.differentiable:
        return
    for tape in STATE.tapes:
        if tape._recording and any(t is not None and id(t) in tape._watched for t in inputs):
            tape._record(Node(op, inputs, attrs, outputs))


def variable_read(variable, tensor) -> None:
    """Tell the active tapes that ``variable`` was read as ``tensor``."""
    for tape in STATE.tapes:
        if tape._recording and (
            id(variable) in tape._variables or (tape._watch_accessed and variable.trainable)
        ):
            tape._watch_variable(variable, tensor)


def _is_differentiable(tensor) -> bool:
    return _dtypes.is_floating(tensor.dtype)


class GradientTape:
    """Records operations for automatic differentiation.

    >>> import rillet as rl
    >>> x = rl.asarray(3.0)
    >>> with rl.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * x
    >>> float(tape.gradient(y, x))
    6.0

    Trainable variables read inside the ``with`` block are watched automatically
    (``watch_accessed_variables=False`` turns that off). A non-persistent tape computes one
    set of gradients; ``persistent=True`` allows several. Tapes nest: an outer tape records
    the gradient computation of an inner one, which gives higher-order gradients.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self._recording = False
        self._used = False
        self._nodes: list[Node] = []
        self._watched: dict[int, object] = {}  # id -> tensor (kept alive so ids stay unique)
        self._variables: dict[int, tuple] = {}  # id(variable) -> (variable, [read tensors])

    def __enter__(self) -> GradientTape:
        STATE.tapes.append(self)
        self._recording = True
        return self

    def __exit__(self, *exc) -> None:
        self._recording = False
        STATE.tapes.remove(self)

    def watch(self, tensor) -> None:
        """Watch a tensor, a variable, or a (nested) list of them."""
        for item in _flatten(tensor):
            if hasattr(item, "_rillet_read"):
                self._variables.setdefault(id(item), (item, []))
                if item._rillet_cached() is not None:
                    self._watch_variable(item, item._rillet_cached())
            elif _is_differentiable(item):
                self._watched[id(item)] = item

    def _watch_variable(self, variable, tensor) -> None:
        entry = self._variables.setdefault(id(variable), (variable, []))
        if not any(t is tensor for t in entry[1]):
            entry[1].append(tensor)
        if _is_differentiable(tensor):
            self._watched[id(tensor)] = tensor

    def _record(self, node: Node) -> None:
        self._nodes.append(node)
        outputs = node.outputs if isinstance(node.outputs, (tuple, list)) else (node.outputs,)
        for out in outputs:
            if _is_differentiable(out):
                self._watched[id(out)] = out

    def watched_variables(self) -> tuple:
        return tuple(variable for variable, _ in self._variables.values())

    def stop_recording(self):
        """Context manager that pauses recording on this tape."""
        return _Paused(self)

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self._nodes.clear()
        self._watched.clear()
        self._variables.clear()

    def _release(self) -> None:
        """Drop the recorded tensors (and so the variables' old buffers), keep the variables."""
        self._nodes.clear()
        self._watched.clear()
        for _, reads in self._variables.values():
            reads.clear()

    def gradient(
        self,
        target,
        sources,
        output_gradients=None,
        unconnected_gradients=UnconnectedGradients.NONE,
    ):
        """Gradients of ``target`` (summed over its elements and over a list of targets)
        with respect to ``sources``, in the same nested structure as ``sources``."""
        from .engine import backward

        if self._used and not self._persistent:
            raise GradientError(
                "a non-persistent GradientTape can compute only one set of gradients; "
                "use GradientTape(persistent=True)"
            )
        self._used = True
        mode = UnconnectedGradients(getattr(unconnected_gradients, "value", unconnected_gradients))
        targets = list(_flatten(target))
        seeds = _seed_gradients(targets, output_gradients)
        flat_sources = list(_flatten(sources))
        source_ids = [self._source_ids(s) for s in flat_sources]
        with self.stop_recording():
            grads = backward(self._nodes, targets, seeds, {i for ids in source_ids for i in ids})
            results = [
                _source_gradient(s, ids, grads, mode) for s, ids in zip(flat_sources, source_ids)
            ]
        if not self._persistent:
            self._release()
        return _unflatten(sources, iter(results))

    def _source_ids(self, source) -> list[int]:
        if hasattr(source, "_rillet_read"):
            entry = self._variables.get(id(source))
            return [id(t) for t in entry[1]] if entry else []
        if source is None or not hasattr(source, "dtype"):
            raise GradientError(
                f"sources must be tensors or variables, got {type(source).__name__}"
            )
        return [id(source)] if id(source) in self._watched else []


class _Paused:
    def __init__(self, tape: GradientTape):
        self.tape = tape

    def __enter__(self):
        self.previous = self.tape._recording
        self.tape._recording = False

    def __exit__(self, *exc):
        self.tape._recording = self.previous


def _seed_gradients(targets: list, output_gradients) -> list:
    from ..ops._registry import REGISTRY

    if output_gradients is None:
        return [REGISTRY["ones_like"](t) for t in targets]
    seeds = list(_flatten(output_gradients))
    if len(seeds) != len(targets):
        raise GradientError(f"output_gradients has {len(seeds)} entries for {len(targets)} targets")
    return [
        REGISTRY["ones_like"](t) if g is None else _as_tensor(g, t.dtype)
        for g, t in zip(seeds, targets)
    ]


def _as_tensor(value, dtype):
    from ..tensor import Tensor, asarray

    return value if isinstance(value, Tensor) else asarray(value, dtype=dtype)


def _source_gradient(source, ids: list[int], grads: dict, mode: UnconnectedGradients):
    from ..ops._registry import REGISTRY

    found = [grads[i] for i in ids if i in grads]
    if not found:
        if mode is UnconnectedGradients.ZERO:
            return REGISTRY["zeros_like"](source)
        return None
    total = found[0]
    for g in found[1:]:
        total = total + g
    return total


def _flatten(value):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _flatten(value[key])
    else:
        yield value


def _unflatten(structure, flat):
    if isinstance(structure, (list, tuple)):
        items = [_unflatten(v, flat) for v in structure]
        return type(structure)(items) if isinstance(structure, tuple) else items
    if isinstance(structure, dict):
        return {key: _unflatten(structure[key], flat) for key in sorted(structure)}
    return next(flat)
