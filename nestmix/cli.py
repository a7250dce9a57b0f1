"""The ``nestmix`` command line: ``nestmix sweep``, ``nestmix show`` and ``nestmix report``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from nestmix._version import __version__
from nestmix.errors import NestmixError, disk_problem
from nestmix.samplers import all_samplers, get_sampler
from nestmix.samplers.base import SweepOption

if TYPE_CHECKING:
    from nestmix.report.build import ReportFiles
    from nestmix.results import SweepResult
    from nestmix.sweep.plan import SweepPlan
    from nestmix.sweep.zeroconf import PendingConfig

__all__ = ["main"]

EXAMPLES = ("galaxies",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for any input error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NestmixError as exc:
        print(f"nestmix: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        line = disk_problem(exc)
        if line is None:
            raise
        print(f"nestmix: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nestmix: interrupted; finished runs are kept, run the same command to resume",
              file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nestmix",
        description="How many mixture components do my data need? Log-evidences for "
                    "K = 1..N from nested sampling.")
    parser.add_argument("--version", action="version", version=f"nestmix {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sweep = sub.add_parser("sweep", help="run (or resume) a sweep over K from a TOML config, "
                                         "or over models and K from a data file")
    sweep.add_argument("config", nargs="?",
                       help="the sweep's TOML configuration file, or a data file (.csv, .txt, "
                            ".dat, .npy) to sweep every covariance model × K with default "
                            "priors (the config used is written into the sweep's directory)")
    sweep.add_argument("--columns", help="with a CSV data file: the value columns, comma-"
                                         "separated (default: every numeric column that is not "
                                         "an *_error, *_err or *_corr column)")
    sweep.add_argument("--kmax", type=int, help="with a data file: the largest K (default 4)")
    sweep.add_argument("--covariance", help="with a data file: the covariance models, comma-"
                                            "separated (default: full,diag,spherical,tied; "
                                            "full,tied in 1-D)")
    sweep.add_argument("--background", help="with a data file: none and/or uniform, comma-"
                                            "separated (default: none)")
    sweep.add_argument("--example", choices=EXAMPLES,
                       help="run a bundled example instead of a config file")
    sweep.add_argument("--out", help="the sweep's directory (default: runs/<name>)")
    sweep.add_argument("--jobs", type=int, help="worker processes (default: sweep.jobs, "
                       "else the number of cores)")
    sweep.add_argument("--dask", metavar="ADDRESS",
                       help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. "
                            "tcp://host:8786; default: sweep.dask); --out must be on storage "
                            "every worker sees under the same path")
    sweep.add_argument("--local", action="store_true",
                       help="run on this machine even if the config names a Dask cluster")
    sweep.add_argument("--escalate", type=int, metavar="N",
                       help="deeper runs (twice the live points each) the convergence check "
                            "may add to each K whose ln Z may miss a mode (default: "
                            "sweep.escalate, else 1; 0: none)")
    for adapter in all_samplers():
        for option in adapter.sweep_options:
            sweep.add_argument(option.flag, type=int, metavar=option.metavar, help=option.help,
                               dest=_option_dest(adapter.name, option))
    sweep.add_argument("--quiet", action="store_true", help="print only the final table")
    sweep.add_argument("--no-report", action="store_true",
                       help="do not write the report (report.html, report.md, CSV tables)")
    sweep.add_argument("--max-minutes", type=float, metavar="M",
                       help="refuse to start when the cost estimate printed before the first "
                            "run is above M minutes (default: 30 with a data file; with a "
                            "config, its sweep.max_minutes, else none; 0: no limit)")
    sweep.set_defaults(func=_sweep)

    show = sub.add_parser("show", help="print the evidence table of a sweep directory")
    show.add_argument("directory")
    show.set_defaults(func=_show)

    report = sub.add_parser(
        "report", help="write report.html, report.md (figures in report/) and the tables as "
                       "CSV into a sweep directory")
    report.add_argument("directory")
    report.add_argument("--seed", type=int, default=0,
                        help="seed of the posterior draws behind the predictive figures")
    report.add_argument("--no-figures", action="store_true", help="tables and verdict only")
    report.set_defaults(func=_report)

    for adapter in all_samplers():
        adapter.add_commands(sub)

    serve = sub.add_parser(
        "serve", help="run the model-selection service: submit sweeps over HTTP, watch them, "
                      "read their reports (web page at /, API description at /docs)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default loopback; any other needs a token)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--runs", default="runs", help="the runs directory (default: runs)")
    serve.add_argument("--workers", type=int,
                       help="jobs running at once (default: the number of cores)")
    serve.add_argument("--token", help="required on every request but /health, at least 8 "
                       "characters (default: $NESTMIX_TOKEN)")
    serve.add_argument("--db", help="SQLAlchemy database URL (default: a SQLite file in "
                       "<runs>/.service/)")
    serve.add_argument("--max-upload-mb", type=float, default=50.0,
                       help="largest upload, config and data together (default: 50)")
    serve.add_argument("--dask", metavar="ADDRESS",
                       help="run every job's tasks on this Dask scheduler, e.g. "
                            "tcp://host:8786 (--runs must be on storage its workers see)")
    serve.add_argument("--max-minutes", type=float, metavar="M",
                       help="refuse any job whose cost estimate is above M minutes (jobs ask "
                            "for their own limit, 30 by default; default: no cap)")
    serve.set_defaults(func=_serve)
    return parser


def _sweep(args: argparse.Namespace) -> int:
    from nestmix.errors import ConfigError
    from nestmix.report.build import sweep_and_report

    if (args.config is None) == (args.example is None):
        raise ConfigError("", "give a config file or --example NAME (one of them)")
    for adapter in all_samplers():
        problem = adapter.launch_problem()
        if problem is not None:
            raise ConfigError("", problem)
    from nestmix.sweep.zeroconf import is_data_file

    zero_config = args.config is not None and is_data_file(args.config)
    for flag in ("columns", "kmax", "covariance", "background"):
        if getattr(args, flag) is not None and not zero_config:
            raise ConfigError(f"--{flag}", "only with a data file in place of a config")
    limit = None  # a config's sweep.max_minutes
    if args.example is not None:
        with resources.as_file(resources.files("nestmix.examples")
                               / f"{args.example}.toml") as path:
            plan, jobs, limit = _load_config(path)
    elif zero_config:
        plan, jobs, pending = _zero_config(args)
    else:
        plan, jobs, limit = _load_config(args.config)
    plan = _with_sampler_options(plan, args)
    if args.escalate is not None:
        if args.escalate < 0:
            raise ConfigError("--escalate", f"must be an integer >= 0, got {args.escalate}")
        import dataclasses

        plan = dataclasses.replace(plan, escalate=args.escalate)
    n_jobs = args.jobs if args.jobs is not None else (jobs or _default_jobs(plan))
    if n_jobs < 1:
        raise ConfigError("--jobs", f"must be a positive integer, got {n_jobs}")
    if args.dask is not None and args.local:
        raise ConfigError("--dask", "give --dask ADDRESS or --local, not both")
    if args.dask is not None and not args.dask.strip():
        raise ConfigError("--dask", "give the Dask scheduler's address, e.g. tcp://host:8786")
    directory = Path(args.out) if args.out else Path("runs") / plan.name
    progress = None if args.quiet else (lambda line: print(line, flush=True))
    target = False if args.local else args.dask
    if args.local or (args.dask is None and not plan.dask):  # a Dask cluster's cores: unknown
        _check_cost(plan, n_jobs, directory, args, zero_config, limit)
    if zero_config:  # written only now that every check has passed (issue 33, N2/N3)
        pending.write(plan)
        if not args.quiet:
            print(f"config: {pending.path} (default priors from the data; edit it to rerun)",
                  flush=True)
    from nestmix.cli_progress import LiveProgress

    with LiveProgress(directory) if progress is not None else nullcontext():
        outcome = sweep_and_report(plan, directory, n_jobs=n_jobs, progress=progress,
                                   dask=target, report=not args.no_report)
    table = _format(outcome.result)
    print()
    print(table)
    if outcome.report_error is not None:  # the runs are safe on disk; `nestmix report` retries
        print(f"nestmix: warning: the report could not be written ({outcome.report_error}); "
              f"try `nestmix report {directory}`", file=sys.stderr)
    elif outcome.report is not None:
        print()
        _print_report(outcome.report, shown=table)
    return 0


def _load_config(path: str | Path) -> tuple[SweepPlan, int | None, float | None]:
    """A config file's plan, ``sweep.jobs`` and ``sweep.max_minutes``."""
    from nestmix.sweep.config import max_minutes_setting, plan_from_mapping, read_config

    raw = read_config(path)
    plan, jobs = plan_from_mapping(raw, base=Path(path).parent, default_name=Path(path).stem)
    return plan, jobs, max_minutes_setting(raw)


