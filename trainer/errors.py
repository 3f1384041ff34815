"""Errors a user can fix. Each message is one line naming the key or file, what was expected
and what was received; the command line prints it without a traceback.

The core's errors (``trainer.core.errors``) name a parameter; :class:`ConfigError`
(``runkit.errors``, shared with the sweeps) names the config key it came from. Every one of them
is a ``runkit.errors.UserError``.
"""

from __future__ import annotations

from runkit.errors import ConfigError, UserError
from trainer.core.errors import DataError, ParameterError, TrainerError, TrainingDiverged

__all__ = ["ConfigError", "DataError", "ParameterError", "TrainerError", "TrainingDiverged",
           "UserError"]
