"""Loop kernels built ahead of time (rillet/ops/_aot.py): the same bits as Numba's
just-in-time loops, exported functions reached only with arguments that match their
signatures exactly, a stale or foreign build never used, and a Dense/Adam model that trains
without loading Numba."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rillet.ops import _aot, _jit

BUILT = _aot.library() is not None
needs_build = pytest.mark.skipif(not BUILT, reason="no ahead-of-time build here")


def _calls(signatures):
    """A dispatcher over stand-in exports that record which one ran."""
    ran = []
    exports = [((lambda *a, i=i: ran.append(i)), sig) for i, sig in enumerate(signatures)]
    run = _aot.make_dispatcher(exports, lambda: lambda *a: ran.append("fallback"))
    return run, ran


SIGNATURES = ["f4[::1], f4[:, :], f4, b1", "f8[::1], f8[:, :], f8, b1"]


def _args(dtype=np.float32):
    scalar = dtype(1) if dtype is np.float32 else 1.0
    return [np.zeros(3, dtype), np.zeros((2, 3), dtype), scalar, True]


def test_matching_arguments_reach_their_export():
    run, ran = _calls(SIGNATURES)
    run(*_args(np.float32))
    run(*_args(np.float64))
    a, b, _, _ = _args(np.float64)
    run(a, b, np.float64(2.0), np.bool_(False))  # NumPy scalars Numba types the same
    run(a, np.zeros((3, 4))[:, ::2], 1.0, True)  # any layout where the signature says [:, :]
    assert ran == [0, 1, 1, 1]


@pytest.mark.parametrize(
    "position, value, why",
    [
        (0, np.zeros(3, np.float64), "float64 array for f4"),
        (0, np.zeros((3, 1), np.float32), "2-D array for 1-D"),
        (0, np.zeros(6, np.float32)[::2], "strided array for C layout"),
        (0, np.zeros(3, np.float32).astype(">f4"), "byte-swapped float32"),
        (0, [0.0, 0.0, 0.0], "a list"),
        (2, 1.0, "Python float (Numba: float64) for f4"),
        (2, np.float64(1.0), "float64 scalar for f4"),
        (3, 1, "int for b1"),
    ],
)
def test_any_mismatch_goes_to_the_fallback(position, value, why):
    run, ran = _calls(SIGNATURES)
    args = _args(np.float32)
    args[position] = value
    run(*args)
    assert ran == ["fallback"], why


def test_read_only_arrays_and_wrong_arity_go_to_the_fallback():
    run, ran = _calls(SIGNATURES)
    args = _args(np.float32)
    args[1].flags.writeable = False
    run(*args)
    run(*_args(np.float32)[:3])
    assert ran == ["fallback", "fallback"]


def test_read_only_arrays_are_taken_where_the_loop_only_reads_them():
    run, ran = _calls(["in:f4[::1], f4[::1]", "f4[:, ::1], in:f4[:, :]"])
    a, b = np.zeros(3, np.float32), np.zeros(3, np.float32)
    a.flags.writeable = False
    run(a, b)
    run(b, a)  # the written one read-only
    c = np.zeros((2, 4), np.float32)
    run(np.zeros((2, 2), np.float32), c[:, ::2])  # any layout for [:, :], read-only or not
    assert ran == [0, "fallback", 1]


def test_code_key_ignores_line_numbers_and_sees_constants():
    def compile_loop(text, lines_before=0, constant="2.0"):
        namespace = {"SCALE": float(constant)}
        exec("\n" * lines_before + text, namespace)  # noqa: S102
        return namespace["scale"]

    text = "def scale(a):\n    for i in range(a.size):\n        a[i] *= SCALE\n"
    key = _aot.code_key(compile_loop(text))
    assert _aot.code_key(compile_loop(text, lines_before=7)) == key
    assert _aot.code_key(compile_loop(text, constant="3.0")) != key
    assert _aot.code_key(compile_loop(text.replace("*=", "+="))) != key


def test_every_kernel_named_for_ahead_of_time_is_in_the_build():
    if not BUILT:
        if shutil.which("cc") and _jit.enabled():
            pytest.fail("no ahead-of-time build: run `make` (or python -m rillet.ops._aot)")
        pytest.skip("no C compiler or no Numba here: the loops compile on first use")
    from rillet.ops._registry import REGISTRY

    REGISTRY.load_all()  # imports every op module, the ones loaded on first use too
    modules = {kernel.py_func.__module__.rsplit(".", 1)[1] for kernel in _jit.AOT_KERNELS}
    assert {"state", "_conv_jit", "pooling", "pool_routing", "_rnn_jit", "_rnn_lstm_jit"} <= modules
    _, manifest = _aot.library()
    for kernel in _jit.AOT_KERNELS:
        assert kernel.key in manifest["kernels"], kernel.key
        assert _aot.dispatcher(kernel) is not None, f"{kernel.key}: the build is stale"


@needs_build
def test_a_stale_build_of_an_edited_loop_is_not_used():
    import rillet  # noqa: F401

    kernel = _jit.AOT_KERNELS[0]
    edited = _jit.LoopKernel.__new__(_jit.LoopKernel)
    edited.key, edited.py_func = kernel.key, _write  # same name, other code
    assert _aot.dispatcher(edited) is None
    assert _aot.dispatcher(kernel) is not None


@needs_build
def test_a_build_for_another_cpu_numpy_python_or_module_is_not_used(monkeypatch):
    _, manifest = _aot.library()
    monkeypatch.setattr(_aot, "cpu_features", lambda: frozenset(manifest["cpu"][1:]))
    assert _aot._load() is None
    monkeypatch.undo()
    assert _aot._load() is not None
    for change in ({"build": manifest["build"] + 1}, {"numpy": "1.0.0"}, {"python": "pypy"}):
        monkeypatch.setattr(_aot, "MANIFEST", _write({**manifest, **change}))
        assert _aot._load() is None, change


def _write(manifest):
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "manifest.json")
    with open(path, "w") as f:
        json.dump(manifest, f)
    from pathlib import Path

    return Path(path)


TRAIN = """
import sys
import zlib
import numpy as np
import rillet as rl
rng = np.random.default_rng(0)
layers = rl.layers

