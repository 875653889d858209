"""Control flow: cond, while_loop, scan and map_fn, with Python functions as bodies.

In eager code they run as Python (the chosen branch is called, loops are Python loops), so
gradient tapes differentiate them like any other code. While ``rl.function`` traces, the
bodies are traced into sub-graphs (``rillet.graph.subgraph``) held by one ``cond``,
``while_loop`` or ``scan`` node, whose kernel runs them with the interpreter and whose
gradient rule is more control flow: a ``cond`` over the branches' gradients, or a reverse
``scan`` over the body's gradient. The ``stage_*`` functions build those nodes in any
mode (eager, they compute at once); the fuzzer and the op tables use them.

Bodies must not assign variables in graph mode (return the new value instead, and assign
after the loop); they may read variables and use any tensor of the enclosing function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import _context
from .. import dtypes as _dtypes
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    GradientError,
    RilletError,
    ShapeError,
    attach_context,
)
from ._registry import Spec, defop
from ._rules import fmt

__all__ = ["cond", "while_loop", "scan", "map_fn"]


def _sub():
    """``rillet.graph.subgraph``, imported late: graphs are built on top of the ops."""
    from ..graph import subgraph

    return subgraph


def _describe(spec) -> str:
    return f"{np.dtype(spec.dtype).name}{fmt(spec.shape)}"


def _floating(values) -> list[int]:
    """Positions of the floating tensors in ``values``: the ones gradients flow through."""
    return [i for i, v in enumerate(values) if _dtypes.is_floating(v.dtype)]


def _compatible(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _check_pred(pred, what: str = "pred") -> None:
    """``pred`` (a spec) must be a scalar bool."""
    if pred.dtype != _dtypes.bool_:
        raise DTypeError(f"{what} must be a scalar bool tensor, got {_describe(pred)}")
    if tuple(pred.shape) != ():
        raise ShapeError(f"{what} must be a scalar bool tensor, got {_describe(pred)}")


def _check_kept(before: Sequence, after: Sequence, what: str) -> None:
    """Loop-carried values must keep their shape and dtype from one iteration to the next."""
    if len(after) != len(before):
        raise ArgumentError(f"the body returns {len(after)} {what}s for {len(before)}")
    for i, (b, a) in enumerate(zip(before, after)):
        if not _compatible(tuple(b.shape), tuple(a.shape)) or b.dtype != a.dtype:
            error = ShapeError if b.dtype == a.dtype else DTypeError
            raise error(
                f"the body changed {what} {i} from {_describe(b)} to {_describe(a)}; "
                f"{what}s must keep their shape and dtype"
            )


def _check_inputs(inputs: Sequence, graph) -> None:
    """A node's inputs must fit its sub-graph's placeholders (e.g. in a loaded graph)."""
    if len(inputs) != len(graph.inputs):
        raise ArgumentError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    for x, v in zip(inputs, graph.inputs):
        if not _compatible(tuple(x.shape), v.shape) or x.dtype != v.dtype:
            raise ShapeError(f"{graph.name} expects {v!r}, got {_describe(x)}")


def _check_callable(op: str, **functions) -> None:
    for name, fn in functions.items():
        if not callable(fn):
            raise ArgumentTypeError(f"{name} must be callable, got {type(fn).__name__}", op=op)


def _int_or_none(value, name: str) -> int | None:
    if value is None:
        return None
    if _sub().is_symbolic(value):
        raise ArgumentError(f"{name} must be a Python int, got {value}", op="while_loop")
    number = int(value)
    if number < 0:
        raise ArgumentError(f"{name} must be >= 0, got {number}", op="while_loop")
    return number


def _one_or_many(values):
    """The registry's convention: a single output is returned alone, several as a list."""
    return values[0] if len(values) == 1 else list(values)


def _as_list(values) -> list:
    return list(values) if isinstance(values, (tuple, list)) else [values]


def _tensors(values) -> list:
    return [_sub().as_tensor(v) for v in values]


# -- cond ------------------------------------------------------------------------------------


