"""``Model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

import math

from ..errors import ArgumentError
from .symbolic import InputLayer, flatten, inbound_nodes, is_keras_tensor


def readable_memory_size(size: float) -> str:
    """``18.79 KB``: bytes in the largest unit of 1024 that keeps the number >= 1."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _count(weights) -> tuple[int, int]:
    """Number of parameters and their size in bytes."""
    count = sum(math.prod(w.shape) for w in weights)
    size = sum(math.prod(w.shape) * w.dtype.itemsize for w in weights)
    return int(count), int(size)


def _fmt_shape(shape) -> str:
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_fmt_shape(v)}" for k, v in shape.items()) + "}"
    if isinstance(shape, list) or (
        isinstance(shape, tuple) and shape and isinstance(shape[0], (tuple, list, dict))
    ):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    if shape is None:
        return "?"
    inner = ", ".join("None" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _model_nodes(model) -> dict:
    """``id(layer) -> [nodes of this model]`` for functional (and built sequential) models."""
    graph = getattr(model, "_functional", None) or model
    nodes = getattr(graph, "_nodes", None)
    if nodes is None:
        return {}
    found: dict[int, list] = {}
    for tensor in graph.inputs:
        layer = tensor._keras_history.operation
        found.setdefault(id(layer), []).append(inbound_nodes(layer)[0])
    for node in nodes:
        found.setdefault(id(node.layer), []).append(node)
    return found


def _output_shape(layer, nodes: list):
    if not nodes:
        return None
    shapes = [t.shape if is_keras_tensor(t) else None for t in flatten(nodes[0].outputs)]
    return shapes[0] if len(shapes) == 1 else shapes


def _connections(nodes: list) -> str:
    names = []
    for node in nodes:
        for tensor in node.input_tensors:
            layer, index, position = tensor._keras_history
            names.append(f"{layer.name}[{index}][{position}]")
    return ", ".join(names) if names else "-"


def _layer_rows(model, functional: bool, show_trainable: bool, expand_nested: bool, depth=0):
    nodes = _model_nodes(model)
    rows = []
    for layer in model.layers:
        if isinstance(layer, InputLayer) and not functional:
            continue
        params = "0 (unbuilt)" if not layer.built else f"{layer.count_params():,}"
        indent = "  " * depth
        row = [
            f"{indent}{layer.name} ({type(layer).__name__})",
            _fmt_shape(_output_shape(layer, nodes.get(id(layer), []))),
            params,
        ]
        if functional:
            row.append(_connections(nodes.get(id(layer), [])))
        if show_trainable:
            row.append("Y" if layer.trainable else "N")
        rows.append(row)
        if expand_nested and hasattr(layer, "layers") and hasattr(layer, "fit"):
            rows += _layer_rows(layer, functional, show_trainable, expand_nested, depth + 1)
    return rows


def _table(headers: list, rows: list, widths: list, align: list) -> list[str]:
    def cell(text: str, width: int, right: bool) -> str:
        text = text if len(text) <= width else text[: width - 1] + "…"
        return f" {text:>{width}} " if right else f" {text:<{width}} "

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    out = [line("┏", "┳", "┓", "━")]
    out.append("┃" + "┃".join(cell(h, w, a) for h, w, a in zip(headers, widths, align)) + "┃")
    out.append(line("┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        if i:
            out.append(line("├", "┼", "┤", "─"))
        out.append("│" + "│".join(cell(c, w, a) for c, w, a in zip(row, widths, align)) + "│")
    out.append(line("└", "┴", "┘", "─"))
    return out


def _select_range(rows: list, layer_range) -> list:
    if layer_range is None:
        return rows
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ArgumentError(
            f"summary: received layer_range={layer_range!r}, expected [first_name, last_name]"
        )
    names = [row[0].strip().split(" (")[0] for row in rows]
    missing = [n for n in layer_range if n not in names]
    if missing:
        raise ArgumentError(f"summary: layer_range names {missing} are not layers of the model")
    start, end = names.index(layer_range[0]), names.index(layer_range[1])
    return rows[start : end + 1]


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None) -> None:  # fmt: skip
    """Print ``model``'s summary table (see ``Model.summary``)."""
    emit = print_fn or print
    functional = hasattr(model, "_nodes")
    headers = ["Layer (type)", "Output Shape", "Param #"]
    widths = [31, 24, 13] if not functional else [27, 20, 10, 22]
    if functional:
        headers.append("Connected to")
    if show_trainable:
        headers.append("Trainable")
        widths.append(9)
    rows = _select_range(_layer_rows(model, functional, show_trainable, expand_nested), layer_range)
    if rows:
        widths = [max([w] + [len(r[i]) for r in rows] + [len(headers[i])])
                  for i, w in enumerate(widths)]  # fmt: skip
    if line_length is not None:
        widths = _fit_widths(widths, line_length, positions)
    align = [False, False, True] + [False] * (len(headers) - 3)
    emit(f'Model: "{model.name}"')
    for line in _table(headers, rows, widths, align):
        emit(line)
    for line in _totals(model):
        emit(line)


def _fit_widths(widths: list, line_length: int, positions) -> list:
    if positions is None:
        total = sum(widths)
        positions = [sum(widths[: i + 1]) / total for i in range(len(widths))]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    edges = [0, *positions]
    inner = line_length - 3 * len(widths) - 1
    scale = inner / max(edges[-1], 1)
    return [max(4, int((b - a) * scale)) for a, b in zip(edges, edges[1:])]


def _totals(model) -> list[str]:
    """Keras's totals; once the optimizer has its slots, they count in the total too."""
    trainable, trainable_size = _count(model.trainable_weights)
    frozen, frozen_size = _count(model.non_trainable_weights)
    optimizer = getattr(model, "optimizer", None)
    extra, extra_size = 0, 0
    if optimizer is not None and getattr(optimizer, "built", False):
        extra, extra_size = _count(optimizer.variables)
    total, total_size = trainable + frozen + extra, trainable_size + frozen_size + extra_size
    lines = [
        f" Total params: {total:,} ({readable_memory_size(total_size)})",
        f" Trainable params: {trainable:,} ({readable_memory_size(trainable_size)})",
        f" Non-trainable params: {frozen:,} ({readable_memory_size(frozen_size)})",
    ]
    if extra:
        lines.append(f" Optimizer params: {extra:,} ({readable_memory_size(extra_size)})")
    return lines
