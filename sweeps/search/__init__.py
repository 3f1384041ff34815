"""The search space: Hydra's sweep grammar parsed into Optuna distributions."""

from sweeps.search._custom import CustomSearchSpace
from sweeps.search._space import Condition, Param, SearchSpace, parse_search_space

__all__ = ["Condition", "CustomSearchSpace", "Param", "SearchSpace", "parse_search_space"]
