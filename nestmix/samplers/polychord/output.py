"""Read what PolyChord wrote: the ``.stats`` file and the per-cluster posterior files.

The dead points themselves are read with anesthetic's ``read_chains`` (in the adapter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nestmix.errors import SamplerError
from nestmix.results import Cluster

__all__ = ["Stats", "read_clusters", "read_stats", "unit_cube_names", "write_paramnames"]

_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?|[-+]?(?:Infinity|NaN))"
_GLOBAL = re.compile(rf"^log\(Z\)\s*=\s*{_NUMBER}\s*\+/-\s*{_NUMBER}", re.MULTILINE)
_LOCAL = re.compile(rf"^log\(Z_\s*(\d+)\)\s*=\s*{_NUMBER}\s*\+/-\s*{_NUMBER}", re.MULTILINE)
_COUNT = re.compile(r"^\s*(ndead|nlike|nposterior|nequals|nlive):\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Stats:
    """The evidences and counters of a ``<root>.stats`` file.

    Attributes
    ----------
    logz, logz_err : float
        Global log-evidence and its error.
    local : tuple of (int, float, float)
        (cluster number, local log-evidence, error) for every cluster.
    ndead, nlike : int
        Dead points and likelihood calls over the whole run (resumed parts included).
    """

    logz: float
    logz_err: float
    local: tuple[tuple[int, float, float], ...]
    ndead: int
    nlike: int


def _float(text: str) -> float:
    return float(text.replace("D", "E").replace("d", "e"))


def read_stats(root: str | Path) -> Stats:
    """Parse ``<root>.stats``.

    Raises
    ------
    SamplerError
        If the file is missing or has no global evidence.
    """
    path = Path(f"{root}.stats")
    try:
        text = path.read_text()
    except OSError as exc:
        raise SamplerError(f"PolyChord wrote no statistics file {path}: {exc}") from exc
    found = _GLOBAL.search(text)
    if found is None:
        raise SamplerError(f"no global log(Z) in {path}")
    counts = {name: int(value) for name, value in _COUNT.findall(text)}
    local = tuple((int(i), _float(z), _float(e)) for i, z, e in _LOCAL.findall(text))
    return Stats(logz=_float(found.group(1)), logz_err=_float(found.group(2)), local=local,
                 ndead=counts.get("ndead", 0), nlike=counts.get("nlike", 0))


def read_clusters(base_dir: str | Path, file_root: str, stats: Stats,
                  ndim: int) -> tuple[Cluster, ...]:
    """One :class:`~nestmix.results.Cluster` per local evidence, with its posterior samples.

    Samples and weights come from ``clusters/<root>_<i>.txt`` (columns: weight, −2 log L,
    parameters); a cluster without such a file gets empty arrays.
    """
    clusters = []
    for index, logz, logz_err in stats.local:
        path = Path(base_dir) / "clusters" / f"{file_root}_{index}.txt"
        data = np.loadtxt(path, ndmin=2) if path.exists() else np.empty((0, ndim + 2))
        if data.size == 0:
            data = np.empty((0, ndim + 2))
        clusters.append(Cluster(index=index, logz=logz, logz_err=logz_err,
                                samples=data[:, 2:2 + ndim], weights=data[:, 0]))
    return tuple(clusters)


def unit_cube_names(ndim: int) -> tuple[str, ...]:
    """Names of the derived parameters that hold the unit-cube coordinates."""
    return tuple(f"unit_cube_{i}" for i in range(ndim))


def write_paramnames(root: str | Path, names: tuple[str, ...],
                     derived: tuple[str, ...] = ()) -> None:
    """Write ``<root>.paramnames`` (getdist format) so anesthetic names the columns.

    ``derived`` names follow, marked with getdist's ``*``; nestmix's derived parameters are
    the unit-cube coordinates of every point (:func:`unit_cube_names`, LaTeX ``u_{i}``).
    """
    lines = [f"{name}\t{_latex(name)}" for name in names]
    lines += [f"{name}*\tu_{{{name.rsplit('_', 1)[-1]}}}" for name in derived]
    Path(f"{root}.paramnames").write_text("\n".join(lines) + "\n")


def _latex(name: str) -> str:
    head, _, tail = name.partition("_")
    return f"{head}_{{{tail}}}" if tail else name
