"""A rillet :class:`~rillet.graph.Graph` as TensorBoard's ``GraphDef`` proto.

Each node keeps its name and op; inputs name the producing node (``name:index`` for a
node with several outputs); attributes carry the dtype, the output shapes
(``_output_shapes``, which TensorBoard draws on the edges) and the node's own simple
attributes.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentTypeError
from ._proto import proto
from .writer import get_default_writer

_DTYPES = {
    "float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE",
    "bfloat16": "DT_BFLOAT16", "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32",
    "int64": "DT_INT64", "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32",
    "uint64": "DT_UINT64", "bool": "DT_BOOL", "complex64": "DT_COMPLEX64",
    "complex128": "DT_COMPLEX128",
}  # fmt: skip


def _dtype_enum(dtype) -> int:
    types_pb2 = proto("types_pb2")
    return types_pb2.DataType.Value(_DTYPES.get(np.dtype(dtype).name, "DT_INVALID"))


def _shape_proto(shape):
    shape_pb2 = proto("tensor_shape_pb2")
    dims = [shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in shape]
    return shape_pb2.TensorShapeProto(dim=dims)


def _attr_value(value):
    """An ``AttrValue`` for a simple attribute, or None for one TensorBoard cannot show."""
    attr_pb2 = proto("attr_value_pb2")
    if isinstance(value, (bool, np.bool_)):
        return attr_pb2.AttrValue(b=bool(value))
    if isinstance(value, (int, np.integer)):
        return attr_pb2.AttrValue(i=int(value))
    if isinstance(value, (float, np.floating)):
        return attr_pb2.AttrValue(f=float(value))
    if isinstance(value, str):
        return attr_pb2.AttrValue(s=value.encode())
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return attr_pb2.AttrValue(list=attr_pb2.AttrValue.ListValue(i=[int(v) for v in value]))
    if isinstance(value, np.ndarray):  # constants: show the shape, not the data
        return attr_pb2.AttrValue(shape=_shape_proto(value.shape))
    name = getattr(value, "path", None) or getattr(value, "name", None)
    if isinstance(name, str):  # a variable
        return attr_pb2.AttrValue(s=name.encode())
    return None


def _node_def(node):
    attr_pb2, node_def_pb2 = proto("attr_value_pb2"), proto("node_def_pb2")
    attrs = {}
    for key, value in node.attrs.items():
        converted = _attr_value(value)
        if converted is not None:
            attrs[key] = converted
    if node.outputs:
        attrs["dtype"] = attr_pb2.AttrValue(type=_dtype_enum(node.outputs[0].dtype))
        shapes = [_shape_proto(v.shape) for v in node.outputs]
        attrs["_output_shapes"] = attr_pb2.AttrValue(
            list=attr_pb2.AttrValue.ListValue(shape=shapes)
        )
    inputs = [_input_name(v) for v in node.inputs if v is not None]
    return node_def_pb2.NodeDef(name=node.name, op=node.op, input=inputs, attr=attrs)


def _input_name(value) -> str:
    return value.node.name if value.index == 0 else f"{value.node.name}:{value.index}"


def to_graph_def(graph):
    """The ``GraphDef`` proto of a rillet graph (outputs become ``Identity`` nodes named
    ``output_<i>``)."""
    from ..graph.ir import Graph

    if not isinstance(graph, Graph):
        raise ArgumentTypeError(
            f"received {type(graph).__name__}, expected an rl.Graph (rl.function(f)"
            ".get_graph(...))",
            op="summary.graph",
        )
    graph_pb2 = proto("graph_pb2")
    nodes = [_node_def(node) for node in graph.nodes]
    for i, value in enumerate(graph.outputs):
        nodes.append(
            proto("node_def_pb2").NodeDef(
                name=f"output_{i}", op="Identity", input=[_input_name(value)]
            )
        )
    return graph_pb2.GraphDef(node=nodes, versions=proto("versions_pb2").VersionDef(producer=1))


def graph(graph_data) -> bool:
    """Write a traced rillet graph to the default writer, for TensorBoard's graph tab.

    Accepts an ``rl.Graph`` or anything with a ``.graph`` (a concrete function).
    """
    writer = get_default_writer()
    if writer is None:
        return False
    graph_data = getattr(graph_data, "graph", graph_data)
    graph_def = to_graph_def(graph_data)
    writer.write_event(proto("event_pb2").Event(graph_def=graph_def.SerializeToString()))
    return True
