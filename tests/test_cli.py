"""The ``rillet`` command, run as ``python -m rillet.cli`` in subprocesses."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rillet as rl
from rillet import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND="Agg")
    command = [sys.executable, "-m", "rillet.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def dense_model(tmp_path_factory):
    """A saved Input(3) -> Dense(2) model and its weights (the reference is x @ W + b)."""
    rl.utils.set_random_seed(0)
    model = rl.Sequential([rl.Input((3,)), rl.layers.Dense(2, name="head")])
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path_factory.mktemp("model") / "tiny.rillet"
    model.save(str(path))
    return path, model.get_weights()


def test_version_prints_the_package_version():
    done = run_cli("version")
    assert done.returncode == 0 and done.stdout == f"rillet {rl.__version__}\n"


def test_summary_prints_the_layer_table(dense_model):
    done = run_cli("summary", dense_model[0])
    assert done.returncode == 0, done.stderr
    assert "head (Dense)" in done.stdout and "Total params: 8" in done.stdout


def test_predict_npy_writes_the_model_output(dense_model, tmp_path):
    path, (kernel, bias) = dense_model
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    done = run_cli("predict", path, tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), x @ kernel + bias, rtol=1e-5)


def test_predict_csv_skips_a_header_row(dense_model, tmp_path):
    path, (kernel, bias) = dense_model
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b,c", comments="")
    done = run_cli("predict", path, tmp_path / "x.csv", "-o", tmp_path / "y.npy")
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), x @ kernel + bias, rtol=1e-5)


def test_predict_image_is_resized_to_the_model_input(tmp_path):
    image = pytest.importorskip("PIL.Image")
    rl.utils.set_random_seed(1)
    model = rl.Sequential([rl.Input((4, 4, 1)), rl.layers.Flatten(), rl.layers.Dense(1)])
    model.save(str(tmp_path / "img.rillet"))
    pixels = np.random.default_rng(2).integers(0, 256, size=(8, 8), dtype=np.uint8)
    image.fromarray(pixels).save(tmp_path / "x.png")
    done = run_cli("predict", tmp_path / "img.rillet", tmp_path / "x.png", "-o", tmp_path / "y")
    assert done.returncode == 0, done.stderr
    small = np.asarray(image.fromarray(pixels).resize((4, 4)), np.float32).reshape(1, 16)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), small @ kernel + bias, rtol=1e-4)


def test_plot_reads_a_csv_logger_file(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    model = rl.Sequential([rl.Input((3,)), rl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    logger = rl.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    model.fit(x, x[:, :1], epochs=3, validation_split=0.25, callbacks=[logger], verbose=0)
    curves = cli._read_curves(str(tmp_path))
    assert sorted(curves) == ["loss", "mae", "val_loss", "val_mae"]
    np.testing.assert_allclose(curves["loss"][1], model.history.history["loss"], rtol=1e-6)
    done = run_cli("plot", tmp_path, "--output", tmp_path / "curves.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_reads_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for run, values in (("train", [1.0, 0.5, 0.25]), ("validation", [1.5, 0.75, 0.5])):
        writer = EventFileWriter(str(tmp_path / run))
        for step, value in enumerate(values):
            scalar = summary_pb2.Summary.Value(tag="epoch_loss", simple_value=value)
            writer.add_event(
                event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[scalar]))
            )
        writer.close()
    curves = cli._read_curves(str(tmp_path))
    np.testing.assert_allclose(curves["loss"][1], [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(curves["validation_loss"][0], [0, 1, 2])
    done = run_cli("plot", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "curves.png").exists()


def test_train_runs_the_script_as_main_with_its_arguments(tmp_path):
    script = tmp_path / "train_me.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import numpy as np
            import rillet as rl
            model = rl.Sequential([rl.Input((2,)), rl.layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
            model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=1)
            if __name__ == "__main__":
                print("ARGS", sys.argv[1:])
            """
        )
    )
    done = run_cli("train", script, "--steps", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "1/1 ━" in done.stdout and "loss:" in done.stdout and "ARGS ['--steps', '3']" in done.stdout
    )


def test_errors_are_one_line_with_exit_status_2(tmp_path):
    done = run_cli("summary", tmp_path / "missing.rillet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "missing.rillet" in done.stderr
    (tmp_path / "junk.rillet").write_bytes(b"not a zip at all")
    done = run_cli("predict", tmp_path / "junk.rillet", tmp_path / "junk.rillet")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "junk.rillet" in done.stderr


def test_failing_train_script_is_one_line_unless_debug(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("raise ValueError('bad learning rate 7')\n")
    done = run_cli("train", script)
    assert done.returncode == 2 and done.stderr == (
        "rillet train: ValueError: bad learning rate 7\n"
    )
    done = run_cli("--debug", "train", script)
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_unknown_input_format_is_named(dense_model, tmp_path):
    (tmp_path / "x.txt").write_text("1 2 3\n")
    done = run_cli("predict", dense_model[0], tmp_path / "x.txt")
    assert done.returncode == 2 and "expected .npy, .csv or an image" in done.stderr


def test_build_loops_runs_the_ahead_of_time_build_and_reports_its_failure(monkeypatch, capsys):
    from pathlib import Path

    from rillet.ops import _aot

    monkeypatch.setattr(_aot, "build", lambda: Path("/somewhere/_aot_loops.so"))
    assert cli.main(["build-loops"]) == 0
    assert capsys.readouterr().out == "built /somewhere/_aot_loops.so\n"

    def no_numba():
        raise RuntimeError("the ahead-of-time build needs Numba")

    monkeypatch.setattr(_aot, "build", no_numba)
    assert cli.main(["build-loops"]) == 2
    assert "rillet build-loops: RuntimeError: the ahead-of-time build needs Numba" in (
        capsys.readouterr().err
    )
