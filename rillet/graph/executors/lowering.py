"""Lowering a graph to the source of one Python function: the code generator behind the
compiled executor (rillet/graph/executors/compiled.py), which compiles and runs what this
writes."""

from __future__ import annotations

import itertools
import keyword
import math
import re

import numpy as np

from ... import _context
from ...config import intra_op_threads
from ...errors import NumericsError
from ...ops._rnn_jit import specialize_frame as specialize_gru_frame
from ...ops._rules import fmt
from ...ops.epilogue import specialize as specialize_epilogue
from ...ops.fused import specialize
from ...ops.indexing import _numpy_basic
from ...tensor import Tensor
from ...variable import _UPDATE_UFUNCS
from ..ir import CONSTANT, PLACEHOLDER, Graph, Node, Value
from ..passes.memory_plan import MemoryPlan, kernel_traits
from . import parallel

# Kernels specialized to a node's static specs: op -> (node -> ``run(*inputs, out)`` or None).
# On a batch-1 streaming step the kernels' own checks cost more than their loops.
_SPECIALIZERS = {
    "fused_matmul": lambda node: specialize_epilogue(
        *node.inputs, node.outputs[0], node.attrs["activation"]
    ),  # a small product's loop
    "gru_forward": lambda node: specialize_gru_frame(*node.inputs, **node.attrs),  # a frame
}


# Ops whose kernel is exactly one NumPy call, ``xp.<ufunc>(*inputs, *extra, out=out)``
# (tests/graph/test_compiled.py checks each against its kernel): the program calls NumPy.
UFUNC_KERNELS = {
    **{name: (name, ()) for name in (
        "add", "subtract", "multiply", "negative", "square", "sign", "maximum", "minimum",
        "matmul", "floor_divide", "remainder", "equal", "not_equal", "less", "less_equal",
        "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
        "isnan", "isinf", "isfinite",
    )},
    "abs": ("absolute", ()),
    "relu": ("maximum", ("0",)),
}  # fmt: skip
# Ops that only give their input another static shape, written inline as ``x.reshape(...)``.
_RESHAPES = frozenset({"reshape", "expand_dims", "squeeze"})


def _copy_slice(x: np.ndarray, key: tuple, out: np.ndarray) -> np.ndarray:
    """``x[key]`` copied into ``out`` (the getitem kernel with its key already converted)."""
    out[...] = x[key]
    return out


def _flattens(node: Node) -> bool:
    """A matmul of an N-d (N > 2) array by a matrix, all sizes known."""
    x, w = node.inputs
    values = (x, w, node.outputs[0])
    return x.ndim > 2 and w.ndim == 2 and all(None not in v.shape for v in values)


class _Names:
    """Unique Python identifiers for the generated code, derived from readable names."""

    def __init__(self):
        self.used: set[str] = set()

    def claim(self, wanted: str) -> str:
        name = re.sub(r"\W", "_", wanted) or "_"
        if name[0].isdigit() or keyword.iskeyword(name):
            name = f"_{name}"
        base, suffix = name, itertools.count(1)
        while name in self.used:
            name = f"{base}_{next(suffix)}"
        self.used.add(name)
        return name


