"""Losses against torch.nn.functional and NumPy formulas: values, sample weights,
reductions, logits, label smoothing, masks, gradients, configs and errors."""

import numpy as np
import pytest

import rillet as rl
from rillet import losses
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from rillet.layers import masking
from rillet.testing import check_grads

B, C = 6, 4


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((B, C)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, C, B)
    return {
        "regression_true": rng.standard_normal((B, C)),
        "regression_pred": rng.standard_normal((B, C)),
        "binary_true": rng.integers(0, 2, (B, C)).astype(np.float64),
        "binary_pred": rng.uniform(0.05, 0.95, (B, C)),
        "logits": logits,
        "probs": probs,
        "labels": labels,
        "onehot": np.eye(C)[labels],
        "positive_pred": rng.uniform(0.1, 3.0, (B, C)),
        "weights": rng.uniform(0.0, 2.0, B),
    }


def _np(t):
    return np.asarray(t, dtype=np.float64)


@pytest.fixture
def F():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


# -- per-sample values against torch ----------------------------------------------------------


def test_mean_squared_and_absolute_errors_match_torch(data, F):
    torch, f = F
    y, p = data["regression_true"], data["regression_pred"]
    ty, tp = torch.tensor(y), torch.tensor(p)
    expected = f.mse_loss(tp, ty, reduction="none").mean(-1).numpy()
    np.testing.assert_allclose(_np(losses.mean_squared_error(y, p)), expected, rtol=1e-12)
    expected = f.l1_loss(tp, ty, reduction="none").mean(-1).numpy()
    np.testing.assert_allclose(_np(losses.mae(y, p)), expected, rtol=1e-12)


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_matches_torch(data, F, delta):
    torch, f = F
    y, p = data["regression_true"], data["regression_pred"]
    expected = f.huber_loss(torch.tensor(p), torch.tensor(y), reduction="none", delta=delta)
    got = losses.huber(y, p, delta=delta)
    np.testing.assert_allclose(_np(got), expected.mean(-1).numpy(), rtol=1e-12)


def test_binary_crossentropy_matches_torch(data, F):
    torch, f = F
    y, p, z = data["binary_true"], data["binary_pred"], data["logits"]
    expected = f.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none")
    got = losses.binary_crossentropy(y, p)
    np.testing.assert_allclose(_np(got), expected.mean(-1).numpy(), rtol=1e-6)
    expected = f.binary_cross_entropy_with_logits(
        torch.tensor(z), torch.tensor(y), reduction="none"
    )
    got = losses.binary_crossentropy(y, z, from_logits=True)
    np.testing.assert_allclose(_np(got), expected.mean(-1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_categorical_crossentropy_matches_torch(data, F, smoothing):
    torch, f = F
    y, p, z = data["onehot"], data["probs"], data["logits"]
    expected = f.cross_entropy(
        torch.tensor(z), torch.tensor(y), reduction="none", label_smoothing=smoothing
    ).numpy()
    got = losses.categorical_crossentropy(y, z, from_logits=True, label_smoothing=smoothing)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-12)
    got = losses.categorical_crossentropy(y, p, label_smoothing=smoothing)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-6)


def test_categorical_crossentropy_on_another_axis(data, F):
    torch, f = F
    y, z = data["onehot"].T, data["logits"].T  # classes first
    expected = f.cross_entropy(torch.tensor(z.T), torch.tensor(y.T), reduction="none").numpy()
    got = losses.categorical_crossentropy(y, z, from_logits=True, axis=0)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-12)


def test_sparse_categorical_crossentropy_matches_torch(data, F):
    torch, f = F
    labels, p, z = data["labels"], data["probs"], data["logits"]
    expected = f.cross_entropy(torch.tensor(z), torch.tensor(labels), reduction="none").numpy()
    got = losses.sparse_categorical_crossentropy(labels, z, from_logits=True)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-12)
    got = losses.sparse_categorical_crossentropy(labels[:, None], p)  # (B, 1) labels
    np.testing.assert_allclose(_np(got), expected, rtol=1e-6)
    got = losses.sparse_categorical_crossentropy(labels, z.T, from_logits=True, axis=0)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-12)


def test_sparse_ignore_class_averages_the_rest_like_torch(data, F):
    torch, f = F
    labels, z = data["labels"].copy(), data["logits"]
    labels[[1, 4]] = -1
    expected = f.cross_entropy(torch.tensor(z), torch.tensor(labels), ignore_index=-1).item()
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    assert float(loss(labels, z)) == pytest.approx(expected, rel=1e-6)
    per_sample = losses.sparse_categorical_crossentropy(labels, z, True, ignore_class=-1)
    assert _np(per_sample)[[1, 4]].tolist() == [0.0, 0.0]


