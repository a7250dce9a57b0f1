"""Report sentences on whether a sweep's answer can be trusted: probability at the top of the K
range, rows the convergence check could not settle (:mod:`nestmix.sweep.convergence`), and rows
whose ln Z may be too low because the sampler missed some of the fit's equivalent relabellings
(:func:`shortfall`, :func:`ranking_caveat`).

Kept apart from :mod:`nestmix.report.tables` so that :func:`~nestmix.report.tables.verdict`
and :func:`~nestmix.report.tables.evidence_warnings` only call these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nestmix.modes.census import describe_shortfall, possible_shortfall
from nestmix.results import EvidenceRow, SweepResult, rows_by_sampler

__all__ = ["TOP_OF_RANGE_P", "ranking_caveat", "shortfall", "top_of_range_warnings",
           "unconverged_verdict"]

#: P(K = largest K | data) above which the report suggests adding larger K.
TOP_OF_RANGE_P = 0.05


def top_of_range_warnings(result: SweepResult, k_values: Sequence[int] = (),
                          threshold: float = TOP_OF_RANGE_P) -> list[str]:
    """Warnings for samplers whose P(K | data) reaches the largest K of the sweep.

    Parameters
    ----------
    result : SweepResult
    k_values : sequence of int
        The K the sweep asked for; without them nothing is said (a K still missing must not
        pass for the top of the range).
    threshold : float
        Warn when P(K = max(k_values) | data) exceeds it, or when that K is the best.

    Returns
    -------
    list of str
        One sentence per such sampler, suggesting larger K.
    """
    if not k_values:
        return []
    kmax = max(k_values)
    out = []
    for sampler, rows in rows_by_sampler(result.rows).items():
        top = [r for r in rows if r.k == kmax]
        if len(rows) < 2 or not top:
            continue
        best = max(rows, key=lambda r: r.logZ)
        if best.k == kmax:
            out.append(f"{sampler}: the best K ({kmax}) is the largest K of the sweep; a "
                       "larger K may fit better (add larger K to the sweep)")
        elif top[0].p_k > threshold:
            out.append(f"{sampler}: P(K = {kmax} | data) = {top[0].p_k:.3f}, above "
                       f"{threshold:g} at the largest K of the sweep: the probability may go "
                       "on to larger K, and P(K | data) of the others is uncertain until they "
                       "are run (add larger K to the sweep)")
    return out



def unconverged_verdict(result: SweepResult) -> tuple[str, ...]:
    """Verdict sentences for rows the convergence check left "not converged".

    Returns
    -------
    tuple of str
        Empty when there are none; else one sentence per sampler: the answer is uncertain,
        which K did not settle, and why.
    """
    out = []
    for sampler, rows in rows_by_sampler(result.rows).items():
        notes = [(row.k, w) for row in rows for w in row.warnings
                 if w.startswith("not converged")]
        if notes:
            out.append(f"{sampler}: the answer is uncertain: the ln Z of "
                       f"{', '.join(f'K = {k}' for k, _ in notes)} did not settle ("
                       + "; ".join(f"K = {k}: {w}" for k, w in notes) + ")")
    return tuple(out)


def _census(result: SweepResult | None, row: EvidenceRow) -> Mapping[str, Any] | None:
    for entry in (result.modes if result is not None else ()):
        if entry.get("k") == row.k and entry.get("sampler") == row.sampler:
            return entry.get("census")
    return None


def shortfall(result: SweepResult | None, row: EvidenceRow) -> tuple[float, str]:
    """How far the ln Z of ``row`` may be too low because its sampler missed relabellings.

    Parameters
    ----------
    result : SweepResult or None
        The sweep holding ``row`` (its ``modes`` hold the label census, pooled over seeds).
    row : EvidenceRow

    Returns
    -------
    nats : float
        :func:`nestmix.modes.census.possible_shortfall` of the row's census (0: no sign).
    why : str
        The reason in plain words, with the number (empty when ``nats`` is 0).
    """
    census = _census(result, row)
    nats = possible_shortfall(census)
    if nats <= 0 or census is None or row.checked:  # checked: no mass is missing
        return 0.0, ""
    masses = [float(m) for m in (census.get("masses") or {}).values()] or [1.0]
    expected = int(census.get("expected_copies") or 1)
    uniform = 1.0 / expected
    off = sum(1 for m in masses if m > 0.1 * uniform and not 0.5 * uniform <= m <= 2 * uniform)
    return nats, describe_shortfall(row.k, expected, int(census.get("copies_visited") or 0),
                                    max(masses), off=off, subject=row.sampler)


def ranking_caveat(best: EvidenceRow, others: Sequence[tuple[EvidenceRow, float, str, str]]
                   ) -> str:
    """The clause saying the preference for ``best`` is uncertain, or "" when it is not.

    Parameters
    ----------
    best : EvidenceRow
        The row ranked first.
    others : sequence of (EvidenceRow, float, str, str)
        Rows ranked below it: the row, its possible shortfall in nats, the reason
        (:func:`shortfall`) and how the row is named in the text ("K = 3", "K = 3 with the
        tied model").

    Returns
    -------
    str
        For every row whose possible shortfall exceeds its ln Bayes factor behind ``best``:
        the reason and that it may be as good or better; "" when no such row.
    """
    clauses = []
    for row, nats, why, name in others:
        margin = best.logZ - row.logZ
        if nats > margin:
            clauses.append(f"{why}, more than the ln Bayes factor of {margin:.2f} by which "
                           f"it trails: {name} may be as good or better (rerun it with more "
                           "live points or more seeds to settle this)")
    return "; ".join(clauses)
