"""Differential fuzzing of graph mode (rillet.testing.fuzz): a fixed-seed run, and tests of
the fuzzer itself: it finds injected bugs, shrinks them, prints runnable reproducers, and
tolerates the rounding differences that correct graph rewrites make."""

import importlib.util
import subprocess
import sys
import types

import numpy as np
import pytest

import rillet as rl
from rillet.graph import passes
from rillet.graph.ir import CONSTANT, Node
from rillet.ops._registry import Spec
from rillet.testing.fuzz import (
    MODES,
    Disagreement,
    InvalidProgram,
    build,
    check_function,
    check_program,
    generate,
    replay,
)
from rillet.testing.fuzz.campaign import fuzz, main
from rillet.testing.fuzz.catalog import CATALOG
from rillet.testing.fuzz.program import LEAVES, Program, Step, input_data, live_steps
from rillet.testing.fuzz.regression import regression_source, save_regression
from rillet.testing.fuzz.shrink import cost, shrink_with

SEEDS_PER_CHUNK, CHUNKS = 15, 4  # 60 programs in make test, in chunks for pytest -n 2

# -- the fixed-seed run -----------------------------------------------------------------------


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_programs_agree_with_eager_in_every_graph_mode(chunk):
    seeds = range(chunk * SEEDS_PER_CHUNK, (chunk + 1) * SEEDS_PER_CHUNK)
    report = fuzz(seeds, shrink_budget=150)
    assert report.checked == SEEDS_PER_CHUNK
    if report.failures:
        pytest.fail("\n\n".join(f.source() for f in report.failures), pytrace=False)


# -- the generator ------------------------------------------------------------------------


def test_generation_is_deterministic_and_programs_are_small():
    for seed in range(40):
        program = generate(seed)
        assert str(program) == str(generate(seed))
        assert 5 <= program.n_ops <= 30
        assert program.outputs


def test_generated_programs_cover_the_whole_catalog():
    seen = {step.op for seed in range(200) for step in generate(seed).steps}
    assert set(CATALOG) - seen == set()
    assert {"input", "const", "variable"} <= seen


def test_generator_runs_without_control_flow():
    ops = {step.op for seed in range(60) for step in generate(seed, control_flow=False).steps}
    assert not ops & {name for name, op in CATALOG.items() if op.family == "control"}


def test_printed_source_replays_the_generated_values():
    for seed in range(12):
        program = generate(seed)
        builder = replay(program)
        inputs = [builder.values[i] for i in program.indices("input")]
        variables = [
            rl.Variable(
                np.asarray(program.steps[i].attrs["value"], program.steps[i].attrs["dtype"])
            )
            for i in program.indices("variable")
        ]
        outputs = build(program)(*inputs, *variables)
        for index, out in zip(program.outputs, outputs):
            np.testing.assert_array_equal(out.numpy(), builder.array(index))


def _log_of_input(seed: int, shape=(4,)) -> Program:
    steps = [Step("input", (), {"shape": shape, "dtype": "float64"}), Step("log", (0,), {})]
    return Program(steps, (1,), seed)


def test_replay_rejects_a_step_outside_its_domain_or_rule():
    seed = next(s for s in range(100) if (input_data(_log_of_input(s), 0) < 0).any())
    with pytest.raises(InvalidProgram, match="step 1 \\(log\\)"):
        replay(_log_of_input(seed))
    reshape = Step("reshape", (0,), {"shape": (3,)})  # 4 elements cannot become 3
    with pytest.raises(InvalidProgram, match="reshape"):
        replay(Program([_log_of_input(0).steps[0], reshape], (1,), 0))
    positive = next(s for s in range(100) if (input_data(_log_of_input(s), 0) > 0.05).all())
    assert replay(_log_of_input(positive)).shape(1) == (4,)


def _replays(program) -> bool:
    try:
        replay(program)
    except InvalidProgram:
        return False
    return True


# -- the shrinker -------------------------------------------------------------------------


def _has_live_log(program) -> bool:
    return any(program.steps[i].op == "log" for i in live_steps(program))


def test_shrinker_reduces_to_the_single_step_a_predicate_needs():
    program = next(p for p in map(generate, range(100)) if _has_live_log(p))

    def has_log(candidate):
        return _replays(candidate) and _has_live_log(candidate)

    small = shrink_with(program, has_log)
    assert [s.op for s in small.steps if s.op not in LEAVES] == ["log"]
    assert cost(small)[:2] == (1, 1)  # one op step on a one-element leaf


# -- injected bugs ------------------------------------------------------------------------


