"""Epilogue fusion: which chains the pass fuses, which it leaves, and whole models computing
the same values and gradients with and without it."""

import numpy as np
import pytest

import rillet as rl
from rillet.graph import passes
from rillet.graph.passes.fuse_epilogue import fuse_epilogue
from rillet.graph.verify import verify


def trace(fn, *args):
    return rl.function(fn, optimize=False, executor="interpreter").get_graph(*args)


def randn(*shape, seed=0, dtype=np.float32):
    return rl.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def fused(fn, *args):
    """``fn``'s traced graph through the pass: verified, and computing what it computed."""
    graph = trace(fn, *args)
    after = verify(fuse_epilogue(graph))
    for old, new in zip(graph.run(*args), after.run(*args), strict=True):
        assert (old.shape, old.dtype) == (new.shape, new.dtype)
        np.testing.assert_allclose(new.numpy(), old.numpy(), rtol=1e-5, atol=1e-6)
    return after


def ops(graph) -> list[str]:
    return [n.op for n in graph.nodes if n.op not in ("placeholder", "constant")]


def fused_node(graph):
    (node,) = [n for n in graph.nodes if n.op.startswith("fused_")]
    return node


# --- what gets fused ----------------------------------------------------------------------


def test_matmul_bias_relu_becomes_one_node():
    graph = fused(lambda x, w, b: rl.relu(rl.matmul(x, w) + b), randn(4, 3), randn(3, 5), randn(5))
    assert ops(graph) == ["fused_matmul"]
    assert fused_node(graph).attrs == {"activation": "relu"}


def test_bias_on_the_left_without_activation_is_fused():
    graph = fused(lambda x, w, b: b + rl.matmul(x, w), randn(4, 3), randn(3, 5), randn(5))
    assert ops(graph) == ["fused_matmul"]
    assert fused_node(graph).attrs["activation"] is None


def test_a_reshape_keeping_the_last_axis_moves_after_the_fused_node():
    def dense(x, w, b):
        return rl.relu(rl.reshape(rl.matmul(rl.reshape(x, (-1, 3)), w), (2, 4, 5)) + b)

    graph = fused(dense, randn(2, 4, 3), randn(3, 5), randn(5))
    assert ops(graph) == ["fused_matmul"]  # the flattening view and its inverse are gone
    assert graph.nodes[-1].inputs[0].shape == (2, 4, 3)


def test_a_view_after_the_product_alone_moves_after_the_fused_node():
    def f(x, w, b):
        return rl.relu(rl.reshape(rl.matmul(x, w), (2, 4, 5)) + b)

    graph = fused(f, randn(8, 3), randn(3, 5), randn(5))
    assert ops(graph) == ["fused_matmul", "reshape"]
    assert graph.outputs[0].shape == (2, 4, 5)


def test_a_scalar_made_a_matrix_is_not_taken_as_a_flattened_input():
    def f(s, w, b):
        return rl.reshape(rl.matmul(rl.reshape(s, (1, 1)), w), (3,)) + b

    graph = fused(f, randn(), randn(1, 3), randn(3))
    assert ops(graph) == ["reshape", "fused_matmul", "reshape"]


def test_a_flattened_input_read_elsewhere_keeps_its_view():
    def dense(x, w, b):
        rows = rl.reshape(x, (-1, 3))
        return rl.relu(rl.reshape(rl.matmul(rows, w), (2, 4, 5)) + b), rl.sum(rows)

    graph = fused(dense, randn(2, 4, 3), randn(3, 5), randn(5))
    assert sorted(ops(graph)) == ["fused_matmul", "reshape", "reshape", "sum"]


def test_conv2d_bias_relu_keeps_the_conv_attributes():
    conv = lambda x, f, b: rl.relu(rl.conv2d(x, f, strides=2, padding="same") + b)  # noqa: E731
    graph = fused(conv, randn(2, 7, 7, 3), randn(3, 3, 3, 4), randn(4))
    node = fused_node(graph)
    assert ops(graph) == ["fused_conv2d"]
    assert node.attrs["strides"] == 2 and node.attrs["padding"] == "same"
    assert node.attrs["activation"] == "relu"


def test_another_activation_stays_a_node_of_its_own():
    graph = fused(lambda x, w, b: rl.tanh(rl.matmul(x, w) + b), randn(4, 3), randn(3, 5), randn(5))
    assert ops(graph) == ["fused_matmul", "tanh"]
    assert fused_node(graph).attrs["activation"] is None


def test_a_sum_read_elsewhere_keeps_the_relu_apart():
    def f(x, w, b):
        z = rl.matmul(x, w) + b
        return rl.relu(z), rl.sum(z)

    graph = fused(f, randn(4, 3), randn(3, 5), randn(5))
    assert sorted(ops(graph)) == ["fused_matmul", "relu", "sum"]


def test_relu_gradient_reads_the_fused_output():
    def f(x, w, b):
        with rl.GradientTape() as tape:
            tape.watch(w)
            loss = rl.sum(rl.relu(rl.matmul(x, w) + b))
        return tape.gradient(loss, w)

    graph = fused(f, randn(4, 3), randn(3, 5), randn(5))
    assert "fused_matmul" in ops(graph)


def test_two_products_meeting_at_one_add_fuse_once():
    def f(x, w, v):
        return rl.reshape(rl.matmul(x, w), (3,)) + rl.reshape(rl.matmul(x, v), (3,))

    graph = fused(f, randn(1, 2), randn(2, 3), randn(2, 3, seed=1))
    assert sorted(ops(graph)) == ["fused_matmul", "matmul", "reshape", "reshape"]


