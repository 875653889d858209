"""Optimizers: updates against PyTorch and NumPy references of Keras 3's formulas, clipping,
weight decay, slots, saving, configs, tracing, and errors."""

import numpy as np
import pytest

import rillet as rl
from rillet import optimizers
from rillet.errors import ArgumentError, ArgumentTypeError

STEPS = 5
SHAPES = [(3, 2), (4,)]


def _initial():
    rng = np.random.default_rng(1)
    return [rng.standard_normal(s) for s in SHAPES]


def _gradients():
    """A fixed sequence of gradients per step (float64), with varied signs and scales."""
    rng = np.random.default_rng(2)
    return [[rng.standard_normal(s) * (1 + step) for s in SHAPES] for step in range(STEPS)]


def _run(optimizer, steps=STEPS):
    """Final weights after applying the fixed gradients with a rillet optimizer."""
    variables = [rl.Variable(w.copy(), name=f"w{i}") for i, w in enumerate(_initial())]
    for grads in _gradients()[:steps]:
        optimizer.apply([rl.asarray(g) for g in grads], variables)
    return [v.numpy() for v in variables]


def _run_torch(make, steps=STEPS):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True) for w in _initial()]
    optimizer = make(torch.optim, params)
    for grads in _gradients()[:steps]:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        optimizer.step()
    return [p.detach().numpy() for p in params]


def _run_numpy(update, state_init, steps=STEPS):
    """Apply ``update(w, g, state, t)`` (t is the 1-based step) to each variable."""
    weights = _initial()
    states = [state_init(w) for w in weights]
    for t, grads in enumerate(_gradients()[:steps], start=1):
        for i, g in enumerate(grads):
            weights[i] = update(weights[i], g, states[i], t)
    return weights


def _assert_close(got, expected, rtol=1e-6, atol=1e-9):
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# -- against PyTorch -------------------------------------------------------------------------

TORCH_CASES = [
    ("sgd", lambda: optimizers.SGD(0.1), lambda o, p: o.SGD(p, lr=0.1)),
    (
        "sgd_momentum",
        lambda: optimizers.SGD(0.05, momentum=0.9),
        lambda o, p: o.SGD(p, lr=0.05, momentum=0.9),
    ),
    (
        "sgd_nesterov",
        lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True),
        lambda o, p: o.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    (
        "adam",
        lambda: optimizers.Adam(0.01, epsilon=1e-12),
        lambda o, p: o.Adam(p, lr=0.01, eps=1e-12),
    ),
    (
        "adam_amsgrad",
        lambda: optimizers.Adam(0.01, beta_1=0.8, epsilon=1e-12, amsgrad=True),
        lambda o, p: o.Adam(p, lr=0.01, betas=(0.8, 0.999), eps=1e-12, amsgrad=True),
    ),
    (
        "adamw",
        lambda: optimizers.AdamW(0.01, weight_decay=0.1, epsilon=1e-12),
        lambda o, p: o.AdamW(p, lr=0.01, weight_decay=0.1, eps=1e-12),
    ),
    (
        "rmsprop",
        lambda: optimizers.RMSprop(0.01, rho=0.8, epsilon=0.0),
        lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.8, eps=0.0),
    ),
    (
        "rmsprop_centered_momentum",
        lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True, epsilon=0.0),
        lambda o, p: o.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True, eps=0.0),
    ),
    (
        "adagrad",
        lambda: optimizers.Adagrad(0.1, epsilon=0.0),
        lambda o, p: o.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0),
    ),
    (
        "adadelta",
        lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-6),
        lambda o, p: o.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6),
    ),
    (
        "adamax",
        lambda: optimizers.Adamax(0.01, epsilon=0.0),
        lambda o, p: o.Adamax(p, lr=0.01, eps=0.0),
    ),
]


@pytest.mark.parametrize(
    "make, make_torch", [c[1:] for c in TORCH_CASES], ids=[c[0] for c in TORCH_CASES]
)
def test_updates_match_torch(make, make_torch):
    _assert_close(_run(make()), _run_torch(make_torch))


# -- against NumPy references of Keras's formulas ---------------------------------------------


