"""Can a row's ln Z be trusted? Check the signals of a missed mode; make deeper runs until it can.

Signals, for each (K, sampler) row of a sweep (:func:`signals`):

* **seeds disagree**: with two or more seeds, their ln Z scatter beyond their errors (χ² of the
  seeds about their mean, p < ``SEEDS_P``). A seed that missed a label copy (one of the K!
  equivalent relabellings of the fit) or a mode is low by up to ln K! and stands out (galaxies
  K = 2, dynesty seed 1: 4.2σ below the reference and the other seeds).
* **label copies missing**: with exchangeable labels, the seeds together visited fewer than the
  K! label copies, and there are enough effective samples (≥ 20 per copy) for that to mean
  something: the sampler did not move between copies, and may not have moved between distinct
  modes either. Unequal shares of the copies that were visited are *not* a signal: a nested
  sampler's live points do not hop between well separated copies, so the shares drift at random
  from the moment the copies separate, while ln Z stays right by symmetry (galaxies K = 2,
  dynesty, three seeds: shares 0.56 / 0.44 and 0.57 / 0.43 with ln Z +0.8σ and +0.6σ from the
  reference; the seed with 0.62 / 0.38 was 4.2σ low for another reason, which the
  importance-sampling check catches).
* **the independent check disagrees**: ln Z estimated again from the runs' own samples
  without a nested sampler (by bridge sampling, :mod:`nestmix.evidence.bridge`, where it is
  usable, which it is at every K; else by importance sampling, :mod:`nestmix.evidence.check`)
  differs from the sampler's by more than :data:`nestmix.evidence.check.DISAGREE_Z` combined
  errors. This one fires for a single
  seed: it caught the galaxies K = 2 dynesty run that was 4.2σ low although its census found
  both relabellings.

Escalation (:func:`escalate`): a flagged row gets a deeper run, with another seed and twice the
live points of its last (the next repeat of its (K, sampler), stored and fingerprinted like any
repeat, its manifest recording the step and ``nlive``), and is judged on that run from then on
(:func:`nestmix.store.summary.load_sweep`); it is checked again, until its signals are gone and
the last two estimates agree within twice their combined error, or ``budget`` deeper runs have
been made. Doubling nlive rather than adding a seed at the same nlive: a run that is biased (it
lost part of the posterior) is not fixed by averaging it with another run of the same kind, and
more live points lose less. On make_blobs (issue 19, random_state 2) tied K = 4 at nlive 100
came out 4.5 nats above its importance-sampling check; a second seed at nlive 100 left the row
marked and still preferred over K = 3. Rows that never settle are recorded in
``convergence.json`` and shown as not converged
(:func:`nestmix.store.convergence.apply`), and the verdict says the answer
is uncertain and why (:func:`nestmix.report.trust.unconverged_verdict`).

A row of 12 or more parameters that neither independent estimate can check
(:func:`needs_second_seed`: bridge and importance sampling both unusable, as on enzyme K = 5)
and that rests on one run gets a second
seed at the same settings, at the sweep's own step and at every deeper one: the row's error
then includes the scatter between runs, which a single run cannot show, and two seeds that
disagree escalate. It counts against no budget but needs one (``escalate`` ≥ 1), and like
the deeper runs it goes to contenders only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nestmix.evidence.arithmetic import combine_runs
from nestmix.evidence.check import DISAGREE_Z
from nestmix.results import EvidenceRow, SweepResult
from nestmix.runtime.atomic import write_json_atomic
from nestmix.store.convergence import CONVERGENCE

__all__ = ["SECOND_SEED_MIN_NDIM", "SEEDS_P", "escalate", "needs_second_seed", "signals"]

SEEDS_P = 0.01  # seeds disagree when the χ² test of their scatter gives p below this
_EFFECTIVE_PER_COPY = 20


def signals(row: EvidenceRow, census: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Why the ln Z of ``row`` may miss a mode (empty: no signal).

    Parameters
    ----------
    row : EvidenceRow
        A row of the sweep (with ``logZ_runs`` and ``logZ_err_runs`` when it has several seeds).
    census : mapping, optional
        Its label census (pooled over the seeds), as stored in the sweep's ``modes``.

    Returns
    -------
    tuple of str
    """
    out = []
    if row.crosscheck_z is not None and abs(row.crosscheck_z) > DISAGREE_Z:
        out.append(f"an independent estimate from its own samples (bridge or importance "
                   f"sampling) "
                   f"({row.crosscheck_logZ:.2f} ± {row.crosscheck_logZ_err:.2f}) is "
                   f"{abs(row.crosscheck_z):.1f} combined errors "
                   f"{'above' if row.crosscheck_z < 0 else 'below'} its ln Z")
    if row.mode_deficit is not None:
        out.append(f"its best point (ln L + ln π = {row.best_logl:.1f}) is "
                   f"{row.mode_deficit:.1f} nats below an optimiser's maximum "
                   f"({row.optimum_logl:.1f}): it missed the main mode")
    if len(row.logZ_runs) >= 2:
        combined = combine_runs(row.logZ_runs, row.logZ_err_runs)
        if combined.p_consistent is not None and combined.p_consistent < SEEDS_P:
            out.append(f"its {len(row.logZ_runs)} seeds disagree beyond their errors "
                       f"(ln Z {', '.join(f'{z:.2f}' for z in row.logZ_runs)}; χ² p = "
                       f"{combined.p_consistent:.2g})")
    if census and census.get("exchangeable") and census.get("warning") and not row.checked:
        copies = int(census.get("expected_copies") or 1)
        if float(census.get("n_effective", 0.0)) >= _EFFECTIVE_PER_COPY * copies:
            visited = int(census.get("copies_visited") or 0)
            if visited < copies:
                out.append(f"it found only {visited} of the {copies} equivalent relabellings "
                           "of the fit (the same fit with the components' labels permuted)")
    return tuple(out)


