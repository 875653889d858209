"""Memory planning: liveness, measured kernel traits, arena offsets, in place, peak bytes."""

import numpy as np
import pytest

import rillet as rl
from rillet import _context
from rillet.graph.passes.memory_plan import (
    ALIGNMENT,
    KernelTraits,
    kernel_traits,
    liveness,
    nbytes,
    plan_memory,
    planned_peak_bytes,
    runs_in_place,
    view_sources,
)
from rillet.graph.trace import TracingError
from tests.ops.opinfo import all_rows

ROWS = all_rows()


def trace(fn, *args):
    return rl.function(fn, optimize=False, executor="interpreter").get_graph(*args)


def node(graph, op):
    return next(n for n in graph.nodes if n.op == op)


def mlp_step_graph(batch=32, sizes=(64, 48, 48, 10)):
    """A traced training step (forward, softmax cross-entropy, backward, SGD) of an MLP."""
    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rl.Variable(rng.standard_normal((a, b)).astype(np.float32) * 0.1)]
        params += [rl.Variable(np.zeros(b, np.float32))]

    def step(x, y):
        with rl.GradientTape() as tape:
            h = x
            for i in range(0, len(params), 2):
                h = rl.matmul(h, params[i]) + params[i + 1]
                h = rl.relu(h) if i + 2 < len(params) else h
            loss = rl.mean(rl.softmax_cross_entropy_with_logits(y, h))
        for p, g in zip(params, tape.gradient(loss, params)):
            p.assign_sub(0.1 * g)
        return loss

    x = rl.asarray(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = rl.asarray(np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)])
    return trace(step, x, y)


def busy_intervals(graph, plan):
    """Each planned value's busy steps: from its node to the last use of it or of any value
    that may view its memory (by the planner's alias model, checked against real runs in
    test_views_seen_at_run_time_are_in_the_alias_model)."""
    index = {id(v): i for i, n in enumerate(graph.nodes) for v in n.outputs}
    end = {k: stop for k, (_, stop) in liveness(graph).items()}
    own_memory = set(plan.offsets) | plan.fresh
    for n in reversed(graph.nodes):
        for out in n.outputs:
            for source in view_sources(n, candidates=own_memory):
                end[id(source)] = max(end[id(source)], end[id(out)])
    return {k: (index[k], end[k]) for k in plan.offsets}


def assert_no_overlap(graph, plan):
    """Planned values busy at the same step never share a byte, except a value and the
    input it was computed in place of."""
    values = {id(v): v for n in graph.nodes for v in n.outputs}
    sharing = {
        (key, id(values[key].node.inputs[position])) for key, position in plan.in_place.items()
    }
    busy = busy_intervals(graph, plan)
    keys = sorted(busy, key=lambda k: busy[k])
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            a1, b0 = busy[a][1], busy[b][0]
            if b0 > a1 or (a, b) in sharing or (b, a) in sharing:
                continue
            lo_a, lo_b = plan.offsets[a], plan.offsets[b]
            overlap = lo_a < lo_b + nbytes(values[b]) and lo_b < lo_a + nbytes(values[a])
            assert not overlap, f"{values[a]} and {values[b]} share memory while both busy"


def test_liveness_spans_from_definition_to_last_use():
    x = rl.ones((4,))
    graph = trace(lambda x: rl.exp(x) + rl.tanh(x), x)
    spans = liveness(graph)
    exp, tanh, add = (node(graph, op) for op in ("exp", "tanh", "add"))
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    assert spans[id(exp.outputs[0])] == (index[id(exp)], index[id(add)])
    assert spans[id(graph.inputs[0])] == (0, index[id(tanh)])
    assert spans[id(add.outputs[0])][1] == len(graph.nodes)  # outputs live to the end


def test_planned_peak_bytes_counts_values_live_together():
    graph = trace(lambda x: rl.exp(x) * rl.tanh(x), rl.ones((100,), dtype=rl.float64))
    # x, exp(x) and tanh(x) are live at the tanh (then exp, tanh and the product): 800 each.
    assert planned_peak_bytes(graph) == 3 * 800


