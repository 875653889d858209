"""Datasets from folders of files, one sub-folder per class (``image_dataset_from_directory``,
``audio_dataset_from_directory``)."""

from __future__ import annotations

import os
import wave

import numpy as np

from ..errors import ArgumentError
from .dataset import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_CHANNELS = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def list_files(directory, extensions, labels, class_names, who: str):
    """(paths, integer labels, class names): sub-folders are the classes, in sorted order."""
    if not os.path.isdir(directory):
        raise ArgumentError(f"{who}: directory {os.fspath(directory)!r} does not exist")
    found = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    names = list(class_names) if class_names is not None else found
    paths, index = [], []
    folders = names if labels == "inferred" else [""]
    for k, name in enumerate(folders):
        root = os.path.join(directory, name)
        for dirpath, _, files in sorted(os.walk(root)):
            chosen = sorted(f for f in files if f.lower().endswith(extensions))
            paths += [os.path.join(dirpath, f) for f in chosen]
            index += [k] * len(chosen)
    if labels not in ("inferred", None):
        index = list(labels)
        if len(index) != len(paths):
            raise ArgumentError(f"{who}: received {len(index)} labels for {len(paths)} files")
    return paths, np.asarray(index, np.int32), names


def split(paths, labels, shuffle, seed, validation_split, subset, who):
    """Shuffle the file list (by ``seed``) and keep the ``subset`` of ``validation_split``."""
    if validation_split is not None and not 0 < validation_split < 1:
        raise ArgumentError(f"{who}: received validation_split={validation_split}, "
                            "expected a float in (0, 1)")  # fmt: skip
    if validation_split is not None and subset not in ("training", "validation"):
        raise ArgumentError(f"{who}: received subset={subset!r}, expected 'training' or "
                            "'validation' with validation_split")  # fmt: skip
    if validation_split is not None and shuffle and seed is None:
        raise ArgumentError(f"{who}: give a seed with validation_split and shuffle=True, so the "
                            "training and validation subsets do not overlap")  # fmt: skip
    if shuffle:
        seed = np.random.randint(1_000_000) if seed is None else seed
        order = np.random.default_rng(seed).permutation(len(paths))
        paths, labels = [paths[i] for i in order], labels[order]
    if validation_split is None:
        return paths, labels
    cut = len(paths) - int(validation_split * len(paths))
    part = slice(0, cut) if subset == "training" else slice(cut, None)
    return paths[part], labels[part]


def encode_labels(labels, label_mode, num_classes: int, who: str):
    if label_mode == "int":
        return labels
    if label_mode == "categorical":
        return np.eye(num_classes, dtype=np.float32)[labels]
    if label_mode == "binary":
        if num_classes != 2:
            raise ArgumentError(f"{who}: label_mode='binary' needs 2 classes, found {num_classes}")
        return labels.astype(np.float32)[:, None]
    raise ArgumentError(f"{who}: received label_mode={label_mode!r}, expected 'int', "
                        "'categorical', 'binary' or None")  # fmt: skip


def _labelled(paths, labels, label_mode, load) -> Dataset:
    index = Dataset.range(len(paths))
    if label_mode is None:
        return index.map(lambda i: load(paths[int(i)]))
    return index.map(lambda i: (load(paths[int(i)]), labels[int(i)]))


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None,
                                 interpolation="bilinear") -> Dataset:  # fmt: skip
    who = "image_dataset_from_directory"
    image = _pillow(who)
    if color_mode not in _CHANNELS:
        raise ArgumentError(f"{who}: received color_mode={color_mode!r}, expected one of "
                            f"{sorted(_CHANNELS)}")  # fmt: skip
    mode, _ = _CHANNELS[color_mode]
    resample = getattr(image.Resampling, interpolation.upper())
    paths, index, names = list_files(directory, IMAGE_EXTENSIONS, labels, class_names, who)
    paths, index = split(paths, index, shuffle, seed, validation_split, subset, who)

    def load(path):
        with image.open(path) as picture:
            picture = picture.convert(mode).resize(tuple(image_size)[::-1], resample)
            array = np.asarray(picture, dtype=np.float32)
        return array if array.ndim == 3 else array[..., None]

    encoded = encode_labels(index, label_mode, len(names), who) if label_mode else index
    ds = _labelled(paths, encoded, label_mode, load)
    ds = ds if batch_size is None else ds.batch(batch_size)
    ds.class_names, ds.file_paths = names, paths
    return ds


def _pillow(who: str):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"{who} needs Pillow to read images: pip install Pillow") from None
    return Image


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, shuffle=True, seed=None,
                                 validation_split=None, subset=None) -> Dataset:  # fmt: skip
    who = "audio_dataset_from_directory"
    paths, index, names = list_files(directory, (".wav",), labels, class_names, who)
    paths, index = split(paths, index, shuffle, seed, validation_split, subset, who)

    def load(path):
        audio = read_wav(path, sampling_rate, who)
        if output_sequence_length is not None:
            audio = audio[:output_sequence_length]
            pad = output_sequence_length - len(audio)
            audio = np.pad(audio, ((0, pad), (0, 0)))
        return audio

    encoded = encode_labels(index, label_mode, len(names), who) if label_mode else index
    ds = _labelled(paths, encoded, label_mode, load)
    ds = ds if batch_size is None else ds.padded_batch(batch_size)
    ds.class_names, ds.file_paths = names, paths
    return ds


def read_wav(path, sampling_rate, who: str) -> np.ndarray:
    """A 16-bit PCM WAV file as float32 in [-1, 1), shape (samples, channels)."""
    with wave.open(path, "rb") as f:
        if f.getsampwidth() != 2:
            raise ArgumentError(f"{who}: {path} has {8 * f.getsampwidth()}-bit samples; only "
                                "16-bit PCM is supported")  # fmt: skip
        if sampling_rate is not None and f.getframerate() != sampling_rate:
            raise ArgumentError(f"{who}: {path} is sampled at {f.getframerate()} Hz, "
                                f"expected sampling_rate={sampling_rate}")  # fmt: skip
        frames = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        channels = f.getnchannels()
    return (frames.reshape(-1, channels) / 32768.0).astype(np.float32)
