"""The sweep's learning-curve picture shows every trial, pruned ones cut short and marked."""

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
