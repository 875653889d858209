"""The PyTorch workers of the benchmark suite: each workload as a PyTorch user would write it.

Every model starts from ``spec``'s weights (Keras layout), converted once to PyTorch's:
Linear and Conv weights are ``(out, in, ...)``, so kernels are transposed; the CNN runs
channels-first (NCHW: the images are transposed once, before timing, as a PyTorch data
pipeline would deliver them), so the first dense kernel's rows are permuted from Keras'
channels-last flatten order (h, w, c) to PyTorch's (c, h, w). LSTM gates are in the same order
in both (i, f, c/g, o). The GRU follows Keras' ``reset_after=True``, which is PyTorch's only
GRU: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``; PyTorch orders the gates r, z, n where
Keras orders them z, r, h, so the gate blocks are reordered.

Variants: ``eager`` (``torch.optim.Adam`` with its default single-tensor update on CPU) and
``fused-adam`` (``Adam(fused=True)``, one fused kernel for every parameter's update) for the
training workloads; ``eager`` for the rest, and for kws also ``1-thread`` (intra-op threads 1
whatever ``threads`` is: on a busy machine a second thread costs batch-1 inference more than
it brings). Inference runs under ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import spec
import torch
import torch.nn.functional as F
from torch import nn

TRAINING = ("mlp", "cnn", "lstm", "transformer")
VARIANTS: dict[str, tuple[str, ...]] = {
    **{name: ("eager", "fused-adam") for name in TRAINING},
    "kws_window": ("eager", "1-thread"),
    "kws_frame": ("eager", "1-thread"),
    "overhead": ("eager",),
}


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


def build(workload: str, variant: str, threads: int) -> Callable[[], object]:
    """A zero-argument callable running one step of ``workload`` (see the module docstring)."""
    if variant not in VARIANTS.get(workload, ()):
        raise ValueError(
            f"torch worker: no variant {variant!r} for workload {workload!r}; "
            f"offered: {VARIANTS.get(workload, ())}"
        )
    _set_threads(1 if variant == "1-thread" else threads)
    if workload in TRAINING:
        return _training_step(workload, fused=variant == "fused-adam")
    return _BUILDERS[workload]()


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    # the inter-op pool can be sized only before its first use; a second build finds it set
    if torch.get_num_interop_threads() != 1:
        torch.set_num_interop_threads(1)


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _linear(weights: dict, name: str) -> nn.Linear:
    kernel = weights[f"{name}/kernel"]
    layer = nn.Linear(*kernel.shape)
    _assign(layer, weight=kernel.T, bias=weights[f"{name}/bias"])
    return layer


def _assign(module: nn.Module, **arrays: np.ndarray) -> None:
    """Copy ``arrays`` into the module's parameters of the same names (shapes must match)."""
    with torch.no_grad():
        for name, array in arrays.items():
            getattr(module, name).copy_(_tensor(array))


# --- training models ------------------------------------------------------------------------


def _mlp(weights: dict) -> nn.Module:
    return nn.Sequential(
        _linear(weights, "dense1"),
        nn.ReLU(),
        _linear(weights, "dense2"),
        nn.ReLU(),
        _linear(weights, "dense3"),
    )


def _conv2d(weights: dict, name: str) -> nn.Conv2d:
    kernel = weights[f"{name}/kernel"]  # (kh, kw, in, out)
    layer = nn.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[:2])
    _assign(layer, weight=kernel.transpose(3, 2, 0, 1), bias=weights[f"{name}/bias"])
    return layer