def _cond_rule(pred, *operands, true_graph, false_graph):
    _check_pred(pred)
    _check_inputs(operands, true_graph)
    _check_inputs(operands, false_graph)
    outs_t, outs_f = true_graph.outputs, false_graph.outputs
    if len(outs_t) != len(outs_f):
        raise ArgumentError(f"true_fn returns {len(outs_t)} tensors but false_fn {len(outs_f)}")
    for i, (t, f) in enumerate(zip(outs_t, outs_f)):
        if not _compatible(t.shape, f.shape) or t.dtype != f.dtype:
            error = ShapeError if t.dtype == f.dtype else DTypeError
            raise error(
                f"true_fn and false_fn must return the same shapes and dtypes: output {i} is "
                f"{_describe(t)} from true_fn but {_describe(f)} from false_fn"
            )
    return _one_or_many([_merged(t, f) for t, f in zip(outs_t, outs_f)])


def _merged(a, b) -> Spec:
    """The spec of a value that is ``a`` or ``b``: sizes where both agree, else unknown."""
    return Spec(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.dtype)


@defop(rule=_cond_rule, name="cond", variadic=True, low_precision="native")
def _cond(xp, pred, *operands, true_graph, false_graph, out=None):
    """Run ``true_graph`` or ``false_graph`` on ``operands`` as ``pred`` says."""
    return _one_or_many(_sub().run_graph(true_graph if bool(pred) else false_graph, operands))


@_cond.defvjp
def _cond_vjp(gs, ys, pred, *operands, true_graph, false_graph):
    gs, ys = _as_list(gs), _as_list(ys)
    wrt, float_ys = _floating(operands), _floating(ys)
    if not wrt:
        return (None,) * (1 + len(operands))
    n = len(operands)

    def branch_vjp(graph):
        def vjp(*args):
            cotangents = [None] * len(ys)
            for i, g in zip(float_ys, args[n:]):
                cotangents[i] = g
            grads = _sub().graph_vjp(graph, args[:n], cotangents)
            return [grads[i] for i in wrt]

        return vjp

    grads = stage_cond(
        pred,
        branch_vjp(true_graph),
        branch_vjp(false_graph),
        [*operands, *(gs[i] for i in float_ys)],
    )
    result = [None] * (1 + n)
    for i, g in zip(wrt, grads):
        result[1 + i] = g
    return tuple(result)


def stage_cond(pred, true_fn: Callable, false_fn: Callable, operands: Sequence = ()):
    """``true_fn(*operands)`` or ``false_fn(*operands)`` as one ``cond`` op (in any mode)."""
    sub = _sub()
    pred, operands = sub.as_tensor(pred), _tensors(operands)
    _raising("cond", _check_pred, pred)
    specs = [sub.spec_of(x) for x in operands]
    true_branch = sub.trace_subgraph(true_fn, specs, "cond_true")
    false_branch = sub.trace_subgraph(false_fn, specs, "cond_false")
    if not sub.same_structure(true_branch.structure, false_branch.structure):
        raise ArgumentError(
            "true_fn and false_fn must return the same structure, got "
            f"{sub.describe_structure(true_branch.structure)} and "
            f"{sub.describe_structure(false_branch.structure)}",
            op="cond",
        )
    captured = sub.join_captures([true_branch, false_branch])
    attrs = {"true_graph": true_branch.graph, "false_graph": false_branch.graph}
    outputs = _as_list(_context.bind(_cond, [pred, *operands, *captured], attrs))
    return sub.tree_unflatten(true_branch.structure, outputs)


def _raising(op: str, check: Callable, *args):
    """Run a rule check outside ``bind``, naming ``op`` in its error."""
    try:
        return check(*args)
    except RilletError as error:
        raise attach_context(error, op) from None