def _adam_numpy(lr, b1, b2, eps, amsgrad=False):
    def update(w, g, s, t):
        s["m"] += (g - s["m"]) * (1 - b1)
        s["v"] += (g * g - s["v"]) * (1 - b2)
        v = s["v"]
        if amsgrad:
            s["vhat"] = np.maximum(s["vhat"], v)
            v = s["vhat"]
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        return w - s["m"] * alpha / (np.sqrt(v) + eps)

    return update


def _moments(w):
    return {"m": np.zeros_like(w), "v": np.zeros_like(w), "vhat": np.zeros_like(w)}


def test_adam_default_epsilon_matches_keras_formula():
    expected = _run_numpy(_adam_numpy(0.01, 0.9, 0.999, 1e-7, amsgrad=True), _moments)
    _assert_close(_run(optimizers.Adam(0.01, amsgrad=True)), expected)


def test_rmsprop_epsilon_inside_sqrt_matches_keras_formula():
    lr, rho, mu, eps = 0.01, 0.9, 0.3, 1e-3

    def update(w, g, s, t):
        s["v"] = rho * s["v"] + (1 - rho) * g * g
        s["a"] = rho * s["a"] + (1 - rho) * g
        s["mom"] = mu * s["mom"] + lr * g / np.sqrt(s["v"] - s["a"] ** 2 + eps)
        return w - s["mom"]

    init = lambda w: {k: np.zeros_like(w) for k in ("v", "a", "mom")}
    got = _run(optimizers.RMSprop(lr, rho, momentum=mu, epsilon=eps, centered=True))
    _assert_close(got, _run_numpy(update, init))


def test_adagrad_default_epsilon_matches_keras_formula():
    def update(w, g, s, t):
        s["acc"] += g * g
        return w - 0.1 * g / np.sqrt(s["acc"] + 1e-7)

    _assert_close(_run(optimizers.Adagrad(0.1)), _run_numpy(update, lambda w: {"acc": w * 0 + 0.1}))


def test_adamax_default_epsilon_matches_keras_formula():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7

    def update(w, g, s, t):
        s["m"] += (g - s["m"]) * (1 - b1)
        s["u"] = np.maximum(b2 * s["u"], np.abs(g))
        return w - lr * s["m"] / ((1 - b1**t) * (s["u"] + eps))

    init = lambda w: {"m": np.zeros_like(w), "u": np.zeros_like(w)}
    _assert_close(_run(optimizers.Adamax(lr)), _run_numpy(update, init))


def test_nadam_matches_keras_formula():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    u_product = {"value": 1.0, "t": 0}

    def update(w, g, s, t):
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        if u_product["t"] != t:  # shared by all variables, advanced once per step
            u_product["value"] *= u_t
            u_product["t"] = t
        prod = u_product["value"]
        s["m"] += (g - s["m"]) * (1 - b1)
        s["v"] += (g * g - s["v"]) * (1 - b2)
        m_hat = u_next * s["m"] / (1 - prod * u_next) + (1 - u_t) * g / (1 - prod)
        v_hat = s["v"] / (1 - b2**t)
        return w - m_hat * lr / (np.sqrt(v_hat) + eps)

    _assert_close(_run(optimizers.Nadam(lr)), _run_numpy(update, _moments))


def test_lion_matches_numpy():
    lr, b1, b2 = 0.01, 0.9, 0.99

    def update(w, g, s, t):
        w = w - lr * np.sign(b1 * s["m"] + (1 - b1) * g)
        s["m"] = b2 * s["m"] + (1 - b2) * g
        return w

    _assert_close(_run(optimizers.Lion(lr)), _run_numpy(update, lambda w: {"m": np.zeros_like(w)}))


# -- clipping, weight decay, schedules, constraints -------------------------------------------


def _clipped_by_sgd(**clip):
    """The gradient SGD(lr=1) actually applied in one step: w0 - w1."""
    before = _initial()
    after = _run(optimizers.SGD(1.0, **clip), steps=1)
    return [b - a for b, a in zip(before, after)]


