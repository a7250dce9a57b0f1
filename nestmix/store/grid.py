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
from pathlib import Path
from typing import Any

from nestmix.errors import RunStoreError
from nestmix.evidence.arithmetic import bayes_factors, posterior_probabilities
from nestmix.results import EvidenceRow, GridRow, SweepResult
from nestmix.runtime.atomic import write_json_atomic
from nestmix.store.lock import LOCK_NAME
from nestmix.store.runs import GRID_MANIFEST, MANIFEST, SUMMARY
from nestmix.store.summary import load_sweep

#: the config a zero-configuration sweep writes into its directory before the grid starts
ZERO_CONFIG_FILE = "config.toml"

__all__ = ["GRID_MANIFEST", "SAME_AT_K1", "SCREENING", "GridRow", "cell_prior",
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


def load_grid(directory: str | Path) -> SweepResult:
    """The evidence table of a grid directory from the finished runs of its models (a
    :class:`~nestmix.results.SweepResult` of several models: its ``cells``)."""
    manifest = read_grid_manifest(directory)
    models: dict[str, dict] = manifest.get("models") or {}
    if not isinstance(models, dict) or not models:
        raise RunStoreError(f"{Path(directory) / GRID_MANIFEST} is corrupt (it lists no "
                            "models); run the grid again into a new --out")
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
    return SweepResult(name=manifest.get("name", Path(directory).name), directory=str(directory),
                       models=tuple(models), k_values=ks, cells=tuple(rows),
                       missing_cells=tuple(c for c in missing if (c[0], c[1]) not in skipped),
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


def write_grid_summary(directory: str | Path) -> SweepResult:
    """Rebuild the grid's table from its runs and write it to ``summary.json``."""
    result = load_grid(directory)
    write_json_atomic(Path(directory) / SUMMARY, result.to_json())
    return result
