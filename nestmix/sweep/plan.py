"""What a sweep runs: :class:`SweepPlan`, checked when made.

The plan is the one place where the K values, repeats, the Dask address and the samplers'
settings are validated (a configuration file is read into a plan, :mod:`nestmix.sweep.config`);
it derives every run's seed and fingerprint.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nestmix._version import __version__
from nestmix.data.measurements import Measurements
from nestmix.errors import ModelError, SamplerError
from nestmix.model.mixture import MixtureModel
from nestmix.model.spec import ModelSpec
from nestmix.modes.relabel import METHODS as RELABEL_METHODS
from nestmix.samplers import DEFAULT_SAMPLER, get_sampler
from nestmix.store.grid import model_directory, model_label
from nestmix.store.runs import fingerprint

__all__ = ["DEFAULT_ESCALATE", "PER_COMPONENT_1D", "PlannedRun", "SweepPlan"]

DEFAULT_ESCALATE = 1
"""Deeper runs the convergence check may add to a flagged (K, sampler) unless told otherwise:
one, so that a row whose importance-sampling check disagrees, or whose seeds together found
only some of its label copies, is run once more with another seed and twice the live points,
and judged on that run (see ``docs/configuration.md``, convergence check, for what it costs)."""


#: Covariance models that are one model (one variance per component) for 1-D data.
PER_COMPONENT_1D = ("full", "diag", "spherical")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep as its plan resolved it: made once, handed to the store (to find a
    finished run) and to the runner (:class:`nestmix.sweep.tasks.RunTask`).

    Attributes
    ----------
    k : int
    sampler : str
    repeat : int
        1 for the first run of (K, sampler), 2, 3, ... for the runs with other seeds.
    escalation : int
        The convergence check's step that added the run (0: none).
    settings : dict
        The settings the runner is given (the sweep's, or the escalation step's), validated.
    resolved : dict
        ``settings`` with the defaults that depend on the model filled in
        (:meth:`nestmix.samplers.base.SamplerAdapter.resolved`).
    seed : int
    fingerprints : tuple of str
        The run's fingerprint first, then those older versions of nestmix gave the same run
        (:meth:`SweepPlan.run_fingerprints`).
    manifest : dict
        The fingerprint and description stored with the run.
    """

    k: int
    sampler: str
    repeat: int
    escalation: int
    settings: dict
    resolved: dict
    seed: int
    fingerprints: tuple[str, ...]
    manifest: dict