def test_clipnorm_scales_each_gradient_to_the_norm():
    grads = _gradients()[0]
    expected = [g * 2.0 / max(np.linalg.norm(g), 2.0) for g in grads]
    _assert_close(_clipped_by_sgd(clipnorm=2.0), expected)


def test_clipvalue_clips_elementwise():
    expected = [np.clip(g, -0.5, 0.5) for g in _gradients()[0]]
    _assert_close(_clipped_by_sgd(clipvalue=0.5), expected)


def test_global_clipnorm_scales_all_gradients_together():
    grads = _gradients()[0]
    norm = np.sqrt(sum(np.sum(g * g) for g in grads))
    expected = [g * 1.5 / max(norm, 1.5) for g in grads]
    _assert_close(_clipped_by_sgd(global_clipnorm=1.5), expected)


def test_clipnorm_leaves_zero_gradients_alone():
    w = rl.Variable(np.ones(3))
    optimizers.SGD(1.0, clipnorm=1.0).apply([rl.zeros(3, dtype=rl.float64)], [w])
    np.testing.assert_array_equal(w.numpy(), np.ones(3))


def test_weight_decay_is_decoupled_and_uses_the_learning_rate():
    lr, wd = 0.1, 0.05

    def update(w, g, s, t):
        w = w - w * wd * lr
        return w - lr * g

    _assert_close(_run(optimizers.SGD(lr, weight_decay=wd)), _run_numpy(update, lambda w: {}))


def test_exclude_from_weight_decay_by_name():
    opt = optimizers.SGD(0.0, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    kernel, bias = rl.Variable(np.ones(2), name="kernel"), rl.Variable(np.ones(2), name="bias")
    opt.learning_rate = 1.0
    opt.apply([rl.zeros(2, dtype=rl.float64)] * 2, [kernel, bias])
    assert kernel.numpy().tolist() == [0.5, 0.5] and bias.numpy().tolist() == [1.0, 1.0]


def test_schedule_learning_rate_is_evaluated_at_each_iteration():
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)

    def update(w, g, s, t):
        return w - 0.1 * 0.5 ** (t - 1) * g

    _assert_close(_run(optimizers.SGD(schedule)), _run_numpy(update, lambda w: {}))


def test_loss_scale_factor_divides_gradients():
    _assert_close(_run(optimizers.SGD(0.1, loss_scale_factor=4.0)), _run(optimizers.SGD(0.025)))


def test_constraint_applies_after_the_update():
    w = rl.Variable(np.array([0.0, 0.0]))
    w.constraint = lambda v: rl.clip(v, -0.1, 0.1)
    optimizers.SGD(1.0).apply([rl.asarray([1.0, -0.05], dtype=rl.float64)], [w])
    np.testing.assert_allclose(w.numpy(), [-0.1, 0.05])


def test_none_gradients_are_skipped():
    a, b = rl.Variable(np.ones(2)), rl.Variable(np.ones(2))
    opt = optimizers.Adam(0.1)
    opt.apply([None, rl.ones(2, dtype=rl.float64)], [a, b])
    assert a.numpy().tolist() == [1.0, 1.0] and b.numpy()[0] < 1.0
    assert int(opt.iterations) == 1 and len(opt.variables) == 2 + 2 * 2


def test_ema_averages_weights_and_overwrites_them():
    lr, m = 0.1, 0.5
    opt = optimizers.SGD(lr, use_ema=True, ema_momentum=m, ema_overwrite_frequency=3)
    w = rl.Variable(np.array([1.0]))
    expected_w, average = 1.0, 0.0
    for step in range(4):
        opt.apply([rl.asarray([1.0], dtype=rl.float64)], [w])
        expected_w -= lr
        momentum = m if step > 0 else 0.0
        average = momentum * average + (1 - momentum) * expected_w
        if (step + 1) % 3 == 0:
            expected_w = average
        np.testing.assert_allclose(w.numpy(), [expected_w], rtol=1e-6)
    opt.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), [average], rtol=1e-6)


# -- state: learning rate, iterations, slots, saving ----------------------------------------


