"""Control flow: rl.cond, rl.while_loop, rl.scan and rl.map_fn, eager against traced (both
executors), gradients against finite differences and eager gradients, errors, saving."""

import os

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, DTypeError, GradientError, ShapeError
from rillet.graph import serialize
from rillet.graph.subgraph import call_graph
from rillet.graph.trace import TracingError
from rillet.graph.verify import verify
from rillet.testing import check_grads


@pytest.fixture(params=["interpreter", "compiled"])
def traced(request):
    """``traced(fn)``: ``fn`` as an rl.function run by each executor."""
    return lambda fn: rl.function(fn, executor=request.param)


def f64(*shape, seed=0):
    return rl.asarray(np.random.default_rng(seed).standard_normal(shape))


def assert_same(got, expected, rtol=1e-10):
    got, expected = _flat(got), _flat(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=rtol, atol=1e-12)


def _flat(value):
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _flat(value[key])]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flat(item)]
    return [value]


def tape_grads(fn, *args):
    """Gradients of sum(fn(*args)) for every argument (eager, or inside a trace)."""
    with rl.GradientTape() as tape:
        tape.watch(list(args))
        loss = rl.sum(fn(*args))
    return tape.gradient(loss, list(args), unconnected_gradients="zero")


def control_nodes(graph) -> list:
    return [n for n in graph.nodes if n.op in ("cond", "while_loop", "scan")]


# -- cond --------------------------------------------------------------------------------------


def piecewise(x, w):
    """Three regions by nested conds; the branches capture x and w from outside."""
    s = rl.sum(x)
    return rl.cond(
        s > 0.0,
        lambda: rl.cond(s > 2.0, lambda: x * w, lambda: rl.sin(x) + w),
        lambda: x - w * w,
    )


@pytest.mark.parametrize("shift", [3.0, 0.5, -3.0])
def test_cond_traced_matches_eager_in_every_branch(traced, shift):
    x, w = f64(4) * 0.1 + shift / 4, f64(4, seed=1)
    assert_same(traced(piecewise)(x, w), piecewise(x, w))


def test_cond_traces_one_node_holding_both_branches():
    x, w = f64(4), f64(4, seed=1)
    graph = verify(rl.function(piecewise).get_graph(x, w))
    (node,) = [n for n in graph.nodes if n.op == "cond"]
    inner = node.attrs["true_graph"]
    assert [n.op for n in control_nodes(inner)] == ["cond"]
    # The captured x and w are inputs of the node, after the predicate.
    assert len(node.inputs) == 1 + len(inner.inputs)


def test_cond_returns_the_branches_structure(traced):
    def fn(x):
        return rl.cond(
            rl.max(x) > 0.0,
            lambda: {"a": (x, [x * 2.0]), "b": 1.0},
            lambda: {"a": (-x, [x * 3.0]), "b": 2.0},
        )

    for x in (f64(3), -rl.abs(f64(3))):
        got, expected = traced(fn)(x), fn(x)
        assert isinstance(got["a"], tuple) and isinstance(got["a"][1], list)
        assert_same(got, expected)


def test_cond_on_a_known_pred_runs_one_branch_even_when_traced():
    calls = []

    def fn(x):
        return rl.cond(True, lambda: calls.append("true") or x + 1.0, lambda: calls.append("no"))

    assert_same(rl.function(fn)(f64(2)), f64(2) + 1.0)
    assert calls == ["true"] and "cond" not in rl.function(fn).get_graph(f64(2)).op_counts()


def test_cond_reads_variables_in_the_enclosing_graph(traced):
    v = rl.Variable(np.array([1.0, -2.0]), name="v")

    def fn(x):
        return rl.cond(rl.sum(x) > 0.0, lambda: x * v, lambda: x + v)

    x = f64(2)
    assert_same(traced(fn)(x), fn(x))
    v.assign([3.0, 4.0])  # read by reference: the graph sees the new value
    assert_same(traced(fn)(x), fn(x))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_gradients_match_finite_differences_eagerly(sign):
    check_grads(lambda x, w: piecewise(x * sign, w), [f64(3), f64(3, seed=1)])


