"""What ``Model.compile`` makes of its ``loss``, ``loss_weights``, ``metrics`` and
``weighted_metrics`` arguments, for one output or several (a list or a dict of outputs).

Both containers are built on the first batch, when the shapes of ``y_true`` and ``y_pred``
are known ("accuracy" becomes the binary, sparse or categorical accuracy), and then run with
rillet ops only, so they trace into the compiled training step.
"""

from __future__ import annotations

from .. import dtypes as _dtypes
from .. import losses as _losses
from .. import metrics as _metrics
from .. import ops
from ..errors import ArgumentError, ArgumentTypeError

# -- outputs ------------------------------------------------------------------------------


def output_structure(y_pred, output_names) -> list[str]:
    """The names of the flat outputs: the model's output names, a dict's keys, or
    ``output_1, output_2, ...``."""
    if isinstance(y_pred, dict):
        if output_names and set(output_names) == set(y_pred):
            return list(output_names)
        return list(y_pred)
    count = len(y_pred) if isinstance(y_pred, (list, tuple)) else 1
    if output_names and len(output_names) == count:
        return list(output_names)
    return [f"output_{i + 1}" for i in range(count)]


def flatten_outputs(value, names: list[str], what: str):
    """``value`` (one tensor, a list, or a dict keyed by output name) as a list in the
    order of ``names``; ``None`` stays ``None``."""
    if value is None:
        return [None] * len(names)
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ArgumentError(
                f"{what}: keys {unknown} are not outputs of the model; the outputs are {names}"
            )
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(names) == 1 and len(value) != 1:
            return [value]
        if len(value) != len(names):
            raise ArgumentError(
                f"{what}: expected {len(names)} entries, one per model output {names}, "
                f"got {len(value)}"
            )
        return list(value)
    if len(names) != 1:
        raise ArgumentError(
            f"{what}: the model has {len(names)} outputs {names}; pass a list or a dict of "
            f"{len(names)} entries"
        )
    return [value]


def _per_output(arg, names: list[str], what: str, broadcast: bool) -> list:
    """The compile argument ``arg`` as one entry per output."""
    if arg is None:
        return [None] * len(names)
    if isinstance(arg, dict):
        unknown = sorted(set(arg) - set(names))
        if unknown:
            raise ArgumentError(
                f"compile: in the dict argument `{what}`, keys {unknown} do not correspond to "
                f"any model output; the outputs are {names}"
            )
        return [arg.get(name) for name in names]
    if isinstance(arg, (list, tuple)):
        if len(arg) != len(names):
            raise ArgumentError(
                f"compile: for a model with {len(names)} outputs, `{what}` given as a list "
                f"needs {len(names)} entries, received {what}={arg!r}"
            )
        return list(arg)
    if broadcast or len(names) == 1:
        return [arg] * len(names)
    return [arg] + [None] * (len(names) - 1)


# -- losses -------------------------------------------------------------------------------


def get_loss(identifier, y_true, y_pred):
    """A :class:`rillet.losses.Loss` for ``identifier``; "crossentropy"/"ce" pick the
    binary, sparse or categorical cross-entropy from the shapes, as Keras does."""
    if identifier is None:
        return None
    name = identifier if isinstance(identifier, str) else None
    if isinstance(identifier, str) and identifier.lower() in ("crossentropy", "ce"):
        kind = _metrics._kind_of_shapes(tuple(y_true.shape), tuple(y_pred.shape))
        identifier = {
            "binary": _losses.binary_crossentropy,
            "sparse": _losses.sparse_categorical_crossentropy,
        }.get(kind, _losses.categorical_crossentropy)
    loss = _losses.get(identifier)
    if isinstance(loss, _losses.Loss):
        return loss
    if not callable(loss):
        raise ArgumentTypeError(f"compile: could not interpret loss {identifier!r}")
    return _losses.LossFunctionWrapper(loss, name=name or getattr(loss, "__name__", "loss"))


class CompileLoss:
    """The total loss of the outputs: ``sum(loss_weight_i * loss_i(y_true_i, y_pred_i))``.

    With several losses, each output's (unweighted) loss is also tracked by a ``Mean``
    metric named ``<output>_loss``.
    """

    def __init__(self, loss, loss_weights=None, output_names=None):
        if loss_weights is not None and not isinstance(
            loss_weights, (list, tuple, dict, float, int)
        ):
            raise ArgumentError(
                "compile: expected `loss_weights` to be a float (one output) or a list or "
                f"dict (several outputs), received loss_weights={loss_weights!r}"
            )
        self._user_loss = loss
        self._user_loss_weights = loss_weights
        self.output_names = output_names
        self.built = False
        self.metrics: list = []

    def build(self, y_true, y_pred) -> None:
        self.names = output_structure(y_pred, self.output_names)
        flat_pred = flatten_outputs(y_pred, self.names, "y_pred")
        flat_true = flatten_outputs(y_true, self.names, "y")
        user = _per_output(self._user_loss, self.names, "loss", broadcast=True)
        weights = _per_output(self._user_loss_weights, self.names, "loss_weights", broadcast=False)
        self.losses = []
        for name, identifier, weight, yt, yp in zip(
            self.names, user, weights, flat_true, flat_pred
        ):
            if identifier is None:
                continue
            if yt is None:
                raise ArgumentError(
                    f"compile: output '{name}' has a loss but no target; pass y for it"
                )
            loss = get_loss(identifier, yt, yp)
            self.losses.append((name, loss, None if weight is None else float(weight)))
        if len(self.losses) > 1:
            self.metrics = [_metrics.Mean(name=f"{name}_loss") for name, _, _ in self.losses]
        self.built = True

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not self.built:
            self.build(y_true, y_pred)
        flat_pred = flatten_outputs(y_pred, self.names, "y_pred")
        flat_true = flatten_outputs(y_true, self.names, "y")
        flat_weights = _sample_weights(sample_weight, self.names)
        index = {name: i for i, name in enumerate(self.names)}
        total = None
        for k, (name, loss, weight) in enumerate(self.losses):
            i = index[name]
            value = loss(flat_true[i], flat_pred[i], flat_weights[i])
            if not _dtypes.is_floating(value.dtype):
                value = ops.cast(value, dtype=_dtypes.float32)
            if self.metrics:
                batch = flat_pred[i].shape[0] if flat_pred[i].ndim else 1
                self.metrics[k].update_state(value, sample_weight=batch)
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        return total


