"""The mode analyses of several runs (seeds) of one (K, sampler), combined into one.

A sweep with repeats shows one row per (K, sampler); its label census, its distinct modes and the
warnings drawn from them come from every seed (:func:`combine_analyses`), not from the first
finished one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nestmix.modes.census import pooled_census
from nestmix.modes.merge import combine_mode_summaries

__all__ = ["combine_analyses"]


def combine_analyses(analyses: Sequence[Mapping[str, Any]],
                     n_points: int | None = None) -> dict:
    """One stored mode analysis (``ModeAnalysis.to_dict`` form) for several runs of one model.

    Parameters
    ----------
    analyses : sequence of mapping
        The stored analyses of the runs, in repeat order (an empty mapping for a run without
        one; ``error`` for a run whose analysis failed).
    n_points : int, optional
        Number of data points (widths for merging modes: :mod:`nestmix.modes.merge`).

    Returns
    -------
    dict
        With one run, its analysis unchanged. With several: the first sound analysis with its
        ``census`` pooled over the runs (:func:`~nestmix.modes.census.pooled_census`), its
        ``distinct_modes`` merged over them
        (:func:`~nestmix.modes.merge.combine_mode_summaries`), ``seeds`` the number of runs
        combined, and ``error`` naming the runs whose analysis failed, if any.
    """
    present = [dict(a) for a in analyses if a]
    if len(analyses) <= 1 or not present:
        return present[0] if present else {}
    sound = [a for a in present if not a.get("error")]
    failed = len(present) - len(sound)
    if not sound:
        out = dict(present[0])
        out["error"] = f"in all {len(present)} seeds: {out.get('error')}"
        return out
    out = dict(sound[0])
    censuses = [a["census"] for a in sound if a.get("census")]
    if censuses:
        out["census"] = pooled_census(censuses)
    modes = [a["distinct_modes"] for a in sound if a.get("distinct_modes")]
    if modes:
        out["distinct_modes"] = combine_mode_summaries(modes, n_points)
    out["seeds"] = len(sound)
    if failed:
        error = next(a["error"] for a in present if a.get("error"))
        out["error"] = (f"in {failed} of {len(present)} seeds ({error}); the others are "
                        "combined")
    return out
