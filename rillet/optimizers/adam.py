"""Adam and its relatives: AdamW, Adamax and Nadam (Keras 3's formulas).

Every class also takes the base arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm``, ``use_ema``, ...) as keywords.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ArgumentError
from ..variable import Variable
from .optimizer import Optimizer, cast_to, check_number


def _step(optimizer: Optimizer, dtype, ahead: int = 1):
    """``iterations + ahead`` as a floating tensor (the 1-based step being applied)."""
    return ops.cast(optimizer.iterations + ahead, dtype=dtype)


class _AdamBase(Optimizer):
    """First and second moment estimates with betas and epsilon."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, name, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        owner = type(self).__name__
        self.beta_1 = check_number(owner, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = check_number(owner, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = check_number(owner, "epsilon", epsilon, 0.0)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adam(_AdamBase):
    """Adam (Kingma and Ba): bias-corrected moment estimates, Keras's "epsilon hat" form.

    ``m += (g - m) * (1 - beta_1)``, ``v += (g**2 - v) * (1 - beta_2)`` and
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``; with
    ``amsgrad`` the running maximum of ``v`` replaces ``v``.

    >>> import rillet as rl
    >>> from rillet import optimizers
    >>> w = rl.Variable([1.0])
    >>> optimizers.Adam(learning_rate=0.1).apply([rl.asarray([0.5])], [w])
    >>> round(float(w.numpy()[0]), 5)   # the first step moves by about the learning rate
    0.9
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad: bool = False,
        name: str = "adam",
        **kwargs,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)
        self.amsgrad = bool(amsgrad)

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"]
        )
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        t = _step(self, variable.dtype)
        alpha = lr * ops.sqrt(1.0 - ops.power(self.beta_2, t)) / (1.0 - ops.power(self.beta_1, t))
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        if not self.amsgrad and self._fusable(Adam, gradient, variable, m, v):
            # One op updating the weights and both moments in place (one pass over memory
            # where compiled loops are on): the same operations, the same bits.
            ops.state.apply_adam(
                gradient, alpha, variable=variable, momentum=m, velocity=v,
                beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            )  # fmt: skip
            return
        m.assign_add((gradient - m) * (1.0 - self.beta_1))
        v.assign_add((ops.square(gradient) - v) * (1.0 - self.beta_2))
        if self.amsgrad:
            v_hat = self._slot(self._velocity_hats, variable)
            v_hat.assign(ops.maximum(v_hat, v))
            v = v_hat
        variable.assign_sub((m * alpha) / (ops.sqrt(v) + self.epsilon))

    def get_config(self) -> dict:
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= w * weight_decay * lr`` before each step.

    >>> from rillet import optimizers
    >>> optimizers.AdamW().weight_decay
    0.004
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad: bool = False,
        name: str = "adamw",
        **kwargs,
    ):
        if weight_decay is None:
            raise ArgumentError("AdamW: received weight_decay=None, expected a float")
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            name=name,
            weight_decay=weight_decay,
            **kwargs,
        )


class Adamax(_AdamBase):
    """Adamax: Adam with the infinity norm. ``m += (g - m) * (1 - beta_1)``,
    ``u = max(beta_2 * u, |g|)``, ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``.

    >>> from rillet import optimizers
    >>> optimizers.Adamax().get_config()["beta_2"]
    0.999
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        name: str = "adamax",
        **kwargs,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self._m, self._u = self.add_optimizer_variables(variables, ["m", "u"])

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        t = _step(self, variable.dtype)
        m = self._slot(self._m, variable)
        u = self._slot(self._u, variable)
        m.assign_add((gradient - m) * (1.0 - self.beta_1))
        u.assign(ops.maximum(u * self.beta_2, ops.abs(gradient)))
        correction = 1.0 - ops.power(self.beta_1, t)
        variable.assign_sub((m * lr) / (correction * (u + self.epsilon)))


class Nadam(_AdamBase):
    """Adam with Nesterov momentum and Dozat's momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)`` (Keras's formula, which differs from PyTorch's).

    >>> from rillet import optimizers
    >>> optimizers.Nadam().name
    'nadam'
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        name: str = "nadam",
        **kwargs,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name, **kwargs)

    def build(self, variables) -> None:
        if self.built:
            return
        variables = list(variables)
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"]
        )
        dtype = variables[0].dtype if variables else np.float32
        self._u_product = self._track(
            Variable(np.ones((), dtype), trainable=False, name=f"{self.name}/u_product")
        )

    def _momentum_at(self, ahead: int, dtype):
        return self.beta_1 * (1.0 - 0.5 * ops.power(0.96, _step(self, dtype, ahead)))

    def _update_step(self, grads: list, variables: list, learning_rate) -> None:
        # The running product of the momentum schedule, shared by all variables.
        u_t = self._momentum_at(1, self._u_product.dtype)
        self._u_product.assign(self._u_product * u_t)
        super()._update_step(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate) -> None:
        dtype = variable.dtype
        lr = cast_to(learning_rate, dtype)
        u_t, u_next = self._momentum_at(1, dtype), self._momentum_at(2, dtype)
        u_product = ops.cast(self._u_product, dtype=dtype)
        u_product_next = u_product * u_next
        m = self._slot(self._momentums, variable)
        v = self._slot(self._velocities, variable)
        m.assign_add((gradient - m) * (1.0 - self.beta_1))
        v.assign_add((ops.square(gradient) - v) * (1.0 - self.beta_2))
        m_hat = (u_next * m) / (1.0 - u_product_next) + ((1.0 - u_t) * gradient) / (1.0 - u_product)
        v_hat = v / (1.0 - ops.power(self.beta_2, _step(self, dtype)))
        variable.assign_sub((m_hat * lr) / (ops.sqrt(v_hat) + self.epsilon))
