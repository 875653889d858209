"""The fuse_pool_grad pass: relu_grad(max_pool_grad(y, g), y) -> max_pool_relu_grad(y, g),
then pool gradients routed by an argmax saved in the forward pass; where each applies and
where it must not, and whole training steps with and without the pass."""

import numpy as np
import pytest

import rillet as rl
from rillet.graph import passes
from rillet.graph.passes.fuse_pool_grad import fuse_pool_grad
from rillet.ops import activations, pooling
from tests.graph.basic_passes_support import check_pass, ops


def _pool_relu_gradient(x):
    with rl.GradientTape() as tape:
        tape.watch(x)
        y = rl.max_pool2d(rl.relu(x), 2)
        loss = rl.sum(
            y * rl.reshape(rl.arange(1.0, 1.0 + y.shape[1] * y.shape[2]), (1, *y.shape[1:3], 1))
        )
    return tape.gradient(loss, x)


def _tied(shape, seed=0):
    """Small integers as float32: ties, zero and negative window maxima."""
    return rl.asarray(np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float32))


def _pair(x, g):
    return activations.relu_grad(pooling.max_pool_grad(x, g, pool_size=2), x)


def test_the_pair_of_a_relu_then_max_pool_backward_becomes_one_node():
    graph = check_pass(fuse_pool_grad, _pair, _tied((2, 6, 8, 3)), rl.ones((2, 3, 4, 3)))
    assert ops(graph) == ["max_pool_relu_grad"]  # no forward pool here: no argmax


def test_a_relu_then_max_pool_backward_is_routed_by_the_forward_argmax():
    graph = check_pass(fuse_pool_grad, _pool_relu_gradient, _tied((2, 6, 8, 3)))
    counts = graph.op_counts()
    assert counts.get("max_pool_scatter") == 1 and counts.get("max_pool_argmax") == 1
    assert not {"max_pool_grad", "max_pool_relu_grad", "relu_grad"} & set(counts)
    argmax = next(n for n in graph.nodes if n.op == "max_pool_argmax")
    assert argmax.attrs["positive_only"] is True
    at = graph.nodes.index(argmax)
    assert graph.nodes[at - 1].op == "max_pool2d"  # recorded right after the forward pool
    assert len({n.name for n in graph.nodes}) == len(graph.nodes)


def test_a_max_pool_backward_without_relu_is_routed_too():
    def f(x):
        with rl.GradientTape() as tape:
            tape.watch(x)
            loss = rl.sum(rl.max_pool2d(x, 2) * rl.arange(1.0, 3.0))
        return tape.gradient(loss, x)

    graph = check_pass(fuse_pool_grad, f, _tied((2, 5, 7, 2)))
    argmax = next(n for n in graph.nodes if n.op == "max_pool_argmax")
    assert argmax.attrs["positive_only"] is False
    assert "max_pool_grad" not in graph.op_counts()


def test_a_pool_gradient_before_any_forward_pool_is_not_routed():
    def f(x, g):
        return pooling.max_pool_grad(x, g, pool_size=2), rl.max_pool2d(x, 2)

    graph = check_pass(fuse_pool_grad, f, _tied((1, 4, 4, 2)), rl.ones((1, 2, 2, 2)))
    assert sorted(ops(graph)) == ["max_pool2d", "max_pool_grad"]


def test_a_pool_gradient_with_other_windows_than_the_forward_pool_is_not_routed():
    def f(x, g):
        return rl.max_pool2d(x, 2), pooling.max_pool_grad(x, g, pool_size=2, strides=1)

    graph = check_pass(fuse_pool_grad, f, _tied((1, 4, 4, 2)), rl.ones((1, 3, 3, 2)))
    assert sorted(ops(graph)) == ["max_pool2d", "max_pool_grad"]


def test_overlapping_or_padded_windows_are_fused_but_not_routed():
    def f(x):
        with rl.GradientTape() as tape:
            tape.watch(x)
            loss = rl.sum(rl.max_pool2d(rl.relu(x), 2, padding="same") ** 2)
        return tape.gradient(loss, x)

    graph = check_pass(fuse_pool_grad, f, _tied((1, 5, 5, 2)))
    assert "max_pool_relu_grad" in graph.op_counts() and "max_pool_argmax" not in ops(graph)


def test_a_one_dimensional_pool_and_an_odd_size_are_fused_too():
    def f(x):
        with rl.GradientTape() as tape:
            tape.watch(x)
            loss = rl.sum(rl.max_pool1d(rl.relu(x), 3, strides=2) ** 2)
        return tape.gradient(loss, x)

    graph = check_pass(fuse_pool_grad, f, _tied((2, 9, 4)))
    assert graph.op_counts().get("max_pool_relu_grad") == 1  # overlapping: not routed


