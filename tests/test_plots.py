"""Figures and model-averaged predictions on two small real sweeps (1-D; 2-D with background).

Every plot function must return a Figure of the expected make-up without touching
matplotlib's global state; predictive densities must be densities.
"""

from __future__ import annotations

import dataclasses

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from nestmix import Measurements
from nestmix.components import make_component
from nestmix.model import ModelSpec
from nestmix.posterior.predictive import (
    density_draws,
    model_averaged_density,
    model_averaged_memberships,
    predictive_components,
    predictive_density,
)
from nestmix.report.figures import (
    MAX_CORNER_POINTS,
    plot_components_2d,
    plot_corner,
    plot_evidence,
    plot_memberships,
    plot_posterior_k,
    plot_predictive,
    plot_run,
)
from nestmix.store.archive import open_sweep
from nestmix.sweep import SweepPlan, run_sweep
from tests.conftest import GALAXY_PRIORS

WIDE = np.linspace(-40.0, 80.0, 6001)  # galaxy velocities are 9..35 (1000 km/s)


@pytest.fixture(scope="module")
def galaxy_sweep(tmp_path_factory, galaxies):
    """K = 1, 2, 3 on the galaxy velocities, dynesty with 60 live points."""
    directory = tmp_path_factory.mktemp("galaxies")
    plan = SweepPlan(name="galaxies", data=galaxies, spec=ModelSpec(priors=GALAXY_PRIORS),
                     k_values=(1, 2, 3), settings={"nlive": 60}, seed=1)
    run_sweep(plan, directory, n_jobs=2)
    return open_sweep(directory)


@pytest.fixture(scope="module")
def plane_sweep(tmp_path_factory):
    """Two 2-D clusters and a uniform background, K = 1, 2, spherical components."""
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal([0.0, 0.0], 0.4, (30, 2)),
                             rng.normal([3.0, 2.0], 0.4, (30, 2)),
                             rng.uniform(-2.0, 5.0, (10, 2))])
    data = Measurements.from_arrays(values, errors=np.full_like(values, 0.1))
    spec = ModelSpec(covariance="spherical", background="uniform", priors={
        "mean": {"dist": "norm", "loc": 1, "scale": 3},
        "sigma": {"dist": "loguniform", "a": 0.05, "b": 5}})
    directory = tmp_path_factory.mktemp("plane")
    plan = SweepPlan(name="plane", data=data, spec=spec, k_values=(1, 2),
                     settings={"nlive": 40, "dlogz": 0.5}, seed=2)
    run_sweep(plan, directory, n_jobs=2)
    return open_sweep(directory)


@pytest.fixture(autouse=True)
def rc_unchanged():
    """No test may change matplotlib's rcParams (the backend is resolved first: matplotlib
    fills in its lazy default the first time anything asks for it)."""
    matplotlib.get_backend()
    before = matplotlib.rcParams.copy()
    yield
    after = matplotlib.rcParams
    changed = sorted(key for key in before if before[key] != after[key])
    assert not changed, f"rcParams changed: {changed}"


def _saved(fig: Figure, tmp_path, name: str) -> np.ndarray:
    """Save as PNG, read it back, close the figure; the image must not be blank."""
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert image[..., :3].std() > 0.01, "the image is blank"
    return image


def _concentrated(archive, sampler: str, k: int):
    """The archive with P(K | data) = 1 on ``k`` and 0 elsewhere."""
    rows = tuple(dataclasses.replace(r, p_k=float(r.k == k)) if r.sampler == sampler else r
                 for r in archive.result.rows)
    return dataclasses.replace(archive, result=dataclasses.replace(archive.result, rows=rows))


# ------------------------------------------------------------------ evidences
def test_plot_evidence_one_series_per_sampler(galaxy_sweep, tmp_path):
    result = galaxy_sweep.result
    fig = plot_evidence(result)
    (ax,) = fig.axes
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1
    np.testing.assert_allclose(np.asarray(bars[0].lines[0].get_ydata(), dtype=float),
                               [r.logZ for r in result.rows])
    _saved(fig, tmp_path, "evidence")

    other = tuple(dataclasses.replace(r, sampler="polychord", logZ=r.logZ + 0.5)
                  for r in result.rows)
    two = dataclasses.replace(result, rows=result.rows + other, missing=((4, "dynesty"),))
    fig = plot_evidence(two)
    (ax,) = fig.axes
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == 2
    assert list(ax.get_xticks()) == [1, 2, 3, 4]  # the missing K is on the axis
    plt.close(fig)


def test_plot_posterior_k_bars(galaxy_sweep, tmp_path):
    result = galaxy_sweep.result
    fig = plot_posterior_k(result)
    (ax,) = fig.axes
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    np.testing.assert_allclose([p.get_height() for p in bars], [r.p_k for r in result.rows])
    _saved(fig, tmp_path, "posterior_k")


