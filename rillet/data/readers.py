"""File readers: text lines and CSV records with typed columns."""

from __future__ import annotations

import csv
import glob
import os

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError
from .dataset import Dataset


def _filenames(filenames, who: str) -> list[str]:
    if isinstance(filenames, (str, os.PathLike)):
        filenames = [filenames]
    names = [os.fspath(f) for f in filenames]
    for name in names:
        if not os.path.isfile(name):
            raise ArgumentError(f"{who}: no such file {name!r}")
    return names


def TextLineDataset(filenames, encoding: str = "utf-8") -> Dataset:  # noqa: N802 (a TF class)
    """The lines of ``filenames`` (newlines stripped), file after file, as NumPy string
    scalars.

    >>> import rillet as rl, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_text("hello\\nworld\\n")
    >>> [str(line) for line in rl.data.TextLineDataset(path)]
    ['hello', 'world']
    """
    names = _filenames(filenames, "TextLineDataset")

    def make():
        for name in names:
            with open(name, encoding=encoding) as f:
                for line in f:
                    yield np.asarray(line.rstrip("\r\n"))

    return Dataset(make)


def CsvDataset(  # noqa: N802 (a TF class)
    filenames,
    record_defaults,
    header: bool = False,
    field_delim: str = ",",
    select_cols=None,
    na_value: str = "",
) -> Dataset:
    """One tuple of scalars per CSV record. ``record_defaults`` has one entry per (selected)
    column: a dtype (the column is required) or a default value (its type sets the
    column's; used when the field is empty or equals ``na_value``)."""
    names = _filenames(filenames, "CsvDataset")
    columns = [_column(d, i) for i, d in enumerate(record_defaults)]
    if select_cols is not None and len(select_cols) != len(columns):
        raise ArgumentError(f"CsvDataset: {len(select_cols)} select_cols but "
                            f"{len(columns)} record_defaults")  # fmt: skip

    def make():
        for name in names:
            with open(name, newline="") as f:
                rows = csv.reader(f, delimiter=field_delim)
                if header:
                    next(rows, None)
                for line, row in enumerate(rows, start=2 if header else 1):
                    if row:
                        yield _record(row, columns, select_cols, na_value, f"{name}:{line}")

    return Dataset(make)


def _column(default, index: int):
    """(dtype, default or None) for one column."""
    if isinstance(default, (list, tuple)):
        default = default[0] if default else None
        if default is None:
            raise ArgumentError(f"CsvDataset: record_defaults[{index}] is empty; give a "
                                "value or a dtype")  # fmt: skip
    if isinstance(default, (type, np.dtype)) or (
        isinstance(default, str) and default in ("float32", "float64", "int32", "int64")
    ):
        return np.dtype(default if default is not str else np.str_), None
    if isinstance(default, str):
        return np.dtype(np.str_), default
    if isinstance(default, bool) or not isinstance(default, (int, float, np.number)):
        raise ArgumentTypeError(f"CsvDataset: record_defaults[{index}]={default!r}: expected a "
                                "dtype, a number or a string")  # fmt: skip
    dtype = np.dtype(np.int32 if isinstance(default, int) else np.float32)
    return (np.asarray(default).dtype if isinstance(default, np.number) else dtype), default


def _record(row, columns, select_cols, na_value, where: str) -> tuple:
    fields = row if select_cols is None else [_field(row, c, where) for c in select_cols]
    if len(fields) != len(columns):
        raise ArgumentError(f"CsvDataset: {where} has {len(fields)} fields, expected "
                            f"{len(columns)} (one per record_defaults entry)")  # fmt: skip
    return tuple(_parse(f, c, i, na_value, where) for i, (f, c) in enumerate(zip(fields, columns)))


def _field(row, column: int, where: str) -> str:
    if column >= len(row):
        raise ArgumentError(f"CsvDataset: {where} has no column {column}")
    return row[column]


def _parse(text: str, column, index: int, na_value: str, where: str):
    dtype, default = column
    if text == "" or text == na_value:
        if default is None:
            raise ArgumentError(f"CsvDataset: {where}: column {index} is empty and has no default")
        return np.asarray(default, dtype)
    try:
        value = int(text) if dtype.kind in "iu" else text if dtype.kind == "U" else float(text)
    except ValueError:
        raise DTypeError(f"CsvDataset: {where}: column {index} holds {text!r}, expected "
                         f"{dtype.name}") from None  # fmt: skip
    return np.asarray(value, dtype)


def make_csv_dataset(
    file_pattern,
    batch_size: int,
    column_names=None,
    label_name: str | None = None,
    select_columns=None,
    field_delim: str = ",",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
) -> Dataset:
    """Batches of ``(features, label)`` (or ``features``) from CSV files with a header:
    ``features`` is a dict of columns, typed int32, float32 or string from their values."""
    pattern = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    names = sorted(n for p in pattern for n in glob.glob(os.fspath(p)))
    if not names:
        raise ArgumentError(f"make_csv_dataset: no files match {file_pattern!r}")
    with open(names[0], newline="") as f:
        rows = list(csv.reader(f, delimiter=field_delim))
    columns = list(column_names or rows[0])
    if label_name is not None and label_name not in columns:
        raise ArgumentError(f"make_csv_dataset: label_name={label_name!r} is not a column "
                            f"of {columns}")  # fmt: skip
    body = rows[1:] if header else rows
    keep = select_columns or columns
    cols = [columns.index(c) for c in keep]
    defaults = [_infer(body, c) for c in cols]
    ds = CsvDataset(names, defaults, header=header, field_delim=field_delim, select_cols=cols)
    ds = ds.map(lambda *fields: _split(dict(zip(keep, fields)), label_name))
    if shuffle:
        ds = ds.shuffle(shuffle_buffer_size, seed=shuffle_seed)
    return ds.repeat(num_epochs).batch(batch_size)


def _infer(rows, column: int):
    values = [r[column] for r in rows if column < len(r) and r[column] != ""]
    for kind, default in ((int, 0), (float, 0.0)):
        try:
            [kind(v) for v in values]
            return default
        except ValueError:
            continue
    return ""


def _split(features: dict, label_name):
    if label_name is None:
        return features
    label = features.pop(label_name)
    return features, label
