import io
import sys

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
tensor_util = pytest.importorskip("tensorboard.util.tensor_util")


def read(logdir):
    accumulator = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={"tensors": 0, "scalars": 0, "histograms": 0}
    )
    accumulator.Reload()
    return accumulator


def test_scalars_read_back_with_tags_steps_and_values(tmp_path):
    with rl.summary.create_file_writer(tmp_path).as_default():
        for step in range(5):
            assert rl.summary.scalar("loss", 1.0 / (step + 1), step=step)
        rl.summary.scalar("accuracy", rl.asarray(0.75), step=7)
    events = read(tmp_path)
    assert sorted(events.Tags()["scalars"]) == ["accuracy", "loss"]
    assert [e.step for e in events.Scalars("loss")] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([e.value for e in events.Scalars("loss")], 1 / np.arange(1, 6))
    assert events.Scalars("accuracy")[0].value == 0.75


def test_default_step_from_as_default_and_set_step(tmp_path):
    writer = rl.summary.create_file_writer(tmp_path)
    with writer.as_default(step=4):
        rl.summary.scalar("a", 1.0)
    rl.summary.set_step(9)
    try:
        with writer.as_default():
            rl.summary.scalar("b", 2.0)
    finally:
        rl.summary.set_step(None)
    writer.close()
    events = read(tmp_path)
    assert events.Scalars("a")[0].step == 4 and events.Scalars("b")[0].step == 9


def test_histogram_counts_match_numpy(tmp_path, rng):
    data = rng.normal(size=(40, 25))
    with rl.summary.create_file_writer(tmp_path).as_default():
        rl.summary.histogram("w", data, step=2, buckets=12)
    (event,) = read(tmp_path).Histograms("w")
    histo = event.histogram_value
    counts, edges = np.histogram(data, bins=12, range=(data.min(), data.max()))
    assert event.step == 2
    np.testing.assert_array_equal(histo.bucket, counts)
    np.testing.assert_allclose(histo.bucket_limit, edges[1:])
    assert histo.num == data.size and histo.min == data.min() and histo.max == data.max()
    np.testing.assert_allclose([histo.sum, histo.sum_squares], [data.sum(), (data**2).sum()])


def test_histogram_of_constant_data_is_one_bucket(tmp_path):
    with rl.summary.create_file_writer(tmp_path).as_default():
        rl.summary.histogram("c", np.full(6, 2.5), step=0)
    histo = read(tmp_path).Histograms("c")[0].histogram_value
    assert list(histo.bucket) == [6.0] and list(histo.bucket_limit) == [2.5]


def test_images_are_pngs_of_the_right_size(tmp_path, rng):
    image_module = pytest.importorskip("PIL.Image")
    floats = rng.random((4, 5, 7, 3))
    with rl.summary.create_file_writer(tmp_path).as_default():
        rl.summary.image("batch", floats, step=1, max_outputs=2)
        rl.summary.image("grey", np.zeros((1, 3, 2, 1), np.uint8), step=1)
    (event,) = read(tmp_path).Tensors("batch")
    strings = tensor_util.make_ndarray(event.tensor_proto)
    assert event.step == 1 and strings[0] == b"7" and strings[1] == b"5" and len(strings) == 4
    decoded = np.asarray(image_module.open(io.BytesIO(strings[2])))
    np.testing.assert_array_equal(decoded, np.round(floats[0] * 255).astype(np.uint8))
    grey = tensor_util.make_ndarray(read(tmp_path).Tensors("grey")[0].tensor_proto)
    assert image_module.open(io.BytesIO(grey[2])).size == (2, 3)


def test_text_reads_back(tmp_path):
    with rl.summary.create_file_writer(tmp_path).as_default():
        rl.summary.text("notes", "**hello**", step=3)
        rl.summary.text("table", [["a", "b"], ["c", "d"]], step=3)
    events = read(tmp_path)
    assert tensor_util.make_ndarray(events.Tensors("notes")[0].tensor_proto) == b"**hello**"
    table = tensor_util.make_ndarray(events.Tensors("table")[0].tensor_proto)
    assert table.shape == (2, 2) and table[1, 0] == b"c"
    assert events.summary_metadata["notes"].plugin_data.plugin_name == "text"


def test_graph_parses_with_ops_inputs_and_shapes(tmp_path):
    fn = rl.function(lambda x, w: rl.tanh(rl.matmul(x, w)))
    graph = fn.get_graph(np.ones((4, 3), np.float32), np.ones((3, 2), np.float32))
    with rl.summary.create_file_writer(tmp_path).as_default():
        assert rl.summary.graph(graph)
    graph_def = read(tmp_path).Graph()
    nodes = {node.name: node for node in graph_def.node}
    assert {node.op for node in graph_def.node} >= {"placeholder", "matmul", "tanh"}
    (tanh,) = [n for n in graph_def.node if n.op == "tanh"]
    assert nodes[tanh.input[0]].op == "matmul"
    dims = [d.size for d in tanh.attr["_output_shapes"].list.shape[0].dim]
    assert dims == [4, 2]


def test_nothing_written_without_default_writer():
    assert rl.summary.scalar("x", 1.0, step=0) is False
    assert rl.summary.get_default_writer() is None


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: rl.summary.scalar("x", 1.0), ArgumentError, "step=None"),
        (lambda: rl.summary.scalar("x", [1.0, 2.0], step=0), ShapeError, "scalar"),
        (lambda: rl.summary.scalar("x", 1.0, step=1.5), ArgumentTypeError, "step=1.5"),
        (lambda: rl.summary.histogram("x", [1.0], step=0, buckets=0), ArgumentError, "buckets"),
        (lambda: rl.summary.image("x", np.zeros((3, 3)), step=0), ShapeError, "(3, 3)"),
        (lambda: rl.summary.image("x", np.zeros((1, 2, 2, 1), int), step=0), DTypeError, "int"),
        (lambda: rl.summary.text("x", 3.0, step=0), DTypeError, "strings"),
        (lambda: rl.summary.graph("not a graph"), ArgumentTypeError, "rl.Graph"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path, call, error, words):
    with rl.summary.create_file_writer(tmp_path).as_default():
        with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
            call()


def test_closed_writer_refuses_to_write(tmp_path):
    writer = rl.summary.create_file_writer(tmp_path)
    writer.close()
    with writer.as_default(), pytest.raises(ArgumentError, match="closed"):
        rl.summary.scalar("x", 1.0, step=0)


def test_missing_tensorboard_says_pip_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto.event_pb2", None)
    with pytest.raises(rl.summary.MissingDependencyError, match="pip install tensorboard"):
        rl.summary.create_file_writer(tmp_path)
    assert isinstance(rl.summary.MissingDependencyError("x"), ImportError)


def test_import_rillet_does_not_import_tensorboard():
    import subprocess

    code = "import sys, rillet; print('tensorboard' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
