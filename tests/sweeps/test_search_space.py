"""Hydra sweep grammar -> Optuna distributions, conditions, and trial values -> overrides."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeps.search import SearchSpace, parse_search_space
from sweeps.search._space import format_value
from trainer.errors import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def dist(line: str):
    return parse_search_space({}, [line]).params[0].distribution


def test_range_excludes_stop_like_hydra():
    # range(16, 129, 16) is 16..128: Hydra's stop is exclusive, so 129 must not become the high
    assert dist("batch_size=range(16,129,16)") == IntDistribution(16, 128, step=16)
    assert dist("n=range(1,10)") == IntDistribution(1, 9)
    # an exact multiple is excluded too: range(0, 10, 5) holds 0 and 5 only
    assert dist("n=range(0,10,5)") == IntDistribution(0, 5, step=5)


def test_range_with_negative_step_and_floats():
    # a descending range covers the same set; a float range keeps its grid
    assert dist("n=range(5,0,-2)") == IntDistribution(1, 5, step=2)
    d = dist("f=range(0.1,0.5,0.1)")
    assert isinstance(d, FloatDistribution)
    assert (d.low, d.high, d.step) == (0.1, 0.4, 0.1)


def test_empty_range_is_a_config_error():
    # range(5, 5) holds nothing: say so instead of sampling an empty distribution
    with pytest.raises(ConfigError, match="n: expected a range holding at least one value"):
        parse_search_space({}, ["n=range(5,5)"])


def test_interval_and_log_scale():
    # interval -> uniform float; tag(log, interval) -> log-uniform; tag(log, range) -> log int
    assert dist("p=interval(0.0,0.5)") == FloatDistribution(0.0, 0.5)
    assert dist("lr=tag(log, interval(1e-4, 1e-1))") == FloatDistribution(1e-4, 0.1, log=True)
    assert dist("w=tag(log, range(16, 257))") == IntDistribution(16, 256, log=True)


def test_log_scale_rejects_non_positive_low_and_unknown_tags():
    # log(0) is undefined; a tag Optuna cannot honour must not be ignored silently
    with pytest.raises(ConfigError, match="log interval with low > 0"):
        parse_search_space({"lr": "tag(log, interval(0, 1))"})
    with pytest.raises(ConfigError, match="tags among log"):
        parse_search_space({"lr": "tag(fast, interval(0.1, 1))"})


def test_choice_of_lists_maps_to_primitive_choices_and_back():
    # Optuna categoricals must be primitives: lists are stored as their override text
    space = parse_search_space({"model.hidden": "choice([64],[128,64],[256,128,64])"})
    d = space.params[0].distribution
    assert d == CategoricalDistribution(["[64]", "[128,64]", "[256,128,64]"])
    assert space.overrides({"model.hidden": "[128,64]"}) == ["model.hidden=[128,64]"]


def test_primitive_choices_keep_their_type():
    # ints stay ints (TPE compares them), booleans print as Hydra reads them
    space = parse_search_space({"b": "choice(32,64)", "flag": "choice(true,false)"})
    assert space.params[0].distribution.choices == (32, 64)
    assert space.overrides({"b": 64, "flag": False}) == ["b=64", "flag=false"]


def test_simple_comma_list_is_a_choice():
    # Hydra's `a,b` form is the same sweep as choice(a,b)
    assert dist("optimizer=sgd,adam") == CategoricalDistribution(["sgd", "adam"])


def test_fixed_values_pass_through_and_command_line_wins():
    # non-sweep entries are applied to every trial; a CLI entry replaces a params entry
    space = parse_search_space(
        {"epochs": 20, "batch_size": "choice(16,32)", "model.hidden": [64, 32]},
        ["batch_size=64", "optimizer.lr=interval(0.01, 0.1)"],
    )
    assert [p.name for p in space.params] == ["optimizer.lr"]
    assert space.fixed == ("epochs=20", "model.hidden=[64, 32]", "batch_size=64")


def test_nested_params_are_flattened_with_dots():
    # hydra.sweeper.params.optimizer.lr=... arrives nested; it is the key optimizer.lr
    space = parse_search_space({"optimizer": {"lr": "interval(0.01, 0.1)"}})
    assert space.params[0].name == "optimizer.lr"


def test_bad_grammar_names_the_key():
    # a typo must point at the key, in one line
    with pytest.raises(ConfigError, match=r"hydra.sweeper.params.optimizer.lr: expected a Hydra"):
        parse_search_space({"optimizer.lr": "interval(0.1"})


def test_floats_always_read_back_as_floats():
    # 1.0 printed as "1" would reach the config as an int
    assert format_value(1.0) == "1.0"
    assert format_value(1e-5) == "1e-05"
    assert format_value(0.1 + 0.2) == repr(0.1 + 0.2)


def test_float_grid_values_print_cleanly():
    # a step of 0.1 gives 0.3 in the override, not 0.30000000000000004
    space = parse_search_space({"f": "range(0.1,0.5,0.1)"})
    assert space.overrides({"f": 0.1 + 0.1 + 0.1}) == ["f=0.3"]


def sample(space: SearchSpace, n: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return out


def momentum_space(conditions: dict | None = None) -> SearchSpace:
    return parse_search_space(
        {"optimizer.momentum": "interval(0.5, 0.99)",  # declared before its parent on purpose
         "optimizer": "choice(sgd, momentum, adam)",
         "optimizer.lr": "tag(log, interval(1e-4, 1e-1))"},
        conditions=conditions if conditions is not None
        else {"optimizer.momentum": "optimizer=momentum"},
    )


def test_conditional_param_exists_only_for_its_parent_value():
    # optimizer.momentum is sampled (and overridden) only when optimizer=momentum
    space = momentum_space()
    assert [p.name for p in space.params][:2] == ["optimizer", "optimizer.momentum"]
    draws = sample(space, 30)
    assert {d["optimizer"] for d in draws} == {"sgd", "momentum", "adam"}
    for values in draws:
        assert ("optimizer.momentum" in values) == (values["optimizer"] == "momentum")
        overrides = space.overrides(values)
        assert any(o.startswith("optimizer.momentum=") for o in overrides) == (
            values["optimizer"] == "momentum")


def test_condition_with_several_parent_values():
    # "parent=a,b": the child exists for either value
    space = momentum_space({"optimizer.momentum": "optimizer=momentum,sgd"})
    for values in sample(space, 20):
        assert ("optimizer.momentum" in values) == (values["optimizer"] in ("momentum", "sgd"))


@pytest.mark.parametrize("condition", ["optimizer.nesterov=true", "optimizer.nesterov=True",
                                       "optimizer.nesterov=choice(true)"])
def test_condition_on_a_boolean_parent(condition):
    # `true` names the parent's True choice however it is written
    space = parse_search_space(
        {"optimizer.nesterov": "choice(true, false)", "optimizer.momentum": "interval(0.5, 0.9)"},
        conditions={"optimizer.momentum": condition},
    )
    draws = sample(space, 20)
    assert {d["optimizer.nesterov"] for d in draws} == {True, False}
    for values in draws:
        assert ("optimizer.momentum" in values) == values["optimizer.nesterov"]


def test_conditions_are_checked():
    # unknown child, unknown parent value, a non-categorical parent and a cycle are all errors
    with pytest.raises(ConfigError, match="conditions.nope"):
        momentum_space({"nope": "optimizer=momentum"})
    with pytest.raises(ConfigError, match="values of optimizer among sgd, momentum, adam"):
        momentum_space({"optimizer.momentum": "optimizer=nesterov"})
    with pytest.raises(ConfigError, match="a parent searched with choice"):
        momentum_space({"optimizer.momentum": "optimizer.lr=0.1"})
    with pytest.raises(ConfigError, match="without a cycle"):
        parse_search_space({"a": "choice(x,y)", "b": "choice(x,y)"},
                           conditions={"a": "b=x", "b": "a=x"})


def test_grid_needs_discrete_unconditional_params():
    # the grid sampler enumerates values: continuous or conditional params cannot be gridded
    space = parse_search_space({"a": "choice(x,y)", "b": "range(1,4)", "f": "range(0.1,0.3,0.1)"})
    assert space.grid() == {"a": ["x", "y"], "b": [1, 2, 3], "f": [0.1, 0.2]}
    assert space.grid_size() == 12
    with pytest.raises(ConfigError, match="grid sampler"):
        parse_search_space({"lr": "interval(0.1, 1)"}).grid()
    with pytest.raises(ConfigError, match="conditional"):
        momentum_space().grid()


def test_signature_follows_space_and_fixed_overrides():
    # the default study name resumes the same command and separates a changed one
    a = parse_search_space({"x": "interval(0, 1)"}, ["epochs=5"])
    assert a.signature() == parse_search_space({"x": "interval(0, 1)"}, ["epochs=5"]).signature()
    assert a.signature() != parse_search_space({"x": "interval(0, 2)"}, ["epochs=5"]).signature()
    assert a.signature() != parse_search_space({"x": "interval(0, 1)"}, ["epochs=6"]).signature()


def test_retried_trial_reuses_its_values():
    # a crashed trial re-enqueued with its params must run with exactly those params
    space = momentum_space()
    study = optuna.create_study()
    study.enqueue_trial({"optimizer": "momentum", "optimizer.momentum": 0.7,
                         "optimizer.lr": 0.01})
    values = space.suggest(study.ask())
    assert values == {"optimizer": "momentum", "optimizer.momentum": 0.7, "optimizer.lr": 0.01}


def test_glob_searches_the_options_of_a_config_group():
    # glob(*) over a group lists its options through Hydra's config loader
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        space = parse_search_space({"optimizer": "glob(*,exclude=rmsprop)"}, config_loader=loader)
    assert space.params[0].distribution == CategoricalDistribution(["adam", "momentum", "sgd"])
