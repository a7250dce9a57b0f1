"""Zero-configuration sweeps: ``nestmix sweep points.csv`` with a data file in place of a config.

:func:`config_for_data` reads a data file's columns and writes the configuration a user would
have written: numeric columns as values; ``<column>_error`` / ``<column>_err`` as their standard
deviations and Gaia's ``<a>_<b>_corr`` as their correlations; the models × K grid of every
covariance model (all four in D >= 2, ``full`` and ``tied`` in 1-D) for K = 1..:data:`DEFAULT_KMAX`
(without a background unless asked for); default priors from the data. :func:`config_toml`
writes it as TOML, which the sweep keeps in its directory so the run can be edited and rerun.
:class:`PendingConfig` writes it there only once every check of the directory has passed: a
refused zero-configuration sweep leaves nothing behind, and a ``config.toml`` holding anything
else (the user's own, or an edited one) is never overwritten.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nestmix.data.loaders import CSV_SUFFIXES, csv_delimiter, delimiter_name, unnamed_column_problem
from nestmix.errors import ConfigError, RunStoreError
from nestmix.model.spec import BACKGROUNDS, COVARIANCE_TYPES
from nestmix.samplers import DEFAULT_SAMPLER
from nestmix.store.runs import MANIFEST, ZERO_CONFIG_FILE, RunStore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from nestmix.sweep.plan import SweepPlan

__all__ = ["DATA_SUFFIXES", "DEFAULT_BACKGROUNDS", "DEFAULT_KMAX", "DEFAULT_NLIVE",
           "NLIVE_PER_NDIM", "PendingConfig", "check_directory", "config_for_data",
           "config_toml", "is_data_file", "zero_config_nlive"]

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".npy")
DEFAULT_KMAX = 4
"""K = 1..4 unless ``--kmax`` says otherwise: a K = 4 run costs 0.8M (tied) to 2.1M (full)
likelihood calls on 500 points of make_blobs at nlive 100, and K = 5 about twice that."""
DEFAULT_BACKGROUNDS = ("none",)
"""Models without a background unless ``--background none,uniform`` (twice the runs)."""
DEFAULT_NLIVE = 50
"""Live points of each run, unless the grid's largest model needs more (:func:`zero_config_nlive`).

