"""rillet.sklearn: the scikit-learn estimator API, checked with scikit-learn's own tools."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.exceptions import NotFittedError as SkNotFittedError  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks  # noqa: E402

import rillet as rl  # noqa: E402
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError  # noqa: E402
from rillet.sklearn import Classifier, NotFittedError, Regressor  # noqa: E402


def build_mlp(n_features_in_, n_outputs_, hidden=16, activation="softmax"):
    return rl.Sequential(
        [
            rl.Input((n_features_in_,)),
            rl.layers.Dense(hidden, activation="relu"),
            rl.layers.Dense(n_outputs_, activation=activation),
        ]
    )


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_params_round_trip_through_clone_including_build_params():
    clf = Classifier(build_mlp, epochs=3, hidden=7)
    assert clf.get_params()["hidden"] == 7 and clf.get_params()["epochs"] == 3
    copy = clone(clf.set_params(hidden=9, batch_size=8))
    assert copy.get_params() == clf.get_params() and copy is not clf
    assert is_classifier(Classifier()) and is_regressor(Regressor())


def test_classifier_in_pipeline_learns_iris(iris):
    X_train, X_test, y_train, y_test = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    adam = rl.optimizers.Adam(0.01)
    clf = Classifier(build_mlp, optimizer=adam, epochs=60, batch_size=16, random_state=0)
    pipe = make_pipeline(StandardScaler(), clf).fit(X_train, names[y_train])
    assert clf.classes_.tolist() == names.tolist() and clf.n_features_in_ == 4
    proba = pipe.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    predicted = pipe.predict(X_test)
    assert predicted.dtype == names.dtype
    np.testing.assert_array_equal(predicted, names[np.argmax(proba, axis=1)])
    assert pipe.score(X_test, names[y_test]) == accuracy_score(names[y_test], predicted)
    assert pipe.score(X_test, names[y_test]) >= 0.9


def test_classifier_random_state_makes_fit_reproducible(iris):
    X_train, X_test, y_train, _ = iris
    X_train, X_test = X_train / 8.0, X_test / 8.0
    make = lambda: Classifier(epochs=3, random_state=5).fit(X_train, y_train)
    np.testing.assert_array_equal(make().predict_proba(X_test), make().predict_proba(X_test))


def test_binary_classifier_with_one_sigmoid_unit():
    X = np.linspace(-1, 1, 64).reshape(-1, 1)
    y = np.where(X[:, 0] > 0, "pos", "neg")
    build = lambda n_features_in_: build_mlp(n_features_in_, 1, 8, "sigmoid")
    clf = Classifier(build, epochs=80, batch_size=16, random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (64, 2) and clf.score(X, y) >= 0.9


def test_grid_search_over_build_and_fit_params(iris):
    X_train, _, y_train, _ = iris
    adam = rl.optimizers.Adam(0.01)
    clf = Classifier(build_mlp, optimizer=adam, epochs=5, random_state=0)
    pipe = make_pipeline(StandardScaler(), clf)
    grid = {"classifier__hidden": [1, 16], "classifier__epochs": [1, 40]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    assert search.best_params_ == {"classifier__hidden": 16, "classifier__epochs": 40}
    assert not hasattr(clf, "model_") and adam.iterations.numpy() == 0


def test_regressor_on_diabetes_matches_r2_reference():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    y_train, y_test = [(t - y_train.mean()) / y_train.std() for t in (y_train, y_test)]
    adam = rl.optimizers.Adam(0.01)
    reg = Regressor(optimizer=adam, epochs=30, random_state=0, hidden_units=4)
    pipe = make_pipeline(StandardScaler(), reg).fit(X_train, y_train)
    predicted = pipe.predict(X_test)
    assert predicted.shape == y_test.shape
    score = pipe.score(X_test, y_test)
    assert score == pytest.approx(r2_score(y_test, predicted), rel=1e-6)
    linear = LinearRegression().fit(X_train, y_train).score(X_test, y_test)  # ~0.36
    assert score >= 0.75 * linear


def test_regressor_keeps_two_column_targets():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.stack([X[:, 0], -X[:, 1]], axis=1)
    reg = Regressor(epochs=2, random_state=0).fit(X, y)
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (40, 2)


def test_model_argument_is_cloned_per_fit():
    X = np.random.default_rng(1).normal(size=(30, 2))
    y = X.sum(axis=1)
    template = rl.Sequential([rl.Input((2,)), rl.layers.Dense(1)])
    before = [w.copy() for w in template.get_weights()]
    reg = clone(Regressor(model=template, epochs=3, random_state=0)).fit(X, y)
    assert reg.model_ is not template
    for old, new in zip(before, template.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_predict_before_fit_is_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted") as info:
        Classifier().predict(np.zeros((2, 3)))
    assert isinstance(info.value, SkNotFittedError)


def test_predict_with_wrong_feature_count_names_both():
    clf = Classifier(epochs=1).fit(np.zeros((6, 3)), [0, 1] * 3)
    with pytest.raises(ShapeError, match="2 features.*fitted with 3"):
        clf.predict(np.zeros((2, 2)))


def test_unknown_build_param_is_named():
    with pytest.raises(ArgumentError, match="takes no parameter 'width'.*width=3"):
        Classifier(build_mlp, epochs=1, width=3).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_build_fn_returning_non_model_is_named():
    with pytest.raises(ArgumentTypeError, match="must return a rillet Model, got int"):
        Regressor(lambda: 3, epochs=1).fit(np.zeros((4, 2)), np.zeros(4))


_CHECKS = [
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_no_attributes_set_in_init",
    "check_estimators_unfitted",
    "check_fit2d_predict1d",
    "check_n_features_in",
    "check_fit_score_takes_y",
    "check_dont_overwrite_parameters",
    "check_estimators_dtypes",
]


@pytest.mark.parametrize("check", _CHECKS)
@pytest.mark.parametrize("estimator", [Classifier, Regressor], ids=lambda e: e.__name__)
def test_scikit_learn_estimator_checks(estimator, check):
    getattr(estimator_checks, check)(estimator.__name__, estimator(epochs=1))
