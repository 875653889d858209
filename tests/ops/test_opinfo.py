"""Every op table row through the same checks: values, rules, gradients, dtypes."""

import numpy as np
import pytest

import rillet as rl
from rillet import dtypes
from rillet.testing.gradcheck import check_grads
from tests.ops.opinfo import all_rows, all_untabled

ROWS = all_rows()
GRAD_ROWS = [r for r in ROWS if r.grad]
GRAD2_ROWS = [r for r in ROWS if r.grad2]


def _ids(rows):
    return [r.name for r in rows]


def _tensors(args):
    return [rl.asarray(a) if isinstance(a, np.ndarray) else a for a in args]


def _wide(args):
    return [
        a.astype(np.float64) if isinstance(a, np.ndarray) and dtypes.is_floating(a.dtype) else a
        for a in args
    ]


def _as_list(value):
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _skip(row, check):
    if check in row.skips:
        pytest.skip(row.skips[check])


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_values_match_reference(row, check_rules):
    _skip(row, "values")
    for dtype in row.dtypes:
        rng = np.random.default_rng(0)
        for sample in row.samples(rng, np.dtype(dtype)):
            got = _as_list(row.op(*_tensors(sample.args), **sample.kwargs))
            expected = _as_list(row.ref(*_wide(sample.args), **sample.kwargs))
            assert len(got) == len(expected), f"{row.name}: {len(got)} outputs"
            rtol, atol = row.tol(np.dtype(dtype))
            for g, e in zip(got, expected):
                e = np.asarray(e)
                assert g.shape == e.shape, f"{row.name} {dtype}: shape {g.shape} != {e.shape}"
                np.testing.assert_allclose(
                    np.asarray(g).astype(np.float64) if g.dtype != bool else np.asarray(g),
                    e,
                    rtol=rtol,
                    atol=atol,
                    err_msg=f"{row.name} {dtype} {sample.kwargs}",
                )


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_float_outputs_keep_input_dtype(row):
    """A floating op on float16/bfloat16 inputs does not silently widen them."""
    _skip(row, "dtype")
    for dtype in row.dtypes:
        dtype = np.dtype(dtype)
        if not dtypes.is_floating(dtype):
            continue
        for sample in row.samples(np.random.default_rng(0), dtype):
            for out in _as_list(row.op(*_tensors(sample.args), **sample.kwargs)):
                if dtypes.is_floating(out.dtype):
                    assert out.dtype == dtype, f"{row.name}: {dtype} in, {out.dtype} out"


@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_gradient_matches_finite_differences(row, check_rules):
    _skip(row, "grad")
    rtol, atol = row.grad_tolerance
    for sample in row.samples(np.random.default_rng(1), np.dtype(np.float64)):
        fn = _bind(row, sample)
        check_grads(fn, _tensors(sample.args), indices=_grad_indices(sample), rtol=rtol, atol=atol)


@pytest.mark.parametrize("row", GRAD2_ROWS, ids=_ids(GRAD2_ROWS))
def test_second_order_gradient_matches_finite_differences(row):
    _skip(row, "grad2")
    rtol, atol = row.grad_tolerance
    for sample in row.samples(np.random.default_rng(2), np.dtype(np.float64)):
        fn = _bind(row, sample)
        check_grads(
            fn, _tensors(sample.args), indices=_grad_indices(sample), order=2, rtol=rtol, atol=atol
        )


def _bind(row, sample):
    return lambda *args: row.op(*args, **sample.kwargs)


def _grad_indices(sample):
    if sample.grad_args is not None:
        return list(sample.grad_args)
    return [
        i
        for i, a in enumerate(sample.args)
        if isinstance(a, np.ndarray) and dtypes.is_floating(a.dtype)
    ]


def test_every_differentiable_op_has_a_gradient_rule():
    missing = [name for name, op in rl.ops.REGISTRY.items() if op.differentiable and op.vjp is None]
    assert not missing, f"differentiable ops without a VJP: {missing}"


def test_every_registered_op_has_a_table_row():
    covered = {r.name for r in ROWS}
    untested = sorted(set(rl.ops.REGISTRY) - covered - set(all_untabled()))
    assert not untested, f"ops without an OpInfo row: {untested}"


# -- eager == traced == compiled ------------------------------------------------------------


def _traced_dtype(row) -> np.dtype:
    """float32 when the row takes it (one dtype keeps the check fast), else its first dtype."""
    row_dtypes = [np.dtype(d) for d in row.dtypes]
    return dtypes.float32 if dtypes.float32 in row_dtypes else row_dtypes[0]


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_traced_compiled_matches_eager(row):
    """The first sample through rl.function (all passes, compiled executor) equals eager:
    exactly, or within the row's tolerance for floats. Array arguments become graph
    inputs; the other arguments are Python constants of the trace. A row that cannot run
    as a graph says why in ``skips["traced"]``."""
    _skip(row, "traced")
    dtype = _traced_dtype(row)
    sample = row.samples(np.random.default_rng(3), dtype)[0]
    args = _tensors(sample.args)
    expected = _as_list(row.op(*args, **sample.kwargs))
    traced = rl.function(lambda *a, **k: row.op(*a, **k), executor="compiled")
    got = _as_list(traced(*args, **sample.kwargs))
    assert traced.experimental_get_tracing_count() == 1
    assert len(got) == len(expected), f"{row.name}: {len(got)} outputs traced"
    rtol, atol = row.tol(dtype) if dtypes.is_floating(dtype) else (0.0, 0.0)
    for g, e in zip(got, expected):
        assert (g.shape, g.dtype) == (e.shape, e.dtype), f"{row.name}: {g.shape} {g.dtype}"
        np.testing.assert_allclose(
            np.asarray(g), np.asarray(e), rtol=rtol, atol=atol, err_msg=row.name
        )
