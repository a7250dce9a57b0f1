"""Old import path of :mod:`nestmix.report.table`, kept for existing notebooks and scripts."""

from nestmix.report.table import format_table

__all__ = ["format_table"]
