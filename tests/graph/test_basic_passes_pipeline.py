"""The pipeline on a traced training step: values equal eager, state updates in order."""

import numpy as np
import pytest

import rillet as rl
from rillet.graph.executors.interpreter import Interpreter
from rillet.graph.passes import PIPELINE_SPEC, optimize
from rillet.graph.passes.constant_fold import fold_constants
from rillet.graph.passes.cse import eliminate_common_subexpressions
from rillet.graph.passes.prune import prune
from rillet.graph.passes.simplify import simplify
from rillet.graph.verify import verify
from rillet.testing.fuzz.oracle import effects_by_variable
from tests.graph.basic_passes_support import (
    make_adam,
    make_mlp,
    mlp_batch,
    stateful_ops,
    trace,
    train_step,
    values_of,
)

BASIC = {
    "prune": prune,
    "simplify": simplify,
    "fold_constants": fold_constants,
    "eliminate_common_subexpressions": eliminate_common_subexpressions,
}


def _model(sizes):
    params = make_mlp(sizes)
    return params, make_adam(params)


def _traced_step(sizes, batch):
    params, adam = _model(sizes)
    x, y = mlp_batch(batch, sizes[0], sizes[-1])
    graph = trace(lambda x, y: train_step(params, adam, x, y), x, y)
    return graph, params, adam, (x, y)


def test_the_pipeline_names_these_passes():
    assert [name for _, name in PIPELINE_SPEC if name in BASIC] == [
        "prune", "simplify", "fold_constants", "eliminate_common_subexpressions", "prune",
    ]  # fmt: skip


def test_each_basic_pass_leaves_a_graph_that_verifies():
    graph, *_ = _traced_step((12, 8, 8, 4), batch=6)
    stateful = stateful_ops(graph)
    for _, name in PIPELINE_SPEC:
        if name in BASIC:
            graph = verify(BASIC[name](graph))
            assert stateful_ops(graph) == stateful, name


@pytest.mark.parametrize("passes", ["basic", "optimize"])
def test_optimized_training_steps_match_eager(passes):
    sizes, batch = (12, 8, 8, 4), 6
    graph, params, adam, (x, y) = _traced_step(sizes, batch)
    if passes == "optimize":
        optimized = optimize(graph)
    else:
        optimized = graph.copy()
        for _, name in PIPELINE_SPEC:
            optimized = BASIC[name](optimized) if name in BASIC else optimized
    if passes == "optimize":  # updates run early: each variable's own effects stay in order
        assert effects_by_variable(verify(optimized)) == effects_by_variable(graph)
    else:
        assert stateful_ops(verify(optimized)) == stateful_ops(graph)
    run = Interpreter(optimized)
    eager_params, eager_adam = _model(sizes)
    for _ in range(3):
        expected = train_step(eager_params, eager_adam, x, y).numpy()
        np.testing.assert_allclose(run(x, y)[0].numpy(), expected, rtol=1e-6)
    eager_state = values_of(eager_params + eager_adam[0] + eager_adam[1] + [eager_adam[2]])
    graph_state = values_of(params + adam[0] + adam[1] + [adam[2]])
    for got, want in zip(graph_state, eager_state):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_the_mlp_training_step_loses_its_redundant_nodes():
    graph, *_ = _traced_step((784, 512, 512, 10), batch=128)
    optimized = verify(optimize(graph))
    assert len(optimized.nodes) < len(graph.nodes) - 25
    counts = optimized.op_counts()
    assert "ones_like" not in counts and "broadcast_to" not in counts  # the seed is folded
    constants = [n.attrs["value"] for n in optimized.nodes if n.op == "constant"]
    keys = {(c.dtype, c.shape, c.tobytes()) for c in constants}
    assert len(keys) == len(constants)  # no constant twice
    same_shape_reshapes = [
        n for n in optimized.nodes if n.op == "reshape" and n.inputs[0].shape == n.outputs[0].shape
    ]
    assert same_shape_reshapes == []


def test_control_flow_graphs_keep_their_values():
    w = rl.Variable([2.0, 3.0], name="w")

    def f(x):
        y = rl.cond(rl.sum(x) > 0, lambda: x * w * 1.0, lambda: x - 1.0)
        i, z = rl.while_loop(lambda i, z: i < 3, lambda i, z: (i + 1, z * 2.0), (0, y + 0.0))
        return z + rl.exp(rl.asarray(0.0))

    for x in (rl.ones(2), -rl.ones(2)):
        graph = trace(f, x)
        optimized = verify(optimize(graph))
        assert len(optimized.nodes) < len(graph.nodes)
        np.testing.assert_array_equal(Interpreter(optimized)(x)[0].numpy(), f(x).numpy())
