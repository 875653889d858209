"""Tracing records the same registered ops into a graph: nodes, shapes, constants, variable
reads and writes in program order, and gradient nodes from a tape opened inside."""

import collections

import numpy as np
import pytest

import rillet as rl
from rillet.graph.ir import CONSTANT, PLACEHOLDER
from rillet.graph.trace import TracedTensor, Tracer, tracing
from rillet.graph.verify import verify


def _traced(fn, *args, **options):
    """The unoptimized graph of ``fn`` (what the tracer recorded)."""
    return rl.function(fn, **options).get_concrete_function(*args).traced_graph


def _ops(graph):
    return [n.op for n in graph.nodes]


def test_trace_records_one_node_per_op_call_with_static_specs():
    graph = _traced(lambda x, w: rl.sum(rl.tanh(x @ w), axis=0), rl.ones((4, 3)), rl.ones((3, 2)))
    verify(graph)
    assert _ops(graph) == [PLACEHOLDER, PLACEHOLDER, "matmul", "tanh", "sum"]
    matmul, tanh, total = graph.nodes[2:]
    assert matmul.inputs == graph.inputs and tanh.inputs == matmul.outputs
    assert (total.outputs[0].shape, total.outputs[0].dtype) == ((2,), rl.float32)
    assert total.attrs == {"axis": 0, "keepdims": False}
    assert graph.outputs == total.outputs


def test_unknown_sizes_propagate_through_rules():
    spec = rl.TensorSpec((None, 3), rl.float64)
    graph = _traced(lambda x: rl.mean(x * 2.0, axis=1), rl.ones((5, 3), dtype=rl.float64))
    assert graph.outputs[0].shape == (5,)
    f = rl.function(lambda x: rl.mean(x * 2.0, axis=1), input_signature=[spec])
    traced = f.get_concrete_function(rl.ones((5, 3), dtype=rl.float64)).traced_graph
    assert [v.shape for v in (traced.inputs[0], traced.outputs[0])] == [(None, 3), (None,)]
    assert traced.outputs[0].dtype == rl.float64


def test_traced_tensors_have_static_shape_dtype_and_rank():
    seen = {}

    def probe(x):
        seen.update(type=type(x), shape=x.shape, dtype=x.dtype, ndim=x.ndim, size=x.size)
        return x

    rl.function(probe, input_signature=[rl.TensorSpec((None, 4), rl.int32)])(
        rl.ones((2, 4), dtype=rl.int32)
    )
    assert seen == dict(type=TracedTensor, shape=(None, 4), dtype=rl.int32, ndim=2, size=None)


def test_eager_tensors_become_constants_captured_once():
    w = rl.asarray(np.arange(3, dtype=np.float32))
    graph = _traced(lambda x: x * w + w, rl.ones(3))
    constants = [n for n in graph.nodes if n.op == CONSTANT]
    assert len(constants) == 1
    np.testing.assert_array_equal(constants[0].attrs["value"], [0.0, 1.0, 2.0])


def test_python_scalars_are_weakly_typed_constants():
    graph = _traced(lambda x: x * 2.0 + 1, rl.ones(2, dtype=rl.float16))
    scalars = [n.attrs["value"] for n in graph.nodes if n.op == CONSTANT]
    assert [(s.dtype, s.item()) for s in scalars] == [(rl.float16, 2.0), (rl.float16, 1.0)]
    assert graph.outputs[0].dtype == rl.float16


def test_variable_reads_are_shared_until_an_assignment():
    v = rl.Variable(np.ones(2, np.float32), name="v")

    def program(x):
        a = v * x + v  # two uses, one read
        v.assign(a)
        return v * 2.0  # a new read, after the write

    graph = _traced(program, rl.ones(2))
    assert _stateful(graph) == [
        ("read_variable", "v"),
        ("assign_variable", "v"),
        ("read_variable", "v"),
    ]
    assert graph.variables == [v]


def _stateful(graph):
    return [(n.op, n.attrs["variable"].name) for n in graph.nodes if n.stateful]


def test_program_order_of_stateful_nodes_is_kept_by_the_passes():
    a, b = rl.Variable(np.float32(1.0), name="a"), rl.Variable(np.float32(2.0), name="b")

    def program(x):
        a.assign_add(x)
        b.assign(a * 3.0)
        a.assign(b)
        return a.read_value()

    f = rl.function(program)
    concrete = f.get_concrete_function(rl.ones(()))
    assert _stateful(concrete.graph) == _stateful(concrete.traced_graph)
    assert [op for op, _ in _stateful(concrete.graph)].count("assign_variable") == 3
    assert float(f(rl.ones(()))) == 6.0 and float(a.numpy()) == 6.0


def test_tape_inside_a_trace_adds_gradient_nodes_from_the_same_rules():
    def grad_of_tanh(x):
        with rl.GradientTape() as tape:
            tape.watch(x)
            y = rl.sum(rl.tanh(x))
        return tape.gradient(y, x)

    x = rl.asarray(np.linspace(-2, 2, 5, dtype=np.float32))
    graph = _traced(grad_of_tanh, x)
    assert _ops(graph).count("tanh") == 1 and len(graph.nodes) > 4  # forward + backward nodes
    np.testing.assert_allclose(graph.run(x)[0].numpy(), 1 - np.tanh(x.numpy()) ** 2, rtol=1e-6)


def test_second_order_gradient_inside_a_trace_matches_eager():
    def second(x):
        with rl.GradientTape() as outer:
            outer.watch(x)
            with rl.GradientTape() as inner:
                inner.watch(x)
                y = rl.sum(x * x * x)
            g = rl.sum(inner.gradient(y, x))
        return outer.gradient(g, x)

    x = rl.asarray(np.array([1.0, -2.0, 0.5], np.float32))
    np.testing.assert_allclose(rl.function(second)(x).numpy(), 6 * x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(second(x).numpy(), 6 * x.numpy(), rtol=1e-6)


def test_tape_opened_outside_is_set_aside_while_tracing():
    x = rl.asarray(np.float32(2.0))
    f = rl.function(lambda x: x * x)
    with rl.GradientTape() as tape:
        tape.watch(x)
        f(x)  # runs a graph: its inside is not recorded on the outer tape
        y = x * 3.0
    assert float(tape.gradient(y, x)) == 3.0


def test_output_structures_are_rebuilt():
    pair = collections.namedtuple("pair", "low high")
    out = rl.function(lambda x: {"p": pair(x - 1.0, x + 1.0), "n": None, "k": 3})(rl.ones(2))
    assert isinstance(out["p"], pair) and out["n"] is None and out["k"] == 3
    np.testing.assert_array_equal(out["p"].high.numpy(), [2.0, 2.0])


def test_iterating_a_traced_tensor_unrolls_over_its_first_axis():
    graph = _traced(lambda x: [row * 2.0 for row in x], rl.ones((3, 2)))
    assert len(graph.outputs) == 3 and all(v.shape == (2,) for v in graph.outputs)


def test_returning_a_python_value_makes_a_constant_output():
    out = rl.function(lambda x: (x, np.arange(2.0)))(rl.ones(1))
    assert isinstance(out[1], rl.Tensor)
    np.testing.assert_array_equal(out[1].numpy(), [0.0, 1.0])


def test_tracing_context_restores_the_previous_state_on_error():
    from rillet import _context

    graph = rl.Graph("probe")
    with pytest.raises(ZeroDivisionError):
        with tracing(Tracer(graph)):
            raise ZeroDivisionError
    assert _context.STATE.tracer is None
    assert float(rl.sum(rl.ones(3))) == 3.0