def test_learning_rate_is_a_settable_variable():
    opt = optimizers.Adam(0.01)
    assert isinstance(opt.learning_rate, rl.Variable)
    opt.learning_rate = 0.5
    assert float(opt.learning_rate) == 0.5 and opt.get_config()["learning_rate"] == 0.5
    opt.learning_rate.assign(np.float32(0.25))
    assert float(opt.learning_rate) == 0.25


def test_changing_the_learning_rate_reaches_a_compiled_step():
    opt = optimizers.SGD(1.0)
    w = rl.Variable(np.zeros(1, np.float32))
    step = rl.function(lambda g: opt.apply([g], [w]))
    g = rl.ones(1)
    step(g)
    opt.learning_rate = 0.5
    step(g)
    np.testing.assert_allclose(w.numpy(), [-1.5])
    assert step.experimental_get_tracing_count() == 1


def test_schedule_learning_rate_cannot_be_set():
    opt = optimizers.SGD(optimizers.schedules.InverseTimeDecay(0.1, 10, 1.0))
    with pytest.raises(ArgumentTypeError, match="schedule"):
        opt.learning_rate = 0.1


def test_variables_list_iterations_learning_rate_then_slots():
    opt = optimizers.Adam(amsgrad=True)
    assert [v.name for v in opt.variables] == ["adam/iteration", "adam/learning_rate"]
    assert opt.iterations.dtype == np.int64
    variables = [rl.Variable(np.ones((2, 2)), name="dense/kernel")]
    opt.build(variables)
    names = [v.name for v in opt.variables[2:]]
    assert names == [
        "adam/dense_kernel_momentum",
        "adam/dense_kernel_velocity",
        "adam/dense_kernel_velocity_hat",
    ]
    assert all(v.shape == (2, 2) and v.dtype == np.float64 for v in opt.variables[2:])


def test_saved_slots_restore_into_a_new_optimizer():
    grads = _gradients()
    straight = _run(optimizers.Adam(0.05))
    variables = [rl.Variable(w.copy()) for w in _initial()]
    first = optimizers.Adam(0.05)
    for g in grads[:2]:
        first.apply([rl.asarray(x) for x in g], variables)
    store = {}
    first.save_own_variables(store)
    second = optimizers.Adam(0.05)
    second.build(variables)
    second.load_own_variables(store)
    assert int(second.iterations) == 2
    for g in grads[2:]:
        second.apply([rl.asarray(x) for x in g], variables)
    _assert_close([v.numpy() for v in variables], straight, rtol=1e-12)


def test_load_with_a_different_number_of_variables_warns():
    opt = optimizers.Adam()
    with pytest.warns(UserWarning, match="has 2 variables whereas the saved optimizer has 3"):
        opt.load_own_variables({"0": 0, "1": 0.1, "2": np.zeros(2)})


ALL = [
    optimizers.SGD(0.02, momentum=0.5, nesterov=True, clipnorm=1.0),
    optimizers.Adam(0.003, amsgrad=True, global_clipnorm=2.0),
    optimizers.AdamW(weight_decay=0.01),
    optimizers.Adamax(beta_2=0.99),
    optimizers.Nadam(epsilon=1e-6),
    optimizers.RMSprop(rho=0.8, momentum=0.1, centered=True, clipvalue=0.5),
    optimizers.Adagrad(initial_accumulator_value=0.2),
    optimizers.Adadelta(rho=0.9),
    optimizers.Lion(beta_1=0.95),
]


@pytest.mark.parametrize("opt", ALL, ids=lambda o: type(o).__name__)
def test_get_config_round_trip(opt):
    config = opt.get_config()
    clone = type(opt).from_config(config)
    assert clone.get_config() == config
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == config


def test_config_with_a_schedule_round_trips():
    schedule = optimizers.schedules.CosineDecay(0.1, 100, warmup_target=0.2, warmup_steps=5)
    opt = optimizers.Adam(schedule)
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "CosineDecay"
    clone = optimizers.Adam.from_config(config)
    assert clone.get_config() == config
    assert float(clone.learning_rate) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "name, cls",
    [("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("adam", optimizers.Adam),
     ("AdamW", optimizers.AdamW), ("rmsprop", optimizers.RMSprop), ("nadam", optimizers.Nadam),
     ("adagrad", optimizers.Adagrad), ("adadelta", optimizers.Adadelta),
     ("adamax", optimizers.Adamax), ("lion", optimizers.Lion)],
)  # fmt: skip
def test_get_by_name(name, cls):
    assert type(optimizers.get(name)) is cls


