"""The report of a models × K grid: one evidence table over every (model, K), the "ln Z against
K, one line per model" plot (as mclust's BIC plot), P(model, K | data) and a verdict naming the
best (model, K) and how decisive it is over the runner-up. Each model's own report (modes,
memberships, figures) is written in its directory, ``model=<label>/report.html``; only the
models that decide the verdict (:func:`deciding_models`: the best (model, K) and its
contenders) get figures there, the others tables only, with the command that draws theirs.

At K = 1 the full and tied models are the same model (one component: its covariance is the
shared one), in any dimension. The grid runs both (each model's sweep stays complete on its
own), but the table, the terminal table and the verdict show them once, as ``full = tied``,
with the ln Z of the first in the grid's order and P(model, K | data) summed over the two
(:func:`merge_same_models`). The grid's prior gives the two runs one cell's prior between them
(:func:`nestmix.store.grid.cell_prior`), so the sum is the probability of one distinct model.
The table's caption gives the other run's ln Z. The plot keeps both, so every model's line
starts at K = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nestmix.evidence.arithmetic import jeffreys_label
from nestmix.report.document import Column, Report, ReportFigure, Table
from nestmix.report.files import FIGURE_DIR, ReportFiles
from nestmix.report.files import render_figure as _render
from nestmix.report.files import write_file as _write
from nestmix.report.tables import UNCHECKED_ADVICE
from nestmix.report.trust import ranking_caveat, shortfall
from nestmix.results import GridRow, SweepResult
from nestmix.store.grid import SAME_AT_K1, model_directory, write_grid_summary

__all__ = ["deciding_models", "format_grid_table", "grid_table", "grid_verdict",
           "merge_same_models", "plot_grid_evidence", "screening_facts", "write_grid_report"]


GRID_COLUMNS = (
    Column("model", "model", help="covariance model, with '+uniform' for a uniform background"),
    Column("k", "K", "d"),
    Column("sampler", "sampler"),
    Column("logZ", "ln Z", ".3f", help="log-evidence"),
    Column("logZ_err", "± σ", ".3f"),
    Column("ln_bf", "ln BF", ".2f", help="ln Bayes factor against the best (model, K)"),
    Column("ln_bf_err", "± σ", ".2f"),
    Column("p", "P(model, K | data)", ".3f", help="uniform prior over the grid's distinct models"),
    Column("p_err", "± σ", ".3f"),
    Column("ncall", "calls", ",d"),
    Column("seconds", "seconds", ".1f"),
    Column("best", "", "mark"),
)


def _ordered(result: SweepResult) -> list[GridRow]:
    order = {m: i for i, m in enumerate(result.models)}
    return sorted(result.cells, key=lambda r: (r.row.sampler, order.get(r.model, 0), r.row.k))


def merge_same_models(result: SweepResult) -> tuple[SweepResult, tuple[str, ...]]:
    """The grid with the K = 1 rows of models that are the same model shown once.

    Parameters
    ----------
    result : SweepResult

    Returns
    -------
    merged : SweepResult
        For each sampler and background, the K = 1 rows of the covariance models in
        :data:`SAME_AT_K1` become one row labelled e.g. ``full = tied``: the ln Z of the first
        in the grid's order, P(model, K | data) summed (its error in quadrature).
    notes : tuple of str
        One sentence per merged row, with the other runs' ln Z.
    """
    order = {m: i for i, m in enumerate(result.models)}
    groups: dict[tuple[str, str], list[GridRow]] = {}
    for r in result.cells:
        if r.row.k == 1 and r.covariance in SAME_AT_K1:
            groups.setdefault((r.row.sampler, r.background), []).append(r)
    rows, notes = list(result.cells), []
    for (sampler, _), same in groups.items():
        if len(same) < 2:
            continue
        same.sort(key=lambda r: order.get(r.model, 0))
        label = " = ".join(r.model for r in same)
        shown = replace(same[0], model=label, p=sum(r.p for r in same),
                        p_err=math.sqrt(sum(r.p_err ** 2 for r in same)))
        rows = [shown if r is same[0] else r for r in rows if r is same[0] or r not in same]
        notes.append(f"{sampler}, K = 1: {label} are the same model (one component, so its "
                     "covariance is the shared one); shown once with the ln Z of the "
                     f"{same[0].model} run ({same[0].row.logZ:.3f} ± {same[0].row.logZ_err:.3f}"
                     "; " + ", ".join(f"{r.model}: {r.row.logZ:.3f} ± {r.row.logZ_err:.3f}"
                                      for r in same[1:])
                     + ") and their P(model, K | data) summed")
    if not notes:
        return result, ()
    return replace(result, cells=tuple(rows)), tuple(notes)


def grid_table(result: SweepResult) -> Table:
    """Every (model, K, sampler) with its ln Z, ln Bayes factor and P(model, K | data); the
    K = 1 rows of the same model are shown once (:func:`merge_same_models`)."""
    result, notes = merge_same_models(result)
    bests = {s: result.best_cell(s) for s in result.samplers}
    rows = _ordered(result)
    values = tuple((r.model, r.row.k, r.row.sampler, r.row.logZ, r.row.logZ_err, r.ln_bf,
                    r.ln_bf_err, r.p, r.p_err, r.row.ncall, r.row.seconds,
                    r is bests[r.row.sampler]) for r in rows)
    caption = ("Every (model, K) of the grid. ln BF is against the best (model, K) of the same "
               "sampler; P(model, K | data) takes every cell of the grid equally likely a "
               "priori." + "".join(f" {n}." for n in notes))
    return Table("evidence", "Evidence over models and K", caption, GRID_COLUMNS, values,
                 highlight=tuple(bool(v[-1]) for v in values))


def _cell(r: GridRow) -> str:
    return f"K = {r.row.k} with the {r.model} model"


def _caveat(result: SweepResult, sampler: str, best: GridRow) -> str:
    """Why the preference for ``best`` is uncertain (cells below it whose ln Z may be too low
    by more than they trail), or ""."""
    others = []
    for r in result.cells:
        if r.row.sampler == sampler and r is not best:
            sweep = result.sweeps.get(r.model) if result.sweeps else None
            others.append((r.row, *shortfall(sweep, r.row), _cell(r)))
    return ranking_caveat(best.row, others)


def _unchecked(result: SweepResult, sampler: str, best: GridRow) -> list[str]:
    """The cells that decide ``sampler``'s verdict — the best and every contender
    (:func:`nestmix.sweep.screening.is_contender`) — whose ln Z has no second estimate (neither
    bridge nor importance sampling had enough effective draws). Rows made before the checks
    existed (no optimiser record either) are not counted."""
    from nestmix.sweep.screening import is_contender

    return [_cell(r) for r in result.cells
            if r.row.sampler == sampler and (r is best or is_contender(r.row, best.row))
            and r.row.crosscheck_z is None and r.row.best_logl is not None]


def grid_verdict(result: SweepResult) -> tuple[str, tuple[str, ...]]:
    """The grid's evidence in words.

    A cell below the best whose ln Z may be too low by more than it trails (its sampler missed
    some of its equivalent relabellings) makes the headline and that sampler's sentence say the
    preference is uncertain and why. When a cell that decides the verdict (the best, or a
    contender close enough to change it) could not be checked — no second estimate of its
    ln Z — the headline says that no best (model, K) can be named (issue 31, item 4).

    Returns
    -------
    headline : str
        The best (model, K) and how decisive it is over the runner-up (or the samplers'
        different choices).
    details : tuple of str
        Per sampler: P(model, K | data) of the best cell, the ln Bayes factor over the
        runner-up with its error and Kass & Raftery wording, and P(model | data).
    """
    if not result.cells:
        return "No run has finished yet: there is nothing to compare.", ()
    whole = result
    result, _ = merge_same_models(result)
    bests = {s: result.best_cell(s) for s in result.samplers}
    runners = {s: _runner_up(result, s) for s in result.samplers}
    caveats = {s: _caveat(result, s, b) for s, b in bests.items()}
    caveat = "; ".join(c for c in caveats.values() if c)
    cells = {(b.model, b.row.k) for b in bests.values()}
    who = "" if len(bests) == 1 else f" (all {len(bests)} samplers agree)"
    unchecked = list(dict.fromkeys(c for s, b in bests.items() for c in _unchecked(result, s, b)))
    if unchecked:
        lead = "; ".join(f"{s} puts {_cell(b)} ahead" for s, b in bests.items())
        headline = (f"No best (model, K) can be named: the ln Z of {', '.join(unchecked)} "
                    f"could not be checked (too few effective posterior draws for a second "
                    f"estimate), and {'it decides' if len(unchecked) == 1 else 'they decide'} "
                    f"the verdict ({lead} on the nested sampler's ln Z alone); {UNCHECKED_ADVICE}.")
    elif len(cells) > 1:
        headline = "The samplers differ on the best (model, K): " + "; ".join(
            f"{s} prefers {_cell(b)}" for s, b in bests.items()) + "."
        if caveat:
            headline += f" The preference is uncertain too: {caveat}."
    else:
        best = next(iter(bests.values()))
        margins = [(bests[s].row.logZ - r.row.logZ, r) for s, r in runners.items()
                   if r is not None]
        if not margins:
            headline = f"{_cell(best)} is the only (model, K) finished: nothing to compare yet."
        else:
            margin, runner = min(margins, key=lambda m: m[0])
            error = math.hypot(best.row.logZ_err, runner.row.logZ_err)
            if caveat:
                headline = (f"{_cell(best)} is ahead{who} (ln Bayes factor {margin:.2f} over "
                            f"the runner-up, {_cell(runner)}), but the preference is "
                            f"uncertain: {caveat}.")
            elif margin < 1.0:
                headline = (f"{_cell(best)} and {_cell(runner)} are about equally good: the ln "
                            f"Bayes factor is {margin:.2f}, not worth more than a bare mention; "
                            f"{_cell(best)} is ahead{who}.")
            elif margin < 2 * error:  # a near-tie within the runs' errors decides nothing
                headline = (f"{_cell(best)} is ahead of {_cell(runner)}{who} by an ln Bayes "
                            f"factor of {margin:.2f} ± {error:.2f}, less than twice its error: "
                            "these runs do not decide between the two (more live points or "
                            "seeds would).")
            else:
                headline = (f"The data prefer {_cell(best)}{who}: {jeffreys_label(margin)} "
                            f"evidence over the runner-up, {_cell(runner)} (ln Bayes factor "
                            f"{margin:.2f}).")
    return headline, tuple(_sampler_detail(whole, s, bests[s], runners[s], caveats[s])
                           for s in bests)


def _runner_up(result: SweepResult, sampler: str) -> GridRow | None:
    best = result.best_cell(sampler)
    others = [r for r in result.cells if r.row.sampler == sampler and r is not best]
    return max(others, key=lambda r: r.row.logZ) if others else None


def _sampler_detail(result: SweepResult, sampler: str, best: GridRow,
                    runner: GridRow | None, caveat: str = "") -> str:
    text = (f"{sampler}: P({best.model}, K = {best.row.k} | data) = {best.p:.3f} ± "
            f"{best.p_err:.3f}")
    if runner is not None:
        margin = best.row.logZ - runner.row.logZ
        err = math.hypot(best.row.logZ_err, runner.row.logZ_err)
        text += (f"; over the runner-up, {_cell(runner)}, the ln Bayes factor is {margin:.2f} "
                 f"± {err:.2f}, evidence that is {jeffreys_label(margin)} on the Kass & "
                 "Raftery scale")
        if margin < 2 * err:
            text += " (less than twice its error: the order of these two is uncertain)"
    if caveat:
        text += f"; but the preference is uncertain: {caveat}"
    by_model: dict[str, float] = {}
    for r in result.cells:
        if r.row.sampler == sampler:
            by_model[r.model] = by_model.get(r.model, 0.0) + r.p
    ranked = sorted(by_model.items(), key=lambda kv: -kv[1])
    text += "; P(model | data): " + ", ".join(f"{m} {p:.3f}" for m, p in ranked)
    return text + "."


def plot_grid_evidence(result: SweepResult) -> Figure:
    """ln Z against K, one line per model (one panel per sampler), as mclust's BIC plot.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per sampler, each with one error-bar series per model.
    """
    samplers = result.samplers or ("",)
    fig = Figure(figsize=(6.5 * len(samplers), 4.5), layout="constrained")
    axes = fig.subplots(1, len(samplers), squeeze=False)[0]
    n = max(1, len(result.models))
    offsets = (np.arange(n) - (n - 1) / 2) * 0.04
    for ax, sampler in zip(axes, samplers, strict=True):
        best = result.best_cell(sampler) if result.cells else None
        for model, dx in zip(result.models, offsets, strict=True):
            rows = sorted((r for r in result.cells if r.model == model
                           and r.row.sampler == sampler), key=lambda r: r.row.k)
            if not rows:
                continue
            ks = np.array([r.row.k for r in rows], dtype=float) + dx
            ax.errorbar(ks, [r.row.logZ for r in rows], yerr=[r.row.logZ_err for r in rows],
                        fmt="o-" if "+" not in model else "s--", capsize=3, label=model)
        if best is not None:
            ax.plot([best.row.k], [best.row.logZ], marker="*", markersize=16, color="k",
                    linestyle="none", label=f"best: {best.model}, K = {best.row.k}")
        ax.set_xticks(list(result.k_values))
        ax.set_xlabel("number of Gaussian components K")
        ax.set_ylabel(r"$\ln Z$")
        ax.set_title(f"ln Z against K, one line per model{f' ({sampler})' if sampler else ''}")
        if result.cells:
            ax.legend(fontsize="small")
    return fig


def format_grid_table(result: SweepResult) -> str:
    """The grid's evidence table and verdict as plain text for the terminal."""
    lines = [f"grid sweep {result.name!r}  ({result.directory})"]
    whole = result
    result, notes = merge_same_models(result)
    header = (f"{'model':<16} {'K':>3} {'sampler':<10} {'logZ':>18} {'ln BF':>16} "
              f"{'P(model,K|data)':>18} {'calls':>11} {'seconds':>9}")
    lines += ["", header, "-" * len(header)]
    bests = {s: result.best_cell(s) for s in result.samplers}
    for r in _ordered(result):
        mark = " *" if r is bests[r.row.sampler] else ""
        lines.append(f"{r.model:<16} {r.row.k:>3} {r.row.sampler:<10} {r.row.logZ:>10.3f} ± "
                     f"{r.row.logZ_err:<5.3f} {r.ln_bf:>8.2f} ± {r.ln_bf_err:<5.2f} "
                     f"{r.p:>10.3f} ± {r.p_err:<5.3f} {r.row.ncall:>11,} "
                     f"{r.row.seconds:>9.1f}{mark}")
    if not result.cells:
        lines.append("no finished runs yet")
    headline, details = grid_verdict(whole)
    lines += [*notes, "", headline, *details]
    if result.missing_cells:
        lines.append("missing (not finished): " + ", ".join(
            f"{m} K={k} {s}" for m, k, s in result.missing_cells))
    lines += [f"{name}: {text}" for name, text in screening_facts(result)]
    return "\n".join(lines)


