"""The evidence table of a models × K grid: one sweep directory per model inside the grid's.

A grid sweep lives in ``runs/<name>/`` with ``grid.json`` (its models and K values),
``summary.json`` (every (model, K, sampler) row, with ``model``) and one ordinary sweep
directory per model, ``model=<covariance>[+<background>]/`` (``K=<k>/<sampler>/`` inside, as in
a single-model sweep, so each model is resumable and readable on its own). Bayes factors and
P(model, K | data) are computed over the whole grid, within each sampler's rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nestmix.errors import RunStoreError
from nestmix.evidence.arithmetic import bayes_factors, posterior_probabilities
from nestmix.results import EvidenceRow, SweepResult
from nestmix.runtime.atomic import write_json_atomic
from nestmix.store.lock import LOCK_NAME
from nestmix.store.runs import GRID_MANIFEST, MANIFEST, SUMMARY
from nestmix.store.summary import load_sweep

#: the config a zero-configuration sweep writes into its directory before the grid starts
ZERO_CONFIG_FILE = "config.toml"

__all__ = ["GRID_MANIFEST", "SAME_AT_K1", "SCREENING", "GridResult", "GridRow", "cell_prior",
           "is_grid", "load_grid", "model_directory", "model_label", "read_screening",
           "write_grid_summary", "write_screening"]

#: Covariance models that are one model at K = 1 (one component: its covariance is the shared one).
SAME_AT_K1 = ("full", "tied")
#: What a coarse-to-fine grid decided not to run, and why (:func:`write_screening`).
SCREENING = "screening.json"


def model_label(covariance: str, background: str) -> str:
    """``tied`` or ``tied+uniform``: a model's name in tables and its directory."""
    return covariance if background == "none" else f"{covariance}+{background}"


def model_directory(directory: str | Path, label: str) -> Path:
    """The sweep directory of one model of a grid."""
    return Path(directory) / f"model={label}"


def is_grid(directory: str | Path) -> bool:
    """True when ``directory`` holds a models × K grid (a ``grid.json``)."""
    return (Path(directory) / GRID_MANIFEST).is_file()


@dataclass(frozen=True)
class GridRow:
    """One (model, K, sampler) of a grid.

    Attributes
    ----------
    model : str
        The model's label (``tied``, ``full+uniform``).
    covariance, background : str
    row : EvidenceRow
        The row of the model's own sweep (its ``ln_bf`` and ``p_k`` are within the model).
    ln_bf, ln_bf_err : float
        ln Bayes factor against the best (model, K) of the same sampler, and its error.
    p, p_err : float
        P(model, K | data) over the grid (uniform prior over the cells), and its error.
    """

    model: str
    covariance: str
    background: str
    row: EvidenceRow
    ln_bf: float
    ln_bf_err: float
    p: float
    p_err: float

    def to_dict(self) -> dict:
        """Flat JSON-able form: the model, the sweep row's fields, then the grid's own."""
        return {"model": self.model, "covariance": self.covariance,
                "background": self.background, **self.row.to_dict(),
                "ln_bf_grid": self.ln_bf, "ln_bf_grid_err": self.ln_bf_err,
                "p_model_k": self.p, "p_model_k_err": self.p_err}

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> GridRow:
        """Inverse of :meth:`to_dict`."""
        own = ("model", "covariance", "background", "ln_bf_grid", "ln_bf_grid_err",
               "p_model_k", "p_model_k_err")
        return cls(model=obj["model"], covariance=obj["covariance"],
                   background=obj["background"],
                   row=EvidenceRow.from_dict({k: v for k, v in obj.items() if k not in own}),
                   ln_bf=obj["ln_bf_grid"], ln_bf_err=obj["ln_bf_grid_err"],
                   p=obj["p_model_k"], p_err=obj["p_model_k_err"])


