"""Posterior predictive densities and memberships, per K and averaged over K.

The predictive density is that of the *noise-free* model: the Gaussians' intrinsic covariances
Σ_k, not Σ_k + S_i, because a new point has no measurement error of its own. Averages over K use
the sweep's P(K | data) of one sampler (``EvidenceRow.p_k``): a draw from the model-averaged
posterior is a K drawn with probability P(K | data) and then θ from that K's posterior. The
posterior parameter helpers at the end (relabelled samples, deterministic thinning, a table of
physical component parameters) serve the figures and tables of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nestmix.components import gaussian_log_density
from nestmix.data.measurements import Measurements
from nestmix.errors import NestmixError

if TYPE_CHECKING:
    from nestmix.model.mixture import MixtureModel
    from nestmix.store.archive import SweepArchive

__all__ = [
    "AveragedMemberships",
    "component_parameter_table",
    "density_draws",
    "model_averaged_density",
    "model_averaged_memberships",
    "model_for",
    "predictive_components",
    "predictive_density",
    "relabelled_posterior",
    "systematic_thin",
    "weights_over_k",
]

QUANTILES = (0.5, 0.16, 0.84)


def model_for(archive: SweepArchive, k: int) -> MixtureModel:
    """``archive.model(k)``, or a ValueError saying why the model cannot be rebuilt."""
    model = archive.model(k)
    if model is None:
        raise ValueError(f"the model of K={k} cannot be rebuilt from {archive.directory}: "
                         f"{archive.spec_problem}")
    return model


def _one_dimensional(archive: SweepArchive) -> None:
    if archive.data is None:
        raise ValueError(f"{archive.directory} holds no copy of the data: "
                         f"{archive.spec_problem}")
    if archive.data.n_dims != 1:
        raise ValueError("the predictive density is drawn for one-dimensional data only; "
                         f"these data have D={archive.data.n_dims}")


def predictive_components(model: MixtureModel) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which non-Gaussian components enter the predictive density on a grid of x.

    A custom component is a density in x when it needs no extra data columns (a ``line``
    needs ``x`` of every point) and accepts data without measurement errors (its noise-free
    form); the background always is.

    Parameters
    ----------
    model : MixtureModel

    Returns
    -------
    included, skipped : tuple of str
        Names of the custom components (and ``"bg"``) that are included and that are left out.
    """
    included: list[str] = []
    skipped: list[str] = []
    probe = Measurements.from_arrays(np.linspace(-1.0, 1.0, 3)[:, None]
                                     if model.n_dims == 1 else np.zeros((3, model.n_dims)))
    for component in model.extra_components:
        usable = not tuple(getattr(component, "columns", ()))
        if usable and getattr(component, "check_data", None) is not None:
            try:
                component.check_data(probe)
            except NestmixError:
                usable = False
        (included if usable else skipped).append(component.name)
    if model.has_background:
        included.append("bg")
    return tuple(included), tuple(skipped)


