"""File readers: .npy/.npz, text lines, CSV, folders of images and WAV audio."""

import wave

import numpy as np
import pytest

import rillet as rl
from rillet.errors import ArgumentError, DTypeError

Dataset = rl.data.Dataset


def test_npy_and_npz_rows(tmp_path):
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    rows = [r.numpy() for r in Dataset.from_npy(tmp_path / "x.npy")]
    np.testing.assert_array_equal(np.stack(rows), x)
    pairs = list(Dataset.from_npz(tmp_path / "d.npz", keys=("x", "y")).batch(6))
    np.testing.assert_array_equal(pairs[0][0].numpy(), x)
    assert sorted(next(iter(Dataset.from_npz(tmp_path / "d.npz")))) == ["x", "y"]
    with pytest.raises(ArgumentError, match=r"has no arrays \['z'\]"):
        Dataset.from_npz(tmp_path / "d.npz", keys=("z",))


def test_text_lines_match_reading_the_files(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.txt").write_text("three\r\n")
    ds = rl.data.TextLineDataset([tmp_path / "a.txt", tmp_path / "b.txt"])
    assert [str(line) for line in ds] == ["one", "two", "three"]
    with pytest.raises(ArgumentError, match="no such file"):
        rl.data.TextLineDataset(tmp_path / "missing.txt")


def test_csv_dataset_types_columns_and_fills_defaults(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2.5,x\n3,,y\n")
    ds = rl.data.experimental.CsvDataset(path, [rl.int32, [-1.0], ""], header=True)
    rows = list(ds)
    assert [(int(a), float(b), str(c)) for a, b, c in rows] == [(1, 2.5, "x"), (3, -1.0, "y")]
    assert rows[0][0].dtype == np.int32 and rows[0][1].dtype == np.float32
    picked = rl.data.experimental.CsvDataset(path, [0.0], header=True, select_cols=[1])
    assert [float(b) for (b,) in picked] == [2.5, 0.0]


def test_csv_dataset_errors_name_the_file_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,2\nthree,4\n,5\n")
    with pytest.raises(DTypeError, match=r"bad.csv:2: column 0 holds 'three', expected int32"):
        list(rl.data.experimental.CsvDataset(path, [rl.int32, rl.int32]))
    with pytest.raises(ArgumentError, match=r"bad.csv:1 has 2 fields, expected 3"):
        list(rl.data.experimental.CsvDataset(path, [0, 0, 0]))


def test_make_csv_dataset_infers_types_and_splits_the_label(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("size,name,label\n" + "".join(f"{i}.5,n{i},{i % 2}\n" for i in range(5)))
    ds = rl.data.experimental.make_csv_dataset(str(path), batch_size=5, label_name="label",
                                               num_epochs=1, shuffle=False)  # fmt: skip
    features, label = next(iter(ds))
    np.testing.assert_allclose(features["size"].numpy(), np.arange(5) + 0.5)
    assert label.dtype == np.int32 and label.numpy().tolist() == [0, 1, 0, 1, 0]
    assert features["name"].tolist() == [f"n{i}" for i in range(5)]


def _write_images(root, colors):
    image = pytest.importorskip("PIL.Image")
    for name, color in colors.items():
        (root / name).mkdir()
        for k in range(3):
            image.new("RGB", (8, 6), tuple(c + k for c in color)).save(root / name / f"{k}.png")


def test_image_dataset_labels_come_from_folder_names(tmp_path):
    _write_images(tmp_path, {"cat": (10, 20, 30), "dog": (200, 100, 50)})
    ds = rl.utils.image_dataset_from_directory(tmp_path, image_size=(3, 4), batch_size=4,
                                               shuffle=False)  # fmt: skip
    assert ds.class_names == ["cat", "dog"]
    batches = list(ds)
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (6, 3, 4, 3) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(images[4, 0, 0], [201, 101, 51])  # a flat colour resizes to itself


def test_image_dataset_validation_split_partitions_the_files(tmp_path):
    _write_images(tmp_path, {"a": (0, 0, 0), "b": (9, 9, 9)})
    kwargs = dict(image_size=(2, 2), seed=1, validation_split=1 / 3, batch_size=None)
    train = rl.utils.image_dataset_from_directory(tmp_path, subset="training", **kwargs)
    val = rl.utils.image_dataset_from_directory(tmp_path, subset="validation", **kwargs)
    assert len(train.file_paths) == 4 and len(val.file_paths) == 2
    assert not set(train.file_paths) & set(val.file_paths)
    with pytest.raises(ArgumentError, match="give a seed"):
        rl.utils.image_dataset_from_directory(tmp_path, validation_split=0.5, subset="training")


def _write_wav(path, samples, rate=8000):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.asarray(samples, "<i2").tobytes())


def test_audio_dataset_reads_pcm_and_pads_each_batch(tmp_path):
    for name, n in (("no", 3), ("yes", 5)):
        (tmp_path / name).mkdir()
        _write_wav(tmp_path / name / "a.wav", np.arange(n) * 1000 - 16384)
    ds = rl.utils.audio_dataset_from_directory(tmp_path, batch_size=2, shuffle=False)
    audio, labels = next(iter(ds))
    assert audio.shape == (2, 5, 1) and labels.numpy().tolist() == [0, 1]
    np.testing.assert_allclose(audio.numpy()[0, :, 0], [-0.5, -16384 / 32768 + 1000 / 32768,
                                                        -14384 / 32768, 0, 0])  # fmt: skip
    with pytest.raises(ArgumentError, match="sampled at 8000 Hz, expected sampling_rate=16000"):
        list(rl.utils.audio_dataset_from_directory(tmp_path, sampling_rate=16000))
