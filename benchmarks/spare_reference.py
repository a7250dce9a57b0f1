"""ln Z of a 2-D mixture with a spare component, by importance sampling in parameter space.

The sampler study's references (``common.importance_reference``) draw from a Student-t
mixture around the posterior's modes in x = logit(u). That fails when the model has one
component more than the data have (``clusters2d4``: four components, three clusters): the
spare component's posterior is close to its prior, which no mixture around modes covers
(ESS 44-64 of 200 000). This module computes that reference without a nested sampler's
evidence, in the parameters θ themselves, where the prior density is known in closed form:

    Z = ∫ L(θ) π(θ) dθ,  π(θ) = K! Π_k p(μ_k) p(σ_k) p(ρ_k) × Dirichlet(w | α)

on the ordered region μ_1x < ... < μ_Kx (nestmix's ``order = "means"``; its prior is the
order statistics of K independent draws, hence the K!). Coordinates z: per component
(μ_x, μ_y, log σ_x, log σ_y, atanh ρ, log(w_k / w_background)). The proposal is built in a
*canonical* labelling (the component with the smallest weight last, the others by μ_x) and
mixes

* a Student-t mixture (ν = 5, covariances × 1.2²) fitted to posterior draws
  (``nestmix.evidence.check.fit_student_t_mixture``, as nestmix's own check), and
* the same mixture's marginal for everything but the spare component's position and shape,
  times the **prior** for those five coordinates (the spare wherever the prior puts it);

it is symmetrised over the K! labellings (a draw is sorted by μ_x, and its proposal density
is the sum over the K! permutations), so it covers every ordering the spare can take. The
posterior draws only shape the proposal: the estimate is unbiased for any proposal that
covers the posterior, and its spread over batches shows how well it does. Checked against
the logit-space reference where that works (``clusters2d3``: −756.763 ± 0.004 against
−756.772 ± 0.004) and, in the tests, against ln Z = 0 for a flat likelihood.

    python benchmarks/spare_reference.py [--problem clusters2d4] [--posterior F.npz]  # ~10 min

Only for the study's 2-D models: full covariances with LKJ(η) correlations, uniform means,
log-uniform widths, Dirichlet(α) weights with a uniform background, ordered means (checked).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import STUDY_REFERENCES, pareto_khat, read_json, spare_key, study_problem, write_json
from scipy import special

from nestmix.evidence.check import (
    StudentTMixture,
    evidence_from_log_weights,
    fit_student_t_mixture,
)

METHOD = "importance sampling in parameter space (spare component from its prior)"
FIT_POINTS = 20_000  # posterior draws the proposal is fitted to
SPARE_SHARE = 0.3  # proposal share with the spare component from its prior
SAMPLES_RUN = {"sample": "slice", "bound": "single", "nlive": 2000, "slices": 3}  # seed 1000


@dataclass(frozen=True)
class Layout:
    """Where each parameter of a 2-D full-covariance mixture sits in θ, and its prior."""

    k: int
    weights: np.ndarray  # (K,) columns of w_1..w_K (the background's weight is 1 − Σ w)
    mean_x: np.ndarray
    mean_y: np.ndarray
    sigma_x: np.ndarray
    sigma_y: np.ndarray
    rho: np.ndarray
    mean_low: tuple[float, float]
    mean_width: tuple[float, float]
    log_sigma: tuple[float, float]
    eta: float
    alpha: float

    @classmethod
    def of(cls, model) -> Layout:
        """The layout of ``model``; ValueError when it is not a model this module handles."""
        spec = model.spec
        if (model.n_dims != 2 or spec.covariance != "full" or spec.background != "uniform"
                or spec.order != "means" or spec.extra_components
                or spec.components != "gaussian"):
            raise ValueError("spare_reference handles 2-D full-covariance Gaussian mixtures "
                             "with a uniform background and ordered means only")
        priors = spec.priors
        means = priors["mean"]
        sigma, corr, weights = priors["sigma"], priors["correlation"], priors["weights"]
        if (any(m["dist"] != "uniform" for m in means) or sigma["dist"] != "loguniform"
                or corr["dist"] != "lkj" or weights["dist"] != "dirichlet"):
            raise ValueError("spare_reference needs uniform means, log-uniform widths, LKJ "
                             "correlations and Dirichlet weights")
        names = list(model.param_names)
        k = int(model.k)

        def cols(fmt: str) -> np.ndarray:  # one component: "sigma_x", not "sigma_1_x"
            return np.array([names.index(fmt.format(j + 1) if fmt.format(j + 1) in names
                                         else fmt.replace("_{}", "")) for j in range(k)])

        return cls(k=k, weights=cols("w_{}"), mean_x=cols("mu_{}_x"), mean_y=cols("mu_{}_y"),
                   sigma_x=cols("sigma_{}_x"), sigma_y=cols("sigma_{}_y"),
                   rho=cols("rho_{}_x_y"),
                   mean_low=(float(means[0]["loc"]), float(means[1]["loc"])),
                   mean_width=(float(means[0]["scale"]), float(means[1]["scale"])),
                   log_sigma=(math.log(sigma["a"]), math.log(sigma["b"])),
                   eta=float(corr.get("eta", 1.0)), alpha=float(weights.get("alpha", 1.0)))

    # ------------------------------------------------------------------ coordinates
    def to_z(self, theta: np.ndarray) -> np.ndarray:
        """θ (n, 6K) → z (n, K, 6)."""
        w = theta[:, self.weights]
        background = 1 - w.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.stack([theta[:, self.mean_x], theta[:, self.mean_y],
                             np.log(theta[:, self.sigma_x]), np.log(theta[:, self.sigma_y]),
                             np.arctanh(theta[:, self.rho]), np.log(w / background)], axis=2)

    def from_z(self, z: np.ndarray) -> np.ndarray:
        """z (n, K, 6) → θ (n, 6K)."""
        theta = np.empty((z.shape[0], 6 * self.k))
        logits = np.concatenate([z[:, :, 5], np.zeros((z.shape[0], 1))], axis=1)
        theta[:, self.weights] = special.softmax(logits, axis=1)[:, :-1]
        theta[:, self.mean_x], theta[:, self.mean_y] = z[:, :, 0], z[:, :, 1]
        theta[:, self.sigma_x], theta[:, self.sigma_y] = np.exp(z[:, :, 2]), np.exp(z[:, :, 3])
        theta[:, self.rho] = np.tanh(z[:, :, 4])
        return theta

    # ------------------------------------------------------------------ densities in z
    def shape_logpdf(self, s: np.ndarray) -> np.ndarray:
        """Prior log-density of one component's (μ_x, μ_y, log σ_x, log σ_y, atanh ρ), (n, 5)
        or (n, K, 5) (then summed over the K components' own terms elementwise)."""
        low, width = np.array(self.mean_low), np.array(self.mean_width)
        inside = (np.all((s[..., :2] > low) & (s[..., :2] < low + width), axis=-1)
                  & np.all((s[..., 2:4] > self.log_sigma[0])
                           & (s[..., 2:4] < self.log_sigma[1]), axis=-1))
        rho = np.tanh(s[..., 4])
        # LKJ(η) in 2-D: ρ ~ 2 Beta(η, η) − 1; dρ/d atanh ρ = 1 − ρ²
        log_rho = (special.xlogy(self.eta, 1 - rho * rho)
                   - (2 * self.eta - 1) * math.log(2) - special.betaln(self.eta, self.eta))
        value = (-np.log(width).sum() - 2 * math.log(self.log_sigma[1] - self.log_sigma[0])
                 + log_rho)  # log-uniform σ: 1/(σ ln(b/a)) × dσ/d log σ = σ
        return np.where(inside, value, -np.inf)

    def prior_logpdf(self, z: np.ndarray) -> np.ndarray:
        """Log-density in z of the ordered model's prior (z sorted by μ_x), (n, K, 6) → (n,)."""
        k = self.k
        logits = np.concatenate([z[:, :, 5], np.zeros((z.shape[0], 1))], axis=1)
        log_w = special.log_softmax(logits, axis=1)  # K + 1 weights, background last
        # Dirichlet(α) on K + 1 weights; the additive log-ratio Jacobian is Π w_j
        dirichlet = (special.gammaln((k + 1) * self.alpha) - (k + 1) * special.gammaln(self.alpha)
                     + self.alpha * log_w.sum(axis=1))
        ordered = np.all(np.diff(z[:, :, 0], axis=1) > 0, axis=1)
        value = math.lgamma(k + 1) + self.shape_logpdf(z[:, :, :5]).sum(axis=1) + dirichlet
        return np.where(ordered, value, -np.inf)

    def prior_draw_shape(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` prior draws of one component's five shape coordinates."""
        s = np.empty((n, 5))
        s[:, :2] = np.array(self.mean_low) + np.array(self.mean_width) * rng.uniform(size=(n, 2))
        s[:, 2:4] = rng.uniform(*self.log_sigma, size=(n, 2))
        s[:, 4] = np.arctanh(2 * rng.beta(self.eta, self.eta, size=n) - 1)
        return s


def canonical(z: np.ndarray) -> np.ndarray:
    """The smallest-weight component last, the others in order of μ_x."""
    k = z.shape[1]
    spare = np.argmin(z[:, :, 5], axis=1)
    key = np.where(np.arange(k)[None, :] == spare[:, None], np.inf, z[:, :, 0])
    return np.take_along_axis(z, np.argsort(key, axis=1)[:, :, None], axis=1)


@dataclass(frozen=True)
class SpareProposal:
    """The symmetrised proposal of the module docstring."""

    layout: Layout
    full: StudentTMixture  # over the canonical z, flattened (6K)
    rest: StudentTMixture  # its marginal without the spare's five shape coordinates
    share: float  # of the part with the spare from its prior

    @classmethod
    def fit(cls, layout: Layout, z_canonical: np.ndarray, rng: np.random.Generator,
            max_components: int = 12, share: float = SPARE_SHARE) -> SpareProposal:
        d = 6 * layout.k
        flat = z_canonical.reshape(len(z_canonical), d)
        # every component count up to max_components, as a reference should (nestmix's own
        # check stops after BIC rose twice); on clusters2d4 both choose 7 components
        full = fit_student_t_mixture(flat, len(flat), max_components, rng,
                                     patience=max_components)
        if full is None:
            raise ValueError(f"too few posterior draws ({len(flat)}) for a proposal in {d} "
                             "dimensions")
        keep = cls.rest_columns(layout.k)
        rest = StudentTMixture([m[keep] for m in full.means],
                               [c[np.ix_(keep, keep)] for c in full.covs], full.weights,
                               df=full.df)
        return cls(layout, full, rest, share)

    @staticmethod
    def spare_columns(k: int) -> np.ndarray:
        return (k - 1) * 6 + np.arange(5)

    @staticmethod
    def rest_columns(k: int) -> np.ndarray:
        return np.setdiff1d(np.arange(6 * k), SpareProposal.spare_columns(k))

    def _canonical_logpdf(self, z: np.ndarray) -> np.ndarray:
        flat = z.reshape(len(z), -1)
        spare, rest = self.spare_columns(self.layout.k), self.rest_columns(self.layout.k)
        with np.errstate(divide="ignore"):
            a = math.log(1 - self.share) + self.full.logpdf(flat)
            b = (math.log(self.share) + self.rest.logpdf(flat[:, rest])
                 + self.layout.shape_logpdf(flat[:, spare]))
        return np.logaddexp(a, b)

    def logpdf(self, z: np.ndarray) -> np.ndarray:
        """Density of the sorted draws: the sum over the K! labellings."""
        k = self.layout.k
        terms = [self._canonical_logpdf(z[:, list(p), :])
                 for p in itertools.permutations(range(k))]
        return special.logsumexp(np.stack(terms), axis=0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws in z (n, K, 6), sorted by μ_x."""
        k = self.layout.k
        flat = self.full.sample(n, rng)[rng.permutation(n)]  # sample() groups by component
        spare = rng.uniform(size=n) < self.share
        flat[np.ix_(spare, self.spare_columns(k))] = self.layout.prior_draw_shape(
            int(spare.sum()), rng)
        z = flat.reshape(n, k, 6)
        return np.take_along_axis(z, np.argsort(z[:, :, 0], axis=1)[:, :, None], axis=1)


def estimate(layout: Layout, proposal: SpareProposal, log_likelihood, n: int,
             rng: np.random.Generator) -> np.ndarray:
    """Log importance weights of ``n`` draws (−inf outside the prior's support)."""
    z = proposal.sample(n, rng)
    log_prior = layout.prior_logpdf(z)
    out = np.full(n, -np.inf)
    ok = np.isfinite(log_prior)
    if ok.any():
        out[ok] = (log_likelihood(layout.from_z(z[ok])) + log_prior[ok]
                   - proposal.logpdf(z[ok]))
    return out


def spare_reference(model, posterior: np.ndarray, seed: int = 0, draws: int = 100_000,
                    batches: int = 4, max_components: int = 12,
                    share: float = SPARE_SHARE, log_likelihood=None) -> dict:
    """ln Z of ``model`` (see the module docstring) from a proposal fitted to ``posterior``
    (equally weighted posterior draws of θ); ``log_likelihood`` replaces the model's (tests).
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    layout = Layout.of(model)
    log_likelihood = log_likelihood or model.log_likelihood_batch
    proposal = SpareProposal.fit(layout, canonical(layout.to_z(posterior)), rng,
                                 max_components, share)
    parts = [estimate(layout, proposal, log_likelihood, draws, rng) for _ in range(batches)]
    log_weights = np.concatenate(parts)
    _, logz, err, ess = evidence_from_log_weights(log_weights)
    return {"method": METHOD, "logz": logz, "logz_err": err, "ess": ess,
            "khat": pareto_khat(log_weights),
            "n": draws * batches, "batches": [evidence_from_log_weights(p)[1] for p in parts],
            "proposal_components": len(proposal.full.weights), "spare_share": share,
            "seconds": time.perf_counter() - start}


def posterior_draws(run, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` equally weighted draws from a nested run's samples."""
    return run.samples[rng.choice(len(run.weights), size=n, p=run.weights)]


def main(argv: list[str] | None = None) -> None:
    from nestmix import get_sampler

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="clusters2d4")
    parser.add_argument("--out", type=Path, default=STUDY_REFERENCES)
    parser.add_argument("--posterior", type=Path,
                        help="keep the posterior draws the proposal is fitted to in this .npz "
                             "(made by the dynesty run when missing, read when present)")
    args = parser.parse_args(argv)
    model = study_problem(args.problem)
    if args.posterior is not None and args.posterior.exists():
        with np.load(args.posterior) as kept:
            draws, run_logz = kept["draws"], float(kept["logz"])
    else:
        run = get_sampler("dynesty").run(model, dict(SAMPLES_RUN), 1000)
        draws, run_logz = posterior_draws(run, FIT_POINTS, np.random.default_rng(1)), run.logz
        if args.posterior is not None:
            np.savez(args.posterior, draws=draws, logz=run_logz)
    ref = spare_reference(model, draws, seed=1)
    ref["proposal_from"] = {"sampler": "dynesty", "settings": SAMPLES_RUN, "seed": 1000,
                            "logz": run_logz}
    print(json.dumps(ref, indent=1))
    cache = read_json(args.out)
    cache[spare_key(args.problem)] = ref
    write_json(args.out, cache)


if __name__ == "__main__":
    main()
