"""What the keyword-spotting steps share: the classes, the front end, noise, and the data files.

A data set is two files in one folder:

* ``features.npz``: 1 s clips as log-mel features ``x`` (``[clips, 98, 40]``, quantized to
  uint8 with ``x_low``/``x_step``), class ``y``, ``voice`` index into ``voices``, ``split``
  (0 train, 1 validation, 2 test) and the frames where the word starts and ends
  (``word_start``, ``word_end``; 0 for silence);
* ``utterances.npz``: the clean words the clips were made from (``audio`` int16 at 16 kHz, all
  words end to end, cut at ``starts``), with ``word``, ``voice`` and ``split``; the streaming
  demo builds its long recording from the test voices' words.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

import rillet as rl

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
CLASSES = (*KEYWORDS, SILENCE, UNKNOWN)
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "learn", "follow",
    "forward", "backward", "visual", "yellow", "note", "under", "often", "left-handed",
)  # fmt: skip
SPLITS = ("train", "validation", "test")

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s clips, as in Speech Commands
FRAME_LENGTH, FRAME_STEP = 400, 160  # 25 ms windows every 10 ms
NUM_MEL_BINS = 40
CLIP_FRAMES = 1 + (CLIP_SAMPLES - FRAME_LENGTH) // FRAME_STEP  # 98
FEATURE_KWARGS = dict(num_mel_bins=NUM_MEL_BINS, lower_edge_hertz=40.0, upper_edge_hertz=7600.0)

HERE = Path(__file__).resolve().parent
GENERATED_DIR = HERE / "data" / "generated"
SHIPPED_DIR = HERE / "data" / "shipped"
OUTPUT_DIR = HERE / "output"
MODEL_PATH = OUTPUT_DIR / "kws.rillet"


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-mel features ``[..., frames, 40]`` of float audio ``[..., samples]`` at 16 kHz."""
    audio = np.asarray(audio, dtype=np.float32)
    features = rl.signal.log_mel_spectrogram(audio, SAMPLE_RATE, FRAME_LENGTH, FRAME_STEP,
                                             **FEATURE_KWARGS)  # fmt: skip
    return features.numpy()


def streaming_log_mel() -> rl.signal.StreamingLogMel:
    """The same front end, fed chunk by chunk."""
    return rl.signal.StreamingLogMel(FRAME_LENGTH, FRAME_STEP, SAMPLE_RATE, **FEATURE_KWARGS)


# Log-mel values of speech and noise between these bounds survive uint8 quantization with a
# step of 0.07 (natural-log units), far below the frame-to-frame noise of the features.
_LOW, _HIGH = -14.0, 7.0


def quantize(features: np.ndarray) -> tuple[np.ndarray, float, float]:
    step = (_HIGH - _LOW) / 255.0
    q = np.clip(np.round((features - _LOW) / step), 0, 255).astype(np.uint8)
    return q, _LOW, step


def dequantize(q: np.ndarray, low: float, step: float) -> np.ndarray:
    return (q.astype(np.float32) * np.float32(step) + np.float32(low)).astype(np.float32)


def colored_noise(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Unit-RMS noise with a random spectral slope (white to brown), sometimes with mains hum."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.fft.rfftfreq(samples, 1.0 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-rng.uniform(0.0, 1.0))  # amplitude ~ f^-a
    noise = np.fft.irfft(spectrum, samples)
    if rng.random() < 0.3:
        t = np.arange(samples) / SAMPLE_RATE
        mains = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3))
        noise = noise / noise.std() + rng.uniform(0.2, 1.0) * hum / hum.std()
    return noise / (noise.std() + 1e-12)


def mix(rng: np.random.Generator, speech: np.ndarray | None,
        samples: int) -> tuple[np.ndarray, int, int]:  # fmt: skip
    """A ``samples``-long clip: ``speech`` (float, any level) placed at a random offset and
    scaled to -35..-12 dBFS RMS, plus noise at a random SNR of 3..30 dB (noise alone, at
    -60..-20 dBFS, when ``speech`` is None). Returns the clip and where the speech starts and
    ends (samples; 0, 0 for noise alone)."""
    if speech is None:
        level = 10 ** (rng.uniform(-60, -20) / 20)
        return (level * colored_noise(rng, samples)).astype(np.float32), 0, 0
    clip = np.zeros(samples)
    speech = speech[:samples]
    offset = int(rng.integers(0, samples - len(speech) + 1))
    rms = np.sqrt(np.mean(speech**2)) + 1e-12
    level = 10 ** (rng.uniform(-35, -12) / 20)
    clip[offset : offset + len(speech)] = speech * (level / rms)
    noise_level = level / 10 ** (rng.uniform(3, 30) / 20)
    clip += noise_level * colored_noise(rng, samples)
    return np.clip(clip, -1.0, 1.0).astype(np.float32), offset, offset + len(speech)


def frame_of(sample: int) -> int:
    """The first frame whose window reaches ``sample`` (frame ``k`` covers samples
    ``[160 k, 160 k + 400)``)."""
    return max(0, -(-(sample - FRAME_LENGTH) // FRAME_STEP))


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono 16-bit WAV bytes as float samples in [-1, 1] and the sample rate."""
    with wave.open(io.BytesIO(data)) as f:
        rate, frames = f.getframerate(), f.readframes(f.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0, rate


def write_wav(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    samples = np.clip(np.round(np.asarray(audio) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())


def data_dir() -> Path:
    """The generated set when there is one, else the set shipped in the repository."""
    if (GENERATED_DIR / "features.npz").exists():
        return GENERATED_DIR
    return SHIPPED_DIR


def load_features(folder: Path | None = None) -> dict:
    """The clips of a data set: ``x`` float32 ``[clips, 98, 40]``, ``y``, ``voice``, ``split``
    and ``voices`` (names)."""
    with np.load((folder or data_dir()) / "features.npz") as f:
        data = {key: f[key] for key in f.files}
    data["x"] = dequantize(data["x"], float(data.pop("x_low")), float(data.pop("x_step")))
    return data


def load_utterances(folder: Path | None = None) -> dict:
    """The clean words: ``words`` (list of float arrays at 16 kHz), ``word``, ``voice``,
    ``split`` and ``voices``."""
    with np.load((folder or data_dir()) / "utterances.npz") as f:
        data = {key: f[key] for key in f.files}
    audio = data.pop("audio").astype(np.float32) / 32768.0
    data["words"] = np.split(audio, data.pop("starts")[1:])
    return data