def _zero_config(args: argparse.Namespace) -> tuple[SweepPlan, int | None, PendingConfig]:
    """The plan of ``nestmix sweep points.csv``, and its config for ``<out>/config.toml``
    (written by the caller once every check has passed; nothing is written here)."""
    from nestmix.sweep.config import plan_from_mapping
    from nestmix.sweep.zeroconf import PendingConfig, config_for_data, config_toml

    def split(text: str | None) -> list[str] | None:
        return None if text is None else [c.strip() for c in text.split(",") if c.strip()]

    columns = None if args.columns is None else [c.strip() for c in args.columns.split(",")]
    options = {"columns": columns, "kmax": args.kmax,
               "covariance": split(args.covariance), "background": split(args.background)}
    name = config_for_data(args.config, base=".", **options)["name"]
    directory = Path(args.out) if args.out else Path("runs") / name
    config = config_for_data(args.config, base=directory, **options)
    path = directory / "config.toml"
    rerun = f"nestmix sweep {path}" + (f" --out {args.out}" if args.out else "")
    pending = PendingConfig(directory, config, config_toml(config, header=(
        f"Written by `nestmix sweep {args.config}`: edit it and run `{rerun}`.")))
    pending.needs_writing()  # the user's own config.toml is refused before anything else
    plan, jobs = plan_from_mapping(config, base=directory, default_name="config")
    return plan, jobs, pending


