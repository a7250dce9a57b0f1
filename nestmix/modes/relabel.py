"""Relabelling: map every posterior sample of a mixture to one canonical labelling.

With an exchangeable prior the posterior has K! copies of every mode, one per permutation of the
labels, and per-component summaries mean nothing until each sample is relabelled. Both methods
choose, per sample, the permutation that best matches a reference, solve that assignment exactly
(:mod:`nestmix.modes.assignment`), move the reference to the mean of the relabelled samples and
repeat until no permutation changes. The first reference is the pivot sample (by default the one
with the largest posterior weight).

``"hungarian"``
    Matches component parameters. Each component is a feature vector (log-weight, means,
    log-variances, correlations); the cost of giving component a the label b is
    Σ_f (x_af − m_bf)² / s_bf², with m and s the weighted mean and standard deviation of the
    relabelled samples' label-b features (on the first pass: the pivot's features, and the
    spread per label of the samples with components sorted by their first mean coordinate).
    This is the k-means-like relabelling of Celeux (1998) and Stephens
    (2000, §4.1) with per-label scales; the log-det terms of that Gaussian criterion do not
    depend on the assignment and drop out.
``"stephens"``
    Stephens' (2000, §4.2) Kullback–Leibler relabelling on the data's classification
    probabilities: Q ← the mean relabelled (N, K) classification matrix, each sample's
    permutation minimising KL(P_s ∥ Q), i.e. the cost −Σ_i p_sia log q_ib. Needs the model and θ.

Afterwards labels are put in the canonical order: increasing posterior mean of the relabelled
means along the first axis, so that component 1 means the same thing in every K. Custom
components and the background are never permuted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nestmix.errors import ModelError
from nestmix.model.layout import Parameters
from nestmix.modes.assignment import solve_assignments
from nestmix.modes.features import component_features, n_gaussians
from nestmix.modes.permutations import Relabelling
from nestmix.modes.stephens import stephens_permutations

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel

__all__ = ["METHODS", "Relabelling", "relabel"]

METHODS = ("hungarian", "stephens")


def relabel(params: Parameters, weights: np.ndarray, *, method: str = "hungarian",
            model: MixtureModel | None = None, thetas: np.ndarray | None = None,
            pivot: int | None = None, max_iterations: int = 100,
            solver: str = "scipy") -> Relabelling:
    """Find the permutation of every sample to one canonical labelling.

    Parameters
    ----------
    params : Parameters
        Mixture parameters of the n posterior samples (``model.expand(thetas)``).
    weights : ndarray, shape (n,)
        Posterior weights (normalised here).
    method : str
        ``hungarian`` (match component parameters) or ``stephens`` (Kullback–Leibler on the
        data's classification probabilities; needs ``model`` and ``thetas``).
    model : MixtureModel, optional
    thetas : ndarray, shape (n, ndim), optional
    pivot : int, optional
        Index of the first reference sample; default the one with the largest weight.
    max_iterations : int
        Bound on the number of assignment passes.
    solver : str
        Assignment solver, see :func:`nestmix.modes.assignment.solve_assignments`.

    Returns
    -------
    Relabelling
    """
    if method not in METHODS:
        raise ModelError(f"unknown relabelling method {method!r}; valid: {', '.join(METHODS)}")
    w = np.asarray(weights, dtype=float)
    n, k = params.means.shape[0], n_gaussians(params)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    w = w / w.sum()
    if k <= 1:  # nothing to permute (K = 0: only custom components, which never move)
        return Relabelling(np.zeros((n, k), dtype=np.intp), method, 0, True)
    pivot = int(np.argmax(w)) if pivot is None else int(pivot)
    if method == "hungarian":
        perms, iterations, converged = _match_parameters(
            component_features(params), params.means[:, :, 0], w, pivot, max_iterations, solver)
    else:
        if model is None or thetas is None:
            raise ModelError("relabelling method 'stephens' needs the model and the θ samples")
        perms, iterations, converged = stephens_permutations(
            model, thetas, w, pivot, max_iterations=max_iterations, solver=solver)
    return Relabelling(canonical_order(params, perms, w), method, iterations, converged)


def canonical_order(params: Parameters, permutations: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """Reorder relabelled labels by increasing posterior mean of the first mean coordinate."""
    first = np.take_along_axis(params.means[:, :, 0], permutations, axis=1)
    order = np.argsort(weights @ first, kind="stable")
    return permutations[:, order]


def _match_parameters(features: np.ndarray, means_first: np.ndarray, w: np.ndarray, pivot: int,
                      max_iterations: int, solver: str) -> tuple[np.ndarray, int, bool]:
    """Iterated assignment of component feature vectors to a moving reference."""
    n, k, f = features.shape
    pooled = features.reshape(n * k, f)
    pooled_w = np.repeat(w, k) / k
    centre = pooled_w @ pooled
    spread = np.sqrt(pooled_w @ (pooled - centre) ** 2)
    keep = spread > 1e-12 * (1.0 + np.abs(centre))
    if not keep.any():  # every component identical in every sample: nothing to match
        return np.tile(np.arange(k), (n, 1)), 0, True
    x = features[..., keep]
    spread = spread[keep]
    # first scales: the per-label spread with labels ordered by the first mean coordinate (the
    # pooled spread would mix the separation between components into the scale and drown the
    # means in noise of weights and variances that do not tell components apart)
    ordered = np.take_along_axis(x, np.argsort(means_first, axis=1)[:, :, None], axis=1)
    scale = _spread(ordered, w, spread)
    reference = x[pivot]
    perms: np.ndarray | None = None
    for iteration in range(1, max_iterations + 1):
        inv = 1.0 / scale**2  # (k, f)
        cost = ((x * x) @ inv.T - 2.0 * x @ (reference * inv).T
                + np.sum(reference**2 * inv, axis=1))
        new = solve_assignments(cost, solver)
        if perms is not None and np.array_equal(new, perms):
            return perms, iteration, True
        perms = new
        relabelled = np.take_along_axis(x, perms[:, :, None], axis=1)
        reference = np.einsum("s,skf->kf", w, relabelled)
        scale = _spread(relabelled, w, spread)
    return perms, max_iterations, False  # type: ignore[return-value]  # None if max_iterations < 1


def _spread(x: np.ndarray, w: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """Weighted standard deviation per label and feature, floored at 1e-3 of the pooled one."""
    centre = np.einsum("s,skf->kf", w, x)
    return np.maximum(np.sqrt(np.einsum("s,skf->kf", w, (x - centre) ** 2)), 1e-3 * pooled)
