"""Acceptance (b) and (c): evidences on the galaxy velocities against quadrature and symmetry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from nestmix import ModelSpec, get_sampler
from tests.conftest import GALAXY_PRIORS


def quadrature_logz_k1(y: np.ndarray) -> float:
    """ln ∫∫ Π N(y_i | μ, v) N(μ | 20, 10²) InvGamma(v | 3, 20) dμ dv on a fine grid.

    The integrand is concentrated in a small region; the grid covers ±12 posterior standard
    deviations in μ and in ln v, and the integral is done in (μ, ln v) with Simpson's rule.
    """
    n = len(y)
    mu_hat, v_hat = y.mean(), y.var()
    mu = np.linspace(mu_hat - 12 * np.sqrt(v_hat / n), mu_hat + 12 * np.sqrt(v_hat / n), 1201)
    log_v = np.linspace(np.log(v_hat) - 12 * np.sqrt(2 / n), np.log(v_hat) + 12 * np.sqrt(2 / n),
                        1201)
    M, LV = np.meshgrid(mu, log_v, indexing="ij")
    V = np.exp(LV)
    s2 = ((y[None, None, :] - M[..., None]) ** 2).sum(axis=-1)
    log_like = -0.5 * n * np.log(2 * np.pi * V) - 0.5 * s2 / V
    log_prior = (stats.norm(20, 10).logpdf(M) + stats.invgamma(3, scale=20).logpdf(V) + LV)
    f = log_like + log_prior
    peak = f.max()
    from scipy.integrate import simpson

    inner = simpson(np.exp(f - peak), x=log_v, axis=1)
    return float(peak + np.log(simpson(inner, x=mu)))


def test_quadrature_is_converged(galaxies):
    """The reference itself: a coarser grid gives the same answer to 1e-6."""
    y = np.asarray(galaxies.values)[:, 0]
    assert np.isfinite(quadrature_logz_k1(y))
    # the Gaussian-conjugate part of the integral has a closed form in μ for each v
    v = np.exp(np.linspace(np.log(y.var()) - 3, np.log(y.var()) + 3, 4001))
    n = len(y)
    post_var = 1 / (n / v + 1 / 100)
    post_mean = post_var * (y.sum() / v + 20 / 100)
    log_mu_integral = (-0.5 * n * np.log(2 * np.pi * v) - 0.5 * (y**2).sum() / v
                       - 0.5 * np.log(2 * np.pi * 100) - 0.5 * 400 / 100
                       + 0.5 * np.log(2 * np.pi * post_var) + 0.5 * post_mean**2 / post_var)
    f = log_mu_integral + stats.invgamma(3, scale=20).logpdf(v) + np.log(v)
    from scipy.integrate import simpson

    semi = special.logsumexp(f) + np.log(simpson(np.exp(f - special.logsumexp(f)),
                                                 x=np.log(v)))
    assert quadrature_logz_k1(y) == pytest.approx(semi, abs=1e-6)


def test_galaxies_k1_against_quadrature(galaxies):
    """Acceptance (b): K = 1, μ ~ N(20, 10²), σ² ~ InvGamma(3, scale 20)."""
    y = np.asarray(galaxies.values)[:, 0]
    model = ModelSpec(priors=GALAXY_PRIORS).build(galaxies, 1)
    run = get_sampler("dynesty").run(model, {"nlive": 400}, seed=1)
    expected = quadrature_logz_k1(y)
    assert abs(run.logz - expected) < 3 * max(run.logz_err, 0.05), (run.logz, expected)


@pytest.mark.slow
def test_galaxies_k2_ordered_equals_exchangeable(galaxies):
    """Acceptance (c): ordered means (K! × density on the ordered region) give the same Z."""
    runs = {}
    for order in ("none", "means"):
        model = ModelSpec(order=order, priors=GALAXY_PRIORS).build(galaxies, 2)
        runs[order] = get_sampler("dynesty").run(model, {"nlive": 300}, seed=4)
    a, b = runs["none"], runs["means"]
    sigma = np.hypot(max(a.logz_err, 0.05), max(b.logz_err, 0.05))
    assert abs(a.logz - b.logz) < 3 * sigma, (a.logz, a.logz_err, b.logz, b.logz_err)
