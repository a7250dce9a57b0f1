"""The optimiser's cross-check (nestmix.evidence.optimum): the maximum log-likelihood without
sampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from nestmix.data.measurements import Measurements
from nestmix.evidence.optimum import (
    Optimum,
    deficit_threshold,
    maximum_log_likelihood,
    mode_deficit,
)
from nestmix.model.spec import ModelSpec


def _clusters_with_errors(seed: int, background: int = 0):
    """Three correlated 2-D clusters observed with per-point errors, plus a flat background."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 7.0]])
    covs = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, -0.2], [-0.2, 0.8]],
                     [[1.5, 0.0], [0.0, 0.3]]])
    sizes = (120, 80, 60)
    truth = np.concatenate([rng.multivariate_normal(m, c, n)
                            for m, c, n in zip(means, covs, sizes, strict=True)])
    field = rng.uniform([-4, -4], [10, 11], size=(background, 2))
    truth = np.concatenate([truth, field])
    errors = rng.uniform(0.1, 0.5, size=truth.shape)
    observed = truth + rng.normal(size=truth.shape) * errors
    weights = np.array(sizes + ((background,) if background else ()), dtype=float)
    return observed, errors, weights / weights.sum(), means, covs


def _independent_log_likelihood(y, errors, weights, means, covs, log_bg=None):
    """Σ_i log Σ_k w_k N(y_i | μ_k, V_k + S_i) [+ w_bg U], with scipy's normal densities."""
    terms = []
    for w, m, c in zip(weights, means, covs, strict=False):
        terms.append(np.log(w) + np.array([
            multivariate_normal(m, c + np.diag(e**2)).logpdf(point)
            for point, e in zip(y, errors, strict=True)]))
    if log_bg is not None:
        terms.append(np.log(weights[-1]) + log_bg)
    return float(logsumexp(np.array(terms), axis=0).sum())


def _spec(covariance: str = "full", background: str = "none", order: str = "none") -> ModelSpec:
    return ModelSpec(covariance=covariance, background=background, order=order, priors={
        "mean": {"dist": "norm", "loc": 3, "scale": 10},
        "variance": {"dist": "invgamma", "a": 2, "scale": 1}})


def test_the_optimum_beats_the_true_parameters_and_is_the_models_own_likelihood():
    y, errors, weights, means, covs = _clusters_with_errors(seed=3)
    data = Measurements.from_arrays(y, errors=errors)
    model = _spec().build(data, 3)
    optimum = maximum_log_likelihood(model)
    truth = _independent_log_likelihood(y, errors, weights, means, covs)
    assert optimum is not None and optimum.method == "xd-em"
    # the maximum likelihood is above the truth by about χ²_ndim / 2 (ndim 17): not below it,
    # and not absurdly far above it (which would mean a wrong likelihood)
    assert truth <= optimum.log_likelihood < truth + 40
    assert optimum.log_likelihood == pytest.approx(model.log_likelihood(optimum.theta), abs=1e-9)


def test_with_a_background_the_optimum_uses_the_models_background_density():
    y, errors, weights, means, covs = _clusters_with_errors(seed=4, background=40)
    data = Measurements.from_arrays(y, errors=errors)
    model = _spec(background="uniform").build(data, 3)
    optimum = maximum_log_likelihood(model)
    truth = _independent_log_likelihood(y, errors, weights, means, covs,
                                        log_bg=model._log_background)
    assert truth <= optimum.log_likelihood < truth + 40


@pytest.mark.parametrize("covariance", ["diag", "spherical", "tied"])
def test_constrained_covariance_families_reach_at_least_a_fitted_point(covariance):
    """In the restricted families the optimum is above the family's own EM start (k-means
    shares), and the θ it returns is one the family can take (finite likelihood)."""
    y, errors, *_ = _clusters_with_errors(seed=5)
    data = Measurements.from_arrays(y, errors=errors)
    model = _spec(covariance).build(data, 3)
    optimum = maximum_log_likelihood(model)
    one = maximum_log_likelihood(_spec(covariance).build(data, 1))
    assert np.isfinite(optimum.log_likelihood)
    # three clusters fit far better than one whatever the family
    assert optimum.log_likelihood > one.log_likelihood + 100


