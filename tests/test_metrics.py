"""Metrics against NumPy references: accumulation over batches with sample weights, reset,
configs, tracing into compiled steps, lookup and errors."""

import numpy as np
import pytest

import rillet as rl
from rillet import losses, metrics
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError

N, C = 40, 5


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, N)
    scores = rng.standard_normal((N, C)) + 1.5 * np.eye(C)[labels]  # informative scores
    binary = rng.integers(0, 2, N)
    return {
        "labels": labels,
        "onehot": np.eye(C)[labels],
        "scores": scores,
        "probs": np.exp(scores) / np.exp(scores).sum(-1, keepdims=True),
        "binary": binary,
        "binary_scores": 1 / (1 + np.exp(-(rng.standard_normal(N) + 1.2 * (2 * binary - 1)))),
        "multi": rng.integers(0, 2, (N, 3)),
        "multi_scores": rng.uniform(0, 1, (N, 3)),
        "regression_true": rng.standard_normal((N, 2)),
        "regression_pred": rng.standard_normal((N, 2)),
        "weights": rng.uniform(0, 2, N),
    }


def _halves(*arrays):
    """Two batches of every array (the first 15 rows, then the rest)."""
    return [tuple(a[:15] for a in arrays), tuple(a[15:] for a in arrays)]


def _accumulate(metric, y_true, y_pred, weights=None):
    """Update with two batches, with or without sample weights; the result as NumPy."""
    arrays = (y_true, y_pred) if weights is None else (y_true, y_pred, weights)
    for batch in _halves(*arrays):
        metric.update_state(*batch[:2], sample_weight=None if weights is None else batch[2])
    return np.asarray(metric.result(), dtype=np.float64)


def _weighted_mean(values, weights):
    return np.sum(values * weights) / np.sum(weights)


# -- means -----------------------------------------------------------------------------------


def test_mean_and_sum_accumulate_weighted_values(data):
    values, w = data["regression_true"][:, 0], data["weights"]
    mean, total = metrics.Mean(), metrics.Sum()
    for v, weight in _halves(values, w):
        mean.update_state(v, sample_weight=weight)
        total.update_state(v, sample_weight=weight)
    assert float(mean.result()) == pytest.approx(_weighted_mean(values, w), rel=1e-5)
    assert float(total.result()) == pytest.approx(np.sum(values * w), rel=1e-5)
    mean.reset_state()
    assert float(mean.result()) == 0.0 and mean.count.numpy() == 0


def test_mean_reduces_extra_axes_per_sample():
    m = metrics.Mean()
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]), sample_weight=np.array([1.0, 3.0]))
    assert float(m.result()) == pytest.approx((2.0 + 3 * 6.0) / 4.0)


@pytest.mark.parametrize(
    "make, fn",
    [
        (metrics.MeanSquaredError, lambda y, p: np.mean((y - p) ** 2, -1)),
        (metrics.MeanAbsoluteError, lambda y, p: np.mean(np.abs(y - p), -1)),
        (
            metrics.MeanAbsolutePercentageError,
            lambda y, p: 100 * np.mean(np.abs((y - p) / np.maximum(np.abs(y), 1e-7)), -1),
        ),
        (metrics.CosineSimilarity, lambda y, p: np.sum(y * p, -1) / np.linalg.norm(y, axis=-1)
         / np.linalg.norm(p, axis=-1)),
        (metrics.LogCoshError, lambda y, p: np.mean(np.log(np.cosh(p - y)), -1)),
    ],
)  # fmt: skip
def test_regression_metrics_are_weighted_means(data, make, fn):
    y, p, w = data["regression_true"], data["regression_pred"], data["weights"]
    got = _accumulate(make(), y, p, w)
    assert got == pytest.approx(_weighted_mean(fn(y, p), w), rel=1e-5)


def test_root_mean_squared_error(data):
    y, p, w = data["regression_true"], data["regression_pred"], data["weights"]
    expected = np.sqrt(_weighted_mean(np.mean((y - p) ** 2, -1), w))
    assert _accumulate(metrics.RootMeanSquaredError(), y, p, w) == pytest.approx(expected, 1e-5)