def cond(pred, true_fn: Callable, false_fn: Callable):
    """``true_fn()`` if ``pred`` else ``false_fn()`` (``tf.cond``).

    ``pred`` is a scalar bool tensor (or Python bool). In eager code, and whenever ``pred``
    is known, the chosen function is called as Python; while ``rl.function`` traces a
    symbolic ``pred``, both functions are traced into one ``cond`` node and must return the
    same structure of tensors with the same shapes and dtypes. Tensors the branches use
    from outside are captured, and gradients flow to them in both modes.

    >>> import rillet as rl
    >>> @rl.function
    ... def relu_or_square(x):
    ...     return rl.cond(rl.sum(x) > 0, lambda: x * x, lambda: rl.maximum(x, 0.0))
    >>> relu_or_square(rl.asarray([1.0, 2.0])).tolist()
    [1.0, 4.0]
    >>> relu_or_square(rl.asarray([-1.0, 0.5])).tolist()
    [0.0, 0.5]
    """
    _check_callable("cond", true_fn=true_fn, false_fn=false_fn)
    sub = _sub()
    if sub.is_symbolic(pred):
        return stage_cond(pred, true_fn, false_fn)
    tensor = sub.as_tensor(pred)
    _raising("cond", _check_pred, tensor)
    leaves, structure = sub.tree_flatten(true_fn() if bool(tensor) else false_fn())
    return sub.tree_unflatten(structure, _tensors(leaves))  # tensors, as when traced


# -- scan --------------------------------------------------------------------------------------


def _scan_length(xs: Sequence, length):
    """The number of steps: the xs' common leading size (or ``length``)."""
    n = length
    for i, x in enumerate(xs):
        if len(x.shape) == 0:
            raise ShapeError(
                f"elems must have an axis to scan over, got {_describe(x)} (input {i})"
            )
        if n is None:
            n = x.shape[0]
        elif x.shape[0] is not None and x.shape[0] != n:
            raise ShapeError(f"elems disagree in length along axis 0: {n} and {x.shape[0]}")
    if not xs and length is None:
        raise ArgumentError("a scan needs elems or a length")
    return n


def _scan_rule(*inputs, body, n_carry, n_xs, reverse=False, length=None):
    carries, xs = inputs[:n_carry], inputs[n_carry : n_carry + n_xs]
    n = _scan_length(xs, length)
    slices = [Spec(tuple(x.shape[1:]), x.dtype) for x in xs]
    _check_inputs([*carries, *slices, *inputs[n_carry + n_xs :]], body)
    outs = body.outputs
    _check_kept(carries, outs[:n_carry], "accumulator")
    ys = [Spec((n, *y.shape), y.dtype) for y in outs[n_carry:]]
    history = [Spec((n, *tuple(c.shape)), c.dtype) for c in carries]
    return _one_or_many([Spec(tuple(c.shape), c.dtype) for c in carries] + ys + history)


@defop(rule=_scan_rule, name="scan", variadic=True, low_precision="native")
def _scan(xp, *inputs, body, n_carry, n_xs, reverse=False, length=None, out=None):
    """Run ``body(carry, x_i, consts) -> (carry, y_i)`` over axis 0 of the xs; returns the
    final carry, the stacked ys and the stacked carry after each step."""
    carry = list(inputs[:n_carry])
    xs, consts = inputs[n_carry : n_carry + n_xs], list(inputs[n_carry + n_xs :])
    n = xs[0].shape[0] if xs else length
    stacks = None
    for i in _steps(n, reverse):
        results = _sub().run_graph(body, carry + [x[i] for x in xs] + consts)
        carry, per_step = results[:n_carry], results[n_carry:] + results[:n_carry]
        if stacks is None:
            stacks = [np.empty((n, *a.shape), a.dtype) for a in per_step]
        for stack, a in zip(stacks, per_step):
            stack[i] = a
    if stacks is None:  # no steps: empty stacks of the static shapes
        ys = [np.empty((0, *(s or 0 for s in y.shape)), y.dtype) for y in body.outputs[n_carry:]]
        stacks = ys + [np.empty((0, *c.shape), c.dtype) for c in carry]
    return _one_or_many(carry + stacks)