SECOND_SEED_MIN_NDIM = 12
"""Rows of this many parameters or more that nothing checks get a second seed
(:func:`needs_second_seed`). Below it single runs at the defaults kept honest errors
(``benchmarks/calibration.py``: 11 cases of 2 to 9 parameters, rms z 1.12 for dynesty and 1.16
for PolyChord over 33 runs each); above it the unchecked enzyme K = 5 (14 parameters,
ordered means, nlive 500) scattered over eight seeds by 2.3 times its reported error."""


def needs_second_seed(row: EvidenceRow) -> bool:
    """Whether ``row`` is a hard row that rests on a single run nothing else checks.

    Neither independent estimate (bridge sampling, importance sampling) was usable for it, it
    has :data:`SECOND_SEED_MIN_NDIM` parameters or more, and its judged runs are one seed:
    then nothing measures how far its ln Z may be from the truth beyond the sampler's own
    error, which counts only the prior-volume noise of an ideal run.
    A run whose live points do not mix between distinct modes scatters by more (enzyme K = 5,
    ordered means, nlive 500: eight seeds spread by 0.66 nats against a reported 0.29). A
    second seed at the same settings measures that scatter: the row combines the two runs
    (:func:`nestmix.evidence.combine_runs`, error the larger of the propagated one and the
    scatter's), and seeds that disagree beyond their errors fire the signal that escalates.
    """
    return (row.crosscheck_logZ is None and row.ndim >= SECOND_SEED_MIN_NDIM
            and row.repeats < 2)


