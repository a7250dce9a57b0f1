"""Label census: which of the K! label copies the posterior samples sat in, and their masses.

The copy a sample sat in is named by the permutation that took it to the canonical labelling
(:attr:`Relabelling.permutations`). With an exchangeable prior every copy carries the same
posterior mass 1/K!, so a sampler that explored the posterior fully visits all of them with
roughly equal mass; a missing copy, or a mass outside a factor two of 1/K!, means the sampler
missed part of the posterior (its evidence may then be low by up to ln K!). With means ordered
by the prior there is one copy and nothing to check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LabelCensus", "label_census", "pooled_census"]

_VISITED_FRACTION = 0.1  # a copy counts as visited above this fraction of 1/K! posterior mass


@dataclass(frozen=True)
class LabelCensus:
    """Posterior mass of every label copy the samples visited.

    Attributes
    ----------
    k : int
        Number of Gaussian components.
    exchangeable : bool
        True when the prior is symmetric under relabelling (K! copies expected).
    expected_copies : int
        K! for an exchangeable prior, 1 when the prior orders the means.
    copies : ndarray of int, shape (c, K)
        The distinct permutations found, by decreasing mass.
    masses : ndarray, shape (c,)
        Posterior mass of each.
    copy_of_sample : ndarray of int, shape (n,)
        Row of ``copies`` for every sample.
    copies_visited : int
        Number of copies with mass above 0.1 / K!.
    n_effective : float
        Kish effective sample size of the weights.
    warning : str or None
        Why the census is far from uniform (exchangeable priors only), else None.
    """

    k: int
    exchangeable: bool
    expected_copies: int
    copies: np.ndarray
    masses: np.ndarray
    copy_of_sample: np.ndarray
    copies_visited: int
    n_effective: float
    warning: str | None

    def to_dict(self) -> dict:
        """JSON-able census; copies are named by their permutation, e.g. ``"2-0-1"``."""
        return {
            "k": self.k,
            "exchangeable": self.exchangeable,
            "expected_copies": self.expected_copies,
            "copies_visited": self.copies_visited,
            "masses": {"-".join(str(int(a)) for a in perm): float(mass)
                       for perm, mass in zip(self.copies, self.masses, strict=True)},
            "n_effective": self.n_effective,
            "warning": self.warning,
        }


def label_census(permutations: np.ndarray, weights: np.ndarray, *,
                 exchangeable: bool = True) -> LabelCensus:
    """Count the label copies visited and their posterior masses.

    Parameters
    ----------
    permutations : ndarray of int, shape (n, K)
        Per-sample permutations to the canonical labelling.
    weights : ndarray, shape (n,)
        Posterior weights (normalised here).
    exchangeable : bool
        Whether the prior is symmetric in the labels (``order = "none"``).

    Returns
    -------
    LabelCensus
    """
    perm = np.asarray(permutations, dtype=np.intp)
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    k = perm.shape[1]
    possible = math.factorial(k)
    copies, inverse = np.unique(perm, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    masses = np.bincount(inverse, weights=w, minlength=len(copies))
    order = np.argsort(-masses, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    copies, masses, inverse = copies[order], masses[order], rank[inverse]
    visited = int(np.sum(masses > _VISITED_FRACTION / possible))
    n_eff = float(1.0 / np.sum(w * w))
    warning = _warning(k, possible, masses, visited, n_eff) if exchangeable else None
    return LabelCensus(k=k, exchangeable=exchangeable,
                       expected_copies=possible if exchangeable else 1,
                       copies=copies, masses=masses, copy_of_sample=inverse,
                       copies_visited=visited, n_effective=n_eff, warning=warning)


def _warning(k: int, possible: int, masses: np.ndarray, visited: int,
             n_eff: float) -> str | None:
    if k == 1:
        return None
    uniform = 1.0 / possible
    problems = []
    if visited < possible:
        problems.append(f"{possible - visited} of the {possible} label copies missing "
                        f"({visited} visited)")
    present = masses[masses > _VISITED_FRACTION * uniform]
    off = int(np.sum((present > 2 * uniform) | (present < 0.5 * uniform)))
    if off:
        problems.append(f"{off} cop{'y has' if off == 1 else 'ies have'} a mass outside a factor "
                        f"two of 1/{possible} (largest {masses.max():.3g})")
    if not problems:
        return None
    note = (f"; only {n_eff:.0f} effective samples for {possible} copies, so the census is "
            "inconclusive" if n_eff < 20 * possible else
            "; the sampler may have missed label copies (evidence low by up to ln K!)")
    return "label census far from uniform: " + "; ".join(problems) + note


def pooled_census(censuses: Sequence[Mapping[str, Any]]) -> dict:
    """The label census of several runs (seeds) of one model, as one ``to_dict`` summary.

    Every run's copy masses sum to one; the pooled mass of a copy is their mean over the runs
    (a run that did not visit it counts zero), ``n_effective`` is their sum, and the warning is
    that of the pooled masses. A seed that missed a copy another visited no longer makes the
    combined row look as if every seed had missed it; how many seeds did is kept in
    ``seeds_far_from_uniform``.

    Parameters
    ----------
    censuses : sequence of mapping
        :meth:`LabelCensus.to_dict` of each run (at least one).

    Returns
    -------
    dict
        The pooled census, with ``seeds`` (the number of runs pooled) and
        ``seeds_far_from_uniform`` added.
    """
    if not censuses:
        raise ValueError("pool at least one census")
    first = censuses[0]
    k, exchangeable = int(first["k"]), bool(first.get("exchangeable", True))
    possible = math.factorial(k)
    pooled: dict[str, float] = {}
    for census in censuses:
        for copy, mass in census.get("masses", {}).items():
            pooled[copy] = pooled.get(copy, 0.0) + float(mass) / len(censuses)
    names = sorted(pooled, key=lambda c: -pooled[c])
    masses = np.array([pooled[c] for c in names], dtype=float)
    n_eff = float(sum(float(c.get("n_effective", 0.0)) for c in censuses))
    visited = int(np.sum(masses > _VISITED_FRACTION / possible))
    warning = (_warning(k, possible, masses, visited, n_eff)
               if exchangeable and len(masses) else None)
    return {"k": k, "exchangeable": exchangeable,
            "expected_copies": possible if exchangeable else 1, "copies_visited": visited,
            "masses": {c: pooled[c] for c in names}, "n_effective": n_eff,
            "warning": warning, "seeds": len(censuses),
            "seeds_far_from_uniform": sum(1 for c in censuses if c.get("warning"))}
