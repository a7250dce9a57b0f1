"""The evidence table of a sweep directory, built from the finished runs on disk.

The runs of one (K, sampler) with different seeds are combined into one row
(:func:`nestmix.evidence.arithmetic.combine_runs`); Bayes factors and P(K | data) are computed
within each sampler's rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nestmix.evidence.arithmetic import bayes_factors, combine_runs, posterior_probabilities
from nestmix.evidence.bridge import BridgeEstimate
from nestmix.evidence.check import DISAGREE_Z, ImportanceCheck, crosscheck_warning, disagreement
from nestmix.modes.combine import combine_analyses
from nestmix.results import EvidenceRow, RunSummary, SweepResult
from nestmix.store.convergence import apply
from nestmix.store.runs import RunStore

__all__ = ["escalation_step", "judged_runs", "load_sweep", "supported_runs"]


def load_sweep(directory: str | Path) -> SweepResult:
    """The evidence table of a finished or partly finished sweep directory.

    Built from the finished runs on disk, so a sweep killed before it rewrote ``summary.json``
    still shows every run that finished. The runs of one (K, sampler) with different seeds are
    combined into one row (:func:`nestmix.evidence.arithmetic.combine_runs`). Bayes factors and
    P(K | data) are computed within each sampler's rows; K values asked for but not finished are
    listed as missing, and repeats not finished as missing repeats.
    """
    store = RunStore(directory)
    manifest = store.manifest()
    runs = store.finished_runs()
    ks = list(manifest.get("k_values", []))
    k_prior = manifest.get("k_prior")
    repeats = int(manifest.get("repeats", 1))
    n_points = manifest.get("data", {}).get("n_points")
    rows: list[EvidenceRow] = []
    modes: list[dict] = []
    for sampler in sorted({r["sampler"] for r in runs}):
        by_k: dict[int, list[dict]] = {}
        for r in sorted((r for r in runs if r["sampler"] == sampler),
                        key=lambda r: (r["k"], r["repeat"])):
            by_k.setdefault(r["k"], []).append(r)
        prior = None
        if k_prior is not None and all(k in ks for k in by_k):
            prior = [k_prior[ks.index(k)] for k in by_k]
        entries = []
        for k, group in by_k.items():
            kept, depth = _deepest(group, repeats)
            # census, modes and their warnings from every seed (nestmix.modes.combine)
            analysis = combine_analyses([_stored_analysis(store, k, sampler, r["repeat"])
                                         for r in kept], n_points)
            entries.append((k, [RunSummary.from_dict(r["summary"]) for r in kept], analysis,
                            depth))
            if analysis:
                modes.append({"k": k, "sampler": sampler, **analysis})
        rows += _evidence_rows(sampler, entries, prior)
    samplers = sorted(manifest.get("samplers", {}))
    have = {(r.k, r.sampler) for r in rows}
    missing = tuple((k, s) for s in samplers for k in ks if (k, s) not in have)
    done = {(r["k"], r["sampler"], r["repeat"]) for r in runs}
    missing_repeats = tuple((k, s, i) for s in samplers for k in ks if (k, s) in have
                            for i in range(1, repeats + 1) if (k, s, i) not in done)
    return apply(SweepResult(name=manifest.get("name", Path(directory).name), rows=tuple(rows),
                             missing=missing, directory=str(directory), modes=tuple(modes),
                             repeats=repeats, missing_repeats=missing_repeats), directory)


def escalation_step(run: Mapping[str, Any]) -> int:
    """The convergence check's step that added a finished run (its manifest); 0 for the
    sweep's own runs and for seeds older nestmix added at the same settings."""
    return int(run.get("escalation", 0))


