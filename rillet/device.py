"""Devices. rillet runs on the CPU through NumPy; the device names the array namespace."""

from __future__ import annotations

import numpy as np


class Device:
    """A place where tensors live, such as ``cpu:0``."""

    __slots__ = ("kind", "index", "xp")

    def __init__(self, kind: str = "cpu", index: int = 0):
        self.kind = kind
        self.index = index
        self.xp = np

    def __repr__(self) -> str:
        return f"Device('{self.kind}:{self.index}')"

    def __str__(self) -> str:
        return f"{self.kind}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            return str(self) == other or (self.kind == other and self.index == 0)
        return isinstance(other, Device) and (self.kind, self.index) == (other.kind, other.index)

    def __hash__(self) -> int:
        return hash((self.kind, self.index))


CPU = Device("cpu", 0)


def get_device(name: str | Device | None = None) -> Device:
    """The device named ``name`` (only the CPU exists so far)."""
    if name is None or isinstance(name, Device) and name == CPU or name in ("cpu", "cpu:0"):
        return CPU
    from .errors import ArgumentError

    raise ArgumentError(f"unknown device {name!r}; available: 'cpu:0'")
