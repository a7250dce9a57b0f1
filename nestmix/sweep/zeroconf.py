"""Zero-configuration sweeps: ``nestmix sweep points.csv`` with a data file in place of a config.

:func:`config_for_data` reads a data file's columns and writes the configuration a user would
have written: numeric columns as values; ``<column>_error`` / ``<column>_err`` as their standard
deviations and Gaia's ``<a>_<b>_corr`` as their correlations; the models × K grid of every
covariance model (all four in D >= 2, ``full`` and ``tied`` in 1-D) for K = 1..:data:`DEFAULT_KMAX`
(without a background unless asked for); default priors from the data. :func:`config_toml`
writes it as TOML, which the sweep keeps in its directory so the run can be edited and rerun.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nestmix.errors import ConfigError
from nestmix.model.spec import BACKGROUNDS, COVARIANCE_TYPES

__all__ = ["DATA_SUFFIXES", "DEFAULT_BACKGROUNDS", "DEFAULT_KMAX", "DEFAULT_NLIVE",
           "config_for_data", "config_toml", "is_data_file"]

DATA_SUFFIXES = (".csv", ".txt", ".dat", ".npy")
DEFAULT_KMAX = 4
"""K = 1..4 unless ``--kmax`` says otherwise: a K = 4 run costs 0.8M (tied) to 2.1M (full)
likelihood calls on 500 points of make_blobs at nlive 100, and K = 5 about twice that."""
DEFAULT_BACKGROUNDS = ("none",)
"""Models without a background unless ``--background none,uniform`` (twice the runs)."""
DEFAULT_NLIVE = 100
"""Live points of each run: ln Z errors of about 0.6 on make_blobs (500 points); a fifth of
dynesty's default cost. Where a component is nearly empty the runs scatter more than that:
tied K = 4 on make_blobs random_state 2 gave −1965.39 to −1961.33 over five seeds (standard
deviation 1.8, three times the reported 0.65; nlive 500: −1963.87 ± 0.31), so a lead of a
nat or two between K and K + 1 at this nlive is not a decision (``benchmarks/README.md``)."""
_ERROR_SUFFIXES = ("_error", "_err")
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def is_data_file(path: str | Path) -> bool:
    """True for a data file (by its suffix) rather than a TOML configuration."""
    return Path(path).suffix.lower() in DATA_SUFFIXES


def config_for_data(path: str | Path, *, base: str | Path, columns: Sequence[str] | None = None,
                    kmax: int | None = None, covariance: Sequence[str] | None = None,
                    background: Sequence[str] | None = None) -> dict[str, Any]:
    """The configuration of a zero-configuration sweep of a data file.

    Parameters
    ----------
    path : str or Path
        The data file (``.csv`` with a header; ``.txt``/``.dat``/``.npy``: every column a value).
    base : str or Path
        The directory the configuration will live in; the data path is written relative to it.
    columns : sequence of str, optional
        CSV only: the value columns (default: every numeric column that is not an error or a
        correlation).
    kmax : int, optional
        Largest K (default :data:`DEFAULT_KMAX`).
    covariance : sequence of str, optional
        The covariance models (default: ``full`` and ``tied`` in 1-D, all four otherwise).
    background : sequence of str, optional
        ``none`` and/or ``uniform`` (default :data:`DEFAULT_BACKGROUNDS`).

    Returns
    -------
    dict
        A configuration mapping, as :func:`nestmix.sweep.plan_from_mapping` takes it.

    Raises
    ------
    ConfigError
        Naming the option or column that is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"data file not found: {path}")
    data: dict[str, Any] = {"path": _relative(path, Path(base))}
    if path.suffix.lower() == ".csv":
        values, errors, correlations = _csv_columns(path, columns)
        data["columns"] = values
        if errors:
            data["errors"] = errors
        if correlations:
            data["correlations"] = correlations
        n_dims = len(values)
    else:
        if columns:
            raise ConfigError("--columns", f"column names need a CSV file with a header; "
                                           f"{path.name} has none")
        n_dims = _text_dims(path)
    if kmax is not None and (isinstance(kmax, bool) or kmax < 1):
        raise ConfigError("--kmax", f"must be an integer >= 1, got {kmax}")
    covs = list(covariance) if covariance else (
        ["full", "tied"] if n_dims == 1 else list(COVARIANCE_TYPES))
    bad = [c for c in covs if c not in COVARIANCE_TYPES]
    if bad or len(set(covs)) != len(covs):
        raise ConfigError("--covariance", f"give distinct models among "
                                          f"{', '.join(COVARIANCE_TYPES)}, got {', '.join(covs)}")
    bgs = list(background) if background else list(DEFAULT_BACKGROUNDS)
    if any(b not in BACKGROUNDS for b in bgs) or len(set(bgs)) != len(bgs):
        raise ConfigError("--background", f"give distinct values among {', '.join(BACKGROUNDS)}"
                                          f", got {', '.join(bgs)}")
    name = _NAME.sub("_", path.stem).lstrip("._-") or "data"
    return {"name": name[:100], "data": data,
            "model": {"covariance": covs, "background": bgs},
            "sweep": {"kmax": kmax or DEFAULT_KMAX, "sampler": "dynesty",
                      "nlive": DEFAULT_NLIVE, "seed": 1}}


