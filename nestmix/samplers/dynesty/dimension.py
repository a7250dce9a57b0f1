"""dynesty settings that depend on the problem's dimension.

``benchmarks/sampler_study.py`` (issue #17, tables in ``benchmarks/README.md``) measured the
default ``sample="slice"`` on 2-D full-covariance mixtures with a background (ndim 12 and
18): one round of slices per proposal (``slices=1``) was the most accurate per second, at a
third of the likelihood calls of three rounds (dynesty's default), with an RMSE within 1.45
times its reported error (three rounds 2.1, ``rwalk`` 2.3). Below that the study of the
1-D problems (ndim 5–11) chose three rounds, which stay the default there: runs with ndim ≤
:data:`MAX_NDIM_THREE_ROUNDS` are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_NDIM_THREE_ROUNDS", "for_dimension", "slice_rounds"]

MAX_NDIM_THREE_ROUNDS = 11
"""The largest ndim whose ``slice`` runs keep dynesty's three rounds of slices (the galaxies
example up to K = 4, the 1-D deconvolution problem up to K = 4)."""


def slice_rounds(ndim: int) -> int:
    """Rounds of slices per proposal for ``sample="slice"`` in ``ndim`` dimensions."""
    return 3 if ndim <= MAX_NDIM_THREE_ROUNDS else 1


def for_dimension(settings: Mapping[str, Any], ndim: int) -> dict[str, Any]:
    """``settings`` with the dimension-dependent defaults filled in where not given.

    Parameters
    ----------
    settings : mapping
        Validated dynesty settings (defaults merged).
    ndim : int
        The problem's dimension.

    Returns
    -------
    dict
        A copy; ``slices`` is added only for ``sample="slice"`` above
        :data:`MAX_NDIM_THREE_ROUNDS` dimensions when not set, so runs below keep exactly the
        settings (and run.json) they had.
    """
    out = dict(settings)
    if out.get("sample") == "slice" and "slices" not in out and ndim > MAX_NDIM_THREE_ROUNDS:
        out["slices"] = slice_rounds(ndim)
    return out
