"""Hidden-layer activations: ``A = sigma(Z)`` and ``dZ = dA * sigma'(Z)``.

Every method writes into a caller-owned ``out`` buffer of Z's shape (n, width) and dtype and
returns it, so a training step allocates nothing. ``out`` must not alias any input. Backward
passes use A where that is cheaper than Z (tanh, sigmoid). Scalars are Python floats so a
float32 array is never promoted to float64 (NumPy 2 treats Python scalars as "weak").
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

LEAKY_RELU_SLOPE = 0.01  # slope for Z < 0, as Keras' LeakyReLU(negative_slope=0.01) and PyTorch


class Activation(ABC):
    """An elementwise activation; stateless, so one instance serves every layer."""

    name: str

    @abstractmethod
    def forward(self, Z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """A = sigma(Z), written into ``out``; Z, out: (n, width)."""

    @abstractmethod
    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        """dZ = dA * sigma'(Z), written into ``out``; dA, Z, A (= sigma(Z)), out: (n, width)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """A = max(Z, 0); sigma'(Z) = [Z > 0] (0 at Z = 0, as Keras and PyTorch)."""

    name = "relu"

    def forward(self, Z: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.maximum(Z, 0.0, out=out)

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        np.greater(Z, 0.0, out=out)  # 1.0 / 0.0 written straight into the float buffer
        return np.multiply(out, dA, out=out)


class LeakyReLU(Activation):
    """A = max(Z, a Z) with a = LEAKY_RELU_SLOPE = 0.01; sigma'(Z) = 1 if Z > 0 else a."""

    name = "leaky_relu"

    def __init__(self, slope: float = LEAKY_RELU_SLOPE) -> None:
        self.slope = float(slope)

    def forward(self, Z: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(Z, self.slope, out=out)
        return np.maximum(Z, out, out=out)

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        # max(sign(Z), a) is 1 for Z > 0 and a otherwise (sign is -1 or 0 there, both < a)
        np.sign(Z, out=out)
        np.maximum(out, self.slope, out=out)
        return np.multiply(out, dA, out=out)

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


class Tanh(Activation):
    """A = tanh(Z); sigma'(Z) = 1 - A^2."""

    name = "tanh"

    def forward(self, Z: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.tanh(Z, out=out)

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        np.square(A, out=out)
        np.subtract(1.0, out, out=out)
        return np.multiply(out, dA, out=out)


class Sigmoid(Activation):
    """A = 1 / (1 + exp(-Z)); sigma'(Z) = A (1 - A).

    Computed as 0.5 * tanh(Z / 2) + 0.5, an identity that never overflows (exp(-Z) does for
    Z < -88 in float32) and needs no temporary; its absolute error is one ulp of 0.5.
    """

    name = "sigmoid"

    def forward(self, Z: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(Z, 0.5, out=out)
        np.tanh(out, out=out)
        np.multiply(out, 0.5, out=out)
        return np.add(out, 0.5, out=out)

    def backward(self, dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
        np.subtract(1.0, A, out=out)
        np.multiply(out, A, out=out)
        return np.multiply(out, dA, out=out)


ACTIVATIONS: dict[str, Activation] = {
    "relu": ReLU(),
    "leaky_relu": LeakyReLU(),
    "tanh": Tanh(),
    "sigmoid": Sigmoid(),
}
