"""scikit-learn estimators wrapping rillet models (the TF.Learn idea).

``Classifier`` and ``Regressor`` follow the scikit-learn estimator API, so they work in
``Pipeline``, ``GridSearchCV`` and ``clone``. Each ``fit`` builds a fresh model by calling
``build_fn(**build_params, n_features_in_=..., n_outputs_=...)`` (the two meta arguments only
when ``build_fn`` accepts them), compiles it unless it came back compiled, and trains it.

>>> import numpy as np
>>> from rillet.sklearn import Classifier
>>> X = np.array([[0.0], [0.1], [0.9], [1.0]] * 8)
>>> y = np.array(["a", "a", "b", "b"] * 8)
>>> clf = Classifier(epochs=40, random_state=0, hidden_units=8).fit(X, y)
>>> clf.classes_.tolist(), clf.n_features_in_
(['a', 'b'], 1)
>>> clf.predict_proba(X).shape
(32, 2)
"""

from __future__ import annotations

import inspect

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
    from sklearn.exceptions import NotFittedError as _SkNotFittedError
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_X_y
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("rillet.sklearn needs scikit-learn: pip install scikit-learn") from error

from .errors import ArgumentError, ArgumentTypeError, RilletError, ShapeError

__all__ = ["Classifier", "Regressor", "NotFittedError"]

_OWN_PARAMS = (
    "build_fn", "model", "optimizer", "loss", "epochs", "batch_size", "verbose", "random_state",
)  # fmt: skip
_META_PARAMS = ("n_features_in_", "n_outputs_")


class NotFittedError(RilletError, _SkNotFittedError):
    """``predict``/``score`` was called before ``fit`` (also scikit-learn's NotFittedError)."""


def _default_mlp(n_features_in_, n_outputs_, hidden_units=32, output_activation=None):
    """One hidden ReLU layer; the default model when neither build_fn nor model is given."""
    from . import layers, models

    return models.Sequential(
        [
            models.Input((n_features_in_,)),
            layers.Dense(hidden_units, activation="relu"),
            layers.Dense(n_outputs_, activation=output_activation),
        ]
    )


