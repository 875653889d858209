import numpy as np

import rillet as rl
from rillet.ops.indexing import Slice, advanced_index_add, slice_scatter
from rillet.testing.opinfo import OpInfo, Sample, randn

# ----------------------------------------------------------------------------- references


def _scatter_ref(x, key, updates):
    out = np.array(x, dtype=np.float64)
    np.add.at(out, key, updates)
    return out


def _slice_scatter_ref(x, src, key):
    out = np.array(x, dtype=np.float64)
    out[tuple(k.to_slice() if isinstance(k, Slice) else k for k in key)] = src
    return out


def _gather_ref(params, indices, axis=None, batch_dims=0):
    """TensorFlow's gather, one batch entry at a time."""
    batch_dims = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    axis = batch_dims if axis is None else axis
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    return np.stack([_gather_ref(p, i, axis - 1, batch_dims - 1) for p, i in zip(params, indices)])


def _scatter_along_axis_ref(x, indices, updates, axis=-1):
    """Loop over every (broadcast) index position and add its update."""
    out = np.array(x, dtype=np.float64)
    axis %= x.ndim
    shape = np.broadcast_shapes(indices.shape, updates.shape)
    indices, updates = np.broadcast_to(indices, shape), np.broadcast_to(updates, shape)
    for pos in np.ndindex(shape):
        target = list(pos)
        target[axis] = indices[pos]
        out[tuple(target)] += updates[pos]
    return out


def _segment_sum_ref(data, segment_ids, num_segments=None):
    ids = segment_ids.reshape(-1)
    n = int(ids.max()) + 1 if num_segments is None else num_segments
    rows = data.reshape((ids.size,) + data.shape[segment_ids.ndim :])
    out = np.zeros((n,) + rows.shape[1:])
    for i, row in zip(ids, rows):
        out[i] += row
    return out


def _one_hot_ref(indices, depth, on_value=1, off_value=0, axis=-1, dtype=None):
    out = np.full(indices.shape + (depth,), float(off_value))
    for pos in np.ndindex(indices.shape):
        if 0 <= indices[pos] < depth:
            out[pos + (indices[pos],)] = on_value
    return np.moveaxis(out, -1, indices.ndim if axis == -1 else axis)


# -------------------------------------------------------------------------------- samples

_BASIC_KEYS = [
    (1,),
    (slice(None, None, -1),),
    (slice(1, None, 2), None, -1),
    (Ellipsis, slice(3, 0, -2)),
    (0, Ellipsis, None),
    (-1, -2, 0),
    (slice(-2, None), slice(None, None, 3), slice(4, 1, -1)),
]


def _basic_samples(rng, dtype):
    x = randn(rng, (3, 4, 5), dtype)
    return [Sample((x,), {"key": key}) for key in _BASIC_KEYS]


def _advanced_samples(rng, dtype):
    x = randn(rng, (3, 4, 5), dtype)
    mask2 = rng.random((3, 4)) > 0.5
    keys = [
        ([2, 0, 2, -1],),
        (slice(None), np.array([[0, 1], [3, 0]])),
        (np.array([0, 2]), slice(1, None), np.array([1, 4])),  # not adjacent: broadcast first
        (slice(None), [0, 0], [1, 1]),
        (1, slice(None), [4, 0, 4]),
        (mask2,),
        (slice(None), rng.random(4) > 0.5, None),
        (None, [[1], [2]], Ellipsis, [0, 3]),
    ]
    return [Sample((x,), {"key": key}) for key in keys]


def _advanced_add_samples(rng, dtype):
    x = randn(rng, (4, 3), dtype)
    return [
        Sample((x, randn(rng, (3, 3), dtype)), {"indices": [np.array([0, 2, 0])], "axes": (0,)}),
        Sample(
            (x, randn(rng, (2,), dtype)),
            {"indices": [np.array([1, 1]), np.array([2, 2])], "axes": (0, 1)},
        ),
        Sample((x, randn(rng, (3,), dtype)), {"indices": [np.array([1, 1, 0])], "axes": (1,)}),
    ]


def _slice_scatter_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    keys_and_shapes = [
        ((Slice(1, None, None),), (2, 4)),
        ((0, Slice(None, None, -2)), (2,)),
        ((None, Slice(None, None, None), 2), (1, 3)),
        ((Slice(None, 2, None),), (4,)),  # src broadcasts over the region
    ]
    return [Sample((x, randn(rng, s, dtype)), {"key": k}) for k, s in keys_and_shapes]


def _take_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    indices = np.array([[0, 2], [-1, 1]])
    return [
        Sample((x, indices), {"axis": 0}),
        Sample((x, indices), {"axis": -1}),
        Sample((x, np.array([11, 0, 5, 5])), {"axis": None}),
        Sample((x, np.array(2)), {"axis": 1}),
    ]