def test_crossentropy_metrics_match_the_losses(data):
    y, z, w = data["labels"], data["scores"], data["weights"]
    expected = losses.sparse_categorical_crossentropy(y, z, from_logits=True).numpy()
    got = _accumulate(metrics.SparseCategoricalCrossentropy(from_logits=True), y, z, w)
    assert got == pytest.approx(_weighted_mean(expected, w), rel=1e-5)
    metric = metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert metric.get_config()["label_smoothing"] == 0.1


# -- accuracy ------------------------------------------------------------------------------


def test_accuracy_family(data):
    labels, onehot, probs, w = data["labels"], data["onehot"], data["probs"], data["weights"]
    correct = (probs.argmax(-1) == labels).astype(float)
    expected = _weighted_mean(correct, w)
    assert _accumulate(metrics.SparseCategoricalAccuracy(), labels, probs, w) == pytest.approx(
        expected, rel=1e-5
    )
    got = _accumulate(metrics.SparseCategoricalAccuracy(), labels[:, None], probs, w)
    assert got == pytest.approx(expected, rel=1e-5)
    got = _accumulate(metrics.CategoricalAccuracy(), onehot, probs, w)
    assert got == pytest.approx(expected, rel=1e-5)
    got = _accumulate(metrics.Accuracy(), labels, probs.argmax(-1), w)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_binary_accuracy(data, threshold):
    y, p, w = data["binary"], data["binary_scores"], data["weights"]
    expected = _weighted_mean(((p > threshold) == y).astype(float), w)
    got = _accumulate(metrics.BinaryAccuracy(threshold=threshold), y[:, None], p[:, None], w)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy(data, k):
    labels, scores = data["labels"], data["scores"]
    top = np.argsort(-scores, axis=-1)[:, :k]
    expected = np.mean([label in row for label, row in zip(labels, top)])
    got = _accumulate(metrics.SparseTopKCategoricalAccuracy(k=k), labels, scores)
    assert got == pytest.approx(expected, rel=1e-6)
    got = _accumulate(metrics.TopKCategoricalAccuracy(k=k), data["onehot"], scores)
    assert got == pytest.approx(expected, rel=1e-6)


def test_top_k_counts_ties_at_the_boundary_as_inside():
    got = metrics.sparse_top_k_categorical_accuracy([2], [[0.5, 0.3, 0.3, 0.1]], k=2)
    assert got.numpy().tolist() == [1.0]


# -- precision, recall, counts --------------------------------------------------------------


def _counts(y, p, w, thresholds):
    positive = (y != 0)[None, :]
    predicted = p[None, :] > np.asarray(thresholds)[:, None]
    tp = np.sum(w * (positive & predicted), -1)
    fp = np.sum(w * (~positive & predicted), -1)
    fn = np.sum(w * (positive & ~predicted), -1)
    tn = np.sum(w * (~positive & ~predicted), -1)
    return tp, fp, tn, fn


@pytest.mark.parametrize("thresholds", [None, 0.3, [0.2, 0.5, 0.8]])
def test_precision_recall_and_counts(data, thresholds):
    y, p, w = data["binary"], data["binary_scores"], data["weights"]
    t = [0.5] if thresholds is None else np.atleast_1d(thresholds)
    tp, fp, tn, fn = _counts(y, p, w, t)
    squeeze = (lambda a: a[0]) if np.ndim(thresholds) == 0 else (lambda a: a)
    for make, expected in [
        (metrics.Precision, tp / (tp + fp)),
        (metrics.Recall, tp / (tp + fn)),
        (metrics.TruePositives, tp),
        (metrics.FalsePositives, fp),
        (metrics.TrueNegatives, tn),
        (metrics.FalseNegatives, fn),
    ]:
        got = _accumulate(make(thresholds=thresholds), y, p, w)
        np.testing.assert_allclose(got, squeeze(expected), rtol=1e-5)


def test_precision_recall_top_k_and_class_id(data):
    onehot, scores = data["onehot"], data["probs"]
    top2 = np.argsort(-scores, -1)[:, :2]
    chosen = np.zeros_like(onehot, dtype=bool)
    np.put_along_axis(chosen, top2, True, -1)
    tp = np.sum(chosen & (onehot == 1))
    got = _accumulate(metrics.Precision(top_k=2), onehot, scores)
    assert got == pytest.approx(tp / chosen.sum(), rel=1e-6)
    got = _accumulate(metrics.Recall(top_k=2), onehot, scores)
    assert got == pytest.approx(tp / onehot.sum(), rel=1e-6)
    column = 3
    predicted, positive = scores[:, column] > 0.5, onehot[:, column] == 1
    got = _accumulate(metrics.Precision(class_id=column), onehot, scores)
    assert got == pytest.approx(np.sum(predicted & positive) / max(predicted.sum(), 1), rel=1e-6)