def train(model, x, y, optimizer, compiled=True):
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)
    @(rl.function if compiled else (lambda f: f))
    def step(x, y):
        with rl.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss
    losses = [float(step(x, y)) for _ in range(4)]
    weights = b"".join(w.tobytes() for w in model.get_weights())
    return losses, zlib.crc32(weights)

rl.random.set_seed(1)
dense = rl.Sequential([rl.Input((20,)), layers.Dense(16, "relu"), layers.Dense(3)])
cnn = rl.Sequential([
    rl.Input((10, 10, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
    layers.Flatten(), layers.Dense(40, activation="relu"), layers.Dense(3),
])
lstm = rl.Sequential([rl.Input((6, 5)), layers.LSTM(8), layers.Dense(3)])
images = rng.standard_normal((64, 10, 10, 1)).astype(np.float32)
print(train(dense, rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 3, 32),
            rl.optimizers.Adam(1e-2)))
print(train(cnn, images, rng.integers(0, 3, 64), rl.optimizers.SGD(0.1, 0.9, nesterov=True)))
pool = rl.Sequential([  # eager: max_pool_grad itself, no relu before the pool
    rl.Input((10, 10, 1)), layers.Conv2D(4, 3), layers.MaxPooling2D(2), layers.Flatten(),
    layers.Dense(3),
])
print(train(pool, images, rng.integers(0, 3, 64), rl.optimizers.Adam(1e-2), compiled=False))
print(train(lstm, rng.standard_normal((4, 6, 5)).astype(np.float32), rng.integers(0, 3, 4),
            rl.optimizers.RMSprop(1e-2)))
gru = rl.Sequential([rl.Input((6, 5)), layers.GRU(8), layers.Dense(3)])
print(train(gru, rng.standard_normal((4, 6, 5)).astype(np.float32), rng.integers(0, 3, 4),
            rl.optimizers.Adam(1e-2)))
kws = rl.Sequential([
    rl.Input((None, 5)), layers.Conv1D(6, 3, padding="causal", activation="relu"),
    layers.GRU(8, return_sequences=True), layers.Dense(3),
])
stream = rl.function(rl.streaming.to_streaming(kws))
clip = rng.standard_normal((1, 12, 5)).astype(np.float32)
frames = [stream(rl.asarray(clip[:, t : t + 1])).numpy() for t in range(12)]
print(zlib.crc32(np.concatenate(frames, axis=1).tobytes()), zlib.crc32(kws(clip).numpy().tobytes()))
print("numba" in sys.modules)
"""


def _train(**env) -> tuple[list[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", TRAIN],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    *results, numba_loaded = done.stdout.split("\n")[:7]
    return results, numba_loaded


@needs_build
def test_models_train_and_stream_without_numba_to_the_just_in_time_bits():
    """Dense + Adam, Conv2D + max pool + SGD with Nesterov momentum (compiled, and eager
    without a relu), LSTM + RMSprop, GRU + Adam, and a Conv1D + GRU model streamed frame by
    frame and run whole: every loop they
    run is built ahead of time, and the losses, weights and outputs are those of Numba's
    just-in-time loops, bit for bit."""
    aot_results, numba_loaded = _train(RILLET_DISABLE_AOT="")
    assert numba_loaded == "False"
    jit_results, numba_loaded = _train(RILLET_DISABLE_AOT="1")
    assert numba_loaded == "True"
    assert aot_results == jit_results
