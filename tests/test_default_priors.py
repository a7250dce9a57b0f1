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
    assert priors["mean"] == {"dist": "uniform", "loc": v[0], "scale": v[-1] - v[0]}
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
        assert priors["mean"][axis]["loc"] == values[:, axis].min()
    assert priors["correlation"] == {"dist": "lkj", "eta": 1.0}
    spherical = default_priors(data, "spherical")
    assert spherical["sigma"] == {"dist": "loguniform", "a": priors["sigma"][0]["a"],
                                  "b": priors["sigma"][1]["b"]}
    assert "correlation" not in default_priors(data, "diag")


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("background", ["none", "uniform"])
def test_every_covariance_model_builds_and_draws_inside_the_data(covariance, background):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(60, 2))
    data = nestmix.Measurements.from_arrays(values, errors=np.full((60, 2), 0.2))
    model = nestmix.ModelSpec(covariance=covariance, background=background,
                              priors=default_priors(data, covariance)).build(data, k=2)
    params = model.expand(model.prior_transform(rng.random((500, model.ndim))))
    low, high = values.min(axis=0), values.max(axis=0)
    assert np.all((params.means >= low) & (params.means <= high))
    sd = np.sqrt(np.diagonal(params.covariances, axis1=2, axis2=3))
    assert np.all(sd <= np.ptp(values, axis=0).max() * (1 + 1e-12))
    assert np.all(np.isfinite(model.log_likelihood_batch(model.prior_transform(
        rng.random((20, model.ndim))))))


def test_a_constant_column_is_refused_by_name():
    data = nestmix.Measurements.from_arrays(np.c_[np.arange(10.0), np.ones(10)],
                                            columns=["x", "flat"])
    with pytest.raises(DataError, match="column 'flat' has a single distinct value"):
        default_priors(data)
