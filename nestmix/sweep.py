"""The K-sweep driver: one nested-sampling run per K, in parallel, resumable.

Each (K, sampler) run is written under ``runs/<name>/K=<k>/<sampler>/`` as soon as it finishes,
with a fingerprint of the data, model, priors, settings and seed. A sweep started again in the
same directory reuses every finished run that matches and runs only what is missing; a directory
made from anything else is refused (see :mod:`nestmix.store`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nestmix import __version__
from nestmix.data import Measurements
from nestmix.errors import ModelError, SamplerError
from nestmix.evidence import bayes_factors, posterior_probabilities
from nestmix.model import ModelSpec
from nestmix.modes import METHODS as RELABEL_METHODS
from nestmix.modes import analyse_run
from nestmix.results import EvidenceRow, SweepResult
from nestmix.samplers import get_sampler
from nestmix.samplers.base import probe_problem
from nestmix.store import RunStore, fingerprint

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
        Master seed; each K gets its own seed derived from it.
    k_prior : tuple of float or None
        Prior probability of each K in ``k_values``; uniform when None.
    relabel : str
        Relabelling method for the mode analysis of every run (``hungarian`` or
        ``stephens``). It does not change the runs, so it is not part of their fingerprint;
        finished runs are re-analysed when it changes.
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

    def __post_init__(self) -> None:
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

        Those choose how a run is executed (PolyChord's ``mpi`` process count), not what it
        computes, so they are left out of fingerprints and the sweep's manifest: changing them
        reuses and resumes runs instead of refusing the directory.
        """
        execution = getattr(get_sampler(sampler), "execution_settings", frozenset())
        return {k: v for k, v in self.settings_for(sampler).items() if k not in execution}

    def seed_for(self, k: int) -> int:
        """The seed of the run with ``k`` components, derived from the master seed."""
        return int(np.random.SeedSequence([self.seed, k]).generate_state(1)[0])

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
        }

    def run_manifest(self, k: int, sampler: str) -> dict:
        """Fingerprint and description of the run of ``sampler`` with ``k`` components."""
        model = self.spec.build(self.data, k)
        described = {"data": self.data.fingerprint(), "model": model.describe(),
                     "sampler": sampler, "settings": self.fingerprinted_settings(sampler),
                     "seed": self.seed_for(k)}
        return {"fingerprint": fingerprint(described), "k": k, "sampler": sampler,
                "seed": self.seed_for(k), "model": model.describe()}


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
              progress: Progress | None = None) -> SweepResult:
    """Run (or resume) a sweep and write its summary.

    Parameters
    ----------
    plan : SweepPlan
    directory : str or Path
        The sweep's directory, e.g. ``runs/galaxies``.
    n_jobs : int
        Worker processes for the K values still to run (joblib, BLAS pinned to one thread).
    progress : callable, optional
        Called with a line of text whenever a run is reused, started or finished.

    Returns
    -------
    SweepResult
    """
    say = progress or (lambda line: None)
    store = RunStore(directory)
    store.prepare(plan.manifest(), plan.samplers)
    store.save_data(plan.data)
    todo = []
    for sampler in plan.samplers:
        for k in plan.k_values:
            manifest = plan.run_manifest(k, sampler)
            done = store.finished(k, sampler, manifest["fingerprint"])
            if done is not None:
                say(f"K={k} {sampler}: reused finished run, {_describe(done['summary'])}")
                stored = store.load_analysis(k, sampler)
                if stored is None or stored[0].get("method") != plan.relabel:
                    model = plan.spec.build(plan.data, k)
                    run = store.load_run(k, sampler)
                    store.save_analysis(k, sampler, *_analyse(model, run, plan.relabel,
                                                              done["seed"]))
                    say(f"K={k} {sampler}: mode analysis redone with {plan.relabel!r}")
            else:
                todo.append((k, sampler, manifest))
    result = load_sweep(directory)
    store.write_summary(result)
    if todo:
        n_jobs = max(1, min(int(n_jobs), len(todo)))
        for sampler in plan.samplers:
            ks = ", ".join(str(k) for k, name, _ in todo if name == sampler)
            if ks:
                say(f"running K = {ks} with {sampler} on {n_jobs} worker"
                    f"{'s' if n_jobs > 1 else ''}")
        for finished, (k, sampler, summary) in enumerate(
                _execute(plan, store, todo, n_jobs), 1):
            result = load_sweep(directory)
            store.write_summary(result)
            say(f"K={k} {sampler}: {_describe(summary)}  "
                f"[{finished}/{len(todo)} to run done]")
    return result


def _execute(plan: SweepPlan, store: RunStore, todo: Sequence[tuple[int, str, dict]],
             n_jobs: int):
    tasks = [(plan.data, plan.spec, k, sampler, plan.settings_for(sampler), plan.seed_for(k),
              str(store.directory), manifest, plan.relabel) for k, sampler, manifest in todo]
    if n_jobs == 1:
        for task in tasks:
            yield task[2], task[3], _run_one(*task)
        return
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        outputs = parallel(delayed(_run_one_keyed)(*task) for task in tasks)
        yield from outputs


def _run_one_keyed(*task) -> tuple[int, str, dict]:
    return task[2], task[3], _run_one(*task)