class Lowering:
    """Writes the source of one program for ``graph``: ``arena`` (the planned values'
    memory; None: none) and ``checked`` (a check of each op's outputs) choose the variant."""

    def __init__(self, graph: Graph, plan: MemoryPlan, arena, checked: bool):
        self.graph, self.plan, self.arena, self.checked = graph, plan, arena, checked
        self.names = _Names()
        self.namespace: dict = {}
        self.locals: dict[int, str] = {}  # value id -> local or global name
        self.globals: dict[tuple, str] = {}  # (kind, key) -> global name
        self.line_nodes: dict[int, tuple[Node, list[str]]] = {}
        self.helpers: list[str] = []  # the regions' functions, after the program's
        for name, obj in (("np", np), ("_compute", _context.compute), ("_empty", np.empty)):
            self._global(("builtin", name), name, obj)
        if checked:
            self._global(("builtin", "_check"), "_check", _Checker(graph.nodes))
        self.fn_name = self.names.claim(graph.name)

    # -- names ------------------------------------------------------------------------------

    def _global(self, key: tuple, wanted: str, obj) -> str:
        name = self.globals.get(key)
        if name is None:
            name = self.globals[key] = self.names.claim(wanted)
            self.namespace[name] = obj
        return name

    def _name(self, value: Value | None) -> str:
        return "None" if value is None else self.locals[id(value)]

    def _define(self, value: Value) -> str:
        name = self.locals[id(value)] = self.names.claim(value.name)
        return name

    # -- the program ------------------------------------------------------------------------

    def source(self) -> str:
        params = [self._define(v) for v in self.graph.inputs]
        body = [f"# graph {self.graph.name}: {self._arena_summary()}"]
        last_use = self._last_uses()
        regions = {r.start: r for r in self._regions()}
        i = 0
        while i < len(self.graph.nodes):
            if i in regions:
                body.extend(self._region_lines(regions[i], last_use))
                i = regions[i].stop
                continue
            node = self.graph.nodes[i]
            if node.op == CONSTANT:
                self._define_constant(node)
            elif node.op != PLACEHOLDER:
                body.extend(self._node_lines(len(body) + 2, node))
            dead = [self._name(v) for v in last_use.get(i, ()) if v.node.op != CONSTANT]
            if dead:
                body.append(f"del {', '.join(dead)}")
            i += 1
        body.append(f"return [{', '.join(self._name(v) for v in self.graph.outputs)}]")
        lines = [f"def {self.fn_name}({', '.join(params)}):"] + [f"    {b}" for b in body]
        return "\n".join(lines) + "\n" + "".join(self.helpers)

    def _define_constant(self, node: Node) -> None:
        name = self._define(node.outputs[0])
        self.namespace[name] = node.attrs["value"]

    def _arena_summary(self) -> str:
        if self.arena is None or not self.plan.offsets:
            return "no planned memory"
        count = len(self.plan.offsets)
        plural = "s" * (count != 1)
        return f"{count} value{plural} planned in an arena of {self.plan.arena_bytes} bytes"

    def _last_uses(self) -> dict[int, list[Value]]:
        """Step -> values dead after it (last read there, or never read); outputs live on."""
        last: dict[int, tuple[int, Value]] = {}
        for i, node in enumerate(self.graph.nodes):
            for value in node.outputs:
                last[id(value)] = (i, value)
            for value in node.inputs:
                if value is not None:
                    last[id(value)] = (i, value)
        for value in self.graph.inputs:
            last.setdefault(id(value), (-1, value))
        keep = {id(v) for v in self.graph.outputs}
        dead: dict[int, list[Value]] = {}
        for key, (i, value) in last.items():
            if key not in keep and i >= 0:
                dead.setdefault(i, []).append(value)
        return dead

    def _node_lines(self, lineno: int, node: Node) -> list[str]:
        inputs = [self._name(v) for v in node.inputs]
        call = self._call(node, inputs)
        targets = [self._define(v) for v in node.outputs]
        line = f"{', '.join(targets)} = {call}" if targets else call
        lines = [f"{line}  # {self._describe(node)}"]
        self.line_nodes[lineno] = (node, inputs)
        if self.checked:
            index = self.graph.nodes.index(node)
            lines.append(f"_check({index}, ({_tuple(inputs)}), ({_tuple(targets)}))")
            self.line_nodes[lineno + 1] = (node, inputs)
        return lines

    def _fast(self, node: Node) -> bool:
        """Call the kernel itself: its results need no conversion (as they come, or when
        written into the ``out=`` array the plan gives it)."""
        traits = kernel_traits(node)
        if traits.writes_out and self._out(node) is not None:
            return True
        return traits.exact

    def _call(self, node: Node, inputs: list[str]) -> str:
        if node.op in ("read_variable", "assign_variable"):
            return self._state_call(node, inputs)
        if node.opdef.writes:  # a fused update: its kernel writes the variables itself
            kernel = self._global(("kernel", node.op), node.op, node.opdef.kernel)
            attrs = self._global(("attrs", id(node)), f"{node.name}_attrs", node.attrs)
            return f"{kernel}(np, {', '.join(inputs)}, **{attrs})"
        if node.op in _RESHAPES and self._out(node) is None and _static(node):
            return f"{inputs[0]}.reshape({node.outputs[0].shape!r})"  # a view: no kernel call
        if not self._fast(node):
            op = self._global(("op", node.op), f"{node.op}_op", node.opdef)
            attrs = self._global(("attrs", id(node)), f"{node.name}_attrs", node.attrs)
            spec = node.opdef.rule(*node.inputs, **node.attrs)  # a Spec or a list, as eager
            spec = self._global(("spec", id(node)), f"{node.name}_spec", spec)
            return f"_compute({op}, [{', '.join(inputs)}], {attrs}, {spec})"
        out = self._out(node)
        if node.op == "fused_elementwise":
            return self._fused_call(node, inputs, out)
        specializer = _SPECIALIZERS.get(node.op)
        run = None if specializer is None else specializer(node)
        if run is not None:  # the kernel's checks done once, here
            name = self._global(("run", id(node)), f"{node.name}_run", run)
            return f"{name}({', '.join(inputs)}, {out or 'None'})"
        if node.op == "concat" and isinstance(node.attrs.get("axis"), int):
            # The kernel is np.concatenate; its inputs share the result's dtype here.
            if all(v is not None and v.dtype == node.outputs[0].dtype for v in node.inputs):
                parts = f"({', '.join(inputs)},)"
                tail = f", out={out}" if out is not None else ""
                return f"np.concatenate({parts}, axis={node.attrs['axis']}{tail})"
        if node.op == "getitem":  # basic indexing: NumPy's own, its key converted once
            key = self._global(
                ("key", id(node)), f"{node.name}_key", _numpy_basic(node.attrs["key"])
            )
            if out is None:
                return f"{inputs[0]}[{key}]"  # a view, as the kernel returns
            helper = self._global(("builtin", "_copy_slice"), "_copy_slice", _copy_slice)
            return f"{helper}({inputs[0]}, {key}, {out})"
        if node.op in UFUNC_KERNELS and not node.attrs:
            # The kernel is this one NumPy call: make it directly (a Python frame less).
            if node.op == "matmul" and _flattens(node):
                return self._flat_matmul(node, inputs)
            if out is not None and out.startswith("_empty(") and kernel_traits(node).exact:
                out = None  # NumPy's own new array is the same, a call cheaper
            args = [*inputs, *UFUNC_KERNELS[node.op][1]] + [f"out={out}"] * (out is not None)
            return f"np.{UFUNC_KERNELS[node.op][0]}({', '.join(args)})"
        kernel = self._global(("kernel", node.op), node.op, node.opdef.kernel)
        args = ["np", *inputs, *self._attrs(node)]
        if out is not None:
            args.append(f"out={out}")
        return f"{kernel}({', '.join(args)})"

    def _flat_matmul(self, node: Node, inputs: list[str]) -> str:
        """``x @ w`` for an N-d ``x`` and a matrix ``w`` as one 2-d product (NumPy would run
        a product per leading index), the result a view of the 2-d one."""
        x, result = node.inputs[0], node.outputs[0]
        rows, shape = math.prod(x.shape[:-1]), (math.prod(x.shape[:-1]), result.shape[-1])
        offset = self.plan.offset_of(result)
        if offset is not None and self.arena is not None:
            out = f", out={self._view(offset, result, shape)}"
        else:
            out = ""
        flat = f"{inputs[0]}.reshape({rows}, {x.shape[-1]})"
        return f"np.matmul({flat}, {inputs[1]}{out}).reshape({result.shape!r})"

    def _state_call(self, node: Node, inputs: list[str]) -> str:
        """Variables are read and updated directly: both kernels move data without
        converting it, so ``_context.compute``'s work per call is not needed."""
        variable = node.attrs["variable"]
        name = self._global(("variable", id(variable)), f"{node.name}_variable", variable)
        if node.op == "read_variable":
            return f"{name}._array"  # read at each run: set_seed or a copy-on-write may swap it
        # The assign_variable kernel, inline: update in place (or copy on write), then the
        # variable's buffer is the value (``_write`` returns None).
        return f"{name}._write({inputs[0]}, {node.attrs['mode']!r}) or {name}._array"

    def _fused_call(self, node: Node, inputs: list[str], out: str | None) -> str:
        """A fused node calls the function its kernel would look up for these static
        shapes and dtypes (saving that lookup, a microsecond or two per call)."""
        values = [v for v in node.inputs if v is not None]
        run = specialize(
            node.attrs["program"], tuple(v.shape for v in values), tuple(v.dtype for v in values)
        )
        name = self._global(("run", id(node)), f"{node.name}_run", run)
        return f"{name}(np, {', '.join(inputs)}, {out or 'None'})"

    def _attrs(self, node: Node) -> list[str]:
        written = []
        for key, attr in node.attrs.items():
            text = _literal(attr)
            if text is None:
                text = self._global(("attr", id(node), key), f"{node.name}_{key}", attr)
            written.append(f"{key}={text}")
        return written

    def _out(self, node: Node) -> str | None:
        """The ``out=`` argument: a view of a shared buffer, a new array, or None."""
        if len(node.outputs) != 1:
            return None
        value = node.outputs[0]
        offset = self.plan.offset_of(value)
        if offset is not None and self.arena is not None:
            return self._view(offset, value)
        if id(value) in self.plan.fresh:
            dtype = self._global(("dtype", value.dtype.str), value.dtype.name, value.dtype)
            return f"_empty({value.shape!r}, {dtype})"
        return None

    def _view(self, offset: int, value: Value, shape: tuple | None = None) -> str:
        """A global array of ``value``'s shape (or ``shape``) and dtype at ``offset`` in the
        arena."""
        shape = value.shape if shape is None else shape
        text = "x".join(map(str, shape)) or "scalar"
        key = ("view", offset, shape, value.dtype.str)
        size = math.prod(shape) * value.dtype.itemsize
        view = self.arena[offset : offset + size].view(value.dtype).reshape(shape)
        return self._global(key, f"arena_{offset}_{value.dtype.name}_{text}", view)

    # -- regions run on several threads (see .parallel) ---------------------------------------

    def _regions(self) -> list:
        if self.arena is None or self.checked or intra_op_threads() < 2:
            return []
        return parallel.find_regions(self.graph, self.plan)

    def _region_lines(self, region, last_use: dict) -> list[str]:
        """The region's function (a helper of the program) and the lines that run it."""
        start, stop = region.start, region.stop
        nodes = self.graph.nodes[start:stop]
        for node in nodes:
            if node.op == CONSTANT:
                self._define_constant(node)
        inside = {id(v) for n in nodes if n.op != CONSTANT for v in n.outputs}
        outside = [v for n in nodes for v in n.inputs if id(v) not in inside]
        outside = list({id(v): v for v in outside}.values())
        params = [self._name(v) for v in outside]
        body = [f"{p} = {p}.reshape(-1)[_lo:_hi]" for p, v in zip(params, outside) if v.shape]
        assigned = {}
        for node in nodes:
            if node.op != CONSTANT:
                body.extend(self._region_node(node, assigned))
        fn = self.names.claim(f"{self.fn_name}_region_{start}")
        run = self._global(("builtin", "_run_parallel"), "_run_parallel", parallel.run_parallel)
        self.helpers.append(
            f"\n\ndef {fn}(_lo, _hi, {', '.join(params)}):\n"
            + "".join(f"    {line}\n" for line in body)
        )
        lines = []
        if assigned:
            prepare = self._global(("builtin", "_prepare"), "_prepare", parallel.prepare_variables)
            lines.append(f"{prepare}(({_tuple(list(assigned.values()))}))")
        threads, size = intra_op_threads(), region.size
        lines.append(
            f"{run}({fn}, {size}, {threads}, {', '.join(params)})"
            f"  # {len(nodes)} elementwise steps on {threads} threads"
        )
        return lines + self._after_region(region, inside, assigned, last_use)

    def _region_node(self, node: Node, assigned: dict) -> list[str]:
        inputs = [self._name(v) for v in node.inputs]
        if node.op in ("read_variable", "assign_variable"):
            variable = node.attrs["variable"]
            key = ("variable", id(variable))
            name = self._global(key, f"{node.name}_variable", variable)
            target = self._define(node.outputs[0])
            line = f"{target} = {name}._array.reshape(-1)[_lo:_hi]"
            if node.op == "read_variable":
                return [line]
            assigned[id(variable)] = name
            ufunc = _UPDATE_UFUNCS[node.attrs["mode"]]  # as Variable._write updates in place
            update = f"np.copyto({target}, {inputs[0]})"
            if ufunc is not None:
                update = f"np.{ufunc.__name__}({target}, {inputs[0]}, out={target})"
            return [line, update]
        value = node.outputs[0]
        flat = self._flat_view(self.plan.offset_of(value), value)
        kernel = self._global(("kernel", node.op), node.op, node.opdef.kernel)
        args = ", ".join(["np", *inputs, *self._attrs(node), f"out={flat}[_lo:_hi]"])
        return [f"{self._define(value)} = {kernel}({args})"]

    def _after_region(self, region, inside: set, assigned: dict, last_use: dict) -> list[str]:
        """Define the region's values read later (whole arrays), forget those read last."""
        nodes = self.graph.nodes[region.start : region.stop]
        lines, outputs = [], {id(v) for v in self.graph.outputs}
        later = {id(v) for n in self.graph.nodes[region.stop :] for v in n.inputs if v}
        for node in nodes:
            for value in node.outputs:
                if node.op == CONSTANT or not (id(value) in later or id(value) in outputs):
                    continue
                if node.op == "assign_variable":
                    whole = f"{assigned[id(node.attrs['variable'])]}._array"
                else:
                    whole = self._view(self.plan.offset_of(value), value)
                lines.append(f"{self._name(value)} = {whole}")
        dead = [
            self._name(v)
            for i in range(region.start, region.stop)
            for v in last_use.get(i, ())
            if v.node.op != CONSTANT and id(v) not in inside
        ]
        if dead:
            lines.append(f"del {', '.join(dead)}")
        return lines

    def _flat_view(self, offset: int, value: Value) -> str:
        """The arena's bytes of ``value`` as one flat array (the region's threads slice it)."""
        size = math.prod(value.shape) * value.dtype.itemsize
        key = ("flat", offset, size, value.dtype.str)
        flat = self.arena[offset : offset + size].view(value.dtype)
        return self._global(key, f"arena_{offset}_{value.dtype.name}_flat", flat)

    def _describe(self, node: Node) -> str:
        specs = ", ".join(f"{v.dtype.name}{fmt(v.shape)}" for v in node.outputs)
        value = node.outputs[0] if len(node.outputs) == 1 else None
        if value is None or self.arena is None or self.plan.offset_of(value) is None:
            return specs
        position = self.plan.in_place.get(id(value))
        if position is not None:
            return f"{specs} in place of {self._name(node.inputs[position])}"
        return f"{specs} planned"


