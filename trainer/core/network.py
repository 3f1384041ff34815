"""A feed-forward network (multi-layer perceptron) on one flat parameter vector.

Layer l computes Z_l = H_{l-1} @ W_l + b_l with H_{-1} = X; hidden layers then apply
A_l = sigma(Z_l) and, in training, inverted dropout H_l = A_l * M_l with
M_l = [U >= rate] / (1 - rate). The last layer returns its logits Z_L; the loss applies the
output activation (see ``trainer.core.losses``).

Speed: all weights and biases live in one flat vector ``params`` (weights first, layer by
layer, then biases) and the gradients in ``grads`` with the same layout, so an optimizer or a
penalty updates everything in a handful of NumPy calls. Every per-batch array is a buffer
cached per batch row count and written with ``out=``: a training step allocates nothing large,
which avoids the mmap/munmap page faults NumPy pays for fresh temporaries above 128 KiB.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from trainer.core.activations import ACTIVATIONS
from trainer.core.dtypes import DTYPE
from trainer.core.errors import DataError
from trainer.core.initializers import INITIALIZERS
from trainer.core.parameters import POSITIVE_INT, Constraint, Options, Real, Widths, check

_MAX_WORKSPACES = 6  # row counts kept: full batch, last partial batch, inference chunks ...


class _Workspace:
    """Buffers for one (row count, training) pair; backward buffers are made on first use.

    Z[l]: (n, width_l) pre-activations of every layer (Z[-1] are the logits);
    A[l]: (n, width_l) hidden activations; H[l]: what layer l+1 reads (A[l], or A[l] * M[l]);
    M[l]: dropout masks already scaled by 1/(1-rate); dH[l], dZ[l]: backward buffers.
    """

    def __init__(self, n: int, widths: Sequence[int], dtype: np.dtype, dropout: bool) -> None:
        self.n = n
        self.Z = [np.empty((n, w), dtype) for w in widths]
        self.A = [np.empty((n, w), dtype) for w in widths[:-1]]
        if dropout:
            self.M = [np.empty((n, w), dtype) for w in widths[:-1]]
            self.H = [np.empty((n, w), dtype) for w in widths[:-1]]
        else:
            self.M = []
            self.H = self.A
        self.dH: list[np.ndarray] = []
        self.dZ: list[np.ndarray] = []
        self.ones = np.ones(0, dtype)

    def ensure_backward(self) -> None:
        if not self.dZ and self.A:
            self.dH = [np.empty_like(A) for A in self.A]
            self.dZ = [np.empty_like(A) for A in self.A]
        if self.ones.shape[0] != self.n:
            self.ones = np.ones(self.n, self.Z[0].dtype)  # db = 1^T dZ runs as one BLAS gemv


class MLP:
    """Dense layers n_inputs -> hidden... -> n_outputs on flat ``params`` / ``grads`` vectors.

    ``weights[l]`` (fan_in, fan_out) and ``biases[l]`` (fan_out,) are views into ``params``;
    ``params[:n_weights]`` holds every weight, layer by layer, and the rest the biases, so a
    penalty on weights only reads one slice. ``rng`` initializes the weights and then draws
    the dropout masks.
    """

    PARAMETERS: ClassVar[dict[str, Constraint]] = {
        "n_inputs": POSITIVE_INT,
        "hidden": Widths(),
        "n_outputs": POSITIVE_INT,
        "activation": Options(list(ACTIVATIONS)),
        "init": Options(list(INITIALIZERS)),
        "dropout": Real(0.0, 1.0, closed="left", description="a rate in [0, 1)"),
        "dtype": DTYPE,
    }

    def __init__(self, n_inputs: int, hidden: Sequence[int], n_outputs: int, *,
                 activation: str = "relu", init: str = "he_normal", dropout: float = 0.0,
                 dtype: Any = np.float32, rng: np.random.Generator) -> None:
        checked = check(self.PARAMETERS, n_inputs=n_inputs, hidden=hidden, n_outputs=n_outputs,
                        activation=activation, init=init, dropout=dropout, dtype=dtype)
        self.dtype: np.dtype = checked["dtype"]
        self.n_inputs: int = checked["n_inputs"]
        self.hidden: list[int] = checked["hidden"]
        self.n_outputs: int = checked["n_outputs"]
        self.activation: str = activation
        self.init: str = init
        self.dropout: float = checked["dropout"]
        self.rng = rng
        self._act = ACTIVATIONS[activation]
        # Python floats: mixing them into float32 arrays keeps float32
        self._keep_scale = 1.0 / (1.0 - self.dropout)

        sizes = [self.n_inputs, *self.hidden, self.n_outputs]
        self._shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
        self._widths = sizes[1:]
        self.n_weights = sum(fi * fo for fi, fo in self._shapes)
        n_params = self.n_weights + sum(self._widths)
        self.params = np.zeros(n_params, self.dtype)
        self.grads = np.zeros(n_params, self.dtype)
        self.weights, self.biases = self._views(self.params)
        self._dW, self._db = self._views(self.grads)
        initializer = INITIALIZERS[init]
        for W, (fi, fo) in zip(self.weights, self._shapes, strict=True):
            W[...] = initializer(fi, fo, rng, self.dtype)

        self._workspaces: OrderedDict[tuple[int, bool], _Workspace] = OrderedDict()
        self._train_ws: _Workspace | None = None  # workspace of the last training forward
        self._train_X: np.ndarray | None = None

    def _views(self, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        Ws, bs = [], []
        w_off, b_off = 0, self.n_weights
        for fi, fo in self._shapes:
            Ws.append(flat[w_off:w_off + fi * fo].reshape(fi, fo))
            bs.append(flat[b_off:b_off + fo])
            w_off += fi * fo
            b_off += fo
        return Ws, bs

    @property
    def n_params(self) -> int:
        """Number of trainable scalars (weights and biases)."""
        return self.params.shape[0]

    def _workspace(self, n: int, training: bool) -> _Workspace:
        key = (n, training)
        ws = self._workspaces.get(key)
        if ws is None:
            ws = _Workspace(n, self._widths, self.dtype, training and self.dropout > 0.0)
            self._workspaces[key] = ws
            if len(self._workspaces) > _MAX_WORKSPACES:
                self._workspaces.popitem(last=False)
        else:
            self._workspaces.move_to_end(key)
        return ws

    def _check_input(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=self.dtype)  # no copy when already in the network's dtype
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise DataError(f"input X: expected shape (n, {self.n_inputs}), got {X.shape}")
        return X

    def forward(self, X: np.ndarray, *, training: bool) -> np.ndarray:
        """Logits (n, n_outputs) of X (n, n_inputs).

        The result is a buffer owned by the network, valid until the next forward with the same
        row count and mode. With ``training=True`` dropout masks are drawn from ``self.rng`` and
        the activations are kept for ``backward`` (X is kept by reference: do not modify it
        before backward). At inference dropout is the identity.
        """
        X = self._check_input(X)
        ws = self._workspace(X.shape[0], training)
        act = self._act
        drop = training and self.dropout > 0.0
        H = X
        last = len(self._widths) - 1
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            Z = ws.Z[i]
            np.matmul(H, W, out=Z)               # Z = H W + b
            Z += b
            if i == last:
                break
            act.forward(Z, ws.A[i])              # A = sigma(Z)
            if drop:
                M = ws.M[i]                      # M = [U >= rate] / (1 - rate)
                self.rng.random(out=M, dtype=self.dtype)
                np.greater_equal(M, self.dropout, out=M)
                M *= self._keep_scale
                np.multiply(ws.A[i], M, out=ws.H[i])
            H = ws.H[i]
        if training:
            self._train_ws, self._train_X = ws, X
        return ws.Z[last]

    def backward(self, dZ: np.ndarray) -> None:
        """Fill ``grads`` from dZ = dL/dlogits (n, n_outputs) of the last training forward.

        dW_l = H_{l-1}^T dZ_l,  db_l = 1^T dZ_l,  dH_{l-1} = dZ_l W_l^T (* M_{l-1} with dropout),
        dZ_{l-1} = dH_{l-1} * sigma'(Z_{l-1}).
        """
        ws, X = self._train_ws, self._train_X
        if ws is None or X is None:
            raise RuntimeError("MLP.backward needs a forward(X, training=True) first")
        dZ = np.asarray(dZ, dtype=self.dtype)
        if dZ.shape != (ws.n, self.n_outputs):
            raise ValueError(f"MLP.backward: expected dZ of shape {(ws.n, self.n_outputs)}, "
                             f"got {dZ.shape}")
        ws.ensure_backward()
        act = self._act
        drop = self.dropout > 0.0
        for i in range(len(self._widths) - 1, -1, -1):
            H_prev = X if i == 0 else ws.H[i - 1]
            np.matmul(H_prev.T, dZ, out=self._dW[i])   # dW = H^T dZ (BLAS reads the transpose)
            np.matmul(ws.ones, dZ, out=self._db[i])    # db = 1^T dZ
            if i == 0:
                break                                  # dX is not needed
            dH = ws.dH[i - 1]
            np.matmul(dZ, self.weights[i].T, out=dH)   # dH = dZ W^T
            if drop:
                dH *= ws.M[i - 1]
            dZ = act.backward(dH, ws.Z[i - 1], ws.A[i - 1], ws.dZ[i - 1])

    def logits(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Inference logits (n, n_outputs) of X (n, n_inputs) as a fresh array, in row chunks."""
        X = self._check_input(X)
        out = np.empty((X.shape[0], self.n_outputs), self.dtype)
        for start in range(0, X.shape[0], batch_size):
            stop = start + batch_size
            out[start:stop] = self.forward(X[start:stop], training=False)
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every layer's parameters: {"W0": (fan_in, fan_out), "b0": (fan_out,), ...}."""
        state: dict[str, np.ndarray] = {}
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            state[f"W{i}"] = W.copy()
            state[f"b{i}"] = b.copy()
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy parameters from a ``state_dict`` of a network with the same layer shapes."""
        expected = {f"{p}{i}" for i in range(len(self.weights)) for p in "Wb"}
        if set(state) != expected:
            raise DataError(f"model state: expected arrays {sorted(expected)}, "
                            f"got {sorted(state)}")
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            for name, dst in ((f"W{i}", W), (f"b{i}", b)):
                src = np.asarray(state[name])
                if src.shape != dst.shape:
                    raise DataError(f"model state {name}: expected shape {dst.shape}, "
                                    f"got {src.shape}")
                dst[...] = src

    def get_params(self) -> np.ndarray:
        """A copy of the flat parameter vector (n_params,)."""
        return self.params.copy()

    def set_params(self, flat: np.ndarray) -> None:
        """Copy a flat vector (n_params,) from ``get_params`` into the parameters."""
        flat = np.asarray(flat)
        if flat.shape != self.params.shape:
            raise ValueError(f"MLP.set_params: expected shape {self.params.shape}, "
                             f"got {flat.shape}")
        np.copyto(self.params, flat)

    def __getstate__(self) -> dict[str, Any]:
        # The per-batch buffers are scratch space (re-made on first use) and the layer views
        # would unpickle as copies detached from ``params``: neither is stored.
        state = self.__dict__.copy()
        for key in ("weights", "biases", "_dW", "_db"):
            del state[key]
        state["_workspaces"] = OrderedDict()
        state["_train_ws"] = state["_train_X"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # A writable contiguous vector (joblib may hand back a read-only memory map), with the
        # layer views into it again.
        self.params = np.require(self.params, requirements=["C", "W"])
        self.grads = np.require(self.grads, requirements=["C", "W"])
        self.weights, self.biases = self._views(self.params)
        self._dW, self._db = self._views(self.grads)

    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain values: ``MLP(**net.config(), rng=...)`` rebuilds it."""
        return {
            "n_inputs": self.n_inputs,
            "hidden": list(self.hidden),
            "n_outputs": self.n_outputs,
            "activation": self.activation,
            "init": self.init,
            "dropout": self.dropout,
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        sizes = " -> ".join(str(s) for s in [self.n_inputs, *self.hidden, self.n_outputs])
        return (f"MLP({sizes}, activation={self.activation!r}, dropout={self.dropout}, "
                f"dtype={self.dtype.name}, params={self.n_params})")
