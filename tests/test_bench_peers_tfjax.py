"""The TensorFlow and JAX workers of the benchmark suite compute what rillet's do.

Both workers build their models from ``spec``'s weights; these tests check the conversions
(Keras' attention kernels per head, the CNN's flatten order, gate orders, the causal conv, the
streaming state) against NumPy references in float64: the first training step's loss, the kws
logits of a whole window and of the last frame of a stream. The weights are perturbed first so
that zero biases and unit layer-norm scales cannot hide a wrong layout. Every variant takes the
same Adam steps as the others (their losses over three steps agree).

TensorFlow and JAX live in the benchmark environment only, so the workers run in one child
process of ``.venv-bench/bin/python``; the tests skip when it or either framework is missing.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_bench_peers_torch import _reference_loss

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "suite"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
TRAINING = ("mlp", "cnn", "lstm", "transformer")
VARIANTS = {"tf": ("function", "xla", "fused-adam"), "jax": ("jit",)}
WINDOW_VARIANTS = {"tf": ("function", "xla"), "jax": ("jit", "jit-sync")}
FRAME_VARIANTS = {"tf": ("function", "xla", "tflite"), "jax": ("jit", "jit-sync")}

_CHILD = """
import dataclasses, json, sys
import numpy as np
sys.path.insert(0, {suite!r})
import worker
frameworks = {{name: worker.load_framework(name) for name in ("tf", "jax")}}
import spec

def perturbed(name):
    workload = spec.WORKLOADS[name]
    rng = np.random.default_rng(7)
    weights = {{
        key: (value + 0.05 * rng.standard_normal(value.shape)).astype(np.float32)
        for key, value in workload.init_weights().items()
    }}
    spec.WORKLOADS[name] = dataclasses.replace(workload, _make_weights=lambda _: weights)

for name in {training!r}:
    perturbed(name)
found = {{"losses": {{}}, "window": {{}}, "frames": {{}}}}
for fw, variants in {variants!r}.items():
    for variant in variants:
        for name in {training!r}:
            step = frameworks[fw].build(name, variant, 2)
            found["losses"][f"{{fw}}/{{variant}}/{{name}}"] = [float(step()) for _ in range(3)]
for fw, variants in {window_variants!r}.items():
    for variant in variants:
        window = np.asarray(frameworks[fw].build("kws_window", variant, 2)())
        found["window"][f"{{fw}}/{{variant}}"] = window.tolist()
for fw, variants in {frame_variants!r}.items():
    for variant in variants:
        step = frameworks[fw].build("kws_frame", variant, 2)
        frames = [np.asarray(step()).tolist() for _ in range(spec.KWS_FRAMES)]
        found["frames"][f"{{fw}}/{{variant}}"] = [frames[0], frames[-1]]
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def found() -> dict:
    """What the workers computed: three losses per training run, kws window and stream logits."""
    if not BENCH_PYTHON.exists():
        pytest.skip(f"{BENCH_PYTHON} not found (make bench creates it)")
    probe = subprocess.run([BENCH_PYTHON, "-c", "import tensorflow, jax"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("the benchmark environment has no tensorflow or no jax")
    script = _CHILD.format(
        suite=str(SUITE),
        training=TRAINING,
        variants=VARIANTS,
        window_variants=WINDOW_VARIANTS,
        frame_variants=FRAME_VARIANTS,
    )
    done = subprocess.run(
        [BENCH_PYTHON, "-c", script], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def spec():
    if str(SUITE) not in sys.path:
        sys.path.insert(0, str(SUITE))  # as worker.py does for the framework modules
    return importlib.import_module("spec")


def _perturbed(spec, name: str) -> dict[str, np.ndarray]:
    """The weights the child gave ``name``: the same noise, seed and order."""
    rng = np.random.default_rng(7)
    return {
        key: (value + 0.05 * rng.standard_normal(value.shape)).astype(np.float32)
        for key, value in spec.WORKLOADS[name].init_weights().items()
    }


@pytest.mark.parametrize("name", TRAINING)
@pytest.mark.parametrize("run", [f"{fw}/{v}" for fw, vs in VARIANTS.items() for v in vs])
def test_first_loss_matches_numpy(found, spec, run, name):
    weights = _perturbed(spec, name)
    loss = found["losses"][f"{run}/{name}"][0]
    np.testing.assert_allclose(loss, _reference_loss(spec, name, weights), rtol=2e-5)


@pytest.mark.parametrize("name", TRAINING)
def test_every_variant_takes_the_same_adam_steps(found, name):
    runs = {key: losses for key, losses in found["losses"].items() if key.endswith(f"/{name}")}
    first = runs.pop("jax/jit/" + name)
    assert first[0] - first[2] > 1e-3  # the steps do train
    for key, losses in runs.items():
        np.testing.assert_allclose(losses, first, rtol=1e-4, err_msg=key)


def _kws_expected(spec) -> np.ndarray:
    workload = spec.WORKLOADS["kws_window"]
    return spec.kws_reference(workload.make_data()[0], workload.init_weights())


@pytest.mark.parametrize("run", [f"{fw}/{v}" for fw, vs in WINDOW_VARIANTS.items() for v in vs])
def test_kws_window_matches_numpy(found, spec, run):
    window = np.array(found["window"][run])
    np.testing.assert_allclose(window, _kws_expected(spec), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("run", [f"{fw}/{v}" for fw, vs in FRAME_VARIANTS.items() for v in vs])
def test_kws_stream_ends_on_the_window_logits(found, spec, run):
    expected = _kws_expected(spec)
    first_frame, last_frame = (np.array(a) for a in found["frames"][run])
    np.testing.assert_allclose(last_frame, expected, rtol=1e-5, atol=1e-6)
    # the state carries over: the first frame alone gives other logits than the window
    assert np.abs(first_frame - expected).max() > 1e-3
