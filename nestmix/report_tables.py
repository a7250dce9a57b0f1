"""Old import path of :mod:`nestmix.report.tables`, kept for existing notebooks and scripts."""

from nestmix.report.tables import (
    agreement_table,
    combined_sigma,
    evidence_table,
    evidence_warnings,
    membership_table,
    modes_table,
    run_sigma,
    verdict,
)

__all__ = [
    "agreement_table",
    "combined_sigma",
    "evidence_table",
    "evidence_warnings",
    "membership_table",
    "modes_table",
    "run_sigma",
    "verdict",
]
