"""The search space: Hydra's sweep grammar parsed into Optuna distributions."""
