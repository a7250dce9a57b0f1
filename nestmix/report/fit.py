"""Keep the evidence table within a 1280 px page: columns that say nothing in this sweep are
left to the CSV."""

from __future__ import annotations

from dataclasses import replace

from nestmix.report.document import Table
from nestmix.results import SweepResult

__all__ = ["REPEAT_COLUMNS", "compact_evidence"]

# columns about several seeds per K: empty in a sweep of one seed per K
REPEAT_COLUMNS = ("repeats", "logZ_spread", "logZ_err_run")


def compact_evidence(table: Table, result: SweepResult) -> Table:
    """``table`` (:func:`nestmix.report.tables.evidence_table`) without the columns about
    repeats in HTML and Markdown when every K was run with one seed (the CSV keeps them)."""
    if result.repeats > 1:
        return table
    columns = tuple(replace(c, show=False) if c.key in REPEAT_COLUMNS else c
                    for c in table.columns)
    return replace(table, columns=columns)