@_scan.defvjp
def _scan_vjp(gs, ys, *inputs, body, n_carry, n_xs, reverse=False, length=None):
    gs, ys = _as_list(gs), _as_list(ys)
    nc, nx = n_carry, n_xs
    carries, xs, consts = inputs[:nc], inputs[nc : nc + nx], inputs[nc + nx :]
    ny = len(ys) - 2 * nc
    fc, fx, fk = _floating(carries), _floating(xs), _floating(consts)
    fy = _floating(ys[nc : nc + ny])
    if not (fc or fx or fk):
        return (None,) * len(inputs)
    g_final, g_ys, g_hist = gs[:nc], gs[nc : nc + ny], gs[nc + ny :]
    carries_in = [_carries_in(h, c, reverse) for h, c in zip(ys[nc + ny :], carries)]

    def step(carry, x, k):
        """One step back: the body's VJP at that step's carry and element."""
        gc, gk = carry[: len(fc)], carry[len(fc) :]
        c_in, x_t = x[:nc], x[nc : nc + nx]
        g_y, g_h = x[nc + nx : nc + nx + len(fy)], x[nc + nx + len(fy) :]
        cotangents = [None] * (nc + ny)
        for i, g, h in zip(fc, gc, g_h):
            cotangents[i] = g + h  # the carry after this step feeds the next step and history
        for i, g in zip(fy, g_y):
            cotangents[nc + i] = g
        grads = _sub().graph_vjp(body, [*c_in, *x_t, *k], cotangents)
        new_gk = [acc + grads[nc + nx + j] for acc, j in zip(gk, fk)]
        return [grads[i] for i in fc] + new_gk, [grads[nc + i] for i in fx]

    from .creation import zeros_like

    init = [g_final[i] for i in fc] + [zeros_like(consts[j]) for j in fk]
    back_xs = [*carries_in, *xs, *(g_ys[i] for i in fy), *(g_hist[i] for i in fc)]
    final, g_xs, _ = stage_scan(step, init, back_xs, consts, reverse=not reverse, length=length)
    result = [None] * len(inputs)
    for k, i in enumerate(fc):
        result[i] = final[k]
    for k, j in enumerate(fk):
        result[nc + nx + j] = final[len(fc) + k]
    for k, i in enumerate(fx):
        result[nc + i] = g_xs[k]
    return tuple(result)


def _steps(n: int, reverse: bool) -> range:
    return range(n - 1, -1, -1) if reverse else range(n)


def _carries_in(history, initial, reverse: bool):
    """The carry each step started from: the initial carry, then the history shifted by one
    step in the scan's direction."""
    from .shapes import concat, expand_dims

    first = expand_dims(initial, axis=0)
    if reverse:
        return concat([history, first], axis=0)[1:]
    return concat([first, history], axis=0)[:-1]


def stage_scan(
    fn: Callable,
    carries: Sequence,
    xs: Sequence,
    consts: Sequence = (),
    reverse: bool = False,
    length: int | None = None,
) -> tuple[list, list, list]:
    """A ``scan`` op (in any mode) of ``fn(carry, x, consts) -> (new_carry, ys)`` over axis 0
    of ``xs`` (lists of tensors); returns (final carry, stacked ys, stacked carries)."""
    sub = _sub()
    carries, xs, consts = _tensors(carries), _tensors(xs), _tensors(consts)
    _raising("scan", _scan_length, xs, length)
    specs = [sub.spec_of(t) for t in carries]
    specs += [Spec(tuple(x.shape[1:]), np.dtype(x.dtype)) for x in xs]
    specs += [sub.spec_of(t) for t in consts]
    nc, nx = len(carries), len(xs)

    def body(*args):
        new_carry, ys = fn(list(args[:nc]), list(args[nc : nc + nx]), list(args[nc + nx :]))
        return [*new_carry, *ys]

    traced = sub.trace_subgraph(body, specs, "scan_body")
    captured = sub.join_captures([traced])
    attrs = {"body": traced.graph, "n_carry": nc, "n_xs": nx, "reverse": reverse}
    attrs["length"] = length
    outputs = _as_list(_context.bind(_scan, [*carries, *xs, *consts, *captured], attrs))
    ny = len(outputs) - 2 * nc
    return outputs[:nc], outputs[nc : nc + ny], outputs[nc + ny :]


