import numpy as np
import pytest

import rillet as rl
from rillet.errors import RilletError
from rillet.graph.ir import Graph, Value
from rillet.graph.verify import GraphError, verify
from rillet.ops._registry import Spec
from tests.graph.basic_passes_support import (
    make_adam,
    make_mlp,
    mlp_batch,
    trace,
    train_step,
)


def _small_graph():
    """x -> tanh -> multiply by 2 -> add 1."""
    return trace(lambda x: rl.tanh(x) * 2.0 + 1.0, rl.ones((2, 3)))


def _node(graph, op):
    return next(n for n in graph.nodes if n.op == op)


def test_graph_error_is_a_rillet_value_error():
    assert issubclass(GraphError, RilletError) and issubclass(GraphError, ValueError)


@pytest.mark.parametrize(
    "fn, args",
    [
        (lambda x: rl.tanh(x) * 2.0 + 1.0, (rl.ones((2, 3)),)),
        (lambda x: rl.split(x, 3, axis=1)[1] + x[1:, None, ...].sum(), (rl.ones((2, 3)),)),
        (lambda x, i: rl.take(x, i, axis=0), (rl.ones((4, 3)), rl.asarray([0, 2]))),
    ],
)
def test_traced_graphs_verify(fn, args):
    graph = trace(fn, *args)
    assert verify(graph) is graph


def test_traced_training_step_verifies():
    params = make_mlp((6, 5, 3))
    graph = trace(lambda x, y: train_step(params, make_adam(params), x, y), *mlp_batch(4, 6, 3))
    verify(graph)


def test_unknown_sizes_are_compatible_with_the_rule():
    f = rl.function(
        lambda x: rl.sum(rl.exp(x), axis=1),
        input_signature=[rl.TensorSpec((None, 3))],
        optimize=False,
        executor="interpreter",
    )
    graph = f.get_graph(rl.ones((2, 3)))
    verify(graph)
    exp = _node(graph, "exp").outputs[0]
    exp.shape = (None, None)  # less known than the rule says: still compatible
    verify(graph)


def test_reading_a_value_produced_later_is_an_error():
    graph = _small_graph()
    graph.nodes[1], graph.nodes[2] = graph.nodes[2], graph.nodes[1]  # constant before tanh
    graph.nodes[2], graph.nodes[3] = graph.nodes[3], graph.nodes[2]  # multiply before tanh
    with pytest.raises(GraphError, match=r"multiply_\d+ \(multiply\).*produced later"):
        verify(graph)


def test_reading_a_value_of_another_graph_is_an_error():
    graph, other = _small_graph(), _small_graph()
    tanh = _node(graph, "tanh")
    tanh.inputs = [other.inputs[0]]
    with pytest.raises(GraphError, match=rf"{tanh.name} \(tanh\).*not a value of graph"):
        verify(graph)


def test_reading_a_stale_value_object_is_an_error():
    graph = _small_graph()
    tanh = _node(graph, "tanh")
    tanh.inputs = [Value(graph.inputs[0].node, 0, (2, 3), np.dtype(np.float32))]
    with pytest.raises(GraphError, match="not a value of graph"):
        verify(graph)


def test_an_unregistered_op_is_an_error():
    graph = _small_graph()
    node = _node(graph, "tanh")
    node.op = "no_such_op"
    with pytest.raises(GraphError, match=rf"{node.name}: op 'no_such_op' is not registered"):
        verify(graph)


def test_a_recorded_shape_the_rule_disagrees_with_is_an_error():
    graph = _small_graph()
    node = _node(graph, "multiply")
    node.outputs[0].shape = (3, 2)
    with pytest.raises(GraphError, match=rf"{node.name} \(multiply\).*\(3, 2\).*\(2, 3\)"):
        verify(graph)


def test_a_recorded_dtype_the_rule_disagrees_with_is_an_error():
    graph = _small_graph()
    _node(graph, "tanh").outputs[0].dtype = np.dtype(np.float64)
    # the rule of the multiply that reads tanh sees float64 * float32: not promoted
    with pytest.raises(GraphError, match=r"tanh_\d+ \(tanh\).*float64"):
        verify(graph)


def test_a_wrong_number_of_outputs_is_an_error():
    graph = trace(lambda x: rl.split(x, 3, axis=1)[0], rl.ones((2, 3)))
    split = _node(graph, "split")
    split.outputs.pop()
    with pytest.raises(GraphError, match=r"split_\d+ \(split\) has 2 outputs, its rule gives 3"):
        verify(graph)


