"""The numerical core: networks, losses, optimizers, callbacks and the fit loop, in NumPy.

It imports nothing from Hydra, OmegaConf, MLflow, Optuna or matplotlib (a test pins that), so a
saved model predicts with the core alone. Modules: ``initializers``, ``activations``,
``losses``, ``penalties``, ``network`` (the MLP, forward and backward), ``optimizers`` with the
fused ``kernels``, ``callbacks`` (early stopping, progress), ``fit`` (the loop), ``metrics``,
``preprocessing`` (standardization saved with the model), ``dtypes``; ``parameters`` (what
each class's parameters accept, its ``PARAMETERS`` table) and ``errors`` (one-line errors that
name the parameter).
"""