def density_draws(model: MixtureModel, thetas: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The noise-free mixture density on ``grid`` for each parameter vector.

    Parameters
    ----------
    model : MixtureModel
        A model of one-dimensional data.
    thetas : ndarray, shape (m, ndim)
    grid : ndarray, shape (G,)

    Returns
    -------
    ndarray, shape (m, G)
        Σ_k w_k N(x | μ_k, Σ_k) plus w_c p_c(x) for the custom components that are densities
        in x (:func:`predictive_components`) and the uniform background. Skipped components
        contribute nothing, so the curve then integrates to 1 − their weight.
    """
    grid = np.asarray(grid, dtype=float).ravel()
    params = model.expand(np.atleast_2d(thetas))
    weights = params.weights
    x = grid[:, None]
    out = np.zeros((weights.shape[0], grid.size))
    if model.k:
        log_g = gaussian_log_density(x, None, params.means, params.covariances)  # (m, G, K)
        out += np.einsum("mgk,mk->mg", np.exp(log_g), weights[:, :model.k])
    included, _ = predictive_components(model)
    grid_data = Measurements.from_arrays(grid)
    for j, component in enumerate(model.extra_components):
        if component.name not in included:
            continue
        p = {name: params.extra[f"{component.name}_{name}"] for name in component.parameters}
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dens = np.exp(np.asarray(component.log_density(p, grid_data), dtype=float))
        out += weights[:, model.k + j, None] * np.nan_to_num(dens, nan=0.0, posinf=0.0)
    if model.background is not None:
        log_bg = model.background.log_density_of(x)
        out += weights[:, -1, None] * np.exp(log_bg)[None, :]
    return out


def _draws_for_k(archive: SweepArchive, sampler: str, k: int, grid: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    if n <= 0:
        return np.empty((0, np.asarray(grid).size))
    run = archive.run(k, sampler)
    return density_draws(model_for(archive, k), run.posterior_samples(n, rng), grid)


def _bands(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    median, low, high = np.quantile(draws, QUANTILES, axis=0)
    return median, low, high


def predictive_density(archive: SweepArchive, sampler: str, k: int, grid: np.ndarray, *,
                       rng: np.random.Generator,
                       n_draws: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior predictive density of the noise-free model with ``k`` Gaussians on ``grid``.

    Parameters
    ----------
    archive : SweepArchive
        An opened sweep of one-dimensional data.
    sampler : str
    k : int
        A finished K of ``sampler``.
    grid : ndarray, shape (G,)
        Points x at which the density is evaluated.
    rng : numpy.random.Generator
        Draws the ``n_draws`` equally weighted posterior samples.
    n_draws : int
        Number of posterior draws.

    Returns
    -------
    median, low, high : ndarray, shape (G,)
        Pointwise median and 16% and 84% quantiles over the draws of
        Σ_k w_k N(x | μ_k, Σ_k) [+ w_c p_c(x)] [+ w_bg U(x | box)]. Custom components that need
        extra data columns (e.g. ``line``) or measurement errors have no density in x alone and
        are left out (:func:`predictive_components` names them); the curves then integrate to
        one minus their weight.

    Raises
    ------
    ValueError
        For data with D != 1 or a model that cannot be rebuilt.
    """
    _one_dimensional(archive)
    return _bands(_draws_for_k(archive, sampler, k, grid, int(n_draws), rng))


def weights_over_k(archive: SweepArchive, sampler: str) -> dict[int, float]:
    """P(K | data) of ``sampler``'s finished K (from the sweep's rows), renormalised to one."""
    rows = [r for r in archive.result.rows if r.sampler == sampler]
    if not rows:
        raise ValueError(f"the sweep has no finished runs of sampler {sampler!r}; "
                         f"finished: {', '.join(archive.samplers) or 'none'}")
    p = np.array([max(r.p_k, 0.0) for r in rows], dtype=float)
    if not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"P(K | data) of sampler {sampler!r} is not a probability: {p}")
    p /= p.sum()
    return {r.k: float(pk) for r, pk in zip(rows, p, strict=True)}


def _allocate(p: Sequence[float], n: int) -> np.ndarray:
    """Split ``n`` draws in proportion to ``p`` (largest remainders; deterministic)."""
    exact = np.asarray(p, dtype=float) * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:n - counts.sum()]] += 1
    return counts