def test_inputs_the_rule_rejects_are_an_error():
    graph = trace(lambda a, b: rl.matmul(a, b), rl.ones((2, 3)), rl.ones((3, 4)))
    graph.inputs[1].shape = (5, 4)
    with pytest.raises(GraphError, match=r"matmul_\d+ \(matmul\): its rule rejects"):
        verify(graph)


def test_wrong_inputs_or_attributes_are_errors():
    graph = _small_graph()
    tanh = _node(graph, "tanh")
    tanh.inputs = tanh.inputs * 2
    with pytest.raises(GraphError, match=r"tanh_\d+ \(tanh\) has 2 inputs, the op takes 1"):
        verify(graph)
    graph = trace(lambda x: rl.sum(x, axis=0), rl.ones((2, 3)))
    _node(graph, "sum").attrs["axes"] = 0
    with pytest.raises(GraphError, match="unknown attribute 'axes'"):
        verify(graph)
    graph = trace(lambda x: rl.reshape(x, (3, 2)), rl.ones((2, 3)))
    del _node(graph, "reshape").attrs["shape"]
    with pytest.raises(GraphError, match="no attribute 'shape'"):
        verify(graph)


def test_a_constant_unlike_its_output_is_an_error():
    graph = _small_graph()
    constant = _node(graph, "constant")
    constant.attrs["value"] = np.zeros((2,), np.float32)
    with pytest.raises(GraphError, match=rf"constant {constant.name} holds float32\(2,\)"):
        verify(graph)
    constant.attrs["value"] = 2.0
    with pytest.raises(GraphError, match="not a NumPy array"):
        verify(graph)


def test_inputs_must_be_placeholders_of_the_graph():
    graph = _small_graph()
    graph.inputs = [_node(graph, "tanh").outputs[0]]
    with pytest.raises(GraphError, match="input 0 is not a placeholder of this graph"):
        verify(graph)
    graph, other = _small_graph(), _small_graph()
    graph.inputs = [other.inputs[0]]
    with pytest.raises(GraphError, match="input 0 is not a placeholder of this graph"):
        verify(graph)


def test_a_placeholder_index_must_be_its_position():
    graph = trace(lambda a, b: a - b, rl.ones(2), rl.ones(2))
    graph.inputs.reverse()
    with pytest.raises(GraphError, match=r"placeholder_1 has index 1 but is input 0"):
        verify(graph)


def test_every_placeholder_is_an_input():
    graph = trace(lambda a, b: a - b, rl.ones(2), rl.ones(2))
    graph.inputs.pop()
    with pytest.raises(GraphError, match=r"placeholder_1 is not among the inputs"):
        verify(graph)


def test_outputs_must_be_values_of_the_graph():
    graph, other = _small_graph(), _small_graph()
    graph.outputs = [other.outputs[0]]
    with pytest.raises(GraphError, match=r"output 0 \(%add_\d+\) is not a value of this graph"):
        verify(graph)
    graph.outputs = ["not a value"]
    with pytest.raises(GraphError, match="output 0 .* is not a value of this graph"):
        verify(graph)


def test_repeated_names_are_an_error():
    graph = _small_graph()
    graph.nodes[2].name = graph.nodes[1].name
    with pytest.raises(GraphError, match=rf"node name '{graph.nodes[1].name}' repeats"):
        verify(graph)


def test_a_node_listed_twice_is_an_error():
    graph = _small_graph()
    graph.nodes.append(graph.nodes[-1])
    with pytest.raises(GraphError, match="repeats"):
        verify(graph)


def test_a_hand_built_graph_verifies():
    graph = Graph("hand")
    x = graph.add_placeholder((2,), np.float32)
    y = graph.add_node("exp", [x], {}, [Spec((2,), np.dtype(np.float32))]).outputs[0]
    graph.outputs = [y]
    verify(graph)
    np.testing.assert_allclose(graph.run(np.ones(2, np.float32))[0].numpy(), np.exp(np.ones(2)))


def _control_flow_graph():
    def f(x):
        y = rl.cond(rl.sum(x) > 0, lambda: x * 2.0, lambda: x - 1.0)
        return rl.while_loop(lambda i, z: i < 3, lambda i, z: (i + 1, z * 2.0), (0, y))[1]

    return trace(f, rl.ones(2))


def test_control_flow_bodies_are_verified():
    graph = _control_flow_graph()
    verify(graph)
    cond = _node(graph, "cond")
    branch = cond.attrs["true_graph"]
    _node(branch, "multiply").outputs[0].shape = (3,)
    with pytest.raises(GraphError, match=rf"{cond.name} \(cond\): attribute true_graph: node"):
        verify(graph)
