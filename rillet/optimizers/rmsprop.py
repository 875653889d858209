"""Optimizers scaling each step by accumulated squared gradients: RMSprop, Adagrad and
Adadelta (Keras 3's formulas, with epsilon inside the square root).

Every class also takes the base arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm``, ``use_ema``, ...) as keywords.
"""

from __future__ import annotations

from .. import ops
from .optimizer import Optimizer, cast_to, check_number


class RMSprop(Optimizer):
    """RMSprop: ``v = rho * v + (1 - rho) * g**2`` and ``w -= lr * g / sqrt(v + epsilon)``.

    ``centered`` subtracts the squared running mean of the gradients from ``v``;
    ``momentum`` accumulates the increments (``m = momentum * m + increment; w -= m``).

    >>> import rillet as rl
    >>> from rillet import optimizers
    >>> w = rl.Variable([1.0])
    >>> optimizers.RMSprop(learning_rate=0.01, epsilon=0.0).apply([rl.asarray([2.0])], [w])
    >>> round(float(w.numpy()[0]), 5)   # 1 - 0.01 * 2 / sqrt(0.1 * 4)
    0.96838
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered: bool = False,
        name: str = "rmsprop",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = check_number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = check_number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = check_number("RMSprop", "epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(variables, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(variables, "average_gradient")

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        rho = self.rho
        velocity = self._slot(self._velocities, variable)
        plain = not self.centered and self.momentum == 0
        if plain and self._fusable(RMSprop, gradient, variable, velocity):
            ops.state.apply_rmsprop(
                gradient, lr, variable=variable, velocity=velocity, rho=rho, epsilon=self.epsilon
            )  # one in-place pass, the same bits
            return
        velocity.assign(velocity * rho + ops.square(gradient) * (1.0 - rho))
        if self.centered:
            average = self._slot(self._average_gradients, variable)
            average.assign(average * rho + gradient * (1.0 - rho))
            denominator = velocity - ops.square(average) + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = (lr * gradient) / ops.sqrt(denominator)
        if self.momentum > 0:
            momentum = self._slot(self._momentums, variable)
            momentum.assign(momentum * self.momentum + increment)
            variable.assign_sub(momentum)
        else:
            variable.assign_sub(increment)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad: ``a += g**2`` and ``w -= lr * g / sqrt(a + epsilon)``, with ``a`` starting
    at ``initial_accumulator_value``.

    >>> from rillet import optimizers
    >>> optimizers.Adagrad().get_config()["initial_accumulator_value"]
    0.1
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        name: str = "adagrad",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.epsilon = check_number("Adagrad", "epsilon", epsilon, 0.0)

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self._accumulators = self.add_optimizer_variables(
            variables, "accumulator", self.initial_accumulator_value
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        accumulator = self._slot(self._accumulators, variable)
        accumulator.assign_add(ops.square(gradient))
        variable.assign_sub((lr * gradient) / ops.sqrt(accumulator + self.epsilon))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta (Zeiler): steps scaled by the ratio of running RMS of past updates to the
    running RMS of gradients, times ``learning_rate``.

    >>> from rillet import optimizers
    >>> optimizers.Adadelta().get_config()["rho"]
    0.95
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.95,
        epsilon=1e-7,
        name: str = "adadelta",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = check_number("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = check_number("Adadelta", "epsilon", epsilon, 0.0)

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            variables, ["accumulated_grad", "accumulated_delta_var"]
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = cast_to(learning_rate, variable.dtype)
        rho = self.rho
        grads = self._slot(self._accumulated_grads, variable)
        deltas = self._slot(self._accumulated_delta_vars, variable)
        grads.assign(grads * rho + ops.square(gradient) * (1.0 - rho))
        delta = -(ops.sqrt(deltas + self.epsilon) * gradient) / ops.sqrt(grads + self.epsilon)
        deltas.assign(deltas * rho + ops.square(delta) * (1.0 - rho))
        variable.assign_add(lr * delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
