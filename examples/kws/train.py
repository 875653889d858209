"""Train the keyword spotter: log-mel frames -> BatchNorm -> two causal Conv1Ds -> GRU -> Dense(12),
a class score for every frame, so ``rl.streaming.to_streaming`` can run it one 10 ms frame at
a time. The model learns to say, at every frame, which keyword (if any) ended in the last
second: frames from the end of a word to the end of its clip are labelled with the word,
frames inside a word "unknown" (no keyword is complete yet), and noise "silence". A clip's
class is the score at its last frame.

A stream has no clip boundaries, so half of the training clips come after the last
``CONTEXT_FRAMES`` frames of another random clip (a word, part of one, or noise): the model
learns to ignore what came before instead of relying on a fresh zero state.

    python -m examples.kws.train            # -> examples/kws/output/kws.rillet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import rillet as rl

from . import common as C

CONTEXT_FRAMES = 40
SILENCE, UNKNOWN = C.CLASSES.index(C.SILENCE), C.CLASSES.index(C.UNKNOWN)


def build_model(filters: int = 48, units: int = 64) -> rl.Sequential:
    """The streamable per-frame model over ``(batch, frames, 40)`` log-mel features; it
    returns class logits ``(batch, frames, 12)``."""
    return rl.Sequential(
        [
            rl.Input((None, C.NUM_MEL_BINS)),
            rl.layers.BatchNormalization(momentum=0.9),  # statistics settle in a few dozen steps
            rl.layers.Conv1D(filters, 5, padding="causal", activation="relu"),
            rl.layers.Conv1D(filters, 5, padding="causal", dilation_rate=2, activation="relu"),
            rl.layers.GRU(units, return_sequences=True),
            rl.layers.Dropout(0.1),
            rl.layers.Dense(len(C.CLASSES)),
        ],
        name="kws",
    )


def with_context(x: np.ndarray, rng: np.random.Generator, pool: np.ndarray) -> np.ndarray:
    """Each clip of ``x`` preceded by the last ``CONTEXT_FRAMES`` frames of a random clip of
    ``pool``."""
    before = pool[rng.integers(0, len(pool), len(x)), pool.shape[1] - CONTEXT_FRAMES :]
    return np.concatenate([before, x], axis=1)


def frame_targets(y: np.ndarray, start: np.ndarray, end: np.ndarray,
                  context: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-frame classes and weights ``[clips, context + 98]`` for clips after ``context``
    frames of another clip. A word's class runs from its last frame to the end of the clip;
    frames inside the word (after its first three) are "unknown"; noise is silence. After
    context, which may end with a word the model should still be reporting, only the word's
    frames and the last 20 frames of a silence clip count; without context, the frames before
    a word count too (as silence, weight 0.3) and all of a silence clip."""
    t = np.arange(C.CLIP_FRAMES)[None, :]
    start, end, y = start[:, None], end[:, None], y[:, None]
    spoken = y != SILENCE
    targets = np.where(spoken & (t < end), UNKNOWN, y)
    targets = np.where(spoken & (t < start), SILENCE, targets)
    inside = spoken & (t >= start + 3) & (t < end)
    weights = ((spoken & (t >= end)) | inside).astype(np.float32)
    if context:
        weights += ~spoken & (t >= C.CLIP_FRAMES - 20)
    else:
        weights += 0.3 * (spoken & (t < start)) + ~spoken
    pad = ((0, 0), (context, 0))
    return np.pad(targets, pad), np.pad(weights, pad)


def mask_bands(x: np.ndarray, rng: np.random.Generator, widest: int = 6) -> np.ndarray:
    """SpecAugment's frequency masking: a random band of up to ``widest`` mel bins of each
    clip set to the clip's mean, so no single band decides."""
    x = x.copy()
    width = rng.integers(0, widest + 1, len(x))
    low = rng.integers(0, x.shape[2] - width + 1)
    bins = np.arange(x.shape[2])
    band = (bins >= low[:, None]) & (bins < (low + width)[:, None])
    mean = x.mean(axis=(1, 2), keepdims=True)
    return np.where(band[:, None, :], mean, x)


def epoch_batches(train: dict, rng: np.random.Generator, batch_size: int) -> list:
    """One epoch's ``(inputs, targets, weights)``, frequency bands masked: half of the clips
    alone (the model starts from a zero state), half after ``CONTEXT_FRAMES`` frames of another
    clip. Both halves hold whole batches, so ``fit`` traces one step function per shape."""
    half = len(train["x"]) // (2 * batch_size) * batch_size
    order = rng.permutation(len(train["x"]))
    out = []
    for context, chosen in ((0, order[:half]), (CONTEXT_FRAMES, order[half : 2 * half])):
        x = train["x"][chosen]
        x = with_context(x, rng, train["x"]) if context else x
        targets, weights = frame_targets(train["y"][chosen], train["word_start"][chosen],
                                         train["word_end"][chosen], context)  # fmt: skip
        out.append((mask_bands(x, rng), targets, weights))
    return out


def accuracy(model: rl.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """The share of clips whose last frame's class is right (eager calls: no tracing)."""
    logits = [model(x[i : i + batch_size], training=False).numpy()[:, -1]
              for i in range(0, len(x), batch_size)]  # fmt: skip
    return float((np.concatenate(logits).argmax(-1) == y).mean())


def train(data: dict, epochs: int = 16, batch_size: int = 64, learning_rate: float = 3e-3,
          seed: int = 0, verbose: int = 2, **model_kwargs) -> tuple[rl.Model, dict]:  # fmt: skip
    """Fit on the training split; returns the model and its clip accuracy on the held-out
    splits (alone and after context)."""
    rl.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    keys = ("x", "y", "word_start", "word_end")
    train_set = {k: data[k][data["split"] == 0] for k in keys}
    train_set["y"] = train_set["y"].astype(np.int64)
    model = build_model(**model_kwargs)
    steps = epochs * (len(train_set["x"]) // batch_size)
    model.compile(
        optimizer=rl.optimizers.Adam(rl.optimizers.schedules.CosineDecay(learning_rate, steps)),
        loss=rl.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )
    start = time.perf_counter()
    for epoch in range(epochs):
        for inputs, targets, weights in epoch_batches(train_set, rng, batch_size):
            model.fit(inputs, targets, sample_weight=weights, batch_size=batch_size,
                      epochs=epoch + 1, initial_epoch=epoch, verbose=verbose)  # fmt: skip
    scores = {"seconds": time.perf_counter() - start}
    for index, name in ((1, "validation"), (2, "test")):
        x, y = data["x"][data["split"] == index], data["y"][data["split"] == index]
        scores[name] = accuracy(model, x, y)
        scores[f"{name}_in_context"] = accuracy(model, with_context(x, rng, x), y)
    return model, scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="default: generated, else shipped")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=C.MODEL_PATH)
    args = parser.parse_args(argv)
    folder = args.data or C.data_dir()
    data = C.load_features(folder)
    counts = np.bincount(data["split"], minlength=3)
    print(f"data: {folder} ({counts[0]} train, {counts[1]} validation, {counts[2]} test clips; "
          f"validation and test voices are not in training)")  # fmt: skip
    model, scores = train(data, epochs=args.epochs, batch_size=args.batch_size)
    print(f"trained in {scores['seconds']:.0f} s")
    for name in ("validation", "test"):
        print(
            f"{name} accuracy (held-out voices): {scores[name]:.2%} on 1 s clips, "
            f"{scores[name + '_in_context']:.2%} after {CONTEXT_FRAMES} frames of another clip"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(args.out))
    print(f"saved {args.out}")
    return scores


if __name__ == "__main__":
    main()
