"""dynesty settings that depend on the problem's dimension.

``benchmarks/sampler_study.py`` (issue #17, tables in ``benchmarks/README.md``) measured the
default ``sample="slice"`` on 2-D and 3-D full-covariance mixtures with a uniform background
(ndim 6–30, references by importance sampling or deep runs, three seeds a setting):

* ndim ≤ 11 (the 1-D problems of the first study, K = 1 in 2-D and 3-D): dynesty's three
  rounds of slices per proposal; these runs are unchanged (no ``slices`` added to their
  settings).
* 12 ≤ ndim ≤ 20 (K = 2, 3 in 2-D, K = 2 in 3-D): one round (``slices=1``) was the most
  accurate per second at a third of the calls, its RMSE within 1.46 times its reported error.
* ndim ≥ 21 (K = 4 in 2-D, K = 3 in 3-D): one round missed by 1.7–2.8 times its
  reported error; three rounds stayed within 1.3, so they are the default again (set
  explicitly, so run.json records them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_NDIM_ONE_ROUND", "MAX_NDIM_THREE_ROUNDS", "for_dimension", "slice_rounds"]

MAX_NDIM_THREE_ROUNDS = 11
"""The largest ndim whose ``slice`` runs keep dynesty's three rounds of slices without a
``slices`` setting (the galaxies example up to K = 4, the 1-D deconvolution problem up to
K = 4)."""

MAX_NDIM_ONE_ROUND = 20
"""The largest ndim that makes one round of slices; above it three rounds again (the largest
ndim of the study at which one round kept honest errors: K = 2 in 3-D)."""


def slice_rounds(ndim: int) -> int:
    """Rounds of slices per proposal for ``sample="slice"`` in ``ndim`` dimensions."""
    return 1 if MAX_NDIM_THREE_ROUNDS < ndim <= MAX_NDIM_ONE_ROUND else 3


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
        A copy; ``slices`` (:func:`slice_rounds`) is added only for ``sample="slice"`` above
        :data:`MAX_NDIM_THREE_ROUNDS` dimensions when not set, so runs below keep exactly the
        settings (and run.json) they had.
    """
    out = dict(settings)
    if out.get("sample") == "slice" and "slices" not in out and ndim > MAX_NDIM_THREE_ROUNDS:
        out["slices"] = slice_rounds(ndim)
    return out
