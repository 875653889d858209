"""Rematerialization under rl.function(memory_budget=...)."""

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, RilletError
from rillet.graph.passes.memory_plan import planned_peak_bytes
from rillet.graph.passes.remat import MemoryBudgetError, minimum_peak_bytes, rematerialize
from rillet.graph.verify import verify

LAYERS, WIDTH, BATCH = 8, 256, 256


def make_mlp(seed=0) -> list:
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH) for _ in range(LAYERS)]
    biases = [rng.standard_normal(WIDTH) * 0.1 for _ in range(LAYERS)]
    return [rl.Variable(p.astype(np.float32), name=f"p{i}") for i, p in enumerate(weights + biases)]


def training_step(params):
    """One SGD step of a deep tanh MLP: every activation is read again by the backward pass."""

    def step(x, y):
        with rl.GradientTape() as tape:
            h = x
            for w, b in zip(params[:LAYERS], params[LAYERS:]):
                h = rl.tanh(rl.matmul(h, w) + b)
            loss = rl.sum(rl.square(h - y)) * (1.0 / (BATCH * WIDTH))
        for p, g in zip(params, tape.gradient(loss, params)):
            p.assign_sub(0.5 * g)
        return loss

    return step


def batch(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, WIDTH)).astype(np.float32)
    return rl.asarray(x), rl.asarray(np.tanh(x[:, ::-1]).copy())


def test_a_deep_mlp_step_fits_the_budget_with_the_same_updates():
    x, y = batch()
    plain_params, budget_params = make_mlp(), make_mlp()
    plain = rl.function(training_step(plain_params))
    plain_peak = planned_peak_bytes(plain.get_graph(x, y))
    budget = int(0.75 * plain_peak)
    fitted = rl.function(training_step(budget_params), memory_budget=budget)
    graph = verify(fitted.get_graph(x, y))

    assert planned_peak_bytes(graph) <= budget < plain_peak

    def products(g):
        counts = g.op_counts()
        return counts.get("matmul", 0) + counts.get("fused_matmul", 0)

    assert products(graph) > products(plain.get_graph(x, y))  # recomputed
    for _ in range(2):
        np.testing.assert_allclose(fitted(x, y).numpy(), plain(x, y).numpy(), rtol=1e-6)
    for got, want in zip(budget_params, plain_params):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_an_impossible_budget_raises_a_clear_error():
    x, y = batch()
    step = rl.function(training_step(make_mlp()), memory_budget=100_000)
    with pytest.raises(MemoryBudgetError) as caught:
        step(x, y)
    message = str(caught.value)
    assert isinstance(caught.value, RilletError) and isinstance(caught.value, ValueError)
    assert "memory_budget=100,000 bytes cannot be met" in message
    assert "the best rematerialization reached" in message and "no plan can go below" in message


def test_the_error_reports_the_best_peak_the_search_reached():
    graph = rl.function(training_step(make_mlp()), optimize=False).get_graph(*batch())
    floor = minimum_peak_bytes(graph)
    with pytest.raises(MemoryBudgetError) as caught:
        rematerialize(graph, floor)  # the bound is not reached by duplicating nodes
    best = int(str(caught.value).split("reached ")[1].split(" bytes")[0].replace(",", ""))
    assert floor < best < planned_peak_bytes(graph)


def test_a_budget_above_the_peak_changes_nothing():
    graph = rl.function(training_step(make_mlp()), optimize=False).get_graph(*batch())
    fitted = rematerialize(graph, planned_peak_bytes(graph))
    assert [n.op for n in fitted.nodes] == [n.op for n in graph.nodes]


@pytest.mark.parametrize("budget", [0, -5, "1MB", True, float("inf")])
def test_a_budget_that_is_not_a_positive_number_is_rejected(budget):
    graph = rl.function(lambda x: rl.exp(x), optimize=False).get_graph(rl.ones(3))
    with pytest.raises(ArgumentError, match="memory_budget must be a"):
        rematerialize(graph, budget)


# --- what may be recomputed ---------------------------------------------------------------


def kept_then_read(v, assign: bool):
    """``a`` is made early and read at the end; temporaries peak in between, while the read
    of ``v`` is still alive (so recomputing ``a`` late costs nothing there)."""

    def f(x):
        a = rl.exp(v * x)
        filler = rl.sum(rl.sin(x) * rl.cos(x) + rl.tanh(x) * v)
        if assign:
            v.assign(x * 0.5)
        return rl.sum(a) * filler

    return f


X = rl.asarray(np.linspace(-1, 1, 1000, dtype=np.float32))


def test_a_value_is_recomputed_before_its_late_reader():
    v = rl.Variable(np.ones(1000, np.float32), name="v")
    graph = rl.function(kept_then_read(v, assign=False), optimize=False).get_graph(X)
    budget = planned_peak_bytes(graph) - 3900  # one float32 (1000,) less, give or take scalars
    fitted = verify(rematerialize(graph, budget))
    assert planned_peak_bytes(fitted) <= budget
    assert fitted.op_counts()["exp"] == 2 and fitted.op_counts()["read_variable"] == 1
    np.testing.assert_array_equal(fitted.run(X)[0].numpy(), graph.run(X)[0].numpy())


def test_a_read_is_never_recomputed_across_an_assignment_of_its_variable():
    v = rl.Variable(np.ones(1000, np.float32), name="v")
    graph = rl.function(kept_then_read(v, assign=True), optimize=False).get_graph(X)
    # a = exp(v * x) could now only be recomputed after v.assign, from the read before it
    with pytest.raises(MemoryBudgetError):
        rematerialize(graph, planned_peak_bytes(graph) - 3900)


def test_random_draws_are_never_duplicated():
    def f(x):
        noise = rl.random.stateless_uniform((1000,), seed=(1, 2))
        filler = rl.sum(rl.sin(x) * rl.cos(x) + rl.tanh(x))
        return rl.sum(noise * x) * filler + rl.sum(noise)

    graph = rl.function(f, optimize=False).get_graph(X)
    try:
        fitted = rematerialize(graph, planned_peak_bytes(graph) - 3900)
    except MemoryBudgetError:
        return
    random_ops = [n.op for n in fitted.nodes if n.op.startswith("stateless_")]
    assert len(random_ops) == len([n for n in graph.nodes if n.op.startswith("stateless_")])
