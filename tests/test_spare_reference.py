"""The parameter-space reference of ``benchmarks/spare_reference.py`` integrates the right prior.

It writes the ordered model's prior density by hand (K! × uniform means × log-uniform widths ×
LKJ × Dirichlet, in transformed coordinates), so the checks are that this density is the one
nestmix's prior transform draws from: with a flat likelihood the evidence is exactly 1
(ln Z = 0), and on a real likelihood it agrees with the logit-space reference of
``common.importance_reference``, which uses nestmix's own prior transform.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.benchmark_scripts import benchmark_scripts


@pytest.fixture(scope="module")
def modules():
    with benchmark_scripts("common", "spare_reference") as loaded:
        yield loaded


def _model(modules, k: int, **spec_changes):
    bench = modules["common"]
    spec = bench.nestmix_spec()
    if spec_changes:
        spec = dataclasses.replace(spec, **spec_changes)
    return spec.build(bench.make_problem(60, seed=2).measurements(), k)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_flat_likelihood_has_evidence_one(modules, k):
    """Z = ∫ π = 1: a wrong K!, Dirichlet or LKJ normalisation would move ln Z by ≥ ln 2."""
    sr = modules["spare_reference"]
    model = _model(modules, k)
    prior_draws = model.prior_transform(np.random.default_rng(k).uniform(size=(20_000,
                                                                                model.ndim)))
    ref = sr.spare_reference(model, prior_draws, seed=k, draws=20_000, batches=1,
                             max_components=3, log_likelihood=lambda t: np.zeros(len(t)))
    assert ref["ess"] > 500
    assert abs(ref["logz"]) < 4 * ref["logz_err"] + 1e-3, ref


def test_coordinates_round_trip(modules):
    sr = modules["spare_reference"]
    model = _model(modules, 3)
    layout = sr.Layout.of(model)
    theta = model.prior_transform(np.random.default_rng(0).uniform(size=(50, model.ndim)))
    np.testing.assert_allclose(layout.from_z(layout.to_z(theta)), theta, rtol=1e-10,
                               atol=1e-12)
    z = layout.to_z(theta)
    assert np.all(np.diff(z[:, :, 0], axis=1) > 0)  # nestmix orders the means by x
    assert np.all(np.isfinite(layout.prior_logpdf(z)))
    assert np.all(np.isneginf(layout.prior_logpdf(z[:, ::-1])))  # outside the ordered region


def test_canonical_puts_the_smallest_weight_last(modules):
    sr = modules["spare_reference"]
    z = np.zeros((1, 3, 6))
    z[0, :, 0] = [3.0, 1.0, 2.0]  # μ_x
    z[0, :, 5] = [0.0, -5.0, 1.0]  # log weight ratios: component 2 (μ_x = 1) is the spare
    np.testing.assert_array_equal(sr.canonical(z)[0, :, 0], [2.0, 3.0, 1.0])


def test_other_models_are_refused(modules):
    sr = modules["spare_reference"]
    with pytest.raises(ValueError, match="uniform background"):
        sr.Layout.of(_model(modules, 2, background="none", background_box=None))
    with pytest.raises(ValueError, match="ordered means"):
        sr.Layout.of(_model(modules, 2, order="none"))


@pytest.mark.slow
def test_it_agrees_with_the_logit_space_reference(modules):
    """On a real likelihood (K = 2, 60 points), against ``common.importance_reference``
    (nestmix's prior transform, modes by optimisation): within four combined errors."""
    from nestmix import get_sampler

    sr = modules["spare_reference"]
    model = _model(modules, 2)
    run = get_sampler("dynesty").run(model, {"nlive": 300}, 3)
    mine = sr.spare_reference(model, sr.posterior_draws(run, 5_000, np.random.default_rng(0)),
                              draws=50_000, batches=1, max_components=4)
    other = modules["common"].importance_reference(model, n=50_000, rounds=1, starts=12)
    assert mine["ess"] > 1000 and other["ess"] > 1000
    combined = np.hypot(mine["logz_err"], other["logz_err"])
    assert abs(mine["logz"] - other["logz"]) < 4 * combined + 1e-3, (mine, other)


def test_pareto_khat_tells_light_from_heavy_tailed_weights(modules):
    """k̂ (PSIS) below 0.5 for weights of a proposal that matches its target, above 0.7 for
    Pareto(1.2) weights (k = 1 / 1.2: infinite variance), the case it is reported to catch."""
    sr = modules["spare_reference"]
    rng = np.random.default_rng(0)
    light = rng.normal(0, 0.3, 20_000)  # log weights: nearly constant weights
    heavy = np.log(rng.pareto(1.2, 20_000) + 1)
    assert sr.pareto_khat(light) < 0.5
    assert sr.pareto_khat(np.concatenate([heavy, [-np.inf] * 10])) > 0.7  # -inf: no weight
