"""``rl.data.experimental``: CSV readers (TensorFlow keeps them here too)."""

from .readers import CsvDataset, make_csv_dataset

__all__ = ["CsvDataset", "make_csv_dataset"]
