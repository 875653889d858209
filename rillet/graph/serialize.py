"""Graphs as text, Graphviz DOT and JSON; saving a graph with its weights and loading it back.

JSON holds the structure (nodes, ops, attributes, shapes, dtypes); arrays (constants and
variable values) go to a NumPy ``.npz`` beside it, written without pickle and read with
``allow_pickle=False``, so loading never runs code from the files. A loaded graph runs
through the op registry alone, without the Python source that traced it.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, RilletError
from ..ops._registry import REGISTRY, Spec
from ..ops._rules import fmt
from .ir import CONSTANT, PLACEHOLDER, Graph

FORMAT = "rillet.graph/1"


class GraphFormatError(RilletError, ValueError):
    """A graph file is truncated, corrupted or not a rillet graph."""


# -- text and DOT ---------------------------------------------------------------------------


def _attr_text(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array{fmt(value.shape)}" if value.size > 4 else np.array2string(value)
    if hasattr(value, "_rillet_read"):
        return f"variable '{value.name}'"
    return repr(value)


def _node_text(node) -> str:
    outs = ", ".join(repr(v) for v in node.outputs)
    ins = ", ".join("None" if v is None else f"%{v.name}" for v in node.inputs)
    attrs = ", ".join(f"{k}={_attr_text(v)}" for k, v in node.attrs.items() if k != "index")
    args = ", ".join(a for a in (ins, attrs) if a)
    return f"  {outs} = {node.op}({args})"


def to_text(graph: Graph) -> str:
    """A readable listing: one line per node, then the outputs."""
    lines = [f"graph {graph.name}(" + ", ".join(repr(v) for v in graph.inputs) + "):"]
    lines += [_node_text(n) for n in graph.nodes if n.op != PLACEHOLDER]
    lines.append("  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    return "\n".join(lines)


def to_dot(graph: Graph) -> str:
    """The graph in Graphviz DOT: one box per node, edges labelled with shapes."""
    lines = [f'digraph "{graph.name}" {{', "  node [shape=box, fontname=Helvetica];"]
    for node in graph.nodes:
        style = ", style=filled, fillcolor=lightgrey" if node.op in (PLACEHOLDER, CONSTANT) else ""
        lines.append(f'  "{node.name}" [label="{node.op}"{style}];')
        for value in node.inputs:
            if value is not None:
                label = f"{value.dtype.name}{fmt(value.shape)}"
                lines.append(f'  "{value.node.name}" -> "{node.name}" [label="{label}"];')
    for i, value in enumerate(graph.outputs):
        lines.append(f'  "output {i}" [shape=oval];')
        lines.append(f'  "{value.node.name}" -> "output {i}";')
    lines.append("}")
    return "\n".join(lines)


# -- JSON -----------------------------------------------------------------------------------


def _encode(value, arrays: dict, variables: list):
    if isinstance(value, np.ndarray):
        key = f"array{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if hasattr(value, "_rillet_read"):
        for i, v in enumerate(variables):
            if v is value:
                return {"__variable__": i}
        variables.append(value)
        return {"__variable__": len(variables) - 1}
    if isinstance(value, np.dtype):
        return {"__dtype__": value.name}
    if isinstance(value, type) and issubclass(value, np.generic):
        return {"__dtype__": np.dtype(value).name}
    if isinstance(value, slice):
        return {
            "__slice__": [
                _encode(v, arrays, variables) for v in (value.start, value.stop, value.step)
            ]
        }
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays, variables) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays, variables) for v in value]
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_encode(k, arrays, variables), _encode(v, arrays, variables)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ArgumentError(f"cannot serialize an attribute of type {type(value).__name__}")


def _decode(value, arrays, variables):
    if isinstance(value, list):
        return [_decode(v, arrays, variables) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__variable__" in value:
        return variables[value["__variable__"]]
    if "__dtype__" in value:
        return _dtypes.as_dtype(value["__dtype__"])
    if "__slice__" in value:
        return slice(*(_decode(v, arrays, variables) for v in value["__slice__"]))
    if "__ellipsis__" in value:
        return Ellipsis
    if "__tuple__" in value:
        return tuple(_decode(v, arrays, variables) for v in value["__tuple__"])
    if "__dict__" in value:
        return {
            _decode(k, arrays, variables): _decode(v, arrays, variables)
            for k, v in value["__dict__"]
        }
    raise GraphFormatError(f"unknown attribute encoding {sorted(value)}")


def to_json(graph: Graph, arrays: dict | None = None, variables: list | None = None) -> dict:
    """The graph as a JSON-able dict; arrays and variables are collected into the two
    containers (referenced by key/index)."""
    arrays = {} if arrays is None else arrays
    variables = [] if variables is None else variables
    index = {}
    nodes = []
    for n, node in enumerate(graph.nodes):
        for value in node.outputs:
            index[id(value)] = [n, value.index]
        nodes.append(
            {
                "name": node.name,
                "op": node.op,
                "inputs": [None if v is None else index[id(v)] for v in node.inputs],
                "attrs": {k: _encode(v, arrays, variables) for k, v in node.attrs.items()},
                "outputs": [{"shape": list(v.shape), "dtype": v.dtype.name} for v in node.outputs],
            }
        )
    return {
        "format": FORMAT,
        "name": graph.name,
        "nodes": nodes,
        "inputs": [index[id(v)] for v in graph.inputs],
        "outputs": [index[id(v)] for v in graph.outputs],
        "variables": [{"name": v.name, "trainable": v.trainable} for v in variables],
    }


def from_json(data: dict, arrays: dict, variables: list) -> Graph:
    """Rebuild a graph from :func:`to_json`'s dict, its arrays and its variables."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GraphFormatError(f"not a rillet graph (expected format {FORMAT!r})")
    graph = Graph(data["name"])
    built = []
    for record in data["nodes"]:
        op = record["op"]
        if op not in REGISTRY and op not in (PLACEHOLDER, CONSTANT):
            raise GraphFormatError(f"node {record['name']} uses unknown op {op!r}")
        inputs = [
            None if ref is None else built[ref[0]].outputs[ref[1]] for ref in record["inputs"]
        ]
        attrs = {k: _decode(v, arrays, variables) for k, v in record["attrs"].items()}
        specs = [Spec(tuple(o["shape"]), _dtypes.as_dtype(o["dtype"])) for o in record["outputs"]]
        node = graph.add_node(op, inputs, attrs, specs)
        node.name = record["name"]
        built.append(node)
    graph.inputs = [built[n].outputs[i] for n, i in data["inputs"]]
    graph.outputs = [built[n].outputs[i] for n, i in data["outputs"]]
    return graph


# -- files ----------------------------------------------------------------------------------


def save(graph: Graph, path: str) -> None:
    """Write ``path`` (JSON) and ``path + ".npz"`` (constants and variable values),
    each atomically (temporary file, fsync, rename)."""
    arrays: dict = {}
    variables: list = []
    data = to_json(graph, arrays, variables)
    for i, variable in enumerate(variables):
        arrays[f"variable{i}"] = variable.numpy()
    _atomic_write(path + ".npz", lambda f: np.savez(f, **arrays))
    _atomic_write(path, lambda f: f.write(json.dumps(data, indent=1).encode()))


def load(path: str) -> Graph:
    """Load a graph written by :func:`save`, with new variables holding the saved values."""
    from ..variable import Variable

    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode())
        with np.load(path + ".npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise GraphFormatError(f"cannot read graph {path!r}: {exc}") from None
    try:
        variables = [
            Variable(arrays[f"variable{i}"], trainable=v["trainable"], name=v["name"])
            for i, v in enumerate(data["variables"])
        ]
        return from_json(data, arrays, variables)
    except (KeyError, TypeError, IndexError) as exc:
        raise GraphFormatError(f"graph {path!r} is corrupted: missing {exc}") from None


def _atomic_write(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
