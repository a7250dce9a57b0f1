"""Turning an upload (a sweep config and a data file) into a checked job on disk.

Everything a client sends is checked here with nestmix's own validation (the same as
``nestmix sweep``), plus the rules of a shared service: the data file is the upload (a config's
``data.path`` is replaced by it, never read), sweep names stay inside the runs directory, and
only nestmix's built-in components are accepted. A data file sent alone runs the
zero-configuration sweep of ``nestmix sweep points.csv``. Every problem raises a
:class:`~nestmix.errors.ConfigError` naming it.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from nestmix.components import COMPONENT_FAMILIES
from nestmix.errors import ConfigError, NestmixError
from nestmix.runtime.atomic import write_bytes_atomic, write_json_atomic
from nestmix.sweep.config import max_minutes_setting, plan_from_mapping
from nestmix.sweep.plan import SweepPlan

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CONFIG_FILE", "DATA_SUFFIXES", "Submission", "builtin_families", "load_job_plan",
           "parse_config", "prepare_submission", "refuse_custom_components", "sweep_directory"]

CONFIG_FILE = "config.json"
DATA_SUFFIXES = (".csv", ".txt", ".dat", ".npy")


@dataclass(frozen=True)
class Submission:
    """A checked job, its files written to its job directory.

    Attributes
    ----------
    job_id : str
    plan : SweepPlan
        The sweep (a models × K grid when the config lists several models), built from the
        config with the uploaded data.
    job_dir : Path
        ``runs/.service/jobs/<id>/``: ``config.json`` and the data file.
    data_file : str
        Name of the data file in ``job_dir``.
    max_minutes : float or None
        The config's ``sweep.max_minutes`` (``inf``: no limit), None when it has none.
    """

    job_id: str
    plan: SweepPlan
    job_dir: Path
    data_file: str
    max_minutes: float | None = None


def builtin_families() -> tuple[str, ...]:
    """Component families defined by nestmix itself (the only ones accepted over HTTP)."""
    return tuple(sorted(name for name, cls in COMPONENT_FAMILIES.items()
                        if cls.__module__.startswith("nestmix.")))


def parse_config(payload: bytes, filename: str | None = None) -> dict[str, Any]:
    """A sweep config as a mapping: JSON if the file is ``.json`` or starts with ``{``, else TOML.

    Raises
    ------
    ConfigError
        If the text is not UTF-8, not valid TOML / JSON (NaN and infinities are refused in
        JSON), or not a table.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("config", "is not UTF-8 text") from None
    if not text.strip():
        raise ConfigError("config", "is empty")
    if (filename or "").lower().endswith(".json") or text.lstrip().startswith("{"):
        try:
            raw = json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise ConfigError("config", f"is not valid JSON: {exc}") from None
        except RecursionError:
            raise ConfigError("config", "is nested too deeply") from None
        except ValueError as exc:
            raise ConfigError("config", str(exc)) from None
    else:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", f"is not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError("config", "is nested too deeply") from None
    if not isinstance(raw, dict):
        raise ConfigError("config", "must be a table (a JSON object)")
    if _depth(raw) > MAX_DEPTH:
        raise ConfigError("config", f"is nested more than {MAX_DEPTH} levels deep")
    bad = _first_unusable(raw, "")
    if bad is not None:
        key, value = bad
        raise ConfigError(key, f"{value!r} is not a value a sweep config may hold (NaN, "
                          "infinities, dates and times are refused)")
    return raw


MAX_DEPTH = 20  # a sweep config is a few tables deep; anything deeper is not one


def _depth(value: Any) -> int:
    """Nesting depth of tables and arrays, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        children = item.values() if isinstance(item, dict) else (
            item if isinstance(item, list) else ())
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return deepest


def _first_unusable(value: Any, key: str) -> tuple[str, Any] | None:
    """The first (dotted key, value) that is not a finite JSON value, or None."""
    if isinstance(value, dict):
        for k, v in value.items():
            found = _first_unusable(v, f"{key}.{k}" if key else str(k))
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_unusable(v, f"{key}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return key, value
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    return key, value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a config may hold")


def refuse_custom_components(raw: Mapping[str, Any]) -> None:
    """Refuse component families that are not nestmix's own (user Python code).

    Raises
    ------
    ConfigError
        Naming the offending ``model.extra_components[i].family``.
    """
    model = raw.get("model", {})
    extra = model.get("extra_components", []) if isinstance(model, Mapping) else []
    if not isinstance(extra, list):
        return  # the config's own check names this
    allowed = builtin_families()
    for i, table in enumerate(extra):
        family = table.get("family") if isinstance(table, Mapping) else table
        if family is not None and family not in allowed:
            raise ConfigError(f"model.extra_components[{i}].family",
                              f"custom Python components are not accepted over HTTP (got "
                              f"{family!r}); built-in families: {', '.join(allowed)}. Run "
                              "models with your own components with `nestmix sweep` or the "
                              "Python API")


def _plain_file_name(value: Any) -> bool:
    return (isinstance(value, str) and value not in ("", ".", "..")
            and PurePosixPath(value).name == value and PureWindowsPath(value).name == value)


def _data_suffix(filename: str | None) -> str:
    suffix = PurePosixPath(PureWindowsPath(filename or "").name).suffix.lower()
    if suffix == "":
        return ".txt"
    if suffix not in DATA_SUFFIXES:
        raise ConfigError("data", f"unsupported data file type {suffix!r}; upload "
                          f"{', '.join(DATA_SUFFIXES)} (CSV with a header, whitespace-separated "
                          "numbers, or a NumPy array)")
    return suffix


def sweep_directory(runs: Path, name: str) -> Path:
    """``runs/<name>``, refusing any name that would leave the runs directory."""
    if not _plain_file_name(name) or name.startswith("."):
        raise ConfigError("name", f"{name!r} is not a usable sweep name")
    path = (runs / name).resolve()
    if path.parent != runs.resolve():
        raise ConfigError("name", f"{name!r} would leave the runs directory")
    return path


def prepare_submission(runs: Path, jobs_dir: Path, config: bytes | None,
                       config_name: str | None, data: bytes | BinaryIO, data_name: str | None,
                       name: str | None = None, max_processes: int | None = None,
                       zero_config: Mapping[str, Any] | None = None) -> Submission:
    """Check an upload and write its job directory.

    Parameters
    ----------
    runs : Path
        The runs directory (sweeps go in ``runs/<name>``).
    jobs_dir : Path
        Where job directories are made (``runs/.service/jobs``).
    config, config_name : bytes or None, str or None
        The sweep config (TOML or JSON) and its file name. Its ``data.path``, if any, is
        replaced by the upload (a config written by ``nestmix sweep points.csv``, with
        ``path = "../../points.csv"``, is accepted with its data file). None: the
        zero-configuration sweep of the data (:func:`nestmix.sweep.zeroconf.config_for_data`,
        what ``nestmix sweep points.csv`` runs).
    data, data_name : bytes or binary file, str or None
        The data file (its bytes, or an open file copied to disk in chunks) and its file name
        (only its suffix is used: ``.csv``, ``.txt``, ``.dat``, ``.npy``; none means text; and
        its stem, as the name of a zero-configuration sweep).
    name : str, optional
        The sweep's name, overriding the config's; default the config's (a zero-configuration
        sweep: the data file's stem), else ``job-<id>``.
    max_processes : int, optional
        Processes one job may use (the service's ``--workers``): a config asking for a larger
        pool (or more MPI processes) is refused.
    zero_config : mapping, optional
        Without a config only: the options of ``nestmix sweep points.csv`` (``columns``,
        ``kmax``, ``covariance``, ``background``; see
        :func:`~nestmix.sweep.zeroconf.config_for_data`).

    Returns
    -------
    Submission

    Raises
    ------
    ConfigError
        For any problem with the config, the data or the name, naming it.
    """
    given = {key: value for key, value in (zero_config or {}).items() if value is not None}
    if config is not None and given:
        raise ConfigError(next(iter(given)), "only for a data file sent without a config (the "
                          "zero-configuration sweep); with a config, set it in the config")
    raw = None if config is None else _checked_config(config, config_name)
    if isinstance(data, (bytes, bytearray)) and not data:
        raise ConfigError("data", "the uploaded data file is empty")
    job_id = secrets.token_hex(8)
    data_file = "data" + _data_suffix(data_name)
    job_dir = jobs_dir / job_id
    job_dir.mkdir(parents=True)
    try:
        _store_upload(job_dir / data_file, data)
        shown = data_name or data_file
        with _upload_named(job_dir / data_file, shown):
            if raw is None:
                raw = _zero_config(job_dir / data_file, data_name, given)
            table = raw.get("data")
            raw = {**raw, "data": {**(table if isinstance(table, Mapping) else {}),
                                   "path": data_file}}
            if name:
                raw["name"] = name
            raw.setdefault("name", f"job-{job_id[:8]}")
            plan, _ = plan_from_mapping(raw, base=job_dir)
        for component in (c for spec in plan.specs for c in spec.extra_components):
            if not type(component).__module__.startswith("nestmix."):
                raise ConfigError("model.extra_components",
                                  "custom Python components are not accepted over HTTP")
        sweep_directory(runs, plan.name)
        if max_processes is not None:
            check_processes(plan, max_processes)
        write_json_atomic(job_dir / CONFIG_FILE, raw)
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return Submission(job_id=job_id, plan=plan, job_dir=job_dir, data_file=data_file,
                      max_minutes=max_minutes_setting(raw))


def _checked_config(config: bytes, config_name: str | None) -> dict[str, Any]:
    """The config as a mapping, with the rules of a shared service checked."""
    raw = parse_config(config, config_name)
    refuse_custom_components(raw)
    sweep_table = raw.get("sweep")
    if isinstance(sweep_table, Mapping) and sweep_table.get("dask") is not None:
        raise ConfigError("sweep.dask", "a Dask cluster is not chosen over HTTP: the service "
                          "runs every job where `nestmix serve --dask ADDRESS` says")
    table = raw.get("data")
    if isinstance(table, Mapping) and "path" in table and not isinstance(table["path"], str):
        raise ConfigError("data.path", "must be a string (it is replaced by the upload)")
    return raw


def _zero_config(path: Path, data_name: str | None,
                 options: Mapping[str, Any]) -> dict[str, Any]:
    """The config ``nestmix sweep points.csv`` would run, named after the uploaded file."""
    from nestmix.sweep.zeroconf import config_for_data

    try:
        raw = config_for_data(path, base=path.parent, **options)
    except ConfigError as exc:  # named as the form field, not the command's option
        if exc.key is None or not exc.key.startswith("--"):
            raise
        raise ConfigError(exc.key.removeprefix("--"), exc.detail) from None
    stem = PurePosixPath(PureWindowsPath(data_name or "").name).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("._-")[:100]
    if stem:
        raw["name"] = stem
    else:
        del raw["name"]  # job-<id>
    return raw


@contextmanager
def _upload_named(path: Path, shown: str) -> Iterator[None]:
    """Errors about the stored upload name the file the client sent instead (one line, a
    :class:`ConfigError`)."""
    try:
        yield
    except NestmixError as exc:
        text = str(exc)
        for form in (str(path.resolve()), str(path)):
            text = text.replace(form, shown)
        text = re.sub(r"(?<![\w/.-])" + re.escape(path.name) + r"(?![\w.-])",
                      lambda _: shown, text)
        if not isinstance(exc, ConfigError) or text != str(exc):
            raise ConfigError("", text) from None
        raise


def _store_upload(path: Path, data: bytes | BinaryIO) -> None:
    """Write the upload to ``path``: bytes at once, a file in chunks (never whole in memory)."""
    if isinstance(data, (bytes, bytearray)):
        write_bytes_atomic(path, bytes(data))
        return
    data.seek(0)
    with open(path, "wb") as handle:
        shutil.copyfileobj(data, handle, 2**20)
    if path.stat().st_size == 0:
        raise ConfigError("data", "the uploaded data file is empty")


def check_processes(plan: SweepPlan, limit: int) -> None:
    """Refuse a plan whose runs would each start more than ``limit`` processes (a dynesty
    ``pool``, PolyChord's ``mpi``): over HTTP the service's limit wins over the client's.

    Raises
    ------
    ConfigError
    """
    from nestmix.samplers import get_sampler

    for sampler in plan.samplers:
        asked = get_sampler(sampler).processes_started(plan.settings_for(sampler))
        if asked > limit:
            raise ConfigError(f"sweep.{sampler}", f"asks for {asked} processes per run; this "
                              f"service runs at most {limit} per job (nestmix serve --workers)")


def load_job_plan(job_dir: Path) -> SweepPlan:
    """The plan of a job from its directory (what the worker runs)."""
    raw = json.loads((job_dir / CONFIG_FILE).read_text())
    plan, _ = plan_from_mapping(raw, base=job_dir)
    return plan