@dataclass(frozen=True)
class GridResult:
    """The evidence table of a models × K grid.

    Attributes
    ----------
    name : str
    directory : str
    models : tuple of str
        The model labels, in the grid's order.
    k_values : tuple of int
    rows : tuple of GridRow
        One per finished (model, K, sampler), by sampler, model, K.
    missing : tuple of (str, int, str)
        (model, K, sampler) asked for but not (yet) finished.
    sweeps : mapping
        The model label → that model's :class:`SweepResult`.
    screened : tuple of (str, int, str)
        (model, K, why) the coarse-to-fine grid decided not to run
        (:mod:`nestmix.sweep.screening`); not missing, and said so in the report.
    """

    name: str
    directory: str
    models: tuple[str, ...]
    k_values: tuple[int, ...]
    rows: tuple[GridRow, ...]
    missing: tuple[tuple[str, int, str], ...] = ()
    sweeps: Mapping[str, SweepResult] | None = None
    screened: tuple[tuple[str, int, str], ...] = ()

    @property
    def samplers(self) -> tuple[str, ...]:
        """Samplers with finished rows, sorted."""
        return tuple(sorted({r.row.sampler for r in self.rows}))

    def best(self, sampler: str | None = None) -> GridRow:
        """The (model, K) with the highest log-evidence (of one sampler, if given)."""
        rows = [r for r in self.rows if sampler is None or r.row.sampler == sampler]
        if not rows:
            raise ValueError("the grid has no finished runs")
        return max(rows, key=lambda r: r.row.logZ)

    def to_json(self) -> dict:
        """JSON-able form, as written to the grid's ``summary.json``."""
        return {"name": self.name, "directory": self.directory, "grid": True,
                "models": list(self.models), "k_values": list(self.k_values),
                "rows": [r.to_dict() for r in self.rows],
                "missing": [{"model": m, "k": k, "sampler": s} for m, k, s in self.missing],
                "screened": [{"model": m, "k": k, "why": w} for m, k, w in self.screened]}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> GridResult:
        """Inverse of :meth:`to_json` (without the per-model sweeps)."""
        return cls(name=obj["name"], directory=obj.get("directory", ""),
                   models=tuple(obj["models"]), k_values=tuple(obj["k_values"]),
                   rows=tuple(GridRow.from_dict(r) for r in obj["rows"]),
                   missing=tuple((m["model"], m["k"], m["sampler"])
                                 for m in obj.get("missing", [])),
                   screened=tuple((m["model"], m["k"], m["why"])
                                  for m in obj.get("screened", [])))


def read_grid_manifest(directory: str | Path) -> dict:
    """The grid's ``grid.json``."""
    path = Path(directory) / GRID_MANIFEST
    if not path.is_file():
        raise RunStoreError(f"{directory} is not a nestmix grid sweep (no {GRID_MANIFEST})")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunStoreError(f"cannot read {path}: {exc}") from exc


