"""Global settings."""

from __future__ import annotations


class _Config:
    run_functions_eagerly = False


_CONFIG = _Config()


def run_functions_eagerly(run_eagerly: bool) -> None:
    """Make every ``rl.function`` run its Python function eagerly (for debugging).

    >>> import rillet as rl
    >>> rl.config.run_functions_eagerly(True)
    >>> rl.config.functions_run_eagerly()
    True
    >>> rl.config.run_functions_eagerly(False)
    """
    _CONFIG.run_functions_eagerly = bool(run_eagerly)


def functions_run_eagerly() -> bool:
    """Whether :func:`run_functions_eagerly` is on."""
    return _CONFIG.run_functions_eagerly


def floatx() -> str:
    """The default float dtype's name (Keras's ``keras.config.floatx``): ``"float32"``."""
    from . import dtypes

    return dtypes.default_float.name


def epsilon() -> float:
    """The fuzz factor Keras uses in numeric expressions: ``1e-7``."""
    return 1e-7


def image_data_format() -> str:
    """rillet is channels-last, as Keras's default: ``"channels_last"``."""
    return "channels_last"


def backend() -> str:
    """The name of the engine under the Keras API: ``"rillet"``."""
    return "rillet"
