"""Relabelled posteriors to take away: a CSV table, anesthetic ``NestedSamples``, ArviZ data.

Every export starts from a stored run of a sweep (:class:`~nestmix.store.archive.SweepArchive`)
and its mode analysis: the samples are in the canonical labelling (component 1 is the same
component in every sample) and shown as the components' parameters (weights ``w_j``, means
``mu_j``, standard deviations ``sigma_j``, 2-D correlations ``rho_j``, custom parameters), each
with a LaTeX label. A run without a stored mode analysis is exported as the sampler labelled it,
which for K >= 2 is said in a warning.
"""

from __future__ import annotations

import csv
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nestmix.errors import NestmixError

if TYPE_CHECKING:
    from nestmix.store.archive import SweepArchive

__all__ = ["RelabelledPosterior", "posterior_csv", "posterior_csv_name", "relabelled",
           "to_anesthetic", "to_arviz"]


@dataclass(frozen=True)
class RelabelledPosterior:
    """A run's weighted posterior samples as component parameters, in the canonical labelling.

    Attributes
    ----------
    k : int
    sampler : str
    columns : tuple of str
        Parameter names (``w_1``, ``mu_1``, ``sigma_1``; ``mu_1,x`` in D >= 2).
    labels : tuple of str
        Their LaTeX labels.
    values : ndarray, shape (n, len(columns))
    weights : ndarray, shape (n,)
        Normalised posterior weights.
    logl : ndarray, shape (n,)
    nlive : ndarray, shape (n,)
        Live points when each sample died (anesthetic rebuilds the prior volumes from them).
    logz, logz_err : float
    relabelled : bool
        False when the run had no mode analysis and K >= 2.
    """

    k: int
    sampler: str
    columns: tuple[str, ...]
    labels: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    logl: np.ndarray
    nlive: np.ndarray
    logz: float
    logz_err: float
    relabelled: bool


def relabelled(archive: SweepArchive | str | Path, k: int,
               sampler: str) -> RelabelledPosterior:
    """The relabelled posterior of the stored run (k, sampler) (its first repeat).

    Parameters
    ----------
    archive : SweepArchive, str or Path
        An opened sweep (:func:`nestmix.open_sweep`) or its directory.
    k : int
    sampler : str

    Raises
    ------
    NestmixError
        If the run is not finished or the model cannot be rebuilt.
    """
    from nestmix.posterior.predictive import component_parameter_table, relabelled_posterior

    archive = _opened(archive)
    if k not in archive.k_values(sampler):
        done = ", ".join(str(j) for j in archive.k_values(sampler)) or "none"
        raise NestmixError(f"no finished run K={k} {sampler} in {archive.directory} "
                           f"(finished K: {done})")
    model = archive.model(k)
    if model is None:
        raise NestmixError(f"cannot export K={k} {sampler}: {archive.spec_problem}")
    thetas, weights, done_relabelling = relabelled_posterior(archive, sampler, k)
    if not done_relabelling:
        warnings.warn(f"K={k} {sampler} has no mode analysis: the samples are exported as the "
                      "sampler labelled them", UserWarning, stacklevel=2)
    values, names, labels = component_parameter_table(model, thetas)
    run = archive.run(k, sampler)
    return RelabelledPosterior(
        k=k, sampler=sampler, columns=tuple(names), labels=tuple(labels),
        values=np.asarray(values, dtype=float), weights=np.asarray(weights, dtype=float),
        logl=np.asarray(run.logl, dtype=float), nlive=np.asarray(run.nlive),
        logz=float(run.logz), logz_err=float(run.logz_err), relabelled=done_relabelling)


def _opened(archive: SweepArchive | str | Path) -> SweepArchive:
    if isinstance(archive, (str, Path)):
        from nestmix.store.archive import open_sweep

        return open_sweep(archive)
    return archive


def posterior_csv_name(k: int, sampler: str) -> str:
    """Where :func:`posterior_csv` is written, relative to the sweep directory."""
    return f"K={k}/{sampler}/posterior.csv"