def inject_pass(monkeypatch, graph_pass, first: bool = True) -> None:
    """Add ``graph_pass`` to the pipeline rl.function runs (first, or last)."""
    module = types.ModuleType("rillet.graph.passes._fuzz_injected")
    module.injected = graph_pass
    monkeypatch.setitem(sys.modules, module.__name__, module)
    spec = [("_fuzz_injected", "injected")]
    pipeline = spec + passes.PIPELINE_SPEC if first else passes.PIPELINE_SPEC + spec
    monkeypatch.setattr(passes, "PIPELINE_SPEC", pipeline)


def swap_subtract_operands(graph):
    """A wrong rewrite: ``a - b`` becomes ``b - a``."""
    for node in graph.nodes:
        if node.op == "subtract":
            node.inputs.reverse()
    return graph


def zero_gradient_seeds(graph):
    """A wrong rewrite touching only gradients: the seed ``ones_like`` becomes zeros."""
    for node in graph.nodes:
        if node.op == "ones_like":
            node.op = "zeros_like"
    return graph


def _first_failure(seeds):
    report = fuzz(seeds, shrink_budget=200, max_failures=1)
    assert report.failures, f"no disagreement found in {report.checked} programs"
    return report, report.failures[0]


def test_injected_sign_bug_is_found_shrunk_and_printed(monkeypatch):
    inject_pass(monkeypatch, swap_subtract_operands)
    _, failure = _first_failure(range(100, 120))
    assert failure.disagreement.mode.startswith("optimized")
    assert failure.shrunk.n_ops <= 2 < failure.program.n_ops
    source = failure.source()
    namespace = {}
    exec(compile(source, "<regression>", "exec"), namespace)
    test = next(v for k, v in namespace.items() if k.startswith("test_fuzz_seed"))
    with pytest.raises(Disagreement):
        test()  # the printed test fails while the bug is there ...
    monkeypatch.undo()
    test()  # ... and passes once it is gone


def test_gradient_only_bug_is_found_as_a_gradient_disagreement(monkeypatch):
    inject_pass(monkeypatch, zero_gradient_seeds)
    _, failure = _first_failure(range(200, 205))
    assert failure.disagreement.kind == "gradient"
    assert failure.shrunk.n_ops <= 1


def test_results_overwritten_by_a_later_call_are_found(monkeypatch):
    graph_function = sys.modules["rillet.graph.function"]  # (rillet.graph.function is also
    make_executor = graph_function.make_executor  # the name of the decorator)

    def reusing_executor(graph, kind):
        """A buggy executor: it returns the same output buffers at every call."""
        run, buffers = make_executor(graph, kind), {}

        def call(*inputs):
            results = []
            for k, tensor in enumerate(run(*inputs)):
                buffer = buffers.setdefault(k, np.array(tensor.numpy()))
                np.copyto(buffer, tensor.numpy())
                results.append(rl.Tensor._wrap(buffer))
            return results

        return call

    monkeypatch.setattr(graph_function, "make_executor", reusing_executor)
    _, failure = _first_failure(range(300, 305))
    assert failure.disagreement.kind == "aliasing"
    assert failure.shrunk.n_ops <= 1


def test_state_updates_removed_by_a_pass_are_found(monkeypatch):
    def drop_assignments(graph):
        graph.nodes = [n for n in graph.nodes if n.op != "assign_variable"]
        return graph

    inject_pass(monkeypatch, drop_assignments, first=False)

    def program(x, var):
        var.assign_add(rl.tanh(x))
        return (rl.multiply(x, 2.0),)

    with pytest.raises(Disagreement, match="variable|state") as found:
        check_function(program, [np.array([0.5, -1.0])], [np.array([1.0, 2.0])])
    assert found.value.mode.startswith("optimized")


def _write_first(graph):
    """A pass moving every variable update up to just after the graph's inputs."""
    writes = [n for n in graph.nodes if n.op == "assign_variable"]
    rest = [n for n in graph.nodes if n.op != "assign_variable"]
    inputs = sum(n.op == "placeholder" for n in rest)
    graph.nodes = rest[:inputs] + writes + rest[inputs:]
    return graph


def test_a_variables_read_moved_after_its_update_is_found(monkeypatch):
    inject_pass(monkeypatch, _write_first, first=False)

    def program(x, var):
        before = var.value()
        var.assign(x)
        return (rl.multiply(before, 2.0),)

    with pytest.raises(Disagreement, match="state|value"):
        check_function(program, [np.array([0.5, -1.0])], [np.array([1.0, 2.0])])


def test_an_update_moved_past_another_variables_read_is_no_disagreement(monkeypatch):
    inject_pass(monkeypatch, _write_first, first=False)

    def program(x, var, other):
        before = other.value()
        var.assign(x)
        return (rl.multiply(before, 2.0),)

    check_function(program, [np.array([0.5, -1.0])], [np.array([1.0, 2.0]), np.array([3.0, 4.0])])


