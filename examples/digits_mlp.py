"""Train a two-layer perceptron on the bundled 8x8 handwritten digits.

64 pixels -> 64 ReLU units -> 10 logits, trained with ``rl.GradientTape`` and an Adam
update written with rillet ops on ``rl.Variable`` (in-place ``assign_add``/``assign_sub``).
It prints the training loss each epoch and the held-out accuracy at the end, and takes a few
seconds on a laptop. Run it with ``make demo`` or ``.venv/bin/python examples/digits_mlp.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np

import rillet as rl

SEED = 0
HIDDEN = 64
EPOCHS = 25
BATCH_SIZE = 32
LEARNING_RATE = 3e-3


def load_digits():
    """Flattened images scaled to [0, 1] and int64 labels, split 80/20."""
    (x_train, y_train), (x_test, y_test) = rl.datasets.digits.load_data(test_split=0.2, seed=SEED)

    def features(images):
        return (images.reshape(len(images), -1) / 16.0).astype(np.float32)

    return (features(x_train), y_train.astype(np.int64)), (
        features(x_test),
        y_test.astype(np.int64),
    )


def dense(fan_in: int, fan_out: int, name: str) -> tuple[rl.Variable, rl.Variable]:
    """He-initialised weights (stddev sqrt(2 / fan_in) keeps ReLU activations' scale) and
    zero biases."""
    stddev = math.sqrt(2.0 / fan_in)
    weights = rl.Variable(rl.random.normal((fan_in, fan_out), stddev=stddev), name=f"{name}/w")
    bias = rl.Variable(rl.zeros((fan_out,)), name=f"{name}/b")
    return weights, bias


class Adam:
    """Adam (Kingma & Ba, 2015) with the bias correction folded into the step size."""

    def __init__(self, variables, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.variables = variables
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = (
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
        )
        self.m = [rl.Variable(rl.zeros(v.shape), trainable=False) for v in variables]
        self.v = [rl.Variable(rl.zeros(v.shape), trainable=False) for v in variables]
        self.iterations = 0

    def apply_gradients(self, gradients) -> None:
        self.iterations += 1
        t = self.iterations
        step = self.learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        for var, g, m, v in zip(self.variables, gradients, self.m, self.v):
            # m <- b1 m + (1 - b1) g and v <- b2 v + (1 - b2) g^2, as in-place increments.
            m.assign_add((g - m) * (1 - self.beta_1))
            v.assign_add((g * g - v) * (1 - self.beta_2))
            var.assign_sub(step * m / (rl.sqrt(v) + self.epsilon))


def logits_of(params, x):
    w1, b1, w2, b2 = params
    hidden = rl.relu(rl.matmul(x, w1) + b1)
    return rl.matmul(hidden, w2) + b2


def loss_of(params, x, y):
    per_example = rl.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits_of(params, x))
    return rl.mean(per_example)


def train_step(params, optimizer, x, y) -> float:
    with rl.GradientTape() as tape:
        loss = loss_of(params, x, y)
    gradients = tape.gradient(loss, params)  # frees the tape, so updates can run in place
    optimizer.apply_gradients(gradients)
    return float(loss)


def train_epoch(params, optimizer, x, y, rng) -> float:
    """One pass over the shuffled training set; returns the mean mini-batch loss."""
    order = rng.permutation(len(x))
    losses = []
    for start in range(0, len(x), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        losses.append(train_step(params, optimizer, x[batch], y[batch]))
    return float(np.mean(losses))


def accuracy(params, x, y) -> float:
    predictions = rl.argmax(logits_of(params, x), axis=-1)
    return float(rl.mean(rl.cast(rl.equal(predictions, y), rl.float32)))


def main() -> float:
    rl.random.set_seed(SEED)
    rng = np.random.default_rng(SEED)
    (x_train, y_train), (x_test, y_test) = load_digits()
    params = [*dense(64, HIDDEN, "hidden"), *dense(HIDDEN, 10, "output")]
    optimizer = Adam(params, learning_rate=LEARNING_RATE)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels")
    start = time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        loss = train_epoch(params, optimizer, x_train, y_train, rng)
        print(f"epoch {epoch:2d}  loss {loss:.4f}")
    test_accuracy = accuracy(params, x_test, y_test)
    print(f"held-out accuracy {test_accuracy:.2%} after {time.perf_counter() - start:.1f} s")
    return test_accuracy


if __name__ == "__main__":
    main()
