"""The real data sets that ship inside the package, with their provenance.

The files live in ``nestmix/examples/`` (their origin is in ``nestmix/examples/README.md``), so a
clone or an installed wheel has them with nothing beside it. :func:`load` returns a
:class:`Dataset`: the table by column name, where it came from, and what to cite.

>>> from nestmix import datasets
>>> galaxies = datasets.load("galaxies")
>>> galaxies["x"].shape
(82,)
>>> model_data = galaxies.measurements(scale=1e-3)   # velocities in 1000 km/s
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np

from nestmix.data.loaders import load_measurements
from nestmix.data.measurements import Measurements
from nestmix.errors import DataError

__all__ = ["Dataset", "dataset_names", "load"]

_ROEDER = ("Roeder, K. (1990), Density estimation with confidence sets exemplified by "
           "superclusters and voids in the galaxies, JASA 85, 617-624")
_RICHARDSON_GREEN = ("Richardson, S. & Green, P. J. (1997), On Bayesian analysis of mixtures "
                     "with an unknown number of components, JRSS B 59, 731-792")


@dataclass(frozen=True)
class _Entry:
    file: str
    description: str
    units: str
    citation: str
    origin: str


_CATALOGUE: dict[str, _Entry] = {
    "galaxies": _Entry(
        "galaxies_roeder1990.txt",
        "Velocities of 82 galaxies in the Corona Borealis region, as used by Roeder (1990), "
        "Chib (1995) and Richardson & Green (1997); observation 78 is 26960. Divide by 1000 "
        "for the usual units.",
        "km/s", _ROEDER,
        "repository mattiasvillani/MargLikeGibbsOutput.jl, examples/galaxy.jl"),
    "galaxies_mass": _Entry(
        "galaxies_MASS.csv",
        "The same 82 galaxy velocities as shipped in R's MASS package (observation 78 is 26690 "
        "there: a transcription difference from Roeder's table).",
        "km/s", _ROEDER + "; Venables, W. N. & Ripley, B. D. (2002), Modern Applied Statistics "
        "with S, 4th ed., Springer (R package MASS)",
        "repository vincentarelbundock/Rdatasets, csv/MASS/galaxies.csv"),
    "acidity": _Entry(
        "acidity.txt",
        "Log acidity index of 155 lakes in north-central Wisconsin.",
        "log acidity index", _RICHARDSON_GREEN,
        "repository fjmedinaaguayo/tSMC_java, acidity.txt"),
    "enzyme": _Entry(
        "enzyme.txt",
        "Enzymatic activity in the blood of 245 unrelated individuals (slow and fast "
        "metabolisers).",
        "activity", _RICHARDSON_GREEN,
        "repository fjmedinaaguayo/tSMC_java, enzyme.txt"),
    "line_outliers": _Entry(
        "line_outliers.csv",
        "32 points (x, y, y_err) on the straight line y = 3.17 x - 11.9 with 8 outliers drawn "
        "from N(0, 15); is_outlier is the truth, not an input. Published fit (NUTS, 2000 draws; "
        "priors m ~ U(0, 10), b ~ N(0, 25), ln s_out ~ U(-3, 4), Dirichlet(1, 1) weights): "
        "m = 3.137 +- 0.074, b = -11.979 +- 0.449, w_inlier = 0.734 +- 0.085, "
        "ln s_out = 2.324 +- 0.270.",
        "arbitrary", "simulated data; the outlier mixture model is that of Hogg, D. W., Bovy, J. & "
        "Lang, D. (2010), Data analysis recipes: fitting a model to data, arXiv:1008.4686",
        "generated with numpy.random.default_rng(42) following a published tutorial on mixture "
        "models for outliers"),
}


@dataclass(frozen=True)
class Dataset:
    """A bundled data set: its table and where it came from.

    Attributes
    ----------
    name : str
        The name :func:`load` knows it by.
    path : Path
        The bundled file (usable as ``[data] path`` in a sweep config).
    columns : tuple of str
        The table's column names (``("x",)`` for one-value-a-line text files).
    table : Mapping[str, ndarray]
        Each column as a float array of shape ``(N,)`` (read-only).
    description, units, citation, origin : str
        What the values are, their units, the reference to cite and where the file was taken
        from.
    """

    name: str
    path: Path
    columns: tuple[str, ...]
    table: Mapping[str, np.ndarray]
    description: str
    units: str
    citation: str
    origin: str

    def __getitem__(self, column: str) -> np.ndarray:
        try:
            return self.table[column]
        except KeyError:
            raise DataError(f"data set {self.name!r} has no column {column!r}; its columns are "
                            f"{', '.join(self.columns)}") from None

    @property
    def n_rows(self) -> int:
        """The number of rows (points)."""
        return len(self.table[self.columns[0]])

    def measurements(self, columns: Sequence[str] | str | None = None, *,
                     errors: Sequence[str] | str | None = None,
                     scale: float | None = None,
                     extra: Sequence[str] | str | None = None) -> Measurements:
        """The data set as :class:`~nestmix.data.measurements.Measurements`, ready for a model.

        Parameters
        ----------
        columns, errors, extra : sequence of str or str, optional
            CSV data sets only: value columns, their standard deviations and extra columns
            (as :func:`~nestmix.data.loaders.load_measurements`).
        scale : float, optional
            Positive factor multiplying values and errors.
        """
        return load_measurements(self.path, columns=columns, errors=errors, scale=scale,
                                 extra=extra)


def dataset_names() -> tuple[str, ...]:
    """The names :func:`load` accepts."""
    return tuple(_CATALOGUE)


def load(name: str) -> Dataset:
    """Load a bundled real data set by name.

    Parameters
    ----------
    name : str
        One of :func:`dataset_names`: ``galaxies``, ``galaxies_mass``, ``acidity``, ``enzyme``,
        ``line_outliers``.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        If no bundled data set has that name.
    """
    entry = _CATALOGUE.get(name)
    if entry is None:
        raise DataError(f"no bundled data set {name!r}; known: {', '.join(_CATALOGUE)}")
    path = Path(str(resources.files("nestmix.examples") / entry.file))
    columns, table = _read_table(path)
    return Dataset(name=name, path=path, columns=columns, table=MappingProxyType(table),
                   description=entry.description, units=entry.units, citation=entry.citation,
                   origin=entry.origin)


def _read_table(path: Path) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        keep = [i for i, name in enumerate(header) if name]  # R's unnamed index column
        columns = tuple(header[i] for i in keep)
        cells = np.array([[float(row[i]) for i in keep] for row in body])
    else:
        columns, cells = ("x",), np.loadtxt(path, ndmin=2)
    table = {}
    for j, name in enumerate(columns):
        column = np.ascontiguousarray(cells[:, j])
        column.flags.writeable = False
        table[name] = column
    return columns, table
