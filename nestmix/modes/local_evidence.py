"""Local log-evidences of distinct modes: from the sampler's clusters, or from the mode masses.

A mode's local evidence is its share of the total, Z_m = Z × mass_m. When the run has
PolyChord's clusters and every cluster falls (with at least 90% of its weight) into one mode and
every mode receives at least one cluster, the mode's evidence is the sum of its clusters'
evidences — PolyChord estimated those with its own per-cluster prior volumes, which is more
accurate than the mass of a few samples. Otherwise logZ + ln mass, with the error of the mass
from the effective sample size added in quadrature.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from nestmix.results import Cluster

__all__ = ["mode_evidences"]

_CLUSTER_SHARE = 0.9


def mode_evidences(masses: np.ndarray, labels: np.ndarray, *, logz: float, logz_err: float,
                   n_effective: float, clusters: tuple[Cluster, ...] = (),
                   samples: np.ndarray | None = None) -> list[tuple[float, float, str]]:
    """``(logz, logz_err, source)`` for every mode.

    Parameters
    ----------
    masses : ndarray, shape (M,)
        Posterior mass of each mode.
    labels : ndarray of int, shape (n,)
        Mode of every sample.
    logz, logz_err : float
        The run's log-evidence and its error.
    n_effective : float
        Effective sample size, for the error of the masses.
    clusters : tuple of Cluster
        The sampler's clusters, if any.
    samples : ndarray, shape (n, ndim), optional
        The run's samples (rows of the clusters' samples are looked up here).
    """
    if clusters and samples is not None:
        from_clusters = _from_clusters(clusters, samples, labels, len(masses))
        if from_clusters is not None:
            return from_clusters
    out = []
    for mass in masses:
        rel = np.sqrt(max(1.0 - mass, 0.0) / (mass * n_effective))
        out.append((float(logz + np.log(mass)), float(np.hypot(logz_err, rel)), "mass"))
    return out


def _from_clusters(clusters: tuple[Cluster, ...], samples: np.ndarray, labels: np.ndarray,
                   n_modes: int) -> list[tuple[float, float, str]] | None:
    row_of = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(samples, float))}
    per_mode: list[list[tuple[float, float]]] = [[] for _ in range(n_modes)]
    for cluster in clusters:
        rows = np.array([row_of.get(r.tobytes(), -1)
                         for r in np.ascontiguousarray(cluster.samples, float)], dtype=np.intp)
        w = cluster.weights / cluster.weights.sum()
        found = rows >= 0
        share = np.bincount(labels[rows[found]], weights=w[found], minlength=n_modes)
        mode = int(np.argmax(share))
        if share[mode] < _CLUSTER_SHARE:
            return None
        per_mode[mode].append((cluster.logz, cluster.logz_err))
    if any(not entries for entries in per_mode):
        return None
    out = []
    for entries in per_mode:
        logs = np.array([e[0] for e in entries])
        errs = np.array([e[1] for e in entries])
        total = float(logsumexp(logs))
        err = float(np.sqrt(np.sum((np.exp(logs - total) * errs) ** 2)))
        out.append((total, err, "clusters"))
    return out