# -- AUC -----------------------------------------------------------------------------------


def _keras_thresholds(n=200):
    inner = [(i + 1) / (n - 1) for i in range(n - 2)]
    return np.array([-1e-7] + inner + [1 + 1e-7])


def _auc_reference(y, p, w, curve="ROC", summation="interpolation", n=200):
    """Keras's Riemann sum over the confusion counts at ``n`` evenly spaced thresholds."""
    tp, fp, tn, fn = _counts(y, p, w, _keras_thresholds(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(tp / (tp + fn))
        if curve == "ROC":
            x, yy = np.nan_to_num(fp / (fp + tn)), recall
        else:
            x, yy = recall, np.nan_to_num(tp / (tp + fp))
    pairs = np.stack([yy[:-1], yy[1:]])
    heights = {
        "interpolation": pairs.mean(0),
        "minoring": pairs.min(0),
        "majoring": pairs.max(0),
    }[summation]
    return np.sum((x[:-1] - x[1:]) * heights)


def _pr_interpolation_reference(y, p, w, n=200):
    tp, fp, _, fn = _counts(y, p, w, _keras_thresholds(n))
    auc = 0.0
    for i in range(n - 1):
        d_tp, p_hi, p_lo = tp[i] - tp[i + 1], tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        d_p = p_hi - p_lo
        slope = d_tp / d_p if d_p > 0 else 0.0
        intercept = tp[i + 1] - slope * p_lo
        ratio = p_hi / p_lo if p_hi > 0 and p_lo > 0 else 1.0
        denominator = tp[i + 1] + fn[i + 1]
        if denominator > 0:
            auc += slope * (d_tp + intercept * np.log(ratio)) / denominator
    return auc


def _exact_auc(y, p):
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos, neg = p[y == 1], p[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
def test_roc_auc_matches_the_trapezoid_on_thresholds(data, summation):
    y, p, w = data["binary"], data["binary_scores"], data["weights"]
    got = _accumulate(metrics.AUC(summation_method=summation), y, p, w)
    assert got == pytest.approx(_auc_reference(y, p, w, summation=summation), rel=1e-5)


def test_roc_auc_is_within_1e_3_of_the_exact_auc():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 2000)
    p = 1 / (1 + np.exp(-(rng.standard_normal(2000) + 1.5 * (2 * y - 1))))
    m = metrics.AUC(num_thresholds=200)
    m.update_state(y, p)
    assert abs(float(m.result()) - _exact_auc(y, p)) < 1e-3


def test_pr_auc_matches_interpolated_reference(data):
    y, p, w = data["binary"], data["binary_scores"], data["weights"]
    got = _accumulate(metrics.AUC(curve="PR"), y, p, w)
    assert got == pytest.approx(_pr_interpolation_reference(y, p, w), rel=1e-5)
    got = _accumulate(metrics.AUC(curve="pr", summation_method="majoring"), y, p, w)
    assert got == pytest.approx(_auc_reference(y, p, w, "PR", "majoring"), rel=1e-5)


def test_auc_from_logits_and_explicit_thresholds(data):
    y, p = data["binary"], data["binary_scores"]
    logits = np.log(p / (1 - p))
    got = _accumulate(metrics.AUC(num_thresholds=50, from_logits=True), y, logits)
    assert got == pytest.approx(_auc_reference(y, p, np.ones(N), n=50), rel=1e-5)
    thresholds = [(i + 1) / 49 for i in range(48)]
    got = _accumulate(metrics.AUC(thresholds=thresholds), y, p)
    assert got == pytest.approx(_auc_reference(y, p, np.ones(N), n=50), rel=1e-5)


def test_multi_label_auc_averages_labels(data):
    y, p = data["multi"], data["multi_scores"]
    per_label = [_auc_reference(y[:, i], p[:, i], np.ones(N)) for i in range(3)]
    assert _accumulate(metrics.AUC(multi_label=True), y, p) == pytest.approx(
        np.mean(per_label), rel=1e-5
    )
    weights = [1.0, 2.0, 0.5]
    got = _accumulate(metrics.AUC(multi_label=True, num_labels=3, label_weights=weights), y, p)
    assert got == pytest.approx(np.dot(per_label, weights) / 3.5, rel=1e-5)
    pooled = _auc_reference(y.ravel(), p.ravel(), np.ones(3 * N))
    assert _accumulate(metrics.AUC(), y, p) == pytest.approx(pooled, rel=1e-5)


# -- F-scores and IoU ------------------------------------------------------------------------


def _f_reference(y, pred, w, average, beta=1.0):
    eps = 1e-7
    axis = None if average == "micro" else 0
    tp = np.sum(w[:, None] * pred * y, axis=axis)
    fp = np.sum(w[:, None] * pred * (1 - y), axis=axis)
    fn = np.sum(w[:, None] * (1 - pred) * y, axis=axis)
    precision, recall = tp / (tp + fp + eps), tp / (tp + fn + eps)
    f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall + eps)
    if average == "weighted":
        support = np.sum(w[:, None] * y, axis=0)
        return np.sum(f * support / (support.sum() + eps))
    return f if average is None else np.mean(f)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.3])
