"""The compiled LSTM loops (rillet/ops/_rnn_lstm_jit.py): values and gradients against the
NumPy gate-major kernels they replace and against torch.nn.LSTM on random sizes, the step
loops run as plain Python against their compiled versions, NaN propagation, and the
fallback where they do not apply."""

import os
import subprocess
import sys

import numpy as np
import pytest

import rillet as rl
from rillet.ops import _jit, _rnn_lstm_jit, rnn

pytestmark = pytest.mark.skipif(not _jit.enabled(), reason="compiled loops are off here")

F32 = np.float32


def _sizes(seed: int) -> tuple[int, int, int, int]:
    """(batch, steps, features, units), drawn so that odd sizes and 1s turn up."""
    r = np.random.default_rng(seed)
    return tuple(int(r.integers(1, top)) for top in (40, 12, 20, 40))


def _args(rng, batch, steps, features, units, bias=True) -> list:
    def r(*shape, scale=0.5):
        return (rng.standard_normal(shape) * scale).astype(F32)

    return [
        r(batch, steps, features, scale=1.0),
        r(batch, units),
        r(batch, units),
        r(features, 4 * units),
        r(units, 4 * units),
        r(4 * units) if bias else None,
    ]


def _run(args, cotangents, go_backwards=False) -> list[np.ndarray]:
    """Outputs, h, c, then the gradients of ``sum(outputs * g_seq) + sum(h * g_h) + sum(c *
    g_c)`` with respect to every input."""
    tensors = [None if a is None else rl.asarray(a) for a in args]
    watched = [t for t in tensors if t is not None]
    with rl.GradientTape() as tape:
        for t in watched:
            tape.watch(t)
        outputs = rnn.lstm_sequence(*tensors, go_backwards=go_backwards)
        loss = sum(rl.sum(o * rl.asarray(g)) for o, g in zip(outputs, cotangents))
    grads = tape.gradient(loss, watched)
    return [v.numpy() for v in (*outputs, *grads)]


def _cotangents(rng, batch, steps, units) -> list[np.ndarray]:
    shapes = ((batch, steps, units), (batch, units), (batch, units))
    return [rng.standard_normal(s).astype(F32) for s in shapes]


def _assert_close(got, want, tol=2e-5):
    """Elementwise within ``tol`` of the largest magnitude of ``want``."""
    scale = max(float(np.abs(want).max()), 1e-3)
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=tol)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_compiled_loops_match_the_numpy_kernels(seed, go_backwards, monkeypatch):
    rng = np.random.default_rng(seed)
    batch, steps, features, units = _sizes(seed)
    args = _args(rng, batch, steps, features, units, bias=seed % 3 != 0)
    cotangents = _cotangents(rng, batch, steps, units)
    assert _rnn_lstm_jit.applies(args[0], args[4], True)
    compiled = _run(args, cotangents, go_backwards)
    monkeypatch.setattr(_rnn_lstm_jit, "applies", lambda *_: False)
    reference = _run(args, cotangents, go_backwards)
    assert len(compiled) == len(reference)
    for got, want in zip(compiled, reference):
        assert got.dtype == want.dtype == F32 and got.shape == want.shape
        _assert_close(got, want)


def _torch_lstm(torch, args, go_backwards):
    x, h0, c0, kernel, recurrent, bias = args
    batch, steps, features = x.shape
    units = h0.shape[1]
    net = torch.nn.LSTM(features, units, batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(bias))
        net.bias_hh_l0.zero_()
    leaves = [torch.from_numpy(a.copy()).requires_grad_() for a in (x, h0, c0)]
    inputs = torch.flip(leaves[0], [1]) if go_backwards else leaves[0]
    outputs, (h, c) = net(inputs, (leaves[1][None], leaves[2][None]))
    return net, leaves, outputs, h[0], c[0]


