"""Op table for the shape family: every op is linear, so every row checks second order too."""

import numpy as np

import rillet as rl
from rillet.ops import rearrange as rearrange_ops
from rillet.ops import shapes as shape_ops
from rillet.testing.opinfo import OpInfo, Sample, randn


def _each(shape, kwargs_list):
    """One sample of a random ``shape`` per attribute dict."""

    def samples(rng, dtype):
        return [Sample((randn(rng, shape, dtype),), kw) for kw in kwargs_list]

    return samples


def _shaped(cases):
    """One sample per (shape, attributes) case."""

    def samples(rng, dtype):
        return [Sample((randn(rng, s, dtype),), kw) for s, kw in cases]

    return samples


def _many(cases):
    """Samples with several tensor arguments: (shapes, attributes) per case."""

    def samples(rng, dtype):
        return [Sample(tuple(randn(rng, s, dtype) for s in shapes), kw) for shapes, kw in cases]

    return samples


def _repeat_sum_ref(g, repeats, axis):
    pieces = np.split(g, np.cumsum(repeats)[:-1], axis=axis)
    return np.stack([p.sum(axis=axis) for p in pieces], axis=axis)


def _slice_region_ref(x, begin, size):
    return x[tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))]


def _pad_ref(x, pad_width, mode="constant", constant_values=0):
    extra = {"constant_values": constant_values} if mode.lower() == "constant" else {}
    return np.pad(x, np.asarray(pad_width), mode=mode.lower(), **extra)


def _tile_ref(x, reps=None, multiples=None):
    return np.tile(x, reps if multiples is None else multiples)


def _roll_ref(x, shift, axis=None):
    return np.roll(x, shift, axis)


SUMS = {np.dtype(np.float16): (1e-2, 1e-2), rl.bfloat16: (5e-2, 5e-2)}