@dataclass(frozen=True, init=False)
class SweepPlan:
    """What to run: data, one or more models, the K values, the sampler and its settings.

    A sweep of one model and a models × K grid are the same plan: a grid is a plan with
    several models (``specs``), each of which is run as the one-model plan
    :meth:`for_model` gives (in its own ``model=<label>/`` directory, see
    :mod:`nestmix.store.grid`); a plan of one model is run at the directory's root.

    Attributes
    ----------
    name : str
        Name of the sweep.
    data : Measurements
    specs : tuple of ModelSpec
        The models, at least one, with distinct labels (:func:`nestmix.store.grid.model_label`).
        Without priors, :meth:`ModelSpec.with_data_priors` of ``data`` (the plan keeps the
        priors actually used). Give one model as ``spec=`` (then :attr:`spec` is it), several
        as ``specs=`` (``spec=`` with a one-model ``specs=`` replaces it, so that
        ``dataclasses.replace(plan, spec=other)`` works).
    k_values : tuple of int
        Numbers of components to run, each >= 1.
    sampler : str or tuple of str
        One registered sampler name, or several to run side by side on every K.
    settings : mapping
        Sampler settings. Plain keys apply to every sampler (each must accept them); a key named
        after a sampler holds a mapping of settings for that sampler only. Validated by the
        adapters; :meth:`settings_for` gives each sampler's settings with defaults filled in.
    seed : int
        Master seed; each (K, repeat) gets its own seed derived from it (the same for every
        model, so a model's run has the seed it would have in a sweep of that model alone).
    k_prior : tuple of float or None
        Prior probability of each K in ``k_values``; uniform when None.
    relabel : str
        Relabelling method for the mode analysis of every run (``hungarian`` or
        ``stephens``). It does not change the runs, so it is not part of their fingerprint;
        finished runs are re-analysed when it changes.
    repeats : int
        Runs per (K, sampler), each with its own seed; the evidence table combines them
        (:func:`nestmix.evidence.arithmetic.combine_runs`) and shows their spread. Raising it later
        runs only the new repeats.
    dask : str or None
        Address of a Dask scheduler (``tcp://host:8786``) to run the tasks on, unless
        :func:`run_sweep` is told otherwise. Where runs are made is not part of their
        fingerprint.
    escalate : int
        Deeper runs (another seed, twice the live points of the last) the convergence check may
        add to each (K, sampler) whose ln Z may miss a mode (:mod:`nestmix.sweep.convergence`);
        default :data:`DEFAULT_ESCALATE` (1); 0 turns the check off (rows whose
        importance-sampling check disagrees are still marked).

    Notes
    -----
    Each (model, K) is built once, when the plan is made (to fail now rather than in a worker:
    priors, shapes, enough points); the descriptions, resolved settings and fingerprints of the
    runs (:meth:`run`) reuse that model.
    """

    name: str
    data: Measurements
    specs: tuple[ModelSpec, ...]
    k_values: tuple[int, ...]
    sampler: str | tuple[str, ...]
    settings: Mapping[str, Any]
    seed: int
    k_prior: tuple[float, ...] | None
    relabel: str
    repeats: int
    dask: str | None
    escalate: int

    def __init__(self, name: str, data: Measurements, spec: ModelSpec | None = None,
                 k_values: Sequence[int] = (), sampler: str | Sequence[str] = DEFAULT_SAMPLER,
                 settings: Mapping[str, Any] | None = None, seed: int = 1,
                 k_prior: Sequence[float] | None = None, relabel: str = "hungarian",
                 repeats: int = 1, dask: str | None = None, escalate: int = DEFAULT_ESCALATE,
                 *, specs: Sequence[ModelSpec] | None = None) -> None:
        if spec is not None and specs is not None and len(tuple(specs)) != 1:
            raise ModelError("give the model as spec= (one) or specs= (one or more), "
                             "not both", key="model")
        # (spec= wins over a one-model specs=: dataclasses.replace(plan, spec=...) passes both)
        models = (spec,) if spec is not None else tuple(specs or ())
        if not models:
            raise ModelError("give at least one model", key="model.covariance")
        put = object.__setattr__
        for key, value in (("name", name), ("data", data), ("k_values", k_values),
                           ("sampler", sampler if isinstance(sampler, str) else tuple(sampler)),
                           ("settings", {} if settings is None else settings), ("seed", seed),
                           ("k_prior", k_prior), ("relabel", relabel), ("repeats", repeats),
                           ("dask", dask), ("escalate", escalate)):
            put(self, key, value)
        labels = [model_label(s.covariance, s.background) for s in models]
        if len(set(labels)) != len(labels):
            raise ModelError(f"repeated models in {labels}", key="model.covariance")
        if len(models) > 1 and data.n_dims == 1:
            _refuse_same_models_1d(models)
        self._check_sweep()
        if len(models) == 1:
            # priors from the data when none were given: recorded in the manifest and
            # fingerprints
            put(self, "specs", (models[0].with_data_priors(data),))
            self._check_k(self.specs[0])
            # fail now, not in a worker: priors, shapes, enough points (each model kept)
            put(self, "_models", {k: self.specs[0].build(data, k) for k in self.k_values})
            put(self, "_labels", (labels[0],))
            return
        subs = tuple(SweepPlan(
            name=f"{name}.{label.replace('+', '-')}", data=data, spec=one,
            k_values=self.k_values, sampler=self.sampler, settings=self.settings,
            seed=self.seed, k_prior=self.k_prior, relabel=self.relabel, repeats=self.repeats,
            dask=self.dask, escalate=self.escalate)
            for label, one in zip(labels, models, strict=True))
        put(self, "specs", tuple(sub.spec for sub in subs))
        put(self, "k_values", subs[0].k_values)
        put(self, "_labels", tuple(labels))
        put(self, "_subs", subs)

    def _check_sweep(self) -> None:
        """Check and normalise the fields shared by every model."""
        put = object.__setattr__
        if isinstance(self.escalate, bool) or not isinstance(self.escalate, (int, np.integer)) \
                or self.escalate < 0:
            raise ModelError(f"must be a non-negative integer (deeper runs per K), got "
                             f"{self.escalate!r}", key="sweep.escalate")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, (int, np.integer)) \
                or self.repeats < 1:
            raise ModelError(f"must be a positive integer (runs with different seeds per K: an "
                             f"integer >= 1), got {self.repeats!r}", key="sweep.repeats")
        put(self, "repeats", int(self.repeats))
        if self.dask is not None and (not isinstance(self.dask, str) or not self.dask.strip()):
            raise ModelError(f"must be a Dask scheduler address such as "
                             f"\"tcp://host:8786\", got {self.dask!r}", key="sweep.dask")
        if self.relabel not in RELABEL_METHODS:
            raise ModelError(f"unknown relabelling method {self.relabel!r}; "
                             f"valid: {', '.join(RELABEL_METHODS)}", key="sweep.relabel")
        ks = tuple(self.k_values)
        if not ks:
            raise ModelError("give at least one number of components", key="sweep.k")
        if len(set(ks)) != len(ks):
            raise ModelError(f"repeated values in {list(ks)}", key="sweep.k")
        put(self, "_validated", _validate_samplers(self.sampler, self.settings))
        # (a field of its own would be compared and printed with the plan)
        if self.k_prior is not None:
            prior = tuple(float(p) for p in self.k_prior)
            if len(prior) != len(ks) or any(not np.isfinite(p) or p < 0 for p in prior) \
                    or sum(prior) <= 0:
                raise ModelError("give one non-negative probability per K", key="sweep.k_prior")
            put(self, "k_prior", prior)

    def _check_k(self, spec: ModelSpec) -> None:
        ks = self.k_values
        least = 0 if spec.extra_components else 1  # K counts the Gaussians
        if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= least
                   for k in ks):
            why = ("K < 1 makes no mixture without custom components" if least
                   else "K counts Gaussians besides the custom components")
            raise ModelError(f"must be a list of integers >= {least} ({why}), got {list(ks)!r}",
                             key="sweep.k")
        object.__setattr__(self, "k_values", tuple(int(k) for k in ks))

    def __getstate__(self) -> dict[str, Any]:
        # the built models stay in this process (rebuilt when a copy needs one)
        return {key: value for key, value in self.__dict__.items() if key != "_models"}

    # -- the models ---------------------------------------------------------------------------

    @property
    def models(self) -> tuple[str, ...]:
        """The models' labels (``tied``, ``full+uniform``), in the plan's order."""
        labels: tuple[str, ...] = self.__dict__["_labels"]
        return labels

    @property
    def is_grid(self) -> bool:
        """True for a plan of several models (run as a models × K grid)."""
        return len(self.specs) > 1

    @property
    def spec(self) -> ModelSpec:
        """The model of a one-model plan.

        Raises
        ------
        ModelError
            For a plan of several models (use :attr:`specs` or :meth:`for_model`).
        """
        if len(self.specs) > 1:
            raise ModelError(f"the plan has {len(self.specs)} models "
                             f"({', '.join(self.models)}): use plan.specs or "
                             "plan.for_model(label)", key="model")
        return self.specs[0]

    def model_plans(self) -> tuple[tuple[str, SweepPlan], ...]:
        """(label, the one-model plan of that model), in the plan's order (``self`` for a
        plan of one model)."""
        if not self.is_grid:
            return ((self.models[0], self),)
        subs: tuple[SweepPlan, ...] = self.__dict__["_subs"]
        return tuple(zip(self.models, subs, strict=True))

    def for_model(self, label: str) -> SweepPlan:
        """The one-model plan of the model labelled ``label``."""
        for mine, plan in self.model_plans():
            if mine == label:
                return plan
        raise ModelError(f"no model {label!r} in this plan ({', '.join(self.models)})",
                         key="model")

    def model_sweeps(self, directory: str | Path) -> tuple[tuple[str, SweepPlan, Path], ...]:
        """(label, one-model plan, its sweep directory) of each model: ``directory`` itself
        for a plan of one model, ``directory/model=<label>`` for each model of a grid."""
        if not self.is_grid:
            return ((self.models[0], self, Path(directory)),)
        return tuple((label, plan, model_directory(directory, label))
                     for label, plan in self.model_plans())

    def model(self, k: int) -> MixtureModel:
        """The model with ``k`` components of a one-model plan, built once."""
        models: dict[int, MixtureModel] = self.__dict__.setdefault("_models", {})
        if k not in models:
            models[k] = self.spec.build(self.data, k)
        return models[k]

    # -- samplers and seeds -------------------------------------------------------------------

    @property
    def samplers(self) -> tuple[str, ...]:
        """The samplers this sweep runs, in order."""
        return tuple(self._validated_settings())

    def settings_for(self, sampler: str) -> dict[str, Any]:
        """The validated settings of ``sampler``, defaults filled in."""
        return dict(self._validated_settings()[sampler])

    def _validated_settings(self) -> dict[str, dict[str, Any]]:
        validated: dict[str, dict[str, Any]] = self.__dict__["_validated"]
        return validated

    def with_settings(self, settings: Mapping[str, Any]) -> SweepPlan:
        """This plan with other sampler settings."""
        return replace(self, settings=settings)

    def fingerprinted_settings(self, sampler: str) -> dict[str, Any]:
        """:meth:`settings_for` without the adapter's ``execution_settings``.

        Those choose how a run is executed (a process count, a pool), not what it computes, so
        they are left out of fingerprints and the sweep's manifest: changing them reuses and
        resumes runs instead of refusing the directory.
        """
        return get_sampler(sampler).fingerprinted(self.settings_for(sampler))

    def seed_for(self, k: int, repeat: int = 1) -> int:
        """The seed of repeat ``repeat`` (from 1) of the run with ``k`` components, derived
        from the master seed (repeat 1 as before repeats existed)."""
        entropy = [self.seed, k] if repeat == 1 else [self.seed, k, repeat]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    # -- what is recorded ---------------------------------------------------------------------

    def manifest(self) -> dict:
        """What the sweep directory records about how its runs were made: a one-model
        sweep's ``manifest.json``; for several models, the grid's ``grid.json`` (each model's
        own manifest is in its directory)."""
        if self.is_grid:
            return {"name": self.name, "k_values": list(self.k_values),
                    "samplers": list(self.samplers),
                    "models": {label: {"covariance": plan.spec.covariance,
                                       "background": plan.spec.background}
                               for label, plan in self.model_plans()}}
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

    def _described(self, k: int, sampler: str, repeat: int,
                   settings: Mapping[str, Any]) -> dict[str, Any]:
        """What a run's fingerprint is made of."""
        described = {"data": self.data.fingerprint(), "model": self._description(k),
                     "sampler": sampler, "settings": dict(settings),
                     "seed": self.seed_for(k, repeat)}
        if repeat != 1:
            described["repeat"] = repeat
        return described

    def _description(self, k: int) -> dict[str, Any]:
        cache: dict[int, dict[str, Any]] = self.__dict__.setdefault("_descriptions", {})
        if k not in cache:
            cache[k] = self.model(k).describe()
        return cache[k]

    def run(self, k: int, sampler: str, repeat: int = 1, escalation: int = 0) -> PlannedRun:
        """Repeat ``repeat`` of the run of ``sampler`` with ``k`` components, resolved once:
        its settings, seed, fingerprints and manifest (``escalation``: the convergence
        check's step that adds it, run with :meth:`escalated_settings`).

        Raises
        ------
        SamplerError
            For an ``escalation`` the sampler cannot make (:meth:`escalated_settings` is None).
        """
        adapter = get_sampler(sampler)
        settings = (self.escalated_settings(sampler, k, escalation) if escalation
                    else self.settings_for(sampler))
        if settings is None:
            raise SamplerError(f"{sampler} cannot make a deeper run (no live points to add)")
        resolved = adapter.resolved(settings, self.model(k))
        described = self._described(k, sampler, repeat, adapter.fingerprinted(resolved))
        fingerprints = [fingerprint(described)]
        if not escalation:
            for older in (adapter.fingerprinted(settings),
                          adapter.formerly_fingerprinted_settings(settings)):
                made = fingerprint(self._described(k, sampler, repeat, older))
                if made not in fingerprints:
                    fingerprints.append(made)
        manifest = {"fingerprint": fingerprints[0], "k": k, "sampler": sampler,
                    "seed": described["seed"], "model": copy.deepcopy(described["model"])}
        if escalation:
            manifest |= {"escalation": escalation, "nlive": resolved.get("nlive")}
        if repeat != 1:
            manifest["repeat"] = repeat
        return PlannedRun(k=k, sampler=sampler, repeat=repeat, escalation=escalation,
                          settings=settings, resolved=resolved, seed=described["seed"],
                          fingerprints=tuple(fingerprints), manifest=manifest)

    def resolved_settings(self, sampler: str, k: int, escalation: int = 0) -> dict[str, Any]:
        """The settings the run of ``sampler`` with ``k`` components uses: the sweep's (or
        those of the convergence check's ``escalation``-th step), with the defaults that depend
        on the model filled in (:meth:`nestmix.samplers.base.SamplerAdapter.resolved`)."""
        return dict(self.run(k, sampler, escalation=escalation).resolved)

    def run_fingerprints(self, k: int, sampler: str, repeat: int = 1) -> tuple[str, ...]:
        """The fingerprint of the run (first), then those older versions of nestmix gave the
        same run where they differ.

        The fingerprint is made of the settings the run uses, defaults resolved for its model
        (:meth:`resolved_settings`). Until commit 83f5846 nestmix fingerprinted the settings
        as given (defaults that depend on the model unresolved; in 0.1.0 with some execution
        settings too, :attr:`nestmix.samplers.base.SamplerAdapter.formerly_fingerprinted`): a
        finished run with one of those older fingerprints is the same run only if the settings
        it recorded equal today's resolved ones, which :meth:`RunStore.finished
        <nestmix.store.runs.RunStore.finished>` checks (a default rule may have changed since).
        """
        return self.run(k, sampler, repeat).fingerprints

    def run_manifest(self, k: int, sampler: str, repeat: int = 1, escalation: int = 0) -> dict:
        """Fingerprint and description of repeat ``repeat`` of the run of ``sampler`` with
        ``k`` components (``escalation``: the convergence check's step that added it, run with
        :meth:`escalated_settings`; its manifest records the step and its ``nlive``)."""
        return dict(self.run(k, sampler, repeat, escalation).manifest)

    def escalated_settings(self, sampler: str, k: int, step: int) -> dict[str, Any] | None:
        """The settings of the run the convergence check adds to the row of ``k`` at its
        ``step``-th escalation: the sweep's, with 2**step times the live points (a run that
        missed part of the posterior misses it less often with more live points; another seed
        at the same ``nlive`` would repeat the same bias, as on make_blobs, issue 19); None
        when the sampler cannot make a deeper run
        (:meth:`nestmix.samplers.base.SamplerAdapter.with_more_live_points`)."""
        return get_sampler(sampler).with_more_live_points(self.settings_for(sampler),
                                                          self.model(k).ndim, 2 ** int(step))


