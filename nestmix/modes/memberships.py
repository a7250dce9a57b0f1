"""Membership probabilities of every data point in every component, over relabelled samples.

For sample s, point i and component k the membership is
r_sik = w_k p_k(y_i) / Σ_j w_j p_j(y_i) (the background, when there is one, last). After
relabelling, its posterior mean and standard deviation say which component each point belongs
to and how sure the posterior is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel
    from nestmix.modes.permutations import Relabelling

__all__ = ["Memberships", "compute_memberships", "log_membership_batches", "weighted_draws"]

_CHUNK_ELEMENTS = 2_000_000  # bound on m × N × K_total × D² per chunk of samples


@dataclass(frozen=True)
class Memberships:
    """Posterior membership probabilities.

    Attributes
    ----------
    mean : ndarray, shape (N, K_total)
        Posterior mean of w_k p_k(y_i) / Σ_j w_j p_j(y_i), relabelled components in canonical
        order, the background last; rows sum to one.
    std : ndarray, shape (N, K_total)
        Posterior standard deviation of the same.
    n_draws : int
        Number of distinct posterior samples averaged over.
    """

    mean: np.ndarray
    std: np.ndarray
    n_draws: int

    def to_dict(self) -> dict:
        """Size of the table (the arrays themselves go to the npz)."""
        n, k = self.mean.shape
        return {"n_points": int(n), "n_components": int(k), "n_draws": self.n_draws}


def log_membership_batches(model: MixtureModel, thetas: np.ndarray):
    """Yield ``(start, log r)`` with log r of shape (m, N, K_total) for chunks of ``thetas``."""
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    n_points = model.data.n_points
    chunk = max(1, _CHUNK_ELEMENTS // (n_points * model.n_components * model.n_dims**2))
    for start in range(0, thetas.shape[0], chunk):
        yield start, model.membership_log_probabilities(thetas[start:start + chunk])


def weighted_draws(weights: np.ndarray, max_draws: int | None,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sample indices and their normalised weights for posterior averages.

    All samples with non-zero weight when there are at most ``max_draws`` of them (or
    ``max_draws`` is None); otherwise ``max_draws`` posterior draws with replacement, returned
    as distinct indices weighted by their counts.
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    positive = np.flatnonzero(w > 0)
    if max_draws is None or len(positive) <= max_draws:
        return positive, w[positive] / w[positive].sum()
    drawn = rng.choice(len(w), size=max_draws, p=w)
    index, counts = np.unique(drawn, return_counts=True)
    return index, counts / counts.sum()


def compute_memberships(model: MixtureModel, thetas: np.ndarray, weights: np.ndarray,
                        relabelling: Relabelling, *, rng: np.random.Generator,
                        max_draws: int | None = 2000) -> Memberships:
    """Posterior mean and spread of the relabelled membership probabilities.

    Parameters
    ----------
    model : MixtureModel
    thetas : ndarray, shape (n, ndim)
        Posterior samples in the sampler's labelling.
    weights : ndarray, shape (n,)
        Their posterior weights.
    relabelling : Relabelling
        Permutations to the canonical labelling.
    rng : numpy.random.Generator
        Used only when the samples are thinned to ``max_draws`` posterior draws.
    max_draws : int or None
        Bound on the number of posterior draws averaged over (None: all samples).

    Returns
    -------
    Memberships
    """
    index, w = weighted_draws(weights, max_draws, rng)
    k = model.k
    columns = np.concatenate(
        [relabelling.permutations[index],
         np.broadcast_to(np.arange(k, model.n_components), (len(index), model.n_components - k))],
        axis=1)
    total = np.zeros((model.data.n_points, model.n_components))
    square = np.zeros_like(total)
    for start, log_r in log_membership_batches(model, np.asarray(thetas)[index]):
        m = log_r.shape[0]
        r = np.take_along_axis(np.exp(log_r), columns[start:start + m, None, :], axis=2)
        ws = w[start:start + m]
        total += np.einsum("s,sik->ik", ws, r)
        square += np.einsum("s,sik->ik", ws, r * r)
    std = np.sqrt(np.clip(square - total**2, 0.0, None))
    return Memberships(mean=total, std=std, n_draws=len(index))