def test_errors_raised_only_in_graph_mode_are_disagreements(monkeypatch):
    def unknown_op(graph):
        for node in graph.nodes:
            if node.op == "tanh":
                node.attrs = {**node.attrs, "bogus": 1}
        return graph

    inject_pass(monkeypatch, unknown_op)
    with pytest.raises(Disagreement, match="error|verify") as found:
        check_function(lambda x: (rl.tanh(x),), [np.array([0.5, -1.0])])
    assert found.value.mode == "optimized-interpreter"


# -- tolerances ---------------------------------------------------------------------------

# Ops that compute without rounding (selection, data movement, comparisons): a correct
# rewrite cannot change their results, and their gradients may test equality with them.
EXACT = set(
    """placeholder constant max min maximum minimum relu relu6 abs negative sign floor ceil
    round clip where reshape transpose broadcast_to expand_dims squeeze getitem slice_region
    concat stack split flip roll tile repeat pad moveaxis swapaxes max_pool1d max_pool2d
    max_pool_grad max_pool_grad_grad sort top_k gather take cast ones_like zeros_like
    full_like stop_gradient one_hot cond while_loop scan greater less equal not_equal
    greater_equal less_equal slice_scatter""".split()
)


def add_rounding_noise(graph, ulps: int = 4):
    """Multiply every rounding op's result by 1 + k eps (|k| <= ulps): the differences a
    correct rewrite (a fused kernel, another summation order) may make."""
    rng, nodes = np.random.default_rng(0), []
    for node in graph.nodes:
        nodes.append(node)
        value = node.outputs[0] if len(node.outputs) == 1 else None
        if value is None or node.stateful or node.op in EXACT or node.op.startswith("_"):
            continue
        if value.dtype.kind != "f":
            continue
        factor = 1 + int(rng.integers(-ulps, ulps + 1)) * np.finfo(value.dtype).eps
        const = Node(
            CONSTANT,
            [],
            {"value": np.asarray(factor, value.dtype)},
            [Spec((), value.dtype)],
            f"{node.name}_noise_factor",
        )
        noisy = Node("multiply", [value, const.outputs[0]], {}, [value.spec], f"{node.name}_noisy")
        for later in graph.nodes:
            later.inputs = [noisy.outputs[0] if v is value else v for v in later.inputs]
        graph.outputs = [noisy.outputs[0] if v is value else v for v in graph.outputs]
        nodes += [const, noisy]
    graph.nodes = nodes
    return graph


def test_rounding_differences_stay_within_tolerance(monkeypatch):
    inject_pass(monkeypatch, add_rounding_noise, first=False)
    report = fuzz(range(400, 440), modes=["optimized-interpreter"], shrink_budget=50)
    assert report.checked == 40
    # (An error raised in graph mode is no matter of tolerance: the fixed-seed run above
    # reports those.)
    noise_only = [f for f in report.failures if not f.disagreement.kind.startswith("error")]
    assert not noise_only, "\n\n".join(f.source() for f in noise_only)


def test_rounding_noise_pass_changes_results():
    """(The noise above is real: without the tolerance, results would differ.)"""
    x = rl.asarray(np.linspace(0.1, 2.0, 7))
    plain = rl.function(lambda x: rl.exp(rl.tanh(x)), optimize=False).get_graph(x)
    noisy = add_rounding_noise(plain.copy(), ulps=4)
    assert noisy.op_counts()["multiply"] == 2
    assert not np.array_equal(noisy.run(x)[0].numpy(), plain.run(x)[0].numpy())


# -- the campaign and its command line ----------------------------------------------------


def test_saved_regression_is_a_formatted_test_that_fails_while_the_bug_lasts(monkeypatch, tmp_path):
    inject_pass(monkeypatch, swap_subtract_operands)
    program = next(p for p in map(generate, range(100, 140)) if check_program(p) is not None)
    found = check_program(program)
    path = save_regression(program, found, tmp_path)
    text = path.read_text()
    assert path.stem in regression_source(program, found) and f"def {path.stem}():" in text
    assert max(len(line) for line in text.splitlines() if "np.array" not in line) <= 100
    if importlib.util.find_spec("ruff") is not None:  # (make lint checks saved tests too)
        lint = subprocess.run([sys.executable, "-m", "ruff", "check", "-q", str(path)])
        assert lint.returncode == 0
    namespace = {}
    exec(compile(text, str(path), "exec"), namespace)
    with pytest.raises(Disagreement):
        namespace[path.stem]()


def test_command_line_reports_how_many_programs_it_checked(capsys):
    status = main(["--count", "2", "--seed", "11", "--seconds", "120"])
    out = capsys.readouterr().out
    assert "checked 2 programs" in out
    assert (status == 0) == (" 0 disagreements" in out)


def test_modes_cover_both_executors_with_and_without_passes():
    options = {(m["optimize"], m["executor"]) for m in MODES.values()}
    assert options == {(o, e) for o in (False, True) for e in ("interpreter", "compiled")}
