"""The PyTorch peer of the fit-throughput benchmark: an idiomatic training loop.

The same workloads as benchmarks/peers/keras_fit.py, written as a PyTorch user would:
``nn.Sequential`` modules, tensor slicing of a shuffled index (no DataLoader),
``torch.optim.Adam`` (lr 1e-3, as Keras's default; eps 1e-7, as Keras's) and
``F.cross_entropy`` on logits. The CNN's channels-last images are transposed to PyTorch's
NCHW once, before training, as a PyTorch user's data pipeline would deliver them.

    .venv-bench/bin/python benchmarks/peers/torch_fit.py --framework torch --workload cnn
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from _common import WORKLOADS, emit, make_data, parse_args, timed
from torch import nn


class LastStep(nn.Module):
    """LSTM(128) returning the last step's output, as Keras's LSTM(return_sequences=False)."""

    def __init__(self, features: int, units: int):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)

    def forward(self, x):
        outputs, _ = self.lstm(x)
        return outputs[:, -1]


def build(workload: str) -> nn.Module:
    if workload == "lstm":
        return nn.Sequential(LastStep(64, 128), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def train_epoch(model, optimizer, x, y, batch_size: int) -> float:
    model.train()
    order = torch.randperm(len(x))
    total = 0.0
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        total += loss.item()  # the epoch's mean loss, as in fit's History
    return total / -(-len(x) // batch_size)


def fit(model, optimizer, x, y, batch_size: int, epochs: int) -> float:
    for _ in range(epochs):
        loss = train_epoch(model, optimizer, x, y, batch_size)
    return loss


def main() -> None:
    args = parse_args(("torch",))
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    workload = WORKLOADS[args.workload]
    x, y = make_data(workload)
    x = torch.from_numpy(x)
    if args.workload == "cnn":
        x = x.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    y = torch.from_numpy(y)
    model = build(args.workload)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    first_epoch_s, _ = timed(lambda: fit(model, optimizer, x, y, workload.batch_size, 1))
    timed_s, loss = timed(lambda: fit(model, optimizer, x, y, workload.batch_size, args.epochs))
    emit(args, first_epoch_s, timed_s, loss, {"torch": torch.__version__})


if __name__ == "__main__":
    main()