OPS = [
    OpInfo(
        "expand_dims",
        rl.expand_dims,
        lambda x, axis: np.expand_dims(x, axis),
        _each((2, 3), [{"axis": 0}, {"axis": -1}, {"axis": (0, 2)}, {"axis": [3, 1]}]),
        grad2=True,
    ),
    OpInfo(
        "squeeze",
        rl.squeeze,
        lambda x, axis=None: np.squeeze(x, axis),
        _shaped(
            [
                ((1, 3, 1), {}),
                ((1, 3, 1), {"axis": 0}),
                ((1, 3, 1), {"axis": (0, -1)}),
                ((2, 1), {"axis": 1}),
            ]
        ),
        grad2=True,
    ),
    OpInfo("ravel", rl.ravel, np.ravel, _shaped([((2, 3), {}), ((), {})]), grad2=True),
    OpInfo(
        "concat",
        lambda *xs, axis=0: rl.concat(list(xs), axis=axis),
        lambda *xs, axis=0: np.concatenate(xs, axis),
        _many(
            [
                (((2, 3), (1, 3)), {"axis": 0}),
                (((2, 3), (2, 2), (2, 1)), {"axis": -1}),
                (((3,),), {}),
            ]
        ),
        grad2=True,
    ),
    OpInfo(
        "stack",
        lambda *xs, axis=0: rl.stack(xs, axis=axis),
        lambda *xs, axis=0: np.stack(xs, axis),
        _many(
            [(((2, 3),) * 3, {"axis": 0}), (((2, 3),) * 2, {"axis": -1}), (((3,),), {"axis": 1})]
        ),
        grad2=True,
    ),
    OpInfo(
        "split",
        rl.split,
        lambda x, num_or_size_splits, axis=0: np.split(
            x,
            num_or_size_splits
            if isinstance(num_or_size_splits, int)
            else np.cumsum(_sizes(num_or_size_splits, x.shape[axis]))[:-1],
            axis,
        ),
        _shaped(
            [
                ((6, 2), {"num_or_size_splits": 3}),
                ((4, 5), {"num_or_size_splits": [1, -1, 2], "axis": 1}),
                ((3, 4), {"num_or_size_splits": [0, 3], "axis": -2}),
            ]
        ),
        grad2=True,
    ),
    OpInfo(
        "unstack",
        rl.unstack,
        lambda x, axis=0: list(np.moveaxis(x, axis, 0)),
        _shaped([((3, 2), {}), ((2, 3, 2), {"axis": -1}), ((4,), {})]),
        grad2=True,
    ),
    OpInfo(
        "tile",
        rl.tile,
        _tile_ref,
        _shaped(
            [
                ((2, 3), {"reps": 2}),
                ((2, 3), {"reps": (2, 1)}),
                ((3,), {"reps": (2, 1, 2)}),
                ((2, 3), {"multiples": [1, 2]}),
                ((2, 1), {"reps": (0, 3)}),
            ]
        ),
        grad2=True,
    ),
    OpInfo(
        "repeat",
        rl.repeat,
        lambda x, repeats, axis=None: np.repeat(x, repeats, axis),
        _shaped(
            [
                ((2, 3), {"repeats": 2}),
                ((2, 3), {"repeats": [1, 0, 2], "axis": 1}),
                ((3,), {"repeats": [2]}),
                ((2, 3), {"repeats": 2, "axis": -2}),
                ((2, 2), {"repeats": [1, 2, 0, 3]}),
            ]
        ),
        grad2=True,
        tolerance=SUMS,
    ),
    OpInfo(
        "repeat_sum",
        rearrange_ops.repeat_sum,
        _repeat_sum_ref,
        _shaped(
            [
                ((5, 2), {"repeats": (2, 0, 3), "axis": 0}),
                ((2, 4), {"repeats": (0, 1, 3, 0), "axis": -1}),
            ]
        ),
        grad2=True,
        tolerance=SUMS,
    ),
    OpInfo(
        "pad",
        rl.pad,
        _pad_ref,
        _shaped(
            [
                ((3, 4), {"pad_width": 1, "constant_values": 0.5}),
                ((3, 4), {"pad_width": [[1, 0], [2, 2]]}),
                ((3, 4), {"pad_width": ((1, 2), (3, 0)), "mode": "reflect"}),
                ((3, 4), {"pad_width": ((2, 3), (0, 4)), "mode": "symmetric"}),
                ((4,), {"pad_width": (3, 1), "mode": "REFLECT"}),
            ]
        ),
        grad2=True,
    ),
    OpInfo(
        "slice_region",
        rearrange_ops.slice_region,
        _slice_region_ref,
        _shaped(
            [
                ((3, 4), {"begin": (1, 0), "size": (2, -1)}),
                ((2, 3, 4), {"begin": (0, 1, 2), "size": (2, 0, 2)}),
            ]
        ),
        grad2=True,
    ),
    OpInfo(
        "flip",
        rl.flip,
        lambda x, axis=None: np.flip(x, axis),
        _each((2, 3, 2), [{}, {"axis": 0}, {"axis": (0, -1)}]),
        grad2=True,
    ),
    OpInfo(
        "roll",
        rl.roll,
        _roll_ref,
        _each(
            (2, 3),
            [
                {"shift": 1},
                {"shift": (1, -2), "axis": (0, 1)},
                {"shift": 4, "axis": -1},
                {"shift": (1, 1), "axis": (1, 1)},
            ],
        ),
        grad2=True,
    ),
    OpInfo(
        "swapaxes",
        rl.swapaxes,
        lambda x, axis1, axis2: np.swapaxes(x, axis1, axis2),
        _each((2, 3, 4), [{"axis1": 0, "axis2": 2}, {"axis1": -1, "axis2": 1}]),
        grad2=True,
    ),
    OpInfo(
        "moveaxis",
        rl.moveaxis,
        lambda x, source, destination: np.moveaxis(x, source, destination),
        _each(
            (2, 3, 4), [{"source": 0, "destination": -1}, {"source": (0, 1), "destination": (2, 0)}]
        ),
        grad2=True,
    ),
]


def _sizes(sizes, n):
    return [n - sum(s for s in sizes if s != -1) if s == -1 else s for s in sizes]


def _like_samples(x_shape, like_shape):
    def samples(rng, dtype):
        like = randn(rng, like_shape, dtype)
        return [Sample((randn(rng, x_shape, dtype), like), grad_args=(0,))]

    return samples


OPS += [
    OpInfo(
        "broadcast_like",
        shape_ops.broadcast_like,
        lambda x, like: np.broadcast_to(x, like.shape),
        _like_samples((3, 1), (2, 3, 4)),
        grad2=True,
    ),
    OpInfo(
        "reshape_like",
        shape_ops.reshape_like,
        lambda x, like: np.reshape(x, like.shape),
        _like_samples((2, 6), (3, 4)),
        grad2=True,
    ),
]


def _split_like_samples(rng, dtype):
    g = randn(rng, (2, 5), dtype)
    likes = (randn(rng, (2, 2), dtype), randn(rng, (2, 3), dtype))
    return [Sample(([g, *likes],), {"axis": 1}, grad_args=())]


OPS.append(
    OpInfo(
        "split_like",
        lambda tensors, axis: shape_ops.split_like(tensors, axis=axis),
        lambda tensors, axis: np.split(tensors[0], [2], axis=axis),
        _split_like_samples,
        grad=False,
    )
)
