"""Bayes factors and P(K | data) with errors propagated."""

from __future__ import annotations

import numpy as np
import pytest

from nestmix.evidence import bayes_factors, jeffreys_label, posterior_probabilities


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