# ----------------------------------------------------------------- predictive
def test_predictive_density_is_a_density(galaxy_sweep, rng):
    for k in (1, 3):
        median, low, high = predictive_density(galaxy_sweep, "dynesty", k, WIDE, rng=rng,
                                               n_draws=100)
        assert median.shape == low.shape == high.shape == WIDE.shape
        assert np.all(median >= 0) and np.all(low <= median) and np.all(median <= high)
        assert np.trapezoid(median, WIDE) == pytest.approx(1.0, abs=0.05)
    run = galaxy_sweep.run(3, "dynesty")
    draws = density_draws(galaxy_sweep.model(3), run.posterior_samples(20, rng), WIDE)
    np.testing.assert_allclose(np.trapezoid(draws, WIDE, axis=1), 1.0, atol=1e-6)


def test_density_draws_background_and_custom_components(galaxies, rng):
    outliers = make_component("gaussian_outlier", "out", priors={
        "mu": 20.0, "ln_s": {"dist": "uniform", "loc": 1, "scale": 1}})
    spec = ModelSpec(priors=GALAXY_PRIORS, background="uniform", extra_components=(outliers,))
    model = spec.build(galaxies, 2)
    assert predictive_components(model) == (("out", "bg"), ())
    thetas = model.prior_transform(rng.random((30, model.ndim)))
    draws = density_draws(model, thetas, WIDE)
    np.testing.assert_allclose(np.trapezoid(draws, WIDE, axis=1), 1.0, atol=2e-3)

    with_x = Measurements.from_arrays(galaxies.values, extra={"x": np.arange(82.0)})
    line = make_component("line", priors={"m": 0.0, "b": 20.0,
                                          "scatter": {"dist": "uniform", "loc": 1, "scale": 1}})
    model = ModelSpec(priors=GALAXY_PRIORS, extra_components=(line,)).build(with_x, 1)
    assert predictive_components(model) == ((), ("line",))
    thetas = model.prior_transform(rng.random((30, model.ndim)))
    w_line = model.expand(thetas).weights[:, 1]
    np.testing.assert_allclose(np.trapezoid(density_draws(model, thetas, WIDE), WIDE, axis=1),
                               1.0 - w_line, atol=1e-6)


def test_model_average_equals_single_k_when_p_k_is_concentrated(galaxy_sweep):
    archive = _concentrated(galaxy_sweep, "dynesty", 2)
    averaged = model_averaged_density(archive, "dynesty", WIDE,
                                      rng=np.random.default_rng(5), n_draws=80)
    single = predictive_density(archive, "dynesty", 2, WIDE, rng=np.random.default_rng(5),
                                n_draws=80)
    for a, b in zip(averaged, single, strict=True):
        np.testing.assert_array_equal(a, b)
    other = predictive_density(archive, "dynesty", 1, WIDE, rng=np.random.default_rng(5),
                               n_draws=80)
    assert not np.allclose(averaged[0], other[0])


def test_model_average_is_a_density(galaxy_sweep, rng):
    median, low, high = model_averaged_density(galaxy_sweep, "dynesty", WIDE, rng=rng,
                                               n_draws=100)
    assert np.all(low <= median) and np.all(median <= high) and np.all(median >= 0)
    assert np.trapezoid(median, WIDE) == pytest.approx(1.0, abs=0.05)


def test_predictive_refuses_two_dimensional_data(plane_sweep, rng):
    with pytest.raises(ValueError, match="one-dimensional"):
        plot_predictive(plane_sweep, "dynesty", rng=rng)
    with pytest.raises(ValueError, match="one-dimensional"):
        predictive_density(plane_sweep, "dynesty", 1, WIDE, rng=rng)


def test_plot_predictive(galaxy_sweep, rng, tmp_path):
    fig = plot_predictive(galaxy_sweep, "dynesty", rng=rng, n_draws=60)
    (ax,) = fig.axes
    ks = galaxy_sweep.k_values("dynesty")
    assert len(ax.lines) == len(ks) + 1  # one median per K and the model average
    assert len(ax.collections) == len(ks) + 1  # their 68% bands
    assert len(ax.patches) > 3  # the histogram
    _saved(fig, tmp_path, "predictive")


# ---------------------------------------------------------------- memberships
def test_model_averaged_memberships_one_dimensional(galaxy_sweep):
    out = model_averaged_memberships(galaxy_sweep, "dynesty")
    assert out.k_values == (1, 2, 3) and out.skipped == ()
    assert out.p_k.sum() == pytest.approx(1.0)
    assert out.shared_names == () and out.shared.shape == (82, 0)
    for k, matrix in out.per_k.items():
        assert matrix.shape == (82, k)
        assert np.all((matrix >= 0) & (matrix <= 1 + 1e-9))
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(out.gaussian, 1.0, atol=1e-9)
    assert np.all((out.top_gaussian > 0) & (out.top_gaussian <= 1 + 1e-12))

    single = model_averaged_memberships(_concentrated(galaxy_sweep, "dynesty", 3), "dynesty")
    np.testing.assert_allclose(single.top_gaussian, out.per_k[3].max(axis=1))


