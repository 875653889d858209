import numpy as np
import pytest

import rillet as rl
from rillet.graph.ir import Graph
from rillet.graph.passes.cse import attr_key, eliminate_common_subexpressions, is_random
from rillet.graph.verify import verify
from rillet.ops._registry import Spec
from tests.graph.basic_passes_support import check_pass, ops, stateful_ops, trace

cse = eliminate_common_subexpressions
F32 = np.dtype(np.float32)


def test_the_same_op_on_the_same_inputs_runs_once():
    graph = check_pass(cse, lambda x: rl.exp(x) * rl.exp(x), rl.arange(3.0))
    assert ops(graph) == ["exp", "multiply"]


def test_merging_cascades_to_consumers():
    def f(x, y):
        return rl.tanh(rl.exp(x) + y) - rl.tanh(rl.exp(x) + y)

    graph = check_pass(cse, f, rl.arange(3.0), rl.ones(3))
    assert ops(graph) == ["exp", "add", "tanh", "subtract"]


def test_outputs_are_redirected_to_the_kept_node():
    graph = check_pass(cse, lambda x: (rl.exp(x), rl.exp(x)), rl.arange(3.0))
    assert graph.outputs[0] is graph.outputs[1]
    assert ops(graph) == ["exp"]


def test_different_inputs_or_attributes_are_not_merged():
    def f(x, y):
        return rl.exp(x) + rl.exp(y) + rl.sum(x, axis=0) + rl.sum(x, axis=1)

    graph = check_pass(cse, f, rl.ones((3, 3)), rl.ones((3, 3)))
    assert graph.op_counts()["exp"] == 2 and graph.op_counts()["sum"] == 2


def test_equal_constants_merge_by_dtype_shape_and_bytes():
    def f(x):
        a = x + rl.asarray([1.0, 2.0]) + rl.asarray([1.0, 2.0])  # equal: one constant
        b = a * rl.asarray([1.0, 2.0], dtype=rl.float64)  # another dtype (promotes)
        return b + rl.asarray([[1.0, 2.0]])  # another shape

    graph = check_pass(cse, f, rl.ones(2))
    assert graph.op_counts()["constant"] == 3


def test_constants_compare_floats_by_bits():
    def f(x):
        zeros = x * 0.0 + x * 0.0 + x * -0.0  # 0.0 and -0.0 differ
        nans = x + float("nan") + float("nan")  # the same NaN is the same constant
        return zeros, nans

    graph = check_pass(cse, f, rl.asarray([-1.0, 2.0]))
    values = [n.attrs["value"] for n in graph.nodes if n.op == "constant"]
    assert len(values) == 3
    assert graph.op_counts()["multiply"] == 2


def test_slice_attributes_compare_structurally():
    def f(x):
        return x[1:3, None] + x[1:3, None] - x[0:2, None]

    graph = check_pass(cse, f, rl.arange(12.0).reshape((4, 3)))
    assert graph.op_counts()["getitem"] == 2


def test_equal_array_attributes_merge():
    def f(x):
        i, j = np.array([2, 0]), np.array([2, 0])  # equal arrays, not the same object
        return x[i] + x[j] + x[np.array([2, 1])]

    graph = check_pass(cse, f, rl.arange(3.0))
    assert graph.op_counts()["advanced_index"] == 2


@pytest.mark.parametrize(
    "a, b, equal",
    [
        (1.0, 1.0, True),
        (1.0, 1, False),  # a float and an int are different attributes
        (True, 1, False),
        (float("nan"), float("nan"), True),
        (0.0, -0.0, False),
        ((1, 2), [1, 2], False),
        ([1, [2, 3]], [1, [2, 3]], True),
        ({"a": [1], "b": 2}, {"b": 2, "a": [1]}, True),
        ({"a": [1]}, {"a": [2]}, False),
        (np.array([1.0, 2.0]), np.array([1.0, 2.0]), True),
        (np.array([1.0, 2.0]), np.array([1.0, 2.0], np.float32), False),
        (np.array([1.0, 2.0]), np.array([[1.0, 2.0]]), False),
        (np.float32(2), np.float32(2), True),
        (np.float32(2), np.float64(2), False),
        (slice(1, 2), slice(1, 2), True),
        (slice(1, 2), slice(1, 3), False),
        (np.dtype("float32"), np.dtype("float32"), True),
        (rl.bfloat16, rl.float16, False),
        (Ellipsis, Ellipsis, True),
    ],
)
def test_attribute_keys(a, b, equal):
    assert (attr_key(a) == attr_key(b)) is equal
    hash(attr_key(a))  # never raises, even for lists, dicts and arrays


def test_other_objects_compare_by_identity():
    v, w = rl.Variable([1.0]), rl.Variable([1.0])
    assert attr_key({"variable": v}) == attr_key({"variable": v})
    assert attr_key({"variable": v}) != attr_key({"variable": w})


def test_random_ops_are_never_merged():
    def f(x):
        key = rl.random.key((1, 2))
        a = rl.random.stateless_uniform((3,), seed=(1, 2)) + rl.random.stateless_uniform(
            (3,), seed=(1, 2)
        )
        b = rl.ops.random.stateless_dropout(x, key, rate=0.5) * rl.ops.random.stateless_dropout(
            x, key, rate=0.5
        )
        return a, b

    graph = check_pass(cse, f, rl.ones(3))
    assert graph.op_counts()["stateless_random_uniform"] == 2
    assert graph.op_counts()["stateless_dropout"] == 2


@pytest.mark.parametrize(
    "op, random",
    [
        ("stateless_random_normal", True),
        ("stateless_foo", True),
        ("dropout_mask", True),
        ("stateless_shuffle", True),
        ("exp", False),
        ("matmul", False),
    ],
)
def test_random_ops_are_known_by_name(op, random):
    assert is_random(op) is random


def test_stateful_nodes_are_never_merged():
    v = rl.Variable(np.ones(2, np.float32), name="v")
    graph = Graph("reads")
    x = graph.add_placeholder((2,), F32)
    spec = Spec((2,), F32)
    reads = [graph.add_node("read_variable", [], {"variable": v}, [spec]) for _ in range(2)]
    total = graph.add_node("add", [reads[0].outputs[0], reads[1].outputs[0]], {}, [spec])
    graph.outputs = [graph.add_node("add", [total.outputs[0], x], {}, [spec]).outputs[0]]
    result = verify(cse(graph.copy()))
    assert result.op_counts()["read_variable"] == 2
    np.testing.assert_array_equal(result.run(np.zeros(2))[0].numpy(), [2.0, 2.0])


def test_reads_around_an_update_stay_distinct():
    v = rl.Variable([1.0, 2.0], name="v")

    def f(x):
        before = rl.exp(v.read_value()) + x
        v.assign_add(x)
        after = rl.exp(v.read_value()) + x  # looks like `before`, but reads the new value
        return before, after

    graph = trace(f, rl.ones(2))
    merged = verify(cse(graph.copy()))
    assert stateful_ops(merged) == stateful_ops(graph)
    assert merged.op_counts()["exp"] == 2
    before, after = (t.numpy() for t in merged.run(rl.ones(2)))
    np.testing.assert_allclose(before, np.exp([1.0, 2.0]) + 1.0, rtol=1e-6)
    np.testing.assert_allclose(after, np.exp([2.0, 3.0]) + 1.0, rtol=1e-6)


def test_multi_output_nodes_merge_every_output():
    def f(x):
        a, b = rl.split(x, 2)
        c, d = rl.split(x, 2)
        return a + c, b * d

    graph = check_pass(cse, f, rl.arange(4.0))
    assert graph.op_counts()["split"] == 1
