"""The K-sweep driver: one nested-sampling run per (K, sampler, seed), in parallel, resumable.

Each (K, sampler) run is written under ``runs/<name>/K=<k>/<sampler>/`` as soon as it finishes
(repeats with other seeds beside it, ``<sampler>.repeat<r>/``), with a fingerprint of the data,
model, priors, settings and seed. A sweep started again in the same directory reuses every
finished run that matches and runs only what is missing; a directory made from anything else is
refused (see :mod:`nestmix.store`). The runs go to worker processes on this machine
(:mod:`nestmix.sweep.local`) or to a Dask cluster (:mod:`nestmix.sweep.dask`); where they ran is not
part of any fingerprint, so a sweep started on one can be resumed on the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nestmix._version import __version__
from nestmix.data import Measurements
from nestmix.errors import ModelError, SamplerError
from nestmix.evidence import bayes_factors, combine_runs, posterior_probabilities
from nestmix.model.spec import ModelSpec
from nestmix.modes import METHODS as RELABEL_METHODS
from nestmix.results import EvidenceRow, SweepResult
from nestmix.samplers import get_sampler
from nestmix.store.runs import MANIFEST, RunStore, fingerprint
from nestmix.sweep.tasks import RunTask, analyse, execute

__all__ = ["SweepPlan", "load_sweep", "run_sweep"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SweepPlan:
    """What to run: data, model, the K values, the sampler and its settings.

    Attributes
    ----------
    name : str
        Name of the sweep.
    data : Measurements
    spec : ModelSpec
    k_values : tuple of int
        Numbers of components to run, each >= 1.
    sampler : str or tuple of str
        One registered sampler name, or several to run side by side on every K.
    settings : mapping
        Sampler settings. Plain keys apply to every sampler (each must accept them); a key named
        after a sampler holds a mapping of settings for that sampler only. Validated by the
        adapters; :meth:`settings_for` gives each sampler's settings with defaults filled in.
    seed : int
        Master seed; each (K, repeat) gets its own seed derived from it.
    k_prior : tuple of float or None
        Prior probability of each K in ``k_values``; uniform when None.
    relabel : str
        Relabelling method for the mode analysis of every run (``hungarian`` or
        ``stephens``). It does not change the runs, so it is not part of their fingerprint;
        finished runs are re-analysed when it changes.
    repeats : int
        Runs per (K, sampler), each with its own seed; the evidence table combines them
        (:func:`nestmix.evidence.combine_runs`) and shows their spread. Raising it later runs
        only the new repeats.
    dask : str or None
        Address of a Dask scheduler (``tcp://host:8786``) to run the tasks on, unless
        :func:`run_sweep` is told otherwise. Where runs are made is not part of their
        fingerprint.
    """

    name: str
    data: Measurements
    spec: ModelSpec
    k_values: tuple[int, ...]
    sampler: str | tuple[str, ...] = "dynesty"
    settings: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 1
    k_prior: tuple[float, ...] | None = None
    relabel: str = "hungarian"
    repeats: int = 1
    dask: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, (int, np.integer)) \
                or self.repeats < 1:
            raise ModelError(f"sweep.repeats: the number of runs per K must be an integer "
                             f">= 1, got {self.repeats!r}")
        object.__setattr__(self, "repeats", int(self.repeats))
        if self.dask is not None and (not isinstance(self.dask, str) or not self.dask.strip()):
            raise ModelError(f"sweep.dask: a Dask scheduler address such as "
                             f"'tcp://host:8786', got {self.dask!r}")
        if self.relabel not in RELABEL_METHODS:
            raise ModelError(f"sweep.relabel: unknown relabelling method {self.relabel!r}; "
                             f"valid: {', '.join(RELABEL_METHODS)}")
        ks = tuple(self.k_values)
        if not ks:
            raise ModelError("sweep.k: give at least one number of components")
        least = 0 if self.spec.extra_components else 1  # K counts the Gaussians
        for k in ks:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < least:
                raise ModelError(f"sweep.k: the number of Gaussian components K must be an "
                                 f"integer >= {least}, got {k!r}")
        if len(set(ks)) != len(ks):
            raise ModelError(f"sweep.k: repeated values in {list(ks)}")
        object.__setattr__(self, "k_values", tuple(int(k) for k in ks))
        object.__setattr__(self, "_validated", _validate_samplers(self.sampler, self.settings))
        if self.k_prior is not None:
            prior = tuple(float(p) for p in self.k_prior)
            if len(prior) != len(ks) or any(not np.isfinite(p) or p < 0 for p in prior) \
                    or sum(prior) <= 0:
                raise ModelError("sweep.k_prior: give one non-negative probability per K")
            object.__setattr__(self, "k_prior", prior)
        for k in self.k_values:  # fail now, not in a worker: priors, shapes, enough points
            self.spec.build(self.data, k)

    @property
    def samplers(self) -> tuple[str, ...]:
        """The samplers this sweep runs, in order."""
        return tuple(self._validated)

    def settings_for(self, sampler: str) -> dict[str, Any]:
        """The validated settings of ``sampler``, defaults filled in."""
        return dict(self._validated[sampler])

    def fingerprinted_settings(self, sampler: str) -> dict[str, Any]:
        """:meth:`settings_for` without the adapter's ``execution_settings``.

        Those choose how a run is executed (PolyChord's ``mpi`` process count, dynesty's
        ``pool``), not what it computes, so they are left out of fingerprints and the sweep's
        manifest: changing them reuses and resumes runs instead of refusing the directory.
        """
        execution = getattr(get_sampler(sampler), "execution_settings", frozenset())
        return {k: v for k, v in self.settings_for(sampler).items() if k not in execution}

    def seed_for(self, k: int, repeat: int = 1) -> int:
        """The seed of repeat ``repeat`` (from 1) of the run with ``k`` components, derived
        from the master seed (repeat 1 as before repeats existed)."""
        entropy = [self.seed, k] if repeat == 1 else [self.seed, k, repeat]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    def manifest(self) -> dict:
        """What the sweep directory records about how its runs were made."""
        return {
            "nestmix": __version__,
            "name": self.name,
            "data": {"fingerprint": self.data.fingerprint(), "source": self.data.source,
                     "n_points": self.data.n_points, "n_dims": self.data.n_dims,
                     "columns": list(self.data.columns)},
            "model": self.spec.to_dict(),
            "samplers": {name: {"settings": self.fingerprinted_settings(name),
                                "seed": self.seed}
                         for name in self.samplers},
            "k_values": list(self.k_values),
            "k_prior": None if self.k_prior is None else list(self.k_prior),
            "repeats": self.repeats,
        }

    def run_manifest(self, k: int, sampler: str, repeat: int = 1) -> dict:
        """Fingerprint and description of repeat ``repeat`` of the run of ``sampler`` with
        ``k`` components."""
        model = self.spec.build(self.data, k)
        seed = self.seed_for(k, repeat)
        described = {"data": self.data.fingerprint(), "model": model.describe(),
                     "sampler": sampler, "settings": self.fingerprinted_settings(sampler),
                     "seed": seed}
        if repeat != 1:
            described["repeat"] = repeat
        out = {"fingerprint": fingerprint(described), "k": k, "sampler": sampler,
               "seed": seed, "model": model.describe()}
        return out if repeat == 1 else {**out, "repeat": repeat}


def _validate_samplers(sampler: str | Sequence[str],
                       settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    names = (sampler,) if isinstance(sampler, str) else tuple(sampler)
    if not names or not all(isinstance(n, str) for n in names):
        raise SamplerError("sweep.sampler: give a sampler name or a list of names")
    if len(set(names)) != len(names):
        raise SamplerError(f"sweep.sampler: repeated sampler in {list(names)}")
    adapters = {name: get_sampler(name) for name in names}
    for key, value in settings.items():
        if isinstance(value, Mapping) and key not in adapters:
            raise SamplerError(f"sweep.{key}: settings for a sampler this sweep does not run "
                               f"(sampler = {list(names)})")
    shared = {key: value for key, value in settings.items() if key not in adapters}
    validated = {}
    for name, adapter in adapters.items():
        own = settings.get(name, {})
        if not isinstance(own, Mapping):
            raise SamplerError(f"sweep.{name}: settings for {name} must be a table")
        try:
            validated[name] = adapter.validate({**shared, **own})
        except SamplerError as exc:
            if len(names) > 1 and set(shared) - set(getattr(adapter, "valid_settings", {})):
                raise SamplerError(f"{exc}. With several samplers, put settings that only one "
                                   f"of them takes under [sweep.<sampler>]") from None
            raise
    return validated


def run_sweep(plan: SweepPlan, directory: str | Path, n_jobs: int = 1,
              progress: Progress | None = None, dask: Any = None) -> SweepResult:
    """Run (or resume) a sweep and write its summary.

    Parameters
    ----------
    plan : SweepPlan
    directory : str or Path
        The sweep's directory, e.g. ``runs/galaxies``. On a Dask cluster it must be on a file
        system every worker sees under the same path.
    n_jobs : int
        Worker processes on this machine for the runs still to make (BLAS pinned to one thread
        in each). Ignored on a Dask cluster, whose workers decide.
    progress : callable, optional
        Called with a line of text whenever a run is reused, starts (on a Dask cluster: with
        the worker's address) or finishes (with its seed, log-evidence and elapsed time).
    dask : str, distributed.Client or cluster, optional
        Run the tasks on this Dask cluster (a scheduler address, a connected client, or a
        cluster object such as ``LocalCluster``) instead of ``plan.dask``; ``False`` runs them
        here even if ``plan.dask`` is set.

    Returns
    -------
    SweepResult
    """
    say = progress or (lambda line: None)
    target = plan.dask if dask is None else (dask or None)
    store = RunStore(directory)
    store.prepare(plan.manifest(), plan.samplers)
    store.save_data(plan.data)
    todo: list[RunTask] = []
    for repeat in range(1, plan.repeats + 1):
        for sampler in plan.samplers:
            for k in plan.k_values:
                manifest = plan.run_manifest(k, sampler, repeat)
                task = RunTask(k=k, sampler=sampler, repeat=repeat,
                               settings=plan.settings_for(sampler),
                               seed=plan.seed_for(k, repeat),
                               directory=str(Path(directory).resolve()), manifest=manifest,
                               relabel=plan.relabel)
                done = store.finished(k, sampler, manifest["fingerprint"], repeat)
                if done is None:
                    todo.append(task)
                    continue
                say(f"{task.label}: reused finished run, {_describe(done['summary'])}")
                stored = store.load_analysis(k, sampler, repeat)
                if stored is None or stored[0].get("method") != plan.relabel:
                    model = plan.spec.build(plan.data, k)
                    run = store.load_run(k, sampler, repeat)
                    store.save_analysis(k, sampler, *analyse(model, run, plan.relabel,
                                                             done["seed"]), repeat=repeat)
                    say(f"{task.label}: mode analysis redone with {plan.relabel!r}")
    result = load_sweep(directory)
    store.write_summary(result)
    if not todo:
        return result
    _check_pool_target(plan, target)
    if target or n_jobs > 1:
        # largest K first (a run's cost grows with K): the long runs start at once and the
        # short ones fill the gaps, instead of the largest K starting last on its own
        todo.sort(key=lambda task: -task.k)
    for finished, (i, summary) in enumerate(_execute(plan, todo, n_jobs, target, say), 1):
        result = load_sweep(directory)
        store.write_summary(result)
        task = todo[i]
        say(f"{task.label}: {_describe(summary)}  seed {task.seed}, {summary['wall']:.1f} s "
            f"elapsed  [{finished}/{len(todo)} to run done]")
    return result


def _check_pool_target(plan: SweepPlan, target: Any) -> None:
    for sampler in plan.samplers:
        if plan.settings_for(sampler).get("pool") == "dask" and not target:
            raise SamplerError(f"{sampler} setting pool = 'dask' runs each K on the Dask "
                               "cluster's workers: run the sweep on a cluster (--dask ADDRESS "
                               "or [sweep] dask), or give pool a number of processes")


def _execute(plan: SweepPlan, todo: Sequence[RunTask], n_jobs: int, target: Any,
             say: Progress):
    """Yield (index in ``todo``, summary) as the runs finish, here or on a Dask cluster."""
    calls = [(task,) for task in todo]

    def started(i: int, worker: str = "") -> None:
        where = f" on {worker}" if worker else ""
        say(f"{todo[i].label}: started (seed {todo[i].seed}){where}")

    if not target:
        n_jobs = max(1, min(int(n_jobs), len(todo)))
        say(_plan_line(plan, todo, f"on {n_jobs} worker{'s' if n_jobs > 1 else ''}"))
        yield from _local(plan, calls, n_jobs, started)
        return
    from nestmix.sweep.dask import (
        check_shared_directory,
        check_worker_versions,
        cluster_description,
        connect,
        run_on_dask,
    )

    with connect(target) as client:
        check_worker_versions(client)
        check_shared_directory(client, todo[0].directory, MANIFEST)
        say(_plan_line(plan, todo, f"on the Dask cluster at {cluster_description(client)}"))
        names = [f"K{t.k}-{t.sampler}-r{t.repeat}" for t in todo]
        yield from run_on_dask(client, execute, (plan.data, plan.spec), calls, names, started)


def _local(plan: SweepPlan, calls: list[tuple], n_jobs: int, started: Callable[[int], None]):
    from nestmix.sweep.local import run_local

    shared = (plan.data, plan.spec)
    yield from run_local(execute, [shared + call for call in calls], n_jobs, started)


def _plan_line(plan: SweepPlan, todo: Sequence[RunTask], where: str) -> str:
    parts = []
    for sampler in plan.samplers:
        mine = [t for t in todo if t.sampler == sampler]
        if mine:
            ks = ", ".join(str(k) for k in sorted({t.k for t in mine}))
            parts.append(f"K = {ks} with {sampler}")
    runs = len(todo)
    seeds = (f" ({runs} runs, up to {plan.repeats} seeds per K)" if plan.repeats > 1 else "")
    return f"running {'; '.join(parts)}{seeds} {where}"


def load_sweep(directory: str | Path) -> SweepResult:
    """The evidence table of a finished or partly finished sweep directory.

    Built from the finished runs on disk, so a sweep killed before it rewrote ``summary.json``
    still shows every run that finished. The runs of one (K, sampler) with different seeds are
    combined into one row (:func:`nestmix.evidence.combine_runs`). Bayes factors and P(K | data)
    are computed within each sampler's rows; K values asked for but not finished are listed as
    missing, and repeats not finished as missing repeats.
    """
    store = RunStore(directory)
    manifest = store.manifest()
    runs = store.finished_runs()
    ks = list(manifest.get("k_values", []))
    k_prior = manifest.get("k_prior")
    repeats = int(manifest.get("repeats", 1))
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
            first = group[0]["repeat"]  # the analysis shown is that of the first finished run
            analysis = _stored_analysis(store, k, sampler, first)
            entries.append((k, [r["summary"] for r in group], analysis))
            if analysis:
                modes.append({"k": k, "sampler": sampler, **analysis})
        rows += _evidence_rows(sampler, entries, prior)
    samplers = sorted(manifest.get("samplers", {}))
    have = {(r.k, r.sampler) for r in rows}
    missing = tuple((k, s) for s in samplers for k in ks if (k, s) not in have)
    done = {(r["k"], r["sampler"], r["repeat"]) for r in runs}
    missing_repeats = tuple((k, s, i) for s in samplers for k in ks if (k, s) in have
                            for i in range(1, repeats + 1) if (k, s, i) not in done)
    return SweepResult(name=manifest.get("name", Path(directory).name), rows=tuple(rows),
                       missing=missing, directory=str(directory), modes=tuple(modes),
                       repeats=repeats, missing_repeats=missing_repeats)


def _stored_analysis(store: RunStore, k: int, sampler: str, repeat: int = 1) -> dict:
    stored = store.load_analysis(k, sampler, repeat)
    return {} if stored is None else stored[0]


def _evidence_rows(sampler: str,
                   entries: Sequence[tuple[int, Sequence[Mapping[str, Any]], Mapping[str, Any]]],
                   prior: Sequence[float] | None) -> list[EvidenceRow]:
    """One row per K from its runs' summaries (one per seed) and the first run's analysis."""
    combined = [combine_runs([s["logZ"] for s in runs], [s["logZ_err"] for s in runs])
                for _, runs, _ in entries]
    sim = [combine_runs([s["logZ"] for s in runs], [s["logZ_err_sim"] for s in runs])
           for _, runs, _ in entries]
    logz = [c.logz for c in combined]
    err = [c.logz_err for c in combined]
    ln_bf, ln_bf_err = bayes_factors(logz, err)
    p, p_err = posterior_probabilities(logz, err, prior)
    rows = []
    for i, (k, runs, a) in enumerate(entries):
        c, first, several = combined[i], runs[0], len(runs) > 1
        rows.append(EvidenceRow(
            k=int(k), sampler=sampler, logZ=c.logz, logZ_err=c.logz_err,
            logZ_err_sim=sim[i].logz_err_propagated, ln_bf=float(ln_bf[i]),
            ln_bf_err=float(ln_bf_err[i]), p_k=float(p[i]), p_k_err=float(p_err[i]),
            ncall=int(sum(s["ncall"] for s in runs)),
            seconds=float(sum(s["seconds"] for s in runs)), ndim=int(first["ndim"]),
            information=float(np.mean([s["information"] for s in runs])),
            n_effective=float(sum(s["n_effective"] for s in runs)),
            seed=first["seed"], converged=all(bool(s.get("converged", True)) for s in runs),
            label_copies=a.get("census", {}).get("copies_visited"),
            expected_copies=a.get("census", {}).get("expected_copies"),
            distinct_modes=a.get("distinct_modes", {}).get("n_modes"),
            warnings=_warnings(runs, a, c), repeats=len(runs),
            logZ_spread=c.spread,
            logZ_err_run=float(np.mean([s["logZ_err"] for s in runs])) if several else None,
            logZ_runs=tuple(float(s["logZ"]) for s in runs) if several else (),
            logZ_err_runs=tuple(float(s["logZ_err"]) for s in runs) if several else (),
            seeds=tuple(int(s["seed"]) for s in runs) if several else ()))
    return rows


SCATTER_P = 0.01  # runs scatter beyond their errors when the χ² test's p falls below this


def _warnings(runs: Sequence[Mapping[str, Any]], analysis: Mapping[str, Any],
              combined) -> tuple[str, ...]:
    out = []
    stopped = sum(not s.get("converged", True) for s in runs)
    if stopped and len(runs) == 1:
        out.append("the run stopped on its call or iteration budget before converging")
    elif stopped:
        out.append(f"{stopped} of the {len(runs)} runs stopped on their call or iteration "
                   "budget before converging")
    if combined.p_consistent is not None and combined.p_consistent < SCATTER_P:
        ratio = combined.spread / float(np.mean([s["logZ_err"] for s in runs]))
        out.append(f"ln Z scatters over the {len(runs)} seeds by {combined.spread:.3f}, "
                   f"{ratio:.1f} times the sampler's error per run (χ² p = "
                   f"{combined.p_consistent:.2g}): its error bars are too small; σ here is "
                   "the larger of the propagated errors and the scatter's")
    for s in runs:  # the sampler adapter's own (e.g. PolyChord proposals it rejected)
        prefix = f"seed {s['seed']}: " if len(runs) > 1 else ""
        out += [prefix + w for w in s.get("warnings", ())]
    if analysis.get("error"):
        out.append(f"mode analysis failed: {analysis['error']}")
    warning = analysis.get("census", {}).get("warning")
    if warning:
        out.append(warning)
    return tuple(out)


def _describe(summary: Mapping[str, Any]) -> str:
    flag = "" if summary.get("converged", True) else "  (stopped early: budget reached)"
    if summary.get("resumed"):
        flag += "  (continued from a checkpoint)"
    for warning in summary.get("warnings", ()):
        flag += f"  (warning: {warning})"
    return (f"logZ = {summary['logZ']:.2f} ± {summary['logZ_err']:.2f}  "
            f"({summary['ncall']:,} calls, {summary['seconds']:.1f} s){flag}")
