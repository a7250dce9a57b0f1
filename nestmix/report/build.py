"""The evidence report of a sweep: verdict, tables, figures and model averaging.

:func:`write_report` opens a sweep directory and writes, each file atomically,

- ``report.html``: self-contained (CSS inline, figures as base64 PNG data URIs, no scripts, no
  external requests), to open offline in any browser;
- ``report.md``: the same verdict and tables, with the figures as PNG files in ``report/``;
- the tables as CSV at full precision: ``evidence.csv``, ``modes.csv``, ``agreement.csv``
  (when several samplers ran the same K) and ``memberships_<sampler>.csv`` (model-averaged).

A figure that fails to draw is recorded in the report's warnings; the report goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nestmix.report.assignments import with_assignments
from nestmix.report.document import Report, ReportFigure, Table
from nestmix.report.files import FIGURE_DIR, Maker, ReportFiles, remove_stale, written_before
from nestmix.report.files import render_figure as _render
from nestmix.report.files import write_file as _write
from nestmix.report.fit import compact_evidence
from nestmix.report.paths import compiled_path_fact
from nestmix.report.tables import (
    agreement_table,
    evidence_table,
    evidence_warnings,
    membership_table,
    modes_table,
    verdict,
)
from nestmix.results import SweepResult, rows_by_sampler
from nestmix.store.archive import SweepArchive, open_sweep

if TYPE_CHECKING:
    from nestmix.sweep.plan import SweepPlan

__all__ = ["Report", "ReportFigure", "ReportFiles", "SweepOutcome", "build_report",
           "sweep_and_report", "write_report"]



def write_report(directory: str | Path, *, seed: int = 0, figures: bool = True) -> ReportFiles:
    """Write ``report.html``, ``report.md``, its figures and the CSV tables into a sweep.

    Parameters
    ----------
    directory : str or Path
        A sweep directory, finished or partly finished.
    seed : int
        Seed of the posterior draws behind the predictive figures (reports are reproducible).
    figures : bool
        False to write the tables and verdict only.

    Returns
    -------
    ReportFiles

    Raises
    ------
    RunStoreError
        If ``directory`` is not a nestmix sweep.
    """
    from nestmix.store.grid import is_grid
    from nestmix.store.lock import sweep_lock
    from nestmix.store.runs import RunStore

    if not is_grid(directory):
        RunStore(directory).manifest()  # a sweep directory, or a one-line refusal first
    with sweep_lock(directory, "nestmix report"):  # one writer: not while a sweep writes
        return _write_report(Path(directory), seed=seed, figures=figures)


def _write_report(directory: Path, *, seed: int, figures: bool,
                  figures_note: str = "") -> ReportFiles:
    """:func:`write_report` without the lock; ``figures_note`` (with ``figures`` False) says
    on the page why it has no figures and how to draw them (a grid's trailing models)."""
    from nestmix.report.render import render_html, render_markdown
    from nestmix.store.grid import is_grid
    from nestmix.store.runs import RunStore

    directory = Path(directory)
    if is_grid(directory):  # a models × K grid: its own report, and each model's
        from nestmix.report.grid import write_grid_report

        return write_grid_report(directory, seed=seed, figures=figures,
                                 model_report=_write_report)
    archive = open_sweep(directory)
    RunStore(directory).write_summary(archive.result)  # summary.json agrees with the report
    report = build_report(archive, seed=seed, figures=figures)
    if figures_note and not figures:
        report = replace(report, facts=(*report.facts, ("figures", figures_note)))
    figure_dir = directory / FIGURE_DIR
    before = written_before(directory)  # what the last report wrote: only those may go
    pngs = []
    for figure in report.figures:
        pngs.append(figure_dir / f"{figure.name}.png")
        _write(pngs[-1], figure.png)
    csvs = []
    for table in (*report.tables, *report.averaging):
        csvs.append(directory / f"{table.name}.csv")
        _write(csvs[-1], table.csv().encode("utf-8"))
    from nestmix.posterior.exports import write_posterior_csvs

    csvs += write_posterior_csvs(archive, _write)
    markdown = directory / "report.md"
    _write(markdown, render_markdown(report, FIGURE_DIR).encode("utf-8"))
    page = directory / "report.html"
    _write(page, render_html(report).encode("utf-8"))
    # figures and tables the last report wrote and this one did not (a K no longer there,
    # a sampler removed); nothing else, whoever made it (issue 33, N5)
    remove_stale(directory, before, [*pngs, *csvs, markdown, page])
    return ReportFiles(html=page, markdown=markdown, csv=tuple(csvs), figures=tuple(pngs),
                       warnings=report.warnings, verdict=tuple(report.verdict))


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`sweep_and_report` did.

    Attributes
    ----------
    result : SweepResult
        The sweep's evidence table (a grid's for a plan of several models).
    report : ReportFiles or None
        Where the report went; None when it was not asked for or could not be written.
    report_error : str or None
        Why the report could not be written (the runs are safe on disk and
        ``nestmix report`` can try again), else None.
    """

    result: SweepResult
    report: ReportFiles | None
    report_error: str | None


def sweep_and_report(plan: SweepPlan, directory: str | Path, *, n_jobs: int = 1,
                     progress: Callable[[str], None] | None = None, dask: Any = None,
                     report: bool = True, figures: bool = True) -> SweepOutcome:
    """Run (or resume) a sweep, then write its report: what ``nestmix sweep`` and the
    service's jobs do.

    Parameters
    ----------
    plan, directory, n_jobs, progress, dask
        As for :func:`nestmix.sweep.run_sweep`, whose errors propagate.
    report : bool
        False to skip the report.
    figures : bool
        False to write the report without figures.

    Returns
    -------
    SweepOutcome
        A failure to write the report is returned, not raised: the runs are on disk.
    """
    from nestmix.sweep.run import run_sweep

    result = run_sweep(plan, directory, n_jobs=n_jobs, progress=progress, dask=dask)
    if not report:
        return SweepOutcome(result, None, None)
    try:
        files = write_report(directory, figures=figures)
    except Exception as exc:  # the runs are safe on disk; `nestmix report` can retry
        return SweepOutcome(result, None, f"{type(exc).__name__}: {exc}")
    return SweepOutcome(result, files, None)


def build_report(archive: SweepArchive, *, seed: int = 0, figures: bool = True) -> Report:
    """Assemble the report of an opened sweep (nothing is written).

    Parameters
    ----------
    archive : SweepArchive
    seed : int
        Seed of the posterior draws behind the predictive figures.
    figures : bool
        False to skip drawing figures.

    Returns
    -------
    Report
    """
    result = archive.result
    notes: list[str] = []
    tables = [compact_evidence(evidence_table(result), result)]
    agreement = agreement_table(result)
    if agreement is not None:
        tables.append(agreement)
    modes = modes_table(result, _dims(archive), _component_names(archive))
    if modes is not None:
        tables.append(modes)
    drawn = _draw_figures(archive, seed, notes) if figures and result.rows else []
    averaging, averaging_notes = _averaging(archive, notes)
    headline, words = verdict(result)
    prior_tables, prior_words = _priors(archive, notes)
    tables += prior_tables
    k_values = archive.manifest.get("k_values") or []
    return Report(
        name=result.name, directory=str(archive.directory), facts=_facts(archive),
        headline=headline, verdict=(*words, *prior_words),
        warnings=(*evidence_warnings(result, k_values), *notes), missing=result.missing,
        tables=tuple(tables),
        averaging=tuple(averaging), averaging_notes=tuple(averaging_notes),
        figures=tuple(drawn), downloads=_downloads(archive, (*tables, *averaging)))


def _downloads(archive: SweepArchive, tables: tuple[Table, ...]) -> tuple[tuple[str, str], ...]:
    """The CSV files :func:`write_report` writes, for the report's list of files."""
    from nestmix.posterior.exports import posterior_csv_name

    out = [(t.title, f"{t.name}.csv") for t in tables]
    if archive.spec is not None and archive.data is not None:
        out += [(f"relabelled posterior samples of K = {row.k} ({row.sampler})",
                 posterior_csv_name(row.k, row.sampler))
                for row in sorted(archive.result.rows, key=lambda r: (r.sampler, r.k))]
    return tuple(out)


