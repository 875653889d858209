"""The PyTorch and ONNX Runtime workers of the benchmark suite compute what rillet's do.

Each worker builds its model from ``spec``'s weights; these tests check the conversions (kernel
transposes, gate orders, the CNN's flatten order, attention heads, the causal conv, the
streaming state) against NumPy references in float64: the first training step's loss, the kws
logits of a whole window and of the last frame of a stream. The weights are perturbed first so
that zero biases and unit layer-norm scales cannot hide a wrong layout.

The PyTorch tests need torch in this interpreter; the ONNX Runtime ones run in a child process
of whichever interpreter has onnxruntime (this one, or the benchmark environment .venv-bench),
and are skipped when neither has it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "suite"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
TRAINING = ("mlp", "cnn", "lstm", "transformer")


def _load_worker():
    module_spec = importlib.util.spec_from_file_location("suite_worker", SUITE / "worker.py")
    worker = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(worker)
    return worker


@pytest.fixture(scope="module")
def torch_worker():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    module = _load_worker().load_framework("torch")
    yield module
    torch.set_num_threads(threads)


@pytest.fixture
def spec(torch_worker):
    return sys.modules["spec"]  # the module the worker imported


@pytest.fixture
def perturbed(spec, monkeypatch):
    """Give ``name``'s workload weights with noise added to every entry."""

    def perturb(name: str) -> dict[str, np.ndarray]:
        workload = spec.WORKLOADS[name]
        rng = np.random.default_rng(7)
        weights = {
            key: (value + 0.05 * rng.standard_normal(value.shape)).astype(np.float32)
            for key, value in workload.init_weights().items()
        }
        replaced = dataclasses.replace(workload, _make_weights=lambda _: weights)
        monkeypatch.setitem(spec.WORKLOADS, name, replaced)
        return weights

    return perturb


# --- NumPy references (float64) ----------------------------------------------------------


