"""The report of a sweep: its document (:mod:`~nestmix.report.document`), tables
(:mod:`~nestmix.report.tables`), figures (:mod:`~nestmix.report.figures`), rendering to HTML and
Markdown (:mod:`~nestmix.report.render`), and :func:`write_report`
(:mod:`~nestmix.report.build`)."""

from nestmix.report.build import (
    ReportFiles,
    SweepOutcome,
    build_report,
    sweep_and_report,
    write_report,
)

__all__ = ["ReportFiles", "SweepOutcome", "build_report", "sweep_and_report", "write_report"]