def screening_facts(result: SweepResult) -> tuple[tuple[str, str], ...]:
    """What the coarse-to-fine grid did not run and why, and which rows it refined.

    Returns
    -------
    tuple of (str, str)
        ``("screened", …)`` naming each model's K left out with the reason, and
        ``("refined", …)`` naming the rows that got deeper runs; each only when there are any.
    """
    out = []
    by_model: dict[str, tuple[list[int], str]] = {}
    for model, k, why in result.screened:
        by_model.setdefault(model, ([], why))[0].append(k)
    if by_model:
        out.append(("screened", "; ".join(
            f"{m} K = {', '.join(map(str, sorted(ks)))} not run: {why}"
            for m, (ks, why) in by_model.items())))
    refined = [r for r in _ordered(result) if r.row.escalations]
    if refined:
        out.append(("refined", "; ".join(
            f"{r.model} K = {r.row.k} {r.row.sampler} ({r.row.escalations} deeper run"
            f"{'s' if r.row.escalations > 1 else ''})" for r in refined)
            + " (the others were not contenders, or their checks agreed)"))
    return tuple(out)


#: The figures fact of a trailing model's own report (:func:`write_grid_report`).
_LEAN = ("not drawn with the grid's report: this model holds neither the best (model, K) nor a "
         "contender close enough to change the verdict (those of {best} are drawn); "
         "`nestmix report {path}` draws this model's figures")


