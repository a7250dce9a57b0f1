"""Evidence arithmetic: ln Bayes factors and P(K | data), with errors propagated.

All functions take log-evidences and their (independent, Gaussian) errors for a set of
models and return arrays in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["CombinedEvidence", "bayes_factors", "combine_runs", "jeffreys_label",
           "posterior_probabilities", "scatter_factor"]


def bayes_factors(logz: Sequence[float], logz_err: Sequence[float]) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """ln Bayes factor of every model against the one with the highest evidence.

    Parameters
    ----------
    logz, logz_err : sequence of float
        Log-evidences and their standard errors.

    Returns
    -------
    ln_bf, ln_bf_err : ndarray
        ln Z_k − ln Z_best and sqrt(σ_k² + σ_best²) (zero for the best model itself).
    """
    values = np.asarray(logz, dtype=float)
    err = np.asarray(logz_err, dtype=float)
    best = int(np.argmax(values))
    ln_bf = values - values[best]
    ln_bf_err = np.sqrt(err**2 + err[best] ** 2)
    ln_bf_err[best] = 0.0
    return ln_bf, ln_bf_err


def posterior_probabilities(logz: Sequence[float], logz_err: Sequence[float],
                            prior: Sequence[float] | None = None) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Posterior probability of each model, P(K | data) ∝ Z_K π(K), with linearised errors.

    Parameters
    ----------
    logz, logz_err : sequence of float
    prior : sequence of float, optional
        Prior probabilities of the models (renormalised); uniform when omitted.

    Returns
    -------
    p, p_err : ndarray
        Probabilities (summing to one) and their errors from
        ∂p_k/∂ln Z_j = p_k (δ_kj − p_j).
    """
    values = np.asarray(logz, dtype=float)
    err = np.asarray(logz_err, dtype=float)
    if prior is None:
        log_prior = np.zeros_like(values)
    else:
        weights = np.asarray(prior, dtype=float)
        if weights.shape != values.shape or np.any(weights < 0) or not np.any(weights > 0):
            raise ValueError("the prior over K needs one non-negative value per K, not all zero")
        with np.errstate(divide="ignore"):
            log_prior = np.log(weights / weights.sum())
    a = values + log_prior
    p = np.exp(a - a.max())
    p /= p.sum()
    jacobian = np.diag(p) - np.outer(p, p)
    p_err = np.sqrt((jacobian**2) @ (err**2))
    return p, p_err


def jeffreys_label(ln_bf: float) -> str:
    """Words for the strength of evidence of an ln Bayes factor (Kass & Raftery 1995 scale).

    ``ln_bf`` is the log of the factor in favour of the better model (a non-negative number).
    """
    b = abs(ln_bf)
    if b < 1.0:
        return "not worth more than a bare mention"
    if b < 3.0:
        return "positive"
    if b < 5.0:
        return "strong"
    return "very strong"


@dataclass(frozen=True)
class CombinedEvidence:
    """The log-evidence of one model from several independent runs (different seeds).

    Attributes
    ----------
    logz : float
        Inverse-variance weighted mean of the runs' ln Z.
    logz_err : float
        Its error: the larger of the propagated run errors, ``1 / sqrt(sum(1 / σ_i²))``, and the
        standard error of the mean from the scatter, ``spread / sqrt(n)``, times the Student-t
        factor :func:`scatter_factor` (one run: its σ). A scatter measured by a few runs is
        itself uncertain: with the factor, ± ``logz_err`` covers the truth about as often as a
        Gaussian σ (68 %) when the runs' own errors are too small (1.84 for two runs, 1.32
        for three, 1.20 for four).
    logz_err_propagated : float
        ``1 / sqrt(sum(1 / σ_i²))`` alone.
    spread : float or None
        Standard deviation of the runs' ln Z (``ddof=1``); None for a single run.
    n : int
        Number of runs.
    p_consistent : float or None
        Probability of a χ² = Σ (ln Z_i − mean)² / σ_i² at least this large with n − 1 degrees
        of freedom if every σ_i were right: small values mean the runs scatter more than their
        errors say. None for a single run.
    """

    logz: float
    logz_err: float
    logz_err_propagated: float
    spread: float | None
    n: int
    p_consistent: float | None


@lru_cache(maxsize=64)
def scatter_factor(n: int) -> float:
    """The Student-t factor for an error taken from the scatter of ``n`` runs.

    The standard error of the mean from ``n`` runs' sample standard deviation follows a
    Student t with ``n − 1`` degrees of freedom, not a Gaussian: its 84.13 % quantile (the
    Gaussian's one σ) is 1.84 for two runs, 1.32 for three, 1.20 for four, and tends to 1.
    Enzyme K = 5 (issue 31), rows of two seeds whose runs scatter 2.2 times their errors:
    with the factor, ± the combined error covers the truth 70 % of the time in simulation
    (56 % without).
    """
    if n < 2:
        return 1.0
    from scipy.stats import norm, t

    return float(t.ppf(norm.cdf(1.0), n - 1))


def combine_runs(logz: Sequence[float], logz_err: Sequence[float]) -> CombinedEvidence:
    """Combine independent runs of the same model into one log-evidence.

    Parameters
    ----------
    logz, logz_err : sequence of float
        Each run's ln Z and its error (all errors positive).

    Returns
    -------
    CombinedEvidence

    Raises
    ------
    ValueError
        For no runs, lengths that differ, or a non-positive or non-finite error.
    """
    values = np.asarray(logz, dtype=float)
    errors = np.asarray(logz_err, dtype=float)
    if values.ndim != 1 or values.size == 0 or errors.shape != values.shape:
        raise ValueError("combine_runs needs one error per ln Z, and at least one run")
    if not np.all(np.isfinite(errors)) or np.any(errors <= 0):
        raise ValueError("combine_runs needs finite, positive errors")
    n = int(values.size)
    if n == 1:
        return CombinedEvidence(float(values[0]), float(errors[0]), float(errors[0]), None, 1,
                                None)
    from scipy.stats import chi2

    weights = errors**-2.0
    mean = float(np.sum(weights * values) / np.sum(weights))
    propagated = float(np.sum(weights) ** -0.5)
    spread = float(np.std(values, ddof=1))
    statistic = float(np.sum(weights * (values - mean) ** 2))
    scatter = scatter_factor(n) * spread / np.sqrt(n)
    return CombinedEvidence(logz=mean, logz_err=float(max(propagated, scatter)),
                            logz_err_propagated=propagated, spread=spread, n=n,
                            p_consistent=float(chi2.sf(statistic, n - 1)))
