"""Early updates (rillet/graph/passes/schedule.py): each variable update runs as soon as its
gradient and the last reader of the variable's buffer are done, the step computes the same
bits, and each variable still sees its own reads and writes in program order."""

import numpy as np
import pytest

import rillet as rl
from rillet.graph import passes
from rillet.graph.executors.interpreter import Interpreter
from rillet.graph.passes import schedule
from rillet.graph.passes.memory_plan import planned_peak_bytes
from rillet.graph.passes.schedule import dependencies, schedule_updates
from rillet.testing.fuzz.oracle import effects_by_variable


def _mlp_step(seed: int = 0):
    rl.utils.set_random_seed(seed)
    model = rl.Sequential([
        rl.Input((48,)), rl.layers.Dense(64, "relu"), rl.layers.Dense(64, "relu"),
        rl.layers.Dense(5),
    ])  # fmt: skip
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = rl.optimizers.Adam(1e-2)

    def step(x, y):
        with rl.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        variables = model.trainable_weights
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    return model, step


def _batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 48)).astype(np.float32)
    return rl.asarray(x), rl.asarray(rng.integers(0, 5, 32))


def _without_schedule(monkeypatch):
    spec = [p for p in passes.PIPELINE_SPEC if p[1] != "schedule_updates"]
    monkeypatch.setattr(passes, "PIPELINE_SPEC", spec)


def test_updates_run_before_the_first_layers_gradient_and_lower_the_peak(monkeypatch):
    x, y = _batch()
    model, step = _mlp_step()
    graph = rl.function(step).get_graph(x, y)
    ops = [n.op for n in graph.nodes]
    first_kernel = model.layers[0].kernel
    updates = [i for i, n in enumerate(graph.nodes) if n.op == "apply_adam"]
    first = next(i for i in updates if graph.nodes[i].attrs["variable"] is first_kernel)
    assert ops[first - 1] == "matmul"  # its gradient, made just before
    assert all(i < first for i in updates if i != first)  # the others ran earlier
    _without_schedule(monkeypatch)
    _, unscheduled_step = _mlp_step()
    unscheduled = rl.function(unscheduled_step).get_graph(x, y)
    ops = [n.op for n in unscheduled.nodes]
    assert ops[-7:] == ["apply_adam"] * 6 + ["assign_variable"]  # traced: then the iteration
    assert planned_peak_bytes(graph) < planned_peak_bytes(unscheduled)


@pytest.mark.parametrize("executor", ["compiled", "interpreter"])
def test_a_scheduled_step_trains_exactly_as_the_unscheduled_one(monkeypatch, executor):
    x, y = _batch()
    model, step = _mlp_step()
    run = rl.function(step, executor=executor)
    losses = [float(run(x, y)) for _ in range(4)]
    _without_schedule(monkeypatch)
    reference, reference_step = _mlp_step()
    reference_run = rl.function(reference_step, executor=executor)
    assert losses == [float(reference_run(x, y)) for _ in range(4)]
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def _aliases_of(graph, variable) -> set[int]:
    """Ids of the values that may be the variable's buffer: its reads and their transposes
    (the views this program makes of them)."""
    found: set[int] = set()
    for node in graph.nodes:
        if node.op == "read_variable" and node.attrs["variable"] is variable:
            found.add(id(node.outputs[0]))
        elif node.op == "transpose" and id(node.inputs[0]) in found:
            found.add(id(node.outputs[0]))
    return found


def test_an_update_waits_for_every_reader_of_the_variables_buffer():
    w = rl.Variable(rl.random.stateless_normal((16, 16), seed=(0, 1)))

    def step(x):
        with rl.GradientTape() as tape:
            loss = rl.sum(rl.tanh(x @ w) @ w)  # w^T (a view of w) is read in the backward pass
        w.assign_sub(0.1 * tape.gradient(loss, w))

    graph = rl.function(step).get_graph(rl.ones((4, 16)))
    aliases = _aliases_of(graph, w)
    update = next(i for i, n in enumerate(graph.nodes) if n.op == "assign_variable")
    readers = [i for i, n in enumerate(graph.nodes) if any(id(v) in aliases for v in n.inputs if v)]
    assert readers and max(readers) < update
    needs = dependencies(graph)[update]
    assert set(readers) <= needs


def test_each_variable_keeps_its_reads_and_writes_in_program_order():
    v = rl.Variable(rl.ones((64, 64)))
    u = rl.Variable(rl.zeros((64, 64)))

    def program(x):
        before = v.read_value()
        z = rl.exp(rl.tanh(x) * 2.0)
        v.assign_add(x)  # needs only x: may move up past the exp, never past the read above
        after = v.read_value()
        u.assign(before * 2.0 + z)
        v.assign_sub(after * 0.5)
        return rl.sum(before), rl.sum(after)

    x = rl.ones((64, 64))
    traced = rl.function(program, optimize=False).get_graph(x)
    order = schedule._early_order(traced, dependencies(traced))  # whatever the peak says
    reordered = traced.copy()
    reordered.nodes = [reordered.nodes[i] for i in order]
    ops = [n.op for n in reordered.nodes]
    assert ops.index("assign_variable") < ops.index("exp")  # the update did move up
    assert effects_by_variable(reordered) == effects_by_variable(traced)
    got = [float(t) for t in Interpreter(reordered)(x)]
    assert got == [64.0 * 64, 2.0 * 64 * 64]
    z = np.exp(np.tanh(1.0) * 2.0).astype(np.float32)
    np.testing.assert_allclose(u.numpy(), np.full((64, 64), 2.0 + z), rtol=1e-6)
    np.testing.assert_array_equal(v.numpy(), np.ones((64, 64), np.float32))


def test_the_traced_order_stays_when_moving_updates_would_save_nothing():
    v = rl.Variable(rl.zeros((8, 8)))

    def program(x):
        y = rl.tanh(x) * 3.0
        v.assign(y)
        return rl.sum(y)

    graph = rl.function(program, optimize=False).get_graph(rl.ones((8, 8)))
    nodes = list(graph.nodes)
    assert schedule_updates(graph).nodes == nodes


def _models():
    L = rl.layers
    return {
        "dropout_mlp": [rl.Input((6,)), L.Dense(32, "relu"), L.Dropout(0.3), L.GaussianNoise(0.1),
                        L.Dense(2)],
        "gru": [rl.Input((5, 3)), L.GRU(8), L.Dense(2)],
        "conv": [rl.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(2),
                 L.Flatten(), L.Dense(2)],
    }  # fmt: skip


@pytest.mark.parametrize("model", ["dropout_mlp", "gru", "conv"])
def test_the_new_order_keeps_every_dependency(model):
    """Random streams (dropout, noise), a fused recurrent layer, convolutions and an SGD
    with momentum: the order made (whatever the peak says) is one of the dependencies."""
    rl.utils.set_random_seed(0)
    net = rl.Sequential(_models()[model])
    optimizer = rl.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train(a, b):
        with rl.GradientTape() as tape:
            value = loss_fn(b, net(a, training=True))
        optimizer.apply(tape.gradient(value, net.trainable_weights), net.trainable_weights)
        return value

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, *net.input_shape[1:])).astype(np.float32)
    traced = rl.function(train, optimize=False).get_graph(
        rl.asarray(x), rl.asarray(rng.integers(0, 2, 16))
    )
    needs = dependencies(traced)
    order = schedule._early_order(traced, needs)
    assert sorted(order) == list(range(len(traced.nodes)))
    position = {node: k for k, node in enumerate(order)}
    assert all(position[d] < position[i] for i in range(len(order)) for d in needs[i])
    assert order != list(range(len(order)))  # something moved