@pytest.mark.parametrize("shift", [3.0, 0.5, -3.0])
def test_cond_gradients_traced_match_eager(shift):
    x, w = f64(4) * 0.1 + shift / 4, f64(4, seed=1)
    expected = tape_grads(piecewise, x, w)
    assert_same(rl.function(lambda x, w: tape_grads(piecewise, x, w))(x, w), expected)


def test_cond_second_order_gradient_traced_matches_eager():
    def second(x, w):
        with rl.GradientTape() as outer:
            outer.watch(x)
            (g,) = tape_grads(lambda x: piecewise(x, w) ** 2, x)
            total = rl.sum(g * g)
        return outer.gradient(total, x)

    x, w = f64(3) + 1.0, f64(3, seed=1)
    assert_same(rl.function(second)(x, w), second(x, w))


def test_cond_branches_disagreeing_in_shape_name_both():
    def fn(x):
        return rl.cond(rl.sum(x) > 0.0, lambda: x, lambda: x[:2])

    with pytest.raises(ShapeError, match=r"cond: .*float32\(3,\) from true_fn.*float32\(2,\)"):
        rl.function(fn)(rl.ones(3))


def test_cond_branches_disagreeing_in_dtype_or_structure():
    x = rl.ones(3)
    with pytest.raises(DTypeError, match=r"cond: .*float32\(3,\).*int64\(3,\)"):
        rl.function(lambda x: rl.cond(rl.sum(x) > 0.0, lambda: x, lambda: rl.cast(x, "int64")))(x)
    with pytest.raises(ArgumentError, match=r"cond: .*same structure.*\(T, T\) and T"):
        rl.function(lambda x: rl.cond(rl.sum(x) > 0.0, lambda: (x, x), lambda: x))(x)


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_cond_pred_must_be_a_scalar_bool(mode):
    run = (lambda fn: fn) if mode == "eager" else rl.function
    with pytest.raises(DTypeError, match=r"cond: pred must be a scalar bool tensor, got float32"):
        run(lambda x: rl.cond(rl.sum(x), lambda: x, lambda: x))(rl.ones(3))
    with pytest.raises(ShapeError, match=r"cond: pred .* got bool\(3,\)"):
        run(lambda x: rl.cond(x > 0.0, lambda: x, lambda: x))(rl.ones(3))


def test_python_if_on_a_traced_tensor_says_to_use_cond():
    def fn(x):
        if rl.sum(x) > 0:
            return x
        return -x

    with pytest.raises(TracingError, match="use rl.cond"):
        rl.function(fn)(rl.ones(2))


def test_assigning_a_variable_in_a_traced_branch_is_refused():
    v = rl.Variable(np.zeros(2), name="v")

    def fn(x):
        return rl.cond(rl.sum(x) > 0.0, lambda: v.assign(x), lambda: x)

    with pytest.raises(TracingError, match="assign it to the variable after"):
        rl.function(fn)(f64(2))


def test_random_draws_in_a_traced_body_say_to_draw_outside():
    def fn(xs):
        return rl.map_fn(lambda x: x + rl.random.normal((2,), dtype="float64"), xs)

    assert fn(f64(3, 2)).shape == (3, 2)  # eager: Python, draws each step
    with pytest.raises(TracingError, match="draw the numbers before the control flow"):
        rl.function(fn)(f64(3, 2))


# -- while_loop --------------------------------------------------------------------------------


