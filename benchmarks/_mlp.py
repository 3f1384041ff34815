"""Epoch benchmarks: the trainer's FitLoop next to scikit-learn, PyTorch and the GEMM bound.

Every peer trains the same architecture (ReLU hidden layers, softmax cross-entropy, Adam,
lr 1e-3, no weight penalty) on the same arrays with the same batch size, shuffling every epoch,
and one timed call runs ``epochs`` epochs in a single call of the peer's own API (so a fixed
per-call cost is paid once, as a user running several epochs pays it). Each peer keeps its
model across calls: the timings are steady-state epochs, not initialization.

- ``trainer FitLoop``: what users run, ``trainer.core.fit.FitLoop.run`` (it also computes training
  accuracy per step and evaluates the validation rows once per epoch).
- ``trainer step loop``: the bare step (gather, forward, loss, backward, Adam) with the
  trainer's components, to show what the FitLoop's bookkeeping costs.
- ``scikit-learn float32`` / ``float64``: ``MLPClassifier(solver="adam", alpha=0, tol=0)``
  continued with ``warm_start`` and ``max_iter=epochs``, on float32 and float64 input.
- ``PyTorch``: ``nn.Sequential`` of Linear/ReLU, ``CrossEntropyLoss``, ``torch.optim.Adam``,
  batches gathered by a ``randperm`` index (faster than a DataLoader), ``loss.item()`` per step.
- ``GEMM bound``: only the matrix products forward and backward need (no dX for the first
  layer), on preallocated contiguous arrays: no gather, activation, loss, bias or update.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks._data import Problem
from benchmarks._timing import Timing, interleaved

TRAINER = "trainer FitLoop"
STEP_LOOP = "trainer step loop"
SKLEARN32 = "scikit-learn float32"
SKLEARN64 = "scikit-learn float64"
TORCH = "PyTorch"
GEMM = "GEMM bound"


@dataclass
class EpochResult:
    """Timings of one problem; each timed call ran ``epochs`` epochs of ``steps`` steps."""

    problem: Problem
    epochs: int
    timings: dict[str, Timing]
    threads: int
    skipped: dict[str, str]  # peer -> why it was not measured

    def epoch_seconds(self, peer: str) -> float:
        """Median seconds per epoch."""
        return self.timings[peer].median / self.epochs

    def step_us(self, peer: str) -> float:
        """Median microseconds per training step."""
        return self.epoch_seconds(peer) / self.problem.steps_per_epoch * 1e6

    def ratio(self, peer: str, reference: str) -> float:
        """Median time of ``peer`` over median time of ``reference`` (both in this run)."""
        return self.timings[peer].median / self.timings[reference].median


# --------------------------------------------------------------------------- peers


def trainer_fitloop(problem: Problem, epochs: int, seed: int = 0) -> Callable[[], object]:
    """``epochs`` epochs of the trainer's FitLoop on a network kept across calls."""
    from trainer.core.fit import FitLoop
    from trainer.core.losses import LOSSES
    from trainer.core.network import MLP
    from trainer.core.optimizers import Adam
    from trainer.core.penalties import WeightPenalty

    rng = np.random.default_rng(seed)
    net = MLP(problem.n_features, list(problem.hidden), problem.n_classes,
              activation="relu", init="he_normal", dropout=0.0, dtype=np.float32, rng=rng)
    loop = FitLoop(net, LOSSES["categorical_crossentropy"], Adam(problem.lr), WeightPenalty(),
                   epochs=epochs, batch_size=problem.batch_size, rng=rng)
    X, Y, Xv, Yv = problem.X_train, problem.Y_train, problem.X_val, problem.Y_val
    y, yv = problem.y_train, problem.y_val

    def run() -> object:
        return loop.run(X, Y, Xv, Yv, y_train_labels=y, y_val_labels=yv)

    return run


def trainer_step_loop(problem: Problem, epochs: int, seed: int = 0) -> Callable[[], object]:
    """The bare training step with the trainer's network, loss and optimizer."""
    from trainer.core.losses import LOSSES
    from trainer.core.network import MLP
    from trainer.core.optimizers import Adam

    rng = np.random.default_rng(seed)
    net = MLP(problem.n_features, list(problem.hidden), problem.n_classes,
              activation="relu", init="he_normal", dropout=0.0, dtype=np.float32, rng=rng)
    loss, adam = LOSSES["categorical_crossentropy"], Adam(problem.lr)
    X, Y = problem.X_train, problem.Y_train
    n, b = problem.n_train, problem.batch_size
    buffers = {size: (np.empty((size, X.shape[1]), X.dtype), np.empty((size, Y.shape[1]), Y.dtype),
                      np.empty((size, Y.shape[1]), Y.dtype))
               for size in {b, n % b} if size}

    def run() -> float:
        total = 0.0
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, b):
                rows = order[start:start + b]
                Xb, Yb, dZ = buffers[len(rows)]
                np.take(X, rows, axis=0, out=Xb)
                np.take(Y, rows, axis=0, out=Yb)
                Z = net.forward(Xb, training=True)
                total += loss.value_and_grad(Z, Yb, out=dZ)
                net.backward(dZ)
                adam.step(net.params, net.grads)
        return total

    return run


