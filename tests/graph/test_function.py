import numpy as np

import rillet as rl


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
