"""The rl.function contract: tracing per signature, input_signature, retracing warnings,
variables by reference, trace-time Python, eager debugging, and results equal to eager."""

import threading
import time
import warnings

import numpy as np
import pytest

import rillet as rl
from rillet.errors import DTypeError, ShapeError
from rillet.graph import RetracingWarning, TracingError

EXECUTORS = ["compiled", "interpreter"]


def _array(rng, shape, scale=1.0):
    return rl.asarray((rng.standard_normal(shape) * scale).astype(np.float32))


def _close(got, expected, rtol=1e-6, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=atol)


@pytest.fixture
def eager_functions():
    """rl.config.run_functions_eagerly(True) for one test, restored afterwards."""
    previous = rl.config.functions_run_eagerly()
    rl.config.run_functions_eagerly(True)
    yield
    rl.config.run_functions_eagerly(previous)


# -- one trace per input signature ----------------------------------------------------------


def test_same_shape_and_dtype_traces_once():
    f = rl.function(lambda x: x * 2.0)
    for value in (1.0, 2.0, 3.0):
        _close(f(rl.full((2, 3), value)), np.full((2, 3), 2 * value))
    assert f.experimental_get_tracing_count() == 1


def test_new_shape_or_dtype_traces_again():
    f = rl.function(lambda x: x + 1)
    f(rl.ones((2, 3)))
    f(rl.ones((3, 2)))
    f(rl.ones((2, 3), dtype=rl.float64))
    f(rl.ones((2, 3)))  # seen before: no new trace
    assert f.experimental_get_tracing_count() == 3
    assert f(rl.ones((2, 3), dtype=rl.float64)).dtype == rl.float64


def test_numpy_arrays_are_graph_inputs_like_tensors():
    f = rl.function(lambda x: x * 3.0)
    _close(f(np.arange(3, dtype=np.float32)), [0.0, 3.0, 6.0])
    _close(f(np.ones(3, dtype=np.float32)), [3.0, 3.0, 3.0])
    assert f.experimental_get_tracing_count() == 1


def test_python_arguments_are_part_of_the_signature():
    f = rl.function(lambda x, n: x * n)
    _close(f(rl.ones(2), 2.0), [2.0, 2.0])
    _close(f(rl.ones(2), 2.0), [2.0, 2.0])
    _close(f(rl.ones(2), 5.0), [5.0, 5.0])
    assert f.experimental_get_tracing_count() == 2


def test_nested_arguments_and_results_keep_their_structure():
    @rl.function
    def f(inputs, scale=1.0):
        a, b = inputs["pair"]
        return {"sum": (a + b) * scale, "list": [a, b * 2.0]}

    out = f({"pair": (rl.ones(2), rl.full((2,), 3.0))}, scale=2.0)
    assert sorted(out) == ["list", "sum"] and isinstance(out["list"], list)
    _close(out["sum"], [8.0, 8.0])
    _close(out["list"][1], [6.0, 6.0])


# -- input_signature ------------------------------------------------------------------------


def _batch_function():
    w = rl.asarray(np.arange(6, dtype=np.float32).reshape(3, 2))
    return rl.function(
        lambda x: rl.sum(rl.tanh(x) @ w, axis=1), input_signature=[rl.TensorSpec((None, 3))]
    )


def test_input_signature_traces_once_for_every_batch_size():
    f = _batch_function()
    rng = np.random.default_rng(0)
    for batch in (1, 4, 7):
        x = _array(rng, (batch, 3))
        _close(f(x), np.tanh(x.numpy()) @ np.arange(6).reshape(3, 2).sum(axis=1))
    assert f.experimental_get_tracing_count() == 1
    assert f.get_graph(_array(rng, (2, 3))).inputs[0].shape == (None, 3)


