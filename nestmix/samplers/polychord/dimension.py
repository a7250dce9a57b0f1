"""PolyChord settings that depend on the problem's dimension.

``benchmarks/sampler_study.py`` (issue #17, tables in ``benchmarks/README.md``) measured PolyChord
on 2-D and 3-D full-covariance mixtures with a uniform background (ndim 6–30, references by
importance sampling, two to six seeds a setting):

* up to 20 parameters PolyChord's own defaults (``nlive`` = 25 × ndim, ``num_repeats`` =
  5 × ndim) kept RMSE / reported error within 0.4–1.56 (``clusters2d3``, 18 parameters, the
  borderline one);
* at 24 parameters (``clusters2d4``: four components on three clusters, the spare one roaming
  over its prior) every run with 25 × ndim live points was high, +0.08 to +0.84 nats (RMSE /
  reported 2.06 with 5 × ndim repeats, 1.95 with 10 × ndim, 2.03 without clustering); with
  **50 × ndim live points** (5 × ndim repeats; twice the calls, like 10 × ndim repeats) the two
  runs were +0.07 and +0.13 (RMSE / reported 0.39). More live points, not longer chains, is
  what PolyChord lacked there, so above 20 parameters it gets 50 × ndim.

Checked again for issue 31 against every PolyChord run at these defaults with a reference
(table by ndim in ``docs/samplers.md``): RMSE / reported error 0.36–1.56 from 2 to 24
parameters; galaxies K = 3 with unequal variances (8 parameters, 200 live points, 40 repeats,
clustering off), which issue 31 had found low, rms z 0.41 over 8 calibration runs and 0.99
with three fresh sweeps added (+1.5, −1.3, −2.3σ; ``tests/test_polychord_galaxies.py``).
"""

from __future__ import annotations

__all__ = ["MAX_NDIM_STANDARD_LIVE", "live_points"]

MAX_NDIM_STANDARD_LIVE = 20
"""The largest ndim whose runs keep PolyChord's own 25 × ndim live points (the boundary of
dynesty's slice rounds too: the study has no problem between 20 and 24 parameters)."""


def live_points(ndim: int) -> int:
    """PolyChord's ``nlive`` in ``ndim`` dimensions when the settings leave it unset: 25 × ndim
    up to :data:`MAX_NDIM_STANDARD_LIVE`, 50 × ndim above."""
    ndim = int(ndim)
    return (25 if ndim <= MAX_NDIM_STANDARD_LIVE else 50) * ndim
