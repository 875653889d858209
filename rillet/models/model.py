"""``rl.Model``: a layer that trains (``compile``/``fit``/``evaluate``/``predict``).

Three ways to make one, as in Keras:

* functional: ``rl.Model(inputs, outputs)`` on ``rl.Input`` tensors (see ``functional.py``);
* ``rl.Sequential([...])`` (see ``sequential.py``);
* subclassing: layers as attributes, the forward pass in ``call``.

>>> import numpy as np
>>> import rillet as rl
>>> class TwoLayers(rl.Model):
...     def __init__(self):
...         super().__init__()
...         self.hidden = rl.layers.Dense(8, activation="relu")
...         self.out = rl.layers.Dense(1)
...     def call(self, x):
...         return self.out(self.hidden(x))
>>> model = TwoLayers()
>>> model.compile(optimizer="adam", loss="mse")
>>> history = model.fit(np.ones((16, 3)), np.zeros((16, 1)), epochs=2, verbose=0)
>>> len(history.history["loss"]), model.count_params()
(2, 41)
"""

from __future__ import annotations

import functools
import json
import sys

from ..errors import ArgumentError
from ..layers import layer as _layer
from ..layers import masking
from ..layers.layer import Layer
from .symbolic import flatten, map_structure
from .trainer import Trainer


def _functional_arguments(args, kwargs) -> bool:
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or "inputs" in kwargs


class Model(Trainer, Layer):
    """A layer with training and inference loops (``keras.Model``)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and _functional_arguments(args, kwargs):
            from .functional import Functional

            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        from .functional import Functional

        if _functional_arguments(args, kwargs) and not isinstance(self, Functional):
            # A subclass calling super().__init__(inputs, outputs): it becomes functional.
            self.__class__ = _functional_subclass(type(self))
            Functional.__init__(self, *args, **kwargs)
            return
        if args:
            raise ArgumentError(
                f"{type(self).__name__}: Model() takes inputs and outputs (a functional "
                f"model) or keyword arguments only; received {len(args)} positional arguments"
            )
        Layer.__init__(self, **kwargs)
        Trainer.__init__(self)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("call")
        if call is not None and not getattr(call, "_keeps_masks", False):
            cls.call = _keeping_masks(call)

    def compute_mask(self, inputs, mask=None):
        """The masks the last call's outputs carried (set by the layers inside)."""
        return self.__dict__.get("_output_masks")

    def __setattr__(self, name: str, value) -> None:
        # Metrics are imported on first use: while their module is not, no value is one.
        metric = sys.modules.get("rillet.metrics.metric")
        if metric and isinstance(value, metric.Metric) and not name.startswith("_"):
            metrics = self.__dict__.setdefault("_metrics", [])
            if not any(value is m for m in metrics):
                metrics.append(value)
        super().__setattr__(name, value)

    def __call__(self, inputs, *args, **kwargs):
        # The training flag reaches the sublayers even when this call() does not take it.
        outer = _layer._CALL.training
        if kwargs.get("training") is not None:
            _layer._CALL.training = kwargs["training"]
        try:
            return super().__call__(inputs, *args, **kwargs)
        finally:
            _layer._CALL.training = outer

    # -- layers -------------------------------------------------------------------------

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at position ``index`` of ``layers``."""
        if (name is None) == (index is None):
            raise ArgumentError(
                f"get_layer: give exactly one of name and index, received name={name!r}, "
                f"index={index!r}"
            )
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ArgumentError(
                    f"get_layer: received index={index}, but the model has only "
                    f"{len(layers)} layers"
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        names = [layer.name for layer in layers]
        raise ArgumentError(f"get_layer: no layer named {name!r}; the layers are {names}")

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ) -> None:
        """Print the layers, their output shapes and parameter counts (Keras's table)."""
        from .summary import print_summary

        print_summary(
            self, line_length, positions, print_fn, expand_nested, show_trainable, layer_range
        )

    # -- weights ------------------------------------------------------------------------

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write the weights to ``filepath`` (a NumPy ``.npz``, keyed by weight path),
        atomically: a crash never leaves a half-written file under that name."""
        from . import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def save(self, filepath, overwrite: bool = True) -> None:
        """Write the whole model (architecture, weights, compile config and optimizer state)
        to ``filepath``, a ``.rillet`` zip, atomically (``rl.models.load_model`` reads it)."""
        from ..saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Read weights written by :meth:`save_weights` (no code is loaded: pickles are
        refused)."""
        from . import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    # -- configuration --------------------------------------------------------------------

    def to_json(self, **kwargs) -> str:
        """The model's configuration as a JSON string (``rl.models.model_from_json``)."""
        from .functional import serialize_layer

        return json.dumps(serialize_layer(self), default=_json_default, **kwargs)

    def get_config(self) -> dict:
        return Layer.get_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """A model from its config: a functional config (``layers``, ``input_layers``,
        ``output_layers``) rebuilds the graph; other configs go to ``cls(**config)``."""
        from .functional import Functional, rebuild_graph

        if "input_layers" in config and "layers" in config:
            inputs, outputs = rebuild_graph(config, custom_objects)
            target = Functional if cls is Model else cls
            return target(
                inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True)
            )
        return cls(**config)


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {value!r} to JSON")


def _keeping_masks(call):
    """Wrap a model's ``call`` to remember its outputs' masks for ``compute_mask``."""

    @functools.wraps(call)
    def wrapper(self, *args, **kwargs):
        outputs = call(self, *args, **kwargs)
        masks = map_structure(masking.get, outputs)
        keep = masks if any(m is not None for m in flatten(masks)) else None
        object.__setattr__(self, "_output_masks", keep)
        return outputs

    wrapper._keeps_masks = True
    return wrapper


_FUNCTIONAL_SUBCLASSES: dict = {}


def _functional_subclass(cls):
    from .functional import Functional

    made = _FUNCTIONAL_SUBCLASSES.get(cls)
    if made is None:
        made = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__})
        made.__qualname__ = cls.__qualname__
        _FUNCTIONAL_SUBCLASSES[cls] = made
    return made
