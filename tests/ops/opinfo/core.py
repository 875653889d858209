import numpy as np

import rillet as rl
from rillet.testing.opinfo import OpInfo, Sample, randn


def _matmul_samples(rng, dtype):
    pairs = [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 2)),
        ((4,), (4, 3)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 1, 3, 4), (5, 4, 2)),
    ]
    return [Sample((randn(rng, a, dtype), randn(rng, b, dtype))) for a, b in pairs]


def _sum_samples(rng, dtype):
    x = randn(rng, (2, 3, 4), dtype)
    return [
        Sample((x,), {"axis": axis, "keepdims": k})
        for axis in (None, 0, -1, (0, 2), [1])
        for k in (False, True)
    ]


OPS = [
    OpInfo(
        "matmul",
        rl.matmul,
        np.matmul,
        _matmul_samples,
        grad2=True,
        tolerance={np.dtype(np.float16): (1e-2, 1e-2), rl.bfloat16: (5e-2, 1e-1)},
    ),
    OpInfo(
        "sum",
        rl.sum,
        lambda x, axis, keepdims: np.sum(
            x, axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=keepdims
        ),
        _sum_samples,
        grad2=True,
        tolerance={np.dtype(np.float16): (1e-2, 1e-2), rl.bfloat16: (5e-2, 1e-1)},
    ),
    OpInfo(
        "reshape",
        rl.reshape,
        lambda x, shape: np.reshape(x, shape),
        lambda rng, d: [
            Sample((randn(rng, (2, 6), d),), {"shape": s}) for s in [(3, 4), (-1,), (2, -1, 3)]
        ],
        grad2=True,
    ),
    OpInfo(
        "broadcast_to",
        rl.broadcast_to,
        lambda x, shape: np.broadcast_to(x, shape),
        lambda rng, d: [Sample((randn(rng, (3, 1), d),), {"shape": (2, 3, 4)})],
        grad2=True,
    ),
    OpInfo(
        "cast",
        rl.cast,
        lambda x, dtype: x.astype(np.float64),
        lambda rng, d: [Sample((randn(rng, (3, 2), d),), {"dtype": d})],
        grad2=True,
    ),
    OpInfo(
        "transpose",
        rl.transpose,
        lambda x, axes=None: np.transpose(x, axes),
        lambda rng, d: [
            Sample((randn(rng, (2, 3, 4), d),), {"axes": a}) for a in [None, (1, 0, 2), (-1, 0, 1)]
        ],
        grad2=True,
    ),
]

UNTABLED = {
    name: "constructors: tested in tests/test_creation.py"
    for name in ("zeros_like", "ones_like", "full_like")
}
UNTABLED.update(
    {
        "read_variable": "state: tested through Variable in tests/graph/test_function.py",
        "assign_variable": "state: tested through Variable in tests/graph/test_function.py",
        **{
            name: "fused optimizer update: against the op-by-op update in "
            "tests/test_fused_optimizer.py"
            for name in ("apply_adam", "apply_rmsprop", "apply_momentum")
        },
    }
)