def test_f1_score(data, average, threshold):
    y, p, w = data["onehot"], data["probs"], data["weights"]
    if threshold is None:
        pred = (p >= p.max(-1, keepdims=True)).astype(float)
    else:
        pred = (p > threshold).astype(float)
    got = _accumulate(metrics.F1Score(average=average, threshold=threshold), y, p, w)
    np.testing.assert_allclose(got, _f_reference(y, pred, w, average), rtol=1e-5)


def test_fbeta_score(data):
    y, p = data["onehot"], data["probs"]
    pred = (p > 0.4).astype(float)
    got = _accumulate(metrics.FBetaScore(average="macro", beta=2.0, threshold=0.4), y, p)
    assert got == pytest.approx(_f_reference(y, pred, np.ones(N), "macro", 2.0), rel=1e-5)


def test_mean_iou(data):
    labels, predicted, w = data["labels"], data["probs"].argmax(-1), data["weights"]
    cm = np.zeros((C, C))
    np.add.at(cm, (labels, predicted), w)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    expected = np.sum(tp / (union + 1e-7)) / np.sum(union > 0)
    got = _accumulate(metrics.MeanIoU(num_classes=C), labels, predicted, w)
    assert got == pytest.approx(expected, rel=1e-5)
    got = _accumulate(metrics.MeanIoU(C, sparse_y_true=False, sparse_y_pred=False),
                      data["onehot"], data["probs"], w)  # fmt: skip
    assert got == pytest.approx(expected, rel=1e-5)


def test_mean_iou_ignore_class():
    m = metrics.MeanIoU(num_classes=2, ignore_class=0)
    m.update_state([0, 0, 1, 1], [1, 0, 1, 0])
    # Only the true-1 samples count: class 1 IoU 1/2, class 0 IoU 0/1 -> mean 0.25.
    assert float(m.result()) == pytest.approx(0.25, rel=1e-5)


# -- state, configs, tracing -----------------------------------------------------------------

ALL = [
    lambda: metrics.Mean(name="loss"),
    lambda: metrics.Sum(),
    lambda: metrics.Accuracy(),
    lambda: metrics.BinaryAccuracy(threshold=0.7),
    lambda: metrics.CategoricalAccuracy(),
    lambda: metrics.SparseCategoricalAccuracy(),
    lambda: metrics.TopKCategoricalAccuracy(k=2),
    lambda: metrics.SparseTopKCategoricalAccuracy(k=3),
    lambda: metrics.MeanSquaredError(),
    lambda: metrics.MeanAbsoluteError(),
    lambda: metrics.RootMeanSquaredError(),
    lambda: metrics.AUC(num_thresholds=20, curve="PR", from_logits=True),
    lambda: metrics.AUC(thresholds=[0.2, 0.6]),
    lambda: metrics.Precision(thresholds=[0.3, 0.6], class_id=1),
    lambda: metrics.Recall(top_k=2),
    lambda: metrics.TruePositives(thresholds=0.4),
    lambda: metrics.F1Score(average="macro", threshold=0.4),
    lambda: metrics.FBetaScore(beta=0.5),
    lambda: metrics.MeanIoU(num_classes=3, ignore_class=0),
    lambda: metrics.SparseCategoricalCrossentropy(from_logits=True),
]
ALL_IDS = [type(make()).__name__ for make in ALL]


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_get_config_round_trip(make):
    metric = make()
    config = metric.get_config()
    clone = type(metric).from_config(config)
    assert clone.get_config() == config
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == config