def scan(fn: Callable, elems, initializer=None, reverse: bool = False):
    """Accumulate ``fn(acc, x)`` over axis 0 of ``elems`` and stack every ``acc`` (``tf.scan``).

    ``elems`` is a tensor or a nested structure of tensors of the same length; ``x`` has
    its structure. Without ``initializer``, the first element is the first ``acc`` (and the
    first row of the result). ``reverse=True`` scans from the end; row ``i`` of the result
    still belongs to element ``i``.

    >>> import rillet as rl
    >>> rl.scan(lambda acc, x: acc + x, rl.asarray([1.0, 2.0, 3.0])).tolist()
    [1.0, 3.0, 6.0]
    >>> rl.scan(lambda acc, x: acc * x, rl.asarray([1.0, 2.0, 3.0]), rl.asarray(2.0)).tolist()
    [2.0, 4.0, 12.0]
    """
    _check_callable("scan", fn=fn)
    sub = _sub()
    leaves, elems_structure = sub.tree_flatten(elems)
    xs = _tensors(leaves)
    n = _raising("scan", _scan_length, xs, None)
    if initializer is None:
        if n == 0:
            raise ShapeError("elems is empty and no initializer is given", op="scan")
        init, init_structure = [x[-1 if reverse else 0] for x in xs], elems_structure
        xs = [x[:-1] if reverse else x[1:] for x in xs]
    else:
        init_leaves, init_structure = sub.tree_flatten(initializer)
        init = _tensors(init_leaves)

    def step(acc, x, _):
        result = fn(sub.tree_unflatten(init_structure, acc), sub.tree_unflatten(elems_structure, x))
        return sub.leaves_like(result, init_structure, acc, "scan", "fn", "the accumulator"), []

    if sub.tracing_active() or xs[0].shape[0] == 0:
        _, _, stacked = stage_scan(step, init, xs, reverse=reverse)
    else:
        stacked = _eager_scan(step, init, xs, reverse)
    if initializer is None:
        stacked = [_attach(s, i, reverse) for s, i in zip(stacked, init)]
    return sub.tree_unflatten(init_structure, stacked)


def _attach(stacked, first, reverse: bool):
    """Put the first accumulator (an element itself) back at its end of the result."""
    from .shapes import concat, expand_dims

    row = expand_dims(first, axis=0)
    return concat([stacked, row] if reverse else [row, stacked], axis=0)


def _eager_scan(step: Callable, carry: list, xs: list, reverse: bool) -> list:
    """A scan as a Python loop (eager tapes record every step); the stacked carries."""
    from .shapes import stack

    n = xs[0].shape[0]
    rows: list = [None] * n
    for i in _steps(n, reverse):
        new_carry, _ = step(carry, [x[i] for x in xs], [])
        _raising("scan", _check_kept, carry, new_carry, "accumulator")
        rows[i] = carry = new_carry
    return [stack([row[k] for row in rows], axis=0) for k in range(len(carry))]


# -- map_fn ----------------------------------------------------------------------------------


def map_fn(fn: Callable, elems, fn_output_signature=None):
    """``fn`` applied to each element of ``elems`` along axis 0, results stacked
    (``tf.map_fn``).

    ``elems`` is a tensor or a nested structure of tensors of the same length; ``fn``
    returns a tensor or a structure of tensors. ``fn_output_signature`` (a dtype, a
    ``rl.TensorSpec`` or a structure of them) casts the results to those dtypes.

    >>> import rillet as rl
    >>> rl.map_fn(lambda row: rl.sum(row * row), rl.asarray([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [5.0, 25.0]
    """
    _check_callable("map_fn", fn=fn)
    sub = _sub()
    leaves, elems_structure = sub.tree_flatten(elems)
    xs = _tensors(leaves)
    n = _raising("map_fn", _scan_length, xs, None)
    found: list = []

    def step(carry, x, _):
        result = fn(sub.tree_unflatten(elems_structure, x))
        out_leaves, structure = sub.tree_flatten(result)
        found.append(structure)
        return [], _apply_signature(_tensors(out_leaves), fn_output_signature)

    if sub.tracing_active() or n == 0:
        _, stacked, _ = stage_scan(step, [], xs)
    else:
        from .shapes import stack

        rows = [step([], [x[i] for x in xs], [])[1] for i in range(n)]
        stacked = [stack([row[k] for row in rows], axis=0) for k in range(len(rows[0]))]
    return sub.tree_unflatten(found[0], stacked)