def test_kernel_traits_are_measured_per_op():
    x = rl.ones((3, 4))
    graph = trace(lambda x: rl.transpose(rl.exp(x)) + 1.0, x)
    exp, transpose = kernel_traits(node(graph, "exp")), kernel_traits(node(graph, "transpose"))
    assert exp == KernelTraits(exact=True, writes_out=True, views=frozenset())
    assert transpose.writes_out is False and transpose.views == {0}  # returns a view of x
    assert kernel_traits(node(graph, "placeholder")) == KernelTraits()
    assert view_sources(node(graph, "add")) == []
    assert view_sources(node(graph, "transpose")) == [node(graph, "exp").outputs[0]]


def test_kernel_traits_unknown_for_low_precision_and_unknown_sizes():
    half = trace(lambda x: rl.exp(x), rl.ones((3,), dtype=rl.float16))
    assert kernel_traits(node(half, "exp")) == KernelTraits()  # computed in float32
    f = rl.function(lambda x: rl.exp(x), input_signature=[rl.TensorSpec((None,))])
    assert kernel_traits(node(f.get_graph(rl.ones((3,))), "exp")) == KernelTraits()


def test_runs_in_place_only_for_elementwise_ops_of_the_output_shape():
    x, w = rl.ones((4, 4)), rl.ones((4,))
    graph = trace(lambda x, w: rl.matmul(rl.exp(x), x) + w, x, w)
    assert runs_in_place(node(graph, "add"), 0)
    assert not runs_in_place(node(graph, "add"), 1)  # w is broadcast: smaller than the output
    assert not runs_in_place(node(graph, "matmul"), 0)


def test_chain_of_elementwise_ops_runs_in_one_block():
    x = rl.ones((256,))
    graph = trace(lambda x: rl.tanh(rl.exp(x) * 2.0) - 1.0, x)
    plan = plan_memory(graph)
    exp, mul, tanh, sub = (node(graph, op) for op in ("exp", "multiply", "tanh", "subtract"))
    assert plan.offset_of(exp.outputs[0]) == plan.offset_of(mul.outputs[0]) == 0
    assert plan.in_place[id(tanh.outputs[0])] == 0
    assert plan.arena_bytes == 1024
    assert id(sub.outputs[0]) in plan.fresh and plan.offset_of(sub.outputs[0]) is None
    assert plan.peak_bytes <= plan.unplanned_peak_bytes  # x and the output bound the peak


def test_graph_inputs_outputs_and_variables_are_never_planned_nor_overwritten():
    v = rl.Variable(np.ones(8, np.float32))
    graph = trace(lambda x: (rl.exp(x + v), x * 2.0), rl.ones((8,)))
    plan = plan_memory(graph)
    never = [graph.inputs[0], *graph.outputs, node(graph, "read_variable").outputs[0]]
    assert all(plan.offset_of(value) is None for value in never)
    in_place_inputs = {
        id(n.inputs[plan.in_place[id(n.outputs[0])]])
        for n in graph.nodes
        if n.outputs and id(n.outputs[0]) in plan.in_place
    }
    assert not in_place_inputs & {id(v) for v in never}


def test_a_value_viewed_by_a_later_op_keeps_its_memory_busy():
    # reshape returns a view of exp(x); exp(3x) must not be placed over it while it lives.
    x = rl.ones((4, 4))
    graph = trace(lambda x: rl.reshape(rl.exp(x), (16,)) * rl.reshape(rl.exp(x * 3.0), (16,)), x)
    plan = plan_memory(graph)
    exps = [n for n in graph.nodes if n.op == "exp"]
    assert all(plan.offset_of(n.outputs[0]) is not None for n in exps)
    assert plan.offset_of(exps[0].outputs[0]) != plan.offset_of(exps[1].outputs[0])
    assert_no_overlap(graph, plan)


def test_values_a_graph_output_views_get_fresh_memory():
    graph = trace(lambda x: rl.reshape(rl.exp(x), (6,)), rl.ones((2, 3)))
    plan = plan_memory(graph)
    assert id(node(graph, "exp").outputs[0]) in plan.fresh
    assert not plan.offsets


