"""The dynesty adapter: settings, result type, and evidences against closed forms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from nestmix import Measurements, ModelSpec, NestedRun, available_samplers, get_sampler
from nestmix.errors import SamplerError


def analytic_logz(y, point_var, known_var, mu0, tau):
    """ln Z for y_i ~ N(mu, known_var + s_i^2), mu ~ N(mu0, tau^2): y is jointly Gaussian."""
    cov = np.diag(known_var + point_var) + tau**2 * np.ones((len(y), len(y)))
    return stats.multivariate_normal(np.full(len(y), mu0), cov).logpdf(y)


def tolerance(run: NestedRun) -> float:
    return 3 * max(run.logz_err, 0.05)


@pytest.fixture(scope="module")
def gaussian_case():
    rng = np.random.default_rng(7)
    y = rng.normal(1.5, 1.0, size=50)
    return y


@pytest.mark.parametrize("dynamic", [False, True])
def test_evidence_of_known_sigma_gaussian(gaussian_case, dynamic):
    """Acceptance (a): 1-D Gaussian, known σ, normal prior on μ, closed-form evidence."""
    y = gaussian_case
    data = Measurements.from_arrays(y)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": 1.0}).build(data, 1)
    settings = {"nlive": 300, "dynamic": dynamic}
    if dynamic:
        settings["maxbatch"] = 2
    run = get_sampler("dynesty").run(model, settings, seed=11)
    expected = analytic_logz(y, np.zeros_like(y), 1.0, 0.0, 3.0)
    assert abs(run.logz - expected) < tolerance(run), (run.logz, expected, run.logz_err)
    assert run.ncall > 0 and run.seconds > 0
    ns = run.to_anesthetic()
    assert abs(float(ns.logZ()) - run.logz) < 0.1


def test_evidence_with_per_point_errors_deconvolved():
    """Heteroscedastic errors: y_i ~ N(μ, σ² + s_i²) against the closed form."""
    rng = np.random.default_rng(3)
    s = rng.uniform(0.2, 1.5, size=60)
    y = rng.normal(-2.0, np.sqrt(0.7**2 + s**2))
    data = Measurements.from_arrays(y, errors=s)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                              "sigma": 0.7}).build(data, 1)
    run = get_sampler("dynesty").run(model, {"nlive": 300}, seed=5)
    expected = analytic_logz(y, s**2, 0.7**2, 0.0, 5.0)
    assert abs(run.logz - expected) < tolerance(run)


def test_same_seed_same_run(gaussian_case):
    data = Measurements.from_arrays(gaussian_case)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": 1.0}).build(data, 1)
    a = get_sampler("dynesty").run(model, {"nlive": 50}, seed=2)
    b = get_sampler("dynesty").run(model, {"nlive": 50}, seed=2)
    c = get_sampler("dynesty").run(model, {"nlive": 50}, seed=3)
    assert a.logz == b.logz and a.ncall == b.ncall
    assert a.logz != c.logz


def test_run_round_trips_through_disk(tmp_path, gaussian_case):
    data = Measurements.from_arrays(gaussian_case)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": {"dist": "halfnorm", "scale": 3}}).build(data, 1)
    run = get_sampler("dynesty").run(model, {"nlive": 50}, seed=1)
    run.save(tmp_path)
    back = NestedRun.load(tmp_path)
    assert back.param_names == ("mu_1", "sigma")
    np.testing.assert_array_equal(back.samples, run.samples)
    np.testing.assert_array_equal(back.nlive, run.nlive)
    assert back.logz == run.logz and back.settings == run.settings
    with pytest.raises(ValueError):
        back.samples[0, 0] = 1.0  # immutable
    mean, std = run.logz_simulated(nsamples=100)
    assert abs(mean - run.logz) < 3 * max(std, 0.05)


def test_simulated_volumes_match_anesthetic_draw_for_draw(gaussian_case):
    """nestmix writes anesthetic's simulated-volume ln Z out (a worker then need not import
    anesthetic): same draws, same numbers, also for a run of one sample and of two."""
    data = Measurements.from_arrays(gaussian_case)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": 1.0}).build(data, 1)
    full = get_sampler("dynesty").run(model, {"nlive": 50}, seed=4)
    def first(n):
        return replace(full, logl=full.logl[:n], logwt=full.logwt[:n], nlive=full.nlive[:n],
                       samples=full.samples[:n], samples_u=None)

    for run in (full, first(1), first(2)):
        ours = run.logz_simulated(nsamples=150, seed=11)
        np.random.seed(11)  # noqa: NPY002 (anesthetic draws from the global generator)
        theirs = np.asarray(run.to_anesthetic().logZ(150), dtype=float)
        np.testing.assert_allclose(ours, (theirs.mean(), theirs.std()), rtol=0, atol=1e-12)
    assert ours != full.logz_simulated(nsamples=150, seed=12)


def test_unknown_sampler_lists_the_known_ones():
    with pytest.raises(SamplerError, match=r"unknown sampler 'dynasty'; did you mean "
                                           r"'dynesty'\? \(available: dynesty"):
        get_sampler("dynasty")
    assert "dynesty" in available_samplers()


@pytest.mark.parametrize(("settings", "match"), [
    ({"nlve": 100}, r"unknown dynesty setting 'nlve' \(did you mean 'nlive'\?\); valid "
                    r"settings: .*nlive"),
    ({"nlive": "many"}, "'nlive' must be int, got 'many'"),
    ({"nlive": True}, "'nlive' must be int"),
    ({"nlive": 1}, "'nlive' must be at least 2"),
    ({"sample": "hslice"}, "'sample' must be one of auto, unif, rwalk, slice, rslice"),
    ({"bound": "ellipse"}, "'bound' must be one of"),
    ({"maxbatch": 3}, "'maxbatch' is only used with dynamic = true"),
    ({"dlogz": -1.0}, "'dlogz' must be positive"),
])
def test_bad_settings_are_rejected(settings, match):
    with pytest.raises(SamplerError, match=match):
        get_sampler("dynesty").validate(settings)


def test_defaults_are_filled_in():
    merged = get_sampler("dynesty").validate({"nlive": 100})
    assert merged["nlive"] == 100 and merged["sample"] == "slice"