Calls grow with the live points and ln Z errors shrink only as their square root, so a
zero-configuration grid runs shallow and relies on its checks for precision: every row's ln Z
is estimated a second time by bridge sampling (errors of 0.02–0.09 nats on the 2-D benchmark of
``benchmarks/time_to_answer.py``, against the nested sampler's 0.6–1.2), rows that may miss
mass are marked, contenders are refined by deeper runs (twice the live points), and a verdict
whose deciding rows could not be checked says that it cannot name a best (model, K)
(:func:`nestmix.report.grid.grid_verdict`). Measured on that benchmark (500 2-D points, four
models × K = 1..4): nlive 100 spent 9.26 M likelihood calls and 209.5 CPU s; nlive 50 4.98 M
calls (one deeper run, for a row that missed its mode) and 135.9 CPU s, the same verdict (full
K = 4, ln Z −1848.82 ± 1.22 against its bridge estimate −1851.73 ± 0.06, checked), 30 nats
ahead of the runner-up. Close calls cost more: on make_blobs, tied K = 4 at nlive 100 scattered
by 1.8 over five seeds (three times its reported 0.65), so a lead of a nat or two is not a
decision at this depth — the contenders' deeper runs decide it (``benchmarks/README.md``)."""
NLIVE_PER_NDIM = 2
"""dynesty calls ``nlive <= 2 * ndim`` "extremely risky" (a bound fitted to too few points):
:func:`zero_config_nlive` keeps above it for the grid's largest model."""
_ERROR_SUFFIXES = ("_error", "_err")
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def zero_config_nlive(n_dims: int, kmax: int, backgrounds: Sequence[str] = ("none",)) -> int:
    """The live points of a zero-configuration grid: :data:`DEFAULT_NLIVE`, or more (a
    multiple of 10) when the largest model of the grid — full covariances at ``kmax``, with a
    background weight if any — has ``ndim`` with ``nlive <= 2 * ndim``.

    Parameters
    ----------
    n_dims : int
        Dimensions of the data.
    kmax : int
        Largest K of the grid.
    backgrounds : sequence of str
        The grid's backgrounds (``none``, ``uniform``).

    Returns
    -------
    int
        50 for K ≤ 4 in 1-D and 2-D; 80 for K = 4 in 3-D (39 parameters).
    """
    per_component = n_dims + n_dims * (n_dims + 1) // 2 + 1  # mean, covariance, weight
    ndim = kmax * per_component - 1 + (1 if any(b != "none" for b in backgrounds) else 0)
    needed = NLIVE_PER_NDIM * ndim + 1
    return max(DEFAULT_NLIVE, -(-needed // 10) * 10)


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
        The data file (``.csv`` or ``.tsv`` with a header, comma-, semicolon- or
        tab-separated; ``.txt``/``.dat``/``.npy``: every column a value).
    base : str or Path
        The directory the configuration will live in; the data path is written relative to it.
    columns : sequence of str, optional
        CSV only: the value columns (default: every numeric column that is not an error or a
        correlation); none, or an empty name, is refused.
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
    if columns is not None and (not columns or not all(c.strip() for c in columns)):
        raise ConfigError("--columns", f"give column names separated by commas, got "
                                       f"{','.join(columns)!r}")
    data: dict[str, Any] = {"path": _relative(path, Path(base))}
    if path.suffix.lower() in CSV_SUFFIXES:
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
            "sweep": {"kmax": kmax or DEFAULT_KMAX, "sampler": DEFAULT_SAMPLER,
                      "nlive": zero_config_nlive(n_dims, kmax or DEFAULT_KMAX, bgs),
                      "seed": 1}}


def _relative(path: Path, base: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), base.resolve())


def _csv_columns(path: Path, chosen: Sequence[str] | None
                 ) -> tuple[list[str], list[str], list[str]]:
    """(value, error, correlation) columns of a CSV file by the naming conventions."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            delimiter = csv_delimiter(path, handle.readline())
            handle.seek(0)
            reader = csv.reader(handle, delimiter=delimiter)
            header = [h.strip() for h in next(reader, [])]
            first = next(reader, [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError("", f"cannot read data file {path}: {exc}") from None
    if not header or not first:
        raise ConfigError("", f"{path} needs a header row and at least one data row")
    if chosen is None:
        problem = unnamed_column_problem(path, header, [first], delimiter)
        if problem is not None:
            raise ConfigError("", problem)
    numeric = [h for h, cell in zip(header, first, strict=False) if h and _is_number(cell)]
    auxiliary = {h for h in numeric if h.endswith((*_ERROR_SUFFIXES, "_corr"))}
    values = list(chosen) if chosen else [h for h in numeric if h not in auxiliary]
    unknown = [c for c in values if c not in numeric]
    if unknown:
        raise ConfigError("--columns", f"no numeric column {unknown[0]!r} in {path.name}; "
                                       f"numeric columns: {', '.join(numeric)}")
    if not values:
        raise ConfigError("--columns", f"{path.name} has no numeric value columns (read as "
                                       f"{delimiter_name(delimiter)}-separated with "
                                       f"{len(header)} column{'s' if len(header) > 1 else ''}"
                                       f": {delimiter.join(header)!r})")
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
    from nestmix.data.loaders import load_measurements
    from nestmix.errors import DataError

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


@dataclass(frozen=True)
class PendingConfig:
    """The configuration of a zero-configuration sweep, to be written into its directory.

    Attributes
    ----------
    directory : Path
        The sweep's directory.
    config : dict
        The configuration (:func:`config_for_data`).
    text : str
        The same as TOML, with its header (:func:`config_toml`).
    """

    directory: Path
    config: dict
    text: str

    @property
    def path(self) -> Path:
        """Where it goes: ``<directory>/config.toml``."""
        return self.directory / ZERO_CONFIG_FILE

    def needs_writing(self) -> bool:
        """False when ``config.toml`` holds this configuration already, True when there is none.

        Raises
        ------
        ConfigError
            If ``config.toml`` is there but is not a file, cannot be read, or holds another
            configuration (the user's own, one they edited, or one written with other
            options): it is never overwritten.
        """
        path = self.path
        if not path.exists() and not path.is_symlink():
            return True
        try:
            held = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            held = None
        if held == tomllib.loads(self.text):
            return False
        if held is None:
            raise ConfigError("", f"{path} is there already and is not a configuration nestmix "
                                  "wrote; refusing to overwrite it: give --out a new or empty "
                                  "directory")
        raise ConfigError("", f"{path} is there already and holds another configuration (your "
                              "own, an edited one, or one written with other options); refusing "
                              f"to overwrite it: run `nestmix sweep {path}` to use it, delete it "
                              "to write this one, or give --out a new or empty directory")

    def write(self, plan: SweepPlan) -> bool:
        """Check that the directory takes ``plan``'s sweep (:func:`check_directory`) and that
        ``config.toml`` is new or the same, then write it (atomically); nothing is written
        when a check fails.

        Returns
        -------
        bool
            Whether the file was written (False: it held this configuration already).

        Raises
        ------
        ConfigError, RunStoreError
            As :meth:`needs_writing` and :func:`check_directory`.
        """
        from nestmix.runtime.atomic import write_text_atomic

        check_directory(plan, self.directory)
        if not self.needs_writing():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, self.text)
        return True


def check_directory(plan: SweepPlan, directory: str | Path) -> None:
    """The checks a sweep makes of its directory before it writes there, writing nothing.

    The directory must be new, empty (but for a ``config.toml``) or a sweep of the same kind
    (one model, or a models × K grid) made from the same data, model and settings, and no
    sweep may be running in it.

    Raises
    ------
    RunStoreError
        Naming the directory and what is wrong with it.
    """
    from nestmix.samplers import get_sampler
    from nestmix.store.grid import is_grid

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RunStoreError(f"{directory} is a file, not a directory: give --out a new or empty "
                            "directory")
    ignored = {name: get_sampler(name).execution_settings for name in plan.samplers}
    if not plan.is_grid:
        if is_grid(directory):
            raise RunStoreError(f"{directory} holds a models × K grid; a single-model sweep may "
                                "not be mixed into it: choose another directory with --out.")
        RunStore(directory).check_resumable(plan.manifest(), plan.samplers, ignored)
        return
    if (directory / MANIFEST).exists():
        raise RunStoreError(f"{directory} holds a single-model sweep, not a models × K grid. "
                            "Refusing to mix results: choose another directory with --out.")
    if not is_grid(directory):
        RunStore(directory).check_ours()
    from nestmix.store.lock import check_not_locked

    check_not_locked(directory)
    for _, sub, where in plan.model_sweeps(directory):
        RunStore(where).check_resumable(sub.manifest(), sub.samplers, ignored)