def _batch(metric, rng):
    """A batch of inputs that suits ``metric``."""
    name = type(metric).__name__
    if name in ("Mean", "Sum"):
        return (rng.standard_normal(8).astype(np.float32),)
    if name == "MeanIoU":
        return rng.integers(0, 3, 8), rng.integers(0, 3, 8)
    if name == "Accuracy":
        return rng.integers(0, 3, 8), rng.integers(0, 3, 8)
    if name.startswith("Sparse"):
        return rng.integers(0, 3, 8), rng.uniform(0, 1, (8, 3)).astype(np.float32)
    y = np.eye(3)[rng.integers(0, 3, 8)].astype(np.float32)
    return y, rng.uniform(0, 1, (8, 3)).astype(np.float32)


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_traced_update_equals_eager(make):
    eager, graph = make(), make()
    rng = np.random.default_rng(7)
    first = _batch(eager, rng)
    traced = rl.function(lambda *args: graph.update_state(*args))
    for _ in range(3):
        batch = _batch(eager, rng)
        eager.update_state(*batch)
        traced(*batch)
    np.testing.assert_allclose(
        np.asarray(graph.result()), np.asarray(eager.result()), rtol=1e-5, atol=1e-7
    )
    assert traced.get_graph(*first).op_counts()["assign_variable"] >= 1
    graph.reset_state()
    fresh = make()
    fresh.update_state(*first)
    graph.update_state(*first)
    np.testing.assert_allclose(np.asarray(graph.result()), np.asarray(fresh.result()), rtol=1e-6)


@pytest.mark.parametrize("make", ALL[2:], ids=ALL_IDS[2:])
def test_traced_with_an_unknown_batch_size(make):
    eager, graph = make(), make()
    rng = np.random.default_rng(8)
    y, p = _batch(eager, rng)
    w = rng.uniform(0, 2, len(p)).astype(np.float32)
    spec = [rl.TensorSpec((None,) + y.shape[1:], y.dtype),
            rl.TensorSpec((None,) + p.shape[1:], p.dtype), rl.TensorSpec((None,))]  # fmt: skip
    traced = rl.function(
        lambda *a: graph.update_state(*a[:2], sample_weight=a[2]), input_signature=spec
    )
    for n in (8, 3):
        eager.update_state(y[:n], p[:n], sample_weight=w[:n])
        traced(y[:n], p[:n], w[:n])
    np.testing.assert_allclose(
        np.asarray(graph.result()), np.asarray(eager.result()), rtol=1e-5, atol=1e-7
    )
    assert traced.experimental_get_tracing_count() == 1


def test_metric_variables_are_non_trainable_state():
    m = metrics.AUC(num_thresholds=10)
    counts = ["true_positives", "false_positives", "true_negatives", "false_negatives"]
    assert [v.name for v in m.variables] == [f"{m.name}/{c}" for c in counts]
    assert all(not v.trainable and v.shape == (10,) for v in m.variables)


def test_default_names_follow_keras():
    assert metrics.Accuracy().name == "accuracy"
    assert metrics.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    assert metrics.MeanSquaredError().name == "mean_squared_error"
    assert metrics.F1Score().name == "f1_score"
    assert metrics.AUC().name.startswith("auc")
    assert metrics.MeanIoU(2).name.startswith("mean_io_u")
    assert metrics.Precision().name.startswith("precision")


# -- lookup and resolve ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("accuracy", metrics.Accuracy),
        ("acc", metrics.Accuracy),
        ("mse", metrics.MeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("mape", metrics.MeanAbsolutePercentageError),
        ("auc", metrics.AUC),
        ("AUC", metrics.AUC),
        ("precision", metrics.Precision),
        ("recall", metrics.Recall),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("f1_score", metrics.F1Score),
        ("root_mean_squared_error", metrics.RootMeanSquaredError),
    ],
)
def test_get_by_keras_name(name, cls):
    assert type(metrics.get(name)) is cls


