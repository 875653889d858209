"""The compiled GRU loop (rillet/ops/_rnn_jit.py): values, reserve and gradients against the
NumPy loop of rillet.ops.rnn (which shares no code with it) and against PyTorch's GRU, on
random sizes, both reset_after layouts, masks, go_backwards and streaming frames; its tanh
against float64's; and which calls it takes."""

import itertools

import numpy as np
import pytest

import rillet as rl
from rillet.ops import _rnn_jit, rnn
from tests.ops.opinfo.rnn import gru_reference

pytestmark = pytest.mark.skipif(
    _rnn_jit._gru_loop.compiled is None, reason="compiled loops are off here"
)

TOL = {"rtol": 2e-5, "atol": 2e-6}  # float32, sums in another order, tanh within 6 ulp


def _args(rng, batch, steps, features, units, reset_after=True, bias=True):
    def r(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    return [
        r(batch, steps, features),
        r(batch, units, scale=0.5),
        r(features, 3 * units, scale=1.0 / np.sqrt(features)),
        r(units, 3 * units, scale=1.0 / np.sqrt(units)),
        (r(2, 3 * units, scale=0.3) if reset_after else r(3 * units, scale=0.3)) if bias else None,
    ]


def _numpy_path(monkeypatch, *args, **attrs):
    """gru_forward's kernel with the compiled loop switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(_rnn_jit, "applies", lambda *a: False)
        return rnn.gru_forward.kernel(np, *args, **attrs)


def _mask(rng, batch, steps):
    mask = rng.random((batch, steps)) > 0.35
    mask[0, 0] = False  # a masked first step: the output before any step is zeros
    return mask


CASES = list(itertools.product([True, False], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("reset_after, masked, go_backwards, zero_output", CASES)
@pytest.mark.parametrize("steps", [1, 6])
def test_compiled_loop_matches_numpy_loop(rng, monkeypatch, steps, reset_after, masked,
                                          go_backwards, zero_output):  # fmt: skip
    batch, features, units = int(rng.integers(1, 5)), int(rng.integers(1, 9)), 7
    args = _args(rng, batch, steps, features, units, reset_after)
    mask = _mask(rng, batch, steps) if masked else None
    attrs = {"go_backwards": go_backwards, "zero_output_for_mask": zero_output,
             "reset_after": reset_after}  # fmt: skip
    assert _rnn_jit.applies(args[0], args[1], args[3], "tanh", "sigmoid")
    got = rnn.gru_forward.kernel(np, *args, mask, **attrs)
    want = _numpy_path(monkeypatch, *args, mask, **attrs)
    for a, b, name in zip(got, want, ("outputs", "h", "reserve")):
        assert a.dtype == np.float32 and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, **TOL, err_msg=name)


@pytest.mark.parametrize("units", [1, 4, 13, 32])
@pytest.mark.parametrize("batch", [1, 3, _rnn_jit.MAX_BATCH])
def test_compiled_loop_matches_reference_on_random_sizes(rng, batch, units):
    """Units that are and are not multiples of the loop's four rows, without a bias."""
    steps, features = int(rng.integers(2, 12)), int(rng.integers(1, 20))
    for reset_after in (True, False):
        args = _args(rng, batch, steps, features, units, reset_after, bias=units != 13)
        outputs, h, _ = rnn.gru_forward.kernel(np, *args, None, reset_after=reset_after)
        expected, h_expected = gru_reference(*[None if a is None else a.astype(np.float64)
                                               for a in args], reset_after=reset_after)  # fmt: skip
        np.testing.assert_allclose(outputs, expected, **TOL)
        np.testing.assert_allclose(h, h_expected, **TOL)


@pytest.mark.parametrize("steps", [1, 9])
def test_compiled_loop_matches_torch_gru(rng, steps):
    torch = pytest.importorskip("torch")
    x, h0, kernel, recurrent, bias = _args(rng, 2, steps, 6, 5)
    order = np.r_[5:10, 0:5, 10:15]  # Keras z, r, h; torch r, z, n
    gru = torch.nn.GRU(6, 5, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(kernel[:, order].T.copy()))
        gru.weight_hh_l0.copy_(torch.from_numpy(recurrent[:, order].T.copy()))
        gru.bias_ih_l0.copy_(torch.from_numpy(bias[0, order].copy()))
        gru.bias_hh_l0.copy_(torch.from_numpy(bias[1, order].copy()))
        expected, h_expected = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    outputs, h = rnn.gru_sequence(*(rl.asarray(a) for a in (x, h0, kernel, recurrent, bias)))
    np.testing.assert_allclose(outputs.numpy(), expected.numpy(), **TOL)
    np.testing.assert_allclose(h.numpy(), h_expected[0].numpy(), **TOL)


@pytest.mark.parametrize(
    "reset_after, masked, steps", [(True, False, 5), (False, True, 5), (True, False, 1)]
)
def test_gradients_through_the_compiled_reserve(rng, monkeypatch, reset_after, masked, steps):
    """The backward op reads the compiled loop's reserve (or a streaming frame's, one
    unmasked step) as it reads the NumPy loop's."""
    args = _args(rng, 2, steps, 3, 6, reset_after)
    mask = _mask(rng, 2, steps) if masked else None
    g_seq, g_h = rng.standard_normal((2, steps, 6)), rng.standard_normal((2, 6))

    def grads():
        tensors = [rl.asarray(a) for a in args]
        with rl.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            outputs, h = rnn.gru_sequence(
                *tensors, None if mask is None else rl.asarray(mask), go_backwards=True,
                reset_after=reset_after,
            )  # fmt: skip
            loss = rl.sum(outputs * rl.asarray(g_seq, dtype="float32")) + rl.sum(
                h * rl.asarray(g_h, dtype="float32")
            )
        return [g.numpy() for g in tape.gradient(loss, tensors)]

    compiled = grads()
    with monkeypatch.context() as patch:
        patch.setattr(_rnn_jit, "applies", lambda *a: False)
        numpy_path = grads()
    for got, want in zip(compiled, numpy_path):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_column_major_and_strided_weights(rng, monkeypatch):
    """A column-major recurrent kernel (the orthogonal initializer's) and a strided input."""
    steps = _rnn_jit.MIN_STEPS_TO_COPY
    x, h0, kernel, recurrent, bias = _args(rng, 2, steps, 5, 8)
    wide = np.zeros((2, steps, 10), np.float32)
    wide[:, :, ::2] = x
    args = [wide[:, :, ::2], h0, np.asfortranarray(kernel), np.asfortranarray(recurrent), bias]
    assert _rnn_jit.applies(args[0], h0, args[3], "tanh", "sigmoid")
    got = rnn.gru_forward.kernel(np, *args, None)
    want = _numpy_path(monkeypatch, x, h0, kernel, recurrent, bias, None)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, **TOL)