def escalate(result_of: Callable[[], SweepResult],
             add_runs: Callable[..., None], directory: str | Path,
             budget: int, say: Callable[[str], None] = lambda line: None,
             refine: Callable[[EvidenceRow], bool] | None = None,
             can_deepen: Callable[[int, str], bool] | None = None) -> dict:
    """Add deeper runs to the rows whose signals fire, up to ``budget`` per row.

    With ``refine``, only the rows it accepts get deeper runs (the contenders,
    :func:`nestmix.sweep.screening.is_contender`); the others are checked and recorded all the
    same (``"contender": false``), so a row whose signals fire is still marked.

    Parameters
    ----------
    result_of : callable
        Returns the sweep's current result (``load_sweep(directory)``).
    add_runs : callable
        Runs and stores the next deeper run (another seed, twice the live points of the last)
        of each given (K, sampler); called as ``add_runs(rows, deeper=False)`` it adds another
        seed at the settings of the row's deepest runs instead (:func:`needs_second_seed`).
    directory : str or Path
        The sweep directory; the outcome is written to its ``convergence.json``.
    budget : int
        Deeper runs allowed per (K, sampler) (0: only check and record).
    say : callable
        Progress lines.
    refine : callable, optional
        Which rows may get deeper runs (by default all).
    can_deepen : callable, optional
        ``can_deepen(k, sampler)``: whether the sampler can make a deeper run of the row
        (:meth:`nestmix.samplers.base.SamplerAdapter.with_more_live_points` is not None; by
        default all can). A row whose signals fire and whose sampler cannot is recorded
        unsettled with ``cannot_deepen`` and no deeper run (its note says so).

    Returns
    -------
    dict
        What ``convergence.json`` holds: ``budget`` and, per ``"K=<k> <sampler>"``,
        ``converged``, ``reasons`` (the signals still firing, or an estimate still moving),
        ``extra_runs``, ``second_seeds`` (seeds added at unchanged settings to rows nothing
        checks, :func:`needs_second_seed`; with a budget of at least one) and ``logZ_steps``
        (the row's ln Z before and after each deeper run).
    """
    state: dict[tuple[int, str], dict[str, Any]] = {}
    result = result_of()
    while True:
        todo: list[tuple[int, str]] = []
        seconds: list[tuple[int, str]] = []
        for row in result.rows:
            # runs beyond the sweep's repeats were added by an earlier check: spent budget
            steps = [[row.logZ, row.logZ_err]]
            if row.previous_logZ is not None and row.previous_logZ_err is not None:
                steps.insert(0, [row.previous_logZ, row.previous_logZ_err])
            entry = state.setdefault((row.k, row.sampler), {
                "extra_runs": row.escalations,
                "second_seeds": 0,
                "logZ_steps": steps})
            fired = list(signals(row, _census(result, row)))
            if len(entry["logZ_steps"]) >= 2:
                fired += _moved(*entry["logZ_steps"][-2:])
            entry["reasons"] = fired
            entry["contender"] = refine is None or refine(row)
            deepens = can_deepen is None or can_deepen(row.k, row.sampler)
            if fired and entry["extra_runs"] < budget and entry["contender"] and not deepens:
                if not entry.get("cannot_deepen"):
                    say(f"K={row.k} {row.sampler}: not converged ({'; '.join(fired)}); "
                        f"{row.sampler} cannot make a deeper run, so none is added")
                entry["cannot_deepen"] = True
            elif fired and entry["extra_runs"] < budget and entry["contender"]:
                todo.append((row.k, row.sampler))
            elif (budget and entry["contender"] and needs_second_seed(row)
                  and entry["second_seeds"] <= entry["extra_runs"]):  # one per step
                seconds.append((row.k, row.sampler))
        if not todo and not seconds:
            break
        for k, sampler in todo:
            say(f"K={k} {sampler}: not converged ({'; '.join(state[(k, sampler)]['reasons'])})"
                f": adding a run with twice the live points")
        for k, sampler in seconds:
            say(f"K={k} {sampler}: no independent estimate checks its ln Z: adding a second "
                "seed at the same settings to measure the scatter between runs")
        if todo:
            add_runs(todo)
        if seconds:
            add_runs(seconds, deeper=False)
        result = result_of()
        for row in result.rows:
            key = (row.k, row.sampler)
            if key in todo:
                entry = state[key]
                entry["extra_runs"] += 1
                entry["logZ_steps"].append([row.logZ, row.logZ_err])
            elif key in seconds:  # the same step, now measured by two seeds
                entry = state[key]
                entry["second_seeds"] += 1
                entry["logZ_steps"][-1] = [row.logZ, row.logZ_err]
    record = {"budget": budget, "rows": {
        f"K={k} {s}": {"converged": not e["reasons"], **e} for (k, s), e in sorted(state.items())}}
    write_json_atomic(Path(directory) / CONVERGENCE, record)
    return record


def _moved(before: Sequence[float], after: Sequence[float]) -> list[str]:
    """The signal of a row whose ln Z moved beyond twice the combined error when its live
    points were doubled. Lower is not the better answer: more live points should lose less,
    so a deeper run that comes out lower is evidence that a run (possibly the deeper one) lost
    posterior mass, not that it is right; the independent check says which run it supports."""
    (z0, e0), (z1, e1) = before, after
    if abs(z1 - z0) <= 2 * math.hypot(e0, e1):
        return []
    if z1 < z0:
        return [f"its ln Z fell from {z0:.2f} to {z1:.2f} when its live points were doubled: "
                "a run lost posterior mass (the deeper one is no more trustworthy for being "
                "deeper)"]
    return [f"its ln Z moved from {z0:.2f} to {z1:.2f} when its live points were doubled"]


def _census(result: SweepResult, row: EvidenceRow) -> Mapping[str, Any] | None:
    for entry in result.modes:
        if entry.get("k") == row.k and entry.get("sampler") == row.sampler:
            return entry.get("census")
    return None
