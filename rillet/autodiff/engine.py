"""The backward walk: reverse the recorded nodes, apply each op's VJP, and sum the
gradients back to each input's shape and dtype (unbroadcasting happens here, once)."""

from __future__ import annotations

from ..errors import GradientError
from ..ops._registry import REGISTRY


def backward(nodes: list, targets: list, seeds: list, source_ids: set[int]) -> dict:
    """Gradients of ``targets`` (seeded with ``seeds``) for every tensor on a path from a
    source to a target, keyed by ``id(tensor)``."""
    reachable, relevant = _forward_reach(nodes, source_ids)
    grads: dict[int, object] = {}
    for target, seed in zip(targets, seeds):
        if id(target) in reachable:
            _accumulate(grads, target, seed)
    for node in reversed(relevant):
        _backprop_node(node, grads, reachable, source_ids)
    return grads


def _forward_reach(nodes: list, source_ids: set[int]) -> tuple[set[int], list]:
    reachable = set(source_ids)
    relevant = []
    for node in nodes:
        if any(t is not None and id(t) in reachable for t in node.inputs):
            relevant.append(node)
            reachable.update(id(o) for o in _as_tuple(node.outputs))
    return reachable, relevant


def _backprop_node(node, grads: dict, reachable: set[int], source_ids: set[int]) -> None:
    outputs = _as_tuple(node.outputs)
    gs = [grads.get(id(o)) for o in outputs]
    if all(g is None for g in gs):
        return
    op = node.op
    if op.vjp is None:
        raise GradientError("no gradient rule is registered", op=op.name)
    if isinstance(node.outputs, (tuple, list)):
        g_arg = tuple(REGISTRY["zeros_like"](o) if g is None else g for g, o in zip(gs, outputs))
        input_grads = op.vjp(g_arg, node.outputs, *node.inputs, **node.attrs)
    else:
        input_grads = op.vjp(gs[0], node.outputs, *node.inputs, **node.attrs)
    for out in outputs:
        if id(out) not in source_ids:
            grads.pop(id(out), None)
    for x, g in zip(node.inputs, input_grads):
        if g is not None and x is not None and id(x) in reachable:
            _accumulate(grads, x, fit_gradient(g, x))


def _accumulate(grads: dict, tensor, g) -> None:
    key = id(tensor)
    previous = grads.get(key)
    grads[key] = g if previous is None else REGISTRY["add"](previous, g)


def fit_gradient(g, x):
    """Sum a broadcast gradient back to ``x``'s shape and cast it to ``x``'s dtype."""
    if g.shape != x.shape:
        g = unbroadcast(g, x)
    if g.dtype != x.dtype:
        g = REGISTRY["cast"](g, dtype=x.dtype)
    return g


def unbroadcast(g, x):
    """Sum ``g`` over the axes along which ``x`` was broadcast to ``g.shape``."""
    shape = tuple(x.shape)
    lead = len(g.shape) - len(shape)
    if lead < 0:
        raise GradientError(f"gradient of shape {g.shape} cannot fit an input of shape {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and g.shape[lead + i] != 1
    )
    if axes:
        g = REGISTRY["sum"](g, axis=axes, keepdims=True)
    if g.shape != shape:
        if None in shape:
            return REGISTRY["reshape_like"](g, x)  # sizes known only at run time
        g = REGISTRY["reshape"](g, shape=shape)
    return g


def _as_tuple(outputs) -> tuple:
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
