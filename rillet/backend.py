"""The few ``keras.backend`` functions scripts still call."""

from __future__ import annotations

from .config import backend, epsilon, floatx, image_data_format
from .layers.layer import clear_session

__all__ = ["backend", "clear_session", "epsilon", "floatx", "image_data_format"]
