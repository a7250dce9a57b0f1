"""Bayes factors and P(K | data) with errors propagated."""

from __future__ import annotations

import numpy as np
import pytest

from nestmix.evidence.arithmetic import bayes_factors, jeffreys_label, posterior_probabilities


def test_bayes_factors_against_the_best():
    ln_bf, err = bayes_factors([-10.0, -7.5, -9.0], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(ln_bf, [-2.5, 0.0, -1.5])
    np.testing.assert_allclose(err, [np.hypot(0.1, 0.2), 0.0, np.hypot(0.3, 0.2)])


def test_posterior_probabilities_and_prior():
    logz = np.array([-10.0, -9.0, -12.0])
    p, _ = posterior_probabilities(logz, [0.1] * 3)
    np.testing.assert_allclose(p, np.exp(logz) / np.exp(logz).sum())
    p_prior, _ = posterior_probabilities(logz, [0.1] * 3, prior=[1, 0, 1])
    assert p_prior[1] == 0.0
    np.testing.assert_allclose(p_prior.sum(), 1.0)


def test_probability_errors_match_monte_carlo(rng):
    logz = np.array([-10.0, -9.2, -9.6])
    err = np.array([0.05, 0.08, 0.04])
    _, p_err = posterior_probabilities(logz, err)
    draws = rng.normal(logz, err, size=(200_000, 3))
    p_draws = np.exp(draws - draws.max(axis=1, keepdims=True))
    p_draws /= p_draws.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p_err, p_draws.std(axis=0), rtol=0.05)


def test_bad_prior_rejected():
    with pytest.raises(ValueError, match="one non-negative value per K"):
        posterior_probabilities([0.0, 1.0], [0.1, 0.1], prior=[1.0])


@pytest.mark.parametrize(("value", "words"), [(0.5, "bare mention"), (2.0, "positive"),
                                              (4.0, "strong"), (7.0, "very strong")])
def test_jeffreys_words(value, words):
    assert words in jeffreys_label(value)


def test_combine_runs_is_the_inverse_variance_mean():
    from nestmix.evidence.arithmetic import combine_runs, scatter_factor

    one = combine_runs([-10.0], [0.3])
    assert (one.logz, one.logz_err, one.spread, one.n, one.p_consistent) == (
        -10.0, 0.3, None, 1, None)
    c = combine_runs([-10.0, -10.4, -9.9], [0.2, 0.4, 0.2])
    w = np.array([25.0, 6.25, 25.0])
    assert c.logz == pytest.approx(np.dot(w, [-10.0, -10.4, -9.9]) / w.sum(), rel=1e-14)
    assert c.logz_err_propagated == pytest.approx(w.sum() ** -0.5, rel=1e-14)
    assert c.spread == pytest.approx(np.std([-10.0, -10.4, -9.9], ddof=1), rel=1e-14)
    assert c.logz_err == max(c.logz_err_propagated,
                             scatter_factor(3) * c.spread / np.sqrt(3))
    for logz, err in (([0.0], []), ([], []), ([0.0, 1.0], [0.1, 0.0]),
                      ([0.0, 1.0], [0.1, np.nan])):
        with pytest.raises(ValueError):
            combine_runs(logz, err)


def test_combined_error_and_consistency_test_are_calibrated(rng):
    """Runs drawn with their stated errors: the combined error matches the scatter of the
    combined value and the χ² p-value is uniform; runs scattering twice their errors are
    flagged."""
    from nestmix.evidence.arithmetic import combine_runs

    sigma = np.array([0.2, 0.3, 0.25, 0.4])
    honest = [combine_runs(rng.normal(-5.0, sigma), sigma) for _ in range(4000)]
    means = np.array([c.logz for c in honest])
    assert means.mean() == pytest.approx(-5.0, abs=3 * honest[0].logz_err_propagated / 60)
    assert means.std() == pytest.approx(honest[0].logz_err_propagated, rel=0.05)
    p = np.array([c.p_consistent for c in honest])
    assert np.mean(p < 0.01) == pytest.approx(0.01, abs=0.006)
    assert np.mean(p < 0.5) == pytest.approx(0.5, abs=0.03)
    # the reported error never falls below the propagated one, and covers the truth ~68 %+
    errs = np.array([c.logz_err for c in honest])
    assert np.all(errs >= honest[0].logz_err_propagated)
    assert np.mean(np.abs(means + 5.0) < errs) > 0.68
    wide = [combine_runs(rng.normal(-5.0, 3 * sigma), sigma) for _ in range(2000)]
    assert np.mean([c.p_consistent < 0.01 for c in wide]) > 0.5
    # with too-small errors the scatter sets the error: coverage is restored in part
    wide_means = np.array([c.logz for c in wide])
    wide_errs = np.array([c.logz_err for c in wide])
    assert np.mean(np.abs(wide_means + 5.0) < wide_errs) > np.mean(
        np.abs(wide_means + 5.0) < honest[0].logz_err_propagated)
