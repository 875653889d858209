"""Elementwise fusion: the pass, and the fused op's kernel and gradient in graphs."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError
from rillet.graph import serialize
from rillet.graph.passes.fuse_elementwise import fuse_elementwise
from rillet.graph.verify import verify
from rillet.ops import REGISTRY
from rillet.ops.fused import ELEMENTWISE, fused_elementwise


def trace(fn, *args):
    return rl.function(fn, optimize=False, executor="interpreter").get_graph(*args)


def run(graph, *args) -> list[np.ndarray]:
    return [t.numpy() for t in graph.run(*args)]


def fused(fn, *args, rtol=1e-6, atol=1e-7):
    """Fuse ``fn``'s traced graph; check it verifies and computes what the unfused graph
    does. Returns the fused graph."""
    graph = trace(fn, *args)
    fused_graph = verify(fuse_elementwise(graph))
    for before, after in zip(run(graph, *args), run(fused_graph, *args), strict=True):
        assert before.dtype == after.dtype and before.shape == after.shape
        np.testing.assert_allclose(after, before, rtol=rtol, atol=atol)
    return fused_graph


def programs(graph) -> list[tuple]:
    return [n.attrs["program"] for n in graph.nodes if n.op == "fused_elementwise"]


def names(program) -> list[str]:
    return [name for name, _, _ in program]


def randn(*shape, seed=0, dtype=np.float32):
    return rl.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


# --- what gets fused ----------------------------------------------------------------------


def test_a_chain_with_broadcasting_becomes_one_node():
    graph = fused(lambda x, w, b: rl.relu(x * w + b), randn(4, 5), randn(4, 5, seed=1), randn(5))
    assert [names(p) for p in programs(graph)] == [["multiply", "add", "relu"]]
    assert graph.op_counts().get("relu") is None


def test_a_tree_with_activations_becomes_one_node():
    f = lambda a, b, c: rl.tanh(a) * rl.sigmoid(b) + c  # noqa: E731
    graph = fused(f, randn(3, 4), randn(3, 4, seed=1), randn(3, 4, seed=2))
    assert sorted(names(programs(graph)[0])) == ["add", "multiply", "sigmoid", "tanh"]


def test_a_value_read_twice_is_one_input():
    graph = fused(lambda x: rl.exp(x * x) + x, randn(6))
    node = next(n for n in graph.nodes if n.op == "fused_elementwise")
    assert len(node.inputs) == 1 and node.inputs[0] is graph.inputs[0]


def test_shared_intermediates_and_graph_outputs_stay_unfused():
    def f(x):
        y = rl.exp(x)  # read by two nodes: materialized once
        z = y * 2.0 + 1.0
        return z, rl.tanh(z) - y, rl.sqrt(rl.abs(y))  # z is an output: not fused away

    graph = fused(f, randn(5))
    assert graph.op_counts()["exp"] == 1
    assert any(n.op == "add" or n.op == "fused_elementwise" for n in graph.nodes)
    outputs = [v.node for v in graph.outputs]
    assert all(n in graph.nodes for n in outputs)
    for program in programs(graph):
        assert "exp" not in names(program)


def test_non_elementwise_ops_bound_groups():
    def f(x, w):
        h = rl.tanh(rl.matmul(x, w) + 1.0)
        return rl.sum(h * h, axis=1) * 0.5

    graph = fused(f, randn(3, 4), randn(4, 2, seed=1))
    assert graph.op_counts()["matmul"] == 1 and graph.op_counts()["sum"] == 1
    assert sorted(map(names, programs(graph))) == [["add", "tanh", "multiply"]]


def test_comparisons_fuse_with_where():
    graph = fused(lambda x, y: rl.where(x > 0.5, rl.exp(x), x * y), randn(3, 4), randn(4))
    assert names(programs(graph)[0]) == ["greater", "exp", "multiply", "where"]


def test_attributes_and_absent_optional_inputs_are_kept():
    f = lambda x: rl.clip(rl.leaky_relu(x, alpha=0.3) * 2.0, None, 1.5)  # noqa: E731
    graph = fused(f, randn(10))
    (program,) = programs(graph)
    assert program[0] == ("leaky_relu", (0,), (("alpha", 0.3),))
    assert program[-1][0] == "clip" and program[-1][1][1] is None


def test_nothing_to_fuse_leaves_the_graph_alone():
    graph = fused(lambda x: rl.tanh(rl.matmul(x, x)), randn(3, 3))
    assert "fused_elementwise" not in graph.op_counts()


def test_the_input_graph_is_not_changed():
    graph = trace(lambda x: rl.exp(x) + 1.0, randn(3))
    before = [n.op for n in graph.nodes]
    fuse_elementwise(graph)
    assert [n.op for n in graph.nodes] == before


# --- values: dtypes, gradients, state -----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float16, rl.bfloat16])
def test_other_float_dtypes_match_eager(dtype):
    def f(a, b):
        return rl.tanh(a) * rl.sigmoid(b) + a * 0.5

    a, b = randn(4, 3, dtype=dtype), randn(4, 3, seed=1, dtype=dtype)
    got = rl.function(f)(a, b)
    assert got.dtype == np.dtype(dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-2  # float32 inside, one rounding at the end
    np.testing.assert_allclose(
        got.numpy().astype(np.float64), f(a, b).numpy().astype(np.float64), rtol=tol, atol=tol
    )


def test_gradients_of_a_fused_graph_match_eager():
    def loss_and_grads(x, w, b):
        with rl.GradientTape() as tape:
            tape.watch([w, b])
            h = rl.tanh(rl.matmul(x, w) + b)
            loss = rl.mean(rl.square(h - 0.5) * 2.0)
        return [loss, *tape.gradient(loss, [w, b])]

    args = randn(8, 4), randn(4, 3, seed=1), randn(3, seed=2)
    fused = rl.function(loss_and_grads, executor="interpreter")  # its pipeline fuses
    assert "fused_elementwise" in fused.get_graph(*args).op_counts()
    for got, want in zip(fused(*args), loss_and_grads(*args)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-7)


def test_a_training_step_updates_variables_like_eager():
    def make():
        rng = np.random.default_rng(3)
        w = rl.Variable(rng.standard_normal((4, 3)).astype(np.float32), name="w")
        m = rl.Variable(np.zeros((4, 3), np.float32), name="m")
        v = rl.Variable(np.zeros((4, 3), np.float32), name="v")
        return w, m, v

    def step(x, w, m, v):  # an Adam-like update: elementwise chains around the states
        with rl.GradientTape() as tape:
            loss = rl.sum(rl.tanh(rl.matmul(x, w)) ** 2)
        g = tape.gradient(loss, w)
        m.assign(0.9 * m + 0.1 * g)
        v.assign(0.999 * v + 0.001 * rl.square(g))
        w.assign_sub(0.01 * m / (rl.sqrt(v) + 1e-7))
        return loss

    x = randn(5, 4)
    eager, graph_state = make(), make()
    traced = rl.function(lambda x: step(x, *graph_state), executor="interpreter")
    for _ in range(3):
        np.testing.assert_allclose(traced(x).numpy(), step(x, *eager).numpy(), rtol=1e-5)
    for got, want in zip(graph_state, eager):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-7)
    graph = traced.get_graph(x)
    unfused = trace(lambda x: step(x, *make()), x)
    stateful = lambda g: [(n.op, n.attrs["variable"].name) for n in g.nodes if n.stateful]  # noqa: E731
    assert stateful(graph) == stateful(unfused)  # same stateful nodes, same order
    assert len(programs(graph)) >= 3


def test_no_read_is_moved_across_an_assignment_of_its_variable():
    v = rl.Variable(np.array([1.0, 2.0], np.float32), name="v")

    def f(x):
        before = v * 2.0  # reads v; the add below consumes it after the assignment
        v.assign(x)
        return before + 1.0

    graph = verify(fuse_elementwise(trace(f, rl.asarray([5.0, 6.0]))))
    v.assign([1.0, 2.0])
    np.testing.assert_array_equal(run(graph, rl.asarray([5.0, 6.0]))[0], [3.0, 5.0])
    np.testing.assert_array_equal(v.numpy(), [5.0, 6.0])
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    assign = next(position[id(n)] for n in graph.nodes if n.op == "assign_variable")
    for node in graph.nodes:
        reads = [x for x in node.inputs if x is not None and x.node.op == "read_variable"]
        if reads and node.op != "assign_variable":
            assert position[id(node)] < assign, f"{node.op} reads v after v.assign"


# --- the op itself ------------------------------------------------------------------------


def test_a_saved_fused_graph_loads_and_runs(tmp_path):
    f = rl.function(lambda x, b: rl.relu(x * 2.0 + b) - rl.exp(-x), executor="interpreter")
    args = randn(3, 4), randn(4, seed=1)
    graph = f.get_graph(*args)
    assert "fused_elementwise" in graph.op_counts()
    serialize.save(graph, str(tmp_path / "g.json"))
    loaded = verify(serialize.load(str(tmp_path / "g.json")))
    np.testing.assert_array_equal(run(loaded, *args)[0], f(*args).numpy())


def test_large_outputs_are_written_in_place_and_match_unfused():
    # 64 x 512 elements: results are written over dying intermediates
    f = lambda a, b, c: (rl.tanh(a) * rl.sigmoid(b) + c) * rl.exp(-a) - b  # noqa: E731
    fused(f, randn(64, 512), randn(64, 512, seed=1), randn(512, seed=2))


CHAIN = (("exp", (0,), ()), ("multiply", (2, 1), ()), ("tanh", (3,), ()), ("add", (4, 0), ()))


def chain_reference(x, y):
    return np.tanh(np.exp(x) * y) + x


@pytest.mark.parametrize("shape", [(64, 512), (3, 4)])
def test_the_kernel_writes_into_a_given_out(shape):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    out = np.empty(shape)  # large: also a scratch buffer for the intermediates
    result = fused_elementwise.kernel(np, x, y, program=CHAIN, out=out)
    assert result is out
    np.testing.assert_allclose(out, chain_reference(x, y), rtol=1e-12)


@pytest.mark.parametrize("position", [0, 1])
def test_the_kernel_may_be_given_an_input_as_out(position):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 512)), rng.standard_normal((64, 512))
    expected = chain_reference(x, y)
    inputs = [x, y]
    result = fused_elementwise.kernel(np, *inputs, program=CHAIN, out=inputs[position])
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def test_the_kernel_checks_a_program_no_rule_has_seen():
    # a loaded graph's fused node may reach the kernel directly (compiled executor)
    with pytest.raises(ArgumentError, match="unknown attribute"):
        fused_elementwise.kernel(np, np.ones(3), program=(("exp", (0,), (("x=1)#", 1),)),))


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_each_fusable_kernel_may_write_over_its_input(name):
    """The fused kernel gives an instruction the buffer of an input that dies there."""
    op = REGISTRY[name]
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (4, 8))
    inputs = [x, rng.uniform(0.5, 2.0, (4, 8))][: op.n_inputs]
    if name == "where":
        inputs = [x > 1.0, x, x[::-1].copy()]
    attrs = {k: v for k, v in op.attr_defaults.items() if k not in op.required_attrs}
    expected = op.kernel(np, *[a.copy() for a in inputs], **attrs)
    for i, a in enumerate(inputs):
        if a.dtype != expected.dtype or a.shape != expected.shape:
            continue
        given = [b.copy() for b in inputs]
        got = op.kernel(np, *given, **attrs, out=given[i])
        np.testing.assert_array_equal(got, expected, err_msg=f"{name}, out= input {i}")


@pytest.mark.parametrize(
    "program, message",
    [
        ((), "non-empty"),
        ((("matmul", (0, 0), ()),), "not a fusable elementwise op"),
        ((("exp", (3,), ()),), "reads register 3"),
        ((("exp", (0,)),), "must be (op_name, args, attrs)"),
        ((("exp", 0, ()),), "args and attrs must be tuples"),
        (((["exp"], (0,), ()),), "is not a fusable elementwise op"),
        ((("leaky_relu", (0,), (("alpha",),)),), "attrs must be (name, value) pairs"),
        ((("exp", (0,), (("x=0) or print(1", 1),)),), "(exp): unknown attribute"),
    ],
)
def test_bad_programs_are_rejected_with_a_clear_error(program, message):
    with pytest.raises(ArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fused_elementwise([rl.ones(3)], program=program)


def test_left_out_attributes_take_the_op_defaults():
    x = randn(5)
    program = (("leaky_relu", (0,), ()),)  # alpha left out: 0.2, as rl.leaky_relu's default
    np.testing.assert_array_equal(
        fused_elementwise([x], program=program).numpy(), rl.leaky_relu(x).numpy()
    )
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = fused_elementwise([x], program=program)
    np.testing.assert_allclose(
        tape.gradient(y, x).numpy(), np.where(x.numpy() > 0, 1, 0.2), rtol=1e-6
    )


def test_an_inner_rule_error_names_the_inner_op():
    program = (("add", (0, 1), ()),)
    with pytest.raises(rl.errors.ShapeError, match="fused_elementwise: add: cannot broadcast"):
        fused_elementwise([rl.ones(3), rl.ones(4)], program=program)


def test_fused_nodes_never_repeat_an_existing_name():
    graph = trace(lambda x: rl.exp(rl.exp(x) + 1.0) * 2.0, randn(4))
    probe = graph.copy()  # the name the copy's counter gives next
    taken = probe.add_node("fused_elementwise", [], {}, []).name
    graph.nodes[0].name = taken  # as if an earlier pass had named the placeholder so
    fused_graph = verify(fuse_elementwise(graph))
    assert len({n.name for n in fused_graph.nodes}) == len(fused_graph.nodes)


def test_a_specialized_program_runs_without_the_lookup():
    from rillet.ops.fused import specialize

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    run = specialize(CHAIN, [x.shape, y.shape], [x.dtype, y.dtype])
    np.testing.assert_allclose(run(np, x, y, None), chain_reference(x, y), rtol=1e-12)


def test_unknown_sizes_are_fused_and_run_at_each_size():
    f = rl.function(  # the interpreter's pipeline fuses (the compiled executor's does not)
        lambda x, b: rl.tanh(x * 2.0 + b) - b,
        input_signature=[rl.TensorSpec((None, 3)), rl.TensorSpec((3,))],
        executor="interpreter",
    )
    b = randn(3, seed=1)
    assert "fused_elementwise" in f.get_graph(randn(2, 3), b).op_counts()
    for rows in (1, 700):
        x = randn(rows, 3)
        np.testing.assert_allclose(
            f(x, b).numpy(), (rl.tanh(x * 2.0 + b) - b).numpy(), rtol=1e-6, atol=1e-7
        )
