"""A second, independent ln Z from a run's posterior samples: bridge sampling.

The bridge identity (Meng & Wong 1996): for the unnormalised posterior p(θ) = L(θ) π(θ), any
proposal density g and any bridge function α,

    Z = E_g[p α] / E_post[g α],

and the optimal α ∝ 1 / (s₁ p / Z + s₂ g) (s₁, s₂ the shares of posterior and proposal draws)
gives the iterative estimator of Meng & Wong (Gronau et al. 2017, eq. 4; ``r`` the current Z):

    r ← [ (1/n₂) Σⱼ l₂ⱼ / (s₁ l₂ⱼ + s₂ r) ] / [ Σᵢ wᵢ / (s₁ l₁ᵢ + s₂ r) ],   l = p / g,

with the posterior draws θᵢ (weights wᵢ summing to one) and n₂ proposal draws θ̃ⱼ. Unlike
importance sampling, g need not cover the posterior: both averages are bounded, and where g and
the posterior overlap poorly the reported error grows instead of the estimate going wrong.

**Where it works.** In the natural parameters θ of a :class:`nestmix.MixtureModel`, whose
prior density π(θ) is known block by block (:mod:`nestmix.priors.density`: univariate priors,
the ordered block's K! Π base(μ) on μ₁ < … < μ_K, Dirichlet weights, LKJ correlations with
their normalising constant), so that p at the run's own samples costs nothing: their log-likelihoods
are stored. The proposal is a Student-t mixture (:func:`nestmix.evidence.check.
fit_student_t_mixture`) fitted to posterior draws in unconstrained coordinates z(θ) (log of
positive scales, logit of bounded parameters, additive log-ratios of the weights, atanh of the
correlations), carried back to θ with its Jacobian: g(θ) = g_z(z(θ)) |∂z/∂θ|. Proposal draws
outside the prior's support (a correlation matrix that is not positive definite, means out of
order) have p = 0 and cost no likelihood call. Models that are not built of nestmix's prior
blocks are handled in x = logit(u) of the unit cube instead (prior density Π σ'(x), the run's
``samples_u``), without label symmetry.

**Label symmetry** (Frühwirth-Schnatter 2004). With exchangeable labels (``order = "none"``,
K ≥ 2, one Dirichlet α for the K Gaussians) L and π are invariant under the K! relabellings
θ ↦ Pθ, which act linearly on θ with |det P| = 1 (the free weights are w₁ … w_{K−1} with the
last implied, an affine map with an integer inverse). The proposal is fitted to *relabelled*
posterior draws (one label copy, :func:`nestmix.modes.relabel.relabel`) and symmetrised:
g_S(θ) = (1/|S|) Σ_{P∈S} g(Pθ), drawn from as P⁻¹θ₀ with θ₀ ~ g and P uniform in S. With S
the whole group (K! ≤ ``max_permutations``; K ≤ 6 by default) g_S is exactly symmetric, and
because p and α are symmetric too, E_post[g_S α] is the same over any one label copy as over
all of them: the estimate counts every copy even when the run visited only one, and does not
depend on how the run's mass is shared between the copies it visited. Without symmetrising, a
run that visited one copy gives ln Z − ln K! (the test suite shows it). With a random subset S
(identity plus random permutations, K! > ``max_permutations``) the matching estimator relabels
every posterior draw by a uniformly random permutation of the whole group: since p is
symmetric, these are draws of the full symmetric posterior, and the bridge identity holds for
the proper density g_S; the posterior side then loses a share 1 − |S| / K! of its draws to
g_S ≈ 0, which the reported error shows.

**Ordered labels** (``order = "means"``): the prior is K! Π base(μ) on μ₁ₓ < … < μ_Kₓ and 0
elsewhere, so the posterior is a single labelling and nothing is symmetrised; the proposal is
fitted to the ordered draws and its mass outside the ordered region is simply wasted (p = 0
there). Both priors give the same Z (:class:`nestmix.priors.OrderedBlock`).

**Cost and error.** The run's samples are split at random into two halves, and the bridge is
made twice with the halves' roles swapped: one half shapes the proposal (``fit_points`` draws by
weight, relabelled), the other is the posterior side (``posterior_draws`` / 2 draws by
systematic resampling, their effective number capped by the half's Kish ESS); the estimate is
the mean of the two. The proposal sides cost ``proposal_draws`` likelihood calls in all (fewer:
draws outside the prior's support are skipped), by the model's compiled batch likelihood; the
posterior sides none. The error (``logZ_err``) is the larger of

* ``err_bridge``: Frühwirth-Schnatter's approximate relative mean-squared error of the bridge
  estimator (Gronau et al. 2017, eq. 17: the variances of the two bounded averages, the
  posterior side's over its effective draws), which is its error in ln Z, and
* ``err_split``: the batch error of the two halves, |ln Z₁ − ln Z₂| / 2, which also sees a
  proposal-dependent estimate (posterior draws that are not quite the posterior), and
* ``err_importance``: how far the importance-sampling estimate from the same proposal draws,
  Ẑ_IS = mean(p / g), lies above the bridge (max(0, ln Ẑ_IS − ln Ẑ), the root mean square
  over the two halves; with a random subset S of the permutations Ẑ_IS is scaled by
  K! / |S|),

and ``err_weights`` in quadrature. The third term is there because the two halves are not
independent samples of the posterior. A nested sampler's draws come in clumps of correlated
points (few independent draws behind many; worst with exchangeable labels at K ≥ 4, where
each label copy is explored by its own few live points): a random split puts the same clumps
in both halves, the proposal fitted to one half is high exactly where the other half's draws
sit, E_post[g α] comes out too high and Z too low — in both halves alike, so ``err_split``
does not see it, and ``err_bridge`` assumes independent draws. Ẑ_IS does not use the
posterior side at all: it is unbiased whatever the run's samples are (and low, not high,
when g misses part of the posterior), so its gap above the bridge measures the bridge's
bias. Measured (``tests/test_bridge_reliability.py``, the #31 notes): on exchangeable K = 4
runs at dynesty's defaults (``line4``, galaxies; references agreed by two methods) the bridge
was 0.2–0.5 nats low where err_bridge and err_split were 0.01–0.05, while Ẑ_IS lay within
0.01–0.08 of the reference, so the gap is the bias to within a few hundredths. Fitting the
proposal to one run and taking the posterior side from another, independent run removes the
bias (within 0.06); no split inside one run did (by label copy instead of at random the bias
turns high: the copies compete for the same live points). Ordered-label runs show no gap
(``line4`` ordered: −550.80 ± 0.02 and −550.75 ± 0.03 against −550.777). The term costs
nothing (Ẑ_IS is the iteration's starting value). ``err_weights`` is the spread of the
estimate over ``WEIGHT_SIMULATIONS`` sets of posterior weights with the prior volumes
simulated from the run's live-point counts (the nested sampler's own weight uncertainty, as
:meth:`nestmix.results.NestedRun.logz_simulated`).
Reliability: the effective number of draws that carry each side's average (``usable`` needs
:data:`MIN_ESS` on both), and PSIS's k̂ of the proposal-side importance weights p / g (a
generalised Pareto fitted to the largest by scipy; ``usable`` needs at most :data:`KHAT_MAX`).
Between 0.7 and 1 the bridge still agreed with references where importance sampling would not
(spare components), with an error that may be optimistic; above 1 it failed outright (enzyme
K = 5, see :data:`KHAT_MAX`).

**Across two runs** (:func:`bridge_across_runs`). Given two independent runs of one model
(different seeds; any numbers of samples), the proposal is fitted to all of run A's samples
and the posterior side drawn from all of run B's, then the roles swap; the estimate is the
mean of the two bridges, with the same error terms (``err_split`` half their difference) and
the same cost (``proposal_draws`` likelihood calls). The posterior side then shares no clumps
with the proposal's fit, so the bias above goes and with it most of the importance gap. On
``line4`` K = 4, exchangeable, dynesty at its defaults (seeds 2 and 3), the split inside each
run gave −551.170 ± 0.399 and −551.180 ± 0.458, the bridge across the two −550.741 ± 0.061
(−550.792 ± 0.075 and −550.799 ± 0.088 with other generators), against −550.777
(``tests/test_bridge_across_runs.py``). The labels are handled as for one run: exchangeable
runs may have visited different label copies (the symmetrised proposal counts them all),
ordered runs share the one labelling. It sees no more than the two runs do: mass both lack
is missing from it too.

**What it cannot see.** The posterior side *is* the run's samples. The bridge is independent of
the sampler's prior-volume bookkeeping (the ln Z of a run whose weights are right but whose
evidence is not), and it restores label copies the run never visited; but posterior mass the
run's samples lack in some other way (a mode, a configuration of a spare component the live
points lost) is missing from the proposal too, and the estimate comes out low with the run.
On K = 4 fitted to three clusters (``tests/test_evidence_bridge.py``'s data), one of two
exchangeable dynesty runs at nlive 200 gave −182.57 where a run at nlive 1000 gives
−181.87 ± 0.04 (its own ln Z: −182.29 ± 0.32). With two spare components (K = 5 on those
data), from one ordered run at nlive 200 the ordered bridge gave −182.50 and the exchangeable
model's symmetrised bridge from the same samples −182.27; at nlive 1000 −181.78 ± 0.07 and
−181.59 ± 0.05 (the run: −181.29 ± 0.15). The errors of those three low estimates were
0.06–0.10 before ``err_importance`` and are 0.97, 0.89 and 0.65 with it (the proposal-side
importance estimates lie that much higher): what looked like mass the samples lack was mostly
the clumping above, and the error now covers it.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from nestmix.errors import ModelError
from nestmix.evidence.check import StudentTMixture, fit_student_t_mixture
from nestmix.priors.density import PriorCoordinates
from nestmix.results import NestedRun
from nestmix.runtime.backend import single_threaded_blas

__all__ = ["GAP_MAX", "KHAT_MAX", "MAX_PERMUTATIONS", "MIN_ESS", "BridgeEstimate",
           "bridge_across_runs", "bridge_evidence", "bridge_record", "bridge_solve",
           "pareto_khat"]

MIN_ESS = 100.0
"""Fewer draws than this carrying either side's average and the estimate is not usable."""
KHAT_MAX = 1.0
"""PSIS's k̂ of the proposal-side weights above which the estimate is not usable: the
posterior has regions the proposal all but misses, and the run's posterior draws are not to be
trusted either (enzyme K = 5, Richardson & Green's priors, dynesty at nlive 500: bridges 7 to
29 nats below every nested-sampling estimate, each with an error under 1.7 and k̂ 1.4 to 7.7;
every case the test suite checks against a reference stays below 1: closed forms below 0,
full covariances up to 0.55, a spare component up to 0.86)."""
GAP_MAX = 1.0
"""``err_importance`` (nats) above which the estimate is not usable: its posterior side is so
far from the posterior its proposal sees that the run's draws cannot carry a bridge, and an
error this large checks nothing (enzyme K = 4, Richardson & Green's priors, ordered means,
dynesty at its defaults: a bridge 3.5 nats below the run with k̂ 0.85 and a gap of 3.0;
exchangeable runs there: gaps of 10-20; every test-suite case against a reference stays at
or below 0.14, the exchangeable K = 4 calibration runs at 0.1-0.7)."""
MAX_PERMUTATIONS = 720
"""Label permutations the proposal is averaged over: all K! up to K = 6, a random subset above."""
WEIGHT_SIMULATIONS = 24
"""Sets of simulated prior volumes whose spread of the estimate enters its error."""
_ROWS_PER_CHUNK = 100_000  # rows of (draw, permutation) evaluated at a time


