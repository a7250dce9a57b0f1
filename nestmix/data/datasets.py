"""Data sets: the bundled real ones and seeded simulators of the science cases.

- :func:`load`: a real data set that ships with the package (``galaxies``, ``galaxies_mass``,
  ``acidity``, ``enzyme``, ``line_outliers``), with its provenance and citation
  (:mod:`nestmix.data.bundled`).

- :func:`deconvolution_problem`: noisy draws from a narrow two-component 1-D mixture whose
  noisy histogram shows a single bump.
- :func:`star_cluster_field`: a Gaia-like field around the open cluster NGC 6819 — cluster proper
  motion (−2.91, −3.86) mas/yr and parallax 0.36 mas (Cantat-Gaudin 2020; Hunt & Reffert 2023)
  over a non-Gaussian field whose distances follow an exponentially decreasing space density,
  with magnitude-dependent, correlated Gaia-like errors.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nestmix.data.bundled import Dataset, dataset_names, load
from nestmix.data.measurements import Measurements
from nestmix.errors import DataError

__all__ = ["Dataset", "StarField", "dataset_names", "deconvolution_problem", "load",
           "star_cluster_field"]

NGC6819_PM = (-2.91, -3.86)  # mas/yr
NGC6819_PARALLAX = 0.36  # mas
_KMS_PER_MASYR_KPC = 4.74047  # v [km/s] = 4.74 μ [mas/yr] d [kpc]


@dataclass(frozen=True)
class DeconvolutionProblem:
    """Noisy draws from a known 1-D mixture.

    Attributes
    ----------
    values, errors : ndarray, shape (N,)
        Measurements and their standard deviations.
    true_values : ndarray, shape (N,)
        The noise-free values.
    labels : ndarray of int, shape (N,)
        The component each point was drawn from.
    weights, means, widths : tuple of float
        The true mixture.
    """

    values: np.ndarray
    errors: np.ndarray
    true_values: np.ndarray
    labels: np.ndarray
    weights: tuple[float, ...]
    means: tuple[float, ...]
    widths: tuple[float, ...]

    def measurements(self) -> Measurements:
        """The measurements with their errors, ready for a model."""
        return Measurements.from_arrays(self.values, errors=self.errors, columns=["x"],
                                        source="nestmix.datasets.deconvolution_problem")


def deconvolution_problem(n: int = 300, *, seed: int = 0,
                          weights: tuple[float, ...] = (0.3, 0.7),
                          means: tuple[float, ...] = (0.4, 0.6),
                          widths: tuple[float, ...] = (0.05, 0.05),
                          error_range: tuple[float, float] = (0.01, 0.15)) -> DeconvolutionProblem:
    """Draws from a 1-D Gaussian mixture with per-point noise σ_i ~ U(error_range).

    The defaults are the deconvolution case of the science notebooks: weights 0.3 / 0.7, means
    0.4 / 0.6, widths 0.05, noise between 0.01 and 0.15.
    """
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(weights), size=n, p=np.asarray(weights) / np.sum(weights))
    true = rng.normal(np.take(means, labels), np.take(widths, labels))
    errors = rng.uniform(*error_range, size=n)
    values = true + rng.normal(0.0, errors)
    return DeconvolutionProblem(values=values, errors=errors, true_values=true, labels=labels,
                                weights=tuple(weights), means=tuple(means), widths=tuple(widths))


@dataclass(frozen=True)
class StarField:
    """A simulated Gaia-like catalogue: columns by name and the truth behind them.

    Attributes
    ----------
    columns : dict of str to ndarray
        ``pmra``, ``pmdec``, ``parallax`` (mas/yr, mas/yr, mas), their ``*_error`` columns,
        ``pmra_pmdec_corr`` and ``phot_g_mean_mag``.
    is_member : ndarray of bool
        True for cluster members (the truth, not an input).
    truth : dict
        The simulation's parameters: cluster proper motion, parallax, dispersion, fraction,
        the field's space-density length scale.
    true_values : dict of str to ndarray
        The noise-free ``pmra``, ``pmdec`` and ``parallax`` of every star (the truth, for
        checking shrinkage).
    """

    columns: dict[str, np.ndarray]
    is_member: np.ndarray
    truth: dict = field(default_factory=dict)
    true_values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_stars(self) -> int:
        """Number of stars in the catalogue."""
        return len(self.is_member)

    def subset(self, index: np.ndarray) -> StarField:
        """The stars at ``index`` (integers or a boolean mask), with their truth."""
        index = np.asarray(index)
        return StarField(columns={k: v[index] for k, v in self.columns.items()},
                         is_member=self.is_member[index], truth=dict(self.truth),
                         true_values={k: v[index] for k, v in self.true_values.items()})

    def sample(self, n: int, *, seed: int) -> StarField:
        """A random subsample of ``n`` stars without replacement, in catalogue order."""
        if not 0 < n <= self.n_stars:
            raise DataError(f"a subsample needs 1 to {self.n_stars} stars, got {n}")
        rng = np.random.default_rng(seed)
        return self.subset(np.sort(rng.choice(self.n_stars, size=n, replace=False)))

    def measurements(self, values: tuple[str, ...] = ("pmra", "pmdec")) -> Measurements:
        """Proper motions (or any columns) with Gaia-convention errors and correlations."""
        errors = [self.columns[f"{name}_error"] for name in values]
        correlations = None
        if tuple(values) == ("pmra", "pmdec"):
            correlations = self.columns["pmra_pmdec_corr"]
        data = np.column_stack([self.columns[name] for name in values])
        err = np.column_stack(errors)
        return Measurements.from_arrays(data if len(values) > 1 else data[:, 0],
                                        errors=err if len(values) > 1 else err[:, 0],
                                        correlations=correlations, columns=list(values),
                                        source="nestmix.datasets.star_cluster_field")

    def to_csv(self, path: str | Path) -> None:
        """Write the catalogue (with ``is_member`` last) as CSV."""
        names = list(self.columns)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*names, "is_member"])
            for i in range(len(self.is_member)):
                writer.writerow([f"{self.columns[c][i]:.6g}" for c in names]
                                + [int(self.is_member[i])])


def star_cluster_field(n: int = 15_000, *, seed: int = 0, cluster_fraction: float = 0.08,
                       cluster_pm_dispersion: float = 0.08,
                       length_scale_kpc: float = 1.35) -> StarField:
    """A field of stars around NGC 6819 as Gaia would measure it.

    Parameters
    ----------
    n : int
        Number of stars.
    seed : int
        Seed of the generator: the same seed gives the same catalogue.
    cluster_fraction : float
        Fraction of cluster members.
    cluster_pm_dispersion : float
        Intrinsic proper-motion dispersion of the cluster, mas/yr per axis.
    length_scale_kpc : float
        Length scale L of the field's exponentially decreasing space density (distances
        r ~ r² exp(−r/L)).

    Returns
    -------
    StarField
    """
    rng = np.random.default_rng(seed)
    member = rng.uniform(size=n) < cluster_fraction
    n_member = int(member.sum())
    # magnitudes: both populations rise towards Gaia's faint limit, the field more steeply
    # (a cluster's main sequence spans the whole range at 2.8 kpc; field counts grow faster)
    g_mag = np.where(member, 20.0 - rng.exponential(2.5, n), 20.0 - rng.exponential(1.6, n))
    g_mag = np.clip(g_mag, 10.0, 20.5)
    # Gaia DR3-like precision: ~0.02 mas bright, ~0.5 mas at G = 20; proper motions ~1.1x
    plx_err = 0.02 + 0.5 * 10 ** (0.4 * (g_mag - 20.0))
    pm_err = 1.1 * plx_err[:, None] * rng.uniform(0.8, 1.25, size=(n, 2))
    corr = np.clip(rng.normal(0.0, 0.25, n), -0.8, 0.8)
    # true values: the field's distances from r^2 exp(-r/L), velocities from a disc + halo mix
    distance = rng.gamma(3.0, length_scale_kpc, size=n)
    halo = rng.uniform(size=n) < 0.1
    v_mean = np.where(halo[:, None], np.array([-200.0, -120.0]), np.array([-20.0, -35.0]))
    v_sd = np.where(halo[:, None], 110.0, 35.0) * np.ones((1, 2))
    velocity = rng.normal(v_mean, v_sd)
    pm_true = velocity / (_KMS_PER_MASYR_KPC * distance[:, None])
    plx_true = 1.0 / distance
    pm_true[member] = rng.normal(NGC6819_PM, cluster_pm_dispersion, size=(n_member, 2))
    plx_true[member] = NGC6819_PARALLAX
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0] = pm_err[:, 0] ** 2
    cov[:, 1, 1] = pm_err[:, 1] ** 2
    cov[:, 0, 1] = cov[:, 1, 0] = corr * pm_err[:, 0] * pm_err[:, 1]
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(cov), rng.normal(size=(n, 2)))
    pm = pm_true + noise
    parallax = plx_true + rng.normal(0.0, plx_err)
    columns = {
        "pmra": pm[:, 0], "pmdec": pm[:, 1], "parallax": parallax,
        "pmra_error": pm_err[:, 0], "pmdec_error": pm_err[:, 1], "parallax_error": plx_err,
        "pmra_pmdec_corr": corr, "phot_g_mean_mag": g_mag,
    }
    truth = {"cluster_pm": NGC6819_PM, "cluster_parallax": NGC6819_PARALLAX,
             "cluster_pm_dispersion": cluster_pm_dispersion,
             "cluster_fraction": cluster_fraction, "n_members": n_member,
             "field_length_scale_kpc": length_scale_kpc, "seed": seed}
    true_values = {"pmra": pm_true[:, 0], "pmdec": pm_true[:, 1], "parallax": plx_true}
    return StarField(columns=columns, is_member=member, truth=truth, true_values=true_values)