def test_input_signature_rejects_incompatible_shape_naming_it():
    f = _batch_function()
    with pytest.raises(ShapeError, match=r"argument 0 has shape \(2, 4\).*TensorSpec"):
        f(rl.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        f(rl.ones(3))


def test_input_signature_rejects_other_dtype_instead_of_casting():
    f = _batch_function()
    with pytest.raises(DTypeError, match="argument 0 has dtype float64"):
        f(rl.ones((2, 3), dtype=rl.float64))


def test_input_signature_rejects_wrong_number_of_tensors():
    f = _batch_function()
    with pytest.raises(rl.errors.ArgumentError, match="input_signature of 1 tensors, got 2"):
        f(rl.ones((2, 3)), rl.ones((2, 3)))


# -- retracing ------------------------------------------------------------------------------


def test_retracing_warning_after_more_than_five_traces_once():
    f = rl.function(lambda x: x * 2.0)
    for n in range(1, 6):
        f(rl.ones(n))  # warnings are errors in the test suite: none may be raised here
    with pytest.warns(RetracingWarning, match="traced 6 times"):
        f(rl.ones(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(rl.ones(7))  # warned once already
    assert f.experimental_get_tracing_count() == 7


def test_retracing_warning_points_at_the_callers_line():
    f = rl.function(lambda x: x)
    for n in range(1, 6):
        f(rl.ones(n))
    with pytest.warns(RetracingWarning) as record:
        f(rl.ones(6))
    assert record[0].filename == __file__


# -- variables by reference -----------------------------------------------------------------


@pytest.mark.parametrize("executor", EXECUTORS)
def test_assignments_inside_persist_across_calls(executor):
    counter = rl.Variable(0.0, name="counter")
    total = rl.Variable(np.zeros(2, np.float32), name="total")

    @rl.function(executor=executor)
    def accumulate(x):
        counter.assign_add(1.0)
        total.assign_add(x)
        return total.read_value() * 1.0

    for i in range(1, 4):
        _close(accumulate(rl.full((2,), float(i))), np.full(2, i * (i + 1) / 2))
    assert counter.numpy() == 3.0
    assert accumulate.experimental_get_tracing_count() == 1


def test_eager_update_between_calls_is_seen_by_the_graph():
    v = rl.Variable(np.float32(2.0))
    f = rl.function(lambda x: x * v)
    _close(f(rl.ones(2)), [2.0, 2.0])
    v.assign(5.0)
    _close(f(rl.ones(2)), [5.0, 5.0])
    v.assign_sub(1.0)
    _close(f(rl.ones(2)), [4.0, 4.0])
    assert f.experimental_get_tracing_count() == 1


def test_variable_arguments_are_captured_by_identity():
    f = rl.function(lambda v, x: v.assign_add(x))
    a, b = rl.Variable(np.zeros(2, np.float32)), rl.Variable(np.ones(2, np.float32))
    f(a, rl.ones(2))
    f(b, rl.ones(2))
    f(a, rl.ones(2))
    _close(a.numpy(), [2.0, 2.0])
    _close(b.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("executor", EXECUTORS)
def test_read_before_assign_keeps_the_old_value(executor):
    v = rl.Variable(np.array([1.0, 2.0], np.float32))

    @rl.function(executor=executor)
    def swap_in(x):
        old = v.read_value()
        v.assign(x)
        return old, v.read_value()

    old, new = swap_in(rl.full((2,), 7.0))
    _close(old, [1.0, 2.0])
    _close(new, [7.0, 7.0])
    returned = rl.function(lambda: v.read_value(), executor=executor)()
    v.assign([0.0, 0.0])  # an update after the call does not change the returned tensor
    _close(returned, [7.0, 7.0])


# -- Python at trace time, and eager debugging -----------------------------------------------


def test_python_side_effects_run_only_while_tracing():
    calls = []

    @rl.function
    def f(x):
        calls.append(x.shape)
        return x + 1.0

    f(rl.ones(2))
    f(rl.ones(2))
    f(rl.ones(3))
    assert calls == [(2,), (3,)]


def test_python_control_flow_over_python_values_unrolls():
    @rl.function
    def power(x, n):
        y = x
        for _ in range(n - 1):
            y = y * x
        return y if n > 1 else x

    _close(power(rl.full((2,), 3.0), 3), [27.0, 27.0])
    traced = power.get_concrete_function(rl.ones(2), 4).traced_graph
    assert traced.op_counts()["multiply"] == 3


def test_run_functions_eagerly_runs_python_every_call(eager_functions):
    calls = []

    @rl.function
    def f(x):
        calls.append(float(rl.sum(x).numpy()))  # concrete values: it is eager now
        return x * 2.0

    _close(f(rl.ones(2)), [2.0, 2.0])
    _close(f(rl.ones(2)), [2.0, 2.0])
    assert calls == [2.0, 2.0]
    assert f.experimental_get_tracing_count() == 0


def test_run_functions_eagerly_off_again_traces(eager_functions):
    f = rl.function(lambda x: x * 2.0)
    f(rl.ones(2))
    rl.config.run_functions_eagerly(False)
    f(rl.ones(2))
    assert f.experimental_get_tracing_count() == 1


# -- errors while tracing -------------------------------------------------------------------


def test_python_if_on_a_traced_tensor_says_to_use_cond():
    @rl.function
    def relu_ish(x):
        if rl.sum(x) > 0:
            return x
        return -x

    with pytest.raises(TracingError, match=r"rl\.cond"):
        relu_ish(rl.ones(3))
    _close(rl.tanh(rl.zeros(2)), [0.0, 0.0])  # the failed trace left eager mode working


@pytest.mark.parametrize(
    "use",
    [
        lambda x: x.numpy(),
        lambda x: float(rl.sum(x)),
        lambda x: np.asarray(x),
        lambda x: x.tolist(),
    ],
    ids=["numpy", "float", "np.asarray", "tolist"],
)
def test_concrete_value_of_a_traced_tensor_is_a_tracing_error(use):
    f = rl.function(lambda x: use(x))
    with pytest.raises(TracingError, match="symbolic tensor .* no value while rl.function traces"):
        f(rl.ones(2))


def test_len_of_unknown_first_size_is_a_tracing_error():
    f = rl.function(lambda x: len(x), input_signature=[rl.TensorSpec((None, 2))])
    with pytest.raises(TracingError, match=r"len\(\).*not known"):
        f(rl.ones((3, 2)))


def test_tensor_leaked_from_a_trace_cannot_be_used_later():
    leaked = []
    f = rl.function(lambda x: leaked.append(x * 2.0) or x)
    f(rl.ones(2))
    with pytest.raises(TracingError):
        rl.tanh(leaked[0])
    g = rl.function(lambda x: x + leaked[0])
    with pytest.raises(TracingError, match="another traced function"):
        g(rl.ones(2))


def test_shape_error_while_tracing_names_the_op():
    f = rl.function(lambda a, b: rl.matmul(a, b))
    with pytest.raises(ShapeError, match="matmul"):
        f(rl.ones((2, 3)), rl.ones((4, 5)))


# -- methods and nesting ----------------------------------------------------------------------


class Scaler:
    def __init__(self, factor):
        self.factor = rl.Variable(np.float32(factor))
        self.calls = 0

    @rl.function
    def __call__(self, x):
        self.calls += 1  # trace time only
        return x * self.factor

    @rl.function
    def grow(self, amount):
        self.factor.assign_add(amount)
        return self.factor.read_value() * 1.0


def test_methods_trace_per_instance_and_see_their_own_variables():
    double, triple = Scaler(2.0), Scaler(3.0)
    for _ in range(2):
        _close(double(rl.ones(2)), [2.0, 2.0])
        _close(triple(rl.ones(2)), [3.0, 3.0])
    assert (double.calls, triple.calls) == (1, 1)
    _close(double.grow(rl.asarray(np.float32(1.0))), 3.0)
    _close(double(rl.ones(2)), [3.0, 3.0])
    _close(triple(rl.ones(2)), [3.0, 3.0])


def test_bound_method_exposes_its_concrete_function_and_graph():
    scaler = Scaler(2.0)
    graph = scaler.__call__.get_graph(rl.ones(3))
    assert graph.op_counts()["read_variable"] == 1 and len(graph.inputs) == 1
    assert scaler.__call__.get_concrete_function(rl.ones(3)).graph is graph
    assert scaler.__call__.experimental_get_tracing_count() >= 1


def test_nested_functions_inline_into_the_outer_graph():
    inner = rl.function(lambda x: rl.tanh(x) * 2.0)
    outer = rl.function(lambda x: inner(x) + inner(x * 3.0))
    x = _array(np.random.default_rng(1), (4,))
    _close(outer(x), 2 * np.tanh(x.numpy()) + 2 * np.tanh(3 * x.numpy()))
    assert inner.experimental_get_tracing_count() == 0  # never traced on its own
    assert outer.get_concrete_function(x).traced_graph.op_counts()["tanh"] == 2


# -- results equal eager ----------------------------------------------------------------------


def _mlp(params, x):
    w1, b1, w2, b2 = params
    return rl.relu(x @ w1 + b1) @ w2 + b2


def _mlp_params(rng):
    shapes = [(5, 16), (16,), (16, 4), (4,)]
    return [_array(rng, s, 0.5) for s in shapes]


def _softmax_ce_loss(logits, labels):
    return rl.mean(rl.sparse_softmax_cross_entropy_with_logits(labels, logits))


def _mlp_loss_and_grads(params, x, labels):
    with rl.GradientTape() as tape:
        for p in params:
            tape.watch(p)
        loss = _softmax_ce_loss(_mlp(params, x), labels)
    return loss, tape.gradient(loss, params)


def _conv_program(x, filters, dense, labels):
    with rl.GradientTape() as tape:
        tape.watch(filters)
        tape.watch(dense)
        h = rl.relu(rl.conv2d(x, filters, padding="same"))
        h = rl.max_pool2d(h, pool_size=2)
        logits = rl.reshape(h, (x.shape[0], -1)) @ dense
        loss = rl.mean(rl.softmax_cross_entropy_with_logits(rl.softmax(labels), logits))
    return loss, tape.gradient(loss, [filters, dense])


@pytest.mark.parametrize("executor", EXECUTORS)
def test_mlp_softmax_cross_entropy_and_gradients_equal_eager(executor):
    rng = np.random.default_rng(2)
    params, x = _mlp_params(rng), _array(rng, (8, 5))
    labels = rl.asarray(rng.integers(0, 4, 8))
    expected = _mlp_loss_and_grads(params, x, labels)
    got = rl.function(_mlp_loss_and_grads, executor=executor)(params, x, labels)
    _close(got[0], expected[0])
    for g, e in zip(got[1], expected[1]):
        _close(g, e, rtol=1e-5)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_conv_pool_softmax_program_and_gradients_equal_eager(executor):
    rng = np.random.default_rng(3)
    x, filters = _array(rng, (2, 6, 6, 3)), _array(rng, (3, 3, 3, 4), 0.3)
    dense, labels = _array(rng, (36, 5), 0.3), _array(rng, (2, 5))
    expected = _conv_program(x, filters, dense, labels)
    got = rl.function(_conv_program, executor=executor)(x, filters, dense, labels)
    _close(got[0], expected[0], rtol=1e-5)
    for g, e in zip(got[1], expected[1]):
        _close(g, e, rtol=1e-5, atol=1e-6)


# -- a whole training step as one graph --------------------------------------------------------


class Adam:
    """Adam written with rillet ops and variable updates (eager or traced alike)."""

    def __init__(self, params, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = [rl.Variable(np.zeros(p.shape, np.float32)) for p in params]
        self.v = [rl.Variable(np.zeros(p.shape, np.float32)) for p in params]
        self.t = rl.Variable(np.float32(0.0), trainable=False)

    def apply(self, grads, params):
        self.t.assign_add(1.0)
        t = self.t.read_value()
        step = self.lr * rl.sqrt(1.0 - rl.power(self.beta2, t)) / (1.0 - rl.power(self.beta1, t))
        for g, p, m, v in zip(grads, params, self.m, self.v):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * rl.square(g))
            p.assign_sub(step * m / (rl.sqrt(v) + self.eps))


def _train_setup():
    rng = np.random.default_rng(4)
    params = [rl.Variable(p) for p in _mlp_params(rng)]
    return params, Adam(params)


def _train_step(params, optimizer, x, labels):
    with rl.GradientTape() as tape:
        loss = _softmax_ce_loss(_mlp(params, x), labels)
    optimizer.apply(tape.gradient(loss, params), params)
    return loss


def test_training_step_compiles_into_one_graph_and_matches_eager_for_five_steps():
    rng = np.random.default_rng(5)
    eager_params, eager_adam = _train_setup()
    graph_params, graph_adam = _train_setup()
    step = rl.function(lambda x, y: _train_step(graph_params, graph_adam, x, y))
    for _ in range(5):
        x, labels = _array(rng, (16, 5)), rl.asarray(rng.integers(0, 4, 16))
        expected = _train_step(eager_params, eager_adam, x, labels)
        _close(step(x, labels), expected, rtol=1e-5)
        for g, e in zip(graph_params, eager_params):
            _close(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
    assert step.experimental_get_tracing_count() == 1
    concrete = step.get_concrete_function(x, labels)
    assert concrete.graph.op_counts()["assign_variable"] == 4 * 3 + 1  # params, m, v, step
    assert concrete.traced_graph.op_counts()["matmul"] >= 2 + 3  # forward, both gradients


def test_unconnected_gradient_in_a_graph_is_none_as_in_eager():
    w = rl.Variable(np.ones(2, np.float32))
    unused = rl.Variable(np.ones(2, np.float32))

    @rl.function
    def step(x):
        with rl.GradientTape() as tape:
            loss = rl.sum(w * x)
        gw, gu = tape.gradient(loss, [w, unused])
        return gw, gu

    gw, gu = step(rl.full((2,), 3.0))
    _close(gw, [3.0, 3.0])
    assert gu is None  # unconnected, as in eager


def test_traced_function_matches_eager():
    x = rl.asarray(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    w = rl.asarray(np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32))

    def model(x, w):
        return rl.sum(rl.tanh(x @ w) * 2.0 + 1.0, axis=0)

    np.testing.assert_allclose(rl.function(model)(x, w).numpy(), model(x, w).numpy(), rtol=1e-6)


def test_training_step_updates_variables_like_eager():
    def make():
        return rl.Variable(np.array([1.0, -2.0, 0.5], np.float32), name="v")

    def step(v, x):
        with rl.GradientTape() as tape:
            loss = rl.sum(rl.square(v * x))
        v.assign_sub(0.1 * tape.gradient(loss, v))
        return loss

    x = rl.asarray([1.0, 2.0, 3.0])
    eager_v, graph_v = make(), make()
    traced = rl.function(lambda x: step(graph_v, x))
    for _ in range(3):
        expected = step(eager_v, x)
        got = traced(x)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(graph_v.numpy(), eager_v.numpy(), rtol=1e-6)
    counts = traced.get_graph(x).op_counts()
    assert counts["assign_variable"] == 1 and counts["read_variable"] == 1


# --- the fast call for plain tensors ------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x * 2.0,
        lambda x: [x + 1.0, x - 1.0],
        lambda x: (x, rl.sum(x)),
        lambda x: {"double": x * 2.0, "pair": (x, x + 3.0)},
    ],
)
def test_repeated_tensor_calls_give_the_first_calls_structure_and_values(make):
    f = rl.function(make)
    x = rl.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    expected = make(x)
    _same_structure_and_values(f(x), expected)
    _same_structure_and_values(f(x), expected)  # the cached runner


def _same_structure_and_values(got, expected):
    assert type(got) is type(expected)
    if isinstance(got, dict):
        assert got.keys() == expected.keys()
        for key in got:
            _same_structure_and_values(got[key], expected[key])
    elif isinstance(got, (list, tuple)):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            _same_structure_and_values(a, b)
    else:
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_the_fast_call_retraces_for_a_new_shape_or_dtype_and_keeps_inputs_unchanged():
    f = rl.function(lambda x: x + 1)
    a = rl.ones((2,), dtype="float32")
    f(a)
    f(a)
    assert f.experimental_get_tracing_count() == 1
    assert f(rl.ones((3,), dtype="float32")).shape == (3,)
    assert f(rl.ones((2,), dtype="int32")).dtype == np.int32
    assert f.experimental_get_tracing_count() == 3
    np.testing.assert_array_equal(a.numpy(), np.ones(2))


def test_compiled_calls_neither_warn_nor_change_numpys_error_state():
    f = rl.function(lambda x: rl.log(x))
    before = np.geterr()
    for _ in range(2):  # warnings are errors in this suite
        assert np.isneginf(f(rl.zeros((2,))).numpy()).all()
    assert np.geterr() == before


def test_threads_calling_with_one_new_signature_at_once_trace_it_once():
    started = threading.Barrier(8)

    def body(x):
        time.sleep(0.05)  # a slow trace: the other threads arrive meanwhile
        return rl.tanh(x) * 2.0

    f = rl.function(body)
    x = rl.ones((16,))
    results = [None] * 8

    def call(i):
        started.wait()
        results[i] = f(x).numpy()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert f.experimental_get_tracing_count() == 1
    for got in results:
        np.testing.assert_allclose(got, np.tanh(np.ones(16)) * 2.0, rtol=1e-6)
