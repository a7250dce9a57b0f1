"""The bridge across two runs of one model (nestmix.evidence.bridge.bridge_across_runs).

The proposal is fitted to one run's samples and the posterior side is the other run's, then
the roles swap. Against the quadrature evidences of ``tests/test_evidence_bridge.py`` it
agrees within its error for exchangeable and ordered labels and in the unit cube, from runs of
different lengths; where a single run's draws come in clumps, so that the split inside one
run is biased low (``tests/test_bridge_reliability.py``), two independent runs are not; runs
of different models are refused.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import nestmix
from nestmix import Measurements, ModelSpec
from nestmix.errors import ModelError
from nestmix.evidence.bridge import BridgeEstimate, bridge_across_runs, bridge_evidence
from nestmix.samplers.polychord.install import BoxGaussian
from tests.benchmark_scripts import benchmark_scripts
from tests.conftest import TOY_PRIORS, toy_values
from tests.test_bridge_reliability import K4_CASES, _clumped
from tests.test_evidence_bridge import MAX_ERR, _dynesty, _two_component_quadrature
from tests.test_evidence_check import _quadrature_logz

FIXED_SIGMA = {"mean": {"dist": "norm", "loc": 0, "scale": 5}, "sigma": 0.7}


def _within(estimate: BridgeEstimate, reference: float, errors: float,
            reference_err: float = 0.0) -> None:
    assert estimate.usable and estimate.logZ_err < MAX_ERR, estimate
    sigma = math.hypot(estimate.logZ_err, reference_err)
    assert abs(estimate.logZ - reference) < errors * sigma, (estimate.logZ, reference, sigma)


@pytest.mark.parametrize("order, permutations", [("none", 2), ("means", 1)])
def test_two_components_against_quadrature(order, permutations):
    """K = 2, σ fixed, against the 3-D quadrature (the ordered prior has the same Z): two
    runs with different seeds and live points (so different numbers of samples)."""
    y = toy_values(20)
    model = ModelSpec(priors=FIXED_SIGMA, order=order).build(Measurements.from_arrays(y), 2)
    run_a, run_b = _dynesty(model, 150, 3), _dynesty(model, 250, 4)
    assert len(run_a.logl) != len(run_b.logl)
    estimate = bridge_across_runs(model, run_a, run_b, np.random.default_rng(0))
    assert estimate is not None and estimate.permutations == permutations
    _within(estimate, _two_component_quadrature(y, 0.7), 3)
    assert estimate.likelihood_calls <= estimate.proposal_draws == 2000
    assert estimate.posterior_draws == 2000
    assert math.isfinite(estimate.err_importance) and estimate.err_weights > 0


def test_the_unit_cube_across_runs():
    """A problem outside nestmix's priors (PolyChord's box Gaussian, Z = 1/400): bridged in
    logit(u) across two runs; a run without unit-cube samples gives None."""
    problem = BoxGaussian()
    run_a, run_b = _dynesty(problem, 150, 1), _dynesty(problem, 250, 2)
    estimate = bridge_across_runs(problem, run_a, run_b, np.random.default_rng(0))
    assert estimate is not None and estimate.space == "unit cube"
    _within(estimate, problem.logz, 3)
    assert bridge_across_runs(problem, run_a, replace(run_b, samples_u=None)) is None


def test_independent_clumped_runs_are_not_biased_like_one_clumped_run():
    """Toy K = 1 against its quadrature, two runs each thinned to 40 draws repeated 100
    times (a valid but clumped sample), four thinnings: the split inside either run is low
    by 0.3-0.55 nats (its error, through the importance gap, says so); across the two runs
    the estimates scatter about the quadrature within 3 errors, with errors several times
    smaller. (Those errors count the repeated draws as independent — 40 distinct ones behind
    1000 posterior draws — and are somewhat optimistic here: over 12 thinnings the rms of
    (estimate − quadrature) / error was 1.4.)"""
    model = ModelSpec(priors=TOY_PRIORS).build(Measurements.from_arrays(toy_values(60)), 1)
    exact = _quadrature_logz(model)
    runs = [_dynesty(model, 200, seed) for seed in (5, 6)]
    same_bias, across_bias = [], []
    for thinning in range(4):
        clumped = [_clumped(run, 40, 100, np.random.default_rng(10 * thinning + i))
                   for i, run in enumerate(runs)]
        same = [bridge_evidence(model, run, np.random.default_rng(0)) for run in clumped]
        across = bridge_across_runs(model, *clumped, np.random.default_rng(0))
        assert across is not None
        for one in same:
            assert exact - one.logZ > 0.25 and one.err_importance > 0.25, one
            assert across.logZ_err < one.logZ_err / 2.5, (across, one)
        _within(across, exact, 3)
        same_bias += [one.logZ - exact for one in same]
        across_bias.append(across.logZ - exact)
    assert np.mean(same_bias) < -0.3 and abs(np.mean(across_bias)) < 0.1, (same_bias,
                                                                            across_bias)


def test_runs_of_different_models_are_refused():
    """A K = 1 run and a K = 2 run of the same data: one line naming what differs; runs that
    do not fit the model: one line with the shapes."""
    data = Measurements.from_arrays(toy_values(20))
    one = ModelSpec(priors=FIXED_SIGMA).build(data, 1)
    two = ModelSpec(priors=FIXED_SIGMA).build(data, 2)
    run_one, run_two = _dynesty(one, 50, 1), _dynesty(two, 50, 1)
    with pytest.raises(ModelError, match="two runs of one model; their parameters differ") \
            as caught:
        bridge_across_runs(two, run_one, run_two)
    assert "\n" not in str(caught.value)
    with pytest.raises(ModelError, match=r"run A's samples have shape \(\d+, 1\)") as caught:
        bridge_across_runs(two, run_one, run_one)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="exchangeable labels"):
        bridge_across_runs(one, run_one, run_one, symmetrise=True)


@pytest.mark.slow
def test_exchangeable_k4_across_two_default_runs_is_unbiased_and_precise():
    """line4, K = 4, exchangeable labels (the calibration's case, reference agreed by two
    methods), two dynesty runs at their defaults (seeds 2 and 3): each run's own bridge is
    about 0.4 nats low with an error (mostly the importance gap) of about 0.4; across the
    two runs the estimate is within 2 combined errors of the reference, closer to it than
    either, with an error under a third of theirs. (Measured: −551.170 ± 0.399 and
    −551.180 ± 0.458 from each run, −550.741 ± 0.061 across them, reference −550.777.)"""
    problem, _, reference, reference_err = K4_CASES[0]
    assert problem == "line4"
    with benchmark_scripts("calibration") as loaded:
        model = loaded["calibration"].build(problem, 4)
    runs = [nestmix.get_sampler("dynesty").run(model, {}, seed=seed) for seed in (2, 3)]
    same = [bridge_evidence(model, run, np.random.default_rng(seed))
            for run, seed in zip(runs, (2, 3), strict=True)]
    across = bridge_across_runs(model, *runs, np.random.default_rng(0))
    assert across is not None and across.usable and across.permutations == 24
    sigma = math.hypot(across.logZ_err, reference_err)
    assert abs(across.logZ - reference) < 2 * sigma, (across.logZ, reference, sigma)
    for one in same:
        assert across.logZ_err < one.logZ_err / 3, (across.logZ_err, one.logZ_err)
        assert abs(across.logZ - reference) < abs(one.logZ - reference), (across, one)
    assert across.likelihood_calls <= 2_000
