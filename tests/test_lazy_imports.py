"""``import rillet`` imports what a model's training step needs; the rest on first use.

Each check runs in a fresh interpreter, where nothing has been imported yet.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rillet as rl

ON_FIRST_USE = [
    "rillet.callbacks", "rillet.data", "rillet.metrics", "rillet.saving", "rillet.signal",
    "rillet.streaming", "rillet.summary", "rillet.train", "rillet.ops.conv", "rillet.ops.rnn",
    "rillet.ops.control", "rillet.ops.pooling", "rillet.layers.convolutional",
    "rillet.layers.rnn", "rillet.models.cloning", "zipfile", "socket", "logging", "csv",
    "ml_dtypes", "concurrent.futures",
]  # fmt: skip


def run_fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON value, returned here."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_leaves_the_optional_parts_unimported():
    loaded = run_fresh(
        """
        import json, sys
        import rillet
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert [name for name in ON_FIRST_USE if name in loaded] == []
    assert "rillet.layers.core" in loaded and "rillet.ops.linalg" in loaded


def test_a_dense_training_step_imports_no_convolution_or_metric_code():
    loaded = run_fresh(
        """
        import json, sys
        import numpy as np
        import rillet as rl
        model = rl.Sequential([rl.Input((4,)), rl.layers.Dense(3, "relu"), rl.layers.Dense(2)])
        loss_fn, optimizer = rl.losses.MeanSquaredError(), rl.optimizers.Adam()

        @rl.function
        def step(x, y):
            with rl.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
            return loss

        step(np.ones((5, 4), np.float32), np.zeros((5, 2), np.float32))
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert [name for name in ON_FIRST_USE if name in loaded] == []


@pytest.mark.parametrize(
    "expression, module",
    [
        ("rl.conv2d", "rillet.ops.conv"),
        ("rl.ops.cond", "rillet.ops.control"),
        ("rl.layers.Conv2D", "rillet.layers.convolutional"),
        ("rl.Metric", "rillet.metrics.metric"),
        ("rl.callbacks.EarlyStopping", "rillet.callbacks"),
        ("rl.models.clone_model", "rillet.models.cloning"),
        ("rl.models.load_model", "rillet.saving"),
    ],
)
def test_a_name_imports_its_module_on_first_use(expression, module):
    found = run_fresh(
        f"""
        import json, sys
        import rillet as rl
        before = {module!r} in sys.modules
        value = {expression}
        print(json.dumps([before, {module!r} in sys.modules, value.__module__]))
        """
    )
    assert found[:2] == [False, True]
    assert found[2].startswith(module.rsplit(".", 1)[0])


def test_names_resolve_to_the_defining_modules_objects():
    from rillet.layers import convolutional, rnn
    from rillet.ops import control, conv

    assert rl.conv2d is conv.conv2d and rl.ops.conv2d is conv.conv2d
    assert rl.ops.cond is control.cond
    assert rl.layers.Conv2D is convolutional.Conv2D and rl.layers.GRU is rnn.GRU
    for family in rl.ops.families():
        for name in family.__all__:
            assert getattr(rl, name) is getattr(family, name), name


def test_star_imports_and_dir_see_every_name():
    found = run_fresh(
        """
        import json
        import rillet as rl
        namespace = {}
        exec("from rillet import *", namespace)
        layers = {}
        exec("from rillet.layers import *", layers)
        print(json.dumps([
            "conv2d" in namespace, "Tensor" in namespace, "GRU" in layers,
            "conv2d" in dir(rl), "callbacks" in dir(rl), "sklearn" in dir(rl),
            "Conv2D" in dir(rl.layers),
        ]))
        """
    )
    assert found == [True, True, True, True, True, False, True]


def test_an_unknown_name_is_an_attribute_error_naming_the_module():
    with pytest.raises(AttributeError, match="module 'rillet' has no attribute 'conv9d'"):
        rl.conv9d  # noqa: B018
    with pytest.raises(AttributeError, match="module 'rillet.layers' has no attribute 'Conv9D'"):
        rl.layers.Conv9D  # noqa: B018
    assert not hasattr(rl.ops, "__wrapped__")


def test_the_op_registry_finds_an_op_whose_family_is_not_imported_yet():
    found = run_fresh(
        """
        import json, sys
        from rillet.ops._registry import REGISTRY
        before = "rillet.ops.pooling" in sys.modules
        print(json.dumps([before, "max_pool2d" in REGISTRY, REGISTRY["conv2d"].name,
                          "no_such_op" in REGISTRY]))
        """
    )
    assert found == [False, True, "conv2d", False]


def test_a_saved_conv_model_loads_in_a_fresh_process(tmp_path):
    model = rl.Sequential(
        [rl.Input((6, 6, 2)), rl.layers.Conv2D(3, 3), rl.layers.Flatten(), rl.layers.Dense(2)]
    )
    path = tmp_path / "conv.rillet"
    model.save(path)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    found = run_fresh(
        f"""
        import json
        import numpy as np
        import rillet as rl
        model = rl.models.load_model({str(path)!r})
        print(json.dumps(model.predict(np.load({str(tmp_path / "x.npy")!r})).tolist()))
        """
    )
    np.testing.assert_allclose(found, model.predict(x), rtol=1e-6)


def test_bfloat16_arrays_made_after_import_are_rillet_tensors():
    found = run_fresh(
        """
        import json, sys
        import numpy as np
        import rillet as rl
        before = "ml_dtypes" in sys.modules
        import ml_dtypes  # the program's own import, after rillet's
        x = np.array([0.5, 1.5, -2.0], ml_dtypes.bfloat16)
        t = rl.asarray(x)
        half = rl.asarray(np.ones(3, np.float16))
        print(json.dumps([before, t.dtype.name, rl.exp(t).numpy().astype(np.float32).tolist(),
                          (t + half).dtype.name, (t * 2.0).dtype.name,
                          rl.bfloat16 in rl.dtypes.FLOATING, str(rl.bfloat16)]))
        """
    )
    expected = np.exp(np.array([0.5, 1.5, -2.0], np.float32))
    before, name, values, mixed, scaled, floating, shown = found
    assert (before, name, mixed, scaled, floating, shown) == (
        False, "bfloat16", "float32", "bfloat16", True, "bfloat16",
    )  # fmt: skip
    np.testing.assert_allclose(values, expected, rtol=2**-8)


def test_naming_bfloat16_loads_it():
    found = run_fresh(
        """
        import json, sys
        import rillet as rl
        z = rl.zeros((2,), dtype="bfloat16")
        print(json.dumps([z.dtype.name, "ml_dtypes" in sys.modules,
                          rl.dtypes.result_type(rl.bfloat16, rl.float16).name]))
        """
    )
    assert found == ["bfloat16", True, "float32"]


def test_an_unsupported_dtype_is_still_refused():
    with pytest.raises(rl.errors.DTypeError, match="complex64"):
        rl.asarray(np.ones(2, np.complex64))
    with pytest.raises(rl.errors.DTypeError, match="unsupported dtype 'bfloat17'"):
        rl.dtypes.as_dtype("bfloat17")
