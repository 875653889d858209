"""Stochastic gradient descent with optional (Nesterov) momentum, and Lion."""

from __future__ import annotations

from .. import ops
from ..errors import ArgumentError
from .optimizer import Optimizer, cast_to, check_number


class SGD(Optimizer):
    """Gradient descent with momentum (Keras 3's ``SGD``).

    Without momentum ``w -= learning_rate * g``. With momentum ``m = momentum * m -
    learning_rate * g`` and ``w += m``; Nesterov's variant adds ``momentum * m -
    learning_rate * g`` instead.

    >>> import rillet as rl
    >>> from rillet import optimizers
    >>> w = rl.Variable([1.0])
    >>> opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.apply([rl.asarray([1.0])], [w])
    >>> round(float(w.numpy()[0]), 6)   # 1 - 0.1 - (0.9 * 0.1 + 0.1)
    0.71
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov: bool = False,
        name: str = "SGD",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = check_number("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        if self.momentum == 0:
            variable.assign_sub(gradient * lr)
            return
        m = self._slot(self.momentums, variable)
        if self._fusable(SGD, gradient, variable, m):  # one in-place pass, the same bits
            ops.state.apply_momentum(
                gradient, lr, variable=variable, accumulator=m, momentum=self.momentum,
                nesterov=self.nesterov,
            )  # fmt: skip
            return
        m.assign(m * self.momentum - gradient * lr)
        if self.nesterov:
            variable.assign_add(m * self.momentum - gradient * lr)
        else:
            variable.assign_add(m)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Lion(Optimizer):
    """Lion (Chen et al., 2023): ``w -= learning_rate * sign(beta_1 * m + (1 - beta_1) * g)``,
    then ``m = beta_2 * m + (1 - beta_2) * g``.

    >>> import rillet as rl
    >>> from rillet import optimizers
    >>> w = rl.Variable([1.0, 1.0])
    >>> optimizers.Lion(learning_rate=0.1).apply([rl.asarray([3.0, -0.5])], [w])
    >>> w.numpy().tolist()
    [0.8999999761581421, 1.100000023841858]
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.99,
        name: str = "lion",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = check_number("Lion", "beta_1", beta_1)
        self.beta_2 = check_number("Lion", "beta_2", beta_2, 0.0, 1.0)
        if self.beta_1 <= 0 or self.beta_1 > 1:
            raise ArgumentError(
                f"Lion: received beta_1={beta_1!r}, expected a value in (0, 1] (otherwise the "
                "optimizer degenerates to SignSGD)"
            )

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        m = self._slot(self.momentums, variable)
        direction = ops.sign(m * self.beta_1 + gradient * (1.0 - self.beta_1))
        variable.assign_sub(lr * direction)
        m.assign(m * self.beta_2 + gradient * (1.0 - self.beta_2))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