def test_get_passes_instances_and_none_through():
    opt = optimizers.SGD()
    assert optimizers.get(opt) is opt and optimizers.get(None) is None


# -- tracing -------------------------------------------------------------------------------


def _fresh(opt):
    return type(opt).from_config(opt.get_config())


@pytest.mark.parametrize("opt", ALL, ids=lambda o: type(o).__name__)
def test_traced_update_equals_eager(opt):
    """The whole update traces into one graph of variable updates, and the compiled
    steps give the eager results (weights, slots and iterations)."""
    rng = np.random.default_rng(3)
    w0, b0 = rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32)
    x = rl.asarray(rng.standard_normal((4, 3)).astype(np.float32))

    def setup():
        return _fresh(opt), [rl.Variable(w0.copy(), name="w"), rl.Variable(b0.copy(), name="b")]

    def step(optimizer, variables, x):
        with rl.GradientTape() as tape:
            loss = rl.sum(rl.square(rl.tanh(x @ variables[0] + variables[1]) - 0.5))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    eager_opt, eager_vars = setup()
    graph_opt, graph_vars = setup()
    traced = rl.function(lambda x: step(graph_opt, graph_vars, x))
    for _ in range(3):
        expected = step(eager_opt, eager_vars, x)
        np.testing.assert_allclose(traced(x).numpy(), expected.numpy(), rtol=1e-5)
    for a, b in zip(eager_vars + eager_opt.variables, graph_vars + graph_opt.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
    graph = traced.get_graph(x)  # assignments, or fused updates writing several variables
    assert sum(len(node.written_variables) for node in graph.nodes) >= 3
    assert traced.experimental_get_tracing_count() == 1


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: optimizers.SGD(momentum=1.5), "SGD: received momentum=1.5"),
        (lambda: optimizers.SGD(learning_rate="fast"), "learning_rate='fast'"),
        (lambda: optimizers.Adam(learning_rate=-0.1), "learning_rate=-0.1"),
        (lambda: optimizers.Adam(beta_1=2.0), "beta_1=2.0"),
        (lambda: optimizers.Lion(beta_1=0.0), "beta_1=0.0"),
        (lambda: optimizers.RMSprop(epsilon=-1), "epsilon=-1"),
        (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=1.0), "only one of clipnorm"),
        (lambda: optimizers.AdamW(weight_decay=None), "weight_decay=None"),
        (lambda: optimizers.Adam(lr=0.1), "use learning_rate"),
        (lambda: optimizers.Adam(decay=0.1), "learning rate schedule"),
        (lambda: optimizers.get("adamm"), "unknown optimizer 'adamm'"),
    ],
)
def test_bad_arguments_name_the_value(make, pattern):
    with pytest.raises((ArgumentError, ArgumentTypeError), match=pattern):
        make()


def test_unknown_keyword_is_rejected():
    with pytest.raises(ArgumentTypeError, match="not recognized"):
        optimizers.SGD(momentom=0.9)


def test_get_rejects_other_objects():
    with pytest.raises(ArgumentTypeError, match="could not interpret"):
        optimizers.get(3)


def test_variables_not_built_with_are_rejected():
    opt = optimizers.SGD()
    opt.apply([rl.ones(1)], [rl.Variable(np.zeros(1, np.float32))])
    with pytest.raises(ArgumentError, match="unknown variable 'stranger'"):
        opt.apply([rl.ones(1)], [rl.Variable(np.zeros(1, np.float32), name="stranger")])


def test_gradient_count_must_match_variables():
    with pytest.raises(ArgumentError, match="2 gradients for 1 variables"):
        optimizers.SGD().apply([rl.ones(1), rl.ones(1)], [rl.Variable(np.zeros(1, np.float32))])


def test_non_variables_are_rejected():
    with pytest.raises(ArgumentTypeError, match="rl.Variable"):
        optimizers.SGD().apply([rl.ones(1)], [rl.ones(1)])
