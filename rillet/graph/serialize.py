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
import zipfile

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, RilletError
from ..ops._registry import REGISTRY, Spec
from ..ops._rules import fmt
from ..ops.indexing import Slice
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


def _quoted(text: str) -> str:
    """A DOT identifier in double quotes (quotes and backslashes escaped)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    """The graph in Graphviz DOT: one box per node, edges labelled with shapes."""
    lines = [f"digraph {_quoted(graph.name)} {{", "  node [shape=box, fontname=Helvetica];"]
    for node in graph.nodes:
        style = ", style=filled, fillcolor=lightgrey" if node.op in (PLACEHOLDER, CONSTANT) else ""
        lines.append(f"  {_quoted(node.name)} [label={_quoted(node.op)}{style}];")
        for value in node.inputs:
            if value is not None:
                label = _quoted(f"{value.dtype.name}{fmt(value.shape)}")
                lines.append(
                    f"  {_quoted(value.node.name)} -> {_quoted(node.name)} [label={label}];"
                )
    for i, value in enumerate(graph.outputs):
        lines.append(f'  "output {i}" [shape=oval];')
        lines.append(f'  {_quoted(value.node.name)} -> "output {i}";')
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
    if isinstance(value, Graph):  # a control-flow body: its arrays and variables are shared
        return {"__graph__": to_json(value, arrays, variables)}
    if isinstance(value, Slice):  # a getitem key's slice: a named tuple of its own
        return {"__Slice__": list(value)}
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
    if "__graph__" in value:
        return from_json(value["__graph__"], arrays, variables)
    if "__Slice__" in value:
        return Slice(*value["__Slice__"])
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


def _dtype_named(name) -> np.dtype:
    """A value's dtype from its name: rillet's dtypes, and the uint32 of random keys."""
    if name == "uint32":
        return np.dtype(np.uint32)
    return _dtypes.as_dtype(name)


def _ref(ref, built: list, what: str):
    """The value ``[node, output]`` refers to; only nodes built so far can be read."""
    if not (isinstance(ref, list) and len(ref) == 2 and all(type(i) is int for i in ref)):
        raise GraphFormatError(f"{what}: {ref!r} is not a reference [node, output]")
    node, index = ref
    if not (0 <= node < len(built) and 0 <= index < len(built[node].outputs)):
        raise GraphFormatError(f"{what}: {ref!r} refers to no earlier node's output")
    return built[node].outputs[index]


def _node_from_json(graph: Graph, record: dict, built: list, arrays: dict, variables: list):
    op = record["op"]
    if op not in REGISTRY and op not in (PLACEHOLDER, CONSTANT):
        raise GraphFormatError(f"node {record['name']} uses unknown op {op!r}")
    what = f"node {record['name']} ({op})"
    inputs = [None if r is None else _ref(r, built, what) for r in record["inputs"]]
    attrs = {k: _decode(v, arrays, variables) for k, v in record["attrs"].items()}
    specs = [Spec(tuple(o["shape"]), _dtype_named(o["dtype"])) for o in record["outputs"]]
    node = graph.add_node(op, inputs, attrs, specs)
    node.name = record["name"]
    return node


def from_json(data: dict, arrays: dict, variables: list) -> Graph:
    """Rebuild a graph from :func:`to_json`'s dict, its arrays and its variables."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GraphFormatError(f"not a rillet graph (expected format {FORMAT!r})")
    graph = Graph(data["name"])
    built: list = []
    for record in data["nodes"]:
        built.append(_node_from_json(graph, record, built, arrays, variables))
    graph.inputs = [_ref(r, built, "graph input") for r in data["inputs"]]
    graph.outputs = [_ref(r, built, "graph output") for r in data["outputs"]]
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


# What reading or decoding a damaged file can raise, besides rillet's own errors.
_DAMAGE = (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, EOFError)


def load(path: str) -> Graph:
    """Load a graph written by :func:`save`, with new variables holding the saved values.

    A missing, truncated, corrupted or foreign file raises :class:`GraphFormatError` naming
    it. Nothing in the files is executed: the arrays are read with ``allow_pickle=False``,
    and the rebuilt graph must pass ``rillet.graph.verify``.
    """
    data, arrays = _read(path)
    try:
        return _build(data, arrays)
    except GraphFormatError as exc:
        raise GraphFormatError(f"graph {path!r} is corrupted: {exc}") from None
    except (RilletError, *_DAMAGE) as exc:
        raise GraphFormatError(
            f"graph {path!r} is corrupted: {type(exc).__name__}: {exc}"
        ) from None


def _read(path: str) -> tuple[dict, dict]:
    """The JSON structure of ``path`` and the arrays of ``path + ".npz"``."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode())
        # Open the file here: np.load leaves its own handle open when the zip is damaged.
        with open(path + ".npz", "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (*_DAMAGE, zipfile.BadZipFile) as exc:
        raise GraphFormatError(f"cannot read graph {path!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GraphFormatError(f"{path!r} is not a rillet graph (expected format {FORMAT!r})")
    return data, arrays


def _build(data: dict, arrays: dict) -> Graph:
    from ..variable import Variable
    from .verify import verify

    variables = [
        Variable(arrays[f"variable{i}"], trainable=v["trainable"], name=v["name"])
        for i, v in enumerate(data["variables"])
    ]
    return verify(from_json(data, arrays, variables))


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
