"""The benchmark suite (benchmarks/suite): the rillet and NumPy workers, and the driver's
statistics, ratios and report on made-up results."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SUITE = Path(__file__).resolve().parent.parent / "benchmarks" / "suite"
sys.path.insert(0, str(SUITE))

import spec  # noqa: E402


def _load(path: Path, name: str):
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses look their module up there
    module_spec.loader.exec_module(module)
    return module


worker = _load(SUITE / "worker.py", "bench_suite_worker")
run = _load(SUITE / "run.py", "bench_suite_run")
frameworks = {name: worker.load_framework(name) for name in ("rillet", "numpy")}
CASES = [
    (fw, workload, variant)
    for fw, module in frameworks.items()
    for workload, variants in module.VARIANTS.items()
    for variant in variants
]
KEYS = {"framework", "variant", "workload", "step_times_s", "first_call_s", "peak_rss_bytes"}


@pytest.mark.parametrize("framework, workload, variant", CASES)
def test_worker_prints_one_json_line(framework, workload, variant):
    command = [sys.executable, str(SUITE / "worker.py"), "--framework", framework]
    command += ["--workload", workload, "--variant", variant, "--steps", "2", "--warmup", "0"]
    command += ["--threads", "1"]
    env = run.worker_env(threads=1)  # one BLAS thread: no spinning on a busy machine
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert KEYS | {"threads", "blas", "versions"} <= set(result)
    assert (result["framework"], result["workload"], result["variant"]) == (
        framework,
        workload,
        variant,
    )
    assert len(result["step_times_s"]) == 2 and min(result["step_times_s"]) > 0
    assert result["first_call_s"] > 0 and result["peak_rss_bytes"] > 2**20
    assert result["versions"]["numpy"] == np.__version__


def test_worker_rejects_an_unknown_variant():
    command = [sys.executable, str(SUITE / "worker.py"), "--framework", "numpy"]
    command += ["--workload", "mlp", "--variant", "turbo", "--steps", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and "turbo" in done.stderr


def test_worker_rejects_a_missing_framework():
    with pytest.raises(SystemExit, match="no framework file"):
        worker.load_framework("no_such_framework")


def test_spec_data_and_weights_are_seeded_and_shaped():
    for workload in spec.WORKLOADS.values():
        x, y = workload.make_data()
        assert x.shape == workload.input_shape and x.dtype == np.float32
        assert y.dtype == np.int64 and len(y) == x.shape[0]
        again = workload.make_data()[0]
        np.testing.assert_array_equal(x, again)
        assert all(w.dtype == np.float32 for w in workload.init_weights().values())
    assert spec.WORKLOADS["fit_cnn"].samples_per_step == 2048
    assert spec.WORKLOADS["overhead"].ops_per_step == 100


def _kws_reference():
    workload = spec.WORKLOADS["kws_window"]
    return spec.kws_reference(workload.make_data()[0], workload.init_weights())


@pytest.mark.parametrize("framework", ["rillet", "numpy"])
def test_kws_window_matches_the_reference(framework):
    step = frameworks[framework].build("kws_window", "", 1)
    np.testing.assert_allclose(np.asarray(step()), _kws_reference(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "framework, variant", [("rillet", "compiled"), ("rillet", "sliding-window"), ("numpy", "")]
)
def test_kws_frame_streamed_over_the_window_matches_it(framework, variant):
    step = frameworks[framework].build("kws_frame", variant, 1)
    for _ in range(spec.KWS_FRAMES - 1):
        step()
    logits = np.asarray(step())
    np.testing.assert_allclose(logits, _kws_reference(), rtol=1e-4, atol=1e-5)


def test_rillet_stream_eager_and_compiled_agree():
    workload = spec.WORKLOADS["kws_frame"]
    _, compiled = frameworks["rillet"].kws_stream(workload, compiled=True)
    stream, _ = frameworks["rillet"].kws_stream(workload, compiled=False)
    x = workload.make_data()[0]
    for t in range(5):
        expected = stream(x[:, t : t + 1]).numpy()[:, -1]
        np.testing.assert_allclose(compiled(), expected, rtol=1e-5, atol=1e-7)


def test_rillet_mlp_step_matches_numpy_by_hand():
    """Same weights, data, loss and Adam: the losses of the first steps agree."""
    rillet = frameworks["rillet"].build("mlp", "compiled", 1)
    by_hand = frameworks["numpy"].build("mlp", "by-hand", 1)
    for _ in range(3):
        assert rillet() == pytest.approx(by_hand(), rel=1e-4)


@pytest.mark.parametrize("workload", ["mlp", "transformer"])
def test_rillet_train_step_eager_and_compiled_agree(workload):
    compiled = frameworks["rillet"].build(workload, "compiled", 1)
    eager = frameworks["rillet"].build(workload, "eager", 1)
    for _ in range(2):
        assert compiled() == pytest.approx(eager(), rel=1e-4)


def test_overhead_chains_agree():
    expected = np.ones(1)
    for _ in range(50):
        expected = (expected + 0.5) * 0.5
    for framework, variant in [("rillet", "eager"), ("rillet", "compiled"), ("numpy", "eager")]:
        result = frameworks[framework].build("overhead", variant, 1)()
        np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6)


# --- the driver, on made-up results ---------------------------------------------------------


def _run(framework: str, workload: str, times: list[float], rss: int = 100 * 2**20) -> dict:
    return {
        "framework": framework,
        "workload": workload,
        "step_times_s": times,
        "first_call_s": 0.5,
        "peak_rss_bytes": rss,
        "foreign_cores": 0.0,
        "blas": [],
        "versions": {"numpy": "x"},
    }


def _fake_results():
    C = run.Contender
    return {
        C("rillet", "compiled", "mlp"): [_run("rillet", "mlp", [4e-3, 6e-3]), {"error": "x"}],
        C("torch", "eager", "mlp"): [_run("torch", "mlp", [8e-3, 8e-3], rss=300 * 2**20)],
        C("torch", "fused-adam", "mlp"): [_run("torch", "mlp", [5e-3, 5e-3], rss=200 * 2**20)],
        C("rillet", "fit", "fit_cnn"): [_run("rillet", "fit_cnn", [1.0, 1.0])],
        C("tf", "fit", "fit_cnn"): [_run("tf", "fit_cnn", [2.0, 2.0])],
        C("rillet", "eager", "overhead"): [_run("rillet", "overhead", [3e-4])],
        C("rillet", "compiled", "overhead"): [_run("rillet", "overhead", [1e-4])],
        C("torch", "eager", "overhead"): [_run("torch", "overhead", [4e-4])],
        C("rillet", "compiled", "kws_frame"): [_run("rillet", "kws_frame", [2e-5])],
        C("rillet", "sliding-window", "kws_frame"): [_run("rillet", "kws_frame", [1e-3])],
        C("numpy", "by-hand", "kws_frame"): [_run("numpy", "kws_frame", [1e-5])],
    }


def _stats(results, workload):
    return {w: run.summarize(r) for w, r in results.items() if w.workload == workload}


def test_summarize_pools_steps_and_skips_failures_and_busy_runs():
    runs = [_run("a", "mlp", [1.0, 3.0]), _run("a", "mlp", [2.0, 2.0]), {"error": "boom"}]
    s = run.summarize(runs)
    assert (s["median"], s["min"], s["max"], s["runs"], s["failed"]) == (2.0, 2.0, 2.0, 2, 1)
    quiet = [_run("a", "mlp", [1.0]) for _ in range(3)]
    busy = {**_run("a", "mlp", [9.0]), "foreign_cores": 1.5}
    assert run.summarize([*quiet, busy])["max"] == 1.0
    assert run.summarize([quiet[0], busy])["max"] == 1.0  # one quiet run is enough by default
    assert run.summarize([quiet[0], busy], min_quiet=2)["max"] == 9.0
    assert run.summarize([busy, busy])["runs"] == 2  # all busy: all used
    assert run.summarize([{"error": "x"}]) is None


def test_ratios_use_the_best_of_each_side():
    results = _fake_results()
    mlp = run.ratios("mlp", _stats(results, "mlp"))
    assert mlp["ratio"] == pytest.approx(5e-3 / 5e-3) and mlp["peer"] == "torch (fused-adam)"
    fit = run.ratios("fit_cnn", _stats(results, "fit_cnn"))
    assert fit["ratio"] == pytest.approx(2.0)  # samples/s: rillet twice as fast as Keras
    overhead = run.ratios("overhead", _stats(results, "overhead"))
    assert overhead["ratio"] == pytest.approx(0.25) and overhead["rillet"] == "rillet (compiled)"
    frame = run.ratios("kws_frame", _stats(results, "kws_frame"))
    assert frame["ratio"] == pytest.approx(2.0) and frame["peer"] == "numpy (by-hand)"
    assert run.ratios("mlp", {}) == {}


def test_targets_are_judged():
    results = _fake_results()
    assert run.target_met("mlp", 1.0, {}).endswith("met")
    assert run.target_met("fit_cnn", 1.4, {}).endswith("MISSED")
    overhead = _stats(results, "overhead")  # 1 µs/op and 1/4 of PyTorch's
    assert run.target_met("overhead", 0.25, overhead).endswith(": met")


def test_report_tables_name_ratios_rss_and_latency():
    results = _fake_results()
    args = run.parse_args(["--rounds", "1"])
    text = run.report(args, results, ["mlp", "fit_cnn", "overhead", "kws_frame"], {}, 60.0)
    assert "| mlp | rillet (compiled) | torch (fused-adam) | 1.00 | <= 1.00: met | 0.50 |" in text
    assert "| fit_cnn | rillet (fit) | tf (fit) | 2.00 | >= 1.50: met |" in text
    assert "2048 samples/s" in text and "1.00 µs/op" in text
    assert "**50.0x** cheaper per frame" in text
    assert "1 of 2 (1 failed)" in text


def test_write_section_replaces_only_its_own(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(
        "# Benchmark results\n\n## A\n\nkeep a\n\n## Benchmark suite\n\nold\n\n## B\nb\n"
    )
    run.write_section(path, "new table")
    text = path.read_text()
    assert "keep a" in text and "## B\nb" in text and "new table" in text and "old" not in text
    run.write_section(tmp_path / "fresh.md", "first")
    assert "## Benchmark suite\n\nfirst" in (tmp_path / "fresh.md").read_text()


def test_a_missing_framework_is_reported_not_run(tmp_path):
    args = run.parse_args(["--peer-python", str(tmp_path / "none"), "--frameworks", "numpy,nope"])
    variants, missing = run.offered(args, ["numpy", "nope", "torch"], run.worker_env(1))
    assert "mlp" in variants["numpy"]
    assert "no benchmarks/suite/frameworks/nope.py" in missing["nope"]
    assert "not found" in missing["torch"]


def test_a_failing_worker_gives_its_stderr_tail():
    args = run.parse_args(["--steps", "1", "--warmup", "0"])
    result = run.run_once(args, run.Contender("numpy", "turbo", "mlp"), run.worker_env(1))
    assert "turbo" in result["error"]


def test_bad_workload_name_is_an_error(capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--workloads", "mlp,nope"])
    assert "nope" in capsys.readouterr().err


def test_results_saved_as_json_report_the_same(tmp_path):
    results, path = _fake_results(), tmp_path / "runs.json"
    meta = {"command": "run.py --rounds 7", "rounds": 7, "threads": 2, "elapsed_s": 120.0}
    run.save_results(path, results, {**meta, "missing": {"tf": "gone"}})
    loaded, found = run.load_results(path)
    assert loaded == results and found["rounds"] == 7
    args = run.parse_args(["--from-json", str(path), "--note", "A quiet machine."])
    text = run.report(args, loaded, ["mlp"], found["missing"], 120.0, found["command"])
    assert text.startswith("A quiet machine.\n") and "`run.py --rounds 7`" in text
    assert "- tf: left out: gone" in text


def test_the_command_line_leaves_the_note_out():
    line = run.command_line(["--rounds", "3", "--note", "long text", "--quick"])
    assert line.endswith("--rounds 3 --quick") and "long text" not in line