def _relative(path: Path, base: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), base.resolve())


def _csv_columns(path: Path, chosen: Sequence[str] | None
                 ) -> tuple[list[str], list[str], list[str]]:
    """(value, error, correlation) columns of a CSV file by the naming conventions."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            first = next(reader, [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError("", f"cannot read data file {path}: {exc}") from None
    if not header or not first:
        raise ConfigError("", f"{path} needs a header row and at least one data row")
    numeric = [h for h, cell in zip(header, first, strict=False) if h and _is_number(cell)]
    auxiliary = {h for h in numeric if h.endswith((*_ERROR_SUFFIXES, "_corr"))}
    values = list(chosen) if chosen else [h for h in numeric if h not in auxiliary]
    unknown = [c for c in values if c not in numeric]
    if unknown:
        raise ConfigError("--columns", f"no numeric column {unknown[0]!r} in {path.name}; "
                                       f"numeric columns: {', '.join(numeric)}")
    if not values:
        raise ConfigError("--columns", f"{path.name} has no numeric value columns")
    errors = [next((c + s for s in _ERROR_SUFFIXES if c + s in numeric), "") for c in values]
    if any(errors) and not all(errors):
        lacking = values[errors.index("")]
        raise ConfigError("data.errors", f"{path.name} has error columns for some value "
                                         f"columns but none for {lacking!r} (expected "
                                         f"{lacking}_error or {lacking}_err)")
    pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1:]]
    corr = [f"{a}_{b}_corr" if f"{a}_{b}_corr" in numeric else
            f"{b}_{a}_corr" if f"{b}_{a}_corr" in numeric else "" for a, b in pairs]
    if any(corr) and not all(errors):
        raise ConfigError("data.correlations", f"{path.name} has correlation columns but no "
                                               "error columns")
    if any(corr) and not all(corr):
        a, b = pairs[corr.index("")]
        raise ConfigError("data.correlations", f"{path.name} has correlation columns for some "
                                               f"pairs but not {a}_{b}_corr")
    return values, errors if all(errors) else [], corr if all(corr) else []


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _text_dims(path: Path) -> int:
    from nestmix.errors import DataError
    from nestmix.loaders import load_measurements

    try:
        return load_measurements(path).n_dims
    except DataError as exc:
        raise ConfigError("data", str(exc)) from None


def config_toml(config: Mapping[str, Any], header: str = "") -> str:
    """A configuration mapping (strings, numbers, lists and tables) as TOML text."""
    lines = [f"# {line}" for line in header.splitlines()]
    top = {k: v for k, v in config.items() if not isinstance(v, Mapping)}
    lines += [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for table, body in config.items():
        if isinstance(body, Mapping):
            lines += ["", f"[{table}]", *(f"{k} = {_toml_value(v)}" for k, v in body.items())]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
