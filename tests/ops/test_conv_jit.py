"""The compiled window copies of conv2d (rillet/ops/_conv_jit.py) against the naive loops of
the op table and against the NumPy kernels they replace: padding, strides, dilations, the
batch cut into chunks, ``out`` buffers, and the inputs they leave to NumPy."""

import numpy as np
import pytest

import rillet as rl
from rillet.ops import _conv_jit, _jit
from tests.ops.opinfo.conv import naive_backprop_filter, naive_backprop_input, naive_conv

pytestmark = pytest.mark.skipif(not _jit.enabled(), reason="compiled loops are off")

GEOMETRIES = [
    {},
    {"padding": "same"},
    {"strides": 2, "padding": "same"},
    {"strides": (2, 3)},
    {"dilations": (2, 1), "padding": "same"},
    {"strides": 2, "dilations": 2, "padding": [[2, 1], [0, 3]]},
]
# 8 input channels and more run both loops; fewer run col2im only (NumPy's im2col wins)
CHANNELS = [2, 8, 16]


def _operands(rng, channels: int, attrs: dict, dtype=np.float64):
    x = rng.standard_normal((3, 9, 8, channels)).astype(dtype)
    w = rng.standard_normal((3, 2, channels, 5)).astype(dtype)
    y_shape = rl.conv2d(x, w, **attrs).shape
    return x, w, rng.standard_normal(y_shape).astype(dtype)


def _numpy_kernels(monkeypatch):
    monkeypatch.setattr(_conv_jit, "applies", lambda *arrays: False)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("attrs", GEOMETRIES)
def test_compiled_conv_ops_match_naive_loops(attrs, channels):
    rng = np.random.default_rng(0)
    x, w, dy = _operands(rng, channels, attrs)
    assert _conv_jit.applies(x, w)
    tight = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(rl.conv2d(x, w, **attrs).numpy(), naive_conv(x, w, **attrs), **tight)
    d_x = rl.conv2d_backprop_input(w, dy, input_shape=x.shape, **attrs).numpy()
    np.testing.assert_allclose(d_x, naive_backprop_input(w, dy, x.shape, **attrs), **tight)
    d_w = rl.conv2d_backprop_filter(x, dy, filter_shape=w.shape, **attrs).numpy()
    np.testing.assert_allclose(d_w, naive_backprop_filter(x, dy, w.shape, **attrs), **tight)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("attrs", GEOMETRIES[:3])
def test_compiled_float32_conv_ops_match_the_numpy_kernels(attrs, channels, monkeypatch):
    rng = np.random.default_rng(1)
    x, w, dy = _operands(rng, channels, attrs, np.float32)

    def run():
        return (
            rl.conv2d(x, w, **attrs).numpy(),
            rl.conv2d_backprop_input(w, dy, input_shape=x.shape, **attrs).numpy(),
            rl.conv2d_backprop_filter(x, dy, filter_shape=w.shape, **attrs).numpy(),
        )

    compiled = run()
    _numpy_kernels(monkeypatch)
    for got, expected in zip(compiled, run()):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("chunk_elements", [1, 2 * 7 * 8 * 6 * 16])  # 1 image; 2, 2 and 1
def test_conv_ops_over_a_batch_cut_into_chunks(chunk_elements, monkeypatch):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((5, 8, 10, 16)), rng.standard_normal((2, 3, 16, 4))
    dy = rng.standard_normal((5, 7, 8, 4))
    monkeypatch.setattr(_conv_jit, "_CHUNK", chunk_elements)
    tight = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(rl.conv2d(x, w).numpy(), naive_conv(x, w), **tight)
    d_x = rl.conv2d_backprop_input(w, dy, input_shape=x.shape).numpy()
    np.testing.assert_allclose(d_x, naive_backprop_input(w, dy, x.shape), **tight)
    d_w = rl.conv2d_backprop_filter(x, dy, filter_shape=w.shape).numpy()
    np.testing.assert_allclose(d_w, naive_backprop_filter(x, dy, w.shape), **tight)


@pytest.mark.parametrize("strided", [False, True])
def test_compiled_input_gradient_writes_into_out(strided):
    rng = np.random.default_rng(3)
    w, dy = rng.standard_normal((3, 3, 2, 4)), rng.standard_normal((2, 5, 5, 4))
    buffer = np.full((2, 5, 5, 4 if strided else 2), np.nan)
    out = buffer[..., ::2] if strided else buffer
    op = rl.ops.REGISTRY["conv2d_backprop_input"]
    assert op.kernel(np, w, dy, input_shape=(2, 5, 5, 2), padding="same", out=out) is out
    expected = naive_backprop_input(w, dy, (2, 5, 5, 2), padding="same")
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    if strided:
        assert np.isnan(buffer[..., 1::2]).all()


def test_compiled_conv_gradients_in_a_traced_step_match_eager():
    rng = np.random.default_rng(4)
    x = rl.asarray(rng.standard_normal((2, 8, 8, 16)).astype(np.float32))
    w = rl.Variable(rng.standard_normal((3, 3, 16, 4)).astype(np.float32))

    def gradients():
        with rl.GradientTape() as tape:
            tape.watch(x)
            loss = rl.sum(rl.conv2d(x, w, padding="same") ** 2)
        return tape.gradient(loss, [x, w])

    eager = gradients()
    traced = rl.function(gradients)()
    for a, b in zip(eager, traced):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)


def test_other_inputs_are_left_to_the_numpy_kernels():
    x = np.zeros((2, 4, 4, 16), np.float32)
    assert _conv_jit.applies(x, x)
    assert not _conv_jit.applies(x.astype(np.float16))
    assert not _conv_jit.applies(x.astype(np.int32))
    assert not _conv_jit.applies(x, x.astype(np.float64))
    assert not _conv_jit.applies(x.transpose(0, 2, 1, 3))
    assert not _conv_jit.applies(np.zeros((0, 4, 4, 16), np.float32))
