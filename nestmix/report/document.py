"""What a report says, independent of its format: tables of raw values with how to print each
column (:class:`Table`, which renders itself as CSV, Markdown and HTML so that the three carry
the same numbers), rendered figures (:class:`ReportFigure`) and the whole :class:`Report`.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass
from typing import Any

from nestmix._version import __version__

__all__ = ["MISSING", "Column", "Report", "ReportFigure", "Table", "escape_markdown",
           "format_value"]

MISSING = "–"  # printed for a value that does not exist (e.g. no mode analysis)


@dataclass(frozen=True)
class Column:
    """One column of a report table.

    Attributes
    ----------
    key : str
        The CSV header (a plain identifier).
    title : str
        The header in HTML and Markdown.
    fmt : str
        Format spec for numbers (``".3f"``, ``",d"``); ``"mark"`` prints True as ``best``.
    show : bool
        False for columns that only the CSV carries (e.g. the full warning texts).
    help : str
        What the column means (an HTML tooltip and the Markdown legend).
    """

    key: str
    title: str
    fmt: str = ""
    show: bool = True
    help: str = ""


@dataclass(frozen=True)
class Table:
    """A titled table of raw values with per-column formats.

    Attributes
    ----------
    name : str
        File stem of its CSV (``evidence`` → ``evidence.csv``).
    title : str
    caption : str
        One or two sentences saying what the table shows.
    columns : tuple of Column
    rows : tuple of tuple
        Raw values, one tuple per row in column order (None where a value does not exist).
    highlight : tuple of bool
        Rows to emphasise (the best K), one flag per row; empty for none.
    """

    name: str
    title: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    highlight: tuple[bool, ...] = ()

    def cell(self, row: int, column: int) -> str:
        """The printed text of one cell."""
        return format_value(self.rows[row][column], self.columns[column].fmt)

    def _shown(self) -> list[int]:
        return [j for j, c in enumerate(self.columns) if c.show]

    def csv(self) -> str:
        """All columns at full precision (empty for missing values)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.key for c in self.columns])
        writer.writerows([_csv_value(v) for v in row] for row in self.rows)
        return buffer.getvalue()

    def markdown(self) -> str:
        """A pipe table of the shown columns, best rows in bold, then the caption."""
        shown = self._shown()
        lines = ["| " + " | ".join(escape_markdown(self.columns[j].title) for j in shown) + " |",
                 "|" + "|".join("---:" if self.columns[j].fmt else ":---" for j in shown) + "|"]
        for i in range(len(self.rows)):
            cells = [escape_markdown(self.cell(i, j)) for j in shown]
            if self.highlight and self.highlight[i]:
                cells = [f"**{c}**" if c else c for c in cells]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def html(self) -> str:
        """An HTML ``<table>`` of the shown columns with a caption and header tooltips."""
        shown = self._shown()
        out = [f'<table class="data" id="table-{html.escape(self.name)}">',
               f"<caption>{html.escape(self.caption)}</caption>", "<thead><tr>"]
        for j in shown:
            column = self.columns[j]
            tip = f' title="{html.escape(column.help)}"' if column.help else ""
            out.append(f"<th{tip}>{html.escape(column.title)}</th>")
        out.append("</tr></thead><tbody>")
        for i in range(len(self.rows)):
            best = ' class="best"' if self.highlight and self.highlight[i] else ""
            cells = "".join(
                f'<td class="{"num" if self.columns[j].fmt not in ("", "mark") else "text"}">'
                f"{html.escape(self.cell(i, j))}</td>" for j in shown)
            out.append(f"<tr{best}>{cells}</tr>")
        out.append("</tbody></table>")
        return "\n".join(out)


def format_value(value: Any, fmt: str) -> str:
    """Print one value as the report tables do."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if fmt == "mark":
        return "best" if value else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if fmt and isinstance(value, (int, float)):
        if fmt.endswith("d") and isinstance(value, float) and value.is_integer():
            value = int(value)
        return format(value, fmt)
    return str(value)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def escape_markdown(text: str) -> str:
    """``text`` with Markdown's special characters escaped (a column named ``*x*`` or a file
    ``a_b_c.txt`` shows as written, and a ``|`` does not split a table cell)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report, already rendered.

    Attributes
    ----------
    name : str
        File stem of its PNG (``report/<name>.png``).
    title, caption : str
    section : str
        ``evidence``, ``model``, ``averaging`` or ``runs``.
    png : bytes
        The figure as PNG.
    notes : tuple of str
        Warnings matplotlib or anesthetic raised while drawing it.
    wide : bool
        Shown across the page's full width (corner plots).
    """

    name: str
    title: str
    caption: str
    section: str
    png: bytes
    notes: tuple[str, ...] = ()
    wide: bool = False


@dataclass(frozen=True)
class Report:
    """Everything the report says, independent of its format.

    Attributes
    ----------
    name : str
        The sweep's name.
    directory : str
    facts : tuple of (str, str)
        What the sweep was made from: data, model, samplers, K, run time.
    headline : str
        The verdict in one sentence (the preferred K).
    verdict : tuple of str
        The verdict's details, one sentence per sampler.
    warnings : tuple of str
        Label copies missed, samplers that disagree, runs stopped early, missing K, figures
        that failed.
    missing : tuple of (int, str)
        (K, sampler) not finished.
    tables : tuple of Table
        Evidence, sampler agreement (when several samplers share a K) and distinct modes.
    averaging : tuple of Table
        Model-averaged memberships, one per sampler.
    averaging_notes : tuple of str
        What the model averaging used (P(K | data) weights), or why it is absent.
    figures : tuple of ReportFigure
    downloads : tuple of (str, str)
        Files beside the report to take away: (what it is, path relative to the report).
    """

    name: str
    directory: str
    facts: tuple[tuple[str, str], ...]
    headline: str
    verdict: tuple[str, ...]
    warnings: tuple[str, ...]
    missing: tuple[tuple[int, str], ...]
    tables: tuple[Table, ...]
    averaging: tuple[Table, ...]
    averaging_notes: tuple[str, ...]
    figures: tuple[ReportFigure, ...]
    downloads: tuple[tuple[str, str], ...] = ()

    @property
    def version(self) -> str:
        """The nestmix version that wrote the report."""
        return __version__
