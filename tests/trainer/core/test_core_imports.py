"""The numerical core stands alone: importing it loads none of the application's libraries."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = [
    "trainer.core",
    "trainer.core.activations",
    "trainer.core.callbacks",
    "trainer.core.dtypes",
    "trainer.core.fit",
    "trainer.core.initializers",
    "trainer.core.kernels",
    "trainer.core.losses",
    "trainer.core.metrics",
    "trainer.core.network",
    "trainer.core.optimizers",
    "trainer.core.penalties",
    "trainer.core.preprocessing",
]
APPLICATION_LIBRARIES = ["hydra", "omegaconf", "mlflow", "optuna", "matplotlib", "sklearn"]


def test_importing_the_core_loads_no_application_library() -> None:
    # A fresh interpreter: this test process has imported everything already.
    code = (
        "import sys\n"
        f"for name in {CORE_MODULES!r}: __import__(name)\n"
        f"print(' '.join(m for m in {APPLICATION_LIBRARIES!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == []
