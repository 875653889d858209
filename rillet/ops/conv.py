"""Convolutions: conv1d, conv2d (groups, depthwise), conv2d_transpose."""

__all__: list[str] = []