def deciding_models(result: SweepResult) -> frozenset[str]:
    """The models that decide the grid's verdict: each holds, for some sampler, the best
    (model, K) or a contender (:func:`nestmix.sweep.screening.is_contender`: close enough to
    the best, by its ln Z or its check, or a run that missed a mode that could lift it there).
    The grid's report draws the figures of these models only (issue 32: the others' corner
    plots were a fifth of a zero-configuration sweep's CPU time)."""
    from nestmix.sweep.screening import is_contender

    out = set()
    for sampler in result.samplers:
        best = result.best_cell(sampler)
        out |= {r.model for r in result.cells if r.row.sampler == sampler
                and (r is best or is_contender(r.row, best.row))}
    return frozenset(out)


def _figure_facts(result: SweepResult, deciding: frozenset[str], figures: bool,
                  directory: Path) -> tuple[tuple[str, str], ...]:
    """The grid page's line on which models' reports have figures, when some have none."""
    lean = [m for m in result.models if m not in deciding and result.sweeps
            and m in result.sweeps]
    if not figures or not lean:
        return ()
    return (("model figures", f"drawn for {', '.join(m for m in result.models if m in deciding)}"
             f" (the best (model, K) and its contenders); not for {', '.join(lean)}, which "
             "cannot change the verdict: `nestmix report "
             f"{model_directory(directory, lean[0])}` (and the same for the others) draws "
             "them"),)


