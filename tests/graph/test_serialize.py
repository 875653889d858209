"""Graphs as text, DOT and JSON; save/load with weights, in a fresh process; damaged files."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, RilletError
from rillet.graph import serialize
from rillet.graph.ir import PLACEHOLDER, Graph
from rillet.graph.serialize import GraphFormatError
from rillet.graph.verify import verify


def _array(rng, shape, scale=1.0):
    return rl.asarray((rng.standard_normal(shape) * scale).astype(np.float32))


def _many_ops(x, w, labels):
    """A program whose nodes carry tuples, dtypes, None, strings and NumPy constants."""
    a = rl.transpose(x, (1, 0))
    b = rl.reshape(rl.matmul(a, w), (-1,))
    c = rl.cast(b, dtype=rl.float64)
    d = rl.sum(rl.square(c), axis=None, keepdims=True)
    e = rl.concat([x, x * 2.0], axis=0)
    pooled = rl.max_pool2d(
        rl.reshape(e, (1, 8, 3, 1)), pool_size=(2, 1), strides=(2, 1), padding="same"
    )
    onehot = rl.one_hot(labels, depth=4, dtype=rl.float32)
    masked = rl.where(x > 0, x, rl.zeros_like(x))
    probs = rl.softmax(masked + np.arange(3, dtype=np.float32), axis=-1)
    loss = rl.sparse_softmax_cross_entropy_with_logits(labels % 3, probs)
    return c, d, pooled, onehot, rl.clip(x, -0.5, 0.5), loss


def _many_ops_args():
    rng = np.random.default_rng(0)
    return _array(rng, (4, 3)), _array(rng, (4, 2)), rl.asarray(np.array([0, 3, 1, 2]))


def _graph_and_args():
    args = _many_ops_args()
    return rl.function(_many_ops).get_graph(*args), args


def _assert_same_outputs(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g.shape, g.dtype) == (e.shape, e.dtype)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


# -- text and DOT ---------------------------------------------------------------------------


def test_text_lists_every_node_with_its_op_and_specs():
    graph, _ = _graph_and_args()
    text = str(graph)
    lines = text.splitlines()
    assert lines[0].startswith(f"graph {graph.name}(") and "int64(4,)" in lines[0]
    for node in graph.nodes:
        if node.op != PLACEHOLDER:
            line = next(ln for ln in lines if f"= {node.op}(" in ln and f"%{node.name}" in ln)
            assert repr(node.outputs[0]) in line
    assert lines[-1] == "  return " + ", ".join(f"%{v.name}" for v in graph.outputs)
    assert len(lines) == len(graph.nodes) - len(graph.inputs) + 2


def _dot_tokens(text):
    return re.findall(r'"(?:[^"\\]|\\.)*"|->|[{}\[\]=,;]|[A-Za-z_][\w.]*', text)


def _unquote(token):
    return re.sub(r"\\(.)", r"\1", token[1:-1]) if token.startswith('"') else token


def _parse_dot(text):
    """A small parser for the DOT we write: ``digraph ID { stmt; ... }`` with node and edge
    statements and attribute lists. Returns (name, {node: attrs}, [(tail, head, attrs)])."""
    tokens = _dot_tokens(text)
    assert tokens[0] == "digraph" and tokens[2] == "{" and tokens[-1] == "}", tokens[:3]
    nodes, edges, i = {}, [], 3
    while tokens[i] != "}":
        ids = [_unquote(tokens[i])]
        i += 1
        while tokens[i] == "->":
            ids.append(_unquote(tokens[i + 1]))
            i += 2
        attrs = {}
        if tokens[i] == "[":
            i += 1
            while tokens[i] != "]":
                attrs[tokens[i]] = _unquote(tokens[i + 2])
                i += 4 if tokens[i + 3] == "," else 3
            i += 1
        assert tokens[i] == ";", f"statement not ended at token {i}: {tokens[i]}"
        i += 1
        if len(ids) == 1 and ids[0] != "node":
            nodes[ids[0]] = attrs
        elif len(ids) == 2:
            edges.append((ids[0], ids[1], attrs))
    return _unquote(tokens[1]), nodes, edges


def test_dot_is_a_digraph_with_one_node_per_graph_node_and_one_edge_per_input():
    graph, _ = _graph_and_args()
    name, nodes, edges = _parse_dot(graph.to_dot())
    assert name == graph.name
    outputs = {f"output {i}" for i in range(len(graph.outputs))}
    assert set(nodes) == {n.name for n in graph.nodes} | outputs
    assert all(nodes[n.name]["label"] == n.op for n in graph.nodes)
    expected = [
        (v.node.name, n.name, f"{v.dtype.name}{rl.ops._rules.fmt(v.shape)}")
        for n in graph.nodes
        for v in n.inputs
        if v is not None
    ]
    assert [(t, h, a["label"]) for t, h, a in edges if h not in outputs] == expected
    assert {(t, h) for t, h, _ in edges if h in outputs} == {
        (v.node.name, f"output {i}") for i, v in enumerate(graph.outputs)
    }


def test_dot_escapes_quotes_in_names():
    graph = rl.function(lambda x: -x, name='say "hi" \\ bye').get_graph(rl.ones(2))
    name, nodes, _ = _parse_dot(graph.to_dot())
    assert name == 'say "hi" \\ bye' and len(nodes) == 3


# -- JSON round trip ------------------------------------------------------------------------


def _round_trip(graph):
    arrays, variables = {}, []
    text = json.dumps(serialize.to_json(graph, arrays, variables))
    return verify(serialize.from_json(json.loads(text), arrays, variables))


def test_json_round_trip_keeps_structure_attributes_and_values():
    graph, args = _graph_and_args()
    loaded = _round_trip(graph)
    assert str(loaded) == str(graph)
    _assert_same_outputs(loaded.run(*args), graph.run(*args))


def test_json_round_trip_of_a_training_step_with_variables():
    w = rl.Variable(np.full((3, 2), 0.5, np.float32), name="w")

    @rl.function
    def step(x):
        with rl.GradientTape() as tape:
            loss = rl.mean(rl.square(x @ w))
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    x = rl.ones((4, 3))
    loaded = _round_trip(step.get_graph(x))
    assert loaded.variables == [w]  # the same variable objects were handed back
    expected_loss, expected_w = step(x).numpy(), w.numpy()
    w.assign(np.full((3, 2), 0.5, np.float32))
    np.testing.assert_array_equal(loaded.run(x)[0].numpy(), expected_loss)
    np.testing.assert_array_equal(w.numpy(), expected_w)
    assert not np.array_equal(expected_w, np.full((3, 2), 0.5))


def test_json_round_trip_of_getitem_slices_none_and_ellipsis():
    graph = rl.function(lambda x: (x[1:, ::2], x[None, 0], x[..., 1], x[:, -1])).get_graph(
        rl.ones((3, 4))
    )
    x = rl.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    loaded = _round_trip(graph)
    _assert_same_outputs(loaded.run(x), graph.run(x))


def test_unserializable_attribute_is_an_argument_error():
    graph = Graph("odd")
    x = graph.add_placeholder((2,), np.float32)
    node = graph.add_node("negative", [x], {"weird": object()}, [x.spec])
    graph.outputs = node.outputs
    with pytest.raises(ArgumentError, match="cannot serialize an attribute of type object"):
        serialize.to_json(graph)


# -- files ----------------------------------------------------------------------------------

_FRESH_PROCESS = """
import sys
import numpy as np
from rillet.graph import serialize