def test_without_errors_the_optimum_matches_scikit_learns_em():
    from sklearn import mixture as sklearn_mixture  # a core dependency of nestmix
    y, _, *_ = _clusters_with_errors(seed=6)
    data = Measurements.from_arrays(y)
    model = _spec().build(data, 3)
    optimum = maximum_log_likelihood(model)
    fit = sklearn_mixture.GaussianMixture(3, covariance_type="full", n_init=5, reg_covar=1e-9,
                                          tol=1e-8, random_state=0).fit(y)
    reference = float(fit.score(y) * len(y))
    assert optimum.log_likelihood == pytest.approx(reference, abs=0.05)


def test_ordered_means_get_a_theta_in_the_order_the_prior_draws():
    y, errors, *_ = _clusters_with_errors(seed=7)
    data = Measurements.from_arrays(y, errors=errors)
    exchangeable = maximum_log_likelihood(_spec().build(data, 3))
    model = _spec(order="means").build(data, 3)
    ordered = maximum_log_likelihood(model)
    first_axis = model.expand(ordered.theta).means[0, :, 0]
    assert np.all(np.diff(first_axis) > 0)
    assert ordered.log_likelihood == pytest.approx(exchangeable.log_likelihood, abs=1e-6)


def test_a_run_far_below_the_optimum_is_a_missed_mode():
    optimum = Optimum(log_likelihood=-180.2, theta=np.zeros(44), method="xd-em", starts=8,
                      calls=1)
    assert deficit_threshold(44) == 22.0 and deficit_threshold(4) == 5.0
    assert mode_deficit(-220.9, optimum, 44) == pytest.approx(40.7)
    assert mode_deficit(-190.0, optimum, 44) is None  # within ndim / 2 of the peak
    assert mode_deficit(-220.9, None, 44) is None


@pytest.mark.slow
def test_a_run_that_misses_the_main_mode_is_marked_and_the_escalation_recovers_it(tmp_path):
    """Three clusters and a small, tight one far away; K = 4 at 8 live points never finds the
    far cluster (its best log-likelihood ~260 nats below the optimum). The optimiser's
    cross-check marks the row and escalates it; the deeper runs find the mode."""
    import json
    import warnings

    from nestmix.store.convergence import CONVERGENCE
    from nestmix.sweep import SweepPlan, run_sweep

    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [30, 0], [0, 30]])
    y = np.concatenate([rng.normal(c, 1.0, (60, 2)) for c in centres]
                       + [rng.normal([100, 100], 0.3, (12, 2))])
    data = Measurements.from_arrays(y, errors=np.full_like(y, 0.1))
    plan = SweepPlan(name="missed", data=data, spec=ModelSpec(covariance="full"),
                     k_values=(4,), settings={"nlive": 8}, seed=1, escalate=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dynesty: "nlive <= 2 * ndim is extremely risky"
        result = run_sweep(plan, tmp_path / "missed", n_jobs=1)
    record = json.loads((tmp_path / "missed" / CONVERGENCE).read_text())["rows"]["K=4 dynesty"]
    (row,) = result.rows
    assert record["extra_runs"] >= 1
    first = (tmp_path / "missed" / "K=4" / "dynesty" / "manifest.json")
    optimum = json.loads(first.read_text())["summary"]["optimum"]
    assert optimum["deficit"] is not None and optimum["deficit"] > 100  # the first run missed
    # the deeper run(s) found the far cluster: the row is judged on them and is clean
    assert row.mode_deficit is None and row.escalations == record["extra_runs"]
    assert row.optimum_logl - row.best_logl < 10
    assert not any("missed the main mode" in w for w in row.warnings)