@dataclass(frozen=True)
class BridgeEstimate:
    """ln Z of a model by bridge sampling from a run's samples (:func:`bridge_evidence`).

    Attributes
    ----------
    logZ, logZ_err : float
        The estimate (the mean of two bridges, the run's samples split in halves that swap
        roles) and its error: the largest of ``err_bridge``, ``err_split`` and
        ``err_importance``, and ``err_weights``, in quadrature.
    err_bridge : float
        The approximate relative mean-squared error of the bridge estimator (Gronau et al.
        2017, eq. 17), i.e. its error in ln Z from the finite numbers of draws, of the mean.
    err_split : float
        Half the difference of the two bridges: their batch error, which also sees what the
        formula cannot (a proposal-dependent estimate where the posterior draws are not
        quite the posterior).
    err_weights : float
        The standard deviation of the estimate over simulated prior volumes of the run.
    ess_posterior, ess_proposal : float
        Effective numbers of draws that carry the posterior-side and proposal-side averages
        (Kish, of each side's terms of the bridge).
    khat : float
        PSIS's Pareto k̂ of the proposal-side importance weights p / g.
    posterior_draws : int
        Posterior draws on the posterior side (with repeats).
    proposal_draws : int
        Draws from the proposal.
    likelihood_calls : int
        Likelihood evaluations made (proposal draws inside the prior's support).
    components : int
        Components of the proposal's Student-t mixture.
    permutations : int
        Label permutations the proposal is averaged over (1: not symmetrised).
    label_copies : int
        K! for exchangeable labels, else 1.
    space : str
        ``"parameters"`` (natural θ) or ``"unit cube"`` (x = logit(u)).
    iterations : int
        Iterations of the bridge estimator.
    seconds : float
    err_importance : float
        The root mean square over the two halves of ln Ẑ_IS − ln Ẑ, where Ẑ_IS is the
        importance-sampling estimate from the same proposal draws (the mean of p / g): a gap
        between the two says the posterior side is not the posterior the proposal sees
        (module docstring, "Cost and error"). nan in records made before it existed.
    """

    logZ: float
    logZ_err: float
    err_bridge: float
    err_split: float
    err_weights: float
    ess_posterior: float
    ess_proposal: float
    khat: float
    posterior_draws: int
    proposal_draws: int
    likelihood_calls: int
    components: int
    permutations: int
    label_copies: int
    space: str
    iterations: int
    seconds: float
    err_importance: float = math.nan

    @property
    def usable(self) -> bool:
        """True when both sides of the bridge carry at least :data:`MIN_ESS` draws, k̂ is
        at most :data:`KHAT_MAX` and ``err_importance`` at most :data:`GAP_MAX` (records
        made before it existed are judged without it)."""
        return bool(np.isfinite(self.logZ) and np.isfinite(self.logZ_err)
                    and min(self.ess_posterior, self.ess_proposal) >= MIN_ESS
                    and not self.khat > KHAT_MAX and not self.err_importance > GAP_MAX)

    def to_dict(self) -> dict:
        """JSON-able."""
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: Any) -> BridgeEstimate | None:
        """Inverse of :meth:`to_dict`; None for a failed estimate (``error``) or a damaged
        record."""
        if not isinstance(obj, dict) or "error" in obj:
            return None
        try:
            return cls(**{name: type_(obj[name]) for name, type_ in _FIELD_TYPES.items()},
                       **{name: type_(obj[name]) for name, type_ in _OPTIONAL_FIELDS.items()
                          if name in obj})
        except (KeyError, TypeError, ValueError):
            return None