def test_model_averaged_memberships_with_background(plane_sweep):
    out = model_averaged_memberships(plane_sweep, "dynesty")
    assert out.shared_names == ("bg",)
    assert out.shared.shape == (70, 1)
    assert out.component_names[2] == ("w_1", "w_2", "w_bg")
    for value in (out.shared, out.gaussian, out.top_gaussian):
        assert np.all((value >= 0) & (value <= 1 + 1e-12))
    np.testing.assert_allclose(out.gaussian + out.shared[:, 0], 1.0, atol=1e-9)
    assert np.all(out.top_gaussian <= out.gaussian + 1e-12)
    # the ten uniform points (last rows) are mostly background
    assert out.shared[-10:, 0].mean() > out.shared[:60, 0].mean()


def test_plot_memberships(galaxy_sweep, plane_sweep, tmp_path):
    fig = plot_memberships(galaxy_sweep, "dynesty", 3)
    (ax,) = fig.axes
    assert len([c for c in ax.containers if isinstance(c, ErrorbarContainer)]) == 3
    for line in ax.lines[:3]:
        assert np.all((line.get_ydata() >= 0) & (line.get_ydata() <= 1))
    _saved(fig, tmp_path, "memberships_1d")

    fig = plot_memberships(plane_sweep, "dynesty", 2)
    (ax,) = fig.axes
    assert len(ax.collections) == 3  # two Gaussians and the background
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "component 1", "component 2", "background"]
    alpha = np.concatenate([c.get_facecolors()[:, 3] for c in ax.collections])
    assert alpha.size == 70 and np.all((alpha > 0) & (alpha <= 1))
    _saved(fig, tmp_path, "memberships_2d")


# ------------------------------------------------------ components and corner
def test_plot_components_2d(plane_sweep, tmp_path):
    fig = plot_components_2d(plane_sweep, "dynesty", 2)
    (ax,) = fig.axes
    assert len(ax.collections) == 1  # the scatter
    assert len(ax.patches) == 2 * 2 + 1  # 1σ and 2σ per component, the background box
    _saved(fig, tmp_path, "components")
    fig = plot_components_2d(plane_sweep, "dynesty", 1, error_ellipses=True)
    assert len(fig.axes[0].patches) == 70 + 2 + 1
    plt.close(fig)


def test_plot_components_2d_refuses_one_dimensional_data(galaxy_sweep):
    with pytest.raises(ValueError, match="two-dimensional"):
        plot_components_2d(galaxy_sweep, "dynesty", 2)


@pytest.mark.parametrize(("k", "n_params"), [(1, 2), (3, 9)])
def test_plot_corner(galaxy_sweep, tmp_path, k, n_params):
    fig = plot_corner(galaxy_sweep, "dynesty", k)
    # lower triangle with diagonal: a histogram on the diagonal, the draws of a pair below
    assert len(fig.axes) == n_params * (n_params + 1) // 2
    spans = [(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start)
             for ax in fig.axes]
    assert spans == [(i, j) for i in range(n_params) for j in range(i + 1)]
    for ax, (i, j) in zip(fig.axes, spans, strict=True):
        assert (len(ax.patches), len(ax.lines)) == ((1, 0) if i == j else (0, 1))
        # ticks on the edge panels only (the bottom row, the left column below the top)
        assert bool(len(ax.get_xticks())) == (i == n_params - 1)
        assert bool(len(ax.get_yticks())) == (j == 0 and i > 0)
    # the draws shown: at most MAX_CORNER_POINTS distinct ones, the same in every panel
    if n_params > 1:
        shown = fig.axes[1].lines[0].get_xdata()
        assert 0 < len(np.unique(shown)) <= MAX_CORNER_POINTS
    _saved(fig, tmp_path, f"corner_{k}")


def test_plot_corner_two_dimensional_with_background(plane_sweep):
    fig = plot_corner(plane_sweep, "dynesty", 1)
    n = 2 + 2 + 1  # w_1, w_bg; a mean per axis; one (spherical) sigma
    assert len(fig.axes) == n * (n + 1) // 2
    plt.close(fig)


# ----------------------------------------------------------------------- runs
def test_plot_run(galaxy_sweep, tmp_path):
    run = galaxy_sweep.run(2, "dynesty")
    fig = plot_run(run)
    top, bottom = fig.axes
    log_x = bottom.lines[0].get_xdata()
    assert np.all(log_x <= 0) and np.all(np.diff(log_x) <= 0)
    assert bottom.lines[0].get_ydata().sum() == pytest.approx(1.0)
    assert top.lines[0].get_ydata().max() == pytest.approx(run.logl.max())
    _saved(fig, tmp_path, "run")
