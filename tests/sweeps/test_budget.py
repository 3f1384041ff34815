"""The trial budget shared by every process on a study: what counts against n_trials."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweeps.study import Budget, count_trials, counted_trials, within_budget
from sweeps.study._budget import SURPLUS_ATTR

X = {"x": FloatDistribution(0, 1)}


def trial(number: int, state: TrialState, *, user_attrs=None, system_attrs=None):
    made = create_trial(state=state, params={"x": 0.5}, distributions=X,
                        value=1.0 if state == TrialState.COMPLETE else None,
                        user_attrs=user_attrs, system_attrs=system_attrs)
    made.number = number
    return made


def test_finished_and_active_trials_count():
    # COMPLETE, PRUNED, FAIL, RUNNING and WAITING all use up the total
    trials = [trial(0, TrialState.COMPLETE), trial(1, TrialState.PRUNED),
              trial(2, TrialState.FAIL), trial(3, TrialState.RUNNING),
              trial(4, TrialState.WAITING)]
    budget = count_trials(trials, 6)
    assert (budget.complete, budget.pruned, budget.failed) == (1, 1, 1)
    assert (budget.running, budget.waiting) == (1, 1)
    assert budget.finished == 3 and budget.counted == 5 and budget.remaining == 1
    assert not budget.done and count_trials(trials[:3], 3).done


def test_retried_and_surplus_trials_do_not_count():
    # a crashed trial re-enqueued (its copy counts instead) and a surplus trial are left out
    trials = [trial(0, TrialState.FAIL), trial(1, TrialState.COMPLETE),
              trial(2, TrialState.FAIL, user_attrs={SURPLUS_ATTR: True}),
              trial(3, TrialState.WAITING,
                    system_attrs={"failed_trial": 0, "retry_history": [0]})]
    assert [t.number for t in counted_trials(trials)] == [1, 3]
    assert count_trials(trials, 2).failed == 0


def test_rank_decides_which_trial_is_within_the_budget():
    # with n_trials=2 and trial 0 finished, trial 1 may run and trial 2 (asked at once) may not
    trials = [trial(0, TrialState.COMPLETE), trial(1, TrialState.RUNNING),
              trial(2, TrialState.RUNNING)]
    assert within_budget(trials, 1, 2)
    assert not within_budget(trials, 2, 2)
    # once trial 1 is a surplus of another process, trial 2 ranks second again
    trials[1] = trial(1, TrialState.FAIL, user_attrs={SURPLUS_ATTR: True})
    assert within_budget(trials, 2, 2)


def test_failure_rate_waits_for_a_few_trials():
    # "most trials fail" needs at least 4 finished trials, then more than the rate
    assert not Budget(10, failed=3).too_many_failures(0.5)
    assert Budget(10, complete=1, failed=3).too_many_failures(0.5)
    assert not Budget(10, complete=2, failed=2).too_many_failures(0.5)
    assert not Budget(10, complete=1, failed=3).too_many_failures(0.8)


def test_counts_match_a_real_study():
    # the tally agrees with Optuna's own states on a study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.enqueue_trial({"x": 0.5})
    budget = count_trials(study.get_trials(), 5)
    assert (budget.complete, budget.waiting, budget.remaining) == (3, 1, 1)
