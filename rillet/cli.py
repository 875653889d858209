"""The ``rillet`` command: train a script, inspect, predict with and plot saved models.

    rillet train SCRIPT.py [ARGS...]     run a training script as __main__ (progress bars on)
    rillet summary MODEL.rillet          print the model's layer table
    rillet predict MODEL.rillet INPUT --output out.npy
                                         INPUT is .npy, .csv or an image (PNG/JPEG/...)
    rillet plot LOGDIR --output curves.png
                                         loss/metric curves from a CSVLogger file or
                                         TensorBoard event files in LOGDIR
    rillet version
    rillet build-loops                   compile the loop kernels ahead of time, for this CPU
                                         (rillet/ops/_aot.py; make runs it)

An error is one line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

from .errors import ArgumentError, RilletError

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class CommandError(ArgumentError):
    """A ``rillet`` command got an input it cannot use (a missing file, a bad format)."""


def main(argv: list[str] | None = None) -> int:
    """Run the ``rillet`` command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args) or 0
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, RilletError) and str(error.location).startswith("<"):
            error.location = None  # the frame outside rillet is runpy's, not the user's
        message = str(error).splitlines()[0] if str(error) else ""
        print(f"rillet {args.command}: {type(error).__name__}: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rillet", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser("train", help="run a training script with progress bars")
    train.add_argument("script")
    train.add_argument("script_args", nargs=argparse.REMAINDER)
    train.set_defaults(run=_train)
    summary = sub.add_parser("summary", help="print a saved model's summary")
    summary.add_argument("model")
    summary.set_defaults(run=_summary)
    predict = sub.add_parser("predict", help="run a saved model on .npy, .csv or image input")
    predict.add_argument("model")
    predict.add_argument("input")
    predict.add_argument("--output", "-o", help="write predictions here (.npy); else print")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.set_defaults(run=_predict)
    plot = sub.add_parser("plot", help="plot loss and metric curves from a log directory")
    plot.add_argument("logdir")
    plot.add_argument("--output", "-o", help="PNG to write (default LOGDIR/curves.png)")
    plot.set_defaults(run=_plot)
    version = sub.add_parser("version", help="print the rillet version")
    version.set_defaults(run=_version)
    loops = sub.add_parser("build-loops", help="compile the loop kernels ahead of time")
    loops.set_defaults(run=_build_loops)
    for command in (train, summary, predict, plot, version, loops):
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


# -- train -------------------------------------------------------------------------------


def _train(args) -> int:
    import runpy

    script = _existing(args.script, "script")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *args.script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:  # the script's own exit status
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return 0


# -- summary and predict -----------------------------------------------------------------


def _load_model(path: str):
    from .saving import load_model

    return load_model(_existing(path, "model file"))


def _summary(args) -> int:
    _load_model(args.model).summary()
    return 0


def _predict(args) -> int:
    model = _load_model(args.model)
    x = _read_input(_existing(args.input, "input"), model)
    y = np.asarray(model.predict(x, batch_size=args.batch_size, verbose=0))
    if args.output:
        np.save(args.output, y)
        print(f"wrote predictions {y.shape} {y.dtype} to {args.output}")
    else:
        np.savetxt(sys.stdout, y.reshape(len(y), -1), fmt="%.6g")
    return 0


def _read_input(path: str, model) -> np.ndarray:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        return _checked_npy(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in _IMAGE_SUFFIXES:
        return _read_image(path, model)
    raise CommandError(f"predict: cannot read input {path!r}: expected .npy, .csv or an image")


def _checked_npy(path: str) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise CommandError(f"predict: {path!r} is not a readable .npy array: {error}") from None
    if x.dtype.kind not in "biuf":
        raise CommandError(f"predict: {path!r} holds dtype {x.dtype}, expected numbers")
    return x.astype(np.float32) if x.dtype.kind == "f" else x


def _read_csv(path: str) -> np.ndarray:
    with open(path) as file:
        first = file.readline()
    header = any(not _is_number(cell) for cell in first.strip().split(",") if cell.strip())
    try:
        return np.loadtxt(path, delimiter=",", skiprows=int(header), ndmin=2, dtype=np.float32)
    except ValueError as error:
        raise CommandError(f"predict: {path!r} is not a numeric CSV: {error}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_image(path: str, model) -> np.ndarray:
    """One image as a batch of one, resized and converted to the model's input shape."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"predict: {path!r} is not a readable image: {error}") from None
    shape = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else ()
    channels = shape[-1] if len(shape) == 3 else None
    image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}.get(channels, "RGB"))
    if len(shape) == 3 and shape[0] and shape[1]:
        image = image.resize((shape[1], shape[0]))
    x = np.asarray(image, dtype=np.float32)
    return (x[..., None] if x.ndim == 2 else x)[None]


# -- plot --------------------------------------------------------------------------------


def _plot(args) -> int:
    logdir = _existing(args.logdir, "log directory")
    curves = _read_curves(logdir)
    output = args.output or os.path.join(logdir if os.path.isdir(logdir) else ".", "curves.png")
    _draw(curves, output)
    print(f"wrote {len(curves)} curve(s) to {output}")
    return 0


def _read_curves(logdir: str) -> dict:
    """``{name: (steps, values)}`` from a CSVLogger file, else TensorBoard event files."""
    csvs = [logdir] if logdir.endswith(".csv") else sorted(glob.glob(os.path.join(logdir, "*.csv")))
    if csvs:
        return _csv_curves(csvs[0])
    pattern = os.path.join(logdir, "**", "events.out.tfevents.*")
    events = sorted(glob.glob(pattern, recursive=True))
    if events:
        return _event_curves(logdir, events)
    raise CommandError(f"plot: no CSVLogger .csv or TensorBoard event file in {logdir!r}")


def _csv_curves(path: str) -> dict:
    import csv

    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows or "epoch" not in rows[0]:
        raise CommandError(f"plot: {path!r} has no rows under an 'epoch' column (CSVLogger)")
    curves = {}
    for key in rows[0]:
        points = [(int(r["epoch"]), float(r[key])) for r in rows if _is_number(r[key] or "")]
        if key != "epoch" and points:
            curves[key] = tuple(np.array(column) for column in zip(*points))
    return curves


def _event_curves(logdir: str, paths: list[str]) -> dict:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util.tensor_util import make_ndarray

    points: dict = {}
    for path in paths:
        run = os.path.relpath(os.path.dirname(path), logdir)
        prefix = "" if run in (".", "train") else f"{run}_"
        for event in EventFileLoader(path).Load():
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor" and make_ndarray(value.tensor).size == 1:
                    number = make_ndarray(value.tensor).item()
                else:
                    continue
                key = prefix + value.tag.removeprefix("epoch_")
                points.setdefault(key, []).append((event.step, float(number)))
    return {k: tuple(np.array(c) for c in zip(*sorted(v))) for k, v in points.items()}


def _draw(curves: dict, output: str) -> None:
    """One panel per quantity (``loss``, ``accuracy``, ...), training and validation lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if not curves:
        raise CommandError("plot: the logs hold no numeric curves")
    panels = sorted({_base_name(name) for name in curves}, key=lambda n: (n != "loss", n))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        for name, (steps, values) in sorted(curves.items()):
            if _base_name(name) == panel:
                axis.plot(steps, values, marker=".", label=name)
        axis.set_title(panel)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)


def _base_name(name: str) -> str:
    for prefix in ("val_", "validation_", "train_"):
        name = name.removeprefix(prefix)
    return name


# -- version and helpers -----------------------------------------------------------------


def _version(args) -> int:
    from . import __version__

    print(f"rillet {__version__}")
    return 0


def _existing(path: str, what: str) -> str:
    if not os.path.exists(path):
        raise CommandError(f"{what} {path!r} does not exist")
    return path


# -- build-loops ----------------------------------------------------------------------------


def _build_loops(args) -> int:
    from .ops import _aot

    print(f"built {_aot.build()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
