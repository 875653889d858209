"""Summary writers: event files in a log directory, and the default writer and step.

>>> import tempfile
>>> import rillet as rl
>>> writer = rl.summary.create_file_writer(tempfile.mkdtemp())
>>> with writer.as_default(step=3):
...     rl.summary.scalar("loss", 0.25)
True
>>> writer.close()
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time

from ..errors import ArgumentError, ArgumentTypeError
from . import _record
from ._proto import proto

_FILE_COUNTER = itertools.count()
_DEFAULT: list[SummaryWriter] = []  # the stack of writers entered with as_default()
_STEP: list[int | None] = [None]


class SummaryWriter:
    """Writes ``Event`` protos to one ``events.out.tfevents.*`` file under ``logdir``."""

    def __init__(self, logdir, filename_suffix: str = ""):
        event_pb2 = proto("event_pb2")  # fail early and clearly without tensorboard
        if not isinstance(logdir, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"create_file_writer: received logdir={logdir!r}, expected a path"
            )
        self.logdir = os.fspath(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_FILE_COUNTER)}{filename_suffix}"
        )
        self.path = os.path.join(self.logdir, name)
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self.write_event(event_pb2.Event(file_version="brain.Event:2"))

    @property
    def closed(self) -> bool:
        return self._file is None

    def write_event(self, event) -> None:
        """Frame and append one ``Event`` proto (its wall time set to now if unset)."""
        if self._file is None:
            raise ArgumentError(f"summary writer for {self.logdir!r} is closed")
        if not event.wall_time:
            event.wall_time = time.time()
        self._file.write(_record.frame(event.SerializeToString()))

    def write_summary(self, summary, step: int) -> None:
        event = proto("event_pb2").Event(step=int(step), summary=summary)
        self.write_event(event)

    @contextlib.contextmanager
    def as_default(self, step: int | None = None):
        """Make this the writer that ``rl.summary.scalar`` & co. write to (and set the
        default step while inside, if ``step`` is given)."""
        _DEFAULT.append(self)
        previous = _STEP[0]
        if step is not None:
            set_step(step)
        try:
            yield self
        finally:
            _DEFAULT.pop()
            _STEP[0] = previous
            if not self.closed:
                self.flush()

    def set_as_default(self, step: int | None = None) -> None:
        """Make this the default writer until another one is made default."""
        _DEFAULT.append(self)
        if step is not None:
            set_step(step)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    def __del__(self):  # a writer dropped without close() still leaves a complete file
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<rl.summary.SummaryWriter logdir={self.logdir!r}>"


def create_file_writer(logdir, filename_suffix: str = "") -> SummaryWriter:
    """A :class:`SummaryWriter` writing a new event file under ``logdir`` (created if
    needed). Needs the ``tensorboard`` package."""
    return SummaryWriter(logdir, filename_suffix=filename_suffix)


def get_default_writer() -> SummaryWriter | None:
    """The innermost writer entered with ``as_default()``, or None."""
    return _DEFAULT[-1] if _DEFAULT else None


def set_step(step: int | None) -> None:
    """Set the default step used by summaries written with ``step=None``."""
    if step is not None and (isinstance(step, bool) or not _is_integer(step)):
        raise ArgumentTypeError(f"summary: received step={step!r}, expected an integer")
    _STEP[0] = None if step is None else int(step)


def get_step() -> int | None:
    return _STEP[0]


def _is_integer(value) -> bool:
    try:
        return int(value) == value
    except (TypeError, ValueError):
        return False


def resolve_step(who: str, step) -> int:
    """The step to write at: ``step`` if given, else the default one."""
    if step is None:
        step = _STEP[0]
        if step is None:
            raise ArgumentError(
                "received step=None and no default step is set; pass step= or use "
                "writer.as_default(step=...) or rl.summary.set_step(...)",
                op=who,
            )
    if hasattr(step, "numpy"):
        step = step.numpy()
    if isinstance(step, bool) or not _is_integer(step):
        raise ArgumentTypeError(f"received step={step!r}, expected an integer", op=who)
    return int(step)
