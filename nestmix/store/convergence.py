"""The convergence check's record on disk (``convergence.json``) and what it does to a table.

:func:`nestmix.sweep.convergence.escalate` writes the record; :func:`apply` reads it whenever
the evidence table is built from disk (:func:`nestmix.store.summary.load_sweep`) and marks the
rows it found unsettled as not converged.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from nestmix.results import SweepResult

__all__ = ["CONVERGENCE", "NOT_CONVERGED", "apply"]

CONVERGENCE = "convergence.json"
NOT_CONVERGED = "not converged"


def apply(result: SweepResult, directory: str | Path) -> SweepResult:
    """``result`` with the rows ``convergence.json`` found unsettled marked not converged."""
    path = Path(directory) / CONVERGENCE
    if not path.exists():
        return result
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return result
    rows = []
    for row in result.rows:
        entry = record.get("rows", {}).get(f"K={row.k} {row.sampler}")
        if entry and not entry.get("converged", True):
            extra = entry.get("extra_runs", entry.get("extra_seeds", 0))  # (older records)
            note = (f"{NOT_CONVERGED} after {extra} deeper run(s) (twice the live points each; "
                    f"budget {record.get('budget', 0)}): " + "; ".join(entry["reasons"]))
            if entry.get("cannot_deepen"):
                note = (f"{NOT_CONVERGED}; no deeper run added: {row.sampler} cannot make one "
                        "(its adapter has no deeper settings): " + "; ".join(entry["reasons"]))
            row = replace(row, converged=False, warnings=(*row.warnings, note))
        rows.append(row)
    return replace(result, rows=tuple(rows))
