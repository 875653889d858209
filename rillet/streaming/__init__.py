"""Streaming inference: ``to_streaming`` converts a trained model over ``(batch, time,
features)`` into one called on a few frames at a time, keeping ring buffers and RNN states in
non-trainable variables (``mode="internal_state"``); ``reset_states()`` starts a new stream.
"""

from .convert import StreamingModel, to_streaming
from .layers import StreamingLayer

__all__ = ["StreamingLayer", "StreamingModel", "to_streaming"]
