"""The fused Adam update (``ops.state.apply_adam``): the same bits as Adam's op-by-op update,
eagerly and compiled, with the compiled loop and with the NumPy path; copy-on-write of
buffers still held elsewhere; graph bookkeeping (later reads, passes, JSON); errors."""

import json

import numpy as np
import pytest

import rillet as rl
from rillet import optimizers
from rillet.errors import ShapeError
from rillet.graph import serialize
from rillet.ops import _jit, state

SHAPES = [(7, 5), (5,), (3, 4, 2)]


def _variables(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rl.Variable(rng.standard_normal(s).astype(dtype), name=f"w{i}") for i, s in
            enumerate(SHAPES)]  # fmt: skip


def _gradients(dtype, steps=4):
    rng = np.random.default_rng(1)
    return [[rl.asarray((rng.standard_normal(s) * 10.0**k).astype(dtype)) for k, s in
             enumerate(SHAPES)] for _ in range(steps)]  # fmt: skip


MAKERS = {
    "adam": lambda: optimizers.Adam(0.01),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    "sgd_momentum": lambda: optimizers.SGD(0.01, momentum=0.9),
    "sgd_nesterov": lambda: optimizers.SGD(0.01, momentum=0.8, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(0.01),
}


def _op_by_op(make):
    """The same optimizer, never taking a fused path: the reference."""
    optimizer = make()
    optimizer._fusable = lambda *args: False
    return optimizer


def _slots(optimizer) -> list:
    return [v for v in optimizer.variables if v.shape != ()]  # the per-variable slots


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("traced", [False, True])
def test_fused_updates_give_the_op_by_op_bits(name, dtype, traced):
    results = []
    for optimizer in (MAKERS[name](), _op_by_op(MAKERS[name])):
        variables = _variables(dtype)

        def step(grads, optimizer=optimizer, variables=variables):
            optimizer.apply(grads, variables)

        run = rl.function(step) if traced else step
        for grads in _gradients(dtype):
            run(grads)
        results.append([v.numpy() for v in variables + _slots(optimizer)])
    fused, reference = results
    assert len(fused) == len(reference) > len(SHAPES)
    for got, expected in zip(fused, reference):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", MAKERS)
def test_fused_updates_run_as_one_op_per_variable(name):
    optimizer = MAKERS[name]()
    variables = _variables(np.float32)
    optimizer.build(variables)
    graph = rl.function(lambda grads: optimizer.apply(grads, variables)).get_graph(
        _gradients(np.float32, steps=1)[0]
    )
    fused = [n for n in graph.nodes if n.op.startswith("apply_")]
    assert len(fused) == len(SHAPES)
    written = {id(v) for n in fused for v in n.written_variables}
    assert written == {id(v) for v in variables + _slots(optimizer)}


def test_fused_adam_follows_kerass_formula():
    lr, b1, b2, eps = 0.05, 0.8, 0.99, 1e-7
    variables = _variables(np.float64)
    expected = [v.numpy() for v in variables]
    m = [np.zeros_like(w) for w in expected]
    v = [np.zeros_like(w) for w in expected]
    optimizer = optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    for t, grads in enumerate(_gradients(np.float64), start=1):
        optimizer.apply(grads, variables)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for i, g in enumerate(grads):
            g = g.numpy()
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            v[i] = v[i] + (g * g - v[i]) * (1 - b2)
            expected[i] = expected[i] - alpha * m[i] / (np.sqrt(v[i]) + eps)
    for got, want in zip(variables, expected):  # the learning rate is held in float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-7, atol=1e-12)


def test_compiled_loop_and_numpy_path_agree_bit_for_bit():
    if not _jit.enabled():
        pytest.skip("compiled loops are off")
    rng = np.random.default_rng(3)
    g = rng.standard_normal(1001).astype(np.float32)
    arrays = [rng.standard_normal(1001).astype(np.float32) for _ in range(3)]
    arrays[2] = np.abs(arrays[2])  # the second moment is never negative
    loop, numpy_path = [a.copy() for a in arrays], [a.copy() for a in arrays]
    scalars = [np.float32(s) for s in (0.1, 0.001, 1e-7)]
    alpha = np.float32(0.003)
    state._adam_loop.compiled(g, *loop, alpha, *scalars)
    state._adam_numpy(np, g, *numpy_path, alpha, *scalars)
    for a, b in zip(loop, numpy_path):
        np.testing.assert_array_equal(a, b)


def test_a_tensor_read_before_the_update_keeps_its_value():
    w = rl.Variable(np.ones((4, 3), np.float32))
    before = w.value()
    optimizers.Adam(0.1).apply([rl.ones((4, 3))], [w])
    np.testing.assert_array_equal(before.numpy(), np.ones((4, 3)))
    np.testing.assert_allclose(w.numpy(), np.full((4, 3), 0.9), rtol=1e-5)


def test_traced_reads_after_the_update_see_the_new_values():
    w = rl.Variable(np.ones(3, np.float32))
    optimizer = optimizers.Adam(0.1)
    optimizer.build([w])

    @rl.function
    def step(g):
        old = w + 0.0
        optimizer.apply([g], [w])
        return old, w + 0.0

    old, new = step(rl.ones(3))
    np.testing.assert_array_equal(old.numpy(), np.ones(3))
    np.testing.assert_allclose(new.numpy(), np.full(3, 0.9), rtol=1e-5)
    graph = step.get_graph(rl.ones(3))
    (node,) = [n for n in graph.nodes if n.op == "apply_adam"]
    assert {id(v) for v in node.written_variables} == {
        id(w),
        id(optimizer._momentums[0]),
        id(optimizer._velocities[0]),
    }
    assert {id(v) for v in graph.variables} >= {id(v) for v in node.written_variables}


def test_a_graph_with_the_fused_update_round_trips_through_json():
    w = rl.Variable(np.full((3, 2), 0.5, np.float32), name="w")
    optimizer = optimizers.Adam(0.1)
    optimizer.build([w])

    @rl.function
    def step(x):
        with rl.GradientTape() as tape:
            loss = rl.mean(rl.square(x @ w))
        optimizer.apply(tape.gradient(loss, [w]), [w])
        return loss

    x = rl.ones((4, 3))
    graph = step.get_graph(x)
    arrays, variables = {}, []
    text = json.dumps(serialize.to_json(graph, arrays, variables))
    loaded = serialize.from_json(json.loads(text), arrays, variables)
    start = [v.numpy() for v in variables]
    step(x)
    expected = [v.numpy() for v in variables]
    for v, s in zip(variables, start):
        v.assign(s)
    loaded.run(x)
    for v, e in zip(variables, expected):
        np.testing.assert_array_equal(v.numpy(), e)


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.Adam(0.1, amsgrad=True),
        lambda: optimizers.RMSprop(0.1, centered=True),
        lambda: optimizers.RMSprop(0.1, momentum=0.5),
        lambda: optimizers.SGD(0.1),
        lambda: optimizers.Nadam(0.1),
    ],
)
def test_variants_without_a_fused_update_keep_the_op_by_op_one(make):
    optimizer = make()
    w = rl.Variable(np.ones(3, np.float32))
    optimizer.build([w])
    graph = rl.function(lambda g: optimizer.apply([g], [w])).get_graph(rl.ones(3))
    assert not [n for n in graph.nodes if n.op.startswith("apply_")]


