"""Sweep configuration files (TOML): parse, check every key, and build a :class:`SweepPlan`.

Every problem is a :class:`~nestmix.errors.ConfigError` naming the offending key.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nestmix.components import make_component
from nestmix.data.loaders import load_measurements
from nestmix.errors import (
    ConfigError,
    DataError,
    ModelError,
    NestmixError,
    PriorError,
    SamplerError,
)
from nestmix.model.spec import ModelSpec
from nestmix.samplers import DEFAULT_SAMPLER
from nestmix.sweep.plan import DEFAULT_ESCALATE, SweepPlan

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_config", "max_minutes_setting", "plan_from_mapping", "read_config"]

_TOP = {"name", "data", "model", "sweep"}
_DATA = {"path", "columns", "errors", "correlations", "scale", "extra"}
_MODEL = {"components", "covariance", "background", "order", "priors", "background_box",
          "extra_components"}
_SWEEP_OWN = {"k", "kmax", "sampler", "seed", "jobs", "k_prior", "relabel", "repeats", "dask",
              "escalate", "max_minutes"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def load_config(path: str | Path) -> tuple[SweepPlan, int | None]:
    """Read a sweep configuration file.

    Parameters
    ----------
    path : str or Path
        TOML file; the data path inside it is relative to the file.

    Returns
    -------
    plan : SweepPlan
        Of several models (a models × K grid) when ``model.covariance`` or
        ``model.background`` lists more than one.
    jobs : int or None
        ``sweep.jobs`` if given.

    Raises
    ------
    ConfigError
        For a missing or unreadable file, invalid TOML, unknown keys or bad values.
    """
    path = Path(path)
    return plan_from_mapping(read_config(path), base=path.parent, default_name=path.stem)


def read_config(path: str | Path) -> dict[str, Any]:
    """A sweep configuration file's TOML as a mapping (nothing checked but the TOML).

    Raises
    ------
    ConfigError
        For a missing or unreadable file, or invalid TOML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError("", f"{path} is nested too deeply to read") from None


def max_minutes_setting(raw: Mapping[str, Any]) -> float | None:
    """``sweep.max_minutes`` of a configuration mapping: the most minutes the cost estimate
    before the first run may show (:mod:`nestmix.sweep.cost`); ``inf`` for 0 (no limit), None
    when not given. It does not change the runs, so it is not part of their fingerprints:
    changing it never stops a sweep from resuming.

    Raises
    ------
    ConfigError
        Naming ``sweep.max_minutes``, for anything but a number >= 0.
    """
    from nestmix.sweep.cost import check_max_minutes

    sweep = raw.get("sweep")
    if not isinstance(sweep, Mapping) or "max_minutes" not in sweep:
        return None
    return check_max_minutes(sweep["max_minutes"], "sweep.max_minutes")


def plan_from_mapping(raw: Mapping[str, Any], base: str | Path = ".",
                      default_name: str = "sweep") -> tuple[SweepPlan, int | None]:
    """Build a :class:`SweepPlan` (of one model or several) from an already parsed
    configuration mapping."""
    _check_keys("", raw, _TOP)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError("name", f"{name!r} is not a usable sweep name (letters, digits, "
                          "'_', '-', '.'; not starting with '.')")
    data = _load_data(_table(raw, "data", required=True), Path(base))
    model = _table(raw, "model")
    _check_keys("model", model, _MODEL)
    priors = _table(model, "priors", key="model.priors")
    covariances, backgrounds = _choices(model, "covariance", "full"), _choices(
        model, "background", "none")
    try:
        specs = [ModelSpec(
            components=model.get("components", "gaussian"),
            covariance=covariance, background=background,
            order=model.get("order", "none"),
            priors=priors,
            background_box=(_box(model.get("background_box")) if background == "uniform"
                            or len(backgrounds) == 1 else None),
            extra_components=_extra_components(model.get("extra_components", [])),
        ) for covariance in covariances for background in backgrounds]
    except (ModelError, PriorError) as exc:
        raise _as_config_error(exc, "model") from exc
    spec = specs[0]
    sweep = _table(raw, "sweep")
    ks = _k_values(sweep, least=0 if spec.extra_components else 1)
    sampler = sweep.get("sampler", DEFAULT_SAMPLER)
    if isinstance(sampler, list):
        sampler = tuple(sampler)
    seed = sweep.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("sweep.seed", f"must be a non-negative integer, got {seed!r}")
    max_minutes_setting(raw)  # checked here; the command and the service read it
    jobs = sweep.get("jobs")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError("sweep.jobs", f"must be a positive integer, got {jobs!r}")
    settings = {key: value for key, value in sweep.items() if key not in _SWEEP_OWN}
    try:  # K, repeats, dask, the samplers and their settings are checked by the plan
        common = dict(name=name, data=data, k_values=ks, sampler=sampler, settings=settings,
                      seed=seed, k_prior=sweep.get("k_prior"),
                      relabel=sweep.get("relabel", "hungarian"),
                      repeats=sweep.get("repeats", 1), dask=sweep.get("dask"),
                      escalate=sweep.get("escalate", DEFAULT_ESCALATE))
        plan = SweepPlan(specs=tuple(specs), **common)
    except SamplerError as exc:
        raise _as_config_error(exc, "sweep") from exc
    except (ModelError, PriorError, DataError) as exc:
        raise _as_config_error(exc, "model") from exc
    return plan, jobs