def posterior_csv(posterior: RelabelledPosterior) -> str:
    """The weighted samples as CSV: ``weight``, ``logL`` and the parameters, full precision;
    samples of zero weight are left out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["weight", "logL", *posterior.columns])
    keep = posterior.weights > 0
    for w, logl, row in zip(posterior.weights[keep], posterior.logl[keep],
                            posterior.values[keep], strict=True):
        writer.writerow([repr(float(w)), repr(float(logl)), *(repr(float(v)) for v in row)])
    return buffer.getvalue()


def to_anesthetic(archive: SweepArchive | str | Path, k: int, sampler: str) -> Any:
    """The relabelled run as :class:`anesthetic.NestedSamples` with LaTeX labels.

    The dead points keep their likelihoods and live-point counts, so anesthetic's evidence,
    prior-volume simulations and plots work as on the raw run (``NestedRun.to_anesthetic``
    gives the raw run, as the sampler labelled it).

    Parameters
    ----------
    archive : SweepArchive, str or Path
        An opened sweep (:func:`nestmix.open_sweep`) or its directory.
    k : int
    sampler : str

    Returns
    -------
    anesthetic.NestedSamples
    """
    from anesthetic import NestedSamples

    posterior = relabelled(archive, k, sampler)
    order = np.argsort(posterior.logl, kind="stable")
    samples = NestedSamples(data=posterior.values[order], columns=list(posterior.columns),
                            logL=posterior.logl[order],
                            labels=dict(zip(posterior.columns, posterior.labels, strict=True)))
    samples["nlive"] = posterior.nlive[order]
    samples.set_label("nlive", r"$n_\mathrm{live}$")
    return samples


def to_arviz(archive: SweepArchive | str | Path, k: int, sampler: str, *,
             draws: int = 4000) -> Any:
    """The relabelled posterior as an ArviZ ``InferenceData`` (needs ``pip install arviz``).

    Parameters
    ----------
    archive : SweepArchive, str or Path
        An opened sweep (:func:`nestmix.open_sweep`) or its directory.
    k : int
    sampler : str
    draws : int
        Equally weighted draws, by systematic resampling of the weighted samples (one chain).

    Returns
    -------
    arviz.InferenceData
        ``posterior`` with one variable per parameter (its LaTeX label in the variable's
        ``attrs``), ``sample_stats`` with ``log_likelihood`` of each draw, and the run's
        ``logZ``, ``logZ_err``, K and sampler in the attributes.

    Raises
    ------
    NestmixError
        If arviz is not installed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # arviz announces its 1.0 on import
            import arviz
    except ImportError:
        raise NestmixError("to_arviz needs ArviZ: pip install arviz "
                           "(or pip install 'nestmix[arviz]')") from None
    from nestmix.posterior.predictive import systematic_thin

    posterior = relabelled(archive, k, sampler)
    index, counts = systematic_thin(posterior.weights, draws)
    drawn = np.repeat(index, counts.astype(int))
    quiet = logging.getLogger("arviz")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # one chain "fails" its shape check for convergence statistics
    try:
        data = arviz.from_dict(
            posterior={name: posterior.values[drawn, j][None, :]
                       for j, name in enumerate(posterior.columns)},
            sample_stats={"log_likelihood": posterior.logl[drawn][None, :]},
            attrs={"logZ": posterior.logz, "logZ_err": posterior.logz_err, "K": k,
                   "sampler": sampler, "relabelled": int(posterior.relabelled),
                   "created_by": "nestmix"})
    finally:
        quiet.setLevel(level)
    for name, label in zip(posterior.columns, posterior.labels, strict=True):
        data.posterior[name].attrs["label"] = label
    return data


def write_posterior_csvs(archive: SweepArchive, write: Any) -> list[Path]:
    """Write every finished run's relabelled posterior CSV with ``write(path, bytes)``;
    returns the paths (runs that cannot be exported are skipped)."""
    out = []
    for row in archive.result.rows:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                text = posterior_csv(relabelled(archive, row.k, row.sampler))
        except NestmixError:
            continue
        path = archive.directory / posterior_csv_name(row.k, row.sampler)
        write(path, text.encode("utf-8"))
        out.append(path)
    return out
