"""One entry point: relabel a run, count its label copies, find distinct modes, memberships."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from nestmix.modes.census import LabelCensus, label_census
from nestmix.modes.distinct import DistinctModes, find_distinct_modes
from nestmix.modes.memberships import Memberships, compute_memberships
from nestmix.modes.relabel import Relabelling, relabel
from nestmix.results import NestedRun

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel

__all__ = ["ModeAnalysis", "analyse_run"]


@dataclass(frozen=True)
class ModeAnalysis:
    """Label structure of one run's posterior.

    Attributes
    ----------
    k : int
        Number of Gaussian components.
    relabelling : Relabelling
        Per-sample permutations to the canonical labelling.
    relabelled_samples : ndarray, shape (n, ndim)
        The run's θ samples in the canonical labelling (same order and weights as the run).
    census : LabelCensus
        Label copies visited and their masses.
    modes : DistinctModes
        Distinct solutions after relabelling, with masses, local evidences and summaries.
    memberships : Memberships
        Posterior membership probabilities of every data point.
    """

    k: int
    relabelling: Relabelling
    relabelled_samples: np.ndarray
    census: LabelCensus
    modes: DistinctModes
    memberships: Memberships

    def to_dict(self) -> dict:
        """JSON-able summary for ``summary.json`` (no per-sample or per-point arrays)."""
        return {"k": self.k, "relabelling": self.relabelling.to_dict(),
                "census": self.census.to_dict(), "distinct_modes": self.modes.to_dict(),
                "memberships": self.memberships.to_dict()}

    def arrays(self) -> dict[str, np.ndarray]:
        """The large arrays, to be saved with ``numpy.savez_compressed``."""
        return {
            "permutations": self.relabelling.permutations,
            "relabelled_samples": self.relabelled_samples,
            "label_copies": self.census.copies,
            "label_copy_masses": self.census.masses,
            "copy_of_sample": self.census.copy_of_sample,
            "mode_of_sample": self.modes.labels,
            "membership_mean": self.memberships.mean,
            "membership_std": self.memberships.std,
        }


def analyse_run(model: MixtureModel, run: NestedRun, *, method: str = "hungarian",
                rng: np.random.Generator, max_membership_draws: int | None = 2000,
                max_mode_draws: int = 4000) -> ModeAnalysis:
    """Relabel a run's samples and describe its label copies, distinct modes and memberships.

    Parameters
    ----------
    model : MixtureModel
        The model the run sampled.
    run : NestedRun
        Its samples and weights, evidence and (PolyChord) clusters.
    method : str
        Relabelling method: ``hungarian`` or ``stephens``.
    rng : numpy.random.Generator
        For posterior draws (distinct modes, memberships) and 2-means starts.
    max_membership_draws : int or None
        Posterior draws averaged over for memberships (None: every sample).
    max_mode_draws : int
        Posterior draws used to find the distinct modes.

    Returns
    -------
    ModeAnalysis
    """
    if tuple(run.param_names) != tuple(model.param_names):
        raise ValueError("the run's parameters do not match the model's: "
                         f"{run.param_names} vs {model.param_names}")
    thetas = np.asarray(run.samples)
    weights = run.weights
    params = model.expand(thetas)
    if model.spec.order == "means":
        # the prior already orders the components by their first-axis mean, which is the
        # canonical labelling: nothing to permute, and exactly one label copy exists
        relabelling = Relabelling(
            permutations=np.broadcast_to(np.arange(model.k), (len(thetas), model.k)),
            method=f"{method} (not needed: ordered prior)", iterations=0, converged=True)
    else:
        relabelling = relabel(params, weights, method=method, model=model, thetas=thetas)
    census = label_census(relabelling.permutations, weights,
                          exchangeable=model.spec.order == "none")
    if not _census_is_signal(run):  # e.g. PolyChord without clustering
        census = replace(census, warning=None)
    modes = find_distinct_modes(relabelling.apply(params), weights, rng=rng, logz=run.logz,
                                logz_err=run.logz_err, clusters=run.clusters, samples=thetas,
                                max_draws=max_mode_draws, n_points=model.data.n_points)
    memberships = compute_memberships(model, thetas, weights, relabelling, rng=rng,
                                      max_draws=max_membership_draws)
    return ModeAnalysis(k=model.k, relabelling=relabelling,
                        relabelled_samples=relabelling.apply_to_theta(thetas, model),
                        census=census, modes=modes, memberships=memberships)


def _census_is_signal(run: NestedRun) -> bool:
    from nestmix.errors import SamplerError
    from nestmix.samplers import get_sampler

    try:
        return get_sampler(run.sampler).census_is_signal(run.settings)
    except SamplerError:  # a run of a sampler this installation does not know
        return True
