"""What a sweep runs: :class:`SweepPlan`, checked when made.

The plan is the one place where the K values, repeats, the Dask address and the samplers'
settings are validated (a configuration file is read into a plan, :mod:`nestmix.sweep.config`);
it derives every run's seed and fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nestmix._version import __version__
from nestmix.data.measurements import Measurements
from nestmix.errors import ModelError, SamplerError
from nestmix.model.spec import ModelSpec
from nestmix.modes.relabel import METHODS as RELABEL_METHODS
from nestmix.samplers import DEFAULT_SAMPLER, get_sampler
from nestmix.store.runs import fingerprint

__all__ = ["DEFAULT_ESCALATE", "SweepPlan"]

DEFAULT_ESCALATE = 1
"""Deeper runs the convergence check may add to a flagged (K, sampler) unless told otherwise:
one, so that a row whose importance-sampling check disagrees, or whose seeds together found
only some of its label copies, is run once more with another seed and twice the live points,
and judged on that run (see ``docs/configuration.md``, convergence check, for what it costs)."""


@dataclass(frozen=True)
class SweepPlan:
    """What to run: data, model, the K values, the sampler and its settings.

    Attributes
    ----------
    name : str
        Name of the sweep.
    data : Measurements
    spec : ModelSpec
        Without priors, :meth:`ModelSpec.with_data_priors` of ``data`` (the plan keeps the
        priors actually used).
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
    """

    name: str
    data: Measurements
    spec: ModelSpec
    k_values: tuple[int, ...]
    sampler: str | tuple[str, ...] = DEFAULT_SAMPLER
    settings: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 1
    k_prior: tuple[float, ...] | None = None
    relabel: str = "hungarian"
    repeats: int = 1
    dask: str | None = None
    escalate: int = DEFAULT_ESCALATE

    def __post_init__(self) -> None:
        # priors from the data when none were given: recorded in the manifest and fingerprints
        object.__setattr__(self, "spec", self.spec.with_data_priors(self.data))
        if isinstance(self.escalate, bool) or not isinstance(self.escalate, (int, np.integer)) \
                or self.escalate < 0:
            raise ModelError(f"must be a non-negative integer (deeper runs per K), got "
                             f"{self.escalate!r}", key="sweep.escalate")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, (int, np.integer)) \
                or self.repeats < 1:
            raise ModelError(f"must be a positive integer (runs with different seeds per K: an "
                             f"integer >= 1), got {self.repeats!r}", key="sweep.repeats")
        object.__setattr__(self, "repeats", int(self.repeats))
        if self.dask is not None and (not isinstance(self.dask, str) or not self.dask.strip()):
            raise ModelError(f"must be a Dask scheduler address such as "
                             f"\"tcp://host:8786\", got {self.dask!r}", key="sweep.dask")
        if self.relabel not in RELABEL_METHODS:
            raise ModelError(f"unknown relabelling method {self.relabel!r}; "
                             f"valid: {', '.join(RELABEL_METHODS)}", key="sweep.relabel")
        ks = tuple(self.k_values)
        if not ks:
            raise ModelError("give at least one number of components", key="sweep.k")
        least = 0 if self.spec.extra_components else 1  # K counts the Gaussians
        if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= least
                   for k in ks):
            why = ("K < 1 makes no mixture without custom components" if least
                   else "K counts Gaussians besides the custom components")
            raise ModelError(f"must be a list of integers >= {least} ({why}), got {list(ks)!r}",
                             key="sweep.k")
        if len(set(ks)) != len(ks):
            raise ModelError(f"repeated values in {list(ks)}", key="sweep.k")
        object.__setattr__(self, "k_values", tuple(int(k) for k in ks))
        object.__setattr__(self, "_validated", _validate_samplers(self.sampler, self.settings))
        # (a field of its own, init=False, would be compared and printed with the plan)
        if self.k_prior is not None:
            prior = tuple(float(p) for p in self.k_prior)
            if len(prior) != len(ks) or any(not np.isfinite(p) or p < 0 for p in prior) \
                    or sum(prior) <= 0:
                raise ModelError("give one non-negative probability per K", key="sweep.k_prior")
            object.__setattr__(self, "k_prior", prior)
        for k in self.k_values:  # fail now, not in a worker: priors, shapes, enough points
            self.spec.build(self.data, k)

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

    def _described(self, k: int, sampler: str, repeat: int, settings: Mapping[str, Any],
                   model: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What a run's fingerprint is made of (``model``: the model's description, built
        here when not given)."""
        if model is None:
            model = self.spec.build(self.data, k).describe()
        described = {"data": self.data.fingerprint(), "model": model,
                     "sampler": sampler, "settings": dict(settings),
                     "seed": self.seed_for(k, repeat)}
        if repeat != 1:
            described["repeat"] = repeat
        return described

    def resolved_settings(self, sampler: str, k: int, escalation: int = 0) -> dict[str, Any]:
        """The settings the run of ``sampler`` with ``k`` components uses: the sweep's (or
        those of the convergence check's ``escalation``-th step), with the defaults that depend
        on the model filled in (:meth:`nestmix.samplers.base.SamplerAdapter.resolved`)."""
        settings = (self.escalated_settings(sampler, k, escalation) if escalation
                    else self.settings_for(sampler))
        return get_sampler(sampler).resolved(settings, self.spec.build(self.data, k))

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
        adapter = get_sampler(sampler)
        settings = self.settings_for(sampler)
        model = self.spec.build(self.data, k).describe()
        fingerprints = [fingerprint(self._described(
            k, sampler, repeat, adapter.fingerprinted(self.resolved_settings(sampler, k)),
            model))]
        for older in (adapter.fingerprinted(settings),
                      adapter.formerly_fingerprinted_settings(settings)):
            made = fingerprint(self._described(k, sampler, repeat, older, model))
            if made not in fingerprints:
                fingerprints.append(made)
        return tuple(fingerprints)

    def run_manifest(self, k: int, sampler: str, repeat: int = 1, escalation: int = 0) -> dict:
        """Fingerprint and description of repeat ``repeat`` of the run of ``sampler`` with
        ``k`` components (``escalation``: the convergence check's step that added it, run with
        :meth:`escalated_settings`; its manifest records the step and its ``nlive``)."""
        settings = self.resolved_settings(sampler, k, escalation)
        described = self._described(k, sampler, repeat,
                                    get_sampler(sampler).fingerprinted(settings))
        out = {"fingerprint": fingerprint(described), "k": k, "sampler": sampler,
               "seed": described["seed"], "model": described["model"]}
        if escalation:
            out |= {"escalation": escalation, "nlive": settings["nlive"]}
        return out if repeat == 1 else {**out, "repeat": repeat}

    def escalated_settings(self, sampler: str, k: int, step: int) -> dict[str, Any]:
        """The settings of the run the convergence check adds to the row of ``k`` at its
        ``step``-th escalation: the sweep's, with 2**step times the live points (a run that
        missed part of the posterior misses it less often with more live points; another seed
        at the same ``nlive`` would repeat the same bias, as on make_blobs, issue 19)."""
        ndim = self.spec.build(self.data, k).ndim
        return get_sampler(sampler).with_more_live_points(self.settings_for(sampler), ndim,
                                                          2 ** int(step))


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