def test_low_precision_variables_keep_the_op_by_op_update():
    w = rl.Variable(np.ones(3, np.float16))
    optimizer = optimizers.Adam(0.1)
    optimizer.build([w])
    m, v = optimizer._momentums[0], optimizer._velocities[0]
    assert not optimizer._fusable(optimizers.Adam, rl.ones(3, dtype="float16"), w, m, v)


def test_mismatched_shapes_are_a_shape_error_naming_the_variable():
    w = rl.Variable(np.ones((2, 3), np.float32), name="kernel")
    m, v = rl.Variable(np.zeros((2, 3), np.float32)), rl.Variable(np.zeros((2, 3), np.float32))
    with pytest.raises(ShapeError, match=r"variable 'kernel' is float32\(2, 3\)"):
        state.apply_adam(
            rl.ones((3, 2)), rl.asarray(np.float32(0.1)), variable=w, momentum=m, velocity=v,
            beta_1=0.9, beta_2=0.999, epsilon=1e-7,
        )  # fmt: skip
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))  # nothing was written


@pytest.mark.parametrize("jit", ["on", "off"])
def test_infinite_gradients_propagate_without_warnings_or_double_updates(jit, monkeypatch):
    if jit == "off":
        monkeypatch.setattr(state._adam_loop, "_compiled", None)
        monkeypatch.setattr(_jit, "_NUMBA", [None])
    w = rl.Variable(np.zeros(4, np.float32))
    g = rl.asarray(np.array([np.inf, -np.inf, np.nan, 1.0], np.float32))
    optimizers.Adam(0.1).apply([g], [w])  # warnings are errors in this suite
    got = w.numpy()
    assert np.isnan(got[:3]).all()  # inf / inf and nan: NaN, as the op-by-op update gives
    np.testing.assert_allclose(got[3], -0.1, rtol=1e-5)  # applied once


def test_a_transposed_gradient_gives_the_same_update_as_a_contiguous_one():
    rng = np.random.default_rng(5)
    g = rng.standard_normal((6, 4)).astype(np.float32)
    results = []
    for gradient in (rl.asarray(g), rl.asarray(np.ascontiguousarray(g.T)).T):
        w = rl.Variable(np.ones((6, 4), np.float32))
        optimizers.Adam(0.1).apply([gradient], [w])
        results.append(w.numpy())
    np.testing.assert_array_equal(*results)
