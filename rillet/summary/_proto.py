"""The protobuf classes that ship in the ``tensorboard`` package, imported on first use."""

from __future__ import annotations

import importlib

from ..errors import RilletError


class MissingDependencyError(RilletError, ImportError):
    """An optional package that a feature needs is not installed."""


def proto(name: str):
    """The module ``tensorboard.compat.proto.<name>`` (``event_pb2``, ``summary_pb2``...)."""
    try:
        return importlib.import_module(f"tensorboard.compat.proto.{name}")
    except ImportError as error:
        raise MissingDependencyError(
            "rl.summary writes TensorBoard event files with the protobuf definitions of the "
            f"`tensorboard` package, which could not be imported ({error}); install it with "
            "`pip install tensorboard` (or `pip install rillet[tensorboard]`)"
        ) from None