def _sample_weights(sample_weight, names: list[str]) -> list:
    """One sample weight per output: a single array applies to every output."""
    if sample_weight is None:
        return [None] * len(names)
    if isinstance(sample_weight, dict) or (
        isinstance(sample_weight, (list, tuple)) and len(names) > 1
    ):
        return flatten_outputs(sample_weight, names, "sample_weight")
    return [sample_weight] * len(names)


# -- metrics ------------------------------------------------------------------------------


class CompileMetrics(_metrics.Metric):
    """The metrics given to ``compile``: a result dict of ``name: value``, names prefixed by
    the output's name when the model has several outputs."""

    def __init__(self, metrics, weighted_metrics, output_names=None, losses=None):
        super().__init__(name="compile_metrics")
        for what, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ArgumentError(
                    f"compile: expected `{what}` to be a list, tuple or dict, received "
                    f"{what}={value!r}"
                )
        self._user_metrics = metrics
        self._user_weighted_metrics = weighted_metrics
        self._user_losses = losses
        self.output_names = output_names
        self.built = False
        self._plain: list = []
        self._weighted: list = []

    @property
    def metrics(self) -> list:
        return [m for group in self._plain + self._weighted for m in group]

    @property
    def variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def build(self, y_true, y_pred) -> None:
        self.names = output_structure(y_pred, self.output_names)
        flat_pred = flatten_outputs(y_pred, self.names, "y_pred")
        flat_true = flatten_outputs(y_true, self.names, "y")
        losses = _per_output(self._user_losses, self.names, "loss", broadcast=True)
        self._plain = self._build_set(self._user_metrics, "metrics", flat_true, flat_pred, losses)
        self._weighted = self._build_set(
            self._user_weighted_metrics, "weighted_metrics", flat_true, flat_pred, losses
        )
        self._result_names = self._names_for_results()
        self.built = True

    def _build_set(self, user, what: str, flat_true, flat_pred, losses) -> list:
        if user is None:
            return [[] for _ in self.names]
        if len(self.names) == 1:
            if isinstance(user, dict):
                _per_output(user, self.names, what, broadcast=False)  # checks the keys
                user = [m for entry in user.values() for m in _as_list(entry)]
            entries = [user]
        else:
            entries = _per_output(user, self.names, what, broadcast=False)
        groups = []
        for entry, yt, yp, loss in zip(entries, flat_true, flat_pred, losses):
            groups.append([_resolve(m, loss, yt, yp) for m in _as_list(entry) if m is not None])
        return groups

    def _names_for_results(self) -> list:
        """Keras's names: ``<output>_<metric>`` with several outputs; a repeated name gets
        ``_1``, ``_2``, ... (a weighted metric first tries ``weighted_<metric>``)."""
        counts: dict[str, int] = {}
        names = []
        for weighted, groups in ((False, self._plain), (True, self._weighted)):
            for output, group in zip(self.names, groups):
                for metric in group:
                    prefix = f"{output}_" if len(self.names) > 1 else ""
                    name = prefix + metric.name
                    if name in counts and weighted:
                        name = f"{prefix}weighted_{metric.name}"
                    if name in counts:
                        counts[name] += 1
                        name = f"{name}_{counts[name] - 1}"
                    counts.setdefault(name, 1)
                    names.append(name)
        return names

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if not self.built:
            self.build(y_true, y_pred)
        flat_pred = flatten_outputs(y_pred, self.names, "y_pred")
        flat_true = flatten_outputs(y_true, self.names, "y")
        flat_weights = _sample_weights(sample_weight, self.names)
        for group, yt, yp in zip(self._plain, flat_true, flat_pred):
            for metric in group:
                metric.update_state(yt, yp)
        for group, yt, yp, sw in zip(self._weighted, flat_true, flat_pred, flat_weights):
            for metric in group:
                metric.update_state(yt, yp, sample_weight=sw)

    def result(self) -> dict:
        if not self.built:
            return {}
        return {name: m.result() for name, m in zip(self._result_names, self.metrics)}

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()


def _as_list(entry) -> list:
    if entry is None:
        return []
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


def _resolve(identifier, loss, y_true, y_pred):
    if not (isinstance(identifier, (str, _metrics.Metric)) or callable(identifier)):
        raise ArgumentTypeError(f"compile: could not interpret metric {identifier!r}")
    shape_true = None if y_true is None else tuple(y_true.shape)
    return _metrics.resolve(identifier, loss, shape_true, tuple(y_pred.shape))
