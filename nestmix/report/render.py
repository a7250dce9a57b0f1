"""How the report looks: the HTML page and the Markdown file.

The tables render themselves (:class:`~nestmix.report.document.Table`). The HTML page has its
CSS inline and its figures as base64 PNG data URIs; it has no scripts and refers to nothing
outside itself, so it opens offline. The Markdown refers to the PNG files written beside it.
"""

from __future__ import annotations

import base64
import html
from urllib.parse import quote

from nestmix.report.document import Report, ReportFigure, Table, escape_markdown

__all__ = ["render_html", "render_markdown"]

SECTIONS = (
    ("evidence", "Evidence", ""),
    ("priors", "Priors", "What the evidences assume, and how the verdict changes with them."),
    ("model", "The preferred K", "The best K of each sampler: its components and memberships."),
    ("averaging", "Model averaging", ""),
    ("modes", "Distinct modes", ""),
    ("runs", "The runs", "Each run's ln L and posterior mass against the log prior volume ln X."),
    ("files", "Files", "The tables at full precision and each run's relabelled posterior "
                       "samples (weight, ln L and the components' parameters), as CSV."),
)

AVERAGED_DENSITY = ("The posterior predictive density averaged over K with weights P(K | data) is "
                    "drawn in the posterior predictive figure above, beside each K's own.")

