"""nestmix.priors.defaults: scale-aware default priors from the data."""

from __future__ import annotations

import numpy as np
import pytest

import nestmix
from nestmix.errors import DataError
from nestmix.priors.defaults import default_priors


def test_galaxies_defaults_follow_the_range_and_the_gaps():
    data = nestmix.datasets.load("galaxies").measurements(scale=1e-3)
    v = np.sort(data.values[:, 0])
    priors = default_priors(data)
    # Richardson & Green's mean prior: N(midrange, R²)
    assert priors["mean"] == {"dist": "norm", "loc": 0.5 * (v[0] + v[-1]), "scale": v[-1] - v[0]}
    gaps = np.diff(v)
    assert priors["sigma"] == {"dist": "loguniform", "a": np.median(gaps[gaps > 0]),
                               "b": v[-1] - v[0]}
    assert priors["weights"] == {"dist": "dirichlet", "alpha": 1.0}
    assert "correlation" not in priors


def test_with_errors_the_smallest_scale_is_a_tenth_of_the_median_error():
    rng = np.random.default_rng(0)
    errors = rng.uniform(0.1, 0.3, size=(200, 2)) * [1.0, 10.0]
    values = rng.normal(size=(200, 2)) * [1.0, 10.0]
    data = nestmix.Measurements.from_arrays(values, errors=errors, columns=["a", "b"])
    priors = default_priors(data, "full")
    for axis in range(2):
        assert priors["sigma"][axis]["a"] == pytest.approx(0.1 * np.median(errors[:, axis]))
        assert priors["sigma"][axis]["b"] == pytest.approx(np.ptp(values[:, axis]))
        assert priors["mean"][axis] == pytest.approx({
            "dist": "norm", "loc": 0.5 * (values[:, axis].min() + values[:, axis].max()),
            "scale": np.ptp(values[:, axis])})
    assert priors["correlation"] == {"dist": "lkj", "eta": 1.0}
    spherical = default_priors(data, "spherical")
    assert spherical["sigma"] == {"dist": "loguniform", "a": priors["sigma"][0]["a"],
                                  "b": priors["sigma"][1]["b"]}
    assert "correlation" not in default_priors(data, "diag")


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("background", ["none", "uniform"])
def test_every_covariance_model_builds_and_draws_means_about_the_midrange(covariance,
                                                                          background):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(60, 2))
    data = nestmix.Measurements.from_arrays(values, errors=np.full((60, 2), 0.2))
    model = nestmix.ModelSpec(covariance=covariance, background=background,
                              priors=default_priors(data, covariance)).build(data, k=2)
    params = model.expand(model.prior_transform(rng.random((500, model.ndim))))
    low, high = values.min(axis=0), values.max(axis=0)
    z = ((params.means - 0.5 * (low + high)) / (high - low)).reshape(-1, 2)  # 1 000 per axis
    assert np.all(np.abs(z.mean(axis=0)) < 0.16)  # N(0, 1): 5 standard errors
    assert np.all(np.abs(z.std(axis=0) - 1.0) < 0.12)
    sd = np.sqrt(np.diagonal(params.covariances, axis1=2, axis2=3))
    assert np.all(sd <= np.ptp(values, axis=0).max() * (1 + 1e-12))
    assert np.all(np.isfinite(model.log_likelihood_batch(model.prior_transform(
        rng.random((20, model.ndim))))))


def test_a_constant_column_is_refused_by_name():
    data = nestmix.Measurements.from_arrays(np.c_[np.arange(10.0), np.ones(10)],
                                            columns=["x", "flat"])
    with pytest.raises(DataError, match="column 'flat' has a single distinct value"):
        default_priors(data)


def test_ordered_means_work_with_the_normal_default():
    rng = np.random.default_rng(2)
    data = nestmix.Measurements.from_arrays(np.r_[rng.normal(0, 1, 40), rng.normal(6, 1, 40)])
    priors = default_priors(data)
    assert priors["mean"]["dist"] == "norm"
    model = nestmix.ModelSpec(order="means", priors=priors).build(data, k=3)
    theta = model.prior_transform(rng.random((400, model.ndim)))
    means = model.expand(theta).means[:, :, 0]
    assert np.all(np.diff(means, axis=1) >= 0)  # sorted
    z = (means - priors["mean"]["loc"]) / priors["mean"]["scale"]
    # the K sorted draws are the order statistics of K draws from N(0, 1): pooled, N(0, 1)
    assert abs(z.mean()) < 0.15 and abs(z.std() - 1.0) < 0.1
    assert np.mean(z[:, 0]) < -0.6 < 0.6 < np.mean(z[:, 2])  # E[min of 3] = -0.85
    assert np.all(np.isfinite(model.log_likelihood_batch(theta[:20])))