_FIELD_TYPES: dict[str, Any] = {
    "logZ": float, "logZ_err": float, "err_bridge": float, "err_split": float,
    "err_weights": float,
    "ess_posterior": float, "ess_proposal": float, "khat": float, "posterior_draws": int,
    "proposal_draws": int, "likelihood_calls": int, "components": int, "permutations": int,
    "label_copies": int, "space": str, "iterations": int, "seconds": float}
_OPTIONAL_FIELDS: dict[str, Any] = {"err_importance": float}  # absent from older records


# ------------------------------------------------------------------------------ the estimator
def bridge_solve(log_ratio_posterior: np.ndarray, weights: np.ndarray, n_posterior: float,
                 log_ratio_proposal: np.ndarray, tol: float = 1e-10,
                 max_iterations: int = 10_000) -> tuple[float, float, int, float, float]:
    """Meng & Wong's iterative optimal bridge estimate of ln Z and its error.

    Parameters
    ----------
    log_ratio_posterior : ndarray, shape (n,)
        ln p − ln g at the posterior draws (p the unnormalised posterior, g the proposal).
    weights : ndarray, shape (n,)
        The posterior draws' weights (normalised here).
    n_posterior : float
        Their effective number (s₁ = n₁ / (n₁ + n₂)).
    log_ratio_proposal : ndarray, shape (m,)
        ln p − ln g at m draws from g (−inf where p = 0).
    tol : float
        Change in ln Z at which the iteration stops.
    max_iterations : int

    Returns
    -------
    tuple
        ln Z, its approximate error (Gronau et al. 2017, eq. 17), the iterations, and the
        effective numbers of posterior and proposal draws carrying the two averages.
    """
    l1 = np.asarray(log_ratio_posterior, dtype=float)
    l2 = np.asarray(log_ratio_proposal, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    l1, w = l1[keep], w[keep] / w[keep].sum()
    n1, n2 = float(n_posterior), float(len(l2))
    log_s1, log_s2 = math.log(n1 / (n1 + n2)), math.log(n2 / (n1 + n2))
    log_w = np.log(w)
    finite = l2[np.isfinite(l2)]
    if finite.size == 0 or not np.any(np.isfinite(l1)):
        return -math.inf, math.inf, 0, 0.0, 0.0
    lr = float(special.logsumexp(finite) - math.log(n2))  # importance sampling to start
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported)
        num = special.logsumexp(l2 - np.logaddexp(log_s1 + l2, log_s2 + lr)) - math.log(n2)
        den = special.logsumexp(log_w - np.logaddexp(log_s1 + l1, log_s2 + lr))
        new = float(num - den)
        done = abs(new - lr) < tol
        lr = new
        if done:
            break
    s1, s2 = math.exp(log_s1), math.exp(log_s2)
    with np.errstate(over="ignore"):
        f1 = 1.0 / (s1 + s2 * np.exp(np.minimum(lr - l2, 700.0)))  # (p/Z) / (s₁ p/Z + s₂ g)
        f2 = 1.0 / (s1 * np.exp(np.minimum(l1 - lr, 700.0)) + s2)  # g / (s₁ p/Z + s₂ g)
    mean1, mean2 = float(f1.mean()), float(w @ f2)
    var1 = float(f1.var(ddof=1)) / n2
    var2 = float(w @ (f2 - mean2) ** 2) / n1
    error = math.sqrt(var1 / mean1**2 + var2 / mean2**2) if mean1 > 0 and mean2 > 0 \
        else math.inf
    return lr, error, iterations, n1 * _kish(w * f2) / _kish(w), _kish(f1)