def _load_data(table: Mapping[str, Any], base: Path):
    _check_keys("data", table, _DATA)
    if "path" not in table:
        raise ConfigError("data.path", "missing: the data file to read")
    if not isinstance(table["path"], str):
        raise ConfigError("data.path", "must be a string")
    for key in ("columns", "errors", "correlations", "extra"):
        value = table.get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(v, str) for v in value)):
            raise ConfigError(f"data.{key}", "must be a list of column names")
    scale = table.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise ConfigError("data.scale", f"must be a number, got {scale!r}")
    path = (base / table["path"]).resolve()
    try:
        return load_measurements(path, columns=table.get("columns"), errors=table.get("errors"),
                                 correlations=table.get("correlations"), scale=scale,
                                 extra=table.get("extra"))
    except DataError as exc:
        raise ConfigError("data", str(exc)) from exc


def _choices(model: Mapping[str, Any], key: str, default: str) -> list[str]:
    """``model.<key>`` as a list: one value, or a list of them (a models × K grid)."""
    value = model.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not values or len(set(map(str, values))) != len(values):
        raise ConfigError(f"model.{key}", f"give one value or a list of distinct values, got "
                                          f"{value!r}")
    return values


def _extra_components(value: Any) -> tuple:
    """Built-in components from ``[[model.extra_components]]`` tables (family, name, priors,
    and the family's options)."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError("model.extra_components", "must be an array of tables "
                          "([[model.extra_components]] with family, name, priors)")
    out = []
    for i, table in enumerate(value):
        key = f"model.extra_components[{i}]"
        family = table.get("family")
        if not isinstance(family, str):
            raise ConfigError(f"{key}.family", "missing: the component family, e.g. \"line\"")
        name = table.get("name", family)
        if not isinstance(name, str):
            raise ConfigError(f"{key}.name", f"must be a string, got {name!r}")
        priors = _table(table, "priors", key=f"{key}.priors")
        options = {k: v for k, v in table.items() if k not in ("family", "name", "priors")}
        out.append(make_component(family, name=name, priors=priors, key=key, **options))
    return tuple(out)


def _k_values(sweep: Mapping[str, Any], least: int = 1) -> tuple[int, ...]:
    """K values from ``k`` or ``kmax``; ``least`` is 0 when custom components exist."""
    if "k" in sweep and "kmax" in sweep:
        raise ConfigError("sweep.k", "give either k (a list) or kmax, not both")
    if "kmax" in sweep:
        kmax = sweep["kmax"]
        if isinstance(kmax, bool) or not isinstance(kmax, int) or kmax < 1:
            raise ConfigError("sweep.kmax", f"must be an integer >= 1, got {kmax!r}")
        return tuple(range(1, kmax + 1))
    ks = sweep.get("k", [1, 2, 3])
    if isinstance(ks, int) and not isinstance(ks, bool):
        ks = [ks]
    if not isinstance(ks, list):
        raise ConfigError("sweep.k", f"must be a list of integers >= {least}, got {ks!r}")
    return tuple(ks)


def _box(value: Any):
    if value is None:
        return None
    if not isinstance(value, list):
        raise ConfigError("model.background_box", "must be a list of [lower, upper] pairs")
    return tuple(tuple(v) if isinstance(v, list) else v for v in value)


def _table(raw: Mapping[str, Any], name: str, required: bool = False,
           key: str | None = None) -> Mapping[str, Any]:
    key = key or name
    if name not in raw:
        if required:
            raise ConfigError(key, "missing table")
        return {}
    value = raw[name]
    if not isinstance(value, Mapping):
        raise ConfigError(key, "must be a table")
    return value


def _check_keys(prefix: str, table: Mapping[str, Any], valid: set[str]) -> None:
    unknown = sorted(set(table) - valid)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(key, f"unknown key; valid keys{' in [' + prefix + ']' if prefix else ''}"
                          f": {', '.join(sorted(valid))}")


def _as_config_error(exc: NestmixError, default_key: str) -> ConfigError:
    """``exc`` as a ConfigError naming the key it carries, else ``default_key``."""
    if exc.key:
        return ConfigError(exc.key, exc.detail)
    return ConfigError(default_key, str(exc))