def test_a_pool_gradient_that_is_also_returned_is_not_fused():
    def f(x, g):
        pooled_grad = pooling.max_pool_grad(x, g, pool_size=2)
        return activations.relu_grad(pooled_grad, x), pooled_grad

    graph = check_pass(fuse_pool_grad, f, _tied((1, 4, 4, 2)), rl.ones((1, 2, 2, 2)))
    assert "max_pool_relu_grad" not in graph.op_counts()


def test_a_pool_gradient_read_twice_is_not_fused():
    def f(x, g):
        pooled_grad = pooling.max_pool_grad(x, g, pool_size=2)
        return activations.relu_grad(pooled_grad, x) + pooled_grad

    graph = check_pass(fuse_pool_grad, f, _tied((1, 4, 4, 2)), rl.ones((1, 2, 2, 2)))
    assert "max_pool_relu_grad" not in graph.op_counts()


def test_a_relu_gradient_at_another_value_is_not_fused():
    def f(x, y, g):
        return activations.relu_grad(pooling.max_pool_grad(x, g, pool_size=2), y)

    graph = check_pass(
        fuse_pool_grad, f, _tied((1, 4, 4, 2)), _tied((1, 4, 4, 2), 1), rl.ones((1, 2, 2, 2))
    )
    assert sorted(ops(graph)) == ["max_pool_grad", "relu_grad"]


def test_a_relu_gradient_that_broadcasts_is_not_fused():
    def f(x, g, y):
        return activations.relu_grad(pooling.max_pool_grad(x, g, pool_size=2), y)

    shape = (1, 4, 4, 2)
    graph = check_pass(fuse_pool_grad, f, _tied(shape), rl.ones((1, 2, 2, 2)), _tied((3, *shape)))
    assert sorted(ops(graph)) == ["max_pool_grad", "relu_grad"]


def test_an_average_pool_backward_is_left_alone():
    def f(x):
        with rl.GradientTape() as tape:
            tape.watch(x)
            loss = rl.sum(rl.avg_pool2d(rl.relu(x), 2) ** 2)
        return tape.gradient(loss, x)

    graph = check_pass(fuse_pool_grad, f, _tied((1, 4, 4, 2)))
    assert "max_pool_relu_grad" not in graph.op_counts()


def test_the_pass_is_in_the_pipeline():
    graph = rl.function(_pool_relu_gradient).get_graph(_tied((2, 6, 8, 3)))
    assert graph.op_counts().get("max_pool_scatter") == 1


# -- a whole CNN training step, compiled, with and without the pass -----------------------


def _cnn_gradients(seed: int = 0):
    """A compiled step's loss and gradients for a small CNN of the benchmark's shape."""
    rl.random.set_seed(seed)
    model = rl.Sequential(
        [
            rl.Input((12, 12, 1)),
            rl.layers.Conv2D(8, 3, activation="relu"),
            rl.layers.MaxPooling2D(2),
            rl.layers.Conv2D(16, 3, activation="relu"),
            rl.layers.MaxPooling2D(2),
            rl.layers.Flatten(),
            rl.layers.Dense(10),
        ]
    )
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(seed)
    x = rl.asarray(rng.standard_normal((6, 12, 12, 1)).astype(np.float32))
    labels = rl.asarray(rng.integers(0, 10, 6))

    @rl.function
    def step(x, labels):
        with rl.GradientTape() as tape:
            loss = loss_fn(labels, model(x))
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, grads = step(x, labels)
    return step.get_graph(x, labels), loss.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_compiled_cnn_step_gives_the_same_gradients_with_and_without_the_pass(seed, monkeypatch):
    graph, loss, grads = _cnn_gradients(seed)
    assert graph.op_counts().get("max_pool_scatter") == 2
    assert graph.op_counts().get("max_pool_argmax") == 2
    without = [entry for entry in passes.PIPELINE_SPEC if entry[0] != "fuse_pool_grad"]
    monkeypatch.setattr(passes, "PIPELINE_SPEC", without)
    graph, loss_unfused, grads_unfused = _cnn_gradients(seed)
    assert graph.op_counts().get("max_pool_grad") == 2
    np.testing.assert_array_equal(loss, loss_unfused)
    for fused, unfused in zip(grads, grads_unfused, strict=True):
        np.testing.assert_array_equal(fused, unfused)
