"""Figures of a sweep: evidences, P(K | data), predictive densities, components, memberships, runs.

Every function takes result objects (a :class:`~nestmix.results.SweepResult`, an opened
:class:`~nestmix.store.archive.SweepArchive`, a :class:`~nestmix.results.NestedRun`) and returns a
new :class:`matplotlib.figure.Figure` made with ``Figure()``: nothing is registered with pyplot,
no style or rcParams are changed and nothing is shown. Save it with ``fig.savefig(path)``; it
is freed with the last reference (``plt.close(fig)`` is harmless).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, Rectangle

from nestmix.posterior.predictive import (
    component_parameter_table,
    model_averaged_density,
    model_for,
    predictive_density,
    relabelled_posterior,
    systematic_thin,
)
from nestmix.results import rows_by_sampler

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements
    from nestmix.model.mixture import MixtureModel
    from nestmix.results import NestedRun, SweepResult
    from nestmix.store.archive import SweepArchive

__all__ = [
    "plot_components_2d",
    "plot_corner",
    "plot_evidence",
    "plot_memberships",
    "plot_posterior_k",
    "plot_predictive",
    "plot_run",
]

MAX_CORNER_POINTS = 2000  # distinct posterior draws shown in a corner plot
_BACKGROUND_COLOUR = "0.55"


def _colour(j: int) -> tuple[float, ...]:
    return matplotlib.colormaps["tab10"](j % 10)


def _component_colours(model: MixtureModel) -> list:
    """Per membership column: Gaussians from the start of tab10, custom components from its
    end (the same colour in every K), the background grey."""
    colours = [_colour(j) for j in range(model.k)]
    colours += [_colour(9 - j) for j in range(len(model.extra_components))]
    return colours + ([_BACKGROUND_COLOUR] if model.has_background else [])


def _component_labels(model: MixtureModel) -> list[str]:
    return [f"component {n[2:]}" if j < model.k else ("background" if n == "w_bg" else n[2:])
            for j, n in enumerate(model.weight_names)]


def _data(archive: SweepArchive, dims: tuple[int, ...], what: str) -> Measurements:
    data = archive.data
    if data is None or data.n_dims not in dims:
        found = "no copy of the data" if data is None else f"D={data.n_dims} data"
        raise ValueError(f"{what}; this sweep has {found}")
    return data


def _offsets(n: int, step: float) -> np.ndarray:
    return (np.arange(n) - 0.5 * (n - 1)) * step


def plot_evidence(result: SweepResult) -> Figure:
    """Log-evidence against K, one series per sampler.

    The error bar is the larger of the sampler's own error and anesthetic's simulated-volume
    error (``max(logZ_err, logZ_err_sim)``). K asked for but not finished are marked on the
    axis.

    Parameters
    ----------
    result : SweepResult

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one error-bar series (``ax.containers``) per sampler.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    groups = rows_by_sampler(result.rows)
    for (sampler, rows), dx in zip(groups.items(), _offsets(len(groups), 0.08), strict=True):
        ks_of_rows = np.array([r.k for r in rows], dtype=float)
        err = [max(r.logZ_err, r.logZ_err_sim) for r in rows]
        ax.errorbar(ks_of_rows + dx, [r.logZ for r in rows], yerr=err, fmt="o-", capsize=3,
                    label=sampler)
    ks = sorted({r.k for r in result.rows} | {k for k, _ in result.missing})
    ax.set_xticks(ks)
    for k in sorted({k for k, _ in result.missing}):
        ax.axvline(k, color="0.8", linestyle=":", zorder=0)
    ax.set_xlabel("number of Gaussian components K")
    ax.set_ylabel(r"$\ln Z$")
    ax.set_title(f"evidence of '{result.name}'" + (" (dotted: K not finished)"
                                                   if result.missing else ""))
    if groups:
        ax.legend()
    return fig


