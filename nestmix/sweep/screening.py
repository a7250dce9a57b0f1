"""Coarse to fine: which K a model of a grid still needs, and which rows deserve deeper runs.

A models × K grid (:mod:`nestmix.sweep.grid`) runs K in waves, smallest first, and after each
wave asks of every model (:func:`stop_raising_k`) two questions, of rows that are not in doubt
only (converged, their checks agreeing, their best point near an optimiser's maximum: a run that
missed a mode is low by any amount, and would make a model look finished or hopeless when it
is neither):

* **has its ln Z fallen clearly for two K in a row?** Each step down by more than
  :data:`FALL_NATS` nats and twice its combined error. Past the number of components the data
  support, each extra component costs prior volume (an Occam factor of a few nats) while the fit
  gains nothing, so ln Z falls from then on; two clear falls in a row are the sign, and larger K
  would only fall further.
* **does it trail the grid's best so far beyond what its remaining K could make up?** Gains in
  ln Z from one K to the next shrink as K grows (each added component explains less of what the
  others left), so a model whose gap to the best exceeds :data:`TRAIL_NATS` plus twice its last
  gain times the K still to run would not catch up. This prunes, e.g., spherical components on
  strongly correlated clusters, which trail by hundreds of nats after K = 1, 2.

A model that stops is not run at larger K; those cells are recorded as *screened* with the
reason (``screening.json``, :func:`nestmix.store.grid.write_screening`), shown in the table and
report, and not counted as missing.

Deeper runs of the convergence check go only to **contenders** (:func:`is_contender`): rows
within :data:`CONTENDER_NATS` nats (or three combined errors) of the best of their sampler, or
whose own second estimate of ln Z reaches that far, or whose best point fell short of an
optimiser's maximum by enough that the missed mode could bring it that far. An over-fitted K
several nats behind
cannot change the verdict, and refining it was most of the cost of the 1-D example (issue 32).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from nestmix.evidence.check import DISAGREE_Z
from nestmix.results import EvidenceRow

__all__ = ["CONTENDER_NATS", "FALL_NATS", "MISSED_MODE_SLACK", "RULE", "TRAIL_NATS",
           "is_contender", "stop_raising_k"]

#: ln Z below the best by more than this (and three combined errors) is not a contender:
#: ln 10, a Bayes factor of 10, "strong" evidence on the Kass & Raftery scale.
CONTENDER_NATS = math.log(10.0)
#: Nats per parameter a missed mode may add to a row's ln Z beyond its peak's deficit
#: (:func:`is_contender`): a mode e times wider than the one found, in every parameter.
MISSED_MODE_SLACK = 1.0
#: A fall of ln Z from one K to the next counts when larger than this (and twice its error).
FALL_NATS = 1.0
#: A model is pruned when it trails the best by more than this plus what its K to come could
#: gain at twice its last gain each.
TRAIL_NATS = 20.0

RULE = (f"stop raising K for a model when its ln Z fell by more than {FALL_NATS:g} nat and twice "
        "the combined error at two K in a row, or when it trails the best (model, K) by more "
        f"than {TRAIL_NATS:g} nats plus twice its last gain for each K still to run; deeper "
        f"runs only for rows within {CONTENDER_NATS:.2f} nats (or three combined errors) of the "
        "best, by their ln Z, its check, or what a mode their runs missed could add")


def stop_raising_k(rows: Sequence[EvidenceRow], k_values: Sequence[int],
                   best: Mapping[str, EvidenceRow]) -> str | None:
    """Why a model needs no larger K, or None when it does.

    Parameters
    ----------
    rows : sequence of EvidenceRow
        The model's finished rows (any samplers), at the K run so far.
    k_values : sequence of int
        Every K the grid asks for.
    best : mapping of str to EvidenceRow
        The grid's best row so far, per sampler.

    Returns
    -------
    str or None
        The reason (the same rule held for every sampler that has rows), or None.
    """
    reasons = []
    for sampler in sorted({r.sampler for r in rows}):
        mine = sorted((r for r in rows if r.sampler == sampler), key=lambda r: r.k)
        if any(_doubtful(r) for r in mine[-3:]):
            return None  # a row that may have missed a mode says nothing of the trend
        reason = _fell_twice(mine) or _trails(mine, k_values, best.get(sampler))
        if reason is None:
            return None
        reasons.append(reason)
    return reasons[0] if reasons else None


def _doubtful(row: EvidenceRow) -> bool:
    """A row whose ln Z may be far too low: a second estimate far above it, a run stopped on
    its budget, or its best point short of an optimiser's maximum. (A row whose check says
    its ln Z is too *high* only makes a fall or a gap larger in truth than it looks.)"""
    check_above = row.crosscheck_z is not None and row.crosscheck_z < -DISAGREE_Z
    bridge_z = getattr(row, "bridge_z", None)
    bridge_above = bridge_z is not None and bridge_z < -DISAGREE_Z
    stopped = any("budget" in w for w in row.warnings)
    return check_above or bridge_above or stopped or bool(getattr(row, "mode_deficit", None))


def _fell_twice(rows: Sequence[EvidenceRow]) -> str | None:
    if len(rows) < 3:
        return None
    a, b, c = rows[-3:]
    if _fell(a, b) and _fell(b, c):
        return (f"its ln Z fell clearly at K = {b.k} and K = {c.k} ({a.logZ:.1f}, {b.logZ:.1f}, "
                f"{c.logZ:.1f})")
    return None


def _fell(before: EvidenceRow, after: EvidenceRow) -> bool:
    drop = before.logZ - after.logZ
    return drop > FALL_NATS and drop > 2 * math.hypot(before.logZ_err, after.logZ_err)


def _trails(rows: Sequence[EvidenceRow], k_values: Sequence[int],
            best: EvidenceRow | None) -> str | None:
    if best is None or len(rows) < 2:
        return None
    last, before = rows[-1], rows[-2]
    to_run = sum(1 for k in k_values if k > last.k)
    top = max(rows, key=lambda r: r.logZ)
    gap = best.logZ - top.logZ
    gain = max(last.logZ - before.logZ, 0.0)
    if gap > TRAIL_NATS + 2 * gain * to_run:
        return (f"it trails the best so far by {gap:.0f} nats, more than {TRAIL_NATS:g} plus "
                f"twice its last gain ({gain:.1f}) for each of the {to_run} K still to run")
    return None


def is_contender(row: EvidenceRow, best: EvidenceRow) -> bool:
    """Whether ``row`` could still change the verdict against ``best`` (same sampler).

    True when its ln Z, or its own second estimate of ln Z, is within :data:`CONTENDER_NATS`
    nats or three combined errors of the best's, or when its best point fell short of an
    optimiser's maximum (``mode_deficit``) by enough to bring it there: such a run missed a
    mode, whose mass could lift its ln Z by about the deficit (the missed peak's height above
    the best point the run found, ln L + ln π) and by :data:`MISSED_MODE_SLACK` nats per
    parameter more (a missed mode up to e times wider in every parameter). A row still below
    the best by more than that cannot change the verdict (issue 32: a deeper run of a row 117
    nats behind, on the benchmark of ``benchmarks/time_to_answer.py``, was a twelfth of its CPU).
    """
    margin = max(CONTENDER_NATS, 3 * math.hypot(row.logZ_err, best.logZ_err))
    estimates = [row.logZ]
    if row.crosscheck_logZ is not None:
        estimates.append(row.crosscheck_logZ)
    bridge = getattr(row, "bridge_logZ", None)
    if bridge is not None:
        estimates.append(bridge)
    deficit = getattr(row, "mode_deficit", None)
    if deficit:
        if not math.isfinite(deficit):
            return True
        estimates.append(row.logZ + deficit + MISSED_MODE_SLACK * max(int(row.ndim), 1))
    return max(estimates) >= best.logZ - margin