def collatz_steps(n):
    """A loop whose number of iterations depends on the data."""

    def body(n, steps):
        odd = n % 2 == 1
        return rl.where(odd, 3 * n + 1, n // 2), steps + 1

    return rl.while_loop(lambda n, steps: n > 1, body, (n, rl.asarray(0)))


@pytest.mark.parametrize("start", [1, 6, 27])
def test_while_loop_counting_traced_matches_eager(traced, start):
    n = rl.asarray(start)
    got, expected = traced(collatz_steps)(n), collatz_steps(n)
    assert_same(got, expected)
    assert {1: 0, 6: 8, 27: 111}[start] == int(got[1])


def test_while_loop_stops_at_maximum_iterations(traced):
    def fn(x):
        return rl.while_loop(lambda i, x: i < 100, lambda i, x: (i + 1, x * 2.0), [0, x], 3)

    i, x = traced(fn)(f64(2))
    assert int(i) == 3 and isinstance(fn(f64(2)), list)
    assert_same(x, f64(2) * 8.0)
    assert_same(traced(fn)(f64(2)), fn(f64(2)))


def test_while_loop_keeps_nested_structures_and_single_tensors(traced):
    def nested(x):
        def body(i, pair):
            a, (b, c) = pair
            return i + 1, [a + b, (b * c, c)]

        return rl.while_loop(lambda i, pair: i < 3, body, (0, [x, (x, x * 0.5)]))

    def single(x):
        return rl.while_loop(lambda x: rl.sum(x) < 100.0, lambda x: x * 2.0, x)

    got = traced(nested)(f64(3))
    assert isinstance(got, tuple) and isinstance(got[1], list) and isinstance(got[1][1], tuple)
    assert_same(got, nested(f64(3)))
    x = rl.abs(f64(3)) + 0.1
    assert_same(traced(single)(x), single(x))


def damped(x, w, limit=6):
    """x <- sin(x) * w + 0.1 x while its norm stays above 0.1 (at most ``limit`` times)."""
    return rl.while_loop(
        lambda i, x: rl.sum(x * x) > 0.01,
        lambda i, x: (i + 1, rl.sin(x) * w + 0.1 * x),
        (0, x),
        maximum_iterations=limit,
    )[1]


def test_while_loop_gradients_match_finite_differences_eagerly():
    check_grads(damped, [f64(3), f64(3, seed=1) * 0.5])


@pytest.mark.parametrize("scale", [1.0, 0.2, 0.01])
def test_while_loop_gradients_traced_match_eager(scale):
    # Different inputs stop after different numbers of iterations, in one graph.
    x, w = f64(3) * scale, f64(3, seed=1) * 0.5
    expected = tape_grads(damped, x, w)
    assert_same(rl.function(lambda x, w: tape_grads(damped, x, w))(x, w), expected)


def test_while_loop_second_order_gradient_traced_matches_eager():
    def second(x, w):
        with rl.GradientTape() as outer:
            outer.watch(w)
            (g,) = tape_grads(lambda x: damped(x, w, limit=3) ** 2, x)
            total = rl.sum(g)
        return outer.gradient(total, w)

    x, w = f64(3), f64(3, seed=1) * 0.5
    assert_same(rl.function(second)(x, w), second(x, w))


def test_traced_while_loop_gradient_needs_maximum_iterations():
    def fn(x):
        return rl.while_loop(lambda x: rl.sum(x) < 10.0, lambda x: x * 2.0, x)

    x = rl.asarray([1.0, 1.0])  # doubled three times
    assert_same(tape_grads(fn, x)[0], tape_grads(lambda x: x * 8.0, x)[0])  # eager: free
    with pytest.raises(GradientError, match="while_loop: .*give maximum_iterations="):
        rl.function(lambda x: tape_grads(fn, x))(x)


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_while_loop_body_changing_a_shape_or_dtype_is_an_error(mode):
    run = (lambda fn: fn) if mode == "eager" else rl.function

    def grows(x):
        return rl.while_loop(lambda i, x: i < 2, lambda i, x: (i + 1, rl.concat([x, x], 0)), (0, x))

    def casts(x):
        return rl.while_loop(lambda i, x: i < 2, lambda i, x: (i + 1, x * 1.0), (0, x))

    pattern = r"while_loop: the body changed loop variable 1 from float32\(2,\) to float32\(4,\)"
    with pytest.raises(ShapeError, match=pattern):
        run(grows)(rl.ones(2))
    with pytest.raises(DTypeError, match=r"loop variable 1 from int64\(2,\) to float32\(2,\)"):
        run(casts)(rl.asarray([1, 2]))


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_while_loop_cond_must_return_a_scalar_bool(mode):
    run = (lambda fn: fn) if mode == "eager" else rl.function
    fn = run(lambda x: rl.while_loop(lambda x: x > 0.0, lambda x: x - 1.0, x))
    with pytest.raises(ShapeError, match=r"while_loop: cond's result must be a scalar bool"):
        fn(rl.ones(2))


# -- scan ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_cumulative_sum_matches_numpy(traced, reverse):
    x = f64(5, 2)
    expected = np.cumsum(np.asarray(x)[::-1], axis=0)[::-1] if reverse else np.cumsum(x, axis=0)

    def fn(x):
        return rl.scan(lambda acc, e: acc + e, x, reverse=reverse)

    def with_init(x):
        return rl.scan(
            lambda acc, e: acc + e, x, initializer=rl.zeros(2, "float64"), reverse=reverse
        )

    for f in (fn, with_init):
        np.testing.assert_allclose(np.asarray(f(x)), expected, rtol=1e-12)
        assert_same(traced(f)(x), f(x))


def rnn(xs, w, u):
    """A tanh RNN over the time axis of xs (time, batch, features), capturing w and u."""
    h0 = rl.zeros((xs.shape[1], w.shape[1]), "float64")
    return rl.scan(lambda h, x: rl.tanh(h @ w + x @ u), xs, initializer=h0)


def rnn_numpy(xs, w, u):
    h, out = np.zeros((xs.shape[1], w.shape[1])), []
    for x in np.asarray(xs):
        h = np.tanh(h @ np.asarray(w) + x @ np.asarray(u))
        out.append(h)
    return np.stack(out)


def test_scan_rnn_with_a_captured_weight_matches_numpy(traced):
    xs, w, u = f64(4, 2, 3), f64(5, 5, seed=1) * 0.5, f64(3, 5, seed=2)
    np.testing.assert_allclose(np.asarray(rnn(xs, w, u)), rnn_numpy(xs, w, u), rtol=1e-12)
    assert_same(traced(rnn)(xs, w, u), rnn(xs, w, u))
    (node,) = control_nodes(rl.function(rnn).get_graph(xs, w, u))
    assert node.op == "scan" and len(node.inputs) == 4  # h0, xs, and the captured w and u


def test_scan_over_nested_structures(traced):
    def fn(a, b):
        def step(acc, x):
            total, count = acc
            return total + x["a"] * x["b"], count + 1

        return rl.scan(step, {"a": a, "b": b}, initializer=(rl.zeros(2, "float64"), 0))

    a, b = f64(4, 2), f64(4, 2, seed=1)
    total, count = fn(a, b)
    np.testing.assert_allclose(np.asarray(total), np.cumsum(np.asarray(a * b), axis=0))
    assert count.tolist() == [1, 2, 3, 4]
    assert_same(traced(fn)(a, b), fn(a, b))


def test_scan_gradients_match_finite_differences_eagerly():
    check_grads(rnn, [f64(3, 2, 2), f64(2, 2, seed=1), f64(2, 2, seed=2)])


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradients_traced_match_eager(reverse):
    def fn(xs, w):
        return rl.scan(lambda acc, x: rl.sin(acc * w) + x, xs, reverse=reverse)

    xs, w = f64(4, 3), f64(3, seed=1)
    expected = tape_grads(fn, xs, w)
    assert_same(rl.function(lambda xs, w: tape_grads(fn, xs, w))(xs, w), expected)
    expected = tape_grads(rnn, f64(3, 2, 2), f64(2, 2, seed=1), f64(2, 2, seed=2))
    got = rl.function(lambda *a: tape_grads(rnn, *a))(
        f64(3, 2, 2), f64(2, 2, seed=1), f64(2, 2, seed=2)
    )
    assert_same(got, expected)


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_scan_errors_name_the_shapes(mode):
    run = (lambda fn: fn) if mode == "eager" else rl.function
    with pytest.raises(
        ShapeError, match=r"scan: the body changed accumulator 0 from float64\(3,\)"
    ):
        run(lambda xs: rl.scan(lambda acc, x: acc[:2], xs))(f64(4, 3))
    with pytest.raises(ShapeError, match=r"scan: elems disagree in length along axis 0: 4 and 3"):
        run(lambda a, b: rl.scan(lambda acc, x: acc, (a, b)))(f64(4), f64(3))
    with pytest.raises(ShapeError, match=r"scan: elems must have an axis to scan over"):
        run(lambda a: rl.scan(lambda acc, x: acc, a))(f64())


def test_scan_reading_a_variable_trains_like_eager():
    def make():
        return rl.Variable(np.random.default_rng(5).standard_normal((2, 2)) * 0.5, name="w")

    def train_step(w, xs):
        with rl.GradientTape() as tape:
            h0 = rl.zeros((1, 2), "float64")
            hs = rl.scan(lambda h, x: rl.tanh(h @ w + x), xs, initializer=h0)
            loss = rl.sum(hs * hs)
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    eager_w, graph_w = make(), make()
    traced = rl.function(lambda xs: train_step(graph_w, xs))
    xs = f64(3, 1, 2)
    for _ in range(3):
        assert_same(traced(xs), train_step(eager_w, xs))
    assert_same(graph_w.value(), eager_w.value())


def test_loop_bodies_may_return_python_numbers(traced):
    def fn(x):
        i, y = rl.while_loop(lambda i, y: i < 2, lambda i, y: (i + 1, 0.5), (0, x))
        return i, y, rl.scan(lambda acc, e: 1, rl.ones(3), initializer=0)

    x = rl.asarray(2.0, "float64")
    assert_same(traced(fn)(x), fn(x))
    assert fn(x)[1].dtype == rl.float64 and fn(x)[2].dtype == rl.int64


# -- map_fn --------------------------------------------------------------------------------


def test_map_fn_matches_numpy_and_keeps_structure(traced):
    def fn(x, w):
        return rl.map_fn(lambda row: (rl.sum(row * w), row[::-1]), x)

    x, w = f64(4, 3), f64(3, seed=1)
    sums, flipped = traced(fn)(x, w)
    np.testing.assert_allclose(np.asarray(sums), np.asarray(x) @ np.asarray(w), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(flipped), np.asarray(x)[:, ::-1])
    assert_same(traced(fn)(x, w), fn(x, w))


def test_map_fn_output_signature_casts_and_empty_elems_have_static_shape(traced):
    def fn(x):
        return rl.map_fn(lambda row: rl.sum(row), x, fn_output_signature=rl.int64)

    x = rl.asarray([[1.5, 2.0], [3.0, 4.0]])
    assert traced(fn)(x).tolist() == fn(x).tolist() == [3, 7]
    empty = rl.map_fn(lambda row: row * 2.0, rl.zeros((0, 3)))
    assert empty.shape == (0, 3) and empty.dtype == rl.float32


def test_map_fn_gradients_match_finite_differences_and_eager():
    def fn(x, w):
        return rl.map_fn(lambda row: rl.tanh(row @ w), x)

    x, w = f64(3, 2), f64(2, 2, seed=1)
    check_grads(fn, [x, w])
    assert_same(rl.function(lambda x, w: tape_grads(fn, x, w))(x, w), tape_grads(fn, x, w))


# -- graphs: structure, loops inside functions, saving --------------------------------------


def test_control_flow_nests_across_kinds(traced):
    """A cond inside a scan inside a while_loop, each capturing from further out."""
    w = f64(3, seed=3)

    def fn(x):
        def step(acc, e):
            return rl.cond(rl.sum(e) > 0.0, lambda: acc + e * w, lambda: acc - e)

        def body(i, acc):
            return i + 1, rl.scan(step, x, initializer=acc)[-1]

        return rl.while_loop(lambda i, acc: i < 2, body, (0, rl.zeros(3, "float64")))

    x = f64(4, 3)
    assert_same(traced(fn)(x), fn(x))
    verify(rl.function(fn).get_graph(x))


def test_call_graph_replays_a_graph_eagerly_and_while_tracing():
    def model(x, w):
        return rl.tanh(x @ w) * 2.0

    x, w = f64(2, 3), f64(3, 3, seed=1)
    graph = rl.function(model, optimize=False).get_graph(x, w)
    assert_same(call_graph(graph, [x, w]), [model(x, w)])  # eager: computes
    replayed = rl.function(lambda x, w: call_graph(graph, [x, w])[0], optimize=False)
    assert replayed.get_graph(x, w).op_counts() == graph.op_counts()  # traced: same nodes
    assert_same(replayed(x, w), model(x, w))


def test_save_and_load_a_function_with_cond_and_while_loop(tmp_path):
    w = f64(3, seed=1)

    def fn(x):
        y = rl.cond(rl.sum(x) > 0.0, lambda: x * w, lambda: x - w)
        return rl.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, rl.sin(y) + w), (0, y))

    x = f64(3)
    graph = rl.function(fn).get_graph(x)
    path = os.path.join(tmp_path, "control.json")
    serialize.save(graph, path)
    with open(path) as f:
        assert f.read().count('"__graph__"') == 4  # two branches, a loop's cond and body
    loaded = serialize.load(path)
    for x in (f64(3), -rl.abs(f64(3))):
        assert_same(loaded.run(x), list(fn(x)))