def prepare_grid(directory: str | Path, manifest: Mapping[str, Any]) -> None:
    """Create a grid directory or check it may be resumed, and record ``grid.json``.

    Models may be added to a grid later (their directories are new sweeps); a directory that
    holds a single-model sweep is refused.
    """
    directory = Path(directory)
    if (directory / MANIFEST).exists():
        raise RunStoreError(f"{directory} holds a single-model sweep, not a models × K grid. "
                            "Refusing to mix results: choose another directory with --out.")
    if directory.is_dir() and not is_grid(directory):
        foreign = sorted(p.name for p in directory.iterdir()
                         if p.name not in (LOCK_NAME, ZERO_CONFIG_FILE))
        if foreign:  # nestmix never writes into, or deletes from, a directory it did not make
            raise RunStoreError(
                f"{directory} is not empty ({foreign[0]!r}) and is not a nestmix sweep: "
                "refusing to write into it; give --out a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    old = read_grid_manifest(directory) if is_grid(directory) else {}
    merged = {**manifest, "models": {**old.get("models", {}), **manifest["models"]}}
    write_json_atomic(directory / GRID_MANIFEST, merged)


def load_grid(directory: str | Path) -> GridResult:
    """The evidence table of a grid directory from the finished runs of its models."""
    manifest = read_grid_manifest(directory)
    models: dict[str, dict] = manifest["models"]
    ks = tuple(manifest.get("k_values", []))
    screened = read_screening(directory)
    sweeps: dict[str, SweepResult] = {}
    cells: list[tuple[str, dict, EvidenceRow]] = []
    missing: list[tuple[str, int, str]] = []
    for label, info in models.items():
        sub = model_directory(directory, label)
        if not (sub / MANIFEST).exists():
            missing += [(label, k, s) for s in manifest.get("samplers", []) for k in ks]
            continue
        result = load_sweep(sub)
        sweeps[label] = result
        cells += [(label, info, row) for row in result.rows]
        missing += [(label, k, s) for k, s in result.missing]
    rows: list[GridRow] = []
    for sampler in sorted({row.sampler for _, _, row in cells}):
        mine = [c for c in cells if c[2].sampler == sampler]
        logz = [row.logZ for _, _, row in mine]
        err = [row.logZ_err for _, _, row in mine]
        ln_bf, ln_bf_err = bayes_factors(logz, err)
        prior = cell_prior([(info["covariance"], info["background"], row.k)
                            for _, info, row in mine])
        p, p_err = posterior_probabilities(logz, err, prior)
        rows += [GridRow(model=label, covariance=info["covariance"],
                         background=info["background"], row=row, ln_bf=float(ln_bf[i]),
                         ln_bf_err=float(ln_bf_err[i]), p=float(p[i]), p_err=float(p_err[i]))
                 for i, (label, info, row) in enumerate(mine)]
    skipped = {(m, k) for m, k, _ in screened}
    return GridResult(name=manifest.get("name", Path(directory).name), directory=str(directory),
                      models=tuple(models), k_values=ks, rows=tuple(rows),
                      missing=tuple(c for c in missing if (c[0], c[1]) not in skipped),
                      sweeps=sweeps,
                      screened=tuple(c for c in screened if c[0] in models and c[1] in ks))


def read_screening(directory: str | Path) -> tuple[tuple[str, int, str], ...]:
    """The (model, K, why) a coarse-to-fine grid left out, from its :data:`SCREENING` file
    (none when there is none or it cannot be read: every K then counts as missing)."""
    try:
        record = json.loads((Path(directory) / SCREENING).read_text())
        return tuple((str(c["model"]), int(c["k"]), str(c["why"]))
                     for c in record.get("screened", []))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return ()


def write_screening(directory: str | Path, screened: Sequence[tuple[str, int, str]],
                    rule: str) -> None:
    """Record, atomically, the (model, K, why) a coarse-to-fine grid left out and its rule."""
    write_json_atomic(Path(directory) / SCREENING, {
        "rule": rule, "screened": [{"model": m, "k": k, "why": w} for m, k, w in screened]})


def cell_prior(cells: Sequence[tuple[str, str, int]]) -> list[float]:
    """Prior weights of a grid's (covariance, background, K) cells: uniform over distinct models.

    At K = 1 the covariance models of :data:`SAME_AT_K1` are one model; their cells share one
    cell's prior (each gets 1 / n of it), so running the same model twice does not double its
    prior probability.

    Parameters
    ----------
    cells : sequence of (covariance, background, K)

    Returns
    -------
    list of float
        One weight per cell (not normalised).
    """
    same: dict[str, int] = {}
    for covariance, background, k in cells:
        if k == 1 and covariance in SAME_AT_K1:
            same[background] = same.get(background, 0) + 1
    return [1.0 / same[background] if k == 1 and covariance in SAME_AT_K1 else 1.0
            for covariance, background, k in cells]


def write_grid_summary(directory: str | Path) -> GridResult:
    """Rebuild the grid's table from its runs and write it to ``summary.json``."""
    result = load_grid(directory)
    write_json_atomic(Path(directory) / SUMMARY, result.to_json())
    return result
