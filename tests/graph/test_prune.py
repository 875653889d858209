import numpy as np

import rillet as rl
from rillet.graph.passes.prune import prune
from rillet.graph.verify import verify
from tests.graph.basic_passes_support import check_pass, ops, stateful_ops, trace


def test_nodes_no_output_needs_are_removed():
    def f(x):
        dead = rl.exp(x) * 3.0  # computed, never used
        del dead
        return rl.tanh(x)

    graph = check_pass(prune, f, rl.ones((2, 3)))
    assert ops(graph) == ["tanh"]
    assert graph.op_counts().get("constant", 0) == 0  # the dead branch's 3.0 went too


def test_everything_an_output_needs_is_kept():
    def f(x, y):
        a = rl.exp(x)
        return a + y, rl.sum(a)

    graph = check_pass(prune, f, rl.ones(3), rl.ones(3))
    assert sorted(ops(graph)) == ["add", "exp", "sum"]


def test_unused_inputs_are_kept():
    graph = check_pass(prune, lambda x, unused: x * 2.0, rl.ones(2), rl.ones(5))
    assert len(graph.inputs) == 2 and graph.op_counts()["placeholder"] == 2


def test_a_partly_used_multi_output_node_is_kept_whole():
    graph = check_pass(prune, lambda x: rl.split(x, 3)[1], rl.arange(6.0))
    split = next(n for n in graph.nodes if n.op == "split")
    assert len(split.outputs) == 3


def test_updates_no_output_depends_on_are_kept_with_what_they_need():
    v = rl.Variable([1.0, 2.0], name="v")

    def f(x):
        v.assign_add(rl.exp(x))  # a side effect: no output depends on it
        return x * 2.0

    graph = trace(f, rl.zeros(2))
    pruned = verify(prune(graph.copy()))
    assert stateful_ops(pruned) == stateful_ops(graph)
    assert "exp" in ops(pruned)
    out = pruned.run(rl.zeros(2))[0]
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(v.numpy(), [2.0, 3.0])  # exp(0) added once


def test_stateful_nodes_stay_in_program_order():
    v = rl.Variable([1.0], name="v")
    w = rl.Variable([10.0], name="w")

    def f(x):
        unused = rl.exp(x)
        del unused
        v.assign(w.read_value() + x)  # reads w before the next line writes it
        w.assign_add(v.read_value())
        read = w.read_value()  # a read no output needs: still kept
        del read
        return x

    graph = trace(f, rl.ones(1))
    pruned = verify(prune(graph.copy()))
    assert stateful_ops(pruned) == stateful_ops(graph)
    assert len(stateful_ops(pruned)) == 5
    pruned.run(rl.ones(1))
    np.testing.assert_array_equal(v.numpy(), [11.0])
    np.testing.assert_array_equal(w.numpy(), [21.0])


def test_pruning_keeps_the_output_when_it_is_an_input():
    graph = check_pass(prune, lambda x: (rl.exp(x), x)[1], rl.ones(2))
    assert ops(graph) == [] and graph.outputs[0] is graph.inputs[0]
