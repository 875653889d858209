"""The compiled executor: same values as eager and the interpreter, planned memory that never
clobbers what is alive or returned, variables updated in place, numeric checks, source."""

import threading
import weakref

import numpy as np
import pytest

import rillet as rl
from rillet import dtypes
from rillet.errors import NumericsError, ShapeError
from rillet.graph.executors.compiled import CompiledExecutor
from rillet.graph.executors.interpreter import Interpreter
from rillet.graph.executors.lowering import UFUNC_KERNELS
from rillet.graph.trace import TracingError
from tests.ops.opinfo import all_rows

ROWS = all_rows()


def as_list(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def compiled(fn, **options):
    return rl.function(fn, executor="compiled", **options)


def executor(fn, *args):
    return fn.get_concrete_function(*args).executor


# -- every op table sample: eager == interpreter == compiled ------------------------------------


def _row_cases(row):
    """Every sample of the row, in each of its dtypes, as ``(fn, tensors, tolerance)``."""
    for dtype in map(np.dtype, row.dtypes):
        for sample in row.samples(np.random.default_rng(0), dtype):
            yield _bind(row, sample), _tensors(sample), row.tol(dtype)


def _bind(row, sample):
    """``fn(*tensors)``: the row's op with the sample's arrays as arguments."""
    positions = [i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray)]

    def fn(*tensors):
        args = list(sample.args)
        for i, t in zip(positions, tensors):
            args[i] = t
        return row.op(*args, **sample.kwargs)

    return fn


