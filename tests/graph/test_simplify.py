import numpy as np
import pytest

import rillet as rl
from rillet.graph.passes.prune import prune
from rillet.graph.passes.simplify import MAX_SPLAT_CONSTANT_BYTES, simplify
from rillet.graph.verify import verify
from tests.graph.basic_passes_support import check_pass, ops, run, stateful_ops, trace


def simplify_and_prune(graph):
    return prune(simplify(graph))


def check(fn, *args):
    return check_pass(simplify_and_prune, fn, *args)


# Inputs with NaN, Inf and signed zeros: a rewrite must keep every one of them.
SPECIAL = rl.asarray([[np.nan, np.inf, -np.inf], [-0.0, 0.0, -2.5]])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * 1.0,
        lambda x: 1.0 * x,
        lambda x: x + 0.0,
        lambda x: 0.0 + x,
        lambda x: x - 0.0,
        lambda x: x / 1.0,
        lambda x: x * rl.ones((1, 3)),  # a neutral constant that broadcasts to x's shape
        lambda x: x * rl.ones_like(x),
        lambda x: x + rl.zeros_like(x),
        lambda x: x * rl.full_like(x, 1.0),
        lambda x: rl.negative(rl.negative(x)),
    ],
)
def test_neutral_operations_are_removed(fn):
    graph = check(fn, SPECIAL)
    assert ops(graph) == []
    assert graph.outputs[0] is graph.inputs[0]


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * 0.0,  # NaN * 0 and Inf * 0 are NaN, not 0
        lambda x: 1.0 - x,  # not x
        lambda x: 1.0 / x,
        lambda x: x * 2.0,
        lambda x: x * rl.asarray([1.0, 2.0, 1.0]),  # not 1 everywhere
        lambda x: x * rl.ones((2, 2, 3)),  # broadcasts x to a larger shape
        lambda x: x * rl.ones((2, 3), dtype=rl.float64),  # promotes x to float64
    ],
)
def test_non_neutral_operations_stay(fn):
    graph = check(fn, SPECIAL)
    assert ops(graph) != []


def test_integer_division_by_one_stays_as_it_changes_the_dtype():
    graph = check(lambda x: x / 1, rl.asarray([1, 2, 3]))
    assert ops(graph) == ["divide"]


def test_integer_and_bool_neutral_operations_are_removed():
    assert ops(check(lambda x: (x * 1) + 0 - 0, rl.asarray([-128, 5], dtype=rl.int8))) == []
    assert (
        ops(check(lambda x: rl.negative(rl.negative(x)), rl.asarray([-128, 5], dtype=rl.int8)))
        == []
    )
    assert ops(check(lambda x: x * True, rl.asarray([True, False]))) == []


def test_x_plus_zero_keeps_a_negative_zero():
    x = rl.asarray([-0.0])
    graph = check(lambda x: x + 0.0, x)
    assert np.signbit(run(graph, x)[0][0])  # -0.0: equal to the +0.0 eager gives


def test_ones_like_of_unknown_sizes_is_not_assumed_neutral():
    f = rl.function(
        lambda x, y: x * rl.ones_like(y),
        input_signature=[rl.TensorSpec((None, 3)), rl.TensorSpec((None, 3))],
        optimize=False,
        executor="interpreter",
    )
    graph = simplify_and_prune(f.get_graph(rl.ones((1, 3)), rl.ones((4, 3))))
    assert ops(verify(graph)) == ["ones_like", "multiply"]  # y may broadcast x: (1,3)->(4,3)
    assert run(graph, rl.ones((1, 3)), rl.ones((4, 3)))[0].shape == (4, 3)


def test_transpose_chains_compose():
    x = rl.asarray(np.arange(24.0).reshape(2, 3, 4))

    def f(x):
        return rl.transpose(rl.transpose(rl.transpose(x, (1, 0, 2)), (2, 0, 1)), (0, 2, 1))

    graph = check(f, x)
    assert ops(graph) == ["transpose"]
    perm = graph.outputs[0].node.attrs["axes"]
    expected = np.transpose(np.transpose(np.transpose(x.numpy(), (1, 0, 2)), (2, 0, 1)), (0, 2, 1))
    np.testing.assert_array_equal(np.transpose(x.numpy(), perm), expected)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: rl.transpose(rl.transpose(x)),
        lambda x: rl.transpose(rl.transpose(x, (1, 2, 0)), (2, 0, 1)),
        lambda x: rl.transpose(x, (0, 1, 2)),
    ],
)
def test_identity_transposes_are_removed(fn):
    assert ops(check(fn, rl.asarray(np.arange(24.0).reshape(2, 3, 4)))) == []


