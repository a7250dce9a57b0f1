"""Report sentences on whether a sweep's answer can be trusted: probability at the top of the K
range, and rows the convergence check could not settle (:mod:`nestmix.sweep.convergence`).

Kept apart from :mod:`nestmix.report.tables` so that :func:`~nestmix.report.tables.verdict`
and :func:`~nestmix.report.tables.evidence_warnings` only call these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

from nestmix.results import SweepResult, rows_by_sampler

__all__ = ["TOP_OF_RANGE_P", "top_of_range_warnings", "unconverged_verdict"]

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
