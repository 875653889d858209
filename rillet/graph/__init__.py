"""Graphs: tracing (``rl.function``), the IR, passes and executors."""

from .function import ConcreteFunction, Function, RetracingWarning, TensorSpec, function
from .ir import Graph, Node, Value
from .trace import TracedTensor, TracingError

__all__ = [
    "ConcreteFunction", "Function", "Graph", "Node", "RetracingWarning", "TensorSpec",
    "TracedTensor", "TracingError", "Value", "function",
]  # fmt: skip
