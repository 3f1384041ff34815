"""A network too large for memory is refused before any array is allocated, saying how much it
needs and how much is available."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.errors import ConfigError
from trainer.memory import available_memory, check_fits_in_memory, training_bytes


def test_training_bytes_count_params_grads_optimizer_state_and_best_copy() -> None:
    # 2 -> 3 -> 1: 9 + 4 = 13 parameters; adam keeps 2 more vectors, early stopping 1 copy
    assert training_bytes([2, 3, 1], batch_size=1, dtype=np.float32, optimizer="adam") == (
        (5 * 13 + 6 * 4) * 4)
    assert training_bytes([2, 3, 1], batch_size=1, dtype=np.float64, optimizer="sgd") == (
        (3 * 13 + 6 * 4) * 8)


@pytest.mark.skipif(available_memory() is None, reason="the system does not say")
def test_a_network_larger_than_memory_is_one_line_naming_model_hidden() -> None:
    with pytest.raises(ConfigError) as caught:
        check_fits_in_memory([64, 100_000, 100_000, 10], batch_size=64, dtype=np.float32,
                             optimizer="adam", hidden=[100_000, 100_000])
    line = str(caught.value)
    assert line.startswith("model.hidden: expected a network that fits in memory (64 -> 100000")
    assert "10,007,600,010 parameters" in line and "GiB are available" in line
    check_fits_in_memory([64, 32, 10], batch_size=64, dtype=np.float32, optimizer="adam",
                         hidden=[32])  # a small one passes