def _tensors(sample):
    return [rl.asarray(a) for a in sample.args if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_op_rows_compiled_match_eager_and_interpreter(row):
    for fn, tensors, tolerance in _row_cases(row):
        try:
            expected = [np.asarray(t) for t in as_list(fn(*tensors))]
        except rl.errors.RilletError:
            continue  # a sample of errors, for the op's own tests
        try:
            graph = rl.function(fn).get_graph(*tensors)
        except TracingError as error:
            pytest.skip(f"{row.name} does not trace: {error}")
        by_interpreter = [t.numpy() for t in Interpreter(graph)(*tensors)]
        by_compiled = [t.numpy() for t in CompiledExecutor(graph)(*tensors)]
        for e, i, c in zip(expected, by_interpreter, by_compiled, strict=True):
            _assert_matches(c, i, e, tolerance)


def _assert_matches(compiled, interpreted, eager, tolerance):
    assert compiled.dtype == eager.dtype and compiled.shape == eager.shape
    np.testing.assert_array_equal(compiled, interpreted)  # same kernels, same graph, same bits
    if not dtypes.is_floating(eager.dtype):
        np.testing.assert_array_equal(compiled, eager)
        return
    rtol, atol = tolerance
    wide = compiled.astype(np.float64), eager.astype(np.float64)
    np.testing.assert_allclose(*wide, rtol=max(rtol, 1e-6), atol=max(atol, 1e-6))


# -- whole programs ---------------------------------------------------------------------------


def _mlp(seed=0, sizes=(20, 16, 16, 5)):
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append(rl.Variable(rng.standard_normal((a, b)).astype(np.float32) * 0.3))
        params.append(rl.Variable(np.zeros(b, np.float32)))
    return params


def _adam_step(params, slots, x, y):
    """One Adam step written with rillet ops and in-place variable updates."""
    with rl.GradientTape() as tape:
        h = x
        for i in range(0, len(params), 2):
            h = rl.matmul(h, params[i]) + params[i + 1]
            h = rl.relu(h) if i + 2 < len(params) else h
        loss = rl.mean(rl.softmax_cross_entropy_with_logits(y, h))
    grads = tape.gradient(loss, params)
    step, ms, vs = slots
    step.assign_add(1.0)
    t = step.value()
    lr = 0.01 * rl.sqrt(1.0 - 0.999**t) / (1.0 - 0.9**t)
    for p, g, m, v in zip(params, grads, ms, vs):
        m.assign_add((g - m) * 0.1)
        v.assign_add((g * g - v) * 0.001)
        p.assign_sub(lr * m / (rl.sqrt(v) + 1e-7))
    return loss


def _trainer(seed=0):
    params = _mlp(seed)
    slots = (
        rl.Variable(np.zeros((), np.float32)),
        [rl.Variable(np.zeros(p.shape, np.float32)) for p in params],
        [rl.Variable(np.zeros(p.shape, np.float32)) for p in params],
    )
    return params, slots, lambda x, y: _adam_step(params, slots, x, y)


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    x = rl.asarray(rng.standard_normal((8, 20)).astype(np.float32))
    y = rl.asarray(np.eye(5, dtype=np.float32)[rng.integers(0, 5, 8)])
    return x, y


@pytest.mark.parametrize("optimize", [True, False])
def test_adam_training_matches_eager_and_interpreter(optimize):
    x, y = _batch()
    runs = {}
    for mode in ("eager", "interpreter", "compiled"):
        params, _, step = _trainer()
        fn = step if mode == "eager" else rl.function(step, executor=mode, optimize=optimize)
        losses = [fn(x, y).numpy() for _ in range(4)]
        runs[mode] = losses, [p.numpy() for p in params]
    for mode in ("interpreter", "compiled"):
        np.testing.assert_allclose(runs[mode][0], runs["eager"][0], rtol=1e-5)
        for got, want in zip(runs[mode][1], runs["eager"][1]):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert runs["compiled"][0][-1] < runs["compiled"][0][0]


def test_training_step_updates_variable_buffers_in_place():
    params, (step_var, ms, vs), step = _trainer()
    fn = compiled(step)
    x, y = _batch()
    fn(x, y)  # trace and run once
    variables = [*params, step_var, *ms, *vs]
    # Weak references: holding the buffers would itself force the updates to copy.
    buffers = [weakref.ref(v._array) for v in variables]
    before = [v.numpy() for v in params]
    fn(x, y)
    assert all(v._array is b() for v, b in zip(variables, buffers))
    assert all(not np.array_equal(v.numpy(), b) for v, b in zip(params, before))


def test_outputs_are_not_overwritten_by_the_next_call():
    # exp(x) is planned memory; the reshape of the product (an output) must not view it.
    fn = compiled(lambda x: (rl.reshape(rl.exp(x) * 2.0, (-1,)), rl.tanh(rl.exp(x))))
    first = fn(rl.asarray(np.zeros((2, 3), np.float32)))
    kept = [t.numpy().copy() for t in first]
    second = fn(rl.asarray(np.ones((2, 3), np.float32)))
    for tensor, copy in zip(first, kept):
        np.testing.assert_array_equal(tensor.numpy(), copy)
    np.testing.assert_allclose(second[0].numpy(), 2 * np.e * np.ones(6), rtol=1e-6)


def test_views_of_planned_values_stay_intact_until_used():
    def fn(x):
        a = rl.transpose(rl.exp(x))  # a view of exp(x), read at the very end
        b = rl.tanh(x * 3.0) + rl.sin(x)  # made while the view is alive
        return rl.sum(a, axis=0) * rl.sum(b)

    x = rl.asarray(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    f = compiled(fn, optimize=False)
    np.testing.assert_allclose(f(x).numpy(), fn(x).numpy(), rtol=1e-6)
    assert executor(f, x).plan.offsets  # memory was planned, and nothing was clobbered


def test_inputs_are_not_modified():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = rl.asarray(array.copy())
    fn = compiled(lambda x: rl.exp(rl.exp(x) * 0.5) - x)
    fn(x)
    np.testing.assert_array_equal(x.numpy(), array)


def test_low_precision_graph_matches_eager():
    x = rl.asarray(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)).astype(rl.bfloat16)

    def fn(x):
        return rl.sum(rl.tanh(x) * x + 1.0, axis=1)

    got, want = compiled(fn)(x), fn(x)
    assert got.dtype == rl.bfloat16
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_unknown_sizes_run_without_planned_memory():
    f = compiled(
        lambda x, w: rl.relu(rl.matmul(x, w)) * 2.0,
        input_signature=[rl.TensorSpec((None, 3)), rl.TensorSpec((3, 2))],
    )
    w = rl.ones((3, 2))
    for n in (1, 4):
        x = rl.asarray(np.arange(3 * n, dtype=np.float32).reshape(n, 3))
        np.testing.assert_allclose(f(x, w).numpy(), np.maximum(x.numpy() @ w.numpy(), 0) * 2)


def test_shape_error_at_run_time_names_the_op():
    spec = rl.TensorSpec((None,))
    f = compiled(lambda x, y: rl.exp(x) + y, input_signature=[spec, spec], optimize=False)
    with pytest.raises(ShapeError) as info:
        f(rl.ones((3,)), rl.ones((4,)))
    assert info.value.op == "add" and "(3,)" in str(info.value) and "(4,)" in str(info.value)


def test_check_numerics_names_the_first_op_making_nan():
    f = compiled(lambda x: rl.exp(rl.log(x) * 2.0), optimize=False)
    x = rl.asarray([1.0, -1.0])
    assert np.isnan(f(x).numpy()[1])  # IEEE semantics when the check is off
    rl.debugging.enable_check_numerics()
    try:
        with pytest.raises(NumericsError) as info:
            f(x)
    finally:
        rl.debugging.disable_check_numerics()
    assert info.value.op == "log" and "log_" in str(info.value)
    np.testing.assert_allclose(f(rl.asarray([1.0, 2.0])).numpy(), [1.0, 4.0], rtol=1e-6)


def test_check_rules_runs_the_checked_program(check_rules):
    f = compiled(lambda x: rl.sum(rl.exp(x) * x, axis=0))
    x = rl.asarray(np.ones((3, 2), np.float32))
    np.testing.assert_allclose(f(x).numpy(), [3 * np.e] * 2, rtol=1e-6)
    assert (True, True) in executor(f, x)._programs


def test_calls_from_other_threads_use_private_memory():
    f = compiled(lambda x: rl.tanh(rl.exp(x) * 0.5) + x)
    ex = executor(f, rl.ones((64,)))
    with ex._lock:  # as if another thread were running the shared-memory program
        got = f(rl.ones((64,))).numpy()
    np.testing.assert_allclose(got, np.tanh(np.exp(1.0) * 0.5) + 1.0, rtol=1e-6)
    assert "arena" not in ex._programs[(False, False)].source

    inputs = [rl.asarray(np.full((256,), i / 8, np.float32)) for i in range(8)]
    results = [None] * 8

    def work(i):
        for _ in range(50):
            results[i] = f(inputs[i]).numpy()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, got in enumerate(results):
        x = i / 8
        np.testing.assert_allclose(got, np.tanh(np.exp(x) * 0.5) + x, rtol=1e-6)


def test_source_is_one_readable_line_per_op():
    f = compiled(lambda x, w: rl.relu(rl.matmul(x, w) + 1.0), optimize=False)
    x, w = rl.ones((4, 3)), rl.ones((3, 2))
    source = executor(f, x, w).source
    lines = source.splitlines()
    assert lines[0] == "def _lambda_(placeholder_0, placeholder_1):"
    assert lines[-1].strip() == f"return [{f.get_graph(x, w).outputs[0].name}]"
    calls = [line.strip() for line in lines if " = " in line]
    # relu's kernel is np.maximum(x, 0): the program calls NumPy itself
    assert [c.split(" = ")[1].split("(")[0] for c in calls] == ["np.matmul", "np.add", "np.maximum"]
    assert "out=arena_0_float32_4x2" in calls[0] and "in place of matmul_2" in calls[1]
    assert all(len(line) <= 120 for line in lines)
    assert "del placeholder_0, placeholder_1" in source
    compile(source, "<test>", "exec")


def test_generated_lines_appear_in_tracebacks():
    f = compiled(lambda x: rl.reshape(x, (5,)), input_signature=[rl.TensorSpec((None,))])
    with pytest.raises(ShapeError) as info:
        f(rl.ones((4,)))
    assert info.value.op == "reshape"
    generated = [entry for entry in info.traceback if "<compiled" in str(entry.path)]
    assert generated and "reshape_op" in str(generated[0].statement)


def test_a_graph_runs_on_its_own_after_json_round_trip():
    from rillet.graph.serialize import from_json, to_json

    f = compiled(lambda x: rl.softmax(x * 2.0, axis=-1))
    x = rl.asarray(np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32))
    arrays, variables = {}, []
    graph = from_json(to_json(f.get_graph(x), arrays, variables), arrays, variables)
    np.testing.assert_allclose(CompiledExecutor(graph)(x)[0].numpy(), f(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("take_first", [True, False])
def test_control_flow_results_that_alias_planned_values_stay_intact(take_first):
    # The true branch returns exp(x) itself: the cond's result is exp(x)'s memory, which
    # must stay busy while the result lives (tanh(3x) must not be computed over it).
    def fn(x, pred):
        e = rl.exp(x)
        c = rl.cond(pred, lambda: e, lambda: e * 2.0)
        return c * rl.tanh(x * 3.0)

    x = rl.asarray(np.linspace(-1, 1, 6, dtype=np.float32))
    pred = rl.asarray(take_first)
    f = compiled(fn, optimize=False)
    np.testing.assert_allclose(f(x, pred).numpy(), fn(x, pred).numpy(), rtol=1e-6)


def _kernel_inputs(op: str, arity: int, rng):
    if op.startswith("logical_"):
        return [rng.random((4, 5)) < 0.5 for _ in range(arity)]
    if op in ("floor_divide", "remainder"):
        return [rng.integers(-9, 9, (4, 5)).astype(np.int32) | 1 for _ in range(arity)]
    if op == "matmul":
        return [rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((5, 3))]
    values = rng.standard_normal((arity, 4, 5)).astype(np.float32)
    values[0, 0, :3] = [np.nan, np.inf, -0.0]
    return list(values)


@pytest.mark.parametrize("op", sorted(UFUNC_KERNELS))
def test_ops_called_as_numpy_ufuncs_equal_their_kernels(op):
    from rillet.ops._registry import REGISTRY

    name, extra = UFUNC_KERNELS[op]
    ufunc = getattr(np, name)
    arity = ufunc.nin - len(extra)
    inputs = _kernel_inputs(op, arity, np.random.default_rng(0))
    if op == "matmul":
        inputs[1] = inputs[1].astype(np.float32)
    constants = [int(e) for e in extra]
    expected = REGISTRY[op].kernel(np, *inputs)
    direct = ufunc(*inputs, *constants)
    assert type(direct) is type(expected) and direct.dtype == expected.dtype
    np.testing.assert_array_equal(direct, expected)
    scalars = [x.reshape(-1)[:1].reshape(()) for x in inputs] if op != "matmul" else None
    if scalars is not None:  # 0-d inputs: NumPy scalars come back from both alike
        a, b = REGISTRY[op].kernel(np, *scalars), ufunc(*scalars, *constants)
        assert type(a) is type(b)
        np.testing.assert_array_equal(a, b)
    out = np.empty_like(expected)
    assert ufunc(*inputs, *constants, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_sources_of_collected_programs_leave_linecache_at_a_safe_point():
    import gc
    import linecache

    f = compiled(lambda x: rl.exp(x) + 1.0)
    name = executor(f, rl.ones((2,)))._fast.filename
    assert name in linecache.cache
    del f
    gc.collect()  # the finalizer only notes the name: checkcache may be iterating right now
    linecache.checkcache()
    compiled(lambda x: x * 3.0)(rl.ones((2,)))  # making a program drops the noted sources
    assert name not in linecache.cache


def test_batched_matmul_by_a_matrix_runs_as_one_product_and_matches_numpy():
    rng = np.random.default_rng(7)
    x = rl.asarray(rng.standard_normal((3, 5, 4)).astype(np.float32))
    w = rl.asarray(rng.standard_normal((4, 6)).astype(np.float32))
    f = rl.function(lambda x, w: (x @ w, rl.transpose(x, (1, 0, 2)) @ w))
    flat, transposed = f(x, w)
    np.testing.assert_allclose(flat.numpy(), x.numpy() @ w.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        transposed.numpy(), x.numpy().transpose(1, 0, 2) @ w.numpy(), rtol=1e-6, atol=1e-6
    )
    assert "reshape(15, 4)" in f.get_concrete_function(x, w).executor.source


def test_basic_getitem_is_inlined_and_matches_numpy():
    x = rl.asarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    f = rl.function(lambda x: (x[:, 1:] * 2.0, x[1, ::-1, None]))
    doubled, reversed_ = f(x)
    np.testing.assert_array_equal(doubled.numpy(), x.numpy()[:, 1:] * 2.0)
    np.testing.assert_array_equal(reversed_.numpy(), x.numpy()[1, ::-1, None])
    assert "getitem(np" not in f.get_concrete_function(x).executor.source


def test_concat_and_variable_updates_are_inlined_and_match_eager():
    state = rl.Variable(np.zeros((1, 2, 3), np.float32))

    @rl.function
    def step(frame):
        window = rl.concat([state, frame], axis=1)
        state.assign(window[:, 1:])
        return window * 2.0

    frames = [rl.asarray(np.full((1, 1, 3), k, np.float32)) for k in range(1, 5)]
    outputs = [step(f).numpy() for f in frames]
    np.testing.assert_array_equal(outputs[-1][0, :, 0], [4.0, 6.0, 8.0])
    np.testing.assert_array_equal(state.numpy()[0, :, 0], [3.0, 4.0])
    source = step.get_concrete_function(frames[0]).executor.source
    assert "np.concatenate(" in source and "._write(" in source
