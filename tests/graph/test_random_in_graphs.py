"""Random numbers inside rl.function: every run draws new numbers, and set_seed replays the
same numbers in eager and compiled code (the i-th draw after set_seed(s) uses (s, i))."""

import numpy as np
import pytest

import rillet as rl
from rillet.graph import serialize
from rillet.ops import random as random_ops

EXECUTORS = ["compiled", "interpreter"]


@pytest.fixture(autouse=True)
def _fresh_global_seed():
    rl.random.set_seed(None)
    yield
    rl.random.set_seed(None)


def _values(results):
    return [np.asarray(r).tolist() for r in results]


def _program(x):
    """Draws of every kind: unseeded, op-seeded, and dropout."""
    return (
        rl.random.normal((3,)),
        rl.dropout(x, rate=0.5),
        rl.random.uniform((2,), seed=5),
        rl.random.bernoulli((4,), p=0.3),
        rl.random.truncated_normal((2,), stddev=2.0, seed=5),
    )


@pytest.mark.parametrize("executor", EXECUTORS)
def test_each_call_of_a_compiled_function_draws_new_numbers(executor):
    f = rl.function(lambda: rl.random.uniform((8,)), executor=executor)
    first, second = f().numpy(), f().numpy()
    assert not np.array_equal(first, second)
    assert f.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("executor", EXECUTORS)
def test_set_seed_replays_the_same_numbers_eager_and_compiled(executor):
    x = rl.ones((2, 3))
    compiled = rl.function(_program, executor=executor)
    rl.random.set_seed(11)
    eager_runs = [_values(_program(x)) for _ in range(3)]
    rl.random.set_seed(11)
    compiled_runs = [_values(compiled(x)) for _ in range(3)]
    assert compiled_runs == eager_runs
    assert eager_runs[0] != eager_runs[1]


def test_eager_and_compiled_draws_count_together_in_program_order():
    draw = rl.function(lambda: rl.random.normal((2,)))
    rl.random.set_seed(3)
    mixed = [draw(), rl.random.normal((2,)), draw(), rl.random.normal((2,))]
    expected = [rl.random.stateless_normal((2,), seed=(3, i)) for i in range(4)]
    assert _values(mixed) == _values(expected)


def test_ith_draw_in_a_graph_uses_the_seed_pair_s_i():
    f = rl.function(lambda: (rl.random.uniform((3,)), rl.random.uniform((3,))))
    rl.random.set_seed(9)
    f()
    a, b = f()  # the third and fourth draws since set_seed(9)
    assert _values([a, b]) == _values(
        [rl.random.stateless_uniform((3,), seed=(9, i)) for i in (2, 3)]
    )


def test_op_seeded_draws_in_a_graph_use_the_folded_seed():
    f = rl.function(lambda: rl.random.normal((2,), seed=42))
    rl.random.set_seed(5)
    f()
    second = f()
    expected = rl.random.stateless_normal((2,), seed=(random_ops.fold_seeds(5, 42), 1))
    assert _values([second]) == _values([expected])


def test_tracing_draws_nothing():
    f = rl.function(lambda x: x + rl.random.normal((2,)))
    rl.random.set_seed(1)
    f.get_graph(rl.ones(2))
    assert _values([rl.random.normal((2,))]) == _values(
        [rl.random.stateless_normal((2,), seed=(1, 0))]
    )


def test_set_seed_after_tracing_reseeds_the_graph():
    f = rl.function(lambda: rl.random.uniform((3,)))
    rl.random.set_seed(1)
    f()
    rl.random.set_seed(2)  # the seed is state the graph reads, not a trace-time constant
    assert _values([f()]) == _values([rl.random.stateless_uniform((3,), seed=(2, 0))])


def test_an_unused_draw_still_advances_the_stream_as_in_eager():
    def program(x):
        rl.random.normal((5,))  # result dropped: pruned, but the counter still moves
        return x * 2.0

    compiled = rl.function(program)
    rl.random.set_seed(4)
    compiled(rl.ones(1))
    assert "stateless_random_normal" not in compiled.get_graph(rl.ones(1)).op_counts()
    assert _values([rl.random.normal((2,))]) == _values(
        [rl.random.stateless_normal((2,), seed=(4, 1))]
    )


