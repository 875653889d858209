"""rl.data.Dataset transformations against plain Python / NumPy equivalents."""

import threading
import time

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError

Dataset = rl.data.Dataset


def values(ds):
    """The elements as nested Python lists/ints/floats."""
    return [rl.data._structure.map_structure(lambda a: a.tolist(), e)
            for e in ds.as_numpy_iterator()]  # fmt: skip


def test_from_tensor_slices_yields_tensor_rows_of_nested_structures():
    x, y = np.arange(12.0, dtype=np.float32).reshape(4, 3), np.arange(4)
    elements = list(Dataset.from_tensor_slices(({"x": x}, y)))
    assert len(elements) == 4 and isinstance(elements[0][0]["x"], rl.Tensor)
    for i, (features, label) in enumerate(elements):
        np.testing.assert_array_equal(features["x"].numpy(), x[i])
        assert int(label) == y[i]


def test_from_tensor_slices_rejects_mismatched_leading_dimensions():
    with pytest.raises(ShapeError, match=r"from_tensor_slices.*\(3,\).*\(4,\)"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))


def test_from_tensors_range_and_cardinality_match_python():
    assert values(Dataset.range(2, 11, 3)) == list(range(2, 11, 3))
    assert len(Dataset.range(2, 11, 3)) == len(range(2, 11, 3))
    assert values(Dataset.from_tensors([1, 2])) == [[1, 2]]
    assert Dataset.range(5).repeat().cardinality() == rl.data.INFINITE_CARDINALITY
    assert Dataset.range(5).filter(lambda x: x > 1).cardinality() == rl.data.UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(Dataset.range(5).repeat())


def test_from_generator_checks_output_signature():
    spec = (rl.TensorSpec((None,), rl.float32), rl.TensorSpec((), rl.int32))
    gen = lambda: ((np.ones(n), n) for n in range(1, 4))
    ds = Dataset.from_generator(gen, output_signature=spec)
    assert [e[1] for e in values(ds)] == [1, 2, 3] and values(ds)[2][0] == [1.0] * 3
    assert next(iter(ds))[0].dtype == np.float32 and ds.element_spec == spec
    bad = Dataset.from_generator(lambda: iter([(np.ones((2, 2)), 1)]), output_signature=spec)
    with pytest.raises(ShapeError, match=r"element 0 has shape \(2, 2\)"):
        list(bad)


def test_zip_and_concatenate_match_python():
    a, b = Dataset.range(5), Dataset.range(10, 13)
    assert values(Dataset.zip(a, b)) == list(zip(range(5), range(10, 13)))
    assert values(Dataset.zip({"a": a, "b": b}))[0] == {"a": 0, "b": 10}
    assert values(a.concatenate(b)) == [*range(5), *range(10, 13)]
    assert len(a.concatenate(b)) == 8


@pytest.mark.parametrize("workers", [None, 4, rl.data.AUTOTUNE])
def test_map_matches_python_map_in_order(workers):
    def slow_square(x):
        time.sleep(0.001 * (int(x) % 3))  # uneven delays: order must still hold
        return x * x, x + 1

    ds = Dataset.range(20).map(slow_square, num_parallel_calls=workers)
    assert values(ds) == [(i * i, i + 1) for i in range(20)]


def test_map_runs_on_several_threads_and_nondeterministic_keeps_all_elements():
    seen = set()
    ds = Dataset.range(16).map(lambda x: (seen.add(threading.get_ident()), x)[1],
                               num_parallel_calls=4, deterministic=False)  # fmt: skip
    assert sorted(values(ds)) == list(range(16)) and len(seen) > 1


def test_filter_matches_python_filter():
    assert values(Dataset.range(20).filter(lambda x: x % 3 == 0)) == list(range(0, 20, 3))


@pytest.mark.parametrize("drop", [False, True])
def test_batch_matches_numpy_split(drop):
    x = np.arange(30).reshape(10, 3)
    ds = Dataset.from_tensor_slices(x).batch(4, drop_remainder=drop)
    expected = [x[i : i + 4].tolist() for i in range(0, 10, 4)]
    assert values(ds) == (expected[:2] if drop else expected)
    assert len(ds) == len(expected) - drop
    assert ds.element_spec.shape == ((4 if drop else None), 3)


def test_batch_rejects_bad_size_and_shapes_that_do_not_stack():
    with pytest.raises(ArgumentError, match=r"batch: received batch_size=-1"):
        Dataset.range(3).batch(-1)
    ragged = Dataset.from_generator(lambda: (np.ones(n) for n in (2, 2, 3)))
    with pytest.raises(ShapeError, match=r"batch: cannot batch element 2 with shape \(3,\)"):
        list(ragged.batch(3))


def test_padded_batch_pads_to_the_longest_or_given_shape():
    ds = Dataset.from_generator(lambda: (np.arange(1, n + 1) for n in (1, 3, 2)))
    assert values(ds.padded_batch(3)) == [[[1, 0, 0], [1, 2, 3], [1, 2, 0]]]
    padded = ds.padded_batch(2, padded_shapes=[4], padding_values=-1)
    assert values(padded) == [[[1, -1, -1, -1], [1, 2, 3, -1]], [[1, 2, -1, -1]]]
    with pytest.raises(ShapeError, match="larger than padded_shapes"):
        list(ds.padded_batch(3, padded_shapes=[2]))