def _kish(values: np.ndarray) -> float:
    total = float(np.sum(values))
    return total**2 / float(np.sum(values * values)) if total > 0 else 0.0


def pareto_khat(log_weights: np.ndarray) -> float:
    """PSIS's k̂: the shape of a generalised Pareto fitted (scipy, maximum likelihood) to the
    exceedances of the largest min(n/5, 3√n) weights over the next one; nan for < 25 finite
    weights."""
    lw = np.asarray(log_weights, dtype=float)
    lw = np.sort(lw[np.isfinite(lw)])
    n = lw.size
    tail = int(min(n / 5, 3 * math.sqrt(n)))
    if n < 25 or tail < 5:
        return math.nan
    top = lw[-1]
    threshold = math.exp(lw[-tail - 1] - top)
    exceed = np.exp(lw[-tail:] - top) - threshold
    if not np.any(exceed > 0):
        return 0.0
    shape, _, _ = stats.genpareto.fit(exceed / exceed.max(), floc=0.0)
    return float(shape)


# ------------------------------------------------------------------------------- the spaces
class _ParameterSpace:
    """The bridge in a :class:`nestmix.MixtureModel`'s natural parameters θ (see the module
    docstring), symmetrised over ``permutations`` (rows of K labels) when given."""

    space = "parameters"

    def __init__(self, model: Any, run: NestedRun, permutations: np.ndarray | None,
                 exchangeable: bool, group: int) -> None:
        from nestmix.modes.theta import ThetaLayout

        self.model = model
        self.coordinates = PriorCoordinates(model.prior)
        self.points = np.asarray(run.samples, dtype=float)
        self.logl = np.asarray(run.logl, dtype=float)
        self.permutations = permutations
        self.exchangeable = exchangeable
        self.group = group
        self.subset = permutations is not None and len(permutations) < group
        self.layout = ThetaLayout.from_model(model) if exchangeable else None

    def log_p_stored(self, index: np.ndarray) -> np.ndarray:
        """ln L + ln π at the run's samples ``index`` (stored likelihoods: no calls)."""
        return self.logl[index] + self.coordinates.log_prior(self.points[index])

    def for_fit(self, theta: np.ndarray) -> np.ndarray:
        """Relabelled draws (one label copy) with exchangeable labels, else as they are."""
        if not self.exchangeable:
            return theta
        from nestmix.modes.relabel import relabel

        found = relabel(self.model.expand(theta), np.full(len(theta), 1.0 / len(theta)))
        return found.apply_to_theta(theta, self.model)

    def posterior_side(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """With a subset of the permutations, each draw relabelled by a uniformly random
        permutation of the whole group (draws of the symmetric posterior)."""
        if not self.subset or self.layout is None:
            return theta
        perms = np.argsort(rng.random((len(theta), self.layout.k)), axis=1)
        return self.layout.permute(theta, perms)

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        return self.coordinates.to_z(theta)[0]

    def log_g(self, theta: np.ndarray, proposal: StudentTMixture) -> np.ndarray:
        """ln g_S(θ): the proposal carried to θ, averaged over the permutations."""
        if self.permutations is None or self.layout is None:
            return self._log_g_one(theta, proposal)
        m = len(self.permutations)
        rows = max(1, _ROWS_PER_CHUNK // m)
        out = np.empty(len(theta))
        for start in range(0, len(theta), rows):
            chunk = theta[start:start + rows]
            stacked = self.layout.permute(np.repeat(chunk, m, axis=0),
                                          np.tile(self.permutations, (len(chunk), 1)))
            values = self._log_g_one(stacked, proposal).reshape(len(chunk), m)
            out[start:start + rows] = special.logsumexp(values, axis=1) - math.log(m)
        return out

    def _log_g_one(self, theta: np.ndarray, proposal: StudentTMixture) -> np.ndarray:
        z, log_jac = self.coordinates.to_z(theta)
        out = np.full(len(theta), -np.inf)
        ok = np.all(np.isfinite(z), axis=1) & np.isfinite(log_jac)
        if ok.any():
            out[ok] = proposal.logpdf(z[ok]) + log_jac[ok]
        return np.where(np.isnan(out), -np.inf, out)

    def draw(self, proposal: StudentTMixture, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws of g_S: θ₀ ~ g, then P⁻¹θ₀ with P uniform among the permutations."""
        theta = self.coordinates.from_z(proposal.sample(n, rng))
        if self.permutations is None or self.layout is None:
            return theta
        chosen = self.permutations[rng.integers(len(self.permutations), size=n)]
        return self.layout.permute(theta, np.argsort(chosen, axis=1))

    def log_p_new(self, theta: np.ndarray) -> tuple[np.ndarray, int]:
        """ln L + ln π at new θ, and the likelihood calls made (none outside the support)."""
        out = self.coordinates.log_prior(theta)
        ok = np.isfinite(out) & np.all(np.isfinite(theta), axis=1)
        out[~ok] = -np.inf
        if ok.any():
            loglike = self.model.log_likelihood_batch(theta[ok])
            out[ok] += np.where(np.isfinite(loglike), loglike, -np.inf)
        return out, int(ok.sum())


class _CubeSpace:
    """The bridge in x = logit(u) of the unit cube (prior density Π σ'(x)): any model with
    ``prior_transform`` and ``log_likelihood_batch``, from the run's ``samples_u``."""

    space = "unit cube"
    permutations = None
    group = 1

    def __init__(self, model: Any, run: NestedRun) -> None:
        from nestmix.evidence.check import LogitTarget

        assert run.samples_u is not None  # checked by the caller
        self.target = LogitTarget(model if hasattr(model, "log_likelihood_batch")
                                  else _Batched(model))
        self.points = special.logit(np.clip(np.asarray(run.samples_u), 1e-12, 1 - 1e-12))
        self.logl = np.asarray(run.logl, dtype=float)

    def log_p_stored(self, index: np.ndarray) -> np.ndarray:
        x = self.points[index]
        return self.logl[index] - (np.logaddexp(0, -x) + np.logaddexp(0, x)).sum(axis=1)

    def for_fit(self, x: np.ndarray) -> np.ndarray:
        return x

    def posterior_side(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x

    def to_z(self, x: np.ndarray) -> np.ndarray:
        return x

    def log_g(self, x: np.ndarray, proposal: StudentTMixture) -> np.ndarray:
        out = proposal.logpdf(x)
        return np.where(np.isnan(out), -np.inf, out)

    def draw(self, proposal: StudentTMixture, n: int, rng: np.random.Generator) -> np.ndarray:
        return proposal.sample(n, rng)

    def log_p_new(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        before = self.target.calls
        out = self.target(x)
        return out, self.target.calls - before


class _Batched:
    """A problem with only a one-θ ``log_likelihood``, given ``log_likelihood_batch``."""

    def __init__(self, problem: Any) -> None:
        self.problem = problem
        self.ndim = int(problem.ndim)

    def prior_transform(self, u: np.ndarray) -> np.ndarray:
        return np.array([self.problem.prior_transform(row) for row in np.atleast_2d(u)])

    def log_likelihood_batch(self, theta: np.ndarray) -> np.ndarray:
        return np.array([self.problem.log_likelihood(row) for row in np.atleast_2d(theta)])


# ----------------------------------------------------------------------------- the estimate
def bridge_evidence(model: Any, run: NestedRun, rng: np.random.Generator | None = None, *,
                    proposal_draws: int = 2_000, posterior_draws: int = 2_000,
                    fit_points: int = 2_000, max_components: int = 6,
                    max_permutations: int = MAX_PERMUTATIONS,
                    symmetrise: bool | None = None) -> BridgeEstimate | None:
    """ln Z of ``model`` by bridge sampling between ``run``'s samples and a fitted proposal.

    Parameters
    ----------
    model
        The model the run sampled: a :class:`nestmix.MixtureModel` (natural parameters,
        label symmetry), or anything with ``prior_transform``, ``log_likelihood_batch`` and
        ``ndim`` (the unit cube, from ``run.samples_u``).
    run : NestedRun
        A finished run of ``model``.
    rng : numpy.random.Generator, optional
    proposal_draws : int
        Draws from the proposal (at most one likelihood call each).
    posterior_draws : int
        Posterior draws on the posterior side (systematic resampling of half the run's samples).
    fit_points : int
        Posterior draws (of the other half) the proposal is fitted to.
    max_components : int
        Largest number of Student-t components of the proposal (chosen by BIC).
    max_permutations : int
        Label permutations averaged over: all K! when K! is at most this, else a random
        subset of this size with the matching estimator (module docstring).
    symmetrise : bool, optional
        None (default): symmetrise when the labels are exchangeable; False: never (the
        estimate then counts only the label copies the run visited); True: require it.

    Returns
    -------
    BridgeEstimate or None
        None when the run has too few distinct samples for a proposal, or (outside nestmix's
        prior blocks) no unit-cube samples.

    Raises
    ------
    ValueError
        When the run's samples do not fit the model, or ``symmetrise=True`` for labels that
        are not exchangeable.
    """
    start = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    _check_samples(model, run, "the run's samples")
    spaces = _spaces(model, (run,), rng, max_permutations, symmetrise)
    if spaces is None:
        return None
    space = spaces[0]
    weights = run.weights
    half = rng.random(len(weights)) < 0.5
    splits = []
    with single_threaded_blas():  # small matrices: threads only contend (10x slower)
        for fit_half in (half, ~half):  # each half shapes one proposal, is the other's side
            split = _one_split(space, np.where(fit_half, weights, 0.0), space, run, weights,
                               np.where(fit_half, 0.0, weights), rng, proposal_draws // 2,
                               posterior_draws // 2, fit_points, max_components)
            if split is None:
                return None
            splits.append(split)
    return _combine(splits, space, proposal_draws, start)


def bridge_across_runs(model: Any, run_a: NestedRun, run_b: NestedRun,
                       rng: np.random.Generator | None = None, *, proposal_draws: int = 2_000,
                       posterior_draws: int = 2_000, fit_points: int = 2_000,
                       max_components: int = 6, max_permutations: int = MAX_PERMUTATIONS,
                       symmetrise: bool | None = None) -> BridgeEstimate | None:
    """ln Z of ``model`` by bridge sampling across two independent runs of it.

    Two bridges: the proposal fitted to ``run_a``'s samples with ``run_b``'s as the posterior
    side, and the proposal fitted to ``run_b``'s with ``run_a``'s as the posterior side; the
    estimate is their mean, with the error terms of :func:`bridge_evidence` (``err_split``
    half the difference of the two bridges). A posterior side independent of the draws the
    proposal was fitted to removes the bias a split inside one run has when the run's draws
    come in correlated clumps (module docstring, "Across two runs").

    Parameters
    ----------
    model
        The model both runs sampled (as for :func:`bridge_evidence`).
    run_a, run_b : NestedRun
        Two finished runs of ``model`` with different seeds (any numbers of samples).
    rng : numpy.random.Generator, optional
    proposal_draws, posterior_draws, fit_points, max_components, max_permutations, symmetrise
        As for :func:`bridge_evidence`: each bridge makes ``proposal_draws`` / 2 proposal
        draws and ``posterior_draws`` / 2 posterior draws of its posterior-side run, and fits
        ``fit_points`` draws of the other run.

    Returns
    -------
    BridgeEstimate or None
        None when either run has too few distinct samples for a proposal, or (outside
        nestmix's prior blocks) no unit-cube samples.

    Raises
    ------
    ModelError
        When the two runs are not runs of one model (their parameters differ) or their
        samples do not fit ``model``.
    ValueError
        For ``symmetrise=True`` with labels that are not exchangeable.
    """
    start = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    names_a, names_b = tuple(run_a.param_names), tuple(run_b.param_names)
    if names_a and names_b and names_a != names_b:
        differ = next((f"{a!r} vs {b!r}" for a, b in zip(names_a, names_b, strict=False)
                       if a != b),
                      f"{len(names_a)} vs {len(names_b)} parameters")
        raise ModelError(f"a bridge across runs needs two runs of one model; their "
                         f"parameters differ ({differ})")
    for name, run in (("run A", run_a), ("run B", run_b)):
        _check_samples(model, run, f"{name}'s samples", ModelError)
    spaces = _spaces(model, (run_a, run_b), rng, max_permutations, symmetrise)
    if spaces is None:
        return None
    space_a, space_b = spaces
    weights_a, weights_b = run_a.weights, run_b.weights
    splits = []
    with single_threaded_blas():  # small matrices: threads only contend (10x slower)
        for fit, fit_w, post, post_run, post_w in (
                (space_a, weights_a, space_b, run_b, weights_b),
                (space_b, weights_b, space_a, run_a, weights_a)):
            split = _one_split(fit, fit_w, post, post_run, post_w, post_w, rng,
                               proposal_draws // 2, posterior_draws // 2, fit_points,
                               max_components)
            if split is None:
                return None
            splits.append(split)
    return _combine(splits, spaces[0], proposal_draws, start)


def _check_samples(model: Any, run: NestedRun, what: str,
                   error: type[ValueError] = ValueError) -> None:
    samples = np.asarray(run.samples)
    if samples.ndim != 2 or samples.shape[1] != int(model.ndim) or len(samples) < 4:
        raise error(f"bridge sampling: {what} have shape {samples.shape}, "
                    f"the model needs (n >= 4, {model.ndim})")


def _spaces(model: Any, runs: tuple[NestedRun, ...], rng: np.random.Generator,
            max_permutations: int, symmetrise: bool | None
            ) -> list[_ParameterSpace] | list[_CubeSpace] | None:
    """The bridge's space over each run's samples (one set of permutations for all), or None
    when a model outside nestmix's prior blocks has a run without unit-cube samples."""
    group, exchangeable = _label_group(model)
    if symmetrise and not exchangeable:
        raise ValueError("a symmetrised bridge needs a mixture with exchangeable labels "
                         "(order = 'none', K >= 2, one Dirichlet alpha for the Gaussians)")
    if hasattr(model, "prior") and hasattr(model.prior, "blocks"):
        perms = (_permutations(int(model.k), max_permutations, rng)
                 if exchangeable and symmetrise is not False else None)
        return [_ParameterSpace(model, run, perms, exchangeable, group) for run in runs]
    if all(run.samples_u is not None for run in runs):
        return [_CubeSpace(model, run) for run in runs]
    return None


def _combine(splits: list[tuple], space: _ParameterSpace | _CubeSpace, proposal_draws: int,
             start: float) -> BridgeEstimate:
    """The estimate from two bridges (:func:`_one_split`'s tuples): their mean and errors."""
    (z1, e1, *_), (z2, e2, *_) = splits
    err_bridge = math.hypot(e1, e2) / 2
    err_split = abs(z1 - z2) / 2
    err_weights = math.hypot(splits[0][2], splits[1][2]) / 2
    err_importance = math.hypot(splits[0][10], splits[1][10]) / math.sqrt(2)
    return BridgeEstimate(
        logZ=(z1 + z2) / 2,
        logZ_err=math.hypot(max(err_bridge, err_split, err_importance), err_weights),
        err_bridge=err_bridge, err_split=err_split, err_weights=err_weights,
        err_importance=err_importance,
        ess_posterior=splits[0][3] + splits[1][3], ess_proposal=splits[0][4] + splits[1][4],
        khat=max(splits[0][5], splits[1][5]),
        posterior_draws=splits[0][6] + splits[1][6], proposal_draws=2 * (proposal_draws // 2),
        likelihood_calls=splits[0][7] + splits[1][7],
        components=max(splits[0][8], splits[1][8]),
        permutations=1 if space.permutations is None else len(space.permutations),
        label_copies=space.group, space=space.space,
        iterations=max(splits[0][9], splits[1][9]), seconds=time.perf_counter() - start)


def _one_split(fit_space: _ParameterSpace | _CubeSpace, fit_w: np.ndarray,
               space: _ParameterSpace | _CubeSpace, run: NestedRun, weights: np.ndarray,
               est_w: np.ndarray, rng: np.random.Generator, proposal_draws: int,
               posterior_draws: int, fit_points: int, max_components: int) -> tuple | None:
    """One bridge: the proposal fitted to ``fit_space``'s samples drawn by ``fit_w``, the
    posterior side ``space``'s samples (of ``run``, whose posterior weights are ``weights``)
    drawn by ``est_w`` (zero for samples of the run kept out of it). (ln Z, error, weight
    spread, ESS posterior, ESS proposal, k̂, posterior draws, likelihood calls, components,
    iterations, importance gap), or None without a proposal."""
    if fit_w.sum() <= 0 or est_w.sum() <= 0:
        return None
    picked = rng.choice(len(fit_w), size=fit_points, p=fit_w / fit_w.sum())
    z = fit_space.to_z(fit_space.for_fit(fit_space.points[picked]))
    finite = np.all(np.isfinite(z), axis=1)
    proposal = fit_student_t_mixture(z[finite], len(np.unique(picked[finite])), max_components,
                                     rng)
    if proposal is None:
        return None
    est_w = est_w / est_w.sum()
    index, counts = _systematic(est_w, posterior_draws, rng)
    n_posterior = min(float(posterior_draws), _kish(est_w))
    posterior = space.posterior_side(space.points[index], rng)
    log_ratio_post = space.log_p_stored(index) - space.log_g(posterior, proposal)
    draws = space.draw(proposal, proposal_draws, rng)
    log_p, calls = space.log_p_new(draws)
    log_ratio_prop = log_p - space.log_g(draws, proposal)
    logz, err, iterations, ess1, ess2 = bridge_solve(log_ratio_post, counts, n_posterior,
                                                     log_ratio_prop)
    spread = _weight_spread(run, index, counts, weights, log_ratio_post, n_posterior,
                            log_ratio_prop, rng)
    gap = _importance_gap(logz, log_ratio_prop, space.permutations, space.group)
    return (logz, err, spread, ess1, ess2, pareto_khat(log_ratio_prop), int(counts.sum()),
            calls, len(proposal.weights), iterations, gap)


def _importance_gap(logz: float, log_ratio_proposal: np.ndarray,
                    permutations: np.ndarray | None, group: int) -> float:
    """max(0, ln Ẑ_IS − ln Ẑ): how far the importance-sampling estimate from the proposal
    draws (the mean of p / g, draws outside the prior's support counting as zeros) lies above
    the bridge's. The proposal side alone is unbiased whatever the run's samples are (and
    low, not high, when g misses part of the posterior); the bridge comes out low when its
    posterior side shares structure with the draws the proposal was fitted to. With a random
    subset S of the K! permutations g_S covers |S| of the copies: Ẑ_IS is scaled by K! / |S|
    (exact for separated copies, high, so conservative, for overlapping ones)."""
    if not np.isfinite(logz) or not np.any(np.isfinite(log_ratio_proposal)):
        return math.inf
    log_is = float(special.logsumexp(log_ratio_proposal) - math.log(len(log_ratio_proposal)))
    if permutations is not None and len(permutations) < group:
        log_is += math.log(group / len(permutations))
    return max(0.0, log_is - logz)


def bridge_record(model: Any, run: NestedRun, seed: int) -> dict | None:
    """:func:`bridge_evidence` as a run summary stores it (``to_dict``); ``{"error": ...}``
    when it failed (the run itself is sound: what failed is recorded, never fatal), None
    when there is nothing to bridge from."""
    try:
        estimate = bridge_evidence(model, run, np.random.default_rng(seed))
    except Exception as exc:  # recorded in the summary
        return {"error": f"{type(exc).__name__}: {exc}"}
    return None if estimate is None else estimate.to_dict()


def _label_group(model: Any) -> tuple[int, bool]:
    """(K! or 1, whether the K Gaussians' labels are exchangeable under the prior)."""
    spec = getattr(model, "spec", None)
    k = int(getattr(model, "k", 0) or 0)
    if getattr(spec, "order", None) != "none" or k < 2 or not hasattr(model, "expand"):
        return 1, False
    for block in model.prior.blocks:
        stick = getattr(block.transform, "stick", None)
        if stick is not None and len(set(stick.alpha[:k])) > 1:
            return 1, False
    return math.factorial(k), True


def _permutations(k: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """All K! permutations of the labels, or the identity and ``limit`` − 1 random others."""
    if math.factorial(k) <= limit:
        return np.array(list(itertools.permutations(range(k))), dtype=np.intp)
    chosen = {tuple(range(k))}
    while len(chosen) < limit:
        chosen.add(tuple(int(i) for i in rng.permutation(k)))
    return np.array(sorted(chosen), dtype=np.intp)


def _systematic(weights: np.ndarray, n: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Systematic resampling of n draws by weight: the distinct indices and their counts."""
    positions = (rng.random() + np.arange(n)) / n
    drawn = np.searchsorted(np.cumsum(weights), positions, side="right")
    drawn = np.minimum(drawn, len(weights) - 1)
    index, counts = np.unique(drawn, return_counts=True)
    return index, counts.astype(float)


def _weight_spread(run: NestedRun, index: np.ndarray, counts: np.ndarray, weights: np.ndarray,
                   log_ratio_post: np.ndarray, n_posterior: float,
                   log_ratio_prop: np.ndarray, rng: np.random.Generator) -> float:
    """Standard deviation of ln Z over posterior weights from simulated prior volumes (the
    resampled draws reweighted by simulated / reported weight); 0 without live-point counts."""
    nlive = np.asarray(run.nlive, dtype=float)
    if nlive.shape != weights.shape or np.any(nlive <= 0) or len(nlive) < 2:
        return 0.0
    order = np.argsort(run.logl, kind="stable")
    log_t = np.log(rng.random((len(order), WEIGHT_SIMULATIONS))) / nlive[order][:, None]
    log_x = np.cumsum(log_t, axis=0)
    log_prev = np.vstack([np.zeros((1, WEIGHT_SIMULATIONS)), log_x[:-1]])
    log_next = np.vstack([log_x[1:], np.full((1, WEIGHT_SIMULATIONS), -np.inf)])
    log_dx = log_prev + np.log1p(-np.exp(log_next - log_prev)) - math.log(2.0)
    log_w = np.empty_like(log_dx)
    log_w[order] = log_dx + np.asarray(run.logl)[order][:, None]
    log_w -= special.logsumexp(log_w, axis=0)
    with np.errstate(divide="ignore"):
        log_ratio = log_w[index] - np.log(weights[index])[:, None]
    values = []
    for s in range(WEIGHT_SIMULATIONS):
        reweighted = counts * np.exp(log_ratio[:, s] - log_ratio[:, s].max())
        values.append(bridge_solve(log_ratio_post, reweighted, n_posterior, log_ratio_prop)[0])
    values_arr = np.asarray(values)
    values_arr = values_arr[np.isfinite(values_arr)]
    return float(values_arr.std(ddof=1)) if len(values_arr) >= 2 else 0.0
