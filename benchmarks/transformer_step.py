"""The compiled transformer training step of rillet against PyTorch's, interleaved in one process.

    .venv/bin/python benchmarks/transformer_step.py                 # 30 rounds of 5 steps each
    .venv/bin/python benchmarks/transformer_step.py --rounds 5      # a smoke test
    .venv/bin/python benchmarks/transformer_step.py --profile 200   # rillet only, for py-spy

Model (float32, batch 16, sequence 64, d_model 128): a post-LN encoder block
``h = LayerNorm(x + MultiHeadAttention(x, x))`` (4 heads, key_dim 32),
``y = LayerNorm(h + Dense(128)(Dense(512, relu)(h)))``, then GlobalAveragePooling1D and
Dense(10); sparse cross-entropy from logits; Adam (lr 1e-3, eps 1e-7). rillet's step is
``rl.function`` over a GradientTape and ``optimizer.apply``; PyTorch's is
``nn.TransformerEncoderLayer`` (post-LN, no dropout) with the same weights and fused Adam, on 2
intra-op threads (``--threads``), as NumPy's BLAS is. Both start from the same weights, and
their first losses are checked to agree.

Protocol: both steps are warmed up (rillet's first call traces and compiles), then each round
times ``--steps`` steps of rillet, then of PyTorch. Reported: per-step median and min-max over
the rounds, the ratio of medians rillet / PyTorch, and the same for the CPU time the process
used per step (steadier on a loaded machine, where a 2-thread BLAS stalls at every barrier
while another process holds a core).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

BATCH, SEQ, D_MODEL, HEADS, KEY_DIM, FFN, CLASSES = 16, 64, 128, 4, 32, 512, 10
EPSILON = 1e-3  # layer norm, as Keras
ADAM = {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=5, help="steps per round and contender")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / intra-op threads")
    parser.add_argument(
        "--profile", type=int, metavar="STEPS", help="run only rillet's step this many times"
    )
    parser.add_argument("--no-torch", action="store_true", help="time rillet alone")
    return parser.parse_args()


def batches(count: int = 4, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, BATCH, SEQ, D_MODEL), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=(count, BATCH), dtype=np.int64)
    return list(zip(x, y))


def rillet_model():
    """The rillet model and its layers by role (for copying the weights to PyTorch)."""
    import rillet as rl

    rl.random.set_seed(0)
    layers = {
        "attention": rl.layers.MultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM),
        "norm1": rl.layers.LayerNormalization(epsilon=EPSILON),
        "linear1": rl.layers.Dense(FFN, activation="relu"),
        "linear2": rl.layers.Dense(D_MODEL),
        "norm2": rl.layers.LayerNormalization(epsilon=EPSILON),
        "head": rl.layers.Dense(CLASSES),
    }
    x = rl.Input((SEQ, D_MODEL))
    h = layers["norm1"](x + layers["attention"](x, x))
    y = layers["norm2"](h + layers["linear2"](layers["linear1"](h)))
    logits = layers["head"](rl.layers.GlobalAveragePooling1D()(y))
    return rl.Model(x, logits), layers


def rillet_step(data):
    """A compiled training step, a runner of ``n`` steps over ``data``, and the layers."""
    import rillet as rl

    model, layers = rillet_model()
    loss_fn = rl.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = rl.optimizers.Adam(**ADAM)

    @rl.function
    def step(x, y):
        with rl.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        variables = model.trainable_weights
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    tensors = [(rl.asarray(x), rl.asarray(y)) for x, y in data]

    def run(n: int) -> float:
        for i in range(n):
            loss = step(*tensors[i % len(tensors)])
        return float(loss.numpy())

    return run, layers


def torch_step(data, layers: dict, threads: int):
    """PyTorch's step from the rillet layers' current weights, and its runner."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)

    def tensor(array) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    def assign(module, **weights) -> None:
        with torch.no_grad():
            for name, value in weights.items():
                getattr(module, name).copy_(tensor(value))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.TransformerEncoderLayer(
                D_MODEL, HEADS, FFN, dropout=0.0, layer_norm_eps=EPSILON, batch_first=True
            )
            self.head = nn.Linear(D_MODEL, CLASSES)

        def forward(self, x):
            return self.head(self.block(x).mean(dim=1))

    model = Encoder()
    att = layers["attention"]
    # Keras kernels (d, heads, key_dim) flatten to PyTorch's columns head * key_dim + j
    dense = [att.query_dense, att.key_dense, att.value_dense]
    assign(
        model.block.self_attn,
        in_proj_weight=np.concatenate([p.kernel.numpy().reshape(D_MODEL, -1).T for p in dense]),
        in_proj_bias=np.concatenate([p.bias.numpy().reshape(-1) for p in dense]),
    )
    out = att.output_dense
    assign(
        model.block.self_attn.out_proj,
        weight=out.kernel.numpy().reshape(-1, D_MODEL).T,
        bias=out.bias.numpy(),
    )
    for name in ("norm1", "norm2"):
        norm = layers[name]
        assign(getattr(model.block, name), weight=norm.gamma.numpy(), bias=norm.beta.numpy())
    for name, module in (("linear1", model.block.linear1), ("linear2", model.block.linear2),
                         ("head", model.head)):  # fmt: skip
        assign(module, weight=layers[name].kernel.numpy().T, bias=layers[name].bias.numpy())
    model.train()
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=ADAM["learning_rate"],
        betas=(ADAM["beta_1"], ADAM["beta_2"]),
        eps=ADAM["epsilon"],
        fused=True,
    )
    tensors = [(tensor(x), torch.from_numpy(y)) for x, y in data]

    def run(n: int) -> float:
        for i in range(n):
            x, y = tensors[i % len(tensors)]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        return float(loss.detach())

    return run