_SECTION_TABLES = {"modes": ("modes",), "priors": ("priors", "prior_sensitivity")}

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: #1d2329; background: #fff; margin: 0; }
main { max-width: 1240px; margin: 0 auto; padding: 1.5em 1.2em 3em; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.6em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #d5dae0; padding-bottom: .2em; }
.verdict { background: #f2f6fa; border-left: 5px solid #2f6fad; padding: .8em 1.2em; }
.headline { font-size: 1.25em; font-weight: 600; margin: .2em 0 .5em; }
.warnings { background: #fff6e5; border-left: 5px solid #d08a00; padding: .6em 1.2em;
            margin-top: 1em; }
.warnings h3 { margin: .2em 0; font-size: 1em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em;
           font-size: .92em; color: #3b444d; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.scroll { overflow-x: auto; margin: 1em 0; }
table.data { border-collapse: collapse; font-size: .8em; white-space: nowrap; }
table.data caption { caption-side: bottom; text-align: left; color: #555; padding-top: .4em;
                     white-space: normal; }
table.data th, table.data td { padding: .2em .3em; border-bottom: 1px solid #e3e7eb; }
table.data th { background: #eef1f4; text-align: center; white-space: normal;
                min-width: 3.5em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data td.text { white-space: normal; max-width: 11em; }
tr.best td { background: #e6f2e6; font-weight: 600; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7eb; }
figcaption { color: #555; font-size: .9em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
.grid figure { flex: 1 1 480px; margin: 0; }
.runs figure { flex: 1 1 360px; }
.grid figure.wide { flex-basis: 100%; }
.grid figure.wide img { max-width: 900px; }
.note { color: #8a5a00; font-size: .85em; }
footer { margin-top: 3em; color: #777; font-size: .85em; }
"""


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    report : Report

    Returns
    -------
    str
    """
    e = html.escape
    out = ['<!DOCTYPE html>', '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<link rel="icon" href="data:,">',
           f"<title>nestmix report: {e(report.name)}</title>", f"<style>{CSS}</style>",
           "</head>", "<body>", "<main>",
           f"<h1>How many components? Sweep “{e(report.name)}”</h1>",
           '<section class="verdict" id="verdict">',
           f'<p class="headline">{e(report.headline)}</p>']
    if report.verdict:
        out.append("<ul>" + "".join(f"<li>{e(v)}</li>" for v in report.verdict) + "</ul>")
    if report.warnings:
        out += ['<div class="warnings" id="warnings">',
                f"<h3>Warnings ({len(report.warnings)})</h3>",
                "<ul>" + "".join(f"<li>{e(w)}</li>" for w in report.warnings) + "</ul>",
                "</div>"]
    out.append("</section>")
    out.append('<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>"
                                             for k, v in report.facts) + "</dl>")
    for section, title, intro in SECTIONS:
        body = _html_section(report, section)
        if not body:
            continue
        out.append(f'<section id="{section}"><h2>{e(title)}</h2>')
        if intro:
            out.append(f"<p>{e(intro)}</p>")
        out += [*body, "</section>"]
    out += [f"<footer>Written by nestmix {e(report.version)} from {e(report.directory)}. "
            "The tables are also in the CSV files beside this page.</footer>",
            "</main>", "</body>", "</html>", ""]
    return "\n".join(out)


def _html_section(report: Report, section: str) -> list[str]:
    e = html.escape
    out: list[str] = []
    if section == "files" and report.downloads:
        out.append("<ul>" + "".join(f'<li><a href="{e(quote(path))}">{e(path)}</a>: {e(what)}'
                                    "</li>" for what, path in report.downloads) + "</ul>")
    if section == "evidence":
        out += [_html_table(t) for t in report.tables if t.name in ("evidence", "agreement")]
    if section == "averaging":
        out += [f"<p>{e(line)}</p>" for line in report.averaging_notes]
        for table in report.averaging:
            out += ["<details>",
                    f"<summary>{e(table.title)}: every point</summary>", _html_table(table),
                    "</details>"]
    if section in ("modes", "priors"):
        out += [_html_table(t) for t in report.tables if t.name in _SECTION_TABLES[section]]
    figures = [f for f in report.figures if f.section == section]
    if section == "averaging" and _has_predictive(report):
        out.insert(0, f"<p>{e(AVERAGED_DENSITY)}</p>")
    if section == "runs" and figures:
        out += ["<details>", f"<summary>Run plots ({len(figures)})</summary>",
                '<div class="grid runs">', *(_html_figure(f) for f in figures), "</div>",
                "</details>"]
    elif figures:
        out += ['<div class="grid">', *(_html_figure(f) for f in figures), "</div>"]
    return out


def _has_predictive(report: Report) -> bool:
    return any(f.name.startswith("predictive_") for f in report.figures)


def _html_table(table: Table) -> str:
    return f'<h3>{html.escape(table.title)}</h3>\n<div class="scroll">\n{table.html()}\n</div>'


def _html_figure(figure: ReportFigure) -> str:
    e = html.escape
    data = base64.b64encode(figure.png).decode("ascii")
    notes = "".join(f'<br><span class="note">{e(n)}</span>' for n in figure.notes)
    wide = ' class="wide"' if figure.wide else ""
    return (f'<figure id="figure-{e(figure.name)}"{wide}><img src="data:image/png;base64,{data}" '
            f'alt="{e(figure.title)}"><figcaption><b>{e(figure.title)}.</b> '
            f"{e(figure.caption)}{notes}</figcaption></figure>")


def render_markdown(report: Report, figure_dir: str) -> str:
    """The report as Markdown, figures linked as ``<figure_dir>/<name>.png``.

    Parameters
    ----------
    report : Report
    figure_dir : str
        The figures' directory relative to the Markdown file.

    Returns
    -------
    str
    """
    out = [f"# How many components? Sweep “{report.name}”", "", f"**{report.headline}**", ""]
    out += [f"- {v}" for v in report.verdict]
    if report.warnings:
        out += ["", f"## Warnings ({len(report.warnings)})", ""]
        out += [f"- {w}" for w in report.warnings]
    out += ["", *(f"- **{k}**: {escape_markdown(v)}" for k, v in report.facts)]
    for section, title, intro in SECTIONS:
        body = _markdown_section(report, section, figure_dir)
        if body:
            out += ["", f"## {title}", ""] + ([intro, ""] if intro else []) + body
    out += ["", f"*Written by nestmix {report.version}.*", ""]
    return "\n".join(out)


def _markdown_section(report: Report, section: str, figure_dir: str) -> list[str]:
    out: list[str] = []
    if section == "files":
        out += [f"- [{path}]({quote(path)}): {what}" for what, path in report.downloads]

    def table(t: Table) -> None:
        out.extend([f"### {t.title}", "", t.markdown(), "", t.caption, ""])

    if section == "evidence":
        for t in report.tables:
            if t.name in ("evidence", "agreement"):
                table(t)
    if section == "averaging":
        for line in report.averaging_notes:
            out += [line, ""]
        for t in report.averaging:
            out += [f"{t.title}, every point: `{t.name}.csv`.", ""]
    if section in ("modes", "priors"):
        for t in report.tables:
            if t.name in _SECTION_TABLES[section]:
                table(t)
    figures = [f for f in report.figures if f.section == section]
    if section == "averaging" and _has_predictive(report):
        out[:0] = [AVERAGED_DENSITY, ""]
    for f in figures:
        out += [f"![{f.title}]({figure_dir}/{f.name}.png)", "", f"*{f.title}.* {f.caption}", ""]
        out += [f"> {n}" for n in f.notes] + ([""] if f.notes else [])
    return out