@pytest.mark.parametrize(
    "loss, cls",
    [
        ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
        (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
        ("categorical_crossentropy", metrics.CategoricalAccuracy),
        (losses.categorical_crossentropy, metrics.CategoricalAccuracy),
        ("binary_crossentropy", metrics.BinaryAccuracy),
        (losses.BinaryCrossentropy(), metrics.BinaryAccuracy),
        (losses.LossFunctionWrapper(losses.binary_crossentropy), metrics.BinaryAccuracy),
        ("mse", metrics.Accuracy),
    ],
)
def test_resolve_accuracy_by_loss(loss, cls):
    metric = metrics.resolve("accuracy", loss)
    assert type(metric) is cls and metric.name == "accuracy"


def test_resolve_accuracy_by_shapes_as_keras_3():
    assert type(metrics.resolve("acc", y_true=(8,), y_pred=(8, 4))).__name__ == (
        "SparseCategoricalAccuracy"
    )
    assert type(metrics.resolve("acc", y_true=(8, 1), y_pred=(8, 4))).__name__ == (
        "SparseCategoricalAccuracy"
    )
    assert type(metrics.resolve("acc", y_true=(8, 4), y_pred=(8, 4))).__name__ == (
        "CategoricalAccuracy"
    )
    assert type(metrics.resolve("acc", y_true=np.zeros((8, 1)), y_pred=np.zeros((8, 1)))) is (
        metrics.BinaryAccuracy
    )
    ce = metrics.resolve("crossentropy", "sparse_categorical_crossentropy")
    assert type(ce) is metrics.SparseCategoricalCrossentropy and ce.name == "crossentropy"


def test_resolve_names_metrics_after_the_identifier():
    assert metrics.resolve("mse").name == "mse"
    wrapped = metrics.resolve(losses.mean_absolute_error)
    assert isinstance(wrapped, metrics.MeanMetricWrapper)
    assert wrapped.name == "mean_absolute_error"
    m = metrics.AUC()
    assert metrics.resolve(m) is m


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: metrics.get("accuracyy"), "unknown metric 'accuracyy'"),
        (lambda: metrics.AUC(num_thresholds=1), "num_thresholds=1"),
        (lambda: metrics.AUC(curve="XY"), "curve='XY'"),
        (lambda: metrics.AUC(summation_method="avg"), "summation_method='avg'"),
        (lambda: metrics.Precision(thresholds=[0.5, 1.5]), r"thresholds=\[0.5, 1.5\]"),
        (lambda: metrics.BinaryAccuracy(threshold=1.0), "threshold=1.0"),
        (lambda: metrics.TopKCategoricalAccuracy(k=0), "k=0"),
        (lambda: metrics.F1Score(average="mean"), "average='mean'"),
        (lambda: metrics.FBetaScore(beta=0), "beta=0"),
        (lambda: metrics.MeanIoU(num_classes=0), "num_classes=0"),
    ],
)
def test_bad_arguments_name_the_value(make, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        make()


def test_get_rejects_other_objects():
    with pytest.raises(ArgumentTypeError, match="could not interpret"):
        metrics.get(3.5)


@pytest.mark.parametrize(
    "metric, y, p, pattern",
    [
        (metrics.SparseCategoricalAccuracy(), np.zeros(5), np.zeros((4, 3)), r"\(5,\)"),
        (metrics.CategoricalAccuracy(), np.zeros((4, 2)), np.zeros((4, 3)), "same shape"),
        (metrics.BinaryAccuracy(), np.zeros((4, 2)), np.zeros((4, 3)), "incompatible shapes"),
        (metrics.MeanSquaredError(), np.zeros((4, 2)), np.zeros((3, 2)), "incompatible shapes"),
        (metrics.Precision(), np.zeros((4, 2)), np.zeros((4, 3)), "incompatible shapes"),
        (metrics.F1Score(), np.zeros(4), np.zeros(4), "2D inputs"),
        (metrics.AUC(multi_label=True), np.zeros(4), np.zeros(4), "num_labels"),
    ],
)
def test_shape_mismatch_is_a_clear_error(metric, y, p, pattern):
    with pytest.raises(ShapeError, match=pattern):
        metric.update_state(y, p)
