"""TensorBoard logs (``tf.summary``): event files with scalars, histograms, images, text and
traced graphs, written with the protobuf definitions of the ``tensorboard`` package.

>>> import tempfile
>>> import rillet as rl
>>> writer = rl.summary.create_file_writer(tempfile.mkdtemp())
>>> with writer.as_default():
...     for step in range(3):
...         _ = rl.summary.scalar("loss", 1.0 / (step + 1), step=step)
>>> writer.close()
"""

from ._proto import MissingDependencyError
from .graph_def import graph, to_graph_def
from .ops import histogram, image, scalar, text
from .writer import (
    SummaryWriter,
    create_file_writer,
    get_default_writer,
    get_step,
    set_step,
)

__all__ = [
    "MissingDependencyError", "SummaryWriter", "create_file_writer", "get_default_writer",
    "get_step", "graph", "histogram", "image", "scalar", "set_step", "text", "to_graph_def",
]  # fmt: skip