def test_generator_draws_advance_inside_graphs():
    generator = rl.random.Generator.from_seed(4)
    f = rl.function(lambda: generator.normal((2,)))
    draws = [f(), generator.normal((2,)), f()]
    expected = [rl.random.stateless_normal((2,), seed=(4, i)) for i in range(3)]
    assert _values(draws) == _values(expected)


# -- dropout in a traced training step ------------------------------------------------------


def _dropout_step(w):
    @rl.function
    def step(x):
        with rl.GradientTape() as tape:
            hidden = rl.dropout(rl.tanh(x @ w), rate=0.5)
            loss = rl.sum(hidden)
        grad = tape.gradient(loss, w)
        w.assign_sub(0.0 * grad)  # a training step's update (kept neutral to compare calls)
        return hidden, grad

    return step


def test_dropout_in_a_traced_training_step_differs_between_calls():
    w = rl.Variable(np.full((4, 16), 0.1, np.float32))
    step = _dropout_step(w)
    x = rl.ones((8, 4))
    (h1, g1), (h2, g2) = step(x), step(x)
    assert not np.array_equal(h1.numpy() == 0, h2.numpy() == 0)  # new masks
    assert not np.array_equal(g1.numpy(), g2.numpy())
    assert step.experimental_get_tracing_count() == 1


def test_dropout_gradient_in_a_graph_uses_the_forward_mask():
    w = rl.Variable(np.full((4, 16), 0.1, np.float32))
    x = rl.ones((8, 4))
    hidden, grad = _dropout_step(w)(x)
    kept = (hidden.numpy() != 0).astype(np.float32) * 2.0  # the mask, scaled by 1 / (1 - rate)
    derivative = 1.0 - np.tanh(0.4) ** 2
    expected = x.numpy().T @ (kept * derivative)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5)


def test_dropout_training_step_replays_eagerly_after_set_seed():
    def run(compiled):
        w = rl.Variable(np.full((4, 16), 0.1, np.float32))
        step = _dropout_step(w)
        if not compiled:
            step = step.__wrapped__
        rl.random.set_seed(21)
        return [_values(step(rl.ones((8, 4)))) for _ in range(3)]

    assert run(compiled=True) == run(compiled=False)


def test_random_state_variables_are_hidden_and_not_trainable():
    w = rl.Variable(np.ones((4, 16), np.float32))
    graph = _dropout_step(w).get_graph(rl.ones((8, 4)))
    state = [v for v in graph.variables if v is not w]
    assert state == [random_ops.GLOBAL_STREAM.state] and not state[0].trainable


# -- saved graphs carry their random state ----------------------------------------------------


def test_saved_graph_draws_continue_from_the_saved_state(tmp_path):
    f = rl.function(lambda: rl.random.uniform((3,)))
    rl.random.set_seed(8)
    graph = f.get_graph()
    path = str(tmp_path / "draw.json")
    serialize.save(graph, path)  # the state is (8, 0) here
    loaded = serialize.load(path)
    first, second = loaded.run()[0], loaded.run()[0]
    expected = [rl.random.stateless_uniform((3,), seed=(8, i)) for i in (0, 1)]
    assert _values([first, second]) == _values(expected)
    assert _values([f()]) == _values(expected[:1])  # the live stream was not advanced


@pytest.mark.parametrize(
    "state, error, match",
    [
        (np.zeros(2, np.int32), rl.errors.DTypeError, "state has dtype int32, expected int64"),
        (np.zeros(3, np.int64), rl.errors.ShapeError, r"shape \(2,\).*got \(3,\)"),
    ],
)
def test_stream_key_rejects_a_state_that_is_not_a_seed_pair(state, error, match):
    with pytest.raises(error, match=match):
        random_ops.stream_key(state)