def test_kl_divergence_and_poisson_match_torch(data, F):
    torch, f = F
    y, p = data["probs"], data["probs"][::-1].copy()
    expected = f.kl_div(torch.tensor(np.log(p)), torch.tensor(y), reduction="none").sum(-1)
    np.testing.assert_allclose(_np(losses.kl_divergence(y, p)), expected.numpy(), rtol=1e-6)
    y, p = data["positive_pred"][::-1].copy(), data["positive_pred"]
    expected = f.poisson_nll_loss(
        torch.tensor(p), torch.tensor(y), log_input=False, eps=1e-7, full=False, reduction="none"
    )
    np.testing.assert_allclose(_np(losses.poisson(y, p)), expected.mean(-1).numpy(), rtol=1e-9)


def test_cosine_similarity_matches_torch(data, F):
    torch, f = F
    y, p = data["regression_true"], data["regression_pred"]
    expected = -f.cosine_similarity(torch.tensor(y), torch.tensor(p), dim=-1).numpy()
    np.testing.assert_allclose(_np(losses.cosine_similarity(y, p)), expected, rtol=1e-9)


# -- per-sample values against NumPy ----------------------------------------------------------


def test_percentage_logarithmic_and_log_cosh_match_numpy(data):
    y, p = data["regression_true"], data["regression_pred"]
    expected = 100 * np.mean(np.abs((y - p) / np.maximum(np.abs(y), 1e-7)), -1)
    np.testing.assert_allclose(_np(losses.mape(y, p)), expected, rtol=1e-9)
    expected = np.mean(np.log(np.cosh(p - y)), -1)
    np.testing.assert_allclose(_np(losses.log_cosh(y, p)), expected, rtol=1e-9)
    y, p = np.abs(y), np.abs(p)
    expected = np.mean((np.log1p(np.maximum(p, 1e-7)) - np.log1p(np.maximum(y, 1e-7))) ** 2, -1)
    np.testing.assert_allclose(_np(losses.msle(y, p)), expected, rtol=1e-9)


def test_log_cosh_does_not_overflow():
    assert float(losses.log_cosh([[0.0]], [[1000.0]])[0]) == pytest.approx(1000 - np.log(2))


@pytest.mark.parametrize("labels01", [True, False])
def test_hinge_losses_match_numpy(data, labels01):
    y01 = data["binary_true"]
    y = y01 if labels01 else 2 * y01 - 1
    p = data["regression_pred"]
    signed = 2 * y01 - 1
    margin = np.maximum(1 - signed * p, 0)
    np.testing.assert_allclose(_np(losses.hinge(y, p)), margin.mean(-1), rtol=1e-12)
    np.testing.assert_allclose(_np(losses.squared_hinge(y, p)), (margin**2).mean(-1), rtol=1e-12)


def test_categorical_hinge_matches_numpy(data):
    y, p = data["onehot"], data["regression_pred"]
    expected = np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0)
    np.testing.assert_allclose(_np(losses.categorical_hinge(y, p)), expected, rtol=1e-12)


def test_binary_label_smoothing_moves_targets_to_one_half(data):
    y, z = data["binary_true"], data["logits"]
    smooth = y * 0.8 + 0.1
    expected = np.mean(np.maximum(z, 0) - z * smooth + np.log1p(np.exp(-np.abs(z))), -1)
    got = losses.binary_crossentropy(y, z, from_logits=True, label_smoothing=0.2)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-9)


def test_binary_crossentropy_accepts_rank_one_targets():
    got = losses.BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([[0.8], [0.4]]))
    assert float(got) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2, rel=1e-6)


# -- reductions, sample weights and masks -----------------------------------------------------

CLASSES = [
    (losses.MeanSquaredError, "regression", {}),
    (losses.MeanAbsoluteError, "regression", {}),
    (losses.MeanAbsolutePercentageError, "regression", {}),
    (losses.Huber, "regression", {"delta": 0.7}),
    (losses.LogCosh, "regression", {}),
    (losses.CosineSimilarity, "regression", {}),
    (losses.BinaryCrossentropy, "binary", {"label_smoothing": 0.1}),
    (losses.BinaryCrossentropy, "binary_logits", {"from_logits": True}),
    (losses.CategoricalCrossentropy, "categorical", {"label_smoothing": 0.1}),
    (losses.CategoricalCrossentropy, "categorical_logits", {"from_logits": True}),
    (losses.SparseCategoricalCrossentropy, "sparse", {}),
    (losses.SparseCategoricalCrossentropy, "sparse_logits", {"from_logits": True}),
    (losses.KLDivergence, "distribution", {}),
    (losses.Poisson, "positive", {}),
    (losses.Hinge, "binary", {}),
    (losses.SquaredHinge, "binary", {}),
    (losses.CategoricalHinge, "categorical", {}),
]
CLASS_IDS = [f"{cls.__name__}-{kind}" for cls, kind, _ in CLASSES]


