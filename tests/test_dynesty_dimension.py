"""dynesty's slice rounds depend on the dimension: three up to ndim 11, one from 12 to 20,
three again above (set explicitly there)."""

from __future__ import annotations

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, get_sampler
from nestmix.samplers.dynesty.dimension import (
    MAX_NDIM_ONE_ROUND,
    MAX_NDIM_THREE_ROUNDS,
    for_dimension,
)

SLICE = {"sample": "slice", "bound": "single", "nlive": 500}


def test_runs_up_to_ndim_11_keep_their_settings():
    for ndim in (1, 5, MAX_NDIM_THREE_ROUNDS):
        assert for_dimension(SLICE, ndim) == SLICE  # nothing added: run.json unchanged
    assert for_dimension(SLICE, MAX_NDIM_THREE_ROUNDS + 1) == {**SLICE, "slices": 1}
    assert for_dimension(SLICE, MAX_NDIM_ONE_ROUND) == {**SLICE, "slices": 1}


def test_above_ndim_20_three_rounds_again_recorded_in_the_settings():
    for ndim in (MAX_NDIM_ONE_ROUND + 1, 24, 30, 60):
        assert for_dimension(SLICE, ndim) == {**SLICE, "slices": 3}


def test_given_settings_and_other_samplers_are_left_alone():
    assert for_dimension({**SLICE, "slices": 3}, 30)["slices"] == 3
    assert "slices" not in for_dimension({**SLICE, "sample": "rwalk"}, 30)
    assert "slices" not in for_dimension({**SLICE, "sample": "rslice"}, 30)


@pytest.mark.slow
def test_a_12_dimensional_run_uses_one_round_the_same_run_as_asked_for():
    rng = np.random.default_rng(3)
    values = np.vstack([rng.normal([-2, 0], 0.5, (20, 2)), rng.normal([2, 1], 0.5, (20, 2))])
    spec = ModelSpec(background="uniform", priors={
        "mean": {"dist": "uniform", "loc": -5, "scale": 10},
        "sigma": {"dist": "loguniform", "a": 0.1, "b": 3},
        "correlation": {"dist": "lkj", "eta": 1}})
    model = spec.build(Measurements.from_arrays(values), 2)
    assert model.ndim == 12
    dynesty = get_sampler("dynesty")
    default = dynesty.run(model, {"nlive": 40}, seed=5)
    assert default.settings["slices"] == 1
    asked = dynesty.run(model, {"nlive": 40, "slices": 1}, seed=5)
    assert (default.logz, default.ncall) == (asked.logz, asked.ncall)
    three = dynesty.run(model, {"nlive": 40, "slices": 3}, seed=5)
    assert three.ncall > 2 * default.ncall


def test_a_checkpoint_made_with_other_slice_rounds_starts_over():
    """A dynesty checkpoint restored into a run whose (resolved) rounds of slices differ, e.g.
    one an older nestmix wrote before a default rule changed, is not continued."""
    from types import SimpleNamespace

    import dynesty

    from nestmix.samplers.dynesty.adapter import _same_problem

    ndim = MAX_NDIM_THREE_ROUNDS + 3
    problem = SimpleNamespace(ndim=ndim)
    settings = for_dimension({**SLICE, "nlive": 40, "dynamic": False}, ndim)
    assert settings["slices"] == 1

    def made_with(slices: int):
        return dynesty.NestedSampler(lambda x: -0.5 * float(x @ x), lambda u: 2 * u - 1, ndim,
                                     nlive=40, sample="slice", slices=slices,
                                     rstate=np.random.default_rng(0))

    assert _same_problem(made_with(1), problem, settings)
    assert not _same_problem(made_with(3), problem, settings)
    assert not _same_problem(made_with(1), SimpleNamespace(ndim=ndim + 1), settings)
