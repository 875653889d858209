"""The keyword-spotting example (examples/kws): the shipped data set, the data-making helpers,
a short training run, streaming equivalence and the detector."""

import shutil

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import rillet as rl
from examples.kws import common as C
from examples.kws import make_dataset, stream, train


@pytest.fixture(scope="module")
def shipped():
    return C.load_features(C.SHIPPED_DIR)


@pytest.fixture(scope="module")
def trained(shipped):
    """A small model trained briefly on the shipped training clips (one BLAS thread: the
    matrices are tiny, and a second thread only waits on a busy machine)."""
    with threadpool_limits(1):
        return train.train(
            shipped, epochs=8, batch_size=16, learning_rate=1e-2, verbose=0, filters=16, units=24
        )


def test_shipped_features_have_every_class_in_every_split(shipped):
    x, y, split = shipped["x"], shipped["y"], shipped["split"]
    assert x.shape[1:] == (C.CLIP_FRAMES, C.NUM_MEL_BINS) and x.dtype == np.float32
    assert np.isfinite(x).all() and len(x) == len(y) == len(split)
    for s in range(3):
        assert set(y[split == s].tolist()) == set(range(len(C.CLASSES)))


def test_shipped_splits_share_no_voice(shipped):
    voices = [set(shipped["voice"][shipped["split"] == s].tolist()) for s in range(3)]
    assert not voices[0] & voices[1] and not voices[0] & voices[2] and not voices[1] & voices[2]
    accents = [{str(shipped["voices"][v]).split("+")[0] for v in vs} for vs in voices]
    assert not accents[0] & (accents[1] | accents[2])


def test_shipped_words_are_test_voices_at_16khz():
    words = C.load_utterances(C.SHIPPED_DIR)
    assert (words["split"] == 2).all() and set(C.KEYWORDS) <= set(words["word"].tolist())
    lengths = np.array([len(w) for w in words["words"]]) / C.SAMPLE_RATE
    assert 0.1 < lengths.min() and lengths.max() < 1.2


def test_quantization_error_is_at_most_half_a_step(rng):
    features = rng.uniform(-13.9, 6.9, size=(3, 98, 40))
    q, low, step = C.quantize(features)
    assert q.dtype == np.uint8
    assert np.abs(C.dequantize(q, low, step) - features).max() <= step / 2 + 1e-6


