"""The graph verifier: checks that a graph is well formed, after tracing and after every pass.

A graph is well formed when

* every node's inputs are values produced by an earlier node of the same graph;
* every op node names a registered op, with the inputs and attributes the op takes, and
  its recorded output specs agree with the op's rule applied to its inputs' specs (an
  unknown size, ``None``, is compatible with any size);
* constants hold NumPy arrays of their recorded shape and dtype;
* ``graph.inputs`` are exactly its placeholders, each at the position its ``index`` says;
* ``graph.outputs`` are values of this graph, and no two nodes share a name;
* the sub-graphs a node holds in its attributes (control-flow bodies) are well formed too.

>>> import rillet as rl
>>> from rillet.graph.verify import verify
>>> graph = rl.function(lambda x: rl.tanh(x) + 1.0).get_graph(rl.ones((2, 3)))
>>> verify(graph) is graph
True
"""

from __future__ import annotations

import numpy as np

from ..errors import RilletError
from ..ops._registry import REGISTRY, Spec
from ..ops._rules import fmt
from .ir import CONSTANT, PLACEHOLDER, Graph, Node, Value


class GraphError(RilletError, ValueError):
    """A graph is malformed: the message names the node (or input/output) that is wrong."""


def verify(graph: Graph) -> Graph:
    """Check that ``graph`` is well formed (see the module docstring); return it.

    Raises :class:`GraphError` naming the first node, input or output found wrong.
    """
    _check_names(graph)
    produced: set[int] = set()  # ids of the values made by the nodes seen so far
    for node in graph.nodes:
        _check_inputs(graph, node, produced)
        _check_outputs(node)
        _check_node(node)
        produced.update(id(v) for v in node.outputs)
    _check_graph_inputs(graph)
    _check_graph_outputs(graph, produced)
    return graph


# -- structure ------------------------------------------------------------------------------


def _check_names(graph: Graph) -> None:
    seen: set[str] = set()
    for node in graph.nodes:
        if node.name in seen:
            raise GraphError(f"graph {graph.name}: node name {node.name!r} repeats")
        seen.add(node.name)


def _check_inputs(graph: Graph, node: Node, produced: set[int]) -> None:
    for position, value in enumerate(node.inputs):
        if value is None:
            continue
        if not isinstance(value, Value):
            raise GraphError(f"node {node.name} ({node.op}): input {position} is not a Value")
        if id(value) not in produced:
            raise GraphError(
                f"node {node.name} ({node.op}): input {position} reads {_describe(graph, value)}"
            )


def _describe(graph: Graph, value: Value) -> str:
    """Why ``value`` cannot be read here: produced later, or not part of this graph."""
    if any(n is value.node for n in graph.nodes) and _is_output_of(value):
        return f"%{value.name}, which is produced later (nodes must be in program order)"
    return f"%{value.name}, which is not a value of graph {graph.name}"


def _is_output_of(value: Value) -> bool:
    outputs = value.node.outputs
    return value.index < len(outputs) and outputs[value.index] is value


def _check_outputs(node: Node) -> None:
    if not node.outputs:
        raise GraphError(f"node {node.name} ({node.op}) has no outputs")
    for i, value in enumerate(node.outputs):
        if value.node is not node or value.index != i:
            raise GraphError(f"node {node.name} ({node.op}): output {i} belongs to another node")


# -- nodes ----------------------------------------------------------------------------------


def _check_node(node: Node) -> None:
    if node.op == PLACEHOLDER:
        _check_placeholder(node)
    elif node.op == CONSTANT:
        _check_constant(node)
    elif node.op not in REGISTRY:
        raise GraphError(f"node {node.name}: op {node.op!r} is not registered")
    else:
        _check_arguments(node)
        _check_subgraphs(node)
        _check_rule(node)


def _check_placeholder(node: Node) -> None:
    if node.inputs or len(node.outputs) != 1:
        raise GraphError(f"placeholder {node.name} must have no inputs and one output")
    if not isinstance(node.attrs.get("index"), int):
        raise GraphError(f"placeholder {node.name} has no integer 'index' attribute")


