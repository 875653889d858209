"""An end-to-end keyword spotter: a data set spoken by espeak-ng, a causal Conv1D + GRU model
trained with ``fit``, and streaming detection over a long recording (see README.md)."""

import os

# The model's matrices are tiny (batch x 64): a second BLAS thread only adds synchronization,
# which is slow on a busy machine. This takes effect when the package is imported before NumPy,
# as in ``python -m examples.kws``.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
