"""Spot keywords in a long recording, 10 ms at a time. The trained model is converted with
``rl.streaming.to_streaming``; a recording is built from held-out voices (keywords and other
words at known times over background noise); ``rl.signal.StreamingLogMel`` turns each 10 ms of
audio into a log-mel frame, the streaming model scores it, and a detector (posteriors averaged
over a few frames, a threshold, a refractory period) reports keywords with their times. The
detections are then scored against the known times.

    python -m examples.kws.stream           # uses examples/kws/output/kws.rillet
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import rillet as rl

from . import common as C


@dataclass
class Event:
    start: float  # seconds
    end: float
    word: str


def build_recording(utterances: dict, seconds: float = 45.0, seed: int = 0,
                    keyword_share: float = 0.75) -> tuple[np.ndarray, list[Event]]:  # fmt: skip
    """``seconds`` of background noise with test-voice words every 1.2-2.2 s: keywords
    (``keyword_share`` of them) and other words, each at its own level."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * C.SAMPLE_RATE)
    audio = 10 ** (-48 / 20) * C.colored_noise(rng, samples)
    test = np.flatnonzero(utterances["split"] == 2)
    words = utterances["word"][test]
    keywords = test[np.isin(words, C.KEYWORDS)]
    others = test[~np.isin(words, C.KEYWORDS)]
    events, t = [], 1.0
    while True:
        index = rng.choice(keywords if rng.random() < keyword_share else others)
        word = utterances["words"][index]
        start = int(t * C.SAMPLE_RATE)
        if start + len(word) > samples - C.SAMPLE_RATE:
            return audio.astype(np.float32), events
        level = 10 ** (rng.uniform(-30, -16) / 20) / (np.sqrt(np.mean(word**2)) + 1e-12)
        audio[start : start + len(word)] += level * word
        events.append(Event(t, t + len(word) / C.SAMPLE_RATE, str(utterances["word"][index])))
        t += len(word) / C.SAMPLE_RATE + rng.uniform(1.2, 2.2)


class Detector:
    """Keyword decisions from per-frame posteriors. The posteriors are averaged over the last
    ``smooth`` frames; a keyword is reported when its average reaches ``threshold``. The model
    keeps reporting a word for up to a second after hearing it, so the detector then waits
    until every keyword's average has fallen below ``release`` and ``refractory`` frames have
    passed before it reports again."""

    def __init__(self, smooth: int = 10, threshold: float = 0.6, release: float = 0.3,
                 refractory: int = 50):  # fmt: skip
        self.smooth, self.threshold, self.release = smooth, threshold, release
        self.refractory = refractory
        self.history: list[np.ndarray] = []
        self.armed, self.since = True, refractory

    def __call__(self, posteriors: np.ndarray) -> int | None:
        self.history = [*self.history[-(self.smooth - 1) :], posteriors[: len(C.KEYWORDS)]]
        mean = np.mean(self.history, axis=0)
        best = int(np.argmax(mean))
        self.since += 1
        if not self.armed:
            self.armed = mean[best] < self.release and self.since >= self.refractory
            return None
        if mean[best] >= self.threshold:
            self.armed, self.since = False, 0
            return best
        return None


def frame_end_time(index: int) -> float:
    """When frame ``index`` is complete, in seconds from the start of the stream."""
    return (index * C.FRAME_STEP + C.FRAME_LENGTH) / C.SAMPLE_RATE


def run_stream(
    model: rl.Model, audio: np.ndarray, detector: Detector, chunk: int = C.FRAME_STEP
) -> tuple[list[tuple[float, str]], np.ndarray]:
    """Feed ``audio`` in ``chunk``-sample pieces through the streaming front end and model;
    returns the detections ``(time, word)`` and every frame's logits ``[frames, 12]``."""
    streaming = rl.streaming.to_streaming(model)
    front = C.streaming_log_mel()
    detections, logits = [], []
    for begin in range(0, len(audio), chunk):
        for frame in front(audio[begin : begin + chunk]).numpy():
            scores = streaming(frame[None, None, :]).numpy()[0, 0]
            logits.append(scores)
            found = detector(softmax(scores))
            if found is not None:
                detections.append((frame_end_time(len(logits) - 1), C.KEYWORDS[found]))
    return detections, np.array(logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def score(events: list[Event], detections: list[tuple[float, str]],
          late: float = 1.0) -> dict:  # fmt: skip
    """Match detections to keyword events: a hit is the event's word detected between its
    start and ``late`` seconds after its end, each event matched once; every other detection
    is a false alarm."""
    unmatched = [e for e in events if e.word in C.KEYWORDS]
    hits = 0
    for t, word in detections:
        match = next((e for e in unmatched if e.word == word and e.start <= t <= e.end + late),
                     None)  # fmt: skip
        if match is not None:
            unmatched.remove(match)
            hits += 1
    keywords = sum(e.word in C.KEYWORDS for e in events)
    return {"keywords": keywords, "hits": hits, "misses": keywords - hits,
            "false_alarms": len(detections) - hits}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=C.MODEL_PATH)
    parser.add_argument("--data", type=Path, default=None, help="default: generated, else shipped")
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args(argv)
    model = rl.models.load_model(str(args.model))
    audio, events = build_recording(C.load_utterances(args.data), args.seconds, args.seed)
    C.OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    C.write_wav(C.OUTPUT_DIR / "stream.wav", audio)
    print(f"recording: {args.seconds:.0f} s, {len(events)} words from held-out voices "
          f"(written to {C.OUTPUT_DIR / 'stream.wav'})")  # fmt: skip
    for e in events:
        print(f"  {e.start:6.2f}-{e.end:5.2f} s  {e.word}")
    start = time.perf_counter()
    detections, logits = run_stream(model, audio, Detector(threshold=args.threshold))
    seconds = time.perf_counter() - start
    print(f"streamed {len(logits)} frames in {seconds:.1f} s ({1e3 * seconds / len(logits):.2f} "
          "ms per 10 ms frame, front end included)")  # fmt: skip
    for t, word in detections:
        print(f"  detected {word!r} at {t:6.2f} s")
    whole = model(C.log_mel(audio)[None]).numpy()[0]
    print(
        f"streaming vs whole-recording model: max |logit difference| "
        f"{np.abs(whole - logits).max():.1e}"
    )
    counts = score(events, detections)
    print(f"{counts['hits']}/{counts['keywords']} keywords detected, {counts['misses']} missed, "
          f"{counts['false_alarms']} false alarms")  # fmt: skip
    return counts


if __name__ == "__main__":
    main()