def test_unknown_sizes_are_not_planned():
    f = rl.function(
        lambda x: rl.tanh(rl.exp(x)) * 2.0,
        input_signature=[rl.TensorSpec((None, 3))],
        optimize=False,
    )
    plan = plan_memory(f.get_graph(rl.ones((2, 3))))
    assert not plan.offsets and plan.arena_bytes == 0


def test_offsets_are_aligned_and_fit_in_the_arena():
    graph = mlp_step_graph()
    plan = plan_memory(graph)
    values = {id(v): v for n in graph.nodes for v in n.outputs}
    assert plan.offsets
    for key, offset in plan.offsets.items():
        assert offset % ALIGNMENT == 0
        assert offset + nbytes(values[key]) <= plan.arena_bytes


def test_mlp_step_reuses_memory_without_overlap():
    graph = mlp_step_graph()
    plan = plan_memory(graph)
    assert_no_overlap(graph, plan)
    planned_bytes = sum(nbytes(v) for n in graph.nodes for v in n.outputs if id(v) in plan.offsets)
    assert plan.arena_bytes < planned_bytes / 2  # most planned values share memory
    assert plan.in_place
    assert plan.peak_bytes < plan.unplanned_peak_bytes == planned_peak_bytes(graph)


def test_optimized_mlp_step_plan_has_no_overlap():
    x = rl.ones((16, 64))
    fn = rl.function(lambda x: rl.sum(rl.relu(x @ rl.ones((64, 32)) + 1.0) ** 2))
    graph = fn.get_graph(x)
    assert_no_overlap(graph, plan_memory(graph))


def test_plan_follows_the_given_kernel_traits():
    graph = trace(lambda x: rl.exp(rl.exp(x)) + 1.0, rl.ones((8,)))
    nothing = plan_memory(graph, traits=lambda n: KernelTraits())
    assert not nothing.offsets and not nothing.fresh and nothing.arena_bytes == 0
    no_in_place = plan_memory(graph, in_place=lambda n, i: False)
    # exp(x) is alive while exp(exp(x)) is computed: two blocks of 32 bytes, aligned.
    assert not no_in_place.in_place and no_in_place.arena_bytes == ALIGNMENT + 32


@pytest.mark.parametrize("dtype", [rl.float16, rl.bfloat16])
def test_low_precision_values_are_left_to_their_kernels(dtype):
    graph = trace(lambda x: rl.exp(x) * 2.0, rl.ones((8,), dtype=dtype))
    assert not plan_memory(graph).offsets


# -- the alias model against real runs ------------------------------------------------------


def _row_graph(row):
    dtype = np.dtype(np.float32)
    dtype = dtype if dtype in [np.dtype(d) for d in row.dtypes] else np.dtype(row.dtypes[0])
    sample = row.samples(np.random.default_rng(0), dtype)[0]
    positions = [i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray)]

    def fn(*tensors):
        args = list(sample.args)
        for i, t in zip(positions, tensors):
            args[i] = t
        return row.op(*args, **sample.kwargs)

    arrays = [sample.args[i] for i in positions]
    return trace(fn, *[rl.asarray(a) for a in arrays]), arrays


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_views_seen_at_run_time_are_in_the_alias_model(row):
    """Run each row's graph node by node: every output that shares memory with an input
    (as a reshape's does) must come from an input the planner counts as viewed."""
    try:
        graph, arrays = _row_graph(row)
    except TracingError as error:
        pytest.skip(f"{row.name} does not trace: {error}")
    env = {id(v): a for v, a in zip(graph.inputs, arrays)}
    for n in graph.nodes:
        if n.op == "constant":
            env[id(n.outputs[0])] = n.attrs["value"]
        if n.op in ("placeholder", "constant"):
            continue
        args = [None if v is None else env[id(v)] for v in n.inputs]
        spec = n.opdef.rule(*n.inputs, **n.attrs)
        result = _context.compute(n.opdef, args, n.attrs, spec)
        results = [result] if len(n.outputs) == 1 and not isinstance(result, list) else result
        allowed = {id(v) for v in view_sources(n)}
        for value, array in zip(n.outputs, results):
            env[id(value)] = array
            for source, arg in zip(n.inputs, args):
                if source is not None and np.shares_memory(array, arg):
                    assert id(source) in allowed, f"{n.op} returned a view of {source}"
