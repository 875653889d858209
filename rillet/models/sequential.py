"""``rl.Sequential``: a plain stack of layers, each taking the previous one's output.

>>> import rillet as rl
>>> model = rl.Sequential([rl.Input(shape=(4,)), rl.layers.Dense(8, activation="relu")])
>>> model.add(rl.layers.Dense(1))
>>> model.output_shape, len(model.layers)
((None, 1), 2)

Once the input shape is known (an ``rl.Input`` first, ``input_shape=`` on the first layer,
or the first call on data), the stack is built as a functional graph, so output shapes
and ``summary()`` are available.
"""

from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError
from ..layers.layer import Layer, unique_name
from .model import Model
from .symbolic import InputLayer, is_keras_tensor


class Sequential(Model):
    """A linear stack of layers (``keras.Sequential``)."""

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name or unique_name("sequential"))
        object.__setattr__(self, "_layers", [])
        object.__setattr__(self, "_functional", None)
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # -- the stack ------------------------------------------------------------------------

    def add(self, layer, rebuild: bool = True) -> None:
        """Append ``layer`` (or the ``InputLayer`` of an ``rl.Input`` tensor)."""
        if is_keras_tensor(layer) and isinstance(
            getattr(layer, "_keras_history", (None,))[0], InputLayer
        ):
            layer = layer._keras_history[0]
        if not isinstance(layer, Layer):
            raise ArgumentTypeError(
                "Only instances of `rl.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        if isinstance(layer, InputLayer) and self._layers:
            raise ArgumentError(
                f"Sequential model '{self.name}': an Input can only be its first layer; it "
                f"already has the layers {[x.name for x in self._layers]}"
            )
        if any(layer.name == known.name for known in self._layers):
            raise ArgumentError(
                "All layers added to a Sequential model should have unique names. Name "
                f"'{layer.name}' is already the name of a layer in this model. Update the "
                "`name` argument to pass a unique name."
            )
        if not self._layers and not isinstance(layer, InputLayer):
            shape = getattr(layer, "_batch_input_shape", None)
            if shape is not None:
                self._layers.append(InputLayer(batch_shape=shape, dtype=layer.dtype))
        self._layers.append(layer)
        self._changed()
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise ArgumentError(f"Sequential model '{self.name}': there are no layers to pop")
        layer = self._layers.pop()
        self._changed()
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _changed(self) -> None:
        self._tracked["layers"] = list(self._layers)
        object.__setattr__(self, "_functional", None)
        self.built = False
        self.train_function = self.test_function = self.predict_function = None
        self._data_built = False

    def _maybe_rebuild(self) -> None:
        if len(self._layers) > 1 and isinstance(self._layers[0], InputLayer):
            self.build(self._layers[0].batch_shape)

    @property
    def layers(self) -> list:
        """The layers, without the ``InputLayer`` at the bottom of the stack."""
        if self._layers and isinstance(self._layers[0], InputLayer):
            return self._layers[1:]
        return list(self._layers)

    def build(self, input_shape=None) -> None:
        """Build the stack as a functional graph on inputs of ``input_shape``."""
        from .functional import Functional

        if not self._layers or (isinstance(self._layers[0], InputLayer) and input_shape is None):
            input_shape = self._layers[0].batch_shape if self._layers else None
        if input_shape is None:
            raise ArgumentError(f"Sequential model '{self.name}': build() needs an input_shape")
        if not isinstance(self._layers[0], InputLayer):
            shape = (None, *tuple(input_shape)[1:])
            self._layers.insert(0, InputLayer(batch_shape=shape, dtype=self._layers[0].dtype))
            self._tracked["layers"] = list(self._layers)
        inputs = x = self._layers[0].output
        try:
            for layer in self._layers[1:]:
                x = layer(x)
        except NotImplementedError:  # a layer cannot run on symbolic inputs: stay deferred
            self.built = True
            return
        functional = Functional(inputs, x, name=f"{self.name}_graph", trainable=self.trainable)
        object.__setattr__(self, "_functional", functional)
        self.built = True

    def _autocast(self, inputs):
        if self._functional is not None:
            return inputs  # converted to the Input's dtype by the graph
        return super()._autocast(inputs)

    def call(self, inputs, training=None, mask=None):
        if self._functional is not None:
            return self._functional.call(inputs, training=training, mask=mask)
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs

    # -- shapes -------------------------------------------------------------------------

    def _graph(self):
        if self._functional is None:
            raise ArgumentError(
                f"Sequential model '{self.name}' has not been built yet: give it an rl.Input, "
                "an input_shape, or call it on data"
            )
        return self._functional

    @property
    def input(self):
        return self._graph().input

    @property
    def output(self):
        return self._graph().output

    @property
    def inputs(self) -> list:
        return self._graph().inputs

    @property
    def outputs(self) -> list:
        return self._graph().outputs

    @property
    def input_shape(self):
        return self._graph().input_shape

    @property
    def output_shape(self):
        return self._graph().output_shape

    @property
    def output_names(self):
        return None if self._functional is None else self._functional.output_names

    # -- configuration ------------------------------------------------------------------

    def get_config(self) -> dict:
        from .functional import serialize_layer

        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype.name,
            "layers": [serialize_layer(layer) for layer in self._layers],
        }
        if self._functional is not None:
            config["build_input_shape"] = self._layers[0].batch_shape
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from .functional import deserialize_layer

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            model.add(deserialize_layer(entry, custom_objects), rebuild=False)
        shape = config.get("build_input_shape")
        if model._layers and isinstance(model._layers[0], InputLayer):
            model._maybe_rebuild()
        elif shape is not None:
            model.build(tuple(shape))
        return model