# --- what is left alone -------------------------------------------------------------------


def test_product_that_is_an_output_is_not_fused():
    def f(x, w, b):
        y = rl.matmul(x, w)
        return y, y + b

    graph = fused(f, randn(4, 3), randn(3, 5), randn(5))
    assert "fused_matmul" not in ops(graph)


def test_product_with_two_readers_is_not_fused():
    def f(x, w, b):
        y = rl.matmul(x, w)
        return rl.relu(y + b) * y

    graph = fused(f, randn(4, 3), randn(3, 5), randn(5))
    assert "fused_matmul" not in ops(graph)


@pytest.mark.parametrize(
    "shapes",
    [
        ((4, 3), (3, 5), (4, 5)),  # a matrix, not a bias vector
        ((4, 3), (3, 1), (5,)),  # the add broadcasts the product to a larger shape
        ((2, 4, 3), (2, 3, 5), (5,)),  # a batched product
    ],
)
def test_adds_that_are_not_a_bias_over_the_last_axis_are_not_fused(shapes):
    args = [randn(*s, seed=i) for i, s in enumerate(shapes)]
    graph = fused(lambda x, w, b: rl.relu(rl.matmul(x, w) + b), *args)
    assert "fused_matmul" not in ops(graph)


def test_a_reshape_that_moves_the_last_axis_is_not_fused():
    f = lambda x, w, b: rl.reshape(rl.matmul(x, w), (5, 4)) + b  # noqa: E731
    graph = fused(f, randn(4, 3), randn(3, 5), randn(4))
    assert "fused_matmul" not in ops(graph)


def test_half_precision_is_not_fused():
    args = [randn(4, 3), randn(3, 5), randn(5)]
    args = [rl.cast(a, "float16") for a in args]
    graph = fused(lambda x, w, b: rl.relu(rl.matmul(x, w) + b), *args)
    assert "fused_matmul" not in ops(graph)


def test_an_assignment_inside_the_chain_stops_the_fusion():
    w = rl.Variable(np.ones((3, 5), np.float32))

    def f(x, b):
        y = rl.matmul(x, w)
        w.assign(w * 2.0)
        return rl.relu(y + b)

    graph = verify(fuse_epilogue(trace(f, randn(4, 3), randn(5))))
    assert "fused_matmul" not in ops(graph) and "matmul" in ops(graph)


# --- whole models, with and without the pass ----------------------------------------------


@pytest.fixture
def without_pass(monkeypatch):
    """A context in which ``rl.function`` skips the pass (for both executors)."""

    def skip():
        for executor in ("compiled", "interpreter"):
            skipped = passes.SKIPPED_FOR.get(executor, set()) | {"fuse_epilogue"}
            monkeypatch.setitem(passes.SKIPPED_FOR, executor, skipped)

    return skip


def _values_and_gradients(model, x, y, executor):
    @rl.function(executor=executor)
    def step(x, y):
        with rl.GradientTape() as tape:
            out = model(x)
            loss = rl.mean(rl.square(out - y))
        return [out, *tape.gradient(loss, model.trainable_variables)]

    return [t.numpy() for t in step(x, y)], step.get_graph(x, y)


MODELS = {
    "dense_2d": (lambda: [rl.layers.Dense(6, activation="relu"), rl.layers.Dense(3)], (5, 4)),
    "dense_3d": (lambda: [rl.layers.Dense(6, activation="relu"), rl.layers.Dense(3)], (2, 5, 4)),
    "conv2d": (
        lambda: [
            rl.layers.Conv2D(4, 3, activation="relu"),
            rl.layers.Conv2D(3, 3, padding="same", activation="relu"),
            rl.layers.MaxPooling2D(2),
            rl.layers.Flatten(),
            rl.layers.Dense(5, activation="relu"),
            rl.layers.Dense(2),
        ],
        (3, 8, 8, 1),
    ),
    "conv1d_causal": (
        lambda: [rl.layers.Conv1D(4, 3, padding="causal", activation="relu"), rl.layers.Dense(2)],
        (2, 7, 3),
    ),
}


@pytest.mark.parametrize("executor", ["compiled", "interpreter"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_compute_the_same_with_and_without_the_pass(name, executor, without_pass):
    layers, x_shape = MODELS[name]
    rl.random.set_seed(0)
    model = rl.Sequential(layers())
    x = randn(*x_shape, seed=1)
    y = rl.zeros_like(model(x))
    fused_values, graph = _values_and_gradients(model, x, y, executor)
    assert any(op.startswith("fused_") and op != "fused_elementwise" for op in ops(graph))
    without_pass()
    plain_values, plain = _values_and_gradients(model, x, y, executor)
    assert not any(op in ("fused_matmul", "fused_conv2d") for op in ops(plain))
    for got, expected in zip(fused_values, plain_values, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_cnn_training_step_matches_without_the_pass(without_pass):
    def train(fuse: bool) -> list[np.ndarray]:
        rl.random.set_seed(0)
        model = rl.Sequential(MODELS["conv2d"][0]())
        model.compile(optimizer=rl.optimizers.Adam(0.01), loss="mse")
        x = randn(4, 8, 8, 1, seed=2)
        y = randn(4, 2, seed=3)
        if not fuse:
            without_pass()
        model.fit(x, y, epochs=3, batch_size=2, verbose=0, shuffle=False)
        return [v.numpy() for v in model.trainable_variables]

    for got, expected in zip(train(True), train(False), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
