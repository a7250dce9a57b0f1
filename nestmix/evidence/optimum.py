"""An optimiser's cross-check: the highest log-likelihood a model reaches, found without sampling.

A nested-sampling run that never found the main mode of a posterior reports a confident
evidence that is far too low, and its own error bar cannot say so. Its best point can: the
highest log-likelihood the run saw should come close to the maximum of the likelihood (at the
end of a run the live points sit in the likelihood's peak). :func:`maximum_log_likelihood`
finds that maximum independently, and :func:`mode_deficit` says by how much a run fell short.

How the maximum is found
------------------------
For mixtures of deconvolved Gaussians (with or without the uniform background) the maximum is
found by **extreme deconvolution** (Bovy, Hogg & Roweis 2011, *Ann. Appl. Stat.* 5, 1657): EM
for y_i ~ Σ_k w_k N(μ_k, V_k + S_i) [+ w_bg U(y_i)], from several k-means++ starts. For the
``diag``, ``spherical`` and ``tied`` families the M-step's covariance is projected onto the
family (the diagonal, the mean variance, the pooled covariance); with measurement errors that
projection is not an exact M-step, so every iterate's likelihood is computed and the best kept.
The solution is then written as the model's own parameter vector θ and **its log-likelihood
is the model's** (:meth:`nestmix.model.MixtureModel.log_likelihood`): the number compared with
a run is the same function at a point the model can take, never a second implementation's.

Models with custom components (a line with outliers, Student-t, space density) have no EM
here: the maximum is then sought with a bounded quasi-Newton optimiser (L-BFGS-B) in the unit
cube of the model's prior, from the run's best points and from prior draws, on the compiled
likelihood. That finds the peak of the mode a start lies in, so it checks a run's peak rather
than finding a missed mode; its result says so (``method = "local"``).

We write the EM ourselves (about 80 lines) rather than take scikit-learn's ``GaussianMixture``:
that has no per-point measurement errors and no background component, and the packages that
implement extreme deconvolution (``astroML``, ``pygmmis``) are not in the registry this
project installs from, nor maintained for current numpy.

Caveat: the maximum is over the parameter space, not the prior's support. Where a prior is
bounded (a uniform prior on the means, say) the EM optimum can lie outside it; the θ written
here holds values the prior may give zero density. Such a deficit is reported, and the
escalation that follows cannot remove it; the report shows both numbers so a person can judge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

__all__ = ["Optimum", "deficit_threshold", "maximum_log_likelihood", "mode_deficit",
           "optimum_record"]

_CHUNK_ELEMENTS = 2_000_000  # bound on N_chunk × K × D² per EM pass
# Covariance floor, as a fraction of each axis's data variance. Without measurement errors the
# likelihood of a mixture is unbounded (a component shrinking onto one point): the floor keeps
# components at least 3 % of the data's spread wide, so that the optimum is a mode a prior of
# sensible width can reach, not a spike no sampler (and no evidence) sees. Measurement errors
# bound the likelihood themselves.
_FLOOR_NO_ERRORS = 1e-3
_FLOOR_WITH_ERRORS = 1e-9
_EXPLORE_POINTS = 2000  # points the EM starts explore on before the best is polished on all


@dataclass(frozen=True)
class Optimum:
    """The highest log-likelihood found by an optimiser.

    Attributes
    ----------
    log_likelihood : float
        The model's log-likelihood at :attr:`theta`.
    theta : ndarray, shape (ndim,)
        Where it was reached, in the model's parameter order.
    method : str
        ``"xd-em"`` (extreme deconvolution, multi-start) or ``"local"`` (L-BFGS-B in the unit
        cube from the run's best points and prior draws).
    starts : int
        Number of starts tried.
    calls : int
        Likelihood evaluations the model itself spent (EM's own passes not included).
    """

    log_likelihood: float
    theta: np.ndarray
    method: str
    starts: int
    calls: int

    def to_dict(self) -> dict:
        """JSON-able form (θ as a list)."""
        return {"log_likelihood": self.log_likelihood, "theta": [float(v) for v in self.theta],
                "method": self.method, "starts": self.starts, "calls": self.calls}


def deficit_threshold(ndim: int) -> float:
    """How far (in nats) a run's best log-likelihood may sit below the optimum before the run
    is taken to have missed a mode.

    Over the posterior, ln L_max − ln L follows roughly a Gamma(ndim/2, 1) distribution; a
    finished run's best point lies far in its upper tail, well within ndim/2 of the peak. The
    threshold is max(5, ndim/2) nats: far beyond a converged run's gap, far below the tens of
    nats of a missed component (a missing cluster of n points costs of order n nats).
    """
    return max(5.0, 0.5 * ndim)


def mode_deficit(best_run_logl: float, optimum: Optimum | None, ndim: int) -> float | None:
    """How far a run's best log-likelihood falls below the optimum beyond the threshold.

    Returns
    -------
    float or None
        ``optimum.log_likelihood − best_run_logl`` when it exceeds :func:`deficit_threshold`
        (the run missed a mode), else None (no optimum, or the run reached it).
    """
    if optimum is None or not np.isfinite(optimum.log_likelihood):
        return None
    gap = float(optimum.log_likelihood - best_run_logl)
    return gap if gap > deficit_threshold(ndim) else None


def maximum_log_likelihood(model: Any, rng: np.random.Generator | None = None, *,
                           run_best: np.ndarray | None = None, n_starts: int = 8,
                           max_iter: int = 300) -> Optimum | None:
    """The highest log-likelihood of ``model`` an optimiser finds.

    Parameters
    ----------
    model : MixtureModel
        The model and its data.
    rng : numpy.random.Generator, optional
        For the starts; a fixed default seed when None (the check is reproducible).
    run_best : ndarray, shape (m, ndim), optional
        A run's best points (θ), added as starts of the local optimiser; EM does not use them,
        so that its answer is independent of the run.
    n_starts : int
        Number of EM (or random local) starts.
    max_iter : int
        EM iterations per start.

    Returns
    -------
    Optimum or None
        None when the model has nothing this can optimise (no free parameter).
    """
    rng = np.random.default_rng(20261207) if rng is None else rng
    if model.ndim == 0:
        return None
    if model.k >= 1 and not model.extra_components:
        return _by_extreme_deconvolution(model, rng, n_starts, max_iter)
    return _by_local_search(model, rng, run_best, n_starts)


def optimum_record(model: Any, run: Any, seed: int) -> dict | None:
    """The optimiser's cross-check of one run, as stored in its summary.

    The comparison is made on the log posterior density, ln L + ln π, where the prior's
    density is known (:func:`nestmix.priors.density.prior_log_density`): the run's best sample
    against the optimiser's maximum of the likelihood. A maximum of the likelihood that the
    prior all but forbids (a component shrunk onto two points, a variance far below what an
    inverse-gamma prior allows) is a spike no sampler should find and no evidence contains;
    on the log posterior it scores low and raises nothing. A mode the run missed scores high
    on both. Where the prior density is not known the log-likelihoods are compared.

    Parameters
    ----------
    model : MixtureModel
    run : NestedRun
        Its ``logl`` and ``samples`` give the best point the run found.
    seed : int
        The run's seed (the starts are drawn from it: the record is reproducible).

    Returns
    -------
    dict or None
        ``best_run_logl`` and ``log_likelihood`` (the run's best and the optimiser's
        log-likelihood), ``scale`` (``"log posterior"`` or ``"log likelihood"``),
        ``best_run`` and ``optimum`` (the two points on that scale), ``method``,
        ``threshold``, ``deficit`` (``optimum − best_run`` beyond the threshold, else None) and
        ``seconds``; ``{"error": …}`` when the optimiser failed (recorded, never fatal); None
        for a run without samples.
    """
    logl = np.asarray(run.logl, dtype=float)
    if logl.size == 0:
        return None
    start = time.perf_counter()
    best = float(np.max(logl))
    top = np.asarray(run.samples)[np.argsort(logl)[-5:]]
    try:
        optimum = maximum_log_likelihood(model, np.random.default_rng(seed), run_best=top)
    except Exception as exc:  # the run itself is sound: keep it and say what failed
        return {"best_run_logl": best, "error": f"{type(exc).__name__}: {exc}"}
    if optimum is None:
        return None
    scale, best_run, at_optimum = "log likelihood", best, optimum.log_likelihood
    try:
        from nestmix.priors.density import prior_log_density

        samples = np.asarray(run.samples, dtype=float)
        with np.errstate(invalid="ignore"):
            scores = logl + prior_log_density(model, samples)
        prior_at_optimum = float(prior_log_density(model, optimum.theta[None, :])[0])
        if np.isfinite(scores).any():
            scale = "log posterior"
            best_run = float(np.max(scores[np.isfinite(scores)]))
            at_optimum = optimum.log_likelihood + prior_at_optimum
    except (ValueError, TypeError, AttributeError):  # no known prior density: likelihoods
        pass
    threshold = deficit_threshold(model.ndim)
    gap = at_optimum - best_run
    return {"best_run_logl": best, "log_likelihood": optimum.log_likelihood, "scale": scale,
            "best_run": best_run, "optimum": at_optimum, "method": optimum.method,
            "threshold": threshold,
            "deficit": float(gap) if np.isfinite(gap) and gap > threshold else None,
            "seconds": time.perf_counter() - start}


# ------------------------------------------------------------------ extreme deconvolution
def _by_extreme_deconvolution(model: Any, rng: np.random.Generator, n_starts: int,
                              max_iter: int) -> Optimum:
    y = np.asarray(model.data.values, dtype=float)
    errors = None if model.data.covariances is None else np.asarray(model.data.covariances)
    log_bg = model._log_background
    fraction = _FLOOR_NO_ERRORS if errors is None else _FLOOR_WITH_ERRORS
    floor = fraction * np.var(y, axis=0).clip(min=1e-300)
    family = model.spec.covariance
    # the starts explore on a random subset of at most _EXPLORE_POINTS points (each EM pass is
    # N × K × D² work); the best of them is then polished on all the data
    subset = np.arange(len(y))
    if len(y) > _EXPLORE_POINTS:
        subset = np.sort(rng.choice(len(y), _EXPLORE_POINTS, replace=False))
    sub_errors = None if errors is None else errors[subset]
    sub_bg = None if log_bg is None else log_bg[subset]
    explored: tuple[float, tuple] | None = None
    for _ in range(n_starts):
        state = _initial_state(y[subset], model.k, log_bg is not None, rng)
        for fit_logl, fitted in _em_iterates(y[subset], sub_errors, sub_bg, state, family,
                                             floor, max_iter):
            if explored is None or fit_logl > explored[0]:
                explored = (fit_logl, fitted)
    assert explored is not None
    best = explored
    if len(subset) < len(y):
        best = (-np.inf, explored[1])
        for fit_logl, fitted in _em_iterates(y, errors, log_bg, explored[1], family, floor,
                                             min(max_iter, 100)):
            if fit_logl > best[0]:
                best = (fit_logl, fitted)
    assert best is not None
    theta = _as_theta(model, *best[1])
    logl = float(model.log_likelihood(theta))
    return Optimum(log_likelihood=logl, theta=theta, method="xd-em", starts=n_starts, calls=1)


def _initial_state(y: np.ndarray, k: int, background: bool,
                   rng: np.random.Generator) -> tuple:
    """k-means++ centres, the covariance of each centre's nearest points, their shares."""
    n, d = y.shape
    centres = [y[rng.integers(n)]]
    for _ in range(1, k):
        dist = np.min([np.sum((y - c) ** 2, axis=1) for c in centres], axis=0)
        total = dist.sum()
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=dist / total)
        centres.append(y[pick])
    means = np.array(centres)
    nearest = np.argmin(((y[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    overall = np.atleast_2d(np.cov(y.T)) + 1e-12 * np.eye(d)
    covs = np.empty((k, d, d))
    weights = np.empty(k + int(background))
    for j in range(k):
        members = y[nearest == j]
        covs[j] = (np.atleast_2d(np.cov(members.T)) + 1e-3 * overall
                   if len(members) > d else overall / k)
        weights[j] = max(len(members), 1)
    if background:
        weights[k] = 0.1 * weights[:k].sum()
    return weights / weights.sum(), means, covs


def _em_iterates(y: np.ndarray, errors: np.ndarray | None, log_bg: np.ndarray | None,
                 state: tuple, family: str, floor: np.ndarray, max_iter: int):
    """Yield (log-likelihood, (weights, means, covs)) of each EM iterate."""
    weights, means, covs = state
    n, d = y.shape
    k = means.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(1, k * d * d))
    previous = -np.inf
    for _ in range(max_iter):
        total_logl = 0.0
        resp_sum = np.zeros(weights.shape[0])
        stats = []
        for start in range(0, n, chunk):
            yc = y[start:start + chunk]
            sc = None if errors is None else errors[start:start + chunk]
            log_terms, solved, t_inv = _component_terms(yc, sc, means, covs)
            with np.errstate(divide="ignore"):
                log_terms = log_terms + np.log(weights[:k])
                if log_bg is not None:
                    bg = (np.log(weights[k]) + log_bg[start:start + chunk])[:, None]
                    log_terms = np.concatenate([log_terms, bg], axis=1)
            norm = logsumexp(log_terms, axis=1)
            total_logl += float(norm.sum())
            q = np.exp(log_terms - norm[:, None])
            resp_sum += q.sum(axis=0)
            stats.append((q[:, :k], solved, t_inv))
        yield total_logl, (weights.copy(), means.copy(), covs.copy())
        if not np.isfinite(total_logl) or total_logl - previous < 1e-3:
            return
        previous = total_logl
        # M-step: b_ik = μ_k + V_k T_ik⁻¹ (y_i − μ_k), B_ik = V_k − V_k T_ik⁻¹ V_k
        b_sums = np.zeros((k, d))
        spread = np.zeros((k, d, d))
        qk = resp_sum[:k].clip(min=1e-300)
        b_all = []
        for q, solved, t_inv in stats:
            b = means[None] + (covs[None] @ solved[..., None])[..., 0]
            b_all.append((q, b, t_inv))
            b_sums += np.einsum("nk,nka->ka", q, b)
        new_means = b_sums / qk[:, None]
        for q, b, t_inv in b_all:
            diff = new_means[None] - b
            spread += np.einsum("nk,nka,nkb->kab", q, diff, diff)
            if t_inv is not None:  # the B_ik term (zero without measurement errors)
                v_t_v = covs[None] @ t_inv @ covs[None]  # V T⁻¹ V (an einsum: 5× slower)
                spread += np.einsum("nk,kab->kab", q, covs) - np.einsum("nk,nkab->kab", q, v_t_v)
        new_covs = _projected(spread, qk, family, d) + np.diag(floor)
        weights = resp_sum / resp_sum.sum()
        means, covs = new_means, new_covs


def _component_terms(y: np.ndarray, errors: np.ndarray | None, means: np.ndarray,
                     covs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """log N(y_i | μ_k, V_k + S_i), T⁻¹(y − μ) and T⁻¹ (None without errors)."""
    n, d = y.shape
    k = means.shape[0]
    total = np.broadcast_to(covs[None], (n, k, d, d))
    if errors is not None:
        total = total + errors[:, None]
    chol = np.linalg.cholesky(total)
    diff = y[:, None, :] - means[None]
    z = np.linalg.solve(chol, diff[..., None])[..., 0]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(axis=2)
    log_terms = -0.5 * (np.sum(z**2, axis=2) + log_det + d * np.log(2 * np.pi))
    if errors is None:
        inv = np.linalg.inv(covs)
        solved = np.einsum("kab,nkb->nka", inv, diff)
        return log_terms, solved, None
    t_inv = np.linalg.inv(total)
    solved = np.einsum("nkab,nkb->nka", t_inv, diff)
    return log_terms, solved, t_inv


def _projected(spread: np.ndarray, qk: np.ndarray, family: str, d: int) -> np.ndarray:
    """The M-step covariance of each component, projected onto the covariance family."""
    if family == "tied":
        pooled = spread.sum(axis=0) / qk.sum()
        return np.broadcast_to(pooled, spread.shape).copy()
    covs = spread / qk[:, None, None]
    if family == "diag" or (family == "spherical" and d == 1):
        return np.einsum("kaa->ka", covs)[..., None] * np.eye(d)
    if family == "spherical":
        return (np.einsum("kaa->k", covs) / d)[:, None, None] * np.eye(d)
    return 0.5 * (covs + np.swapaxes(covs, 1, 2))


def _as_theta(model: Any, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """The model's θ for mixture parameters (the full vector φ, then its free entries)."""
    layout = model._layout
    prior = model.prior
    k, d = means.shape
    phi = np.zeros(len(prior.names))
    for index, value in prior.fixed:
        phi[index] = value
    order = np.arange(k)
    if model.spec.order != "none":  # ordered means: the first axis increases with the label
        order = np.argsort(means[:, 0], kind="stable")
    weights = np.concatenate([weights[:k][order], weights[k:]])
    phi[:layout.n_weights] = weights[:layout.n_weights]
    means, covs = means[order], covs[order]
    phi[layout.mean_offset:layout.scale_offset] = means.ravel()
    sets = covs[:1] if layout.n_scale_sets == 1 else covs
    variances = np.einsum("kaa->ka", sets)
    if layout.scales_per_set == 1:
        variances = variances.mean(axis=1, keepdims=True)
    scales = np.sqrt(variances) if layout.scale_is_sigma else variances
    phi[layout.scale_offset:layout.corr_offset] = scales.ravel()
    if layout.with_corr:
        std = np.sqrt(np.einsum("kaa->ka", sets))
        corr = sets / (std[:, :, None] * std[:, None, :])
        iu = np.triu_indices(d, 1)
        phi[layout.corr_offset:layout.extra_offset] = corr[:, iu[0], iu[1]].ravel()
    return phi[prior.free_indices]


# ------------------------------------------------------------------ local search
def _by_local_search(model: Any, rng: np.random.Generator, run_best: np.ndarray | None,
                     n_starts: int) -> Optimum:
    """L-BFGS-B on u ↦ −ln L(prior_transform(u)) from the best of many prior draws."""
    from scipy.optimize import minimize

    eps = 1e-9
    ndim = model.ndim
    draws = rng.random((max(50 * n_starts, 200), ndim))
    logl = model.log_likelihood_batch(model.prior_transform(draws))
    calls = len(draws)
    starts = [draws[i] for i in np.argsort(logl)[::-1][:n_starts]]
    best_theta = model.prior_transform(starts[0])
    best_logl = float(np.max(logl))
    if run_best is not None and len(run_best):
        best_seen = int(np.argmax(model.log_likelihood_batch(np.atleast_2d(run_best))))
        calls += len(np.atleast_2d(run_best))
        theta0 = np.atleast_2d(run_best)[best_seen]
        value = float(model.log_likelihood(theta0))
        if value > best_logl:
            best_logl, best_theta = value, theta0

    def objective(u: np.ndarray) -> float:
        value = model.log_likelihood(model.prior_transform(np.clip(u, eps, 1 - eps)))
        return -value if np.isfinite(value) else 1e300

    for u0 in starts:
        fit = minimize(objective, u0, method="L-BFGS-B", bounds=[(eps, 1 - eps)] * ndim,
                       options={"maxfun": 200 * (ndim + 1)})
        calls += int(fit.nfev)
        if -fit.fun > best_logl:
            best_logl = float(-fit.fun)
            best_theta = model.prior_transform(np.clip(fit.x, eps, 1 - eps))
    return Optimum(log_likelihood=best_logl, theta=np.asarray(best_theta, dtype=float),
                   method="local", starts=len(starts), calls=calls)
