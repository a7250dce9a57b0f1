"""When are two distinct-mode candidates one mode? Their parameters agree within their widths.

The dip test of :mod:`nestmix.modes.distinct` splits the draws wherever their density dips, and a
poorly mixed posterior is clumpy: enzyme K = 2 gave eight "modes" whose weights, means and
widths agree to a few hundredths. A candidate is reported as a mode of its own only when some
parameter (a weight, a component mean or a component width σ) differs from that of a larger
mode by more than ``tolerance`` (3) times their combined width.

The width of a parameter is the larger of its spread within the mode and the large-sample width
a well-mixed posterior of that mode would have with N data points: √(w(1 − w)/N) for a weight,
σ_k/√(N w_k) for a mean and σ_k/√(2 N w_k) for a width. The spread alone is not enough: a clump
of a poorly mixed run is narrower than the posterior it came from (enzyme K = 2: clumps 0.001
wide in a weight whose posterior is 0.03 wide).

Genuinely different solutions (e.g. two ways of pairing three groups of data with K = 2) move
a component by a distance of order its own σ_k, many times σ_k/√(N w_k), and are kept apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MERGE_TOLERANCE", "ModeMoments", "combine_mode_summaries", "modes_agree"]

#: Candidates whose every parameter agrees within this many combined widths are one mode.
MERGE_TOLERANCE = 3.0


class ModeMoments:
    """Posterior mean and spread of a mode's weights, means and widths (flattened).

    Parameters
    ----------
    weights_mean, weights_std : array_like, shape (K_total,)
    means_mean, means_std, scales_mean, scales_std : array_like, shape (K, D)
    """

    def __init__(self, weights_mean: Any, weights_std: Any, means_mean: Any, means_std: Any,
                 scales_mean: Any, scales_std: Any) -> None:
        self.weights_mean = np.asarray(weights_mean, dtype=float)
        self.weights_std = np.asarray(weights_std, dtype=float)
        self.means_mean = np.asarray(means_mean, dtype=float)
        self.means_std = np.asarray(means_std, dtype=float)
        self.scales_mean = np.asarray(scales_mean, dtype=float)
        self.scales_std = np.asarray(scales_std, dtype=float)

    @classmethod
    def of(cls, mode: Any) -> ModeMoments:
        """From a :class:`~nestmix.modes.distinct.DistinctMode` or its ``to_dict``."""
        if isinstance(mode, Mapping):
            return cls(mode["weights"]["mean"], mode["weights"]["std"], mode["means"]["mean"],
                       mode["means"]["std"], mode["scales"]["mean"], mode["scales"]["std"])
        return cls(mode.weights_mean, mode.weights_std, mode.means_mean, mode.means_std,
                   mode.scales_mean, mode.scales_std)

    def vectors(self, n_points: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(values, widths): every parameter's mean and width (see the module docstring)."""
        k = self.means_mean.shape[0]
        w = np.clip(self.weights_mean, 1e-12, 1.0)
        values = np.concatenate([self.weights_mean, self.means_mean.ravel(),
                                 self.scales_mean.ravel()])
        spread = np.concatenate([self.weights_std, self.means_std.ravel(),
                                 self.scales_std.ravel()])
        if not n_points:
            return values, spread
        wk = w[:k, None] * np.ones_like(self.scales_mean)
        large_n = np.concatenate([np.sqrt(w * (1.0 - w) / n_points),
                                  (self.scales_mean / np.sqrt(n_points * wk)).ravel(),
                                  (self.scales_mean / np.sqrt(2.0 * n_points * wk)).ravel()])
        return values, np.maximum(spread, large_n)


def modes_agree(a: Any, b: Any, n_points: int | None,
                tolerance: float = MERGE_TOLERANCE) -> bool:
    """True when every parameter of modes ``a`` and ``b`` agrees within ``tolerance`` times
    their combined width (a DistinctMode, its ``to_dict`` or :class:`ModeMoments` each)."""
    va, wa = (a if isinstance(a, ModeMoments) else ModeMoments.of(a)).vectors(n_points)
    vb, wb = (b if isinstance(b, ModeMoments) else ModeMoments.of(b)).vectors(n_points)
    if va.shape != vb.shape:
        return False
    width = np.sqrt(wa**2 + wb**2)
    return bool(np.all(np.abs(va - vb) <= tolerance * np.maximum(width, 1e-300)))


def combine_mode_summaries(per_run: Sequence[Mapping[str, Any]], n_points: int | None,
                           tolerance: float = MERGE_TOLERANCE) -> dict:
    """The distinct modes of several runs (seeds) of one model, as one ``to_dict`` summary.

    Every run's modes enter with their mass divided by the number of runs; a mode agreeing with
    a larger one (:func:`modes_agree`) is merged into it: masses add, means are mass-weighted,
    spreads combine within- and between-mode variance, and local evidences add
    (ln Z = ln of the mean over runs of Z_mode).

    Parameters
    ----------
    per_run : sequence of mapping
        :meth:`~nestmix.modes.distinct.DistinctModes.to_dict` of each run (at least one).
    n_points : int or None
        Number of data points (for the large-sample widths).

    Returns
    -------
    dict
        ``n_modes``, ``n_draws`` (summed), ``modes`` (by decreasing mass) and ``seeds``.
    """
    if not per_run:
        raise ValueError("combine the modes of at least one run")
    n = len(per_run)
    candidates = sorted(((float(m["mass"]) / n, m) for run in per_run
                         for m in run.get("modes", [])), key=lambda c: -c[0])
    groups: list[list[tuple[float, Mapping[str, Any]]]] = []
    merged: list[dict] = []
    for mass, mode in candidates:
        for i, group in enumerate(groups):
            if modes_agree(merged[i], mode, n_points, tolerance):
                group.append((mass, mode))
                merged[i] = _merge(group, n)
                break
        else:
            groups.append([(mass, mode)])
            merged.append(_merge(groups[-1], n))
    merged.sort(key=lambda m: -m["mass"])
    for i, mode in enumerate(merged):
        mode["index"] = i
    return {"n_modes": len(merged), "n_draws": int(sum(r.get("n_draws", 0) for r in per_run)),
            "modes": merged, "seeds": n}


def _merge(group: Sequence[tuple[float, Mapping[str, Any]]], n_runs: int) -> dict:
    masses = np.array([m for m, _ in group])
    total = float(masses.sum())
    share = masses / total if total > 0 else np.full(len(group), 1.0 / len(group))
    out: dict[str, Any] = {"index": 0, "mass": total}
    for name in ("weights", "means", "scales"):
        means = np.array([np.asarray(m[name]["mean"], dtype=float) for _, m in group])
        stds = np.array([np.asarray(m[name]["std"], dtype=float) for _, m in group])
        mean = np.tensordot(share, means, axes=1)
        var = np.tensordot(share, stds**2 + (means - mean) ** 2, axes=1)
        out[name] = {"mean": mean.tolist(), "std": np.sqrt(np.clip(var, 0, None)).tolist()}
    logz = np.array([float(m["logZ"]) for _, m in group])
    err = np.array([float(m["logZ_err"]) for _, m in group])
    top = logz.max()
    z = np.exp(logz - top)
    out["logZ"] = float(top + np.log(z.sum() / n_runs))
    out["logZ_err"] = float(np.sqrt(np.sum((z * err) ** 2)) / z.sum())
    sources = {str(m.get("logZ_source", "mass")) for _, m in group}
    out["logZ_source"] = sources.pop() if len(sources) == 1 else "mass"
    return out
