"""The sweep's learning-curve picture shows every trial, pruned ones cut short and marked."""

import subprocess
import sys

import optuna
from optuna.trial import TrialState

from sweeps.tracking._plots import learning_curves_of_trials


def make_study() -> optuna.Study:
    study = optuna.create_study(direction="minimize")
    for number, (length, state) in enumerate([(10, TrialState.COMPLETE),
                                              (3, TrialState.PRUNED),
                                              (10, TrialState.COMPLETE)]):
        trial = study.ask()
        for epoch in range(1, length + 1):
            trial.report(1.0 / (epoch + number), epoch)
        if state == TrialState.PRUNED:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, 1.0 / (length + number))
    return study


def test_states_are_counted_and_the_best_trial_is_drawn():
    figure = learning_curves_of_trials(make_study(), metric="val_loss")
    axes = figure.axes[0]
    assert axes.get_title() == "Learning curves of 3 trials (2 complete, 1 pruned)"
    assert axes.get_ylabel() == "val_loss"
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels == ["complete", "pruned", "best (trial 2)"]
    # the pruned curve stops at epoch 3 and carries a cross there
    crosses = [line for line in axes.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [3]


_AFTER_A_BROKEN_IMPORT = """
import sys
import optuna
from sweeps.tracking._parent import log_study_artifacts

# an import of matplotlib that failed half-way (as an interrupt or an import deadlock leaves it):
# Python drops the package and keeps the submodules it had loaded
sys.modules["matplotlib._fontconfig_pattern"] = None
try:
    import matplotlib
except ImportError:
    pass
del sys.modules["matplotlib._fontconfig_pattern"]
assert "matplotlib" not in sys.modules and "matplotlib._api" in sys.modules


class Tracker:  # what log_study_artifacts writes, by name
    def __init__(self):
        self.names = []
    def log_figure(self, figure, name):
        self.names.append(name)
    def log_text(self, text, name):
        self.names.append(name)


optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.create_study()
study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=4)
tracker = Tracker()
print(sorted(log_study_artifacts(tracker, study, None)))
"""


def test_the_pictures_are_drawn_after_an_import_of_matplotlib_failed_half_way():
    # the Ctrl-C test once ended a sweep with "module 'matplotlib' has no attribute
    # 'get_data_path'" at its closing pictures; the pictures must survive an earlier failed import
    done = subprocess.run([sys.executable, "-c", _AFTER_A_BROKEN_IMPORT], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "optimization_history.png" in done.stdout and "best_trial.txt" in done.stdout