def test_resample_keeps_a_tone_frequency_and_amplitude():
    t = np.arange(22050) / 22050
    tone = make_dataset.resample(0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    assert len(tone) == round((22050 + 512) * 16000 / 22050)
    spectrum = np.abs(np.fft.rfft(tone[400:-400] * np.hanning(len(tone) - 800)))
    peak_hz = np.argmax(spectrum) * C.SAMPLE_RATE / (len(tone) - 800)
    assert abs(peak_hz - 440) < 2 and abs(np.abs(tone[1000:-1000]).max() - 0.5) < 0.01


def test_trim_cuts_silence_around_a_word():
    audio = np.zeros(8000)
    audio[3000:4000] = 0.5
    assert len(make_dataset.trim(audio, margin=100)) == 1200


def test_mix_reaches_the_requested_levels(rng):
    word = np.sin(np.linspace(0, 400, 6000))
    clip, start, end = C.mix(rng, word, C.CLIP_SAMPLES)
    outside = np.concatenate([clip[:start], clip[end:]])
    assert end - start == len(word) and np.std(outside) < np.std(clip[start:end])
    assert clip.shape == (C.CLIP_SAMPLES,) and clip.dtype == np.float32
    rms_db = 20 * np.log10(np.sqrt(np.mean(clip**2)))
    assert -45 < rms_db < -10  # the word fills 6000 of 16000 samples
    silence, start, end = C.mix(rng, None, C.CLIP_SAMPLES)
    assert start == end == 0
    assert 20 * np.log10(np.sqrt(np.mean(silence**2))) < -19


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synthesize_speaks_a_word_at_16khz():
    word = make_dataset.synthesize((0, "en-us", "yes", 175, 50))
    assert word.dtype == np.int16 and 0.15 < len(word) / C.SAMPLE_RATE < 1.0


def test_short_training_beats_chance_on_held_out_voices(trained):
    _, scores = trained
    assert scores["test"] > 3 / len(C.CLASSES)  # chance is 1/12


def test_streaming_frames_equal_the_whole_recording(trained):
    model, _ = trained
    audio, events = stream.build_recording(C.load_utterances(C.SHIPPED_DIR), seconds=4.0)
    assert events and audio.shape == (4 * C.SAMPLE_RATE,)
    _, logits = stream.run_stream(model, audio, stream.Detector(), chunk=250)
    whole = model(C.log_mel(audio)[None]).numpy()[0]
    frames = 1 + (len(audio) - C.FRAME_LENGTH) // C.FRAME_STEP
    assert logits.shape == whole.shape == (frames, len(C.CLASSES))
    np.testing.assert_allclose(logits, whole, atol=1e-4)


def _posteriors(word: int, strength: float) -> np.ndarray:
    p = np.full(len(C.CLASSES), (1 - strength) / (len(C.CLASSES) - 1))
    p[word] = strength
    return p


def test_detector_reports_once_per_word_and_rearms_after_release():
    detector = stream.Detector(smooth=2, threshold=0.6, release=0.3, refractory=5)
    quiet = _posteriors(C.CLASSES.index(C.SILENCE), 0.9)
    frames = [quiet] * 3 + [_posteriors(2, 0.9)] * 20 + [quiet] * 10 + [_posteriors(4, 0.9)] * 3
    found = [(t, w) for t, p in enumerate(frames) if (w := detector(p)) is not None]
    assert found == [(4, 2), (34, 4)]


def test_detector_ignores_scores_under_threshold():
    detector = stream.Detector(smooth=1, threshold=0.6)
    assert all(detector(_posteriors(1, 0.55)) is None for _ in range(50))


def test_score_counts_hits_misses_and_false_alarms():
    events = [stream.Event(1.0, 1.4, "yes"), stream.Event(3.0, 3.5, "cat"),
              stream.Event(5.0, 5.3, "go")]  # fmt: skip
    detections = [(1.5, "yes"), (2.0, "yes"), (3.6, "go"), (7.0, "go")]
    assert stream.score(events, detections) == {
        "keywords": 2, "hits": 1, "misses": 1, "false_alarms": 3,
    }  # fmt: skip


def test_frame_end_time_matches_the_front_end():
    front = C.streaming_log_mel()
    got = front(np.zeros(C.FRAME_LENGTH + 3 * C.FRAME_STEP, np.float32))
    assert got.shape[0] == 4 and stream.frame_end_time(3) * C.SAMPLE_RATE == (
        C.FRAME_LENGTH + 3 * C.FRAME_STEP
    )


def test_model_streams_with_default_conversion():
    model = train.build_model(filters=4, units=3)
    streaming = rl.streaming.to_streaming(model)
    x = np.random.default_rng(1).normal(size=(1, 6, C.NUM_MEL_BINS)).astype(np.float32)
    frames = np.concatenate([streaming(x[:, t : t + 1]).numpy() for t in range(6)], axis=1)
    np.testing.assert_allclose(frames, model(x).numpy(), atol=1e-5)


def test_make_clips_labels_splits_and_word_positions():
    rate = C.SAMPLE_RATE
    words = [np.sin(np.arange(n) / 5.0) for n in (rate // 2, rate // 4, rate // 3)]
    utterances = {
        "words": words,
        "word": np.array(["yes", "cat", "go"]),
        "voice": np.array([0, 0, 1]),
        "split": np.array([0, 0, 2]),
        "voices": np.array(["en-us", "nl+f2"]),
    }
    clips = make_dataset.make_clips(utterances, seed=0)
    yes, unknown, go, silence = (C.CLASSES.index(w) for w in ("yes", C.UNKNOWN, "go", C.SILENCE))
    copies = make_dataset.TRAIN_COPIES
    assert clips["y"].tolist() == [yes] * copies + [unknown] * copies + [go] + [silence] * (
        copies + 1
    )
    assert clips["split"].tolist() == [0] * 2 * copies + [2] + [0] * copies + [2]
    assert clips["x"].shape == (len(clips["y"]), C.CLIP_FRAMES, C.NUM_MEL_BINS)
    spoken = clips["y"] != silence
    lengths = clips["word_end"][spoken] - clips["word_start"][spoken]
    expected = [len(w) / C.FRAME_STEP for w in (words[0],) * copies + (words[1],) * copies]
    np.testing.assert_allclose(lengths[:-1], expected, atol=3)
    assert (clips["word_end"][~spoken] == 0).all()


def test_frame_targets_label_words_from_their_end():
    yes, silence, unknown = 0, C.CLASSES.index(C.SILENCE), C.CLASSES.index(C.UNKNOWN)
    y, start, end = np.array([yes, silence]), np.array([10, 0]), np.array([30, 0])
    targets, weights = train.frame_targets(y, start, end, context=0)
    assert targets.shape == weights.shape == (2, C.CLIP_FRAMES)
    assert (targets[0, :10] == silence).all() and (weights[0, :10] == 0.3).all()
    assert (targets[0, 10:30] == unknown).all() and (weights[0, 10:13] == 0).all()
    assert (weights[0, 13:] == 1).all() and (targets[0, 30:] == yes).all()
    assert (targets[1] == silence).all() and (weights[1] == 1).all()
    targets, weights = train.frame_targets(y, start, end, context=40)
    assert targets.shape == (2, 40 + C.CLIP_FRAMES) and (weights[:, :40] == 0).all()
    assert (weights[0, 40:53] == 0).all() and (weights[0, 53:] == 1).all()
    assert (weights[1, : 40 + C.CLIP_FRAMES - 20] == 0).all() and (weights[1, -20:] == 1).all()
