"""Weight initializers: shapes, dtypes, bounds, spread and seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.core.initializers import INITIALIZERS

FAN_IN, FAN_OUT = 400, 300  # 120k draws: the empirical std is within ~0.5 % of the truth

# the standard deviation each initializer promises (uniform U(-l, l) has std l / sqrt(3))
EXPECTED_STD = {
    "xavier_uniform": math.sqrt(6 / (FAN_IN + FAN_OUT)) / math.sqrt(3),
    "xavier_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "he_uniform": math.sqrt(6 / FAN_IN) / math.sqrt(3),
    "he_normal": math.sqrt(2 / FAN_IN),
}
LIMIT = {"xavier_uniform": math.sqrt(6 / (FAN_IN + FAN_OUT)), "he_uniform": math.sqrt(6 / FAN_IN)}


def test_registry_has_the_documented_names():
    # the config contract lists exactly these four initializers
    assert set(INITIALIZERS) == {"xavier_uniform", "xavier_normal", "he_uniform", "he_normal"}


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype(name, dtype):
    # W is (fan_in, fan_out) in the requested dtype, so Z = X @ W works without a transpose
    W = INITIALIZERS[name](7, 3, np.random.default_rng(0), np.dtype(dtype))
    assert W.shape == (7, 3)
    assert W.dtype == dtype


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_empirical_std_and_mean_match_formula(name):
    # the spread of the draws is the formula's (within 2 %) and they are centred on 0
    W = INITIALIZERS[name](FAN_IN, FAN_OUT, np.random.default_rng(1), np.dtype(np.float64))
    assert W.std() == pytest.approx(EXPECTED_STD[name], rel=0.02)
    assert abs(W.mean()) < 0.02 * EXPECTED_STD[name]


@pytest.mark.parametrize("name", sorted(LIMIT))
def test_uniform_bounds(name):
    # uniform draws stay inside [-l, l] and fill it (the extremes come close to +-l)
    W = INITIALIZERS[name](FAN_IN, FAN_OUT, np.random.default_rng(2), np.dtype(np.float64))
    limit = LIMIT[name]
    assert np.abs(W).max() <= limit
    assert W.max() > 0.99 * limit and W.min() < -0.99 * limit


@pytest.mark.parametrize("name", ["xavier_normal", "he_normal"])
def test_normal_is_not_truncated(name):
    # the normal variants are plain normals: about 4.6 % of draws lie beyond 2 std
    W = INITIALIZERS[name](FAN_IN, FAN_OUT, np.random.default_rng(3), np.dtype(np.float64))
    beyond = np.mean(np.abs(W) > 2 * EXPECTED_STD[name])
    assert 0.04 < beyond < 0.052


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_seeded_reproducible_and_dtype_independent(name):
    # same seed -> identical weights; another seed -> different; float32 = float64 rounded
    init = INITIALIZERS[name]
    a = init(20, 10, np.random.default_rng(42), np.dtype(np.float64))
    b = init(20, 10, np.random.default_rng(42), np.dtype(np.float64))
    c = init(20, 10, np.random.default_rng(43), np.dtype(np.float64))
    s = init(20, 10, np.random.default_rng(42), np.dtype(np.float32))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(s, a.astype(np.float32))