def test_compiled_source_runs_as_python(rng):
    """The loop's Python source (the path where Numba is missing) computes what the compiled
    loop computes."""
    x, h0, kernel, recurrent, bias = _args(rng, 2, 3, 2, 5)
    mask, results = _mask(rng, 2, 3), []
    for run in (_rnn_jit._gru_loop.compiled, _rnn_jit._gru_loop.py_func):
        no_projection = _rnn_jit._NO_PROJECTION
        results.append(run(x, kernel, no_projection, h0, recurrent, bias, mask, True, False, True))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _gru_tanh(x: np.ndarray, candidate_bias: float = 0.0) -> np.ndarray:
    """The loop's tanh of ``x + candidate_bias``, through a one-unit, one-step GRU with
    z = 0, whose new state is its candidate."""
    kernel = np.array([[0.0, 0.0, 1.0]], np.float32)
    recurrent = np.zeros((1, 3), np.float32)
    bias = np.array([[-1e30, 0.0, candidate_bias], [0.0, 0.0, 0.0]], np.float32)
    x = x.astype(np.float32).reshape(-1, 1, 1)
    out = []
    for rows in range(0, x.shape[0], _rnn_jit.MAX_BATCH):
        chunk = x[rows : rows + _rnn_jit.MAX_BATCH]
        h0 = np.zeros((chunk.shape[0], 1), np.float32)
        out.append(rnn.gru_forward.kernel(np, chunk, h0, kernel, recurrent, bias, None)[1])
    return np.concatenate(out).reshape(-1)


def test_tanh_is_within_six_ulp_and_keeps_ieee_specials():
    grid = np.concatenate([np.linspace(-10, 10, 801), np.geomspace(1e-7, 9.5, 200)])
    grid = grid.astype(np.float32)
    exact = np.tanh(grid.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(_gru_tanh(grid) - exact) / ulp) <= 6.0
    np.testing.assert_array_equal(_gru_tanh(np.array([0.0, 40.0, -1e6])), [0.0, 1.0, -1.0])
    zero = np.zeros(1)
    assert _gru_tanh(zero, np.inf)[0] == 1.0 and _gru_tanh(zero, -np.inf)[0] == -1.0
    assert np.isnan(_gru_tanh(zero, np.nan)[0])