def _priors(archive: SweepArchive, notes: list[str]) -> tuple[list[Table], list[str]]:
    """The priors table, the prior-sensitivity table and its sentences for the verdict."""
    from nestmix.report import priors

    rows = priors.sensitivity_rows(archive, notes)
    tables = [t for t in (priors.prior_table(archive), priors.sensitivity_table(rows))
              if t is not None]
    return tables, priors.sensitivity_verdict(rows)


def _facts(archive: SweepArchive) -> tuple[tuple[str, str], ...]:
    manifest, result = archive.manifest, archive.result
    data = manifest.get("data", {})
    model = manifest.get("model", {})
    facts = [("data", f"{data.get('n_points', '?')} points in {data.get('n_dims', '?')} "
                      f"dimension(s) ({', '.join(data.get('columns', [])) or 'values'}) from "
                      f"{data.get('source') or 'memory'}"),
             ("model", f"{model.get('components', 'gaussian')} components, covariance "
                       f"{model.get('covariance', '?')}, background "
                       f"{model.get('background', 'none')}, order {model.get('order', 'none')}"
                       + "".join(f" + {c.get('name', 'custom')}" if isinstance(c, dict)
                                 else "" for c in model.get("extra_components", [])))]
    for name, info in sorted(manifest.get("samplers", {}).items()):
        settings = _settings_as_run(archive, name, info.get("settings", {}))
        facts.append((f"sampler {name}", f"seed {info.get('seed')}; {settings}"))
    facts.append(("K", ", ".join(str(k) for k in manifest.get("k_values", []))
                  + ("" if manifest.get("k_prior") is None
                     else f" (prior {manifest['k_prior']})")))
    total = sum(r.seconds for r in result.rows)
    calls = sum(r.ncall for r in result.rows)
    seeds = ""
    if result.repeats > 1:
        runs = sum(r.repeats for r in result.rows)
        seeds = (f" ({result.repeats} seeds per K: {runs} runs, "
                 f"{len(result.missing_repeats)} repeats not finished)")
    path = compiled_path_fact(archive)
    if path is not None:
        facts.append(path)
    facts.append(("runs", f"{len(result.rows)} finished, {len(result.missing)} missing{seeds}; "
                          f"{calls:,} likelihood calls, {total:.1f} s of sampling"))
    return tuple(facts)


