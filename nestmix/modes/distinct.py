"""Distinct modes: after relabelling, do the samples still fall into different solutions?

Label copies are gone after relabelling; what remains multimodal are genuinely different
explanations of the data (e.g. a K = 2 model that can pair three clumps of data in two ways).
Candidates whose parameters agree within their widths are then merged
(:mod:`nestmix.modes.merge`): a poorly mixed posterior is clumpy, and its clumps are one mode.

Method: divisive two-way splitting with a density-dip test, on a few thousand equally weighted
posterior draws of the standardised relabelled parameters (log-weights, means, log-variances,
correlations). A group of draws is split in two by 2-means; the split is kept only when the
draws, projected on the Fisher discriminant direction of the two halves, have a density (a
Gaussian kernel estimate) that dips between the halves to below ``dip_ratio`` of the lower of
the two peaks, and each side holds at least ``min_mass`` of the posterior. Each kept half is
tried again. Why this and not the alternatives:

* Any linear projection of a log-concave density (a Gaussian, or a skewed but unimodal
  posterior) is unimodal, so the dip test cannot split such a posterior however 2-means cuts
  it; a banana y ≈ x² projects onto every direction as a unimodal (non-central χ²-like)
  density too. A Gaussian mixture with components chosen by BIC, by contrast, spends several
  components on one skewed or curved mode — the false splits we must avoid.
* Single-linkage clustering with a gap threshold fails in the 10–50 dimensions of a mixture
  posterior: nearest-neighbour distances there are as large as the modes themselves.
* Every split is a hyperplane (direction and threshold), so all n samples, not only the draws,
  are assigned to a mode by the same rules, and masses use the full weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nestmix.model.layout import Parameters
from nestmix.modes.features import component_features, n_gaussians
from nestmix.modes.local_evidence import mode_evidences
from nestmix.modes.merge import MERGE_TOLERANCE, modes_agree
from nestmix.results import Cluster

__all__ = ["DistinctMode", "DistinctModes", "find_distinct_modes"]


@dataclass(frozen=True)
class DistinctMode:
    """One distinct solution of the relabelled posterior.

    Attributes
    ----------
    index : int
        0-based number of the mode, by decreasing mass.
    mass : float
        Posterior mass of the mode.
    logz, logz_err : float
        Local log-evidence (the mode's share of the evidence) and its error.
    logz_source : str
        ``"clusters"`` (PolyChord's clusters mapped onto the mode) or ``"mass"``
        (logZ + ln mass).
    weights_mean, weights_std : ndarray, shape (K_total,)
        Posterior mean and standard deviation of the relabelled weights (background last).
    means_mean, means_std : ndarray, shape (K, D)
    scales_mean, scales_std : ndarray, shape (K, D)
        Of the component standard deviations sqrt(diag Σ_k).
    """

    index: int
    mass: float
    logz: float
    logz_err: float
    logz_source: str
    weights_mean: np.ndarray
    weights_std: np.ndarray
    means_mean: np.ndarray
    means_std: np.ndarray
    scales_mean: np.ndarray
    scales_std: np.ndarray

    def to_dict(self) -> dict:
        """JSON-able summary."""
        out: dict = {"index": self.index, "mass": self.mass, "logZ": self.logz,
                     "logZ_err": self.logz_err, "logZ_source": self.logz_source}
        for name in ("weights", "means", "scales"):
            out[name] = {"mean": getattr(self, f"{name}_mean").tolist(),
                         "std": getattr(self, f"{name}_std").tolist()}
        return out


@dataclass(frozen=True)
class DistinctModes:
    """The distinct modes of a relabelled posterior.

    Attributes
    ----------
    modes : tuple of DistinctMode
        By decreasing mass.
    labels : ndarray of int, shape (n,)
        Mode of every sample.
    n_draws : int
        Number of posterior draws the splits were found on.
    """

    modes: tuple[DistinctMode, ...]
    labels: np.ndarray
    n_draws: int

    @property
    def n_modes(self) -> int:
        """Number of distinct modes."""
        return len(self.modes)

    def to_dict(self) -> dict:
        """JSON-able summary (the per-sample labels go to the npz)."""
        return {"n_modes": self.n_modes, "n_draws": self.n_draws,
                "modes": [m.to_dict() for m in self.modes]}


def find_distinct_modes(params: Parameters, weights: np.ndarray, *, rng: np.random.Generator,
                        logz: float = 0.0, logz_err: float = 0.0,
                        clusters: tuple[Cluster, ...] = (), samples: np.ndarray | None = None,
                        max_draws: int = 4000, min_mass: float = 0.02, dip_ratio: float = 0.25,
                        max_modes: int = 8, n_points: int | None = None,
                        merge_tolerance: float = MERGE_TOLERANCE) -> DistinctModes:
    """Cluster relabelled posterior samples into distinct modes.

    Parameters
    ----------
    params : Parameters
        Relabelled parameters of the n samples.
    weights : ndarray, shape (n,)
        Posterior weights (normalised here).
    rng : numpy.random.Generator
        For the posterior draws and the 2-means starts.
    logz, logz_err : float
        The run's log-evidence, shared out among the modes.
    clusters : tuple of Cluster
        The sampler's own clusters (PolyChord); used for local evidences when each maps onto
        one mode. Needs ``samples``.
    samples : ndarray, shape (n, ndim), optional
        The run's θ samples in the sampler's labelling, to match cluster samples to modes.
    max_draws, min_mass, dip_ratio, max_modes
        Number of posterior draws, smallest mass of a mode, the density ratio below which a dip
        separates two modes, and the most modes reported.
    n_points : int, optional
        Number of data points. Candidates whose weights, means and widths all agree within
        ``merge_tolerance`` times their combined width are merged into one mode
        (:mod:`nestmix.modes.merge`); with ``n_points`` a width is never taken smaller than
        the large-sample width of a well-mixed posterior, so the clumps of a poorly mixed run
        are merged too.
    merge_tolerance : float
        See ``n_points``.

    Returns
    -------
    DistinctModes
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    x = _standardised(params, w)
    draws = rng.choice(len(w), size=max_draws, p=w)
    min_count = max(2, int(np.ceil(min_mass * max_draws)))
    tree = _build(x[draws], rng, min_count, dip_ratio,
                  {"splits_left": max_modes - 1, "leaves": 0})
    labels = np.empty(len(w), dtype=np.intp)
    _classify(tree, x, np.arange(len(w)), labels)
    labels = _merge_agreeing(params, w, labels, n_points, merge_tolerance)
    masses = np.bincount(labels, weights=w)
    present = np.flatnonzero(masses > 0)
    order = present[np.argsort(-masses[present], kind="stable")]
    relabel = np.empty(max(len(masses), 1), dtype=np.intp)
    relabel[order] = np.arange(len(order))
    labels = relabel[labels]
    masses = masses[order]
    n_eff = float(1.0 / np.sum(w * w))
    evidences = mode_evidences(masses, labels, logz=logz, logz_err=logz_err, n_effective=n_eff,
                               clusters=clusters, samples=samples)
    modes = tuple(_summary(i, params, w, labels == i, masses[i], *evidences[i])
                  for i in range(len(masses)))
    return DistinctModes(modes=modes, labels=labels, n_draws=max_draws)


def _merge_agreeing(params: Parameters, w: np.ndarray, labels: np.ndarray,
                    n_points: int | None, tolerance: float) -> np.ndarray:
    """``labels`` with every candidate that agrees with a larger one merged into it."""
    while True:
        masses = np.bincount(labels, weights=w)
        present = np.flatnonzero(masses > 0)
        order = present[np.argsort(-masses[present], kind="stable")]
        if len(order) < 2:
            return labels
        moments = {i: _summary(0, params, w, labels == i, masses[i], 0.0, 0.0, "mass")
                   for i in order}
        pair = next(((a, b) for j, b in enumerate(order) for a in order[:j]
                     if modes_agree(moments[a], moments[b], n_points, tolerance)), None)
        if pair is None:
            return labels
        labels = np.where(labels == pair[1], pair[0], labels)


def _standardised(params: Parameters, w: np.ndarray) -> np.ndarray:
    k = n_gaussians(params)
    x = component_features(params).reshape(len(w), -1)
    if params.weights.shape[1] > k:
        x = np.concatenate([x, np.log(np.clip(params.weights[:, k:], 1e-300, None))], axis=1)
    if params.extra:  # custom components' parameters (never relabelled)
        x = np.concatenate([x, np.stack(list(params.extra.values()), axis=1)], axis=1)
    centre = w @ x
    spread = np.sqrt(w @ (x - centre) ** 2)
    keep = spread > 1e-12 * (1.0 + np.abs(centre))
    return (x[:, keep] - centre[keep]) / spread[keep]


def _build(x: np.ndarray, rng: np.random.Generator, min_count: int, dip_ratio: float,
           state: dict[str, int]):
    """A leaf id, or (direction, threshold, left subtree, right subtree)."""
    split = None
    if state["splits_left"] > 0 and len(x) >= 2 * min_count and x.shape[1] > 0:
        split = _find_split(x, rng, min_count, dip_ratio)
    if split is None:
        state["leaves"] += 1
        return state["leaves"] - 1
    state["splits_left"] -= 1
    direction, threshold = split
    side = x @ direction < threshold
    left = _build(x[side], rng, min_count, dip_ratio, state)
    right = _build(x[~side], rng, min_count, dip_ratio, state)
    return direction, threshold, left, right


def _classify(tree, x: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    if isinstance(tree, int):
        out[rows] = tree
        return
    direction, threshold, left, right = tree
    side = x[rows] @ direction < threshold
    _classify(left, x, rows[side], out)
    _classify(right, x, rows[~side], out)


def _find_split(x: np.ndarray, rng: np.random.Generator, min_count: int,
                dip_ratio: float) -> tuple[np.ndarray, float] | None:
    """A hyperplane through a density dip between the two 2-means halves, if there is one."""
    halves = _two_means(x, rng)
    if min(np.sum(halves), np.sum(~halves)) < min_count:
        return None
    a, b = x[halves], x[~halves]
    within = (np.cov(a, rowvar=False, bias=True).reshape(x.shape[1], -1) * len(a)
              + np.cov(b, rowvar=False, bias=True).reshape(x.shape[1], -1) * len(b)) / len(x)
    within += np.eye(x.shape[1]) * (1e-6 * np.trace(within) / x.shape[1] + 1e-12)
    direction = np.linalg.solve(within, b.mean(axis=0) - a.mean(axis=0))
    direction /= np.sqrt(direction @ within @ direction)  # within-half sd 1 along it
    z = x @ direction
    lo, hi = np.mean(a @ direction), np.mean(b @ direction)
    grid = np.linspace(z.min(), z.max(), 400)
    bandwidth = 0.9 * len(z) ** -0.2
    density = np.zeros_like(grid)
    for start in range(0, len(z), 1000):
        u = (grid[:, None] - z[None, start:start + 1000]) / bandwidth
        density += np.exp(-0.5 * u * u).sum(axis=1)
    between = np.flatnonzero((grid >= lo) & (grid <= hi))
    if len(between) == 0:
        return None
    cut = between[np.argmin(density[between])]
    peak = min(density[:cut + 1].max(), density[cut:].max())
    threshold = float(grid[cut])
    below = int(np.sum(z < threshold))
    if density[cut] >= dip_ratio * peak or min(below, len(z) - below) < min_count:
        return None
    return direction, threshold


def _two_means(x: np.ndarray, rng: np.random.Generator, restarts: int = 3,
               iterations: int = 50) -> np.ndarray:
    """Boolean membership of the first of two k-means clusters (k-means++ starts)."""
    best: Any = None
    best_inertia = np.inf
    for _ in range(restarts):
        first = x[rng.integers(len(x))]
        d2 = np.sum((x - first) ** 2, axis=1)
        if d2.sum() <= 0:
            return np.ones(len(x), dtype=bool)
        centres = np.stack([first, x[rng.choice(len(x), p=d2 / d2.sum())]])
        labels = None
        for _ in range(iterations):
            dist = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2)
            new = np.argmin(dist, axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            if np.all(labels == labels[0]):
                break
            centres = np.stack([x[labels == j].mean(axis=0) for j in range(2)])
        inertia = float(np.min(dist, axis=1).sum())
        if inertia < best_inertia:
            best, best_inertia = labels == 0, inertia
    return best  # None only if no restart gave a finite inertia


def _summary(index: int, params: Parameters, w: np.ndarray, member: np.ndarray, mass: float,
             logz: float, logz_err: float, source: str) -> DistinctMode:
    v = w[member] / w[member].sum()
    scales = np.sqrt(np.clip(np.diagonal(params.covariances[member], axis1=2, axis2=3), 0, None))

    def moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.tensordot(v, values, axes=1)
        var = np.tensordot(v, (values - mean) ** 2, axes=1)
        return mean, np.sqrt(np.clip(var, 0.0, None))

    wm, ws = moments(params.weights[member])
    mm, ms = moments(params.means[member])
    sm, ss = moments(scales)
    return DistinctMode(index=index, mass=float(mass), logz=logz, logz_err=logz_err,
                        logz_source=source, weights_mean=wm, weights_std=ws, means_mean=mm,
                        means_std=ms, scales_mean=sm, scales_std=ss)