def _cnn(weights: dict) -> nn.Module:
    kernel = weights["dense1/kernel"]  # rows in (h, w, c) order; PyTorch flattens (c, h, w)
    chw = kernel.reshape(5, 5, 64, -1).transpose(2, 0, 1, 3).reshape(kernel.shape)
    dense1 = _linear({**weights, "dense1/kernel": chw}, "dense1")
    return nn.Sequential(
        _conv2d(weights, "conv1"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        _conv2d(weights, "conv2"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        dense1,
        nn.ReLU(),
        _linear(weights, "dense2"),
    )


class _LastState(nn.Module):
    """LSTM(128) whose output is the last step's hidden state."""

    def __init__(self, weights: dict):
        super().__init__()
        kernel, recurrent = weights["lstm/kernel"], weights["lstm/recurrent_kernel"]
        self.lstm = nn.LSTM(kernel.shape[0], recurrent.shape[0], batch_first=True)
        bias = weights["lstm/bias"]
        _assign(
            self.lstm,
            weight_ih_l0=kernel.T,
            weight_hh_l0=recurrent.T,
            bias_ih_l0=bias,
            bias_hh_l0=np.zeros_like(bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        return h[0]


def _lstm(weights: dict) -> nn.Module:
    return nn.Sequential(_LastState(weights), _linear(weights, "dense"))


class _Encoder(nn.Module):
    """A post-LN encoder block (``nn.TransformerEncoderLayer``), mean over time, dense 10."""

    def __init__(self, weights: dict):
        super().__init__()
        d, ffn = weights["ffn1/kernel"].shape
        self.block = nn.TransformerEncoderLayer(
            d, 4, ffn, dropout=0.0, layer_norm_eps=spec.LN_EPSILON, batch_first=True
        )
        a = {name: weights[f"attention/{name}"] for name in ("wq", "wk", "wv", "wo")}
        b = {name: weights[f"attention/{name}"] for name in ("bq", "bk", "bv", "bo")}
        # PyTorch splits q, k, v into heads as columns head * head_dim + j, as spec does
        _assign(
            self.block.self_attn,
            in_proj_weight=np.concatenate([a["wq"].T, a["wk"].T, a["wv"].T]),
            in_proj_bias=np.concatenate([b["bq"], b["bk"], b["bv"]]),
        )
        _assign(self.block.self_attn.out_proj, weight=a["wo"].T, bias=b["bo"])
        for ours, theirs in (("ln1", "norm1"), ("ln2", "norm2")):
            norm = getattr(self.block, theirs)
            _assign(norm, weight=weights[f"{ours}/gamma"], bias=weights[f"{ours}/beta"])
        for ours, theirs in (("ffn1", "linear1"), ("ffn2", "linear2")):
            layer = getattr(self.block, theirs)
            _assign(layer, weight=weights[f"{ours}/kernel"].T, bias=weights[f"{ours}/bias"])
        self.dense = _linear(weights, "dense")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.block(x).mean(dim=1))


_MODELS = {"mlp": _mlp, "cnn": _cnn, "lstm": _lstm, "transformer": _Encoder}


def _training_step(workload: str, fused: bool) -> Callable[[], torch.Tensor]:
    w = spec.WORKLOADS[workload]
    model = _MODELS[workload](w.init_weights())
    model.train()
    x, y = w.make_data()
    x = _tensor(x.transpose(0, 3, 1, 2) if workload == "cnn" else x)  # NCHW for Conv2d
    y = torch.from_numpy(y)
    a = spec.ADAM
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=a["learning_rate"],
        betas=(a["beta_1"], a["beta_2"]),
        eps=a["epsilon"],
        fused=fused or None,
    )

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


# --- kws -----------------------------------------------------------------------------------


def _gru_blocks(array: np.ndarray, axis: int) -> np.ndarray:
    """Keras' gate blocks (z, r, h) along ``axis`` reordered to PyTorch's (r, z, n)."""
    z, r, h = np.split(array, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _gru_parameters(weights: dict) -> dict[str, np.ndarray]:
    bias = weights["gru/bias"]
    return {
        "weight_ih": _gru_blocks(weights["gru/kernel"], 1).T,
        "weight_hh": _gru_blocks(weights["gru/recurrent_kernel"], 1).T,
        "bias_ih": _gru_blocks(bias[0], 0),
        "bias_hh": _gru_blocks(bias[1], 0),
    }


class _KwsWindow(nn.Module):
    """Causal Conv1d (left padding of kernel - 1) + ReLU, ``nn.GRU``, Linear on the last state."""

    def __init__(self, weights: dict):
        super().__init__()
        kernel = weights["conv/kernel"]  # (k, in, out)
        self.pad = kernel.shape[0] - 1
        self.conv = nn.Conv1d(kernel.shape[1], kernel.shape[2], kernel.shape[0])
        _assign(self.conv, weight=kernel.transpose(2, 1, 0), bias=weights["conv/bias"])
        units = weights["gru/recurrent_kernel"].shape[0]
        self.gru = nn.GRU(kernel.shape[2], units, batch_first=True)
        _assign(self.gru, **{f"{k}_l0": v for k, v in _gru_parameters(weights).items()})
        self.dense = _linear(weights, "dense")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = F.pad(x.transpose(1, 2), (self.pad, 0))  # (batch, features, pad + frames)
        _, h = self.gru(F.relu(self.conv(frames)).transpose(1, 2))
        return self.dense(h[0])


def _kws_window() -> Callable[[], torch.Tensor]:
    w = spec.WORKLOADS["kws_window"]
    model = _KwsWindow(w.init_weights()).eval()
    x = _tensor(w.make_data()[0])

    @torch.inference_mode()
    def step() -> torch.Tensor:
        return model(x)

    return step


def _kws_frame() -> Callable[[], torch.Tensor]:
    """One frame of the kws model, its state held between calls.

    The causal conv keeps the last ``k - 1`` frames; the window of ``k`` frames, flattened
    oldest first, meets the conv kernel flattened to ``(k * in, out)`` in one GEMM. The GRU step
    is ``torch.gru_cell`` on an ``nn.GRUCell``'s weights: the op ``GRUCell.forward`` calls,
    without the module's Python checks, which would cost this step a third of its time.
    """
    w = spec.WORKLOADS["kws_frame"]
    weights = w.init_weights()
    kernel = weights["conv/kernel"]  # (k, in, out)
    k, features, channels = kernel.shape
    units = weights["gru/recurrent_kernel"].shape[0]
    with torch.inference_mode():
        conv_kernel = _tensor(kernel.reshape(k * features, channels))
        conv_bias = _tensor(weights["conv/bias"])
        cell = nn.GRUCell(channels, units)
        _assign(cell, **_gru_parameters(weights))
        gru = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        dense = _linear(weights, "dense")
        dense_kernel, dense_bias = dense.weight, dense.bias
        stream = _tensor(w.make_data()[0][0])  # (frames, features)
        frames = [stream[t : t + 1] for t in range(stream.shape[0])]
        state = [torch.zeros(1, (k - 1) * features), torch.zeros(1, units)]
    count = [0]

    @torch.inference_mode()
    def step() -> torch.Tensor:
        frame = frames[count[0] % len(frames)]
        count[0] += 1
        window = torch.cat([state[0], frame], dim=1)  # (1, k * features), oldest first
        conv = torch.relu(torch.addmm(conv_bias, window, conv_kernel))
        state[0] = window[:, features:]
        state[1] = h = torch.gru_cell(conv, state[1], *gru)
        return F.linear(h, dense_kernel, dense_bias)

    return step


# --- overhead ------------------------------------------------------------------------------


def _overhead() -> Callable[[], torch.Tensor]:
    with torch.inference_mode():
        start = _tensor(spec.WORKLOADS["overhead"].make_data()[0])
    pairs, add, mul = spec.OVERHEAD_OPS // 2, spec.OVERHEAD_ADD, spec.OVERHEAD_MUL

    @torch.inference_mode()
    def step() -> torch.Tensor:
        x = start
        for _ in range(pairs):
            x = x + add
            x = x * mul
        return x

    return step


_BUILDERS = {"kws_window": _kws_window, "kws_frame": _kws_frame, "overhead": _overhead}