def plot_posterior_k(result: SweepResult) -> Figure:
    """P(K | data) as bars grouped by K, one bar per sampler, with their errors.

    Parameters
    ----------
    result : SweepResult

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one :class:`~matplotlib.container.BarContainer` per sampler.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    groups = rows_by_sampler(result.rows)
    width = 0.8 / max(len(groups), 1)
    for (sampler, rows), dx in zip(groups.items(), _offsets(len(groups), width), strict=True):
        k = np.array([r.k for r in rows], dtype=float)
        ax.bar(k + dx, [r.p_k for r in rows], width=width, yerr=[r.p_k_err for r in rows],
               capsize=3, label=sampler)
    ax.set_xticks(sorted({r.k for r in result.rows}))
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("number of Gaussian components K")
    ax.set_ylabel(r"$P(K\,|\,\mathrm{data})$")
    ax.set_title(f"posterior probability of K, '{result.name}'")
    if groups:
        ax.legend()
    return fig


def plot_predictive(archive: SweepArchive, sampler: str, *, rng: np.random.Generator,
                    n_draws: int = 200, n_grid: int = 400) -> Figure:
    """Histogram of 1-D data with the posterior predictive density of every finished K.

    Each K gets its median curve and 68% band
    (:func:`nestmix.posterior.predictive.predictive_density`),
    the model average over K (:func:`nestmix.posterior.predictive.model_averaged_density`) a black
    dashed curve and grey band. The curves are densities of noise-free values; with large
    measurement errors the histogram is broader than they are.

    Parameters
    ----------
    archive : SweepArchive
    sampler : str
    rng : numpy.random.Generator
        Posterior draws.
    n_draws : int
        Posterior draws per curve.
    n_grid : int
        Grid points over the data's range padded by 15% on each side.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: K + 1 lines (each K, then the average) and K + 1 bands.

    Raises
    ------
    ValueError
        If the data are not one-dimensional or the sweep holds no data copy.
    """
    data = _data(archive, (1,), "plot_predictive draws one-dimensional data only")
    x = np.asarray(data.values)[:, 0]
    lo, hi = x.min(), x.max()
    pad = 0.15 * (hi - lo if hi > lo else 1.0)
    grid = np.linspace(lo - pad, hi + pad, int(n_grid))
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(x, bins="auto", density=True, color="0.85", edgecolor="0.6", label="data")
    for j, k in enumerate(archive.k_values(sampler)):
        median, low, high = predictive_density(archive, sampler, k, grid, rng=rng,
                                               n_draws=n_draws)
        ax.fill_between(grid, low, high, color=_colour(j), alpha=0.2, linewidth=0)
        ax.plot(grid, median, color=_colour(j), label=f"K = {k}")
    median, low, high = model_averaged_density(archive, sampler, grid, rng=rng,
                                               n_draws=n_draws)
    ax.fill_between(grid, low, high, color="k", alpha=0.12, linewidth=0)
    ax.plot(grid, median, color="k", linestyle="--", linewidth=2, label="averaged over K")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel(data.columns[0])
    ax.set_ylabel("density")
    ax.set_title(f"posterior predictive ({sampler}): median and 68% band")
    ax.legend()
    return fig


def plot_corner(archive: SweepArchive, sampler: str, k: int) -> Figure:
    """Corner plot of the relabelled component parameters of one K.

    The columns of :func:`nestmix.posterior.predictive.component_parameter_table` for the relabelled
    posterior, thinned by systematic resampling to ``MAX_CORNER_POINTS`` equal-weight draws:
    a weighted histogram of each parameter on the diagonal, the draws of each pair below it.
    Drawn with matplotlib alone, ticks only on the edge panels (the bottom row and the left
    column): a corner of n parameters has n (n + 1) / 2 panels, and tick machinery on every one
    of them was most of its cost (anesthetic's axes took 12–15 CPU s for the 23 parameters of
    a 2-D full K = 4 fit; these take 3–4, for the same panels and points).

    Parameters
    ----------
    archive : SweepArchive
    sampler : str
    k : int

    Returns
    -------
    matplotlib.figure.Figure
        The lower triangle and diagonal of an n × n grid for n varying parameters: n (n + 1) / 2
        axes, the diagonal ones with one histogram patch each, the others with one line of
        markers each.
    """
    model = model_for(archive, k)
    thetas, weights, relabelled = relabelled_posterior(archive, sampler, k)
    index, counts = systematic_thin(weights, MAX_CORNER_POINTS)
    table, names, labels = component_parameter_table(model, thetas[index])
    draws = np.repeat(np.arange(len(index)), counts.astype(int))
    n = len(names)
    size = min(2.0 + 1.3 * n, 16.0)
    fig = Figure(figsize=(size, size))
    margin = min(0.25, 0.9 / size)  # room for the edge panels' tick labels and names
    grid = fig.add_gridspec(n, n, hspace=0.0, wspace=0.0, left=margin, bottom=margin,
                            right=0.98, top=1.0 - min(0.1, 0.5 / size))
    low, high = table.min(axis=0), table.max(axis=0)
    pad = 0.05 * np.where(high > low, high - low, np.maximum(np.abs(high), 1.0))
    low, high = low - pad, high + pad
    colour = "#1f77b4"  # tab10's first colour, _colour(0)
    left = []
    for i in range(n):
        for j in range(i + 1):
            ax = fig.add_subplot(grid[i, j])
            left += [ax] if j == 0 else []
            if i == j:
                ax.hist(table[:, i], bins=30, range=(low[i], high[i]), weights=counts,
                        histtype="stepfilled", color=colour, alpha=0.7)
                ax.set_yticks([])
            else:
                ax.plot(table[draws, j], table[draws, i], linestyle="none", marker=".", ms=1.5,
                        alpha=0.4, color=colour)
                ax.set_ylim(low[i], high[i])
            ax.set_xlim(low[j], high[j])
            _corner_ticks(ax, bottom=i == n - 1, left=j == 0 and i > 0)
            if i == n - 1:
                ax.set_xlabel(labels[j])
            if j == 0:
                ax.set_ylabel(labels[i])
    fig.align_xlabels(fig.axes[-n:])
    fig.align_ylabels(left)
    note = "" if relabelled else " (not relabelled: no mode analysis)"
    fig.suptitle(f"K = {k}, {sampler}: posterior of the component parameters{note}")
    return fig


def _corner_ticks(ax, *, bottom: bool, left: bool) -> None:
    """Ticks of a corner panel: three at most on the edges, none inside (no tick objects are
    made for an axis without ticks, which is what keeps a large corner cheap)."""
    from matplotlib.ticker import MaxNLocator

    if bottom:
        ax.xaxis.set_major_locator(MaxNLocator(3, prune="both"))
        ax.tick_params(axis="x", labelrotation=45, labelsize="small")
    else:
        ax.set_xticks([])
    if left:
        ax.yaxis.set_major_locator(MaxNLocator(3, prune="both"))
        ax.tick_params(axis="y", labelsize="small")
    else:
        ax.set_yticks([])


def _ellipse(mean: np.ndarray, cov: np.ndarray, radius: float, **kwargs) -> Ellipse:
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0.0, None)
    angle = float(np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1])))
    return Ellipse(tuple(mean), 2 * radius * np.sqrt(values[-1]), 2 * radius * np.sqrt(values[0]),
                   angle=angle, fill=False, **kwargs)


def plot_components_2d(archive: SweepArchive, sampler: str, k: int, *,
                       error_ellipses: bool = False) -> Figure:
    """Scatter of 2-D data with the 1σ and 2σ ellipses of each relabelled component.

    Ellipses are drawn at Mahalanobis radius 1 and 2 of the posterior mean means and
    intrinsic covariances of the relabelled samples (averaged over distinct modes if there
    are several); a uniform background's box is a dashed grey rectangle.

    Parameters
    ----------
    archive : SweepArchive
    sampler : str
    k : int
    error_ellipses : bool
        Also draw each point's 1σ measurement-error ellipse.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the scatter (one collection), 2 K component ellipses, a rectangle for the
        background and one ellipse per point with ``error_ellipses``.

    Raises
    ------
    ValueError
        If the data are not two-dimensional.
    """
    data = _data(archive, (2,), "plot_components_2d draws two-dimensional data only")
    model = model_for(archive, k)
    thetas, weights, _ = relabelled_posterior(archive, sampler, k)
    params = model.expand(thetas)
    w = weights / weights.sum()
    means = np.einsum("s,skd->kd", w, params.means)
    covs = np.einsum("s,skde->kde", w, params.covariances)
    mix = w @ params.weights
    values = np.asarray(data.values)
    fig = Figure(figsize=(6.0, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(values[:, 0], values[:, 1], s=10, color="0.3", label="data", zorder=1)
    if error_ellipses and data.covariances is not None:
        for point, cov in zip(values, np.asarray(data.covariances), strict=True):
            ax.add_patch(_ellipse(point, cov, 1.0, color="0.6", linewidth=0.5))
    for j in range(model.k):
        for radius, style in ((1.0, "-"), (2.0, "--")):
            ax.add_patch(_ellipse(means[j], covs[j], radius, color=_colour(j), linewidth=2,
                                  linestyle=style, zorder=3,
                                  label=f"component {j + 1} (w = {mix[j]:.2f})"
                                  if radius == 1.0 else None))
    if model.background is not None:
        (x0, x1), (y0, y1) = model.background.edges
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle="--",
                               color=_BACKGROUND_COLOUR,
                               label=f"background box (w = {mix[-1]:.2f})"))
    ax.autoscale_view()
    ax.set_xlabel(data.columns[0])
    ax.set_ylabel(data.columns[1])
    ax.set_title(f"K = {k}, {sampler}: components (1σ solid, 2σ dashed)")
    ax.legend(fontsize="small")
    return fig


def plot_memberships(archive: SweepArchive, sampler: str, k: int) -> Figure:
    """Posterior membership probabilities of every point (background and custom included).

    1-D data: membership probability of each component against the data value, one line per
    component with the posterior spread as error bars. 2-D data: scatter coloured by each
    point's most probable component, with alpha equal to that probability.

    Parameters
    ----------
    archive : SweepArchive
    sampler : str
    k : int

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line (1-D) or one scatter collection (2-D) per component.

    Raises
    ------
    ValueError
        If the run has no stored memberships (its mode analysis failed) or D > 2.
    """
    data = _data(archive, (1, 2), "plot_memberships draws 1-D or 2-D data")
    model = model_for(archive, k)
    stored = archive.analysis(k, sampler)
    arrays = {} if stored is None else stored[1]
    if "membership_mean" not in arrays:
        problem = "" if stored is None else stored[0].get("error", "")
        raise ValueError(f"K={k} {sampler} has no stored memberships"
                         + (f" (mode analysis failed: {problem})" if problem else ""))
    mean, std = np.asarray(arrays["membership_mean"]), np.asarray(arrays["membership_std"])
    colours, labels = _component_colours(model), _component_labels(model)
    values = np.asarray(data.values)
    fig = Figure(figsize=(7.0, 4.5 if data.n_dims == 1 else 5.5), layout="constrained")
    ax = fig.add_subplot()
    if data.n_dims == 1:
        order = np.argsort(values[:, 0], kind="stable")
        for j in range(mean.shape[1]):
            ax.errorbar(values[order, 0], mean[order, j], yerr=std[order, j], fmt=".-",
                        color=colours[j], label=labels[j], capsize=0, elinewidth=0.8,
                        alpha=0.9)
        ax.set_xlabel(data.columns[0])
        ax.set_ylabel("membership probability")
        ax.set_ylim(-0.05, 1.05)
    else:
        best = np.argmax(mean, axis=1)
        for j in range(mean.shape[1]):
            mine = best == j
            rgba = np.array([matplotlib.colors.to_rgba(colours[j])] * int(mine.sum()))
            if len(rgba):
                rgba[:, 3] = np.clip(mean[mine, j], 0.05, 1.0)
            ax.scatter(values[mine, 0], values[mine, 1], c=rgba.reshape(-1, 4), s=18,
                       label=labels[j], edgecolors="none")
        ax.set_xlabel(data.columns[0])
        ax.set_ylabel(data.columns[1])
    ax.set_title(f"K = {k}, {sampler}: memberships"
                 + ("" if data.n_dims == 1 else " (colour: most probable; alpha: probability)"))
    ax.legend(fontsize="small")
    return fig


def plot_run(run: NestedRun) -> Figure:
    """The nested-sampling run: log-likelihood and posterior mass against log prior volume.

    log X is anesthetic's expected log prior volume (``NestedSamples.logX()``, from the
    numbers of live points); the posterior mass of each dead point is its normalised weight.

    Parameters
    ----------
    run : NestedRun

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing log X: ln L on top, posterior mass below.
    """
    samples = run.to_anesthetic()
    log_x = np.asarray(samples.logX(), dtype=float)
    log_l = np.asarray(samples.logL, dtype=float)
    log_w = np.asarray(samples.logw(), dtype=float)
    mass = np.exp(log_w - log_w.max())
    mass /= mass.sum()
    fig = Figure(figsize=(6.5, 5.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    finite = np.isfinite(log_l)
    top.plot(log_x[finite], log_l[finite], color=_colour(0))
    top.set_ylabel(r"$\ln L$")
    top.set_ylim(np.quantile(log_l[finite], 0.02) if finite.any() else None, None)
    bottom.plot(log_x, mass, color=_colour(1))
    bottom.fill_between(log_x, mass, color=_colour(1), alpha=0.3, linewidth=0)
    bottom.set_ylabel("posterior mass")
    bottom.set_xlabel(r"$\ln X$")
    bottom.set_ylim(bottom=0.0)
    top.set_title(f"{run.sampler} run: ln Z = {run.logz:.2f} ± {run.logz_err:.2f}, "
                  f"{len(log_l):,} samples")
    return fig