class _Checker:
    """The check after each op of a checked program: rules (tests) and NaN/Inf."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes

    def __call__(self, index: int, inputs: tuple, outputs: tuple) -> None:
        node = self.nodes[index]
        if _context.FLAGS.check_rules:
            for array, value in zip(outputs, node.outputs):
                _context._check_rule(node.opdef, np.asarray(array), value.spec)
        if _context.FLAGS.check_numerics:
            tensors = [Tensor._wrap(a) for a in outputs]
            try:
                _context._check_numerics(node.opdef, list(inputs), tensors)
            except NumericsError as error:
                error.message = f"{error.message} (graph node {node.name})"
                error.args = (error.message,)
                raise


def _static(node: Node) -> bool:
    """Whether every input and output of ``node`` has a known shape."""
    values = [v for v in node.inputs if v is not None] + node.outputs
    return all(None not in v.shape for v in values)


def _tuple(names: list[str]) -> str:
    return f"{names[0]}," if len(names) == 1 else ", ".join(names)


def _literal(value) -> str | None:
    """Python source that evaluates to ``value`` (of the same type), or None."""
    if value is None or type(value) in (bool, int, str):
        return repr(value)
    if type(value) is float and math.isfinite(value):
        return repr(value)
    if type(value) is tuple and len(value) <= 8:
        parts = [_literal(v) for v in value]
        if any(p is None for p in parts):
            return None
        text = f"({_tuple(parts)})" if parts else "()"
        return text if len(text) <= 40 else None  # a long one is a global, for readability
    return None
