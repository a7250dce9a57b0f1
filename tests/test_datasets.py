"""The seeded simulators."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nestmix.data.datasets import deconvolution_problem, star_cluster_field
from nestmix.errors import DataError


def test_deconvolution_problem_is_seeded_and_has_the_stated_mixture():
    a, b = deconvolution_problem(seed=3), deconvolution_problem(seed=3)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, deconvolution_problem(seed=4).values)
    big = deconvolution_problem(n=40_000, seed=1)
    assert np.all((big.errors >= 0.01) & (big.errors <= 0.15))
    assert np.mean(big.labels == 1) == pytest.approx(0.7, abs=0.01)
    for k, mu in enumerate(big.means):
        true = big.true_values[big.labels == k]
        assert true.mean() == pytest.approx(mu, abs=0.003)
        assert true.std() == pytest.approx(0.05, rel=0.03)
    z = (big.values - big.true_values) / big.errors
    assert stats.kstest(z, "norm").pvalue > 1e-3
    data = a.measurements()
    assert data.n_points == 300 and data.has_errors


def test_star_field_reproduces_the_cluster():
    sky = star_cluster_field(n=6000, seed=2)
    again = star_cluster_field(n=6000, seed=2)
    np.testing.assert_array_equal(sky.columns["pmra"], again.columns["pmra"])
    members = sky.is_member
    assert 0.05 < members.mean() < 0.11
    pm = np.column_stack([sky.columns["pmra"], sky.columns["pmdec"]])
    assert np.median(pm[members], axis=0) == pytest.approx([-2.91, -3.86], abs=0.05)
    assert np.median(sky.columns["parallax"][members]) == pytest.approx(0.36, abs=0.02)
    assert np.all(sky.columns["pmra_error"] > 0) and np.all(sky.columns["parallax_error"] > 0)
    assert np.all(np.abs(sky.columns["pmra_pmdec_corr"]) < 1)
    # the field is broad and not Gaussian (heavy tails from the halo and near stars)
    field = pm[~members, 0]
    assert stats.kurtosis(field) > 1.0
    data = sky.measurements()
    assert data.n_dims == 2 and data.covariances.shape == (6000, 2, 2)


def test_star_field_csv(tmp_path):
    sky = star_cluster_field(n=50, seed=0)
    sky.to_csv(tmp_path / "field.csv")
    from nestmix import load_measurements

    data = load_measurements(tmp_path / "field.csv", columns=["pmra", "pmdec"],
                             errors=["pmra_error", "pmdec_error"],
                             correlations=["pmra_pmdec_corr"])
    np.testing.assert_allclose(data.values[:, 0], sky.columns["pmra"], rtol=1e-5)


def test_star_field_truth_and_subsamples():
    sky = star_cluster_field(n=3000, seed=6)
    true = sky.true_values
    members = sky.is_member
    np.testing.assert_array_equal(true["parallax"][members], 0.36)
    z = (sky.columns["parallax"] - true["parallax"]) / sky.columns["parallax_error"]
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # correlated proper-motion noise: whitened by each star's covariance it is standard normal
    data = sky.measurements()
    noise = data.values - np.column_stack([true["pmra"], true["pmdec"]])
    white = np.einsum("nij,nj->ni", np.linalg.inv(np.linalg.cholesky(data.covariances)), noise)
    assert stats.kstest(white.ravel(), "norm").pvalue > 1e-3
    assert np.corrcoef(noise[:, 0] * noise[:, 1], sky.columns["pmra_pmdec_corr"])[0, 1] > 0.1
    part = sky.sample(500, seed=1)
    assert part.n_stars == 500 and part.truth == sky.truth
    again = sky.sample(500, seed=1)
    np.testing.assert_array_equal(part.columns["pmra"], again.columns["pmra"])
    index = np.flatnonzero(np.isin(sky.columns["pmra"], part.columns["pmra"]))
    assert len(index) == 500 and np.all(np.diff(index) > 0)  # catalogue order kept
    np.testing.assert_array_equal(part.is_member, members[index])
    np.testing.assert_array_equal(part.true_values["pmdec"], true["pmdec"][index])
    with pytest.raises(DataError, match="1 to 3000 stars, got 0"):
        sky.sample(0, seed=1)
