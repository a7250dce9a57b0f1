"""MixtureModel: parameters, prior transform and the deconvolved likelihood against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nestmix import Measurements, ModelSpec
from nestmix.errors import DataError, ModelError, PriorError

NORM = {"dist": "norm", "loc": 0, "scale": 3}
HALF = {"dist": "halfnorm", "scale": 2}


def brute_force_loglike(model, theta) -> float:
    """Per point, per component, with scipy.stats: the independent reference."""
    params = model.expand(theta)
    w, mu, cov = params.weights[0], params.means[0], params.covariances[0]
    values = np.asarray(model.data.values)
    point_cov = model.data.covariances
    total = 0.0
    for i, y in enumerate(values):
        s = np.zeros((len(y), len(y))) if point_cov is None else point_cov[i]
        p = sum(w[k] * stats.multivariate_normal(mu[k], cov[k] + s).pdf(y)
                for k in range(model.k))
        if model.has_background:
            p += w[-1] * np.exp(model.background.log_density)
        total += np.log(p)
    return total


def make_data(rng, n, d, errors=False, correlated=False):
    values = rng.normal(size=(n, d)) * 2 + np.arange(d)
    if not errors:
        return Measurements.from_arrays(values)
    err = rng.uniform(0.1, 0.8, size=(n, d))
    if correlated and d >= 2:
        corr = rng.uniform(-0.3, 0.3, size=(n, d * (d - 1) // 2))
        return Measurements.from_arrays(values, errors=err, correlations=corr)
    return Measurements.from_arrays(values, errors=err if d > 1 else err[:, 0])


@pytest.mark.parametrize(("d", "covariance", "errors", "background"), [
    (1, "full", False, "none"),
    (1, "full", True, "none"),
    (1, "tied", True, "uniform"),
    (2, "full", False, "none"),
    (2, "full", True, "uniform"),
    (2, "diag", True, "none"),
    (2, "spherical", False, "uniform"),
    (2, "tied", True, "none"),
    (3, "full", True, "none"),
    (3, "full", False, "uniform"),
])
def test_likelihood_matches_brute_force(rng, d, covariance, errors, background):
    data = make_data(rng, 40, d, errors=errors, correlated=True)
    spec = ModelSpec(covariance=covariance, background=background,
                     priors={"mean": NORM, "sigma": HALF})
    model = spec.build(data, 3)
    thetas = model.prior_transform(rng.uniform(size=(4, model.ndim)))
    batch = model.log_likelihood_batch(thetas)
    for theta, from_batch in zip(thetas, batch, strict=True):
        expected = brute_force_loglike(model, theta)
        assert model.log_likelihood(theta) == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert from_batch == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_batch_is_chunked_without_changing_values(rng):
    """Custom components' densities are computed in chunks of θ (the Gaussians in the kernel)."""
    from nestmix.components import make_component

    data = make_data(rng, 500, 1, errors=True)
    outliers = make_component("gaussian_outlier", priors={
        "mu": NORM, "ln_s": {"dist": "uniform", "loc": 0, "scale": 2}})
    model = ModelSpec(priors={"mean": NORM, "sigma": HALF},
                      extra_components=(outliers,)).build(data, 4)
    model._chunk = 3  # force several chunks
    thetas = model.prior_transform(rng.uniform(size=(10, model.ndim)))
    expected = np.array([model.log_likelihood(t) for t in thetas])
    np.testing.assert_allclose(model.log_likelihood_batch(thetas), expected, rtol=1e-12)


@pytest.mark.parametrize(("d", "covariance", "background", "names"), [
    (1, "full", "none", ("w_1", "w_2", "mu_1", "mu_2", "mu_3", "var_1", "var_2", "var_3")),
    (1, "tied", "uniform", ("w_1", "w_2", "w_3", "mu_1", "mu_2", "mu_3", "var")),
    (2, "spherical", "none", ("w_1", "w_2", "mu_1_x0", "mu_1_x1", "mu_2_x0", "mu_2_x1",
                              "mu_3_x0", "mu_3_x1", "var_1", "var_2", "var_3")),
])
def test_parameter_names(rng, d, covariance, background, names):
    model = ModelSpec(covariance=covariance, background=background,
                      priors={"mean": NORM, "variance": HALF}).build(make_data(rng, 30, d), 3)
    assert model.param_names == names
    assert model.ndim == len(names)