def _relu(x):
    return np.maximum(x, 0.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _dense(w, name, x):
    return x @ w[f"{name}/kernel"] + w[f"{name}/bias"]


def _mlp(w, x):
    return _dense(w, "dense3", _relu(_dense(w, "dense2", _relu(_dense(w, "dense1", x)))))


def _conv_valid(w, name, x):
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    return _relu(np.einsum("bhwcij,ijco->bhwo", windows, w[f"{name}/kernel"]) + w[f"{name}/bias"])


def _pool(x):
    b, h, w_, c = x.shape
    x = x[:, : h // 2 * 2, : w_ // 2 * 2]
    return x.reshape(b, h // 2, 2, w_ // 2, 2, c).max(axis=(2, 4))


def _cnn(w, x):
    x = _pool(_conv_valid(w, "conv2", _pool(_conv_valid(w, "conv1", x))))
    return _dense(w, "dense2", _relu(_dense(w, "dense1", x.reshape(len(x), -1))))


def _lstm(w, x):
    units = w["lstm/recurrent_kernel"].shape[0]
    h = c = np.zeros((len(x), units))
    for t in range(x.shape[1]):
        gates = x[:, t] @ w["lstm/kernel"] + h @ w["lstm/recurrent_kernel"] + w["lstm/bias"]
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
    return _dense(w, "dense", h)


def _layer_norm(w, name, x, epsilon):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * w[f"{name}/gamma"] + w[f"{name}/beta"]


def _attention(w, x, heads=4):
    b, steps, d = x.shape

    def project(name):
        y = x @ w[f"attention/w{name}"] + w[f"attention/b{name}"]
        return y.reshape(b, steps, heads, d // heads).transpose(0, 2, 1, 3)

    q, k, v = project("q"), project("k"), project("v")
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    mixed = (scores / scores.sum(-1, keepdims=True)) @ v
    return mixed.transpose(0, 2, 1, 3).reshape(b, steps, d) @ w["attention/wo"] + w["attention/bo"]


def _transformer(w, x, epsilon):
    h = _layer_norm(w, "ln1", x + _attention(w, x), epsilon)
    y = _layer_norm(w, "ln2", h + _dense(w, "ffn2", _relu(_dense(w, "ffn1", h))), epsilon)
    return _dense(w, "dense", y.mean(axis=1))


def _cross_entropy(logits, labels):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels].mean()


def _reference_loss(spec, name, weights):
    x, y = spec.WORKLOADS[name].make_data()
    w = {key: value.astype(np.float64) for key, value in weights.items()}
    x = x.astype(np.float64)
    forward = {
        "mlp": _mlp,
        "cnn": _cnn,
        "lstm": _lstm,
        "transformer": lambda w, x: _transformer(w, x, spec.LN_EPSILON),
    }[name]
    return _cross_entropy(forward(w, x), y)


# --- PyTorch -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TRAINING)
@pytest.mark.parametrize("variant", ["eager", "fused-adam"])
def test_torch_first_loss_matches_numpy(torch_worker, spec, perturbed, name, variant):
    weights = perturbed(name)
    loss = float(torch_worker.build(name, variant, 1)())
    np.testing.assert_allclose(loss, _reference_loss(spec, name, weights), rtol=2e-5)


@pytest.mark.parametrize("name", TRAINING)
def test_torch_fused_adam_takes_the_same_step(torch_worker, name):
    eager, fused = (torch_worker.build(name, v, 1) for v in ("eager", "fused-adam"))
    losses = [[float(step()) for _ in range(3)] for step in (eager, fused)]
    assert losses[0][0] != losses[0][2]  # the steps do train
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def _kws_data(spec):
    workload = spec.WORKLOADS["kws_window"]
    x = workload.make_data()[0]
    return x, spec.kws_reference(x, workload.init_weights())


@pytest.mark.parametrize("variant", ["eager", "1-thread"])
def test_torch_kws_window_matches_numpy(torch_worker, spec, variant):
    _, expected = _kws_data(spec)
    logits = torch_worker.build("kws_window", variant, 1)().numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["eager", "1-thread"])
def test_torch_kws_stream_ends_on_the_window_logits(torch_worker, spec, variant):
    x, expected = _kws_data(spec)
    step = torch_worker.build("kws_frame", variant, 1)
    logits = [step().numpy().copy() for _ in range(x.shape[1])]
    np.testing.assert_allclose(logits[-1], expected, rtol=1e-5, atol=1e-6)
    # the state carries over: the first frame alone gives other logits than the window
    assert np.abs(logits[0] - expected).max() > 1e-3


def test_torch_overhead_chain_matches_numpy(torch_worker, spec):
    x = np.ones(1, np.float32)
    for i in range(spec.OVERHEAD_OPS):
        x = x + np.float32(spec.OVERHEAD_ADD) if i % 2 == 0 else x * np.float32(spec.OVERHEAD_MUL)
    step = torch_worker.build("overhead", "eager", 1)
    assert step().numpy() == pytest.approx(x) and step().numpy() == pytest.approx(x)


def test_torch_unknown_variant_is_an_error(torch_worker):
    with pytest.raises(ValueError, match="no variant 'jit' for workload 'mlp'"):
        torch_worker.build("mlp", "jit", 1)


# --- ONNX Runtime (in a child process) -----------------------------------------------------

_ORT_CHECK = """
import json, sys
import numpy as np
sys.path.insert(0, {suite!r})
import worker
ort = worker.load_framework("onnxruntime")
import spec
workload = spec.WORKLOADS["kws_window"]
x = workload.make_data()[0]
expected = spec.kws_reference(x, workload.init_weights())
errors = {{}}
for variant in ("default", "1-thread"):
    window = np.array(ort.build("kws_window", variant, 2)())
    step = ort.build("kws_frame", variant, 2)
    frames = [np.array(step()) for _ in range(x.shape[1])]
    errors[variant] = [
        float(np.abs(window - expected).max()),
        float(np.abs(frames[-1] - expected).max()),
        float(np.abs(frames[0] - expected).max()),
    ]
print(json.dumps(errors))
"""


def _python_with_onnxruntime() -> str:
    for python in (sys.executable, str(BENCH_PYTHON)):
        if not Path(python).exists():
            continue
        found = subprocess.run([python, "-c", "import onnx, onnxruntime"], capture_output=True)
        if found.returncode == 0:
            return python
    pytest.skip("no interpreter with onnx and onnxruntime (this one or .venv-bench)")


def test_onnxruntime_kws_matches_numpy():
    python = _python_with_onnxruntime()
    script = _ORT_CHECK.format(suite=str(SUITE))
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for variant, (window, last_frame, first_frame) in json.loads(done.stdout).items():
        assert window < 1e-5 and last_frame < 1e-5, (variant, window, last_frame)
        assert first_frame > 1e-3, variant  # the state carries over from frame to frame