def _gather_samples(rng, dtype):
    return [
        Sample((randn(rng, (3, 4), dtype), np.array([2, 0, 2])), {"axis": 1, "batch_dims": 0}),
        Sample((randn(rng, (4, 2), dtype), np.array([[3, 1], [0, 0]])), {}),
        Sample((randn(rng, (2, 3, 2), dtype), np.array([[0, 2, 2], [1, 0, 1]])), {"batch_dims": 1}),
        Sample(
            (randn(rng, (2, 3, 4, 2), dtype), np.array([[[3], [0]], [[1], [1]]])),
            {"axis": 2, "batch_dims": -2},
        ),
    ]


def _take_along_axis_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    return [
        Sample((x, np.array([[0, 3], [1, 1], [-1, 2]])), {"axis": 1}),
        Sample((x, np.array([[2, 0, 1, 1]])), {"axis": 0}),
        Sample((x, np.array([[1], [0], [3]])), {"axis": -1}),
    ]


def _scatter_add_samples(rng, dtype):
    x = randn(rng, (4, 3), dtype)
    return [
        Sample((x, np.array([0, 2, 0]), randn(rng, (3, 3), dtype)), {"axis": 0}),
        Sample((x, np.array([[2, 2], [0, -1]]), randn(rng, (4, 2, 2), dtype)), {"axis": 1}),
        Sample((x, np.array([1, 1]), randn(rng, (3,), dtype)), {"axis": 0}),  # broadcast rows
    ]


def _scatter_along_axis_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    return [
        Sample((x, np.array([[0, 0], [3, 1], [2, -1]]), randn(rng, (3, 2), dtype)), {"axis": 1}),
        Sample((x, np.array([[2, 2, 0, 1]]), randn(rng, (1, 4), dtype)), {"axis": 0}),
    ]


def _segment_sum_samples(rng, dtype):
    return [
        Sample((randn(rng, (5, 3), dtype), np.array([0, 2, 0, 1, 2])), {}),
        Sample((randn(rng, (4,), dtype), np.array([3, 0, 3, 3])), {"num_segments": 5}),
        Sample((randn(rng, (2, 3, 2), dtype), np.array([[1, 0, 1], [0, 0, 2]])), {}),
    ]


def _one_hot_samples(rng, dtype):
    indices = np.array([[0, 2, 5], [1, -1, 3]])
    return [
        Sample((indices,), {"depth": 4, "dtype": dtype}),
        Sample((indices,), {"depth": 3, "axis": 0, "on_value": 2.5, "dtype": dtype}),
        Sample((indices,), {"depth": 6, "axis": 1, "off_value": -1, "dtype": dtype}),
    ]


def _mask_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    return [
        Sample((x, rng.random((3, 4)) > 0.4), {}),
        Sample((x, np.array([True, False, True, True])), {"axis": 1}),
    ]


def _index_add(x, updates, indices, axes):
    return advanced_index_add([x, updates, *indices], axes=axes)


def _index_add_ref(x, updates, indices, axes):
    key = [slice(None)] * x.ndim
    for index, axis in zip(indices, axes):
        key[axis] = index
    return _scatter_ref(x, tuple(key), updates)


def _mask_ref(x, mask, axis=0):
    return x[(slice(None),) * axis + (mask,)]


OPS = [
    OpInfo("getitem", rl.getitem, lambda x, key: x[key], _basic_samples, grad2=True),
    OpInfo("advanced_index", rl.getitem, lambda x, key: x[key], _advanced_samples, grad2=True),
    OpInfo("boolean_mask", rl.boolean_mask, _mask_ref, _mask_samples, grad2=True),
    OpInfo("slice_scatter", slice_scatter, _slice_scatter_ref, _slice_scatter_samples, grad2=True),
    OpInfo("advanced_index_add", _index_add, _index_add_ref, _advanced_add_samples, grad2=True),
    OpInfo("take", rl.take, lambda x, i, axis: np.take(x, i, axis=axis), _take_samples, grad2=True),
    OpInfo("gather", rl.gather, _gather_ref, _gather_samples, grad2=True),
    OpInfo(
        "take_along_axis",
        rl.take_along_axis,
        lambda x, i, axis: np.take_along_axis(x, i, axis=axis),
        _take_along_axis_samples,
        grad2=True,
    ),
    OpInfo(
        "scatter_add",
        rl.scatter_add,
        lambda x, i, u, axis: _scatter_ref(x, (slice(None),) * (axis % x.ndim) + (i,), u),
        _scatter_add_samples,
        grad2=True,
    ),
    OpInfo(
        "scatter_add_along_axis",
        rl.scatter_add_along_axis,
        _scatter_along_axis_ref,
        _scatter_along_axis_samples,
        grad2=True,
    ),
    OpInfo("segment_sum", rl.segment_sum, _segment_sum_ref, _segment_sum_samples, grad2=True),
    OpInfo("one_hot", rl.one_hot, _one_hot_ref, _one_hot_samples, grad=False),
]
