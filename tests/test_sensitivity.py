"""nestmix.evidence.sensitivity: evidences under wider and narrower priors by reweighting, checked
against runs made with those priors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nestmix
from nestmix.errors import PriorError
from nestmix.evidence.sensitivity import prior_sensitivity, scaled_prior
from nestmix.priors.defaults import default_priors

PRIORS = {"mean": {"dist": "norm", "loc": 20, "scale": 10},
          "sigma": {"dist": "loguniform", "a": 0.5, "b": 20}}


def test_scaled_priors_keep_their_centres():
    assert scaled_prior({"dist": "uniform", "loc": 1, "scale": 4}, 2) == {
        "dist": "uniform", "loc": -1.0, "scale": 8.0}
    wide = scaled_prior({"dist": "loguniform", "a": 0.1, "b": 10}, 2)
    assert wide["a"] == pytest.approx(0.01) and wide["b"] == pytest.approx(100)
    assert scaled_prior({"dist": "normal", "loc": 3, "scale": 2}, 0.5) == {
        "dist": "norm", "loc": 3.0, "scale": 1.0}
    assert scaled_prior([{"dist": "norm", "loc": 0, "scale": 1}, 2.0], 3) == [
        {"dist": "norm", "loc": 0.0, "scale": 3.0}, 2.0]
    with pytest.raises(PriorError, match="width factor must be a positive number"):
        scaled_prior({"dist": "norm", "loc": 0, "scale": 1}, 0)


def test_wider_uniform_means_cost_exactly_ln_two_each():
    rng = np.random.default_rng(0)
    data = nestmix.Measurements.from_arrays(rng.normal(size=(40, 2)), columns=["a", "b"])
    spec = nestmix.ModelSpec(covariance="diag", priors={
        "mean": {"dist": "uniform", "loc": -3, "scale": 6},
        "sigma": {"dist": "loguniform", "a": 0.1, "b": 5}})
    model = spec.build(data, k=2)
    theta = model.prior_transform(rng.random((300, model.ndim)))
    weights = np.full(300, 1 / 300)
    for factor, n_scaled in ((2.0, 4), (2.0, 4)):
        result = prior_sensitivity(model, theta, weights, logz=-10.0, factor=factor)
        # the log-uniform widths change too: remove their part by hand
        sig = theta[:, [n.startswith("sigma") for n in model.param_names]]
        wide = math.log(2 * math.log(50))  # ln of the doubled ln-width
        expected_sigma = np.log(np.mean(np.exp(np.sum(
            -np.log(sig) - wide + np.log(sig) + math.log(math.log(50)), axis=1))))
        assert result.shift == pytest.approx(-n_scaled * math.log(2) + expected_sigma)
        assert result.reliable and result.n_effective == pytest.approx(300)


@pytest.fixture(scope="module")
def galaxies():
    return nestmix.datasets.load("galaxies").measurements(scale=1e-3)


def run(data, priors, seed):
    model = nestmix.ModelSpec(priors=priors).build(data, k=1)
    return model, nestmix.get_sampler("dynesty").run(model, {"nlive": 300}, seed=seed)


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_reweighted_evidence_matches_a_run_with_the_scaled_priors(galaxies, factor):
    model, base = run(galaxies, PRIORS, seed=3)
    estimate = prior_sensitivity(model, base.samples, base.weights, base.logz, factor)
    assert estimate.reliable
    scaled = {key: scaled_prior(spec, factor) for key, spec in PRIORS.items()}
    _, direct = run(galaxies, scaled, seed=4)
    assert abs(estimate.logz - direct.logz) < 3 * math.hypot(base.logz_err, direct.logz_err)
    assert abs(estimate.shift) > 0.3  # the priors matter enough for the check to mean something


@pytest.mark.slow  # two runs each, 12-15 s on a loaded core
@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_the_default_priors_normal_means_reweight_as_a_run_with_them_scaled(galaxies, factor):
    """The default mean prior is Richardson & Green's N(midrange, R²): scaling it keeps the
    midrange and scales R, and the reweighted evidence matches a run with the scaled priors."""
    defaults = default_priors(galaxies)
    assert defaults["mean"]["dist"] == "norm"
    model, base = run(galaxies, defaults, seed=5)
    estimate = prior_sensitivity(model, base.samples, base.weights, base.logz, factor)
    assert estimate.reliable
    scaled = {key: scaled_prior(spec, factor) if key in ("mean", "sigma") else spec
              for key, spec in defaults.items()}
    assert scaled["mean"] == {"dist": "norm", "loc": defaults["mean"]["loc"],
                              "scale": defaults["mean"]["scale"] * factor}
    _, direct = run(galaxies, scaled, seed=6)
    assert abs(estimate.logz - direct.logz) < 3 * math.hypot(base.logz_err, direct.logz_err)
    assert abs(estimate.shift) > 0.3
