"""Plain-text evidence tables for the terminal."""

from __future__ import annotations

from nestmix.evidence.arithmetic import jeffreys_label
from nestmix.report.trust import ranking_caveat, shortfall
from nestmix.results import SweepResult, rows_by_sampler

__all__ = ["format_table"]


def format_table(result: SweepResult) -> str:
    """The evidence table of a sweep: one line per (sampler, K), best K marked.

    Parameters
    ----------
    result : SweepResult

    Returns
    -------
    str
    """
    lines = [f"sweep {result.name!r}  ({result.directory})"]
    if not result.rows:
        lines.append("no finished runs yet")
    seeds = any(r.repeats > 1 for r in result.rows)
    header = (f"{'sampler':<10} {'K':>3} {'logZ':>18} "
              + (f"{'seeds':>5} {'spread':>7} {'σ run':>6} " if seeds else "")
              + f"{'ln BF':>16} {'P(K|data)':>16} "
              f"{'calls':>11} {'seconds':>9} {'copies':>7} {'modes':>5}")
    for sampler, rows in rows_by_sampler(result.rows).items():
        lines += ["", header, "-" * len(header)]
        best = max(rows, key=lambda r: r.logZ)
        for r in rows:
            mark = " *" if r is best else ""
            copies = "" if r.label_copies is None else f"{r.label_copies}/{r.expected_copies}"
            modes = "" if r.distinct_modes is None else str(r.distinct_modes)
            spread = ""
            if seeds:
                spread = (f"{r.repeats:>5} " + ("" if r.logZ_spread is None else
                                                 f"{r.logZ_spread:.3f}").rjust(7) + " "
                          + ("" if r.logZ_err_run is None else f"{r.logZ_err_run:.3f}").rjust(6)
                          + " ")
            lines.append(
                f"{sampler:<10} {r.k:>3} {r.logZ:>10.3f} ± {r.logZ_err:<5.3f} {spread}"
                f"{r.ln_bf:>8.2f} ± {r.ln_bf_err:<5.2f} {r.p_k:>8.3f} ± {r.p_k_err:<5.3f} "
                f"{r.ncall:>11,} {r.seconds:>9.1f} {copies:>7} {modes:>5}{mark}"
            )
        runner_up = sorted(rows, key=lambda r: r.logZ)[-2] if len(rows) > 1 else None
        verdict = f"best K = {best.k} for {sampler}"
        if runner_up is not None:
            margin = best.logZ - runner_up.logZ
            verdict += (f"; over K = {runner_up.k} by ln BF = {margin:.2f} "
                        f"({jeffreys_label(margin)})")
            caveat = ranking_caveat(best, [(r, *shortfall(result, r), f"K = {r.k}")
                                           for r in rows if r is not best])
            if caveat:
                verdict += f"; but the preference is uncertain: {caveat}"
        lines += ["", verdict]
        for r in rows:
            lines += [f"warning: K={r.k} {sampler}: {w}" for w in r.warnings]
    if seeds:
        lines += ["", "With several seeds per K, logZ is their inverse-variance mean; 'spread' is "
                  "the standard deviation of logZ over the seeds, 'σ run' the mean error of one "
                  "run."]
    if result.missing:
        lines.append("missing (not finished): " + ", ".join(
            f"K={k} {s}" for k, s in result.missing))
    if result.missing_repeats:
        lines.append("repeats not finished: " + ", ".join(
            f"K={k} {s} repeat {r}" for k, s, r in result.missing_repeats))
    return "\n".join(lines)