def _inputs(data, kind):
    return {
        "regression": (data["regression_true"], data["regression_pred"]),
        "binary": (data["binary_true"], data["binary_pred"]),
        "binary_logits": (data["binary_true"], data["logits"]),
        "categorical": (data["onehot"], data["probs"]),
        "categorical_logits": (data["onehot"], data["logits"]),
        "sparse": (data["labels"], data["probs"]),
        "sparse_logits": (data["labels"], data["logits"]),
        "distribution": (data["probs"], data["probs"][::-1].copy()),
        "positive": (data["positive_pred"][::-1].copy(), data["positive_pred"]),
    }[kind]


@pytest.mark.parametrize("cls, kind, kwargs", CLASSES, ids=CLASS_IDS)
def test_reductions_and_sample_weight(data, cls, kind, kwargs):
    y, p = _inputs(data, kind)
    w = data["weights"]
    per_sample = _np(cls(reduction="none", **kwargs)(y, p))
    assert per_sample.shape == (B,)
    weighted = per_sample * w
    assert float(cls(**kwargs)(y, p)) == pytest.approx(per_sample.mean(), rel=1e-9)
    assert float(cls(**kwargs)(y, p, sample_weight=w)) == pytest.approx(weighted.mean(), rel=1e-9)
    got = cls(reduction="sum", **kwargs)(y, p, sample_weight=w)
    assert float(got) == pytest.approx(weighted.sum(), rel=1e-9)
    got = cls(reduction="mean_with_sample_weight", **kwargs)(y, p, sample_weight=w)
    assert float(got) == pytest.approx(weighted.sum() / w.sum(), rel=1e-9)
    # (B, 1) weights broadcast as Keras does (the per-sample losses become (B, 1)).
    got = cls(reduction="none", **kwargs)(y, p, sample_weight=w[:, None])
    np.testing.assert_allclose(_np(got).ravel(), weighted)


@pytest.mark.parametrize("cls, kind, kwargs", CLASSES, ids=CLASS_IDS)
def test_get_config_round_trip(cls, kind, kwargs):
    loss = cls(reduction="sum", name="my_loss", **kwargs)
    config = loss.get_config()
    assert config["name"] == "my_loss" and config["reduction"] == "sum"
    assert all(config[k] == v for k, v in kwargs.items())
    clone = cls.from_config(config)
    assert clone.get_config() == config
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is cls and again.get_config() == config


def test_float32_inputs_give_float32_losses(data):
    y, p = data["onehot"].astype(np.float32), data["probs"].astype(np.float32)
    assert losses.CategoricalCrossentropy()(y, p).dtype == rl.float32
    assert losses.CategoricalCrossentropy(dtype="float64")(y, p).dtype == rl.float64
    half = losses.MeanSquaredError()(y.astype(np.float16), p.astype(np.float16))
    assert half.dtype == rl.float32


def test_per_timestep_losses_take_per_sample_weights():
    y = np.zeros((2, 3, 1))
    p = np.arange(6.0).reshape(2, 3, 1)
    got = losses.MeanSquaredError(reduction="sum")(y, p, sample_weight=np.array([1.0, 0.0]))
    assert float(got) == 0 + 1 + 4


def test_mask_of_y_pred_restricts_the_mean():
    p = rl.asarray([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]])
    masking.attach(p, rl.asarray([[True, True, False], [True, False, False]]))
    got = losses.MeanAbsoluteError()(rl.zeros((2, 3, 1)), p)
    assert float(got) == pytest.approx((1.0 + 2.0 + 4.0) / 3.0, rel=1e-5)


# -- gradients and tracing ---------------------------------------------------------------------


@pytest.mark.parametrize("cls, kind, kwargs", CLASSES, ids=CLASS_IDS)
def test_gradients_match_finite_differences(data, cls, kind, kwargs):
    y, p = _inputs(data, kind)
    loss = cls(**kwargs)
    w = data["weights"]
    check_grads(lambda pred: loss(y[:3], pred, sample_weight=w[:3]), [p[:3].copy()], atol=1e-6)


@pytest.mark.parametrize("cls, kind, kwargs", CLASSES, ids=CLASS_IDS)
def test_traced_loss_equals_eager(data, cls, kind, kwargs):
    y, p = _inputs(data, kind)
    loss = cls(**kwargs)
    w = data["weights"]
    traced = rl.function(lambda y, p, w: loss(y, p, sample_weight=w))
    expected = loss(y, p, sample_weight=w)
    np.testing.assert_allclose(_np(traced(y, p, w)), _np(expected), rtol=1e-9)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean_with_sample_weight"])