def _refuse_same_models_1d(specs: Sequence[ModelSpec]) -> None:
    same = sorted({s.covariance for s in specs if s.covariance in PER_COMPONENT_1D},
                  key=PER_COMPONENT_1D.index)
    if len(same) > 1:
        raise ModelError(f"for 1-D data {', '.join(same)} are the same model (one variance per "
                         "component), so the grid would run it twice: keep one of them, e.g. "
                         'covariance = ["full", "tied"] (tied: one variance shared)',
                         key="model.covariance")


def _validate_samplers(sampler: str | Sequence[str],
                       settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    names = (sampler,) if isinstance(sampler, str) else tuple(sampler)
    if not names or not all(isinstance(n, str) for n in names):
        raise SamplerError("give a sampler name or a list of names", key="sweep.sampler")
    if len(set(names)) != len(names):
        raise SamplerError(f"repeated sampler in {list(names)}", key="sweep.sampler")
    try:
        adapters = {name: get_sampler(name) for name in names}
    except SamplerError as exc:  # an unknown name
        raise SamplerError(exc.detail, key="sweep.sampler") from None
    for key, value in settings.items():
        if isinstance(value, Mapping) and key not in adapters:
            raise SamplerError(f"settings for a sampler this sweep does not run "
                               f"(sampler = {list(names)})", key=f"sweep.{key}")
    shared = {key: value for key, value in settings.items() if key not in adapters}
    validated = {}
    for name, adapter in adapters.items():
        own = settings.get(name, {})
        if not isinstance(own, Mapping):
            raise SamplerError(f"settings for {name} must be a table", key=f"sweep.{name}")
        try:
            validated[name] = adapter.validate({**shared, **own})
        except SamplerError as exc:
            if len(names) > 1 and set(shared) - set(adapter.valid_settings):
                raise SamplerError(f"{exc}. With several samplers, put settings that only one "
                                   f"of them takes under [sweep.<sampler>]") from None
            raise
    return validated
