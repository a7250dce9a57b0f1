"""nestmix.NestedGaussianMixture: the scikit-learn-style estimator, on real sampler runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nestmix import NestedGaussianMixture
from nestmix.errors import ConfigError, DataError


def two_groups(seed: int = 0, n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-3.0, 0.5, n // 2), rng.normal(3.0, 0.5, n - n // 2)])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("estimator")
    x = two_groups()
    gm = NestedGaussianMixture(k=[1, 2], covariance="full", background="none",
                               sampler_settings={"nlive": 80}, n_jobs=2, directory=directory)
    return gm.fit(x), x


def test_one_dimensional_groups_give_two_components_at_the_true_means(fitted):
    gm, x = fitted
    assert gm.best_k_ == 2 and gm.best_model_ == {"covariance": "full", "background": "none"}
    table = gm.evidence_
    assert list(table["k"]) == [2, 1] and table["ln_bf"].iloc[1] < -20
    np.testing.assert_allclose(table["p"].sum(), 1.0)
    assert gm.means_.shape == (2, 1) and gm.covariances_.shape == (2, 1, 1)
    # relabelled: component 1 is the lower mean; each within 4 posterior sd of the sample mean
    for mean, sd, group in zip(gm.means_[:, 0], gm.means_std_[:, 0], (x[:40], x[40:]),
                               strict=True):
        assert abs(mean - group.mean()) < 4 * sd + 0.05
    np.testing.assert_allclose(gm.weights_, [0.5, 0.5], atol=0.15)
    np.testing.assert_allclose(np.sqrt(gm.covariances_[:, 0, 0]), [0.5, 0.5], rtol=0.4)
    assert gm.component_names_ == ("1", "2")
    assert list(gm.feature_names_in_) == ["x"]


def test_predictions_follow_the_fitted_mixture(fitted):
    gm, x = fitted
    proba = gm.predict_proba(x)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(gm.predict(x) == (x > 0))
    # score_samples is the mixture density averaged over the posterior draws (scipy here)
    draws = gm._params
    dens = np.mean([sum(w * stats.norm.pdf(x, m, np.sqrt(c)) for w, m, c in zip(
        draws.weights[s], draws.means[s, :, 0], draws.covariances[s, :, 0, 0], strict=True))
        for s in range(len(draws.weights))], axis=0)
    np.testing.assert_allclose(gm.score_samples(x), np.log(dens), rtol=1e-9)
    assert gm.score_samples(np.array([0.0]))[0] < gm.score_samples(np.array([3.0]))[0]
    points, labels = gm.sample(2000, random_state=0)
    assert points.shape == (2000, 1) and set(labels) == {0, 1}
    assert abs(np.mean(points[labels == 1]) - gm.means_[1, 0]) < 0.1


def test_fitting_again_reuses_the_runs(fitted):
    gm, x = fitted
    again = NestedGaussianMixture(**gm.get_params()).fit(x)
    pd.testing.assert_frame_equal(again.evidence_, gm.evidence_)


def test_bad_input_is_one_clear_error(fitted):
    gm, _ = fitted
    with pytest.raises(DataError, match="fitted on 1"):
        gm.predict_proba(np.zeros((3, 2)))
    with pytest.raises(DataError, match="not fitted"):
        NestedGaussianMixture().predict(np.zeros(3))
    with pytest.raises(ConfigError, match="k must be integers >= 1"):
        NestedGaussianMixture(k=[0, 1]).fit(two_groups())
    with pytest.raises(ConfigError, match="covariance must be 'auto' or some of"):
        NestedGaussianMixture(covariance="banana").fit(two_groups())
    with pytest.raises(DataError, match=r"NaN|finite"):
        NestedGaussianMixture(k=1).fit(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ConfigError, match="unknown parameter"):
        NestedGaussianMixture().set_params(n_components=3)


@pytest.mark.slow
def test_blobs_with_errors_from_a_dataframe(tmp_path):
    """Three 2-D blobs measured with per-point errors: K = 3 wins, the deconvolved widths are
    the intrinsic ones, and the column names survive."""
    rng = np.random.default_rng(5)
    centres = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    truth = rng.integers(3, size=300)
    intrinsic = centres[truth] + rng.normal(0.0, 0.6, size=(300, 2))
    errors = rng.uniform(0.2, 0.6, size=(300, 2))
    X = pd.DataFrame(intrinsic + rng.normal(0.0, errors), columns=["pmra", "pmdec"])
    E = pd.DataFrame(errors, columns=["pmra_error", "pmdec_error"])
    gm = NestedGaussianMixture(k=[2, 3, 4], covariance="spherical", background="none",
                               sampler_settings={"nlive": 150}, directory=tmp_path)
    gm.fit(X, errors=E)
    assert gm.best_k_ == 3
    assert list(gm.feature_names_in_) == ["pmra", "pmdec"]
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], centres, atol=0.3)
    np.testing.assert_allclose(np.sqrt(gm.covariances_[:, 0, 0]), 0.6, rtol=0.25)
    labels = gm.predict(X, errors=E)
    agreement = max(np.mean(order[labels] == truth), np.mean(labels == truth))
    assert np.mean(order.argsort()[labels] == truth) > 0.95 or agreement > 0.95