def model_averaged_density(archive: SweepArchive, sampler: str, grid: np.ndarray, *,
                           rng: np.random.Generator,
                           n_draws: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior predictive density averaged over K with weights P(K | data).

    The ``n_draws`` draws are split between the finished K of ``sampler`` in proportion to
    P(K | data) (largest remainders, so a K with P(K | data) < 1 / (2 ``n_draws``) may get
    none); each K's share are equally weighted posterior draws of its run. The pooled curves
    are draws from the model-averaged posterior predictive.

    Parameters
    ----------
    archive : SweepArchive
        An opened sweep of one-dimensional data.
    sampler : str
    grid : ndarray, shape (G,)
    rng : numpy.random.Generator
    n_draws : int

    Returns
    -------
    median, low, high : ndarray, shape (G,)
        Pointwise median and 16% and 84% quantiles of the pooled curves (components left out
        as in :func:`predictive_density`).

    Raises
    ------
    ValueError
        For data with D != 1, or a sampler without finished runs.
    """
    _one_dimensional(archive)
    p = weights_over_k(archive, sampler)
    counts = _allocate(list(p.values()), int(n_draws))
    draws = [_draws_for_k(archive, sampler, k, grid, int(n), rng)
             for k, n in zip(p, counts, strict=True) if n > 0]
    return _bands(np.concatenate(draws, axis=0))


@dataclass(frozen=True)
class AveragedMemberships:
    """Membership probabilities per K and their average over K
    (:func:`model_averaged_memberships`).

    Attributes
    ----------
    k_values : tuple of int
        The K averaged over.
    p_k : ndarray
        The weights used: P(K | data), renormalised over ``k_values``.
    skipped : tuple of int
        Finished K without stored memberships.
    per_k, per_k_std : dict
        K → (N, K_total) posterior mean memberships and their standard deviations
        (relabelled Gaussians in canonical order, then custom components, then background).
    component_names : dict
        K → names of those columns (``w_1`` …, ``w_<name>``, ``w_bg``).
    top_gaussian_per_k : dict
        K → (N,) probability of each point's most probable Gaussian.
    shared_names : tuple of str
        Custom component names and ``bg``: the columns present with one meaning in every K.
    shared : ndarray, shape (N, n_shared)
        Averaged over K: the probability of each point to belong to each of those.
    gaussian, top_gaussian : ndarray, shape (N,)
        Averaged over K: the probability to belong to any Gaussian, and to the point's most
        probable Gaussian of its own K.
    """

    k_values: tuple[int, ...]
    p_k: np.ndarray
    skipped: tuple[int, ...]
    per_k: dict[int, np.ndarray]
    per_k_std: dict[int, np.ndarray]
    component_names: dict[int, tuple[str, ...]]
    top_gaussian_per_k: dict[int, np.ndarray]
    shared_names: tuple[str, ...]
    shared: np.ndarray
    gaussian: np.ndarray
    top_gaussian: np.ndarray


def model_averaged_memberships(archive: SweepArchive, sampler: str) -> AveragedMemberships:
    """Membership probabilities per K and what of them can be averaged over K.

    Gaussian labels do not mean the same thing in different K (component 2 of K = 3 is not
    component 2 of K = 4), so only label-free quantities are averaged with weights
    P(K | data):

    * ``shared``: the probability of each point to belong to each non-Gaussian component
      (custom components and the background), present with the same meaning in every K;
    * ``gaussian``: the probability to belong to any Gaussian (one minus the above);
    * ``top_gaussian``: the probability of the point's most probable Gaussian (the largest
      Gaussian column of its posterior-mean memberships), i.e. how clearly the point belongs
      to one Gaussian of its own K, whichever that is.

    The full per-K matrices (relabelled Gaussians in canonical order, then the custom
    components, then the background) are returned as they are. K whose mode analysis holds
    no memberships are left out and P(K | data) is renormalised over the rest.

    Parameters
    ----------
    archive : SweepArchive
    sampler : str

    Returns
    -------
    AveragedMemberships

    Raises
    ------
    ValueError
        If no finished K of ``sampler`` has stored memberships.
    """
    p_all = weights_over_k(archive, sampler)
    per_k: dict[int, np.ndarray] = {}
    per_k_std: dict[int, np.ndarray] = {}
    names: dict[int, tuple[str, ...]] = {}
    skipped: list[int] = []
    for k in p_all:
        stored = archive.analysis(k, sampler)
        arrays = {} if stored is None else stored[1]
        model = archive.model(k)
        if "membership_mean" not in arrays or model is None:
            skipped.append(k)
            continue
        per_k[k] = np.asarray(arrays["membership_mean"], dtype=float)
        per_k_std[k] = np.asarray(arrays["membership_std"], dtype=float)
        names[k] = tuple(model.weight_names)
    if not per_k:
        raise ValueError(f"no finished K of sampler {sampler!r} has stored memberships")
    ks = tuple(per_k)
    p = np.array([p_all[k] for k in ks])
    if p.sum() <= 0:
        p = np.full(len(ks), 1.0 / len(ks))
    p = p / p.sum()
    shared_names = names[ks[0]][ks[0]:]
    top = {k: (per_k[k][:, :k].max(axis=1) if k else np.zeros(per_k[k].shape[0]))
           for k in ks}
    shared = sum(pk * per_k[k][:, k:] for k, pk in zip(ks, p, strict=True))
    gaussian = sum(pk * per_k[k][:, :k].sum(axis=1) for k, pk in zip(ks, p, strict=True))
    return AveragedMemberships(
        k_values=ks,
        p_k=p,
        skipped=tuple(skipped),
        per_k=per_k,
        per_k_std=per_k_std,
        component_names=names,
        top_gaussian_per_k=top,
        shared_names=tuple(n.removeprefix("w_") for n in shared_names),
        shared=np.asarray(shared),
        gaussian=np.asarray(gaussian),
        top_gaussian=np.asarray(sum(pk * top[k] for k, pk in zip(ks, p, strict=True))),
    )


# ------------------------------------------------ posterior parameter draws
def relabelled_posterior(archive: SweepArchive, sampler: str,
                         k: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The run's θ samples in the canonical labelling, their weights, and whether relabelled.

    Falls back to the samples as the sampler labelled them when the run has no stored mode
    analysis (then ``relabelled`` is False unless K <= 1, where labels cannot switch).
    """
    run = archive.run(k, sampler)
    stored = archive.analysis(k, sampler)
    arrays = {} if stored is None else stored[1]
    if "relabelled_samples" in arrays:
        return np.asarray(arrays["relabelled_samples"]), run.weights, True
    return np.asarray(run.samples), run.weights, k <= 1


