"""Helpers for the tests of verify, prune, cse, constant_fold and simplify."""

from __future__ import annotations

import numpy as np

import rillet as rl
from rillet.graph.verify import verify


def trace(fn, *args):
    """The graph of ``fn`` as traced, before any pass."""
    return rl.function(fn, optimize=False, executor="interpreter").get_graph(*args)


def run(graph, *args) -> list[np.ndarray]:
    return [t.numpy() for t in graph.run(*args)]


def check_pass(graph_pass, fn, *args):
    """Trace ``fn``, run ``graph_pass`` on a copy, and check that the result verifies and
    gives the same values as the traced graph (NaN equal to NaN). Returns the new graph."""
    graph = trace(fn, *args)
    before = run(graph, *args)
    after_graph = verify(graph_pass(graph.copy()))
    after = run(after_graph, *args)
    assert len(before) == len(after)
    for b, a in zip(before, after):
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
    return after_graph


def stateful_ops(graph) -> list[tuple]:
    """The stateful nodes in program order: (op, variable, mode)."""
    return [(n.op, id(n.attrs["variable"]), n.attrs.get("mode")) for n in graph.nodes if n.stateful]


def ops(graph) -> list[str]:
    """The ops of the graph's nodes other than placeholders and constants, in order."""
    return [n.op for n in graph.nodes if n.op not in ("placeholder", "constant")]


# -- a 784-512-512-10 MLP trained with Adam, written with rillet ops ------------------------


def make_mlp(sizes=(784, 512, 512, 10), seed=0) -> list:
    rng = np.random.default_rng(seed)
    params = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        params += [rl.Variable(w, name=f"w{i}"), rl.Variable(np.zeros(b, np.float32), name=f"b{i}")]
    return params


def make_adam(params) -> tuple:
    m = [rl.Variable(np.zeros(p.shape, np.float32), name=f"m{i}") for i, p in enumerate(params)]
    v = [rl.Variable(np.zeros(p.shape, np.float32), name=f"v{i}") for i, p in enumerate(params)]
    return m, v, rl.Variable(np.zeros((), np.float32), name="t")


def mlp_loss(params, x, y):
    h = x
    for i in range(0, len(params), 2):
        h = rl.matmul(h, params[i]) + params[i + 1]
        if i + 2 < len(params):
            h = rl.relu(h)
    return rl.mean(rl.sparse_softmax_cross_entropy_with_logits(y, h))


def train_step(params, adam, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    """Forward, tape gradient and an in-place Adam update through assign_*."""
    m, v, t = adam
    with rl.GradientTape() as tape:
        loss = mlp_loss(params, x, y)
    grads = tape.gradient(loss, params)
    t.assign_add(1.0)
    lr_t = lr * rl.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    for p, g, mi, vi in zip(params, grads, m, v):
        mi.assign_add((1 - b1) * (g - mi))
        vi.assign_add((1 - b2) * (rl.square(g) - vi))
        p.assign_sub(lr_t * mi / (rl.sqrt(vi) + eps))
    return loss


def mlp_batch(batch=128, features=784, classes=10, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, features)).astype(np.float32)
    return rl.asarray(x), rl.asarray(rng.integers(0, classes, batch))


def values_of(variables) -> list[np.ndarray]:
    return [v.numpy() for v in variables]