def write_grid_report(directory: str | Path, *, seed: int = 0, figures: bool = True,
                      model_report: Callable[..., ReportFiles] | None = None) -> ReportFiles:
    """Write the grid's ``report.html``, ``report.md``, ``evidence.csv`` and figure, and each
    model's own report in its directory.

    Parameters
    ----------
    directory : str or Path
        A grid directory (``grid.json``), finished or partly finished.
    seed : int
        Seed of the posterior draws behind the models' predictive figures.
    figures : bool
        False to write tables and verdicts only. True draws the grid's figure and the figures
        of the models that decide the verdict (:func:`deciding_models`); the other models'
        reports get tables only and say how to draw theirs.
    model_report : callable, optional
        Writes one model's report (:func:`nestmix.report.write_report`, which passes itself;
        it takes ``figures_note`` for a model drawn without figures); None writes the grid's
        pages only.

    Returns
    -------
    ReportFiles
        The grid's own files; the warnings include those of the models' reports.
    """
    from nestmix.report.render import render_html, render_markdown

    directory = Path(directory)
    result = write_grid_summary(directory)
    notes: list[str] = []
    carried: dict[str, ReportFiles] = {}
    deciding = deciding_models(result)
    for model in result.models:
        sub = model_directory(directory, model)
        if model_report is None or result.sweeps is None or model not in result.sweeps:
            continue
        draw = figures and model in deciding
        lean = {} if draw or not figures else {"figures_note": _LEAN.format(
            path=sub, best=", ".join(sorted(deciding)) or "none")}
        try:
            carried[model] = model_report(sub, seed=seed, figures=draw, **lean)
        except Exception as exc:  # one model's report must not sink the grid's
            notes.append(f"the report of model {model} failed: {type(exc).__name__}: {exc}")
    drawn: list[ReportFigure] = []
    if figures and result.cells:
        figure = _render("grid_evidence", "ln Z against K, one line per model",
                         "Log-evidence of every (model, K) with its error; the star marks the "
                         "best. Solid lines: no background; dashed: with a uniform background.",
                         "evidence", lambda: plot_grid_evidence(result), notes)
        drawn += [figure] if figure is not None else []
    headline, words = grid_verdict(result)
    # every warning of the models' own reports (their rows', the top of the K range, samplers
    # disagreeing) and their prior-sensitivity sentences, at the grid's top; the rows' own
    # warnings directly for a model whose report was not written
    warnings = [f"{r.model} K={r.row.k} {r.row.sampler}: {w}" for r in _ordered(result)
                for w in r.row.warnings if r.model not in carried]
    warnings += [f"{model}: {w}" for model, files in carried.items() for w in files.warnings]
    words = (*words, *(f"{model}: {line}" for model, files in carried.items()
                       for line in files.verdict if "prior sensitivity" in line))
    if result.missing_cells:
        warnings.append("not finished: " + ", ".join(f"{m} K={k} {s}"
                                                     for m, k, s in result.missing_cells))
    facts = (("models", ", ".join(result.models)),
             ("K", ", ".join(map(str, result.k_values))),
             ("samplers", ", ".join(result.samplers) or "none finished"),
             ("runs", f"{len(result.cells)} finished, {len(result.missing_cells)} missing; "
                      f"{sum(r.row.ncall for r in result.cells):,} likelihood calls, "
                      f"{sum(r.row.seconds for r in result.cells):.1f} s of sampling"),
             ("model reports", ", ".join(f"model={m}/report.html" for m in result.models)),
             *screening_facts(result),
             *_figure_facts(result, deciding, figures, directory))
    report = Report(name=result.name, directory=str(directory), facts=facts,
                    headline=headline, verdict=words, warnings=(*warnings, *notes),
                    missing=(), tables=(grid_table(result),), averaging=(),
                    averaging_notes=(), figures=tuple(drawn),
                    downloads=(("the grid's evidence table", "evidence.csv"),
                               *((f"the report of model {m}: modes, memberships, "
                                  + ("figures and " if figures and m in deciding else "")
                                  + "its own tables", f"model={m}/report.html")
                                 for m in result.models if m in carried)))
    figure_dir = directory / FIGURE_DIR
    pngs = []
    for fig in report.figures:
        pngs.append(figure_dir / f"{fig.name}.png")
        _write(pngs[-1], fig.png)
    csv = directory / "evidence.csv"
    _write(csv, report.tables[0].csv().encode("utf-8"))
    markdown, page = directory / "report.md", directory / "report.html"
    _write(markdown, render_markdown(report, FIGURE_DIR).encode("utf-8"))
    _write(page, render_html(report).encode("utf-8"))
    return ReportFiles(html=page, markdown=markdown, csv=(csv,), figures=tuple(pngs),
                       warnings=report.warnings)
