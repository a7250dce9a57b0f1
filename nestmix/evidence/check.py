"""A second ln Z from a run's own posterior samples, without a nested sampler.

A nested-sampling run that loses part of the posterior's mass on the way (a label copy whose live
points died out, a mode left behind) reports a ln Z that is too low, with an error bar that does
not know it. The run's posterior samples usually still cover the posterior well enough to build
a good *importance-sampling proposal* from them; importance sampling then estimates ln Z again,
independently of the sampler's prior-volume bookkeeping:

1. map the samples to the unit cube's logit, x = logit(u) (unbounded, and the prior there is the
   logistic density: the target is log L(T(σ(x))) + Σ log σ'(x));
2. fit the proposal to 2 000 posterior draws of x: one Student-t with their mean and covariance
   when a pilot of ``draws``/5 draws keeps 30 % effective samples (a unimodal posterior: most
   runs), else a Gaussian mixture (scikit-learn's ``GaussianMixture``, 1 to ``max_components``
   components chosen by BIC, stopping when BIC rose twice in a row);
3. draw from the Student-t (mixture; ν = 5) with those centres and covariances widened by 1.2²,
   and average L π / q over ``draws`` draws (10 000 by default): ln Z, its standard error and
   the effective sample size;
4. while that keeps fewer than :data:`MIN_ESS` effective draws, refit the proposal to its own
   weighted draws (adaptive importance sampling, up to :data:`REFINE_ROUNDS` more rounds of
   ``draws``): on enzyme K = 3, whose posterior in logit(u) is far from any mixture fitted to
   the run's samples (inverse-gamma variances deep in their prior's tail), the effective draws
   went from about 20 to 720–1 930 (three generator seeds and the sweep's), and ln Z to
   −82.70 … −82.76 against the reference −82.71 ± 0.02 (``benchmarks/README.md``).

On the calibration problems (``benchmarks/calibration.py``) this estimate agrees with the
quadrature and importance-sampling references within 0.01 nats from 20 000 draws, and it flagged
the one dynesty run that was 4.2 σ low (galaxies K = 2, seed 1: −233.631 ± 0.178 against the
check's −232.884 ± 0.007 and the reference −232.877). It needs the samples' unit-cube coordinates
(``NestedRun.samples_u``: dynesty's, and PolyChord's derived parameters), and it cannot see
mass the run never visited: a label copy no sample reached is missing from both estimates (the
label census says so, :mod:`nestmix.modes.census`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

import numpy as np
from scipy import special, stats

from nestmix.results import NestedRun
from nestmix.runtime.backend import single_threaded_blas

__all__ = ["DISAGREE_Z", "MIN_ESS", "ImportanceCheck", "LogitTarget", "StudentTMixture",
           "crosscheck_warning", "disagreement", "evidence_from_log_weights",
           "fit_student_t_mixture", "importance_check", "importance_estimate"]

DISAGREE_Z = 3.0
"""|ln Z(run) − ln Z(check)| / combined error beyond which the two disagree."""
MIN_ESS = 500.0
"""Fewer effective draws than this and the check says nothing (the proposal missed)."""
PILOT_ESS_FRACTION = 0.3
"""A single Student-t is kept when its pilot draws keep this fraction as effective sample."""
MAX_PROPOSAL_COMPONENTS = 24
"""Components a refined proposal keeps (the heaviest), so that a round stays cheap."""
REFINE_ROUNDS = 4
"""Rounds of adaptive importance sampling (the proposal refitted to the last round's weighted
draws) while the effective draws stay below :data:`MIN_ESS`; two rounds in a row that do not
raise the best effective draws by half stop it. The round with the most effective draws is
reported."""


@dataclass(frozen=True)
class ImportanceCheck:
    """The importance-sampling estimate of a run's ln Z (:func:`importance_check`).

    Attributes
    ----------
    logZ, logZ_err : float
        The estimate and its standard error (from the spread of the importance weights).
    ess : float
        Effective sample size of the importance weights (Kish).
    draws : int
        Draws from the proposal (each one likelihood call).
    components : int
        Components of the proposal's mixture.
    seconds : float
    label_copies : int
        1 for the direct estimate; K! for the symmetrised one (exchangeable labels): ln Z
        estimated over one label copy's region of the parameter space and multiplied by the
        number of copies (:func:`importance_check`).
    """

    logZ: float
    logZ_err: float
    ess: float
    draws: int
    components: int
    seconds: float
    label_copies: int = 1

    @property
    def usable(self) -> bool:
        """True when the estimate is good enough to judge the run by (ESS ≥ :data:`MIN_ESS`)."""
        return bool(np.isfinite(self.logZ) and self.ess >= MIN_ESS)

    def to_dict(self) -> dict:
        """JSON-able."""
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: Any) -> ImportanceCheck | None:
        """Inverse of :meth:`to_dict`; None for a failed check (``error``) or a record that is
        not one (a damaged file must not stop the evidence table)."""
        if not isinstance(obj, dict) or "error" in obj:
            return None
        try:
            return cls(logZ=float(obj["logZ"]), logZ_err=float(obj["logZ_err"]),
                       ess=float(obj["ess"]), draws=int(obj["draws"]),
                       components=int(obj["components"]), seconds=float(obj["seconds"]),
                       label_copies=int(obj.get("label_copies", 1)))
        except (KeyError, TypeError, ValueError):
            return None


class LogitTarget:
    """log L(T(σ(x))) + Σ log σ'(x): the posterior × Z of a model in x = logit(u).

    Parameters
    ----------
    model
        Anything with ``prior_transform(u)`` and ``log_likelihood_batch(theta)`` (a
        :class:`nestmix.MixtureModel`).
    region : callable, optional
        θ (m, ndim) → bool (m,): the target is restricted to where it is True (−inf elsewhere).
    """

    def __init__(self, model: Any, region: Any = None) -> None:
        self.model = model
        self.ndim = int(model.ndim)
        self.region = region
        self.calls = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        self.calls += x.shape[0]
        u = np.clip(special.expit(x), 1e-300, 1 - 1e-16)
        log_jacobian = -np.logaddexp(0, -x) - np.logaddexp(0, x)
        out = np.full(x.shape[0], -np.inf)
        ok = np.all(np.isfinite(x), axis=1)
        if ok.any():
            theta = self.model.prior_transform(u[ok])
            loglike = self.model.log_likelihood_batch(theta)
            value = (np.where(np.isfinite(loglike), loglike, -np.inf)
                     + log_jacobian[ok].sum(axis=1))
            if self.region is not None:
                value = np.where(self.region(theta), value, -np.inf)
            out[ok] = value
        return out


class StudentTMixture:
    """A mixture of multivariate Student-t distributions: draws, log-density, responsibilities.

    Parameters
    ----------
    means, covs : sequences of arrays
        Centres and shape matrices of the components.
    weights : sequence of float
        Mixture weights (normalised here).
    df : float
        Degrees of freedom of every component.
    """

    def __init__(self, means, covs, weights, df: float = 5.0) -> None:
        self.means = [np.asarray(m, dtype=float) for m in means]
        self.covs = [np.asarray(c, dtype=float) for c in covs]
        self.weights = np.asarray(weights, dtype=float) / np.sum(weights)
        self.df = df
        self.dists = [stats.multivariate_t(loc=m, shape=c, df=df, allow_singular=False)
                      for m, c in zip(self.means, self.covs, strict=True)]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws, shape (n, d)."""
        counts = rng.multinomial(n, self.weights)
        parts = [np.atleast_2d(d.rvs(size=c, random_state=rng)).reshape(c, -1)
                 for d, c in zip(self.dists, counts, strict=True) if c]
        return np.vstack(parts)

    def _log_terms(self, x: np.ndarray) -> np.ndarray:
        return np.stack([np.log(w) + np.atleast_1d(d.logpdf(x))
                         for w, d in zip(self.weights, self.dists, strict=True)])

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log-density at the rows of ``x``."""
        return special.logsumexp(self._log_terms(x), axis=0)

    def responsibilities(self, x: np.ndarray) -> np.ndarray:
        """Posterior probability of each component for each row of ``x``, shape (m, n)."""
        terms = self._log_terms(x)
        return np.exp(terms - special.logsumexp(terms, axis=0))


def importance_estimate(target: LogitTarget, proposal: StudentTMixture, n: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float,
                                                           float, float]:
    """Draws, their normalised weights, ln Z, its standard error and the ESS, from ``n`` draws."""
    x = proposal.sample(n, rng)
    w, logz, err, ess = evidence_from_log_weights(target(x) - proposal.logpdf(x))
    return x, w, logz, err, ess


def evidence_from_log_weights(log_weights: np.ndarray) -> tuple[np.ndarray, float, float,
                                                                  float]:
    """The weights scaled to a largest of 1, ln Z (the log of the mean weight), its standard
    error and the effective sample size, from log importance weights ln L + ln π − ln q of
    draws from q (−inf where π is 0)."""
    log_weights = np.asarray(log_weights, dtype=float)
    top = float(np.max(log_weights))
    if not np.isfinite(top):
        return np.zeros(len(log_weights)), -math.inf, math.inf, 0.0
    w = np.exp(log_weights - top)
    mean = float(w.mean())
    err = float(w.std(ddof=1) / math.sqrt(len(w)) / mean)
    return w, top + math.log(mean), err, float(w.sum() ** 2 / np.sum(w * w))


_F = TypeVar("_F", bound=Callable[..., Any])


def _single_threaded(func: _F) -> _F:
    """Run ``func`` with one BLAS thread: its matrices are small, and threads only contend
    (the bridge's mixture fits ran 8 times faster so on a shared machine)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return func(*args, **kwargs)
    return cast(_F, wrapper)


@_single_threaded
def importance_check(model: Any, run: NestedRun, rng: np.random.Generator | None = None,
                     draws: int = 10_000, fit_points: int = 2_000,
                     max_components: int = 6,
                     symmetrise: bool | None = None) -> ImportanceCheck | None:
    """ln Z of ``model`` by importance sampling from a proposal fitted to ``run``'s samples.

    Parameters
    ----------
    model
        The model the run sampled (``prior_transform``, ``log_likelihood_batch``, ``ndim``).
    run : NestedRun
        A finished run with ``samples_u`` (the unit-cube coordinates of its samples).
    rng : numpy.random.Generator, optional
    draws : int
        Draws from the proposal, one likelihood call each.
    fit_points : int
        Posterior draws (resampled by weight) the proposal is fitted to.
    max_components : int
        Largest number of mixture components tried.
    symmetrise : bool, optional
        True: the symmetrised estimate only (exchangeable labels only); False: the direct
        one only; None (default): the direct one, and the symmetrised one where the direct one
        stays below :data:`MIN_ESS` effective draws and the labels are exchangeable.

    Returns
    -------
    ImportanceCheck or None
        None when the run has no unit-cube samples.

    Notes
    -----
    With exchangeable labels (a :class:`nestmix.MixtureModel` with ``order = "none"`` and
    K ≥ 2) the posterior holds K! label copies; when the direct estimate cannot reach
    :data:`MIN_ESS` effective draws (six or more copies, each with its own shape, defeat a
    mixture of six components), the check is *symmetrised*: the parameter space is cut into K!
    regions of equal prior and posterior mass by the order of the components' first-axis means
    (the prior is exchangeable, so each region holds Z / K!), the proposal is fitted to the
    samples of the region with the most posterior mass, draws outside it count zero, and ln Z
    = ln K! + ln Z(region). That estimate also counts label copies the run never visited.
    """
    if run.samples_u is None or len(run.samples_u) < 2:
        return None
    rng = rng if rng is not None else np.random.default_rng(0)
    start = time.perf_counter()
    weights = run.weights
    if symmetrise and not _exchangeable(model):
        raise ValueError("a symmetrised check needs a mixture with exchangeable labels "
                         "(order = 'none', K >= 2)")
    direct = None if symmetrise else _estimate(LogitTarget(model), run.samples_u, weights,
                                               rng, draws, fit_points, max_components)
    if (direct is None or direct[2] < MIN_ESS) and _exchangeable(model) \
            and symmetrise is not False:
        symmetric = _symmetrised(model, run, weights, rng, draws, fit_points, max_components)
        if symmetric is not None and (direct is None or symmetric[0][2] > direct[2]):
            (logz, err, ess, components), copies = symmetric
            return ImportanceCheck(logZ=logz, logZ_err=err, ess=ess, draws=draws,
                                   components=components, seconds=time.perf_counter() - start,
                                   label_copies=copies)
    if direct is None:
        return None
    logz, err, ess, components = direct
    return ImportanceCheck(logZ=logz, logZ_err=err, ess=ess, draws=draws, components=components,
                           seconds=time.perf_counter() - start)


def _estimate(target: LogitTarget, samples_u: np.ndarray, weights: np.ndarray,
              rng: np.random.Generator, draws: int, fit_points: int,
              max_components: int) -> tuple[float, float, float, int] | None:
    """(ln Z, error, ESS, proposal components) from a proposal fitted to posterior draws of
    ``samples_u`` (``weights``, summing to one); None when no proposal can be fitted."""
    picked = rng.choice(len(weights), size=fit_points, p=weights)
    x = special.logit(np.clip(samples_u[picked], 1e-12, 1 - 1e-12))
    proposal = _one_component(x)
    if proposal is not None:  # a unimodal posterior: one Student-t does (no mixture fit)
        pilot = max(draws // 5, 200)
        *_, ess = importance_estimate(target, proposal, pilot, rng)
        if ess < PILOT_ESS_FRACTION * pilot:
            proposal = None
    if proposal is None:
        proposal = fit_student_t_mixture(x, len(np.unique(picked)), max_components, rng)
    if proposal is None:
        return None
    x_draws, w_draws, logz, err, ess = importance_estimate(target, proposal, draws, rng)
    best = (logz, err, ess, len(proposal.weights))
    stalled = 0
    for _ in range(REFINE_ROUNDS):  # adaptive importance sampling where the fit fell short
        if best[2] >= MIN_ESS or not np.isfinite(logz) or stalled == 2:
            break
        refined = _refined(proposal, x_draws, w_draws)
        if refined is None:
            break
        proposal = refined
        x_draws, w_draws, logz, err, ess = importance_estimate(target, proposal, draws, rng)
        stalled = stalled + 1 if ess <= 1.5 * best[2] else 0
        if ess > best[2]:
            best = (logz, err, ess, len(proposal.weights))
    return best


def _refined(proposal: StudentTMixture, x: np.ndarray, w: np.ndarray) -> StudentTMixture | None:
    """The proposal, half of it refitted to weighted draws: each component's responsibility-
    weighted mean, and covariance (widened by 1.2²) where it has at least 2 × ndim effective
    draws (else its shape is kept); the other half keeps the components it had (a defensive
    mixture: no region the run's samples covered loses its proposal mass)."""
    resp = proposal.responsibilities(x) * w[None, :]
    means, covs, weights = [], [], []
    for j in range(len(proposal.weights)):
        r = resp[j]
        total = r.sum()
        if total <= 0:
            continue
        effective = total ** 2 / np.sum(r * r)
        if effective < 2:
            continue
        mean = (r[:, None] * x).sum(axis=0) / total
        if effective >= 2 * x.shape[1]:
            dx = x - mean
            cov = 1.44 * np.einsum("n,ni,nj->ij", r, dx, dx) / total
        else:  # too few draws for a covariance: move the component, keep its shape
            cov = proposal.covs[j]
        means.append(mean)
        covs.append(cov + 1e-9 * np.eye(x.shape[1]))
        weights.append(total)
    if not means:
        return None
    half = 0.5 / np.sum(weights)
    all_means = list(proposal.means) + means
    all_covs = list(proposal.covs) + covs
    all_weights = np.array(list(0.5 * proposal.weights) + [half * v for v in weights])
    keep = np.argsort(all_weights)[::-1][:MAX_PROPOSAL_COMPONENTS]  # the heaviest
    try:
        return StudentTMixture([all_means[i] for i in keep], [all_covs[i] for i in keep],
                               all_weights[keep], df=proposal.df)
    except (np.linalg.LinAlgError, ValueError):  # a degenerate refit: keep what there is
        return None


def _exchangeable(model: Any) -> bool:
    """True for a mixture whose K ≥ 2 Gaussian labels are exchangeable under its prior."""
    spec = getattr(model, "spec", None)
    return (getattr(spec, "order", None) == "none" and int(getattr(model, "k", 0)) >= 2
            and hasattr(model, "expand"))


def _copy_of(model: Any, thetas: np.ndarray) -> np.ndarray:
    """Which of the K! regions each θ lies in: the order of its components' first-axis means,
    as one integer per row."""
    means = model.expand(thetas).means[:, :, 0]
    order = np.argsort(means, axis=1, kind="stable")
    k = order.shape[1]
    return order @ (k ** np.arange(k))


def _symmetrised(model: Any, run: NestedRun, weights: np.ndarray, rng: np.random.Generator,
                 draws: int, fit_points: int, max_components: int
                 ) -> tuple[tuple[float, float, float, int], int] | None:
    """The symmetrised estimate (see :func:`importance_check`) and K!; None if not possible."""
    assert run.samples_u is not None  # checked by the caller
    copy = _copy_of(model, np.asarray(run.samples))
    masses = np.bincount(np.unique(copy, return_inverse=True)[1], weights=weights)
    chosen = np.unique(copy)[int(np.argmax(masses))]
    inside = copy == chosen
    if np.count_nonzero(weights[inside] > 0) < 2:
        return None

    def region(thetas: np.ndarray) -> np.ndarray:
        return _copy_of(model, thetas) == chosen

    estimate = _estimate(LogitTarget(model, region), run.samples_u[inside],
                         weights[inside] / weights[inside].sum(), rng, draws, fit_points,
                         max_components)
    if estimate is None:
        return None
    copies = math.factorial(int(model.k))
    logz, err, ess, components = estimate
    return (logz + math.log(copies), err, ess, components), copies


def _one_component(x: np.ndarray) -> StudentTMixture | None:
    """One Student-t with the draws' mean and covariance (widened by 1.2²)."""
    cov = np.atleast_2d(np.cov(x, rowvar=False)) + 1e-9 * np.eye(x.shape[1])
    try:
        return StudentTMixture([x.mean(axis=0)], [1.44 * cov], [1.0])
    except (np.linalg.LinAlgError, ValueError):  # degenerate draws (one distinct point)
        return None


def fit_student_t_mixture(x: np.ndarray, distinct: int, max_components: int,
                          rng: np.random.Generator,
                          patience: int = 2) -> StudentTMixture | None:
    """Student-t mixture (ν = 5, covariances widened by 1.2²) from a Gaussian mixture fitted to
    the draws ``x`` (n, d), its number of components chosen by BIC (stopping when BIC rose
    ``patience`` times in a row, and at 5 (d + 1) ``distinct`` points per component); None when
    too few distinct points for one component."""
    from sklearn.mixture import GaussianMixture

    best, worse = None, 0
    for components in range(1, max_components + 1):
        if distinct < 5 * components * (x.shape[1] + 1):  # too few points for more components
            break
        fit = GaussianMixture(components, covariance_type="full", reg_covar=1e-6,
                              init_params="k-means++",
                              random_state=int(rng.integers(2**31))).fit(x)
        bic = fit.bic(x)
        if best is None or bic < best[0]:
            best, worse = (bic, fit), 0
        else:
            worse += 1
            if worse == patience:  # more components will not help
                break
    if best is None:
        return None
    fit = best[1]
    return StudentTMixture(fit.means_, [1.44 * c for c in fit.covariances_], fit.weights_)


def disagreement(logz: float, logz_err: float, check: ImportanceCheck | None) -> float | None:
    """(ln Z − check) / combined error, or None when the check is missing or not usable."""
    if check is None or not check.usable:
        return None
    return float((logz - check.logZ) / math.hypot(logz_err, check.logZ_err))


def crosscheck_warning(logz: float, logz_err: float, check_logz: float, check_err: float,
                       z: float, method: str = "importance sampling") -> str:
    """The row warning when the sampler's ln Z and the check (by ``method``: importance
    sampling, or bridge sampling, :mod:`nestmix.evidence.bridge`) disagree."""
    side = "below" if z < 0 else "above"
    return (f"not converged: an independent estimate of ln Z by {method} from "
            f"the run's own posterior samples gives {check_logz:.3f} ± {check_err:.3f}; the "
            f"sampler's {logz:.3f} ± {logz_err:.3f} is {abs(z):.1f} combined errors {side} it, so "
            + ("the run probably lost part of the posterior's mass on the way (ln Z too low)"
               if z < 0 else "the sampler's ln Z is too high for its error bar")
            + ": rerun this K with more live points or more seeds")
