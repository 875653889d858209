"""rl.signal against SciPy and NumPy references: framing, windows, STFT, mel, MFCC, streaming."""

import numpy as np
import pytest
import scipy.fft
import scipy.signal

import rillet as rl
from rillet.errors import ArgumentError, AxisError, DTypeError, ShapeError
from rillet.testing import check_grads


def _np(x):
    return np.asarray(x)


# ------------------------------------------------------------------------ frame and windows


@pytest.mark.parametrize("pad_end", [False, True])
@pytest.mark.parametrize("length", [7, 10, 11])
def test_frame_matches_stride_tricks(rng, length, pad_end):
    x = rng.standard_normal((2, length, 3))
    padded = np.pad(x, ((0, 0), (0, 8), (0, 0)), constant_values=5.0) if pad_end else x
    windows = np.lib.stride_tricks.sliding_window_view(padded, 4, axis=1)[:, ::3]
    expected = windows[:, : -(-length // 3)] if pad_end else windows  # (2, frames, 3, 4)
    got = rl.signal.frame(x, 4, 3, pad_end=pad_end, pad_value=5.0, axis=1)
    np.testing.assert_array_equal(_np(got), np.moveaxis(expected, 3, 2))


def test_frame_shorter_than_frame_gives_no_frames():
    assert rl.signal.frame(np.zeros(3), 4, 1).shape == (0, 4)


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("length", [1, 2, 9, 16])
def test_windows_match_scipy(length, periodic):
    for fn, name in [(rl.signal.hann_window, "hann"), (rl.signal.hamming_window, "hamming")]:
        got = fn(length, periodic=periodic, dtype=rl.float64)
        expected = scipy.signal.get_window(name, length, fftbins=periodic)
        np.testing.assert_allclose(_np(got), expected, atol=1e-12)


# ------------------------------------------------------------------------------------- STFT


@pytest.mark.parametrize(
    ("frame_length", "frame_step", "fft_length"), [(16, 4, None), (20, 8, 32), (9, 3, 9)]
)
def test_stft_matches_scipy(rng, frame_length, frame_step, fft_length):
    x = rng.standard_normal((2, 100))
    real, imag = rl.signal.stft(x, frame_length, frame_step, fft_length)
    window = scipy.signal.get_window("hann", frame_length)
    _, _, z = scipy.signal.stft(
        x, window=window, nperseg=frame_length, noverlap=frame_length - frame_step,
        nfft=fft_length or 1 << (frame_length - 1).bit_length(), boundary=None, padded=False,
        detrend=False, scaling="spectrum",
    )  # fmt: skip
    expected = np.swapaxes(z, -1, -2) * window.sum()  # scipy divides by the window's sum
    np.testing.assert_allclose(_np(real), expected.real, atol=1e-10)
    np.testing.assert_allclose(_np(imag), expected.imag, atol=1e-10)


def test_stft_float32_keeps_dtype_and_traces(rng):
    x = rng.standard_normal((3, 64)).astype(np.float32)
    eager = rl.signal.stft(x, 16, 8)
    traced = rl.function(lambda s: rl.signal.stft(s, 16, 8))(rl.asarray(x))
    for a, b in zip(eager, traced):
        assert a.dtype == rl.float32
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5)


@pytest.mark.parametrize(("frame_length", "frame_step"), [(16, 4), (32, 8), (12, 6)])
def test_inverse_stft_reconstructs_the_interior(rng, frame_length, frame_step):
    x = rng.standard_normal(200)
    inverse = rl.signal.inverse_stft_window_fn(frame_step)
    real, imag = rl.signal.stft(x, frame_length, frame_step)
    y = _np(rl.signal.inverse_stft(real, imag, frame_length, frame_step, window_fn=inverse))
    edge = frame_length - frame_step
    np.testing.assert_allclose(y[edge : len(y) - edge], x[edge : len(y) - edge], atol=1e-10)


def test_inverse_stft_matches_irfft_overlap_add(rng):
    real, imag = rng.standard_normal((2, 5, 9))
    imag[:, [0, -1]] = 0.0  # irfft ignores these
    frames = np.fft.irfft(real + 1j * imag, 16)[:, :12] * scipy.signal.get_window("hann", 12)
    expected = np.zeros(4 * 4 + 12)
    for i, f in enumerate(frames):
        expected[4 * i : 4 * i + 12] += f
    got = rl.signal.inverse_stft(real, imag, 12, 4, fft_length=16)
    np.testing.assert_allclose(_np(got), expected, atol=1e-12)


# ------------------------------------------------------------------------- mel and MFCC


def _mel_reference(num_mel, num_bins, rate, lower, upper):
    """TF's formula written out bin by bin."""
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(mel(lower), mel(upper), num_mel + 2)
    out = np.zeros((num_bins, num_mel))
    for i in range(1, num_bins):
        m = mel(i * (rate / 2) / (num_bins - 1))
        for j in range(num_mel):
            lo, mid, hi = edges[j : j + 3]
            out[i, j] = max(0.0, min((m - lo) / (mid - lo), (hi - m) / (hi - mid)))
    return out


_MEL_CASES = [
    (20, 129, 8000, 125.0, 3800.0),
    (40, 257, 16000, 20.0, 8000.0),
    (3, 17, 1000, 0.0, 400.0),
]


@pytest.mark.parametrize("args", _MEL_CASES)
def test_mel_matrix_matches_tf_formula(args):
    got = rl.signal.linear_to_mel_weight_matrix(*args, dtype=rl.float64)
    np.testing.assert_allclose(_np(got), _mel_reference(*args), atol=1e-12)


def test_mfccs_match_scipy_dct(rng):
    x = rng.standard_normal((4, 7, 20))
    expected = scipy.fft.dct(x, type=2, axis=-1) / np.sqrt(2 * 20)
    got = rl.signal.mfccs_from_log_mel_spectrograms(x)
    np.testing.assert_allclose(_np(got), expected, atol=1e-12)


def test_log_mel_matches_numpy_pipeline(rng):
    x = rng.standard_normal(800)
    got = rl.signal.log_mel_spectrogram(x, 8000, 64, 32, num_mel_bins=10)
    frames = np.lib.stride_tricks.sliding_window_view(x, 64)[::32]
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", 64))) ** 2
    expected = np.log(power @ _mel_reference(10, 33, 8000, 20.0, 4000.0) + 1e-6)
    np.testing.assert_allclose(_np(got), expected, atol=1e-9)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_log_mel_gradients_match_finite_differences(rng, power):
    x = rng.standard_normal((1, 40))
    check_grads(lambda s: rl.signal.log_mel_spectrogram(
        s, 8000, 16, 8, num_mel_bins=3, lower_edge_hertz=300.0, power=power), [x])  # fmt: skip


def test_inverse_stft_gradients_match_finite_differences(rng):
    real, imag = rng.standard_normal((2, 3, 5))
    check_grads(lambda r, i: rl.signal.inverse_stft(r, i, 8, 4), [real, imag])


# ------------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("chunks", [[1000], [1, 2, 397, 160, 5, 435], [17] * 59, [0, 1000, 0]])
def test_streaming_log_mel_equals_batch(rng, chunks):
    audio = rng.standard_normal((2, sum(chunks))).astype(np.float32)
    stream = rl.signal.StreamingLogMel(400, 160, sample_rate=16000, num_mel_bins=20)
    pieces, start = [], 0
    for size in chunks:
        pieces.append(_np(stream(audio[:, start : start + size])))
        start += size
    batch = rl.signal.log_mel_spectrogram(audio, 16000, 400, 160, num_mel_bins=20)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), _np(batch), atol=1e-4)