def _run_one(data: Measurements, spec: ModelSpec, k: int, sampler: str, settings: dict,
             seed: int, directory: str, manifest: dict, relabel: str = "hungarian") -> dict:
    """Run one K and store it; returns the run's summary (runs in a worker process)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    model = spec.build(data, k)
    probe_problem(model, np.random.default_rng(seed))
    store = RunStore(directory)
    workdir = store.work_directory(k, sampler)
    run = get_sampler(sampler).run(model, settings, seed, workdir=str(workdir))
    _, logz_err_sim = run.logz_simulated(nsamples=200, seed=seed % (2**32))
    summary = {
        "logZ": run.logz, "logZ_err": run.logz_err, "logZ_err_sim": logz_err_sim,
        "ncall": run.ncall, "seconds": run.seconds, "ndim": model.ndim,
        "information": run.information, "n_effective": run.n_effective, "seed": seed,
        "converged": run.converged, "resumed": run.resumed,
    }
    store.save_run(k, sampler, run, {**manifest, "summary": summary}, workdir=workdir,
                   analysis=_analyse(model, run, relabel, seed))
    return summary


def _analyse(model, run, method: str, seed: int) -> tuple[dict, dict]:
    """Mode analysis of a run as (summary, arrays); a failure is recorded, never fatal."""
    try:
        analysis = analyse_run(model, run, method=method, rng=np.random.default_rng(seed))
    except Exception as exc:  # the run itself is sound: keep it and say what failed
        return {"method": method, "error": f"{type(exc).__name__}: {exc}"}, {}
    return {"method": method, **analysis.to_dict()}, analysis.arrays()


def load_sweep(directory: str | Path) -> SweepResult:
    """The evidence table of a finished or partly finished sweep directory.

    Built from the finished runs on disk, so a sweep killed before it rewrote ``summary.json``
    still shows every run that finished. Bayes factors and P(K | data) are computed within each
    sampler's rows; K values asked for but not finished are listed as missing.
    """
    store = RunStore(directory)
    manifest = store.manifest()
    runs = store.finished_runs()
    ks = list(manifest.get("k_values", []))
    k_prior = manifest.get("k_prior")
    rows: list[EvidenceRow] = []
    modes: list[dict] = []
    for sampler in sorted({r["sampler"] for r in runs}):
        mine = sorted((r for r in runs if r["sampler"] == sampler), key=lambda r: r["k"])
        prior = None
        if k_prior is not None and all(r["k"] in ks for r in mine):
            prior = [k_prior[ks.index(r["k"])] for r in mine]
        analyses = {r["k"]: _stored_analysis(store, r["k"], sampler) for r in mine}
        rows += _evidence_rows(sampler, [(r["k"], r["summary"], analyses[r["k"]])
                                         for r in mine], prior)
        modes += [{"k": k, "sampler": sampler, **a} for k, a in analyses.items() if a]
    samplers = sorted(manifest.get("samplers", {}))
    have = {(r.k, r.sampler) for r in rows}
    missing = tuple((k, s) for s in samplers for k in ks if (k, s) not in have)
    return SweepResult(name=manifest.get("name", Path(directory).name), rows=tuple(rows),
                       missing=missing, directory=str(directory), modes=tuple(modes))


def _stored_analysis(store: RunStore, k: int, sampler: str) -> dict:
    stored = store.load_analysis(k, sampler)
    return {} if stored is None else stored[0]


def _evidence_rows(sampler: str,
                   entries: Sequence[tuple[int, Mapping[str, Any], Mapping[str, Any]]],
                   prior: Sequence[float] | None) -> list[EvidenceRow]:
    logz = [s["logZ"] for _, s, _ in entries]
    err = [s["logZ_err"] for _, s, _ in entries]
    ln_bf, ln_bf_err = bayes_factors(logz, err)
    p, p_err = posterior_probabilities(logz, err, prior)
    return [
        EvidenceRow(
            k=int(k), sampler=sampler, logZ=s["logZ"], logZ_err=s["logZ_err"],
            logZ_err_sim=s["logZ_err_sim"], ln_bf=float(ln_bf[i]),
            ln_bf_err=float(ln_bf_err[i]), p_k=float(p[i]), p_k_err=float(p_err[i]),
            ncall=int(s["ncall"]), seconds=float(s["seconds"]), ndim=int(s["ndim"]),
            information=float(s["information"]), n_effective=float(s["n_effective"]),
            seed=s["seed"], converged=bool(s.get("converged", True)),
            label_copies=a.get("census", {}).get("copies_visited"),
            expected_copies=a.get("census", {}).get("expected_copies"),
            distinct_modes=a.get("distinct_modes", {}).get("n_modes"),
            warnings=_warnings(s, a))
        for i, (k, s, a) in enumerate(entries)
    ]


def _warnings(summary: Mapping[str, Any], analysis: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    if not summary.get("converged", True):
        out.append("the run stopped on its call or iteration budget before converging")
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
    return (f"logZ = {summary['logZ']:.2f} ± {summary['logZ_err']:.2f}  "
            f"({summary['ncall']:,} calls, {summary['seconds']:.1f} s){flag}")
