"""Stephens' (2000) Kullback–Leibler relabelling on classification probabilities.

Each posterior sample s gives an (N, K) matrix P_s of probabilities that point i belongs to
component k. The algorithm alternates Q ← Σ_s w_s P_s relabelled (the weighted mean of the
relabelled matrices) and, per sample, the permutation minimising KL(P_s relabelled ∥ Q) =
const − Σ_i Σ_b p_{s,i,perm(b)} log q_ib, a linear assignment with cost
``cost[s, a, b] = −Σ_i p_sia log q_ib``. The background column is never permuted, so it only adds
a constant and is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nestmix.modes.assignment import solve_assignments
from nestmix.modes.memberships import log_membership_batches

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel

__all__ = ["stephens_permutations"]

_CACHE_ELEMENTS = 25_000_000  # keep P (float32) in memory below this size, else recompute


def stephens_permutations(model: MixtureModel, thetas: np.ndarray, weights: np.ndarray,
                          pivot: int, *, max_iterations: int = 100,
                          solver: str = "scipy") -> tuple[np.ndarray, int, bool]:
    """Permutations (n, K), number of passes and whether the last pass changed nothing.

    Parameters
    ----------
    model : MixtureModel
    thetas : ndarray, shape (n, ndim)
    weights : ndarray, shape (n,)
        Normalised posterior weights.
    pivot : int
        Sample whose classification matrix is the first Q.
    max_iterations : int
    solver : str
    """
    thetas = np.asarray(thetas, dtype=float)
    n, k = thetas.shape[0], model.k
    source = _Classifications(model, thetas)
    q = np.exp(next(log_membership_batches(model, thetas[pivot:pivot + 1]))[1][0, :, :k])
    perms: np.ndarray | None = None
    for iteration in range(1, max_iterations + 1):
        log_q = np.log(np.clip(q, 1e-300, None))
        cost = np.empty((n, k, k))
        for start, p in source.chunks():
            cost[start:start + len(p)] = -np.einsum("sia,ib->sab", p, log_q)
        new = solve_assignments(cost, solver)
        if perms is not None and np.array_equal(new, perms):
            return perms, iteration, True
        perms = new
        q = np.zeros_like(q)
        for start, p in source.chunks():
            stop = start + len(p)
            relabelled = np.take_along_axis(p, perms[start:stop, None, :], axis=2)
            q += np.einsum("s,sib->ib", weights[start:stop], relabelled)
    return perms, max_iterations, False  # type: ignore[return-value]  # None if max_iterations < 1


class _Classifications:
    """The Gaussian columns of P_s in chunks: held in memory when small, else recomputed."""

    def __init__(self, model: MixtureModel, thetas: np.ndarray) -> None:
        self.model = model
        self.thetas = thetas
        self.cached: list[tuple[int, np.ndarray]] | None = None
        size = thetas.shape[0] * model.data.n_points * model.n_components
        if size <= _CACHE_ELEMENTS:
            self.cached = list(self._compute(np.float32))

    def _compute(self, dtype):
        k = self.model.k
        for start, log_r in log_membership_batches(self.model, self.thetas):
            yield start, np.exp(log_r[..., :k]).astype(dtype)

    def chunks(self):
        """Yield ``(start, P)`` with P of shape (m, N, K)."""
        if self.cached is not None:
            yield from self.cached
        else:
            yield from self._compute(float)