def sklearn_mlp(problem: Problem, epochs: int, dtype: type, seed: int = 0) -> Callable[[], object]:
    """scikit-learn's MLPClassifier doing the same work: Adam, no L2 (alpha=0), no early
    stopping, ``tol=0``; ``warm_start`` keeps the model, so each call trains ``epochs`` more."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X = problem.X_train if dtype == np.float32 else problem.X_train64
    assert X.dtype == dtype
    y = problem.y_train
    clf = MLPClassifier(
        hidden_layer_sizes=problem.hidden, activation="relu", solver="adam", alpha=0.0,
        batch_size=problem.batch_size, learning_rate_init=problem.lr, max_iter=epochs,
        shuffle=True, tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False,
        warm_start=True, random_state=seed,
    )

    def run() -> object:
        with warnings.catch_warnings():
            # max_iter epochs always "fail to converge": expected here
            warnings.simplefilter("ignore", ConvergenceWarning)
            return clf.fit(X, y)

    return run


def torch_available() -> str | None:
    """None when PyTorch can be imported, else why not."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        return f"PyTorch not installed ({error}); `pip install torch` to include it"
    return None


def torch_mlp(problem: Problem, epochs: int, threads: int, seed: int = 0) -> Callable[[], object]:
    """The same network in PyTorch, the loop a practitioner writes for in-memory tensors."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    sizes = [problem.n_features, *problem.hidden]
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], problem.n_classes))
    model = nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=problem.lr)
    loss_fn = nn.CrossEntropyLoss()
    X = torch.from_numpy(problem.X_train)
    y = torch.from_numpy(problem.y_train.astype(np.int64))
    n, b = problem.n_train, problem.batch_size

    def run() -> float:
        total = 0.0
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n)
            for start in range(0, n, b):
                idx = perm[start:start + b]
                optimizer.zero_grad(set_to_none=True)
                batch_loss = loss_fn(model(X[idx]), y[idx])
                batch_loss.backward()
                optimizer.step()
                total += batch_loss.item()
        return total

    return run


def gemm_bound(problem: Problem, epochs: int, seed: int = 0) -> Callable[[], object]:
    """Only the GEMMs of an epoch on preallocated arrays: per layer l, forward Z = H W, and
    backward dW = H^T dZ and (except the first layer) dH = dZ W^T. The lower bound for any
    NumPy trainer with this BLAS."""
    rng = np.random.default_rng(seed)
    X = problem.X_train
    n, b = problem.n_train, problem.batch_size
    sizes = [problem.n_features, *problem.hidden, problem.n_classes]
    Ws = [rng.standard_normal((fi, fo), dtype=np.float32) * 0.05
          for fi, fo in zip(sizes[:-1], sizes[1:], strict=True)]
    dWs = [np.empty_like(W) for W in Ws]
    # one set of activation and gradient buffers per row count (full batch, last batch)
    spaces = {
        size: ([np.empty((size, w), np.float32) for w in sizes[1:]],
               [rng.standard_normal((size, w), dtype=np.float32) for w in sizes[1:]])
        for size in {b, n % b} if size
    }

    def run() -> None:
        for _ in range(epochs):
            for start in range(0, n, b):
                Xb = X[start:start + b]           # contiguous rows: no gather
                H, dZ = spaces[len(Xb)]
                prev = Xb
                for W, Z in zip(Ws, H, strict=True):
                    np.matmul(prev, W, out=Z)     # Z = H W
                    prev = Z
                for i in range(len(Ws) - 1, -1, -1):
                    H_prev = Xb if i == 0 else H[i - 1]
                    np.matmul(H_prev.T, dZ[i], out=dWs[i])       # dW = H^T dZ
                    if i > 0:
                        np.matmul(dZ[i], Ws[i].T, out=dZ[i - 1])  # dH = dZ W^T

    return run


# --------------------------------------------------------------------------- the benchmark


def run_epochs(
    problem: Problem,
    *,
    epochs: int,
    repeats: int,
    threads: int,
    with_torch: bool = True,
    with_float64: bool = True,
    progress: Callable[[str], None] | None = None,
) -> EpochResult:
    """Time every peer on ``problem``, interleaved (see ``benchmarks._timing``).

    BLAS threads must already be limited by the caller (``threadpoolctl``); PyTorch gets the
    same count through ``torch.set_num_threads``.
    """
    peers: dict[str, Callable[[], object]] = {
        TRAINER: trainer_fitloop(problem, epochs),
        STEP_LOOP: trainer_step_loop(problem, epochs),
        SKLEARN32: sklearn_mlp(problem, epochs, np.float32),
    }
    skipped: dict[str, str] = {}
    if with_float64:
        peers[SKLEARN64] = sklearn_mlp(problem, epochs, np.float64)
    why_not = torch_available() if with_torch else "disabled with --no-torch"
    if why_not is None:
        peers[TORCH] = torch_mlp(problem, epochs, threads)
    else:
        skipped[TORCH] = why_not
    peers[GEMM] = gemm_bound(problem, epochs)
    timings = interleaved(peers, repeats, progress=progress)
    return EpochResult(problem, epochs, timings, threads, skipped)