def test_unbatch_inverts_batch():
    x = np.arange(14).reshape(7, 2)
    ds = Dataset.from_tensor_slices((x, x[:, 0])).batch(3).unbatch()
    assert values(ds) == [(r.tolist(), int(r[0])) for r in x]


def test_shuffle_is_a_permutation_seeded_and_reshuffled_each_pass():
    ds = Dataset.range(50).shuffle(100, seed=3)
    first, second = values(ds), values(ds)
    assert sorted(first) == list(range(50)) and first != list(range(50)) and first != second
    assert values(Dataset.range(50).shuffle(100, seed=3)) == first
    fixed = Dataset.range(50).shuffle(100, seed=3, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)
    assert values(Dataset.range(10).shuffle(1)) == list(range(10))


def test_shuffle_buffer_bounds_how_far_an_element_moves_ahead():
    out = values(Dataset.range(200).shuffle(5, seed=0))
    assert sorted(out) == list(range(200))
    assert all(v <= position + 4 for position, v in enumerate(out))


def test_repeat_take_skip_shard_match_itertools():
    base = list(range(7))
    assert values(Dataset.range(7).repeat(3)) == base * 3
    assert values(Dataset.range(7).repeat().take(17)) == (base * 3)[:17]
    assert values(Dataset.range(7).skip(5)) == base[5:] and values(Dataset.range(7).skip(-1)) == []
    assert values(Dataset.range(7).take(-1)) == base
    assert values(Dataset.range(7).shard(3, 1)) == base[1::3]
    assert len(Dataset.range(7).shard(3, 1)) == 2
    with pytest.raises(ArgumentError, match="shard: received index=3"):
        Dataset.range(7).shard(3, 3)


def test_cache_in_memory_runs_the_pipeline_once():
    calls = []
    ds = Dataset.range(5).map(lambda x: (calls.append(1), x * 2)[1]).cache()
    assert values(ds) == values(ds) == [0, 2, 4, 6, 8] and len(calls) == 5


def test_cache_to_file_is_reused_by_a_new_pipeline(tmp_path):
    name = str(tmp_path / "cache")
    source = Dataset.from_tensor_slices(({"a": np.arange(6.0)}, np.arange(6)))
    assert values(source.cache(name)) == values(source)
    poisoned = source.map(lambda f, y: (f, y * 0 - 1)).cache(name)  # replayed, never run
    assert values(poisoned) == values(source)


def test_prefetch_keeps_elements_and_order_and_surfaces_errors():
    assert values(Dataset.range(100).prefetch(4)) == list(range(100))
    assert values(Dataset.range(100).prefetch(rl.data.AUTOTUNE).take(3)) == [0, 1, 2]

    def broken():
        yield 1
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        list(Dataset.from_generator(broken).prefetch(2))


def test_prefetch_works_ahead_on_a_background_thread():
    produced = []
    ds = Dataset.range(10).map(lambda x: (produced.append(int(x)), x)[1]).prefetch(3)
    iterator = iter(ds)
    next(iterator)
    time.sleep(0.05)
    assert len(produced) >= 3
    iterator.close()


def test_interleave_matches_the_tensorflow_documentation_example():
    ds = Dataset.range(1, 6).interleave(
        lambda x: Dataset.from_tensors(x).repeat(6), cycle_length=2, block_length=4
    )
    expected = [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4]
    assert values(ds) == expected + [5] * 6


def test_interleave_with_cycle_one_is_flat_map():
    ds = Dataset.range(4).flat_map(lambda x: Dataset.range(int(x)))
    assert values(ds) == [j for i in range(4) for j in range(i)]


def test_element_spec_describes_the_structure():
    ds = Dataset.from_tensor_slices((np.zeros((4, 2), np.float32), np.zeros(4, np.int32)))
    assert ds.element_spec == (rl.TensorSpec((2,), rl.float32), rl.TensorSpec((), rl.int32))
    assert ds.map(lambda x, y: x).element_spec == rl.TensorSpec((2,), rl.float32)


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ArgumentTypeError, match="map: expected a callable"):
        Dataset.range(3).map(3)
    with pytest.raises(ArgumentError, match=r"shuffle: received buffer_size=0"):
        Dataset.range(3).shuffle(0)
    with pytest.raises(ArgumentError, match=r"repeat: received count=-2"):
        Dataset.range(3).repeat(-2)
    with pytest.raises(ArgumentError, match=r"take: received count=-3"):
        Dataset.range(3).take(-3)


def test_fit_trains_on_a_dataset_for_several_epochs():
    rl.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    ds = Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16).prefetch(2)
    model = rl.Sequential([rl.layers.Dense(1)])
    model.compile(optimizer=rl.optimizers.SGD(0.1), loss="mse")
    history = model.fit(ds, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 5 and losses[-1] < 0.1 * losses[0]
