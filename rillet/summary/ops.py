"""Summary ops: write scalars, histograms, images and text to the default writer.

Each returns True when it wrote, and False when no default writer is set (as TensorFlow).

>>> import tempfile
>>> import numpy as np
>>> import rillet as rl
>>> with rl.summary.create_file_writer(tempfile.mkdtemp()).as_default():
...     rl.summary.histogram("weights", np.arange(10.0), step=0)
True
>>> rl.summary.scalar("loss", 1.0, step=0)  # no default writer here
False
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ._png import encode_png
from ._proto import proto
from .writer import get_default_writer, resolve_step


def _numpy(who: str, data) -> np.ndarray:
    if hasattr(data, "numpy"):
        data = data.numpy()
    try:
        return np.asarray(data)
    except (TypeError, ValueError) as error:
        raise ArgumentTypeError(f"could not convert data={data!r} to an array", op=who) from error


def _plugin_metadata(plugin: str, description: str | None):
    summary_pb2 = proto("summary_pb2")
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin),
        summary_description=description or "",
    )


def _write(who: str, step, make_value) -> bool:
    writer = get_default_writer()
    if writer is None:
        return False
    step = resolve_step(who, step)
    summary_pb2 = proto("summary_pb2")
    writer.write_summary(summary_pb2.Summary(value=[make_value(summary_pb2)]), step)
    return True


def scalar(name: str, data, step=None, description: str | None = None) -> bool:
    """Write one number under the tag ``name``."""
    array = _numpy("summary.scalar", data)
    if array.size != 1:
        raise ShapeError(f"data must be a scalar, received shape {array.shape}", op="scalar")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise DTypeError(f"data must be a number, received dtype {array.dtype}", op="scalar")
    value = float(array.reshape(()))
    return _write(
        "scalar",
        step,
        lambda pb: pb.Summary.Value(
            tag=name, simple_value=value, metadata=_plugin_metadata("scalars", description)
        ),
    )


def _histogram_proto(array: np.ndarray, buckets: int):
    """Counts in ``buckets`` equal-width buckets from the minimum to the maximum."""
    array = array.astype(np.float64).ravel()
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if array.size == 0 or lo == hi:
        counts, limits = [float(array.size)], [hi]
    else:
        counts, edges = np.histogram(array, bins=buckets, range=(lo, hi))
        limits = list(edges[1:])
    return proto("summary_pb2").HistogramProto(
        min=lo,
        max=hi,
        num=float(array.size),
        sum=float(array.sum()),
        sum_squares=float(np.dot(array, array)),
        bucket_limit=[float(x) for x in limits],
        bucket=[float(c) for c in counts],
    )


def histogram(name: str, data, step=None, buckets: int = 30, description=None) -> bool:
    """Write a histogram of all the values of ``data`` (any shape)."""
    if isinstance(buckets, bool) or not isinstance(buckets, (int, np.integer)) or buckets < 1:
        raise ArgumentError(f"received buckets={buckets!r}, expected an int >= 1", op="histogram")
    array = _numpy("histogram", data)
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise DTypeError(f"data must be numeric, received dtype {array.dtype}", op="histogram")
    if array.size and not np.all(np.isfinite(array)):
        raise ArgumentError(f"data {name!r} holds NaN or Inf values", op="histogram")
    return _write(
        "histogram",
        step,
        lambda pb: pb.Summary.Value(
            tag=name,
            histo=_histogram_proto(array, int(buckets)),
            metadata=_plugin_metadata("histograms", description),
        ),
    )


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise DTypeError(
            f"images must be uint8 or floats in [0, 1], received dtype {array.dtype}", op="image"
        )
    # Round to nearest so 1.0 maps to 255 and 0.5 to 128, as tf.image.convert_image_dtype.
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def image(name: str, data, step=None, max_outputs: int = 3, description=None) -> bool:
    """Write up to ``max_outputs`` images of an NHWC batch (1, 2, 3 or 4 channels; uint8 or
    floats in [0, 1]) as PNGs, the way ``tf.summary.image`` does (one tag, a string tensor
    ``[width, height, png...]``)."""
    array = _numpy("image", data)
    if array.ndim != 4 or array.shape[-1] not in (1, 2, 3, 4):
        raise ShapeError(
            f"data must be a batch of images (N, H, W, C) with C in 1..4, received shape "
            f"{array.shape}",
            op="image",
        )
    if isinstance(max_outputs, bool) or not isinstance(max_outputs, int) or max_outputs < 1:
        raise ArgumentError(f"received max_outputs={max_outputs!r}, expected an int >= 1")
    images = _to_uint8(array[:max_outputs])
    height, width = array.shape[1:3]
    strings = [str(width).encode(), str(height).encode()]
    strings += [encode_png(np.ascontiguousarray(img)) for img in images]
    return _write("image", step, lambda pb: _string_value(pb, name, strings, "images", description))


def text(name: str, data, step=None, description: str | None = None) -> bool:
    """Write a string (or an array of strings; rendered as Markdown by TensorBoard)."""
    array = _numpy("text", data)
    if array.dtype.kind not in "USO":
        raise DTypeError(f"data must be strings, received dtype {array.dtype}", op="text")
    strings = [s if isinstance(s, bytes) else str(s).encode() for s in array.ravel().tolist()]
    return _write(
        "text", step, lambda pb: _string_value(pb, name, strings, "text", description, array.shape)
    )


def _string_value(pb, name, strings, plugin, description, shape=None):
    tensor_pb2, shape_pb2, types_pb2 = (
        proto("tensor_pb2"),
        proto("tensor_shape_pb2"),
        proto("types_pb2"),
    )
    dims = [len(strings)] if shape is None else list(shape)
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=shape_pb2.TensorShapeProto(
            dim=[shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        ),
        string_val=strings,
    )
    return pb.Summary.Value(tag=name, tensor=tensor, metadata=_plugin_metadata(plugin, description))
