"""Closed-form quantile functions of common distributions, for the prior-transform hot path.

``scipy.stats`` frozen distributions spend several microseconds checking arguments on every
``ppf`` call, which dominates when a prior transform maps a handful of cube coordinates per
likelihood evaluation. Each builder here takes the validated shape parameters of one
``scipy.stats`` distribution and returns a function computing the *standardised* quantile
(``loc = 0``, ``scale = 1``) with :mod:`scipy.special`; :class:`~nestmix.priors.Univariate`
applies ``loc`` and ``scale``. The formulas follow scipy's own ``_ppf`` methods, so the results
agree with ``scipy.stats.<dist>.ppf`` to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy import special

__all__ = ["FAST_PPF", "StdPPF"]

StdPPF = Callable[[np.ndarray], np.ndarray]
"""A standardised quantile function, applied elementwise to probabilities in (0, 1)."""


def _uniform(shapes: Mapping[str, float]) -> StdPPF:
    return lambda u: u


def _norm(shapes: Mapping[str, float]) -> StdPPF:
    return special.ndtri


def _halfnorm(shapes: Mapping[str, float]) -> StdPPF:
    # P(|Z| <= x) = erf(x / sqrt 2); scipy's ndtri((1 + u) / 2) rounds u away below 1e-16
    # and reaches infinity at u = 1 - 2**-53.
    return lambda u: np.sqrt(2.0) * special.erfinv(u)


def _lognorm(shapes: Mapping[str, float]) -> StdPPF:
    s = shapes["s"]
    return lambda u: np.exp(s * special.ndtri(u))


def _loguniform(shapes: Mapping[str, float]) -> StdPPF:
    log_a, log_b = np.log(shapes["a"]), np.log(shapes["b"])
    width = log_b - log_a
    return lambda u: np.exp(log_a + u * width)


def _gamma(shapes: Mapping[str, float]) -> StdPPF:
    a = shapes["a"]
    return lambda u: special.gammaincinv(a, u)


def _invgamma(shapes: Mapping[str, float]) -> StdPPF:
    a = shapes["a"]
    return lambda u: 1.0 / special.gammainccinv(a, u)


def _beta(shapes: Mapping[str, float]) -> StdPPF:
    a, b = shapes["a"], shapes["b"]
    return lambda u: special.betaincinv(a, b, u)


def _expon(shapes: Mapping[str, float]) -> StdPPF:
    return lambda u: -np.log1p(-u)


def _halfcauchy(shapes: Mapping[str, float]) -> StdPPF:
    # tan(pi u / 2), written as cot(pi (1 - u) / 2) above the median: 1 - u is exact there,
    # while pi u / 2 rounds onto the pole of tan.
    def ppf(u: np.ndarray) -> np.ndarray:
        upper = u > 0.5
        return np.where(upper, 1.0 / np.tan(np.pi / 2.0 * (1.0 - u)), np.tan(np.pi / 2.0 * u))

    return ppf


def _cauchy(shapes: Mapping[str, float]) -> StdPPF:
    # tan(pi (u - 1/2)) in the middle, -cot(pi u) and cot(pi (1 - u)) in the tails.
    def ppf(u: np.ndarray) -> np.ndarray:
        middle = np.tan(np.pi * (u - 0.5))
        with np.errstate(divide="ignore"):
            lower = -1.0 / np.tan(np.pi * u)
            upper = 1.0 / np.tan(np.pi * (1.0 - u))
        return np.where(u < 0.25, lower, np.where(u > 0.75, upper, middle))

    return ppf


def _t(shapes: Mapping[str, float]) -> StdPPF:
    # With p = 2 min(u, 1 - u), P(|T| > x) = I_z(df/2, 1/2) = p, z = df / (df + x^2). Solve
    # for z when p is small and for 1 - z otherwise, so both tails stay exact (scipy's
    # stdtrit overflows to the wrong sign far in the lower tail).
    half_df = shapes["df"] / 2.0

    def ppf(u: np.ndarray) -> np.ndarray:
        upper = u > 0.5
        p = 2.0 * np.where(upper, 1.0 - u, u)
        tail = p < 0.5
        z_tail = special.betaincinv(half_df, 0.5, p)
        y_body = special.betaincinv(0.5, half_df, 1.0 - p)
        z = np.where(tail, z_tail, 1.0 - y_body)
        y = np.where(tail, 1.0 - z_tail, y_body)
        with np.errstate(divide="ignore"):
            x = np.sqrt(2.0 * half_df * y / z)
        return np.where(upper, x, -x)

    return ppf


def _truncnorm(shapes: Mapping[str, float]) -> StdPPF:
    # Invert Phi(x) = (1 - u) Phi(a) + u Phi(b) in log space for x < 0, and the mirrored
    # Q(x) = (1 - u) Q(a) + u Q(b), Q = 1 - Phi, for x > 0, so neither tail loses precision.
    a, b = shapes["a"], shapes["b"]
    log_cdf_a, log_cdf_b = special.log_ndtr(a), special.log_ndtr(b)
    log_sf_a, log_sf_b = special.log_ndtr(-a), special.log_ndtr(-b)

    def ppf(u: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_u, log_1mu = np.log(u), np.log1p(-u)
        below = special.ndtri_exp(np.logaddexp(log_1mu + log_cdf_a, log_u + log_cdf_b))
        above = -special.ndtri_exp(np.logaddexp(log_1mu + log_sf_a, log_u + log_sf_b))
        return np.clip(np.where(below < 0.0, below, above), a, b)

    return ppf


FAST_PPF: dict[str, Callable[[Mapping[str, float]], StdPPF]] = {
    "uniform": _uniform,
    "norm": _norm,
    "halfnorm": _halfnorm,
    "lognorm": _lognorm,
    "loguniform": _loguniform,
    "reciprocal": _loguniform,
    "gamma": _gamma,
    "invgamma": _invgamma,
    "beta": _beta,
    "expon": _expon,
    "halfcauchy": _halfcauchy,
    "cauchy": _cauchy,
    "t": _t,
    "truncnorm": _truncnorm,
}
"""Builders of standardised closed-form quantile functions, by ``scipy.stats`` name."""