class _Wrapper(BaseEstimator):
    """Shared fit/predict machinery; subclasses set the target encoding and loss."""

    _output_activation: str | None = None

    def __init__(
        self,
        build_fn=None,
        *,
        model=None,
        optimizer="adam",
        loss=None,
        epochs=10,
        batch_size=32,
        verbose=0,
        random_state=None,
        **build_params,
    ):
        self.build_fn = build_fn
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.verbose = verbose
        self.random_state = random_state
        self._build_params = dict(build_params)

    # -- the parameter protocol: __init__ params plus the free build params ------------

    def get_params(self, deep=True) -> dict:
        params = {name: getattr(self, name) for name in _OWN_PARAMS}
        params.update(self._build_params)
        return params

    def set_params(self, **params):
        for name, value in params.items():
            if name in _OWN_PARAMS:
                setattr(self, name, value)
            else:
                self._build_params[name] = value
        return self

    def __sklearn_clone__(self):
        # A rillet model or optimizer cannot be deep-copied (variables refuse); fit never
        # mutates either (it trains fresh copies), so the new estimator may share them.
        params = {
            name: value if name in ("model", "optimizer") else clone(value, safe=False)
            for name, value in self.get_params(deep=False).items()
        }
        return type(self)(**params)

    # -- fit / predict --------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, **fit_params):
        """Build a fresh model and train it on ``X`` (n_samples, n_features) and ``y``."""
        X, y = check_X_y(X, y, multi_output=True, dtype=np.float32)
        targets = self._encode_targets(y)
        self.n_features_in_ = X.shape[1]
        if self.random_state is not None:
            from .utils import set_random_seed

            set_random_seed(self.random_state)  # weights and the per-epoch shuffles
        self.model_ = self._build()
        if sample_weight is not None:
            fit_params["sample_weight"] = np.asarray(sample_weight, np.float32)
        self.history_ = self.model_.fit(
            X, targets, epochs=self.epochs, batch_size=self.batch_size,
            verbose=self.verbose, **fit_params,
        )  # fmt: skip
        return self

    def _raw_predict(self, X) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first"
            )
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"{type(self).__name__}.predict: X has {X.shape[1]} features, but the "
                f"estimator was fitted with {self.n_features_in_} features"
            )
        return np.asarray(self.model_.predict(X, batch_size=self.batch_size, verbose=0))

    def _build(self):
        from .models import Model, clone_model

        if self.build_fn is not None and self.model is not None:
            raise ArgumentError("pass build_fn or model, not both")
        if self.model is not None:
            model = clone_model(self.model)
        else:
            model = self._call_build_fn()
        if not isinstance(model, Model):
            raise ArgumentTypeError(
                f"build_fn must return a rillet Model, got {type(model).__name__}"
            )
        if self.model is not None or self.loss is not None or not model.compiled:
            model.compile(optimizer=self._fresh_optimizer(), loss=self._loss_for(model))
        return model

    def _fresh_optimizer(self):
        """A new optimizer per fit, so no state (moments, step count) leaks between fits."""
        from .optimizers import Optimizer

        if isinstance(self.optimizer, Optimizer):
            return type(self.optimizer).from_config(self.optimizer.get_config())
        return self.optimizer

    def _call_build_fn(self):
        build_fn = self.build_fn
        params = dict(self._build_params)
        if build_fn is None:
            build_fn = _default_mlp
            params.setdefault("output_activation", self._output_activation)
        meta = {"n_features_in_": self.n_features_in_, "n_outputs_": self.n_outputs_}
        accepted = inspect.signature(build_fn).parameters
        takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
        params.update((k, v) for k, v in meta.items() if takes_any or k in accepted)
        unknown = [k for k in self._build_params if not (takes_any or k in accepted)]
        if unknown:
            raise ArgumentError(
                f"build_fn {getattr(build_fn, '__name__', build_fn)!r} takes no parameter "
                f"{unknown[0]!r}; received {unknown[0]}={self._build_params[unknown[0]]!r}"
            )
        return build_fn(**params)

    def _loss_for(self, model):
        return self.loss if self.loss is not None else self._default_loss(model)


class Classifier(ClassifierMixin, _Wrapper):
    """A scikit-learn classifier training a rillet model.

    The model should output class probabilities: ``n_outputs_`` softmax units (labels are
    encoded as 0..n_classes-1 in the order of ``classes_``), or one sigmoid unit for two
    classes. The default model is a one-hidden-layer MLP (``hidden_units=32``).
    """

    _output_activation = "softmax"

    def _encode_targets(self, y):
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ShapeError(f"Classifier.fit: y must be 1-D labels, got shape {y.shape}")
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        self.n_outputs_ = len(self.classes_)
        return encoder.transform(y).astype(np.int32)

    @staticmethod
    def _default_loss(model):
        width = model.output_shape[-1]
        return "binary_crossentropy" if width == 1 else "sparse_categorical_crossentropy"

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per entry of ``classes_``."""
        proba = self._raw_predict(X).reshape(len(X), -1)
        if proba.shape[1] == 1:  # one sigmoid unit: the probability of classes_[1]
            proba = np.concatenate([1.0 - proba, proba], axis=1)
        return proba

    def predict(self, X) -> np.ndarray:
        """The most probable class label for each row of ``X``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class Regressor(RegressorMixin, _Wrapper):
    """A scikit-learn regressor training a rillet model (``n_outputs_`` linear units by
    default, ``loss="mse"``); ``score`` is R^2."""

    def _encode_targets(self, y):
        self._y_ndim = y.ndim
        y = np.asarray(y, np.float32)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y.reshape(len(y), self.n_outputs_)

    @staticmethod
    def _default_loss(model):
        return "mse"

    def predict(self, X) -> np.ndarray:
        """Predicted targets, shaped like the ``y`` given to ``fit``."""
        y = self._raw_predict(X).reshape(len(X), -1)
        return y.ravel() if self._y_ndim == 1 else y