def _check_constant(node: Node) -> None:
    value = node.attrs.get("value")
    if node.inputs or len(node.outputs) != 1:
        raise GraphError(f"constant {node.name} must have no inputs and one output")
    if not isinstance(value, np.ndarray):
        raise GraphError(f"constant {node.name}: attribute 'value' is not a NumPy array")
    out = node.outputs[0]
    if value.shape != out.shape or value.dtype != out.dtype:
        raise GraphError(
            f"constant {node.name} holds {value.dtype}{fmt(value.shape)} but its output says "
            f"{out.dtype}{fmt(out.shape)}"
        )


def _check_arguments(node: Node) -> None:
    """The node has as many inputs as its op takes, and only the op's attributes."""
    op = REGISTRY[node.op]
    if not op.variadic and len(node.inputs) != op.n_inputs:
        raise GraphError(
            f"node {node.name} ({node.op}) has {len(node.inputs)} inputs, "
            f"the op takes {op.n_inputs}"
        )
    unknown = sorted(set(node.attrs) - set(op.attr_names))
    missing = sorted(op.required_attrs - set(node.attrs))
    if unknown or missing:
        what = f"unknown attribute {unknown[0]!r}" if unknown else f"no attribute {missing[0]!r}"
        raise GraphError(f"node {node.name} ({node.op}) has {what}")


def _check_rule(node: Node) -> None:
    """The recorded output specs agree with the op's rule on the recorded input specs."""
    try:
        spec = REGISTRY[node.op].rule(*node.inputs, **node.attrs)
    except (RilletError, TypeError, ValueError) as error:
        raise GraphError(
            f"node {node.name} ({node.op}): its rule rejects its inputs "
            f"{_specs_text(node.inputs)}: {_message(error)}"
        ) from error
    expected = [spec] if type(spec) is Spec else list(spec)
    if len(expected) != len(node.outputs):
        raise GraphError(
            f"node {node.name} ({node.op}) has {len(node.outputs)} outputs, "
            f"its rule gives {len(expected)}"
        )
    for value, want in zip(node.outputs, expected):
        if not _compatible(value, want):
            raise GraphError(
                f"node {node.name} ({node.op}): output {value.index} is recorded as "
                f"{value.dtype}{fmt(value.shape)}, but the rule gives "
                f"{want.dtype}{fmt(tuple(want.shape))} for inputs {_specs_text(node.inputs)}"
            )


def _check_subgraphs(node: Node) -> None:
    for name, value in node.attrs.items():
        if isinstance(value, Graph):
            try:
                verify(value)
            except GraphError as error:
                raise GraphError(
                    f"node {node.name} ({node.op}): attribute {name}: {error.message}"
                ) from error


def _message(error: Exception) -> str:
    """The error's text without the caller's location (the GraphError adds its own)."""
    if isinstance(error, RilletError):
        return f"{error.op}: {error.message}" if error.op else error.message
    return str(error)


def _compatible(value: Value, spec: Spec) -> bool:
    """Same dtype and rank, and equal sizes where both are known."""
    shape = tuple(spec.shape)
    return (
        value.dtype == spec.dtype
        and len(value.shape) == len(shape)
        and all(a is None or b is None or a == b for a, b in zip(value.shape, shape))
    )


def _specs_text(values) -> str:
    items = ["None" if v is None else f"{v.dtype}{fmt(v.shape)}" for v in values]
    return "(" + ", ".join(items) + ")"


# -- graph inputs and outputs ---------------------------------------------------------------


def _check_graph_inputs(graph: Graph) -> None:
    node_ids = {id(n) for n in graph.nodes}
    for position, value in enumerate(graph.inputs):
        node = getattr(value, "node", None)
        if node is None or id(node) not in node_ids or node.op != PLACEHOLDER:
            raise GraphError(
                f"graph {graph.name}: input {position} is not a placeholder of this graph"
            )
        if node.attrs.get("index") != position:
            raise GraphError(
                f"placeholder {node.name} has index {node.attrs.get('index')} "
                f"but is input {position} of graph {graph.name}"
            )
    listed = {id(v.node) for v in graph.inputs}
    for node in graph.nodes:
        if node.op == PLACEHOLDER and id(node) not in listed:
            raise GraphError(f"placeholder {node.name} is not among the inputs of {graph.name}")


def _check_graph_outputs(graph: Graph, produced: set[int]) -> None:
    for position, value in enumerate(graph.outputs):
        if not isinstance(value, Value) or id(value) not in produced:
            name = f"%{value.name}" if isinstance(value, Value) else repr(value)
            raise GraphError(
                f"graph {graph.name}: output {position} ({name}) is not a value of this graph"
            )