def systematic_thin(weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Systematic resampling (deterministic) to ``n`` equally weighted draws.

    Returns the distinct sample indices drawn and how often each was drawn (float counts).
    """
    cumulative = np.cumsum(weights / weights.sum())
    positions = (np.arange(n) + 0.5) / n
    drawn = np.minimum(np.searchsorted(cumulative, positions), len(weights) - 1)
    index, counts = np.unique(drawn, return_counts=True)
    return index, counts.astype(float)


def component_parameter_table(model: MixtureModel,
                              thetas: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Weights, means, standard deviations, 2-D correlations and custom parameters as columns.

    Columns that do not vary (fixed parameters, the weight of a one-component model) and
    repeats (a spherical or tied scale) are dropped. Returns the (m, n) table, the column
    names (``w_1``, ``mu_1``, ``sigma_1``, ``rho_1``, ``<name>_<param>``; ``mu_1,x0`` … in
    D >= 2) and LaTeX labels.
    """
    params = model.expand(thetas)
    d = model.n_dims
    axis = [""] if d == 1 else [f",{c}" for c in model.data.columns]
    columns: list[np.ndarray] = []
    names: list[str] = []
    labels: list[str] = []
    if model.n_components > 1:
        for j, name in enumerate(model.weight_names):
            columns.append(params.weights[:, j])
            names.append(name)
            labels.append(rf"$w_{{{name[2:]}}}$")
    sd = np.sqrt(np.diagonal(params.covariances, axis1=2, axis2=3))
    for j in range(model.k):
        for a in range(d):
            columns += [params.means[:, j, a], sd[:, j, a]]
            names += [f"mu_{j + 1}{axis[a]}", f"sigma_{j + 1}{axis[a]}"]
            labels += [rf"$\mu_{{{j + 1}{axis[a]}}}$", rf"$\sigma_{{{j + 1}{axis[a]}}}$"]
        if d == 2 and model.spec.covariance in ("full", "tied"):
            columns.append(params.covariances[:, j, 0, 1] / (sd[:, j, 0] * sd[:, j, 1]))
            names.append(f"rho_{j + 1}")
            labels.append(rf"$\rho_{{{j + 1}}}$")
    for name, values in params.extra.items():
        columns.append(values)
        names.append(name)
        labels.append(name.replace("_", " "))
    table = np.stack(columns, axis=1)
    keep = np.ptp(table, axis=0) > 0  # fixed parameters (and K_total = 1 weights) say nothing
    for j in range(1, table.shape[1]):  # spherical / tied scales repeat: keep the first copy
        keep[j] &= not any(np.array_equal(table[:, i], table[:, j]) for i in range(j))
    return (table[:, keep], [n for n, kept in zip(names, keep, strict=True) if kept],
            [lab for lab, kept in zip(labels, keep, strict=True) if kept])