@pytest.mark.parametrize(
    "change, why",
    [
        ({"dtype": np.float64}, "float64 keeps the NumPy loop's precision"),
        ({"batch": _rnn_jit.MAX_BATCH + 1}, "large batches are BLAS's"),
        ({"activation": "relu"}, "other activations"),
        ({"recurrent_activation": "hard_sigmoid"}, "other recurrent activations"),
        ({"batch": 0}, "an empty batch"),
        ({"order": "F"}, "a column-major kernel over a few steps is not worth its copy"),
    ],
)
def test_which_calls_run_compiled(change, why):
    def arrays(dtype=np.float32, batch=2, order="C", steps=3):
        x, h0 = np.zeros((batch, steps, 4), dtype), np.zeros((batch, 5), dtype)
        return x, h0, np.zeros((5, 15), dtype, order=order)

    activations = (change.pop("activation", "tanh"), change.pop("recurrent_activation", "sigmoid"))
    assert _rnn_jit.applies(*arrays(), "tanh", "sigmoid")
    assert not _rnn_jit.applies(*arrays(**change), *activations), why
    long = {"order": "F", "steps": _rnn_jit.MIN_STEPS_TO_COPY}
    assert _rnn_jit.applies(*arrays(**long), "tanh", "sigmoid")


def test_empty_sequence(rng):
    args = _args(rng, 2, 0, 3, 4)
    outputs, h, reserve = rnn.gru_forward.kernel(np, *args, None)
    assert outputs.shape == (2, 0, 4) and reserve.shape == (0, 2, 20)
    np.testing.assert_array_equal(h, args[1])


@pytest.mark.parametrize("batch", [1, 3])
def test_a_streaming_frame_equals_one_step_of_the_sequence_loop(rng, batch):
    """One unmasked step (a streaming frame) runs its own kernel: the same values, bit for
    bit, as the sequence loop's step, reserve included, and its Python source agrees."""
    x, h0, kernel, recurrent, bias = _args(rng, batch, 1, 6, 9)
    got = _rnn_jit.gru_forward(np, x, h0, kernel, recurrent, bias, None, False, False, True)
    want = _rnn_jit._gru_loop.compiled(
        x, kernel, _rnn_jit._NO_PROJECTION, h0, recurrent, bias, _rnn_jit._NO_MASK,
        False, False, True,
    )  # fmt: skip
    for a, b, name in zip(got, want, ("outputs", "h", "reserve")):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    as_python = [np.empty_like(a) for a in got]
    _rnn_jit._gru_frame.py_func(x[:, 0], kernel, h0, recurrent, bias, *as_python)
    for a, b in zip(as_python, got):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class _Spec:
    def __init__(self, a):
        self.shape, self.dtype = a.shape, a.dtype


@pytest.mark.parametrize("with_bias", [True, False])
def test_a_compiled_graph_runs_a_frame_through_its_specialized_call(rng, with_bias):
    x, h0, kernel, recurrent, bias = _args(rng, 2, 1, 4, 5, bias=with_bias)
    arrays = [x, h0, kernel, recurrent, bias, None]
    specs = [None if a is None else _Spec(a) for a in arrays]
    run = _rnn_jit.specialize_frame(*specs)
    assert run is not None
    got, want = run(*arrays), rnn.gru_forward.kernel(np, *arrays)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change",
    [
        {"steps": 2},
        {"batch": _rnn_jit.MAX_BATCH + 1},
        {"dtype": np.float64},
        {"mask": True},
        {"reset_after": False},
        {"activation": "relu"},
    ],
)
def test_only_frames_get_a_specialized_call(rng, change):
    batch, steps = change.get("batch", 1), change.get("steps", 1)
    args = _args(rng, batch, steps, 4, 5, change.get("reset_after", True))
    args = [a.astype(change.get("dtype", np.float32)) for a in args]
    mask = _Spec(np.ones((batch, steps), bool)) if change.get("mask") else None
    attrs = {"reset_after": change.get("reset_after", True),
             "activation": change.get("activation", "tanh")}  # fmt: skip
    assert _rnn_jit.specialize_frame(*[_Spec(a) for a in args], mask, **attrs) is None
