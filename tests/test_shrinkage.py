"""Shrinkage against closed forms and brute-force quadrature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nestmix import Measurements, ModelSpec
from nestmix.errors import DataError
from nestmix.posterior.shrinkage import shrinkage


def fixed_model(y, s, mean, sigma, k=1, weights=None, background="none", d=1):
    """A model whose every parameter is fixed: the posterior is one point (θ of length 0)."""
    priors = {"mean": mean, "sigma": sigma}
    if weights is not None:
        priors["weights"] = {"dist": "dirichlet", "alpha": 1.0}
    data = Measurements.from_arrays(y, errors=s) if d == 1 else \
        Measurements.from_arrays(y, covariances=s)
    return ModelSpec(background=background, priors=priors).build(data, k)


def test_single_gaussian_matches_the_closed_form(rng):
    y = rng.normal(2.0, 1.5, 40)
    s = rng.uniform(0.2, 1.0, 40)
    model = fixed_model(y, s, mean=1.0, sigma=0.8)
    assert model.ndim == 0
    result = shrinkage(model, np.zeros((1, 0)), rng=rng, n_draws=3)
    post_var = 1 / (1 / 0.8**2 + 1 / s**2)
    post_mean = post_var * (1.0 / 0.8**2 + y / s**2)
    np.testing.assert_allclose(result.mean[:, 0], post_mean, rtol=1e-10)
    np.testing.assert_allclose(result.std[:, 0], np.sqrt(post_var), rtol=1e-10)
    # shrunk towards the component mean, never past it
    assert np.all(np.abs(result.mean[:, 0] - 1.0) <= np.abs(y - 1.0) + 1e-12)


def test_two_components_match_quadrature(rng):
    y = np.array([-1.0, 0.2, 1.3, 3.0])
    s = np.array([0.5, 0.9, 0.3, 1.2])
    # two components with sigma 0.5; means and weight set by hand in θ
    model = fixed_model(y, s, mean={"dist": "uniform", "loc": -3, "scale": 6}, sigma=0.5,
                        k=2, weights=True)
    theta = np.array([[0.3, -1.0, 2.0]])  # w_1, mu_1, mu_2
    assert model.param_names == ("w_1", "mu_1", "mu_2")
    result = shrinkage(model, theta, rng=rng, n_draws=2)
    x = np.linspace(-8, 9, 20001)
    prior = 0.3 * stats.norm(-1, 0.5).pdf(x) + 0.7 * stats.norm(2, 0.5).pdf(x)
    for i in range(len(y)):
        post = prior * stats.norm(x, s[i]).pdf(y[i])
        post /= np.trapezoid(post, x)
        np.testing.assert_allclose(result.density(i, x), post, atol=1e-8)
        assert result.mean[i, 0] == pytest.approx(np.trapezoid(x * post, x), abs=1e-8)


def test_2d_single_component_closed_form(rng):
    n = 25
    y = rng.normal(size=(n, 2))
    a = rng.normal(size=(n, 2, 2)) * 0.3
    s = a @ a.transpose(0, 2, 1) + 0.05 * np.eye(2)
    model = ModelSpec(covariance="spherical", priors={"mean": 0.5, "sigma": 0.7}).build(
        Measurements.from_arrays(y, covariances=s), 1)
    result = shrinkage(model, np.zeros((1, 0)), rng=rng, n_draws=1)
    sigma_inv = np.eye(2) / 0.49
    for i in range(n):
        v = np.linalg.inv(sigma_inv + np.linalg.inv(s[i]))
        m = v @ (sigma_inv @ np.full(2, 0.5) + np.linalg.solve(s[i], y[i]))
        np.testing.assert_allclose(result.mean[i], m, rtol=1e-9)
        np.testing.assert_allclose(result.covariance[i], v, rtol=1e-9, atol=1e-12)


def test_background_share_is_not_shrunk(rng):
    y = np.array([0.0, 10.0])  # the second point is far from the component: background
    s = np.array([0.5, 0.5])
    model = ModelSpec(background="uniform", background_box=((-20, 20),),
                      priors={"mean": 0.0, "sigma": 0.3,
                              "weights": {"dist": "dirichlet", "alpha": 1.0}}).build(
        Measurements.from_arrays(y, errors=s), 1)
    result = shrinkage(model, np.array([[0.5]]), rng=rng, n_draws=1)
    assert result.mean[1, 0] == pytest.approx(10.0, abs=1e-6)
    assert abs(result.mean[0, 0]) < 0.2


def test_needs_measurement_errors(rng):
    model = ModelSpec(priors={"mean": 0.0, "sigma": 1.0}).build(
        Measurements.from_arrays(np.arange(5.0)), 1)
    with pytest.raises(DataError, match="needs measurement errors"):
        shrinkage(model, np.zeros((1, 0)), rng=rng)
