"""What a sweep's worker processes import before their first trial (the sweeper's ``preload`` key
in ``conf/hydra/sweeper/optuna.yaml``): the training app, the picture modules and the numba
kernels, compiled or loaded from numba's cache (0.5 s), once in the fork server they are forked
from instead of in every worker."""

import matplotlib.backends.backend_agg  # noqa: F401
import matplotlib.figure  # noqa: F401

import trainer.app  # noqa: F401
from trainer.core.kernels import warm_up

warm_up()
