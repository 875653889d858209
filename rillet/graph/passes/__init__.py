"""Graph passes: each a small ``Graph -> Graph`` function in its own module.

``optimize`` runs the standard pipeline that ``rl.function`` applies to every traced graph.
"""

from __future__ import annotations

import importlib

from ..ir import Graph

# The pipeline, in order: (module, function). Each pass returns a graph ``verify`` accepts.
PIPELINE_SPEC = [
    ("prune", "prune"),
    ("simplify", "simplify"),
    ("constant_fold", "fold_constants"),
    ("cse", "eliminate_common_subexpressions"),
    ("prune", "prune"),
    ("fuse_epilogue", "fuse_epilogue"),
    ("fuse_pool_grad", "fuse_pool_grad"),
    ("fuse_elementwise", "fuse_elementwise"),
    ("schedule", "schedule_updates"),
]


# Passes left out for an executor, by measurement (benchmarks/RESULTS.md): the compiled
# executor already runs each elementwise kernel into a planned buffer, and a fused NumPy
# kernel allocates its intermediates on every call, which made the MLP training step slower
# (1.37x against 1.85x faster than eager); the interpreter gains from fewer dispatches.
SKIPPED_FOR = {"compiled": {"fuse_elementwise"}, "interpreter": set()}


def _load_pipeline(executor: str = "interpreter") -> list:
    passes = []
    for module, name in PIPELINE_SPEC:
        if name in SKIPPED_FOR.get(executor, set()):
            continue
        try:
            passes.append((name, getattr(importlib.import_module(f"{__name__}.{module}"), name)))
        except ModuleNotFoundError:
            continue
    return passes


def optimize(
    graph: Graph,
    memory_budget: int | None = None,
    passes: bool = True,
    executor: str = "interpreter",
) -> Graph:
    """Run the pipeline's passes for ``executor`` on a copy of ``graph`` (none with
    ``passes=False``), then rematerialize to fit ``memory_budget`` bytes when given."""
    graph = graph.copy()
    for _, graph_pass in _load_pipeline(executor) if passes else ():
        graph = graph_pass(graph)
    if memory_budget is not None:
        from .remat import rematerialize

        graph = rematerialize(graph, memory_budget)
    return graph
