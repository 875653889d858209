"""GradientTape, rl.grad and rl.value_and_grad."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, GradientError, ShapeError


def _values(tensor):
    return np.asarray(tensor).tolist()


# ---- what a tape watches ---------------------------------------------------------------------


def test_trainable_variables_are_watched_automatically():
    v = rl.Variable([1.0, 2.0])
    with rl.GradientTape() as tape:
        y = rl.sum(v * v)
    assert _values(tape.gradient(y, v)) == [2.0, 4.0]
    assert tape.watched_variables() == (v,)


def test_non_trainable_variables_are_not_watched():
    v = rl.Variable(3.0, trainable=False)
    w = rl.Variable(2.0)
    with rl.GradientTape() as tape:
        y = v * w
    grad_v, grad_w = tape.gradient(y, [v, w])
    assert grad_v is None and float(grad_w) == 3.0
    assert tape.watched_variables() == (w,)


def test_watch_accessed_variables_false_watches_only_what_is_asked():
    v, w = rl.Variable(3.0), rl.Variable(2.0)
    with rl.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(v)
        y = v * w
    grad_v, grad_w = tape.gradient(y, [v, w])
    assert float(grad_v) == 2.0 and grad_w is None


def test_watch_on_a_non_trainable_variable():
    v = rl.Variable(3.0, trainable=False)
    with rl.GradientTape() as tape:
        tape.watch(v)
        y = v * v
    assert float(tape.gradient(y, v)) == 6.0


def test_tensors_need_watch():
    x = rl.asarray([1.0, 2.0])
    with rl.GradientTape() as tape:
        y = rl.sum(x * x)
    assert tape.gradient(y, x) is None
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.sum(x * x)
    assert _values(tape.gradient(y, x)) == [2.0, 4.0]


def test_watch_takes_nested_lists():
    a, b, c = rl.asarray(1.0), rl.asarray(2.0), rl.asarray(3.0)
    with rl.GradientTape() as tape:
        tape.watch([a, (b, [c])])
        y = a * b * c
    assert [float(g) for g in tape.gradient(y, [a, b, c])] == [6.0, 3.0, 2.0]


def test_gradient_of_a_source_with_respect_to_itself_is_ones():
    x = rl.asarray([1.0, 2.0, 3.0])
    with rl.GradientTape() as tape:
        tape.watch(x)
    assert _values(tape.gradient(x, x)) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_and_bool_inputs_get_no_gradient(dtype):
    i = rl.asarray(np.ones(3, dtype))
    x = rl.asarray([1.0, 2.0, 3.0])
    with rl.GradientTape() as tape:
        tape.watch([i, x])
        y = rl.sum(rl.cast(i, dtype=rl.float32) * x)
    grad_i, grad_x = tape.gradient(y, [i, x])
    assert grad_i is None
    assert _values(grad_x) == [1.0, 1.0, 1.0]


def test_integer_variable_gets_no_gradient():
    v = rl.Variable([1, 2])
    with rl.GradientTape() as tape:
        y = rl.sum(rl.cast(v, dtype=rl.float32))
    assert tape.gradient(y, v) is None


# ---- persistence, recording ----------------------------------------------------------------


def test_persistent_tape_computes_several_gradients():
    x = rl.asarray(3.0)
    with rl.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert float(tape.gradient(y, x)) == 6.0
    assert float(tape.gradient(z, x)) == 108.0  # d(x^4) = 4 x^3


def test_second_gradient_call_on_non_persistent_tape_raises():
    x = rl.asarray(3.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(GradientError, match="persistent=True"):
        tape.gradient(y, x)


def test_stop_recording_hides_operations_from_the_tape():
    x = rl.asarray(2.0)
    with rl.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            hidden = y * 3.0
        z = y * 3.0
    assert tape.gradient(hidden, x) is None
    assert float(tape.gradient(z, x)) == 12.0


def test_operations_after_the_block_are_not_recorded():
    x = rl.asarray(2.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    z = y * 5.0
    assert tape.gradient(z, x) is None


def test_reset_forgets_the_recording():
    x = rl.asarray(2.0)
    with rl.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        tape.reset()
        tape.watch(x)
        z = x * 5.0
    assert tape.gradient(y, x) is None
    assert float(tape.gradient(z, x)) == 5.0


# ---- higher order ----------------------------------------------------------------------------


def test_nested_tapes_give_second_and_third_derivatives_of_a_cube():
    x = rl.asarray(2.0)
    with rl.GradientTape() as t3:
        t3.watch(x)
        with rl.GradientTape() as t2:
            t2.watch(x)
            with rl.GradientTape() as t1:
                t1.watch(x)
                y = x * x * x  # multiply only
            dy = t1.gradient(y, x)  # 3 x^2
        d2y = t2.gradient(dy, x)  # 6 x
    d3y = t3.gradient(d2y, x)  # 6
    assert (float(dy), float(d2y), float(d3y)) == (12.0, 12.0, 6.0)


def test_nested_tapes_on_variables():
    v = rl.Variable(3.0)
    with rl.GradientTape() as outer:
        with rl.GradientTape() as inner:
            y = v * v * v
        dy = inner.gradient(y, v)
    assert float(dy) == 27.0 and float(outer.gradient(dy, v)) == 18.0


def test_nested_grad_gives_higher_derivatives():
    cube = lambda x: x * x * x
    x = rl.asarray(2.0)
    assert float(rl.grad(cube)(x)) == 12.0
    assert float(rl.grad(rl.grad(cube))(x)) == 12.0
    assert float(rl.grad(rl.grad(rl.grad(cube)))(x)) == 6.0


def test_second_derivative_of_a_mixed_expression():
    # f(x, y) = x^2 y + exp(x); d2f/dxdy = 2x
    x, y = rl.asarray(1.5), rl.asarray(-2.0)
    with rl.GradientTape() as outer:
        outer.watch(y)
        with rl.GradientTape() as inner:
            inner.watch(x)
            f = x * x * y + rl.exp(x)
        dfdx = inner.gradient(f, x)
    np.testing.assert_allclose(float(dfdx), 2 * 1.5 * -2.0 + np.exp(1.5), rtol=1e-6)
    assert float(outer.gradient(dfdx, y)) == 3.0


# ---- targets, sources and seeds ------------------------------------------------------------


def test_output_gradients_seed_the_backward_pass():
    x = rl.asarray([1.0, 2.0])
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x, output_gradients=rl.asarray([10.0, -1.0]))
    assert _values(g) == [20.0, -4.0]


def test_output_gradients_for_a_list_of_targets():
    x = rl.asarray(2.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y, z = x * x, x * 3.0
    g = tape.gradient([y, z], x, output_gradients=[rl.asarray(1.0), rl.asarray(2.0)])
    assert float(g) == 4.0 + 6.0


def test_output_gradients_count_must_match_targets():
    x = rl.asarray(2.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    with pytest.raises(GradientError, match="output_gradients has 2 entries for 1 targets"):
        tape.gradient(y, x, output_gradients=[rl.asarray(1.0), rl.asarray(1.0)])


def test_list_of_targets_sums_their_gradients():
    x = rl.asarray(2.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y, z = x * x, x * 3.0
    assert float(tape.gradient([y, z], x)) == 7.0


@pytest.mark.parametrize("mode", ["zero", rl.UnconnectedGradients.ZERO], ids=["string", "enum"])
def test_unconnected_gradients_zero(mode):
    x, unused = rl.asarray(2.0), rl.asarray([[1.0, 2.0]])
    v = rl.Variable([1.0, 2.0, 3.0])
    with rl.GradientTape() as tape:
        tape.watch([x, unused])
        y = x * 3.0
    gx, gu, gv = tape.gradient(y, [x, unused, v], unconnected_gradients=mode)
    assert float(gx) == 3.0
    assert gu.shape == (1, 2) and gu.dtype == np.float32 and _values(gu) == [[0.0, 0.0]]
    assert _values(gv) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("mode", [None, "none", rl.UnconnectedGradients.NONE])
def test_unconnected_gradients_none(mode):
    x, unused = rl.asarray(2.0), rl.asarray(1.0)
    with rl.GradientTape() as tape:
        tape.watch([x, unused])
        y = x * 3.0
    kwargs = {} if mode is None else {"unconnected_gradients": mode}
    assert tape.gradient(y, [x, unused], **kwargs)[1] is None


def test_gradients_follow_the_structure_of_sources():
    a, b, c = rl.asarray(1.0), rl.asarray(2.0), rl.asarray(3.0)
    with rl.GradientTape() as tape:
        tape.watch([a, b, c])
        y = a * b * c
    grads = tape.gradient(y, {"a": a, "rest": [b, (c,)]})
    assert set(grads) == {"a", "rest"}
    assert float(grads["a"]) == 6.0
    assert isinstance(grads["rest"], list) and isinstance(grads["rest"][1], tuple)
    assert float(grads["rest"][0]) == 3.0 and float(grads["rest"][1][0]) == 2.0


def test_gradients_for_several_variables():
    w = rl.Variable([[1.0, 2.0], [3.0, 4.0]])
    b = rl.Variable([0.5, -0.5])
    x = rl.asarray([[1.0, 1.0]])
    with rl.GradientTape() as tape:
        y = rl.sum(rl.matmul(x, w) + b)
    grad_w, grad_b = tape.gradient(y, [w, b])
    assert _values(grad_w) == [[1.0, 1.0], [1.0, 1.0]] and _values(grad_b) == [1.0, 1.0]


def test_a_tensor_used_twice_accumulates_its_gradient():
    x = rl.asarray(3.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0 + x * x + x
    assert float(tape.gradient(y, x)) == 2.0 + 6.0 + 1.0


def test_variable_read_before_and_after_an_update_sums_both_reads():
    v = rl.Variable(1.0)
    with rl.GradientTape() as tape:
        y = v * 2.0
        v.assign_add(1.0)
        z = v * 3.0
        total = y + z
    assert float(y) == 2.0 and float(z) == 6.0
    assert float(tape.gradient(total, v)) == 5.0


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((1, 3), (2, 1, 3)), ((5,), (5,))],
)
def test_broadcast_gradients_are_summed_back_to_input_shapes(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a, b = rl.asarray(a_np), rl.asarray(b_np)
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    weights = rng.standard_normal(out_shape)
    with rl.GradientTape() as tape:
        tape.watch([a, b])
        y = rl.sum((a * b + a) * rl.asarray(weights))
    grad_a, grad_b = tape.gradient(y, [a, b])
    expected_a = np.broadcast_to(weights * (b_np + 1), out_shape)
    expected_b = np.broadcast_to(weights * a_np, out_shape)
    assert grad_a.shape == a_shape and grad_b.shape == b_shape
    lead_a, lead_b = len(out_shape) - len(a_shape), len(out_shape) - len(b_shape)
    np.testing.assert_allclose(grad_a.numpy(), _sum_to(expected_a, a_shape, lead_a), rtol=1e-12)
    np.testing.assert_allclose(grad_b.numpy(), _sum_to(expected_b, b_shape, lead_b), rtol=1e-12)


def _sum_to(g, shape, lead):
    g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def test_gradient_has_the_source_dtype():
    x = rl.asarray(np.array([1.0, 2.0], np.float16))
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.sum(rl.cast(x, dtype=rl.float32) * 3.0)
    g = tape.gradient(y, x)
    assert g.dtype == np.float16 and _values(g) == [3.0, 3.0]


def test_output_gradient_of_the_wrong_shape_names_the_op_and_this_file():
    x = rl.asarray([1.0, 2.0])
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(ShapeError, match=r"^multiply: .*\(3,\).*\(test_autodiff\.py:\d+\)$"):
        tape.gradient(y, x, output_gradients=rl.zeros((3,)))


def test_non_tensor_source_raises():
    x = rl.asarray(1.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    with pytest.raises(GradientError, match="sources must be tensors or variables, got str"):
        tape.gradient(y, "x")


# ---- rl.grad and rl.value_and_grad ---------------------------------------------------------


def test_grad_with_respect_to_the_first_argument():
    f = lambda a, b: rl.sum(a * a * b)
    a, b = rl.asarray([1.0, 2.0]), rl.asarray([3.0, 4.0])
    assert _values(rl.grad(f)(a, b)) == [6.0, 16.0]


def test_grad_with_integer_argnums():
    f = lambda a, b: rl.sum(a * a * b)
    a, b = rl.asarray([1.0, 2.0]), rl.asarray([3.0, 4.0])
    assert _values(rl.grad(f, argnums=1)(a, b)) == [1.0, 4.0]


def test_grad_with_tuple_argnums():
    f = lambda a, b: rl.sum(a * b)
    a, b = rl.asarray([1.0, 2.0]), rl.asarray([3.0, 4.0])
    grads = rl.grad(f, argnums=(0, 1))(a, b)
    assert isinstance(grads, tuple) and len(grads) == 2
    assert _values(grads[0]) == [3.0, 4.0] and _values(grads[1]) == [1.0, 2.0]


def test_grad_of_an_argument_the_output_ignores_is_zeros():
    g = rl.grad(lambda a, b: rl.sum(a), argnums=1)(rl.asarray([1.0]), rl.asarray([5.0, 6.0]))
    assert _values(g) == [0.0, 0.0]


def test_grad_accepts_python_numbers():
    g = rl.grad(lambda x: x * x)(3.0)
    assert isinstance(g, rl.Tensor) and g.dtype == np.float32 and float(g) == 6.0


def test_grad_has_aux():
    f = lambda x: (rl.sum(x * x), x * 10.0)
    g, aux = rl.grad(f, has_aux=True)(rl.asarray([1.0, 2.0]))
    assert _values(g) == [2.0, 4.0] and _values(aux) == [10.0, 20.0]


def test_value_and_grad_returns_both():
    value, g = rl.value_and_grad(lambda x: rl.sum(x * x))(rl.asarray([1.0, 2.0]))
    assert float(value) == 5.0 and _values(g) == [2.0, 4.0]


def test_value_and_grad_has_aux_and_tuple_argnums():
    f = lambda a, b: (rl.sum(a * b), "aux")
    (value, aux), (ga, gb) = rl.value_and_grad(f, argnums=(0, 1), has_aux=True)(
        rl.asarray([2.0]), rl.asarray([5.0])
    )
    assert float(value) == 10.0 and aux == "aux"
    assert _values(ga) == [5.0] and _values(gb) == [2.0]


def test_grad_argnums_out_of_range_raises():
    with pytest.raises(ArgumentError, match="argnums 2 is out of range for 1 arguments"):
        rl.grad(lambda x: x, argnums=2)(rl.asarray(1.0))


def test_grad_inside_a_tape_is_recorded():
    x = rl.asarray(2.0)
    with rl.GradientTape() as tape:
        tape.watch(x)
        g = rl.grad(lambda t: t * t * t)(x)  # 3 x^2
    assert float(g) == 12.0 and float(tape.gradient(g, x)) == 12.0