def _settings_as_run(archive: SweepArchive, sampler: str, given: Mapping[str, Any]) -> str:
    """The settings a sampler's runs used, as each run's ``run.json`` records them (defaults
    that depend on the model resolved, e.g. PolyChord's live points per dimension), with the
    value per K where it differs between K; the settings as given where no run is readable."""
    by_k: dict[int, Mapping[str, Any]] = {}
    for row in sorted(archive.result.rows, key=lambda r: r.k):
        if row.sampler != sampler:
            continue
        try:
            by_k[row.k] = archive.run(row.k, sampler).settings
        except Exception:  # an unreadable run: its settings are not shown
            continue
    keys = sorted({key for used in by_k.values() for key in used} | set(given))
    parts = []
    for key in keys:
        values = {k: used.get(key, given.get(key)) for k, used in by_k.items()}
        distinct = {repr(v) for v in values.values()}
        if not values or len(distinct) == 1:
            value = next(iter(values.values())) if values else given.get(key)
            if value is not None:
                parts.append(f"{key} = {value}")
        else:
            parts.append(f"{key} = " + ", ".join(f"{v} (K = {k})" for k, v in values.items()))
    return ", ".join(parts)


def _dims(archive: SweepArchive) -> list[str]:
    if archive.data is not None:
        return list(archive.data.columns) or [f"x{d + 1}" for d in range(archive.data.n_dims)]
    data = archive.manifest.get("data", {})
    return list(data.get("columns") or [f"x{d + 1}" for d in range(int(data.get("n_dims", 1)))])


def _component_names(archive: SweepArchive) -> dict[int, list[str]]:
    """Names of the weights of each K's model: ``1..K``, custom components, ``background``."""
    out = {}
    for k in sorted({row.k for row in archive.result.rows}):
        try:
            model = archive.model(k)
        except Exception:  # the table then numbers the components instead
            model = None
        if model is not None:
            out[k] = ["background" if n == "w_bg" else n.removeprefix("w_")
                      for n in model.weight_names]
    return out


# ---------------------------------------------------------------------------------- figures