@pytest.mark.parametrize("seed", range(10, 14))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_compiled_loops_match_torch(seed, go_backwards):
    """Keras's go_backwards runs the steps from the last and gives the outputs in run order:
    torch's LSTM on the reversed sequence."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    batch, steps, features, units = _sizes(seed)
    args = _args(rng, batch, steps, features, units)
    cotangents = _cotangents(rng, batch, steps, units)
    got = _run(args, cotangents, go_backwards)
    net, leaves, outputs, h, c = _torch_lstm(torch, args, go_backwards)
    loss = sum((o * torch.from_numpy(g)).sum() for o, g in zip((outputs, h, c), cotangents))
    loss.backward()
    want = [v.detach().numpy() for v in (outputs, h, c)] + [leaf.grad.numpy() for leaf in leaves]
    want += [
        net.weight_ih_l0.grad.numpy().T,
        net.weight_hh_l0.grad.numpy().T,
        net.bias_ih_l0.grad.numpy(),
    ]
    for g, w in zip(got, want):
        _assert_close(g, w, tol=5e-5)


def _step_arrays(rng, batch, units, steps=3):
    r = lambda *s: rng.uniform(-0.9, 0.9, s).astype(F32)  # noqa: E731
    z = (rng.standard_normal((4 * units, batch)) * 3).astype(F32)
    return z, r(4 * units * batch), r(steps + 1, 7 * units, batch), r(steps + 1, units + 2, batch)


def test_forward_step_runs_alike_as_python_and_compiled(rng):
    z, bias, res, hx = _step_arrays(rng, 3, 5)
    z[0, 0], z[1, 1] = 40.0, -40.0  # beyond the clamp of the tanh approximation
    res_py, hx_py = res.copy(), hx.copy()
    _rnn_lstm_jit._forward_step.py_func(z, bias, res_py, hx_py, 1)
    _rnn_lstm_jit._forward_step.compiled(z, bias, res, hx, 1)
    np.testing.assert_allclose(res, res_py, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hx, hx_py, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(hx[2, :5], res[2, 30:35])  # h_t in both places
    assert np.all(np.abs(res[1, :20]) <= 1.0)


def test_forward_step_gates_against_numpy(rng):
    """The gates of one step: sigmoid for o, i, f (their pre-activations halved), tanh for
    c~, then c = i c~ + f c_{t-1} and h = o tanh(c), against float64 NumPy."""
    batch, u = 4, 6
    z, bias, res, hx = _step_arrays(rng, batch, u)
    _rnn_lstm_jit._forward_step.compiled(z, bias, res, hx, 0)
    pre = z.astype(np.float64) + bias.reshape(4 * u, batch)
    sigmoid = 1.0 / (1.0 + np.exp(-2.0 * pre[: 3 * u]))
    o, i, f = sigmoid[:u], sigmoid[u : 2 * u], sigmoid[2 * u :]
    g = np.tanh(pre[3 * u :])
    c = i * g + f * res[0, 4 * u : 5 * u]
    np.testing.assert_allclose(res[0, :u], o, atol=3e-7)
    np.testing.assert_allclose(res[0, 3 * u : 4 * u], g, atol=3e-7)
    np.testing.assert_allclose(res[1, 4 * u : 5 * u], c, atol=1e-6)
    np.testing.assert_allclose(res[1, 6 * u :], o * np.tanh(c), atol=1e-6)


def test_backward_step_runs_alike_as_python_and_compiled(rng):
    batch, u, steps = 3, 5, 4
    g_run = rng.standard_normal((steps, u, batch)).astype(F32)
    res = rng.uniform(-0.9, 0.9, (steps, 7 * u, batch)).astype(F32)
    dh, dc = (rng.standard_normal((u, batch)).astype(F32) for _ in range(2))
    outs = [
        (dh.copy(), dc.copy(), np.zeros((4 * u, batch), F32), np.zeros((4 * u, steps, batch), F32))
        for _ in range(2)
    ]
    _rnn_lstm_jit._backward_step.py_func(g_run, res, *outs[0], 2)
    _rnn_lstm_jit._backward_step.compiled(g_run, res, *outs[1], 2)
    for py, compiled in zip(*outs):
        np.testing.assert_allclose(compiled, py, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(outs[1][3][:, 2], outs[1][2])  # d copied to d_pre[:, t]
    assert not outs[1][3][:, [0, 1, 3]].any()


def test_nan_in_one_batch_row_stays_in_that_row(rng):
    args = _args(rng, 3, 4, 5, 6)
    args[0][1, 2, 0] = np.nan
    outputs, h, c = (v.numpy() for v in rnn.lstm_sequence(*(rl.asarray(a) for a in args)))
    assert np.isnan(outputs[1, 2:]).all() and np.isnan(h[1]).all() and np.isnan(c[1]).all()
    assert np.isfinite(outputs[[0, 2]]).all() and np.isfinite(outputs[1, :2]).all()


def test_only_float32_with_the_default_activations_runs_compiled(rng):
    x, _, _, _, recurrent, _ = _args(rng, 2, 3, 4, 5)
    assert _rnn_lstm_jit.applies(x, recurrent, True)
    assert not _rnn_lstm_jit.applies(x, recurrent, False)
    assert not _rnn_lstm_jit.applies(x.astype(np.float64), recurrent.astype(np.float64), True)


SCRIPT = """
import sys
import numpy as np
import rillet as rl
from rillet.ops import rnn
rng = np.random.default_rng(5)
args = [rng.standard_normal(s).astype(np.float32) * 0.5
        for s in ((4, 6, 3), (4, 7), (4, 7), (3, 28), (7, 28), (28,))]
outputs, h, c = rnn.lstm_sequence(*(rl.asarray(a) for a in args))
np.save(sys.argv[1], outputs.numpy())
assert "scipy.linalg.cython_blas" not in sys.modules  # NumPy's BLAS only, no second pool
"""


def test_disabled_jit_gives_the_same_lstm(tmp_path):
    """With RILLET_DISABLE_JIT=1 the NumPy kernels run and agree with the compiled loops,
    which make their products with NumPy's BLAS (no second BLAS loaded)."""
    results = []
    for disable in ("1", ""):
        path = tmp_path / f"out{disable}.npy"
        env = {**os.environ, "RILLET_DISABLE_JIT": disable}
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        results.append(np.load(path))
    _assert_close(results[1], results[0], tol=2e-6)


@pytest.mark.parametrize("batch, features", [(0, 4), (2, 0)])
def test_empty_batch_or_no_features(rng, batch, features):
    args = _args(rng, batch, 3, features, 5)
    got = _run(args, _cotangents(rng, batch, 3, 5))
    shapes = [(batch, 3, 5), (batch, 5), (batch, 5), (batch, 3, features), (batch, 5),
              (batch, 5), (features, 20), (5, 20), (20,)]  # fmt: skip
    assert [g.shape for g in got] == shapes
    if batch == 0:  # nothing to sum over: zero gradients for the weights
        assert not any(g.any() for g in got[-3:])