def timed(run, steps: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of the process) per step."""
    start, cpu = time.perf_counter(), time.process_time()
    run(steps)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def main() -> None:
    args = parse_args()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(args.threads))  # before NumPy loads its BLAS
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    data = batches()
    start = time.perf_counter()
    rillet, layers = rillet_step(data)
    if not (args.profile or args.no_torch):
        torch = torch_step(data, layers, args.threads)  # from the initial weights
    first_loss = rillet(1)
    first = time.perf_counter() - start
    if args.profile:
        rillet(args.profile)
        return
    contenders = [("rillet", rillet)]
    if not args.no_torch:
        torch_loss = torch(1)
        print(f"first-step loss: rillet {first_loss:.6f}, torch {torch_loss:.6f}")
        if abs(first_loss - torch_loss) > 1e-4 * max(1.0, abs(torch_loss)):
            raise SystemExit("the two models disagree: their first losses differ")
        contenders.append(("torch", torch))
    for _, run in contenders:
        run(10)
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    cpu: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for _ in range(args.rounds):
        for name, run in contenders:
            wall, used = timed(run, args.steps)
            times[name].append(wall)
            cpu[name].append(used)
    report(times, cpu, args)
    print(f"rillet first call (trace + compile + step): {first:.2f} s")


def report(times: dict, cpu: dict, args) -> None:
    median = {name: statistics.median(t) for name, t in times.items()}
    cpu_median = {name: statistics.median(t) for name, t in cpu.items()}
    for name, t in times.items():
        print(
            f"{name:6s} step: median {median[name] * 1e3:6.2f} ms"
            f"  (min {min(t) * 1e3:.2f}, max {max(t) * 1e3:.2f}; {args.rounds} rounds"
            f" of {args.steps} steps), CPU {cpu_median[name] * 1e3:6.2f} ms"
        )
    if "torch" in times:
        print(f"ratio rillet / torch (medians): {median['rillet'] / median['torch']:.2f}")
        print(f"ratio rillet / torch (CPU time): {cpu_median['rillet'] / cpu_median['torch']:.2f}")


if __name__ == "__main__":
    main()