def test_streaming_reset_starts_a_new_stream(rng):
    audio = rng.standard_normal(700)
    stream = rl.signal.StreamingLogMel(400, 160)
    first = _np(stream(audio))
    stream(audio[:123])
    stream.reset()
    np.testing.assert_array_equal(_np(stream(audio)), first)


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: rl.signal.frame(np.zeros(8), 0, 1), ArgumentError, "frame_length=0"),
        (
            lambda: rl.signal.frame(np.zeros(8), 4, 2.5),
            ArgumentError,
            "frame_step must be a positive int",
        ),
        (lambda: rl.signal.frame(np.zeros(8), 4, 2, axis=1), AxisError, "axis 1"),
        (lambda: rl.signal.hann_window(4, dtype=rl.int32), DTypeError, "int32"),
        (
            lambda: rl.signal.stft(np.zeros(8, np.int32), 4, 2),
            DTypeError,
            "signals has dtype int32",
        ),
        (lambda: rl.signal.stft(np.zeros(64), 16, 4, fft_length=8), ArgumentError, "fft_length=8"),
        (lambda: rl.signal.stft(np.zeros(64), 16, 4, window_fn="hann"), ArgumentError, "window_fn"),
        (
            lambda: rl.signal.inverse_stft(np.zeros((3, 9)), np.zeros((3, 8)), 16, 4),
            ShapeError,
            "imag",
        ),
        (
            lambda: rl.signal.linear_to_mel_weight_matrix(upper_edge_hertz=5000.0),
            ArgumentError,
            "Nyquist",
        ),
        (
            lambda: rl.signal.linear_to_mel_weight_matrix(lower_edge_hertz=4000.0),
            ArgumentError,
            "lower_edge_hertz=4000",
        ),
        (
            lambda: rl.signal.linear_to_mel_weight_matrix(num_mel_bins=0),
            ArgumentError,
            "num_mel_bins",
        ),
        (
            lambda: rl.signal.log_mel_spectrogram(np.zeros(64), 8000, 16, 8, power=3),
            ArgumentError,
            "power",
        ),
        (lambda: rl.signal.StreamingLogMel(400, 160, pad_end=True), ArgumentError, "pad_end"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_streaming_rejects_a_chunk_of_another_shape():
    stream = rl.signal.StreamingLogMel(400, 160)
    stream(np.zeros((2, 100)))
    with pytest.raises(ShapeError, match=r"leading shape \(3,\)"):
        stream(np.zeros((3, 100)))
