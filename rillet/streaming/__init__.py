"""Streaming inference: ``to_streaming`` converts a trained model over ``(batch, time,
features...)`` into one called on a few frames at a time. Ring buffers and RNN states are
held in non-trainable variables (``mode="internal_state"``; ``reset_states()`` starts a new
stream) or passed in and out (``mode="external_state"``, for export and serving).
``causal_window_mask`` builds the attention mask of a streamable MultiHeadAttention.
"""

from .convert import to_streaming
from .layers import StreamingLayer, causal_window_mask
from .model import StreamingModel

__all__ = ["StreamingLayer", "StreamingModel", "causal_window_mask", "to_streaming"]
