"""Optimizers: one and two steps against the written formulas, computed here independently,
and what the constructors accept."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.core.errors import ParameterError
from trainer.core.optimizers import SGD, Adam, Momentum, RMSprop

N = 50


def _problem(dtype=np.float64, seed: int = 0):
    """Initial params and two gradients (the second differs, so state matters)."""
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(N)
    g1, g2 = rng.standard_normal(N), rng.standard_normal(N) * 3
    g1[:5] *= 1e-3  # small gradients make eps matter
    return p0.astype(dtype), g1.astype(dtype), g2.astype(dtype)


def _run(opt, dtype=np.float64, seed: int = 0):
    p0, g1, g2 = _problem(dtype, seed)
    p = p0.copy()
    opt.step(p, g1)
    after_one = p.copy()
    opt.step(p, g2)
    return after_one, p


# the textbook updates, in float64, with their own state
def _sgd(p, gs, lr):
    for g in gs:
        p = p - lr * g
    return p


def _momentum(p, gs, lr, mu, nesterov):
    v = np.zeros_like(p)
    for g in gs:
        v = mu * v - lr * g
        p = p + (mu * v - lr * g if nesterov else v)
    return p


def _rmsprop(p, gs, lr, rho, eps):
    s = np.zeros_like(p)
    for g in gs:
        s = rho * s + (1 - rho) * g**2
        p = p - lr * g / (np.sqrt(s) + eps)
    return p


def _adam(p, gs, lr, b1, b2, eps):
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
    return p


CASES = [
    ("sgd", lambda: SGD(0.1), lambda p, gs: _sgd(p, gs, 0.1)),
    ("momentum", lambda: Momentum(0.05, momentum=0.8),
     lambda p, gs: _momentum(p, gs, 0.05, 0.8, False)),
    ("nesterov", lambda: Momentum(0.05, momentum=0.8, nesterov=True),
     lambda p, gs: _momentum(p, gs, 0.05, 0.8, True)),
    ("rmsprop", lambda: RMSprop(0.01, rho=0.7, eps=1e-2),
     lambda p, gs: _rmsprop(p, gs, 0.01, 0.7, 1e-2)),
    ("rmsprop_default", lambda: RMSprop(0.001), lambda p, gs: _rmsprop(p, gs, 0.001, 0.9, 1e-7)),
    ("adam", lambda: Adam(0.01, beta1=0.5, beta2=0.9, eps=1e-3),
     lambda p, gs: _adam(p, gs, 0.01, 0.5, 0.9, 1e-3)),
    ("adam_default", lambda: Adam(0.001), lambda p, gs: _adam(p, gs, 0.001, 0.9, 0.999, 1e-8)),
]


@pytest.mark.parametrize(("label", "make", "reference"), CASES, ids=[c[0] for c in CASES])
def test_one_and_two_steps_match_formula(label, make, reference):
    # after one and after two steps the params equal the textbook update (float64)
    p0, g1, g2 = _problem()
    after_one, after_two = _run(make())
    np.testing.assert_allclose(after_one, reference(p0, [g1]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(after_two, reference(p0, [g1, g2]), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("label", "make", "reference"), CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(label, make, reference):
    # float32 params keep float32 state and match the float64 formula to float32 precision
    opt = make()
    after_one, after_two = _run(opt, dtype=np.float32)
    assert after_two.dtype == np.float32
    for name in ("velocity", "sq_avg", "m", "v", "_tmp"):
        state = getattr(opt, name, None)
        assert state is None or state.dtype == np.float32
    p0, g1, g2 = (a.astype(np.float64) for a in _problem(np.float32))
    np.testing.assert_allclose(after_two, reference(p0, [g1, g2]), rtol=2e-5, atol=2e-6)


def test_state_is_lazy_and_takes_params_dtype():
    # no state before the first step; afterwards it has the params' shape and dtype
    opt = Adam(0.001)
    assert opt.m is None and opt.v is None
    p = np.zeros(3, np.float32)
    opt.step(p, np.ones(3, np.float32))
    assert opt.m.shape == (3,) and opt.m.dtype == np.float32 and opt.v.dtype == np.float32
    assert opt.iterations == 1


def test_adam_first_step_is_lr_times_sign():
    # with bias correction the first Adam step is lr * g / (|g| + eps) ~ lr * sign(g)
    p = np.zeros(4)
    Adam(0.01).step(p, np.array([2.0, -0.5, 1e3, -1e-2]))
    np.testing.assert_allclose(p, -0.01 * np.sign([2.0, -0.5, 1e3, -1e-2]), rtol=1e-5)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Adam(-1), "lr: expected a finite number > 0, got -1"),
    (lambda: SGD(math.inf), "lr: expected a finite number > 0, got inf"),
    (lambda: SGD("fast"), "lr: expected a finite number > 0, got 'fast'"),
    (lambda: Momentum(0.1, momentum=1.0), "momentum: expected a number in [0, 1), got 1.0"),
    (lambda: Momentum(0.1, nesterov="yes"), "nesterov: expected true or false, got 'yes'"),
    (lambda: RMSprop(0.1, rho=-0.1), "rho: expected a number in [0, 1), got -0.1"),
    (lambda: Adam(0.1, eps=0.0), "eps: expected a finite number > 0, got 0.0"),
])
def test_constructors_name_their_own_parameter(make, message):
    # the core names its parameter, not a config key: the app adds that
    with pytest.raises(ParameterError) as info:
        make()
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
