"""First-order optimizers updating one flat parameter vector in place.

The update rules, written in each class: SGD and Momentum as Keras writes them
(``v = mu v - lr g; p += v``); RMSprop and Adam add ``eps`` outside the square root, as PyTorch
does (``p -= lr g / (sqrt(S) + eps)``; Adam: ``p -= lr mhat / (sqrt(vhat) + eps)`` with
bias-corrected ``mhat``, ``vhat``), where Keras adds it inside the root (RMSprop) or to the
uncorrected ``sqrt(v)`` (Adam). The two placements differ only while ``S`` or ``v`` is of the
order of ``eps``.

Each ``step(params, grads)`` works on the whole network at once with preallocated state (made
lazily at the first step, in the parameters' dtype), so a step allocates nothing: SGD and
Momentum in a few NumPy calls, RMSprop and Adam in one fused pass (``trainer.core.kernels``; as
nine NumPy passes Adam was a fifth of a medium-model step). Hyper-parameters are kept as Python
floats: a float32 vector is never promoted to float64. Each class declares what its
hyper-parameters accept in ``PARAMETERS`` (``trainer.core.parameters``).

Two accumulators are stored rescaled, which is exact algebra and saves a multiply per element:
RMSprop keeps S' = S / (1 - rho) and Adam keeps m' = m / (1 - beta1), v' = v / (1 - beta2);
the constant factors are folded into the step size and epsilon (see each class).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from trainer.core.kernels import adam_update, rmsprop_update
from trainer.core.parameters import BOOLEAN, POSITIVE, UNIT_INTERVAL, Constraint, check

__all__ = ["OPTIMIZERS", "SGD", "Adam", "Momentum", "Optimizer", "RMSprop"]


class Optimizer:
    """Base class: ``step(params, grads)`` updates flat ``params`` (n,) in place from ``grads``."""

    name: str = ""
    PARAMETERS: ClassVar[dict[str, Constraint]] = {"lr": POSITIVE}

    def __init__(self, lr: float) -> None:
        self.lr = POSITIVE("lr", lr)
        self.iterations = 0
        self._tmp: np.ndarray | None = None

    def _scratch(self, params: np.ndarray) -> np.ndarray:
        if self._tmp is None or self._tmp.shape != params.shape or self._tmp.dtype != params.dtype:
            self._tmp = np.empty_like(params)
        return self._tmp

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """p -= lr * g."""

    name = "sgd"

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        tmp = self._scratch(params)
        np.multiply(grads, self.lr, out=tmp)
        params -= tmp
        self.iterations += 1


class Momentum(Optimizer):
    """v = mu v - lr g; p += v.  Nesterov: p += mu v - lr g (with the updated v)."""

    name = "momentum"
    PARAMETERS = {"lr": POSITIVE, "momentum": UNIT_INTERVAL, "nesterov": BOOLEAN}

    def __init__(self, lr: float, momentum: float = 0.9, nesterov: bool = False) -> None:
        super().__init__(lr)
        checked = check(self.PARAMETERS, momentum=momentum, nesterov=nesterov)
        self.momentum: float = checked["momentum"]
        self.nesterov: bool = checked["nesterov"]
        self.velocity: np.ndarray | None = None

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v, tmp = self.velocity, self._scratch(params)
        np.multiply(grads, self.lr, out=tmp)     # tmp = lr g
        v *= self.momentum
        v -= tmp                                 # v = mu v - lr g
        if self.nesterov:
            params -= tmp                        # p += mu v - lr g
            np.multiply(v, self.momentum, out=tmp)
            params += tmp
        else:
            params += v
        self.iterations += 1

    def __repr__(self) -> str:
        return f"Momentum(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


class RMSprop(Optimizer):
    """S = rho S + (1 - rho) g^2; p -= lr g / (sqrt(S) + eps).

    Stored as S' = S / (1 - rho), so S' = rho S' + g^2 and, with c = sqrt(1 - rho),
    p -= (lr / c) g / (sqrt(S') + eps / c), the same update.
    """

    name = "rmsprop"
    PARAMETERS = {"lr": POSITIVE, "rho": UNIT_INTERVAL, "eps": POSITIVE}

    def __init__(self, lr: float, rho: float = 0.9, eps: float = 1e-7) -> None:
        super().__init__(lr)
        checked = check(self.PARAMETERS, rho=rho, eps=eps)
        self.rho: float = checked["rho"]
        self.eps: float = checked["eps"]
        self.sq_avg: np.ndarray | None = None   # S'

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        if self.sq_avg is None:
            self.sq_avg = np.zeros_like(params)
        c = math.sqrt(1.0 - self.rho)
        f = params.dtype.type  # float32 scalars keep float32 arithmetic in the kernel
        rmsprop_update(params, grads, self.sq_avg, f(self.rho), f(self.eps / c), f(self.lr / c))
        self.iterations += 1

    def __repr__(self) -> str:
        return f"RMSprop(lr={self.lr}, rho={self.rho}, eps={self.eps})"


class Adam(Optimizer):
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr mhat / (sqrt(vhat) + eps),
    mhat = m / (1 - b1^t), vhat = v / (1 - b2^t) (Kingma & Ba, 2015).

    Stored as m' = m / (1-b1) and v' = v / (1-b2), so m' = b1 m' + g and v' = b2 v' + g^2.
    With r = sqrt((1-b2) / (1-b2^t)), sqrt(vhat) = r sqrt(v') and the update is
    p -= [lr (1-b1) / ((1-b1^t) r)] m' / (sqrt(v') + eps / r), the same as above.
    """

    name = "adam"
    PARAMETERS = {"lr": POSITIVE, "beta1": UNIT_INTERVAL, "beta2": UNIT_INTERVAL,
                  "eps": POSITIVE}

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__(lr)
        checked = check(self.PARAMETERS, beta1=beta1, beta2=beta2, eps=eps)
        self.beta1: float = checked["beta1"]
        self.beta2: float = checked["beta2"]
        self.eps: float = checked["eps"]
        self.m: np.ndarray | None = None  # m'
        self.v: np.ndarray | None = None  # v'

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        if self.m is None or self.v is None:
            self.m = np.zeros_like(params)
            self.v = np.zeros_like(params)
        t = self.iterations + 1
        b1, b2 = self.beta1, self.beta2
        r = math.sqrt((1.0 - b2) / (1.0 - b2**t))
        step_size = self.lr * (1.0 - b1) / ((1.0 - b1**t) * r)
        f = params.dtype.type  # float32 scalars keep float32 arithmetic in the kernel
        adam_update(params, grads, self.m, self.v, f(b1), f(b2), f(self.eps / r), f(step_size))
        self.iterations = t

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "rmsprop": RMSprop,
    "adam": Adam,
}
