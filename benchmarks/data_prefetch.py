"""Does ``prefetch`` keep ``fit`` busy? An epoch over an ``rl.data`` pipeline whose ``map``
sleeps 1 ms per batch (standing in for decoding or augmentation), with and without prefetch,
against the same pipeline without the sleep.

    .venv/bin/python benchmarks/data_prefetch.py              # 5 rounds
    .venv/bin/python benchmarks/data_prefetch.py --rounds 1   # a smoke test

Workload: 4096 samples of 128 float32 features -> Dense(384, relu) -> Dense(384, relu) ->
Dense(10); Adam, sparse CE from logits; batch 128 (32 steps an epoch). Each round times one
epoch per setting, after a warm-up ``fit`` (tracing) of the same model; settings are
interleaved round by round. Reported: the median epoch time per setting and its ratio to
the no-sleep pipeline (the target: prefetch within ~10% of no sleep).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rillet as rl

SAMPLES, FEATURES, BATCH = 4096, 128, 128


def pipeline(x, y, sleep: bool, prefetch: bool) -> rl.data.Dataset:
    def slow(xb, yb):
        time.sleep(0.001)  # the 1 ms of per-batch preprocessing
        return xb, yb

    ds = rl.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    ds = ds.map(slow) if sleep else ds
    return ds.prefetch(rl.data.AUTOTUNE) if prefetch else ds


def build_model() -> rl.Model:
    model = rl.Sequential([
        rl.layers.Dense(384, activation="relu"), rl.layers.Dense(384, activation="relu"),
        rl.layers.Dense(10),
    ])  # fmt: skip
    model.compile(optimizer="adam",
                  loss=rl.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    return model


def epoch_time(model, ds) -> float:
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    y = rng.integers(0, 10, SAMPLES).astype(np.int32)
    settings = {"no sleep": (False, False), "sleep 1 ms, no prefetch": (True, False),
                "sleep 1 ms, prefetch": (True, True)}  # fmt: skip
    model = build_model()
    model.fit(pipeline(x, y, False, False), epochs=1, verbose=0)  # warm-up: tracing
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, (sleep, prefetch) in settings.items():
            times[name].append(epoch_time(model, pipeline(x, y, sleep, prefetch)))
    base = statistics.median(times["no sleep"])
    print(f"| pipeline ({SAMPLES // BATCH} steps) | epoch (median of {args.rounds}) | "
          "vs no sleep |\n| --- | --- | --- |")  # fmt: skip
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} ms | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