graph = serialize.load(sys.argv[1])
with np.load(sys.argv[2]) as feeds:
    inputs = [feeds[f"arg{i}"] for i in range(len(feeds.files))]
outputs = graph.run(*inputs)
np.savez(sys.argv[3], **{f"out{i}": o.numpy() for i, o in enumerate(outputs)})
print(sorted(m for m in sys.modules if m.startswith("tests")))
"""


def _run_fresh(path, args, tmp_path) -> list:
    """Load and run the saved graph in a new interpreter that has only rillet."""
    feeds, results = tmp_path / "feeds.npz", tmp_path / "results.npz"
    np.savez(feeds, **{f"arg{i}": np.asarray(a) for i, a in enumerate(args)})
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(path), str(feeds), str(results)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # the test's source was not imported
    with np.load(results) as out:
        return [out[f"out{i}"] for i in range(len(out.files))]


def test_saved_graph_reloads_in_a_fresh_process_with_the_same_outputs(tmp_path):
    rng = np.random.default_rng(1)
    w1 = rl.Variable(_array(rng, (3, 8)), name="w1")
    w2 = rl.Variable(_array(rng, (8, 2)), name="w2")
    model = rl.function(lambda x: rl.softmax(rl.tanh(x @ w1) @ w2 + np.float32(0.5)))
    x = _array(rng, (5, 3))
    path = tmp_path / "model.json"
    serialize.save(model.get_graph(x), str(path))
    _assert_same_outputs(_run_fresh(path, [x], tmp_path), [model(x)])


def test_saved_graph_of_many_ops_reloads_in_a_fresh_process(tmp_path):
    graph, args = _graph_and_args()
    path = tmp_path / "many.json"
    serialize.save(graph, str(path))
    _assert_same_outputs(_run_fresh(path, args, tmp_path), graph.run(*args))


def test_loaded_graph_has_its_own_variables_with_the_saved_values(tmp_path):
    v = rl.Variable(np.array([1.0, 2.0], np.float32), name="state")
    step = rl.function(lambda x: v.assign_add(x).read_value())
    path = str(tmp_path / "g.json")
    serialize.save(step.get_graph(rl.ones(2)), path)
    loaded = serialize.load(path)
    (copy,) = loaded.variables
    assert copy is not v and copy.name == "state"
    np.testing.assert_array_equal(loaded.run(rl.ones(2))[0].numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(copy.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])  # the original is untouched


def test_failed_save_keeps_the_previous_files(tmp_path):
    graph, args = _graph_and_args()
    path = str(tmp_path / "g.json")
    serialize.save(graph, path)
    broken = Graph("broken")
    x = broken.add_placeholder((2,), np.float32)
    broken.outputs = broken.add_node("negative", [x], {"weird": object()}, [x.spec]).outputs
    with pytest.raises(ArgumentError):
        serialize.save(broken, path)
    _assert_same_outputs(serialize.load(path).run(*args), graph.run(*args))
    assert sorted(os.listdir(tmp_path)) == ["g.json", "g.json.npz"]  # no temporary left


# -- damaged and foreign files ----------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    graph, args = _graph_and_args()
    path = tmp_path / "g.json"
    serialize.save(graph, str(path))
    return path, args


def _assert_format_error(path, match=None):
    with pytest.raises(GraphFormatError, match=match) as info:
        serialize.load(str(path))
    assert str(path) in str(info.value)


def test_missing_files_name_the_file(saved, tmp_path):
    path, _ = saved
    _assert_format_error(tmp_path / "nothing.json", "cannot read graph")
    os.remove(str(path) + ".npz")
    _assert_format_error(path, "cannot read graph")


def test_truncated_json_is_a_format_error(saved):
    path, _ = saved
    data = path.read_bytes()
    for cut in (0, 1, len(data) // 3, len(data) - 2):
        path.write_bytes(data[:cut])
        _assert_format_error(path)


def test_truncated_or_corrupted_npz_is_a_format_error(saved):
    path, _ = saved
    npz = path.with_name(path.name + ".npz")
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    _assert_format_error(path, "cannot read graph")
    corrupted = bytearray(data)
    corrupted[len(data) // 3] ^= 0xFF
    npz.write_bytes(bytes(corrupted))
    _assert_format_error(path)


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": "package", "version": "1.0"}',
        b"[1, 2, 3]",
        b'"just a string"',
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        json.dumps({"format": "rillet.graph/999", "nodes": []}).encode(),
    ],
    ids=["other-json", "list", "string", "binary", "future-version"],
)
def test_foreign_files_are_format_errors(saved, content):
    path, _ = saved
    path.write_bytes(content)
    _assert_format_error(path)


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d["nodes"][3].update(op="no_such_op"), "unknown op 'no_such_op'"),
        (lambda d: d["nodes"][3].update(inputs=[[-1, 0]]), "refers to no earlier node"),
        (lambda d: d["nodes"][3].update(inputs=[[len(d["nodes"]), 0]]), "refers to no earlier"),
        (lambda d: d["outputs"].append([0, 5]), "graph output"),
        (lambda d: d["nodes"][3]["outputs"][0].update(shape=[7, 7, 7]), "rule"),
        (lambda d: d["nodes"][3]["outputs"][0].update(dtype="float33"), "float33"),
        (lambda d: d.pop("nodes"), "nodes"),
        (lambda d: d["variables"].append({"name": "ghost", "trainable": True}), "variable"),
    ],
    ids=["op", "negative-ref", "forward-ref", "output", "shape", "dtype", "no-nodes", "ghost"],
)
def test_corrupted_structure_is_a_format_error_naming_the_problem(saved, change, match):
    path, _ = saved
    _edit(path, change)
    _assert_format_error(path, match)


def test_fuzzed_json_bytes_load_correctly_or_raise_format_error(saved):
    """Random byte edits: every load gives a graph that runs, or a GraphFormatError naming
    the file; never another exception."""
    path, args = saved
    original = path.read_bytes()
    rng = np.random.default_rng(7)
    alphabet = b'0123456789-{}[]",:. aenrtuxfl\x00\xff'
    outcomes = {"loaded": 0, "rejected": 0}
    for _ in range(60):
        data = bytearray(original)
        for _ in range(int(rng.integers(1, 4))):
            position = int(rng.integers(0, len(data)))
            if rng.random() < 0.2:
                del data[position]
            else:
                data[position] = alphabet[int(rng.integers(0, len(alphabet)))]
        path.write_bytes(bytes(data))
        try:
            graph = serialize.load(str(path))
        except GraphFormatError as error:
            assert str(path) in str(error)
            outcomes["rejected"] += 1
            continue
        outcomes["loaded"] += 1
        try:
            graph.run(*args)
        except RilletError:
            pass  # a graph changed into another valid graph may reject these inputs
    assert outcomes["rejected"] > 10  # most edits break the file


class _Exploit:
    """Unpickling this would create a file: loading must never unpickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_unpickles(saved, tmp_path):
    path, _ = saved
    marker = str(tmp_path / "pwned")
    npz = str(path) + ".npz"
    with np.load(npz) as old:
        arrays = {k: old[k] for k in old.files}
    arrays[next(iter(arrays))] = np.array([_Exploit(marker)], dtype=object)
    with open(npz, "wb") as f:
        np.savez(f, **arrays)  # an object array: stored as a pickle
    _assert_format_error(path, "pickle")
    assert not os.path.exists(marker)
