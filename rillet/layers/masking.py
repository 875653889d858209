"""Masks travel beside tensors (as Keras's ``_keras_mask``): a registry keyed by tensor
identity whose entries disappear with the tensor."""

from __future__ import annotations

import weakref

_MASKS: dict[int, tuple] = {}


def attach(tensor, mask) -> None:
    """Record ``mask`` (a bool tensor or None) as the mask of ``tensor`` (or of each tensor of
    a list, with a list of masks)."""
    if isinstance(tensor, (list, tuple)):
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(tensor)
        for t, m in zip(tensor, masks):
            attach(t, m)
        return
    if tensor is None or not hasattr(tensor, "__weakref__"):
        return
    key = id(tensor)
    if mask is None:
        _MASKS.pop(key, None)
        return
    _MASKS[key] = (weakref.ref(tensor, lambda _, key=key: _MASKS.pop(key, None)), mask)


def get(tensor):
    """The mask recorded for ``tensor``, or None."""
    entry = _MASKS.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]