def _draw_figures(archive: SweepArchive, seed: int, notes: list[str]) -> list[ReportFigure]:
    try:
        from nestmix.report import figures as plots
    except ImportError as exc:
        notes.append(f"figures: none drawn, nestmix.report.figures cannot be imported ({exc})")
        return []
    result = archive.result
    jobs: list[tuple[str, str, str, str, Maker]] = [
        ("evidence", "Evidence against K", "ln Z ± σ per K, one series per sampler.",
         "evidence", lambda: plots.plot_evidence(result)),
        ("posterior_k", "P(K | data)", "Posterior probability of each K given the data.",
         "evidence", lambda: plots.plot_posterior_k(result)),
    ]
    model_ok = archive.data is not None and archive.spec is not None
    if not model_ok:
        notes.append(f"figures of the fitted model skipped: {archive.spec_problem}")
    n_dims = archive.data.n_dims if archive.data is not None else 0
    for i, sampler in enumerate(archive.samplers):
        best = result.best(sampler).k
        tag = f"{sampler}_K{best}"
        rng = np.random.default_rng([seed, i])
        if model_ok and n_dims == 1:
            jobs.append((f"predictive_{sampler}", f"Posterior predictive density ({sampler})",
                         "Histogram of the data with the posterior predictive density of each "
                         "K (median and 68% band) and the density averaged over K with weights "
                         "P(K | data).", "model",
                         partial(plots.plot_predictive, archive, sampler, rng=rng)))
        if model_ok and n_dims == 2:
            jobs.append((f"components_{tag}", f"Components of K = {best} ({sampler})",
                         "The data with the components' 1σ and 2σ ellipses.", "model",
                         partial(plots.plot_components_2d, archive, sampler, best)))
        jobs.append((f"corner_{tag}", f"Relabelled posterior of K = {best} ({sampler})",
                     "Corner plot of the component parameters after relabelling.", "model",
                     partial(plots.plot_corner, archive, sampler, best)))
        if model_ok:
            jobs.append((f"memberships_{tag}", f"Memberships for K = {best} ({sampler})",
                         "Each point's probability of belonging to each component (or the "
                         "background).", "model",
                         partial(plots.plot_memberships, archive, sampler, best)))
    for row in sorted(result.rows, key=lambda r: (r.sampler, r.k)):
        jobs.append((f"run_{row.sampler}_K{row.k}", f"Run K = {row.k} ({row.sampler})",
                     "ln L and posterior mass against ln X.", "runs",
                     partial(_plot_run, plots, archive, row.k, row.sampler)))
    out = []
    for name, title, caption, section, make in jobs:
        figure = _render(name, title, caption, section, make, notes)
        if figure is not None:
            out.append(figure)
    return out


def _plot_run(plots: Any, archive: SweepArchive, k: int, sampler: str) -> Any:
    return plots.plot_run(archive.run(k, sampler))


# ------------------------------------------------------------------------- model averaging
def _averaging(archive: SweepArchive, notes: list[str]) -> tuple[list[Table], list[str]]:
    result = archive.result
    if not result.rows:
        return [], ["Nothing to average: no run has finished."]
    said = []
    for sampler, rows in rows_by_sampler(result.rows).items():
        weights = ", ".join(f"K={r.k}: {r.p_k:.3f}" for r in rows)
        said.append(f"{sampler}: weights P(K | data) = {weights}.")
    if archive.data is None or archive.spec is None:
        return [], [*said, f"Model-averaged memberships need the model: {archive.spec_problem}"]
    try:
        from nestmix.posterior import predictive
    except ImportError as exc:
        notes.append(f"model averaging: nestmix.posterior.predictive cannot be imported ({exc})")
        return [], said
    tables = []
    for sampler in archive.samplers:
        try:
            averaged = predictive.model_averaged_memberships(archive, sampler)
            values = None if archive.data is None else np.asarray(archive.data.values)
            table, sentence = membership_table(averaged, sampler, values, _dims(archive))
            tables.append(with_assignments(table, averaged, result.best(sampler).k))
            said.append(sentence)
        except Exception as exc:  # recorded, the report goes on
            notes.append(f"model-averaged memberships ({sampler}) failed: "
                         f"{type(exc).__name__}: {exc}")
    return tables, said