@pytest.mark.parametrize("cls, kind, kwargs", CLASSES[::3], ids=CLASS_IDS[::3])
def test_traced_with_an_unknown_batch_size(data, cls, kind, kwargs, reduction):
    y, p = _inputs(data, kind)
    y = y.astype(np.int64) if y.ndim == 1 else y.astype(np.float32)
    p, w = p.astype(np.float32), data["weights"].astype(np.float32)
    loss = cls(reduction=reduction, **kwargs)
    spec = [rl.TensorSpec((None,) + y.shape[1:], y.dtype), rl.TensorSpec((None, C)),
            rl.TensorSpec((None,))]  # fmt: skip
    traced = rl.function(lambda y, p, w: loss(y, p, sample_weight=w), input_signature=spec)
    for n in (B, 2):
        expected = float(loss(y[:n], p[:n], sample_weight=w[:n]))
        assert float(traced(y[:n], p[:n], w[:n])) == pytest.approx(expected, rel=1e-5)
    assert traced.experimental_get_tracing_count() == 1


def test_variable_targets_are_read_when_the_graph_runs():
    target = rl.Variable(np.array([[1.0, 2.0]], np.float32), trainable=False)
    traced = rl.function(lambda p: losses.MeanSquaredError()(target, p))
    assert float(traced(rl.zeros((1, 2)))) == 2.5
    target.assign(np.array([[3.0, 0.0]], np.float32))
    assert float(traced(rl.zeros((1, 2)))) == 4.5


# -- lookup ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mse", losses.mean_squared_error),
        ("MSE", losses.mean_squared_error),
        ("mae", losses.mean_absolute_error),
        ("mape", losses.mean_absolute_percentage_error),
        ("msle", losses.mean_squared_logarithmic_error),
        ("kld", losses.kl_divergence),
        ("bce", losses.binary_crossentropy),
        ("huber", losses.huber),
        ("log_cosh", losses.log_cosh),
        ("logcosh", losses.log_cosh),
        ("categorical_crossentropy", losses.categorical_crossentropy),
        ("sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy),
        ("binary_crossentropy", losses.binary_crossentropy),
        ("poisson", losses.poisson),
        ("hinge", losses.hinge),
        ("cosine_similarity", losses.cosine_similarity),
    ],
)
def test_get_by_keras_name(name, expected):
    assert losses.get(name) is expected


def test_get_classes_and_instances():
    assert type(losses.get("CategoricalCrossentropy")) is losses.CategoricalCrossentropy
    assert type(losses.get(losses.Huber)) is losses.Huber
    loss = losses.Poisson()
    assert losses.get(loss) is loss and losses.get(None) is None
    wrapped = losses.LossFunctionWrapper(losses.huber, delta=0.5, name="h")
    again = losses.LossFunctionWrapper.from_config(wrapped.get_config())
    assert again.fn is losses.huber and again.get_config() == wrapped.get_config()


# -- errors ----------------------------------------------------------------------------------


def test_unknown_name_is_named():
    with pytest.raises(ArgumentError, match="unknown loss 'msee'"):
        losses.get("msee")
    with pytest.raises(ArgumentTypeError, match="could not interpret"):
        losses.get(3)


@pytest.mark.parametrize(
    "fn, y, p, pattern",
    [
        (losses.mse, np.zeros((4, 3)), np.zeros((4, 2)), r"mean_squared_error: .*\(4, 3\)"),
        (losses.hinge, np.zeros((4, 3)), np.zeros((5, 3)), r"hinge: .*y_pred.shape=\(5, 3\)"),
        (losses.categorical_crossentropy, np.zeros((4, 3)), np.zeros((4, 2)), "same shape"),
        (losses.categorical_crossentropy, np.zeros(4), np.zeros((4, 2)), "same shape"),
        (losses.sparse_categorical_crossentropy, np.zeros(5), np.zeros((4, 2)), r"\(5,\)"),
        (losses.binary_crossentropy, np.zeros((4, 3)), np.zeros((4, 2)), "binary_crossentropy"),
    ],
)  # fmt: skip
def test_shape_mismatch_is_a_clear_error(fn, y, p, pattern):
    with pytest.raises(ShapeError, match=pattern):
        fn(y, p)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: losses.MeanSquaredError(reduction="avg"), "reduction='avg'"),
        (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5), "label_smoothing=1.5"),
        (lambda: losses.Huber(delta=-1.0), "delta=-1.0"),
        (lambda: losses.SparseCategoricalCrossentropy(ignore_class=0.5), "ignore_class=0.5"),
    ],
)
def test_bad_arguments_name_the_value(make, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        make()


def test_sample_weight_of_the_wrong_shape_is_named():
    with pytest.raises(ShapeError, match=r"sample_weight of shape \(3,\)"):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.ones((4, 2)), sample_weight=np.ones(3))


def test_one_class_categorical_crossentropy_warns():
    with pytest.warns(UserWarning, match="num_classes > 1"):
        losses.categorical_crossentropy(np.ones((2, 1)), np.ones((2, 1)))