def _option_dest(sampler: str, option: SweepOption) -> str:
    return f"{sampler}_{option.setting}"


def _with_sampler_options(plan: SweepPlan, args: argparse.Namespace) -> SweepPlan:
    """``plan`` with the settings given by the samplers' own ``nestmix sweep`` options."""
    import dataclasses

    from nestmix.errors import ConfigError

    settings = dict(plan.settings)
    for adapter in all_samplers():
        for option in adapter.sweep_options:
            value = getattr(args, _option_dest(adapter.name, option), None)
            if value is None:
                continue
            if value < option.minimum:
                raise ConfigError(option.flag, f"{option.too_small}, got {value}")
            if adapter.name not in plan.samplers:
                raise ConfigError(option.flag, f"{option.purpose}, but this sweep runs only "
                                               f"{', '.join(plan.samplers)}")
            settings[adapter.name] = {**settings.get(adapter.name, {}), option.setting: value}
    return plan if settings == dict(plan.settings) else dataclasses.replace(plan,
                                                                            settings=settings)


def _default_jobs(plan: SweepPlan) -> int:
    """One worker per core, or per N cores when one run takes N processes."""
    processes = max(get_sampler(name).processes_per_run(plan.settings_for(name))
                    for name in plan.samplers)
    return max(1, (os.cpu_count() or 1) // processes)


def _check_cost(plan: SweepPlan, n_jobs: int, directory: Path, args: argparse.Namespace,
                zero_config: bool, configured: float | None = None) -> None:
    """Print the sweep's cost estimate; refuse (nothing written) above ``--max-minutes`` (else
    the config's ``sweep.max_minutes``, ``configured``)."""
    import math

    from nestmix.errors import ConfigError
    from nestmix.sweep.cost import (
        DEFAULT_MAX_MINUTES,
        check_max_minutes,
        estimate_cost,
        kernels_cached,
        refusal,
    )

    if args.max_minutes is not None:
        limit = check_max_minutes(args.max_minutes, "--max-minutes")
    elif configured is not None:
        limit = configured
    else:
        limit = DEFAULT_MAX_MINUTES if zero_config else math.inf
    if not args.quiet and not kernels_cached():
        print("nestmix: compiling the likelihood kernels for this machine (once, about a "
              "minute; cached afterwards)", file=sys.stderr, flush=True)
    estimate = estimate_cost(plan, n_jobs, directory if directory.is_dir() else None)
    if not estimate.runs:
        return
    from_config = args.max_minutes is None and configured is not None
    problem = refusal(estimate, limit, zero_config=zero_config, lift=(
        "raise sweep.max_minutes or give --max-minutes (0: no limit)" if from_config else None))
    if problem is not None:
        raise ConfigError("sweep.max_minutes" if from_config else "--max-minutes", problem)
    if not args.quiet:
        print(f"cost: {estimate.line()} (estimated from a pilot of the likelihood)",
              flush=True)


def _show(args: argparse.Namespace) -> int:
    from nestmix.store.grid import is_grid, load_grid
    from nestmix.store.summary import load_sweep

    grid = is_grid(args.directory)
    print(_format(load_grid(args.directory) if grid else load_sweep(args.directory)))
    return 0


def _format(result: SweepResult) -> str:
    from nestmix.report.grid import format_grid_table
    from nestmix.report.table import format_table
    return (format_grid_table(result) if result.is_grid
            else format_table(result))


def _report(args: argparse.Namespace) -> int:
    from nestmix.report.build import write_report

    _print_report(write_report(args.directory, seed=args.seed, figures=not args.no_figures))
    return 0


def _print_report(files: ReportFiles, shown: str = "") -> None:
    """Where the report went, and its warnings in full (those not in ``shown``, the text
    printed before)."""
    print(f"report: {files.html}")
    where = f" (figures in {files.figures[0].parent}/)" if files.figures else " (no figures)"
    print(f"        {files.markdown}{where}")
    print(f"tables: {', '.join(str(p) for p in files.csv)}")
    if files.warnings:
        fresh = [w for w in files.warnings if w not in shown]
        above = len(files.warnings) - len(fresh)
        print(f"{len(files.warnings)} warning{'s' if len(files.warnings) > 1 else ''} in the "
              "report" + (f" ({above} printed above)" if above else "") + (":" if fresh else ""))
        for warning in fresh:
            print(f"  - {warning}")


def _serve(args: argparse.Namespace) -> int:
    from nestmix.extras import require
    from nestmix.service import ServiceSettings

    require("service", "nestmix serve")

    settings = ServiceSettings.from_options(
        runs=args.runs, host=args.host, port=args.port, workers=args.workers,
        token=args.token, database=args.db, max_upload_mb=args.max_upload_mb, dask=args.dask,
        max_minutes=args.max_minutes)
    from nestmix.service.app import serve

    return serve(settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