def test_full_covariance_counts_and_lkj(rng):
    model = ModelSpec(covariance="full", priors={
        "mean": NORM, "sigma": HALF, "correlation": {"dist": "lkj", "eta": 2.0}},
    ).build(make_data(rng, 50, 3), 2)
    # 1 weight + 2x3 means + 2x3 scales + 2x3 correlations
    assert model.ndim == 1 + 6 + 6 + 6
    params = model.expand(model.prior_transform(rng.uniform(size=(50, model.ndim))))
    assert np.all(np.linalg.eigvalsh(params.covariances) > 0)
    np.testing.assert_allclose(params.weights.sum(axis=1), 1.0)


def test_ordered_means_are_sorted_and_weights_on_simplex(rng, galaxies):
    spec = ModelSpec(order="means", priors={"mean": NORM, "variance": HALF})
    model = spec.build(galaxies, 4)
    params = model.expand(model.prior_transform(rng.uniform(size=(1000, model.ndim))))
    assert np.all(np.diff(params.means[:, :, 0], axis=1) >= 0)
    assert np.all(params.weights >= 0)
    np.testing.assert_allclose(params.weights.sum(axis=1), 1.0)


def test_fixed_parameter_is_not_sampled(galaxies):
    model = ModelSpec(priors={"mean": NORM, "sigma": 1.5}).build(galaxies, 2)
    assert model.param_names == ("w_1", "mu_1", "mu_2")
    params = model.expand(model.prior_transform(np.full(3, 0.5)))
    np.testing.assert_allclose(params.covariances[0, :, 0, 0], 1.5**2)


def test_memberships_sum_to_one(rng):
    data = make_data(rng, 30, 2, errors=True)
    model = ModelSpec(background="uniform", priors={"mean": NORM, "sigma": HALF}).build(data, 2)
    theta = model.prior_transform(rng.uniform(size=model.ndim))
    log_p = model.membership_log_probabilities(theta)
    assert log_p.shape == (30, 3)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0)


def test_single_component_has_unit_weight(galaxies):
    model = ModelSpec(priors={"mean": NORM, "variance": HALF}).build(galaxies, 1)
    assert model.param_names == ("mu_1", "var")
    assert model.expand(model.prior_transform(np.full(2, 0.3))).weights.tolist() == [[1.0]]


@pytest.mark.parametrize(("kwargs", "k", "error", "match"), [
    ({}, 0, ModelError, "K must be an integer >= 1"),
    ({"covariance": "ful"}, 2, ModelError, "model.covariance: unknown value 'ful'"),
    ({"background": "flat"}, 2, ModelError, "model.background: unknown value 'flat'"),
    ({"order": "weights"}, 2, ModelError, "model.order: unknown value 'weights'"),
    ({"priors": {"variance": HALF}}, 2, ModelError, "missing 'mean'"),
    ({"priors": {"mean": NORM}}, 2, ModelError, "exactly one of 'variance' or 'sigma'"),
    ({"priors": {"mean": NORM, "variance": HALF, "sigma": HALF}}, 2, ModelError,
     "exactly one of"),
    ({"priors": {"mean": NORM, "variance": HALF, "means": NORM}}, 2, ModelError,
     "unknown prior 'means'"),
    ({"priors": {"mean": NORM, "variance": NORM}}, 2, PriorError,
     "model.priors.variance: the prior allows negative values"),
    ({"priors": {"mean": NORM, "variance": HALF, "correlation": {"dist": "lkj"}}}, 2,
     ModelError, "only used with covariance 'full' or 'tied' in two or more dimensions"),
    ({"priors": {"mean": NORM, "variance": HALF, "weights": {"dist": "uniform"}}}, 2,
     PriorError, "weights take a Dirichlet prior"),
    ({"priors": {"mean": NORM, "variance": HALF,
                 "weights": {"dist": "dirichlet", "alpha": [1, 2, 3]}}}, 2, PriorError,
     "model.priors.weights: alpha must be a number or a sequence"),
    ({"priors": {"mean": {"dist": "nrom"}, "variance": HALF}}, 2, PriorError, "nrom"),
    ({"priors": {"mean": NORM, "variance": HALF}, "order": "means"}, 30, DataError,
     "the data have 82 points but the model with K=30 has 89 free parameters"),
    ({"priors": {"mean": NORM, "variance": HALF}, "background": "uniform",
      "background_box": [[0, 20]]}, 2, ModelError, "outside the background box"),
])
def test_bad_models_say_what_is_wrong(galaxies, kwargs, k, error, match):
    kwargs = {"priors": {"mean": NORM, "variance": HALF}, **kwargs}
    with pytest.raises(error, match=match):
        ModelSpec(**kwargs).build(galaxies, k)
