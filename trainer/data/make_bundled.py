"""Write the bundled data sets (``trainer/data/bundled/*.npz``) from scikit-learn's copies.

    python -m trainer.data.make_bundled        # maintainers only: needs scikit-learn

The arrays are scikit-learn's own (BSD 3-Clause, see ``bundled/README.md``), stored as plain
``.npz`` (no pickle): reading one takes milliseconds, where importing scikit-learn to read it
took about a second of every run's start (benchmarks/RESULTS.md, start-up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
NAMES = ("digits", "breast_cancer", "wine", "iris", "diabetes")


def bundled_arrays(name: str) -> dict[str, np.ndarray]:
    """scikit-learn's data set ``name`` as the arrays the bundled file holds: ``X`` (n, d)
    float64 (digits: uint8, its pixels are whole numbers 0..16), ``y`` (n,), ``feature_names``
    (d,) and, for classification sets, ``target_names``."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    if name == "digits":
        assert np.array_equal(X, X.astype(np.uint8)), "digits pixels must be whole numbers"
        X = X.astype(np.uint8)  # 8x smaller, read back exactly
    arrays = {"X": X, "y": np.asarray(bunch.target),
              "feature_names": np.asarray(bunch.feature_names, dtype=str)}
    target_names = getattr(bunch, "target_names", None)
    if target_names is not None:
        target_names = np.asarray(target_names)
        arrays["target_names"] = (target_names.astype(str) if target_names.dtype.kind == "O"
                                  else target_names)
    return arrays


def main() -> None:
    BUNDLED_DIR.mkdir(exist_ok=True)
    for name in NAMES:
        path = BUNDLED_DIR / f"{name}.npz"
        arrays: dict[str, Any] = bundled_arrays(name)  # Any: **arrays is no allow_pickle
        np.savez_compressed(path, **arrays)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