def _apply_signature(outputs: list, signature) -> list:
    """Cast ``outputs`` to the dtypes of ``signature`` (dtypes or TensorSpecs)."""
    if signature is None:
        return outputs
    from .shapes import cast

    specs, _ = _sub().tree_flatten(signature)
    if len(specs) != len(outputs):
        raise ArgumentError(
            f"fn_output_signature has {len(specs)} entries, fn returns {len(outputs)} tensors",
            op="map_fn",
        )
    result = []
    for out, spec in zip(outputs, specs):
        dtype = _dtypes.as_dtype(getattr(spec, "dtype", spec))
        shape = getattr(spec, "shape", None)
        if shape is not None and not _compatible(tuple(shape), tuple(out.shape)):
            raise ShapeError(f"fn returned {_describe(out)}, not the shape of {spec}", op="map_fn")
        result.append(out if out.dtype == dtype else cast(out, dtype=dtype))
    return result


# -- while_loop ------------------------------------------------------------------------------


def _while_rule(*inputs, cond_graph, body_graph, n_vars, maximum_iterations=None):
    values = inputs[:n_vars]
    _check_inputs(inputs, cond_graph)
    _check_inputs(inputs, body_graph)
    if len(cond_graph.outputs) != 1:
        raise ArgumentError(f"cond must return one scalar bool, got {len(cond_graph.outputs)}")
    _check_pred(cond_graph.outputs[0], "cond's result")
    _check_kept(values, body_graph.outputs, "loop variable")
    specs = [Spec(tuple(v.shape), v.dtype) for v in values]
    if maximum_iterations is not None:
        specs += [Spec((None, *s.shape), s.dtype) for s in specs]
    return _one_or_many(specs)


@defop(rule=_while_rule, name="while_loop", variadic=True, low_precision="native")
def _while_loop(xp, *inputs, cond_graph, body_graph, n_vars, maximum_iterations=None, out=None):
    """Run ``body_graph`` while ``cond_graph`` holds (at most ``maximum_iterations`` times).
    With ``maximum_iterations``, also returns each variable's value before every iteration,
    stacked: the backward pass runs the body's gradient over them in reverse."""
    values, consts = list(inputs[:n_vars]), list(inputs[n_vars:])
    run = _sub().run_graph
    history: list = []
    while maximum_iterations is None or len(history) < maximum_iterations:
        if not run(cond_graph, values + consts)[0]:
            break
        history.append(values)
        values = run(body_graph, values + consts)
    if maximum_iterations is not None:
        values += [_stacked([step[k] for step in history], like) for k, like in enumerate(values)]
    return _one_or_many(values)


def _stacked(arrays: list, like: np.ndarray) -> np.ndarray:
    return np.stack(arrays) if arrays else np.empty((0, *like.shape), like.dtype)


@_while_loop.defvjp
def _while_loop_vjp(gs, ys, *inputs, cond_graph, body_graph, n_vars, maximum_iterations=None):
    if maximum_iterations is None:
        raise GradientError(
            "cannot differentiate a while_loop without maximum_iterations in graph mode: "
            "give maximum_iterations= (an upper bound on the iterations) so that each "
            "iteration's values are kept for the backward pass",
            op="while_loop",
        )
    gs, ys = _as_list(gs), _as_list(ys)
    n = n_vars
    values, consts = inputs[:n], inputs[n:]
    fv, fk = _floating(values), _floating(consts)
    if not fv:
        return (None,) * len(inputs)

    def step(carry, x, k):
        """One iteration back: the body's VJP at that iteration's loop variables (plus the
        gradient reaching them through the recorded history, for higher orders)."""
        cotangents = [None] * n
        for i, g in zip(fv, carry[: len(fv)]):
            cotangents[i] = g
        grads = _sub().graph_vjp(body_graph, [*x[:n], *k], cotangents)
        new_gv = [grads[i] + g_h for i, g_h in zip(fv, x[n:])]
        new_gk = [acc + grads[n + j] for acc, j in zip(carry[len(fv) :], fk)]
        return new_gv + new_gk, []

    from .creation import zeros_like

    init = [gs[i] for i in fv] + [zeros_like(consts[j]) for j in fk]
    back_xs = [*ys[n:], *(gs[n + i] for i in fv)]
    final, _, _ = stage_scan(step, init, back_xs, consts, reverse=True)
    result = [None] * len(inputs)
    for k, i in enumerate([*fv, *(n + j for j in fk)]):
        result[i] = final[k]
    return tuple(result)


def stage_while_loop(
    cond: Callable, body: Callable, loop_vars: Sequence, maximum_iterations: int | None = None
) -> list:
    """A ``while_loop`` op (in any mode) over a flat list of loop variables; ``cond`` and
    ``body`` take them as separate arguments. Returns the final values."""
    sub = _sub()
    values = _tensors(loop_vars)
    specs = [sub.spec_of(v) for v in values]
    flat = ("L", tuple(("T",) for _ in values))
    cond_fn = sub.trace_subgraph(cond, specs, "while_cond")
    body_fn = sub.trace_subgraph(
        lambda *xs: sub.leaves_like(body(*xs), flat, xs, "while_loop", "body", "loop variables"),
        specs,
        "while_body",
    )
    captured = sub.join_captures([cond_fn, body_fn])
    attrs = {"cond_graph": cond_fn.graph, "body_graph": body_fn.graph, "n_vars": len(values)}
    attrs["maximum_iterations"] = _int_or_none(maximum_iterations, "maximum_iterations")
    outputs = _as_list(_context.bind(_while_loop, [*values, *captured], attrs))
    return outputs[: len(values)]


def while_loop(cond: Callable, body: Callable, loop_vars, maximum_iterations=None):
    """Repeat ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (``tf.while_loop``).

    ``loop_vars`` is a tensor or a (nested) list/tuple of tensors; the result has its
    structure. ``cond`` and ``body`` take the loop variables as separate arguments (a single
    tensor as one argument); ``body`` returns them with the same structure, shapes and
    dtypes. At most ``maximum_iterations`` iterations run. In eager code the loop is a
    Python loop; traced, it is one ``while_loop`` node, differentiable when
    ``maximum_iterations`` is given.

    >>> import rillet as rl
    >>> i, total = rl.while_loop(lambda i, t: i < 4, lambda i, t: (i + 1, t + i), (0, 0))
    >>> int(i), int(total)
    (4, 6)
    """
    _check_callable("while_loop", cond=cond, body=body)
    sub = _sub()
    packed = isinstance(loop_vars, (list, tuple))
    leaves, structure = sub.tree_flatten(loop_vars)
    limit = _int_or_none(maximum_iterations, "maximum_iterations")

    def call(fn, flat):
        values = sub.tree_unflatten(structure, flat)
        return fn(*values) if packed else fn(values)

    def flat_body(*flat):
        found = call(body, flat)
        return sub.leaves_like(found, structure, flat, "while_loop", "body", "loop variables")

    if sub.tracing_active():
        final = stage_while_loop(lambda *flat: call(cond, flat), flat_body, leaves, limit)
    else:
        final = _eager_while(lambda flat: call(cond, flat), flat_body, _tensors(leaves), limit)
    return sub.tree_unflatten(structure, final)


def _eager_while(cond: Callable, body: Callable, values: list, limit: int | None) -> list:
    count = 0
    while limit is None or count < limit:
        keep_going = _sub().as_tensor(cond(values))
        _raising("while_loop", _check_pred, keep_going, "cond's result")
        if not bool(keep_going):
            break
        new_values = body(*values)
        _raising("while_loop", _check_kept, values, new_values, "loop variable")
        values, count = new_values, count + 1
    return values