def judged_runs(group: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The finished runs (manifests) of one (K, sampler) that its row is judged on: those of
    the deepest escalation step (see :func:`_deepest`), in the order given."""
    depth = max(escalation_step(r) for r in group)
    return [r for r in group if escalation_step(r) == depth]


def supported_runs(group: Sequence[Mapping[str, Any]]
                   ) -> tuple[list[Mapping[str, Any]], str | None]:
    """The runs (manifests) of one (K, sampler) its row is judged on: those of the escalation
    step the evidence supports, and why when that is not simply the deepest step.

    Doubling the live points should lose less posterior mass, but a deeper run can still come
    out lower (issue 31: the deeper of two enzyme runs was the lowest of five). So a step is
    set aside when its runs missed the main mode (their best log-likelihood more than
    :func:`nestmix.evidence.optimum.deficit_threshold` below the best any run of the row, or the
    optimiser, reached), and, where the runs' independent estimates of ln Z (bridge sampling,
    else importance sampling) pooled over every step speak, the deepest step that agrees with
    them within :data:`~nestmix.evidence.check.DISAGREE_Z` combined errors is judged; with no
    usable estimate, the deepest step not set aside.

    Returns
    -------
    runs : list of mapping
        The manifests of the chosen step, in the order given.
    why : str or None
        Why a deeper step was set aside (None when the deepest step is judged).
    """
    steps = sorted({escalation_step(r) for r in group})
    by_step = {s: [r for r in group if escalation_step(r) == s] for s in steps}
    summaries = {s: [RunSummary.from_dict(r["summary"]) for r in by_step[s]] for s in steps}
    peak, threshold = _peak(summaries)
    missed = {s for s in steps if peak is not None and threshold is not None
              and max(_best_logl(x) for x in summaries[s]) < peak - threshold}
    pooled = _pooled_check([x for s in steps for x in summaries[s]])
    combined = {s: combine_runs([x.logZ for x in summaries[s]],
                                [x.logZ_err for x in summaries[s]]) for s in steps}

    def agrees(s: int) -> bool:
        if pooled is None:
            return True
        c = combined[s]
        return abs(c.logz - pooled[0]) <= DISAGREE_Z * math.hypot(c.logz_err, pooled[1])

    candidates = [s for s in steps if s not in missed] or steps
    agreeing = [s for s in candidates if agrees(s)]
    chosen = max(agreeing or candidates)
    deepest = max(steps)
    if chosen == deepest:
        return by_step[chosen], None
    c = combined[deepest]
    reached = max(_best_logl(x) for x in summaries[deepest])
    cause = (f"they missed the main mode (their best point {reached:.1f} in ln L + ln π, "
             f"against {peak:.1f} reached by another run or the optimiser)"
             if deepest in missed else
             f"their ln Z is {abs(c.logz - pooled[0]) / math.hypot(c.logz_err, pooled[1]):.1f} "
             f"combined errors from the independent estimate pooled over every run "
             f"({pooled[0]:.2f} ± {pooled[1]:.2f}): a run that lost posterior mass"
             if pooled is not None else "they disagree with the other runs")
    kept = by_step[chosen][0]
    why = (f"judged on the run(s) at {_nlive_words(kept)}, which the evidence supports; the "
           f"deeper run(s) at {_nlive_words(by_step[deepest][0])} (ln Z {c.logz:.2f} ± "
           f"{c.logz_err:.2f}) are set aside: {cause}")
    return by_step[chosen], why


def _nlive_words(run: Mapping[str, Any]) -> str:
    return f"nlive {run['nlive']}" if run.get("nlive") else "the sweep's settings"


def _best_logl(summary: RunSummary) -> float:
    """The run's best point on its optimum record's scale (+inf without one: never set
    aside)."""
    record = summary.optimum if isinstance(summary.optimum, Mapping) else {}
    if record.get("best_run", record.get("best_run_logl")) is None:
        return math.inf
    return _score(record, "best_run", "best_run_logl")


def _peak(summaries: Mapping[int, Sequence[RunSummary]]) -> tuple[float | None, float | None]:
    """The highest log-likelihood any run of the row or the optimiser reached, and the
    smallest threshold the runs recorded (None, None without optimiser records)."""
    records = [x.optimum for runs in summaries.values() for x in runs
               if isinstance(x.optimum, Mapping) and x.optimum.get("best_run_logl") is not None]
    if not records:
        return None, None
    peak = max(max(_score(r, "best_run", "best_run_logl"), _score(r, "optimum", "log_likelihood"))
               for r in records)
    return peak, min(float(r.get("threshold") or 0.0) for r in records)


def _pooled_check(runs: Sequence[RunSummary]) -> tuple[float, float] | None:
    """The inverse-variance mean of the runs' usable bridge estimates, else of their usable
    importance checks; None without any."""
    bridges = [BridgeEstimate.from_dict((s.crosscheck or {}).get("bridge"))
               if isinstance(s.crosscheck, Mapping) else None for s in runs]
    usable: list[Any] = [b for b in bridges if b is not None and b.usable]
    if not usable:
        checks = [ImportanceCheck.from_dict(s.crosscheck) for s in runs]
        usable = [c for c in checks if c is not None and c.usable]
    if not usable:
        return None
    mean = combine_runs([u.logZ for u in usable], [u.logZ_err for u in usable])
    return float(mean.logz), float(mean.logz_err_propagated)


def _deepest(group: Sequence[Mapping[str, Any]], repeats: int
             ) -> tuple[list[Mapping[str, Any]], dict[str, Any]]:
    """The runs a row is judged on, and what the row says of the convergence check's runs.

    The check escalates a row it does not trust by adding a run with twice the live points
    (``escalation`` in the run's manifest: 1, 2, ...); the step the evidence supports
    (:func:`supported_runs`, usually the deepest) is judged, and the combined ln Z of the
    step before it is kept as ``previous_logZ`` (a deeper step set aside is named, with its
    ln Z, in the row's note ``set_aside``). Seeds added
    at the same settings (by nestmix before the check doubled nlive) have no ``escalation``
    and combine with the sweep's own, as they always did."""
    kept, why = supported_runs(group)
    depth = escalation_step(kept[0])
    out: dict[str, Any] = {"escalations": sum(1 for r in group if r["repeat"] > repeats
                                              and not r.get("second_seed")),
                           "nlive": kept[0].get("nlive") if depth else None}
    before = [r for r in group if escalation_step(r) < depth]
    other = judged_runs(before) if before else []
    if other:
        runs = [RunSummary.from_dict(r["summary"]) for r in other]
        previous = combine_runs([s.logZ for s in runs], [s.logZ_err for s in runs])
        out |= {"previous_logZ": float(previous.logz),
                "previous_logZ_err": float(previous.logz_err)}
    if why is not None:
        out["set_aside"] = why
    return kept, out


def _stored_analysis(store: RunStore, k: int, sampler: str, repeat: int = 1) -> dict:
    stored = store.load_analysis(k, sampler, repeat)
    return {} if stored is None else stored[0]


def _evidence_rows(sampler: str,
                   entries: Sequence[tuple[int, Sequence[RunSummary], Mapping[str, Any],
                                           Mapping[str, Any]]],
                   prior: Sequence[float] | None) -> list[EvidenceRow]:
    """One row per K from its runs' summaries (one per seed), their combined analysis and
    what the convergence check added (:func:`_deepest`)."""
    combined = [combine_runs([s.logZ for s in runs], [s.logZ_err for s in runs])
                for _, runs, _, _ in entries]
    sim = [combine_runs([s.logZ for s in runs], [s.logZ_err_sim for s in runs])
           for _, runs, _, _ in entries]
    logz = [c.logz for c in combined]
    err = [c.logz_err for c in combined]
    ln_bf, ln_bf_err = bayes_factors(logz, err)
    p, p_err = posterior_probabilities(logz, err, prior)
    rows = []
    for i, (k, runs, a, depth) in enumerate(entries):
        c, first, several = combined[i], runs[0], len(runs) > 1
        check = _bridge(runs, c)  # the bridge where it speaks (it works at every K)
        method = "bridge sampling" if check is not None else "importance sampling"
        check = check if check is not None else _crosscheck(runs, c)
        optimum = _optimum(runs)
        rows.append(EvidenceRow(
            k=int(k), sampler=sampler, logZ=c.logz, logZ_err=c.logz_err,
            logZ_err_sim=sim[i].logz_err_propagated, ln_bf=float(ln_bf[i]),
            ln_bf_err=float(ln_bf_err[i]), p_k=float(p[i]), p_k_err=float(p_err[i]),
            ncall=int(sum(s.ncall for s in runs)),
            seconds=float(sum(s.seconds for s in runs)), ndim=int(first.ndim),
            information=float(np.mean([s.information for s in runs])),
            n_effective=float(sum(s.n_effective for s in runs)),
            seed=first.seed,
            converged=(all(s.converged for s in runs) and not _disagrees(check)
                       and optimum["mode_deficit"] is None),
            label_copies=a.get("census", {}).get("copies_visited"),
            expected_copies=a.get("census", {}).get("expected_copies"),
            distinct_modes=a.get("distinct_modes", {}).get("n_modes"),
            warnings=_warnings(runs, a, c, check, method,
                               checked=(check is not None and not _disagrees(check)
                                        and optimum["best_logl"] is not None
                                        and optimum["mode_deficit"] is None))
            + _missed_mode(optimum)
            + _replaced(depth),
            repeats=len(runs),
            logZ_spread=c.spread,
            logZ_err_run=float(np.mean([s.logZ_err for s in runs])) if several else None,
            logZ_runs=tuple(float(s.logZ) for s in runs) if several else (),
            logZ_err_runs=tuple(float(s.logZ_err) for s in runs) if several else (),
            seeds=tuple(int(s.seed) for s in runs) if several else (),
            crosscheck_logZ=check[0] if check else None,
            crosscheck_logZ_err=check[1] if check else None,
            crosscheck_z=check[2] if check else None, best_logl=optimum["best_logl"],
            optimum_logl=optimum["optimum_logl"], mode_deficit=optimum["mode_deficit"],
            **{key: v for key, v in depth.items() if key != "set_aside"}))
    return rows


def _optimum(runs: Sequence[RunSummary]) -> dict[str, float | None]:
    """The optimiser's cross-check over a row's runs (:mod:`nestmix.evidence.optimum`): the best
    log-likelihood any of them found, the optimiser's maximum, and the deficit when the best
    falls short by more than the threshold the runs recorded."""
    records = [s.optimum for s in runs
               if isinstance(s.optimum, Mapping) and s.optimum.get("log_likelihood") is not None]
    if not records:
        return {"best_logl": None, "optimum_logl": None, "mode_deficit": None}
    best = max(_score(r, "best_run", "best_run_logl") for r in records)
    top = max(_score(r, "optimum", "log_likelihood") for r in records)
    threshold = min(float(r.get("threshold") or 0.0) for r in records)
    deficit = top - best if top - best > threshold else None
    return {"best_logl": best, "optimum_logl": top, "mode_deficit": deficit}


def _score(record: Mapping[str, Any], key: str, older: str) -> float:
    """A point of an optimum record on the scale it compares (ln L + ln π where the prior
    density is known; ln L in records made before that, which have no ``key``)."""
    value = record.get(key, record.get(older))
    return float(value) if value is not None else -math.inf


def _missed_mode(optimum: Mapping[str, float | None]) -> tuple[str, ...]:
    """The warning of a row whose runs never came near an optimiser's maximum."""
    if optimum["mode_deficit"] is None:
        return ()
    return (f"its runs missed the main mode: the best point they found (ln L + ln π = "
            f"{optimum['best_logl']:.1f}) is {optimum['mode_deficit']:.1f} nats below an "
            f"optimiser's maximum of the same model ({optimum['optimum_logl']:.1f}), so its "
            "ln Z is too low by an amount no error bar shows: rerun this K with more live "
            "points",)


def _replaced(depth: Mapping[str, Any]) -> tuple[str, ...]:
    """The note of a row whose deeper runs replaced its first estimate (or were set aside)."""
    if depth.get("set_aside"):
        return (str(depth["set_aside"]),)
    if depth.get("previous_logZ") is None:
        return ()
    return (f"judged on the run(s) at {_nlive_words(depth)} the convergence check added; the "
            f"estimate before, with half the live points ({depth['previous_logZ']:.2f} ± "
            f"{depth['previous_logZ_err']:.2f}), is set aside",)


def _disagrees(check: tuple[float, float, float] | None) -> bool:
    return check is not None and abs(check[2]) > DISAGREE_Z


def _crosscheck(runs: Sequence[RunSummary], combined) -> tuple[float, float, float] | None:
    """The runs' importance-sampling ln Z (inverse-variance mean over the seeds whose check is
    usable: each estimates the same evidence, whichever run's samples its proposal came from),
    its error and the row's distance from it in combined errors; None without a usable check."""
    found = [ImportanceCheck.from_dict(s.crosscheck) for s in runs]
    checks = [c for c in found if c is not None and c.usable]
    if not checks:
        return None
    mean = combine_runs([c.logZ for c in checks], [c.logZ_err for c in checks])
    z = disagreement(combined.logz, combined.logz_err,
                     replace(checks[0], logZ=mean.logz, logZ_err=mean.logz_err_propagated))
    return None if z is None else (float(mean.logz), float(mean.logz_err_propagated), z)


def _bridge(runs: Sequence[RunSummary], combined) -> tuple[float, float, float] | None:
    """As :func:`_crosscheck`, from the runs' bridge-sampling estimates
    (:mod:`nestmix.evidence.bridge`, stored under the check's ``bridge``)."""
    found = [BridgeEstimate.from_dict((s.crosscheck or {}).get("bridge"))
             if isinstance(s.crosscheck, Mapping) else None for s in runs]
    usable = [b for b in found if b is not None and b.usable]
    if not usable:
        return None
    mean = combine_runs([b.logZ for b in usable], [b.logZ_err for b in usable])
    error = float(mean.logz_err_propagated)
    z = (combined.logz - mean.logz) / math.hypot(combined.logz_err, error)
    return float(mean.logz), error, float(z)


SCATTER_P = 0.01  # runs scatter beyond their errors when the χ² test's p falls below this


def _warnings(runs: Sequence[RunSummary], analysis: Mapping[str, Any], combined,
              check: tuple[float, float, float] | None = None,
              method: str = "importance sampling", checked: bool = False) -> tuple[str, ...]:
    out = []
    if check is not None and _disagrees(check):
        out.append(crosscheck_warning(combined.logz, combined.logz_err, *check, method=method))
    stopped = sum(not s.converged for s in runs)
    if stopped and len(runs) == 1:
        out.append("the run stopped on its call or iteration budget before converging")
    elif stopped:
        out.append(f"{stopped} of the {len(runs)} runs stopped on their call or iteration "
                   "budget before converging")
    if combined.p_consistent is not None and combined.p_consistent < SCATTER_P:
        ratio = combined.spread / float(np.mean([s.logZ_err for s in runs]))
        out.append(f"ln Z scatters over the {len(runs)} seeds by {combined.spread:.3f}, "
                   f"{ratio:.1f} times the sampler's error per run (χ² p = "
                   f"{combined.p_consistent:.2g}): its error bars are too small; σ here is "
                   "the larger of the propagated errors and the scatter's (times the "
                   "Student-t factor for so few runs)")
    for s in runs:  # the sampler adapter's own (e.g. PolyChord proposals it rejected)
        prefix = f"seed {s.seed}: " if len(runs) > 1 else ""
        out += [prefix + w for w in s.warnings]
    if analysis.get("error"):
        out.append(f"mode analysis failed: {analysis['error']}")
    census = analysis.get("census", {})
    if census.get("warning") and not checked:
        out.append(census["warning"])
    elif census.get("warning"):  # EvidenceRow.checked: the copies missed cost no mass
        out.append(f"the sampler kept to {census.get('copies_visited')} of the "
                   f"{census.get('expected_copies')} equivalent relabellings of the fit, but "
                   f"the {method} estimate, which counts all of them, agrees with its ln Z "
                   "and its best point reached an optimiser's maximum: no posterior mass is "
                   "missing")
    return tuple(out)