def test_reshape_chains_become_one_reshape():
    def f(x):
        return rl.reshape(rl.expand_dims(rl.reshape(x, (6, 4)), 0), (4, 6))

    graph = check(f, rl.asarray(np.arange(24.0).reshape(2, 3, 4)))
    assert ops(graph) == ["reshape"]
    assert graph.outputs[0].node.inputs[0] is graph.inputs[0]


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: rl.reshape(x, (2, 3, 4)),
        lambda x: rl.reshape(rl.reshape(x, (24,)), (2, 3, 4)),
        lambda x: rl.squeeze(rl.expand_dims(x, 1), 1),
        lambda x: rl.squeeze(x, axis=()),
        lambda x: rl.cast(x, rl.float32),
        lambda x: rl.broadcast_to(x, (2, 3, 4)),
        lambda x: rl.sum(x, axis=()),
        lambda x: rl.max(rl.expand_dims(x, 0), axis=0, keepdims=False) * 1.0,
    ],
)
def test_shape_identities_are_removed(fn):
    graph = check(fn, rl.asarray(np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)))
    assert ops(graph) in ([], ["max"])


@pytest.mark.parametrize("op", [rl.sum, rl.mean, rl.prod, rl.max, rl.min])
def test_reductions_over_kept_axes_of_size_one_are_removed(op):
    graph = check(lambda x: op(x, axis=(0, 2), keepdims=True), rl.asarray([[[1.0], [-2.0]]]))
    assert ops(graph) == []


def test_reductions_that_change_the_dtype_stay():
    graph = check(lambda x: rl.sum(x, axis=()), rl.asarray([1, 2], dtype=rl.int8))
    assert ops(graph) == ["sum"]  # int8 sums accumulate in int64


def test_reshape_of_a_keepdims_sum_is_a_sum_without_keepdims():
    graph = check(lambda x: rl.reshape(rl.sum(x, axis=0, keepdims=True), (4,)), rl.ones((3, 4)))
    assert ops(graph) == ["sum"]
    assert graph.outputs[0].node.attrs["keepdims"] is False


def test_a_keepdims_sum_used_twice_is_not_duplicated():
    def f(x):
        s = rl.sum(x, axis=0, keepdims=True)
        return rl.reshape(s, (4,)), s * 2.0

    assert ops(check(f, rl.ones((3, 4)))) == ["sum", "reshape", "multiply"]


def test_casts_and_broadcasts_that_change_something_stay():
    def f(x):
        return rl.cast(x, rl.float64), rl.broadcast_to(x, (2, 2, 3))

    assert ops(check(f, rl.ones((2, 3)))) == ["cast", "broadcast_to"]


def test_broadcast_chains_become_one_broadcast():
    graph = check(lambda x: rl.broadcast_to(rl.broadcast_to(x, (2, 3)), (4, 2, 3)), rl.ones(3))
    assert ops(graph) == ["broadcast_to"]
    assert graph.outputs[0].node.inputs[0] is graph.inputs[0]


def test_small_ones_like_becomes_a_constant_and_large_stays():
    small = rl.ones((2, 2))
    graph = check(lambda x: rl.ones_like(rl.exp(x)) + rl.full_like(x, 7.0), small)
    assert ops(graph) == ["add"]
    large = rl.ones((MAX_SPLAT_CONSTANT_BYTES, 2))
    assert ops(check(lambda x: rl.zeros_like(x) - x, large)) == ["zeros_like", "subtract"]


def test_stateful_nodes_survive_and_keep_their_order():
    v = rl.Variable([1.0, 2.0], name="v")

    def f(x):
        v.assign(rl.transpose(rl.transpose(v * 1.0)))  # simplified to v's own value
        v.assign_add(x + 0.0)
        return rl.reshape(rl.reshape(v.read_value(), (2, 1)), (2,))

    graph = trace(f, rl.ones(2))
    simplified = verify(simplify_and_prune(graph.copy()))
    assert stateful_ops(simplified) == stateful_ops(graph)
    # the multiply, transposes, add and reshapes are gone; every read and write stays
    expected = ["read_variable", "assign_variable", "assign_variable", "read_variable"]
    assert ops(simplified) == expected
    np.testing.assert_array_equal(run(simplified, rl.ones(2))[0], [2.0, 3.0])
    np.testing.assert_array_equal(v.numpy(), [2.0, 3.0])


@pytest.mark.parametrize("fn", [lambda x: x[:, -3:], lambda x: x[0:2], lambda x: x[:, :]])
def test_slices_that_keep_every_axis_are_removed(fn):
    graph = check(fn, SPECIAL)
    assert ops(graph) == []


@pytest.mark.parametrize(
    "fn", [lambda x: x[:, ::-1], lambda x: x[:, 1:], lambda x: x[0], lambda x: x[:, None]]
)
def test_slices_that_change_elements_or_shape_stay(fn):
    graph = check(fn, SPECIAL)
    assert ops(graph) != []
