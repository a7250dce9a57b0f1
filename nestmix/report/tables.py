"""What the report says: its tables (evidence, sampler agreement, distinct modes, model-averaged
memberships) and the evidence table in words (verdict and warnings).

Tables are :class:`nestmix.report.render.Table` s of raw values; they render themselves as CSV
(full precision), Markdown and HTML (the printed precision), so the three carry the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np

from nestmix.evidence.arithmetic import jeffreys_label
from nestmix.report.document import Column, Table
from nestmix.report.trust import (
    ranking_caveat,
    shortfall,
    top_of_range_warnings,
    unconverged_verdict,
)
from nestmix.results import EvidenceRow, SweepResult, rows_by_sampler

if TYPE_CHECKING:
    from nestmix.posterior.predictive import AveragedMemberships

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

DISAGREEMENT_SIGMA = 3.0  # samplers disagree when |ΔlogZ| exceeds this many combined σ


# ------------------------------------------------------------------------------ evidence
EVIDENCE_COLUMNS = (
    Column("sampler", "sampler"),
    Column("k", "K", "d", help="number of Gaussian components"),
    Column("logZ", "ln Z", ".3f", help="log-evidence"),
    Column("logZ_err", "σ sampler", ".3f",
           help="the sampler's own error of ln Z (several seeds: of their inverse-variance "
                "mean, or the scatter's standard error if that is larger)"),
    Column("logZ_err_sim", "σ sim", ".3f",
           help="error of ln Z from anesthetic's simulated prior volumes"),
    Column("crosscheck_logZ", "ln Z check", ".3f",
           help="ln Z again without the nested sampler: bridge sampling between the run's "
                "posterior samples and a proposal symmetrised over label permutations, or "
                "importance sampling where the bridge is not usable; far from ln Z: the row "
                "is not converged"),
    Column("crosscheck_z", "Δ/σ check", "+.1f",
           help="(ln Z − ln Z check) / combined error; beyond ±3 the row is not converged"),
    Column("repeats", "seeds", "d", help="runs with different seeds combined in this row"),
    Column("logZ_spread", "spread over seeds", ".3f",
           help="standard deviation of ln Z over the seeds; compare with σ per run"),
    Column("logZ_err_run", "σ per run", ".3f",
           help="mean of the sampler's own errors of the single runs"),
    Column("ln_bf", "ln BF", ".2f", help="ln Bayes factor against the best K of this sampler"),
    Column("ln_bf_err", "σ ln BF", ".2f"),
    Column("jeffreys", "evidence against K",
           help="Kass & Raftery wording of the best K's ln BF over this K"),
    Column("p_k", "P(K|data)", ".3f", help="posterior probability of K (this sampler's runs)"),
    Column("p_k_err", "σ P", ".3f"),
    Column("information", "H [nats]", ".2f", help="KL divergence from prior to posterior"),
    Column("n_effective", "ESS", ".0f", help="Kish effective sample size"),
    Column("ncall", "calls", ",d", help="likelihood evaluations"),
    Column("seconds", "seconds", ".1f", help="wall-clock time of the run"),
    Column("label_copies", "relabellings found", "d",
           help="equivalent relabellings of the fit (the same fit with the components' labels "
                "permuted) the sampler found; fewer than expected: ln Z may be too low"),
    Column("expected_copies", "expected", "d",
           help="K! equivalent relabellings for exchangeable labels, else 1"),
    Column("distinct_modes", "modes", "d", help="distinct solutions after relabelling"),
    Column("converged", "converged",
           help="False: stopped on its call or iteration budget, or its ln Z check disagrees"),
    Column("best", "best", "mark", show=False, help="highest evidence of this sampler"),
    Column("ndim", "ndim", "d", show=False),
    Column("seed", "seed", "d", show=False),
    Column("warnings", "warnings", show=False),
)


def evidence_table(result: SweepResult) -> Table:
    """One row per finished (sampler, K), in the order of ``nestmix show``.

    Parameters
    ----------
    result : SweepResult

    Returns
    -------
    Table
        Named ``evidence``; the best K of each sampler is highlighted.
    """
    rows, highlight = [], []
    for rows_of in rows_by_sampler(result.rows).values():
        best = max(rows_of, key=lambda r: r.logZ)
        for r in rows_of:
            words = "(best)" if r is best else jeffreys_label(-r.ln_bf)
            rows.append((r.sampler, r.k, r.logZ, r.logZ_err, r.logZ_err_sim,
                         r.crosscheck_logZ, r.crosscheck_z, r.repeats,
                         r.logZ_spread, r.logZ_err_run, r.ln_bf,
                         r.ln_bf_err, words, r.p_k, r.p_k_err, r.information, r.n_effective,
                         r.ncall, r.seconds, r.label_copies, r.expected_copies,
                         r.distinct_modes, r.converged, r is best, r.ndim, r.seed,
                         " | ".join(r.warnings)))
            highlight.append(r is best)
    caption = ("Log-evidence ln Z per K with two error estimates: the sampler's own and the "
               "spread over anesthetic's simulated prior volumes. ln BF and P(K|data) compare "
               "the K run by the same sampler, with the sampler's errors propagated. Where a K "
               "was run with several seeds, ln Z is their inverse-variance mean and the spread "
               "of ln Z over the seeds stands beside the sampler's error of one run: a spread "
               "well above it means the error bars are too small.")
    return Table("evidence", "Evidence per K", caption, EVIDENCE_COLUMNS, tuple(rows),
                 tuple(highlight))


# ----------------------------------------------------------------------------- agreement
def run_sigma(row: EvidenceRow) -> float:
    """The error of one run's ln Z used to compare samplers: the larger of its two estimates."""
    return max(row.logZ_err, row.logZ_err_sim)


def combined_sigma(a: EvidenceRow, b: EvidenceRow) -> float:
    """Error of the difference of two runs' ln Z (their errors added in quadrature)."""
    return math.hypot(run_sigma(a), run_sigma(b))


AGREEMENT_COLUMNS = (
    Column("k", "K", "d"),
    Column("sampler_a", "sampler A"),
    Column("sampler_b", "sampler B"),
    Column("logZ_a", "ln Z (A)", ".3f"),
    Column("logZ_b", "ln Z (B)", ".3f"),
    Column("delta", "ln Z (A) − ln Z (B)", ".3f"),
    Column("sigma", "combined σ", ".3f",
           help="each run's larger error (sampler or simulated), added in quadrature"),
    Column("n_sigma", "|Δ| / σ", ".1f"),
    Column("agree", "agree", help=f"|Δ| within {DISAGREEMENT_SIGMA:g} combined σ"),
)


def agreement_table(result: SweepResult) -> Table | None:
    """ln Z of every pair of samplers that ran the same K, and their difference in σ.

    Returns
    -------
    Table or None
        Named ``agreement``; None when no K was run by more than one sampler.
    """
    by_k: dict[int, list[EvidenceRow]] = {}
    for row in sorted(result.rows, key=lambda r: (r.k, r.sampler)):
        by_k.setdefault(row.k, []).append(row)
    rows = []
    for k, rows_k in by_k.items():
        for a, b in combinations(rows_k, 2):
            delta = a.logZ - b.logZ
            sigma = combined_sigma(a, b)
            n_sigma = abs(delta) / sigma if sigma > 0 else math.inf
            rows.append((k, a.sampler, b.sampler, a.logZ, b.logZ, delta, sigma, n_sigma,
                         bool(n_sigma <= DISAGREEMENT_SIGMA)))
    if not rows:
        return None
    caption = ("Where several samplers ran the same K: the difference of their ln Z in units "
               "of the combined error. Beyond 3 σ at least one of them is not to be trusted.")
    return Table("agreement", "Samplers compared", caption, AGREEMENT_COLUMNS, tuple(rows))


# ------------------------------------------------------------------------ the verdict
def verdict(result: SweepResult) -> tuple[str, tuple[str, ...]]:
    """The evidence table in words: the preferred K and how decisive the evidence is.

    Returns
    -------
    headline : str
        One sentence naming the preferred K (or the samplers' different choices).
    details : tuple of str
        One sentence per sampler: P(K | data) of its best K and the ln Bayes factor over the
        runner-up with its Jeffreys-scale wording.

    Notes
    -----
    When a K ranked below the best may have a ln Z too low by more than its ln Bayes factor
    (the sampler missed some of its equivalent relabellings:
    :func:`nestmix.report.trust.shortfall`), the headline and that sampler's sentence say the
    preference is uncertain and why, rather than naming a winner above a warning that
    undermines it.
    """
    by_sampler = rows_by_sampler(result.rows)
    if not by_sampler:
        return "No run has finished yet: there is nothing to compare.", ()
    bests = {s: max(rows, key=lambda r: r.logZ) for s, rows in by_sampler.items()}
    caveats = {s: ranking_caveat(bests[s], [(r, *shortfall(result, r), f"K = {r.k}")
                                            for r in rows if r is not bests[s]])
               for s, rows in by_sampler.items()}
    caveat = "; ".join(c for c in caveats.values() if c)
    said = False  # whether the headline already carries the caveat
    ks = sorted({b.k for b in bests.values()})
    unchecked = sorted({k for s, rows in by_sampler.items() for k in _unchecked(rows, bests[s])})
    if unchecked:
        lead = "; ".join(f"{s} puts K = {b.k} ahead" for s, b in bests.items())
        which = ", ".join(f"K = {k}" for k in unchecked)
        headline = (f"No best K can be named: the ln Z of {which} could not be checked (too "
                    f"few effective posterior draws for a second estimate), and "
                    f"{'it decides' if len(unchecked) == 1 else 'they decide'} the verdict "
                    f"({lead} on the nested sampler's ln Z alone); {UNCHECKED_ADVICE}.")
    elif len(ks) == 1:
        k = ks[0]
        who = "" if len(bests) == 1 else f" (all {len(bests)} samplers agree)"
        margins = sorted((bests[s].logZ - r.logZ, r.k) for s, rows in by_sampler.items()
                         for r in rows if r is not bests[s])
        if not margins:
            headline = f"K = {k} is the only K finished{who}: nothing to compare it with yet."
        elif caveat:
            headline = (f"K = {k} is ahead{who} (ln Bayes factor {margins[0][0]:.2f} over "
                        f"K = {margins[0][1]}), but the preference is uncertain: {caveat}.")
            said = True
        elif margins[0][0] < 1.0:  # the least decisive sampler speaks for all
            headline = (f"K = {k} and K = {margins[0][1]} are about equally good: the ln Bayes "
                        f"factor is {margins[0][0]:.2f}, not worth more than a bare mention; "
                        f"K = {k} is ahead{who}.")
        else:
            headline = (f"The data prefer K = {k} components{who}: "
                        f"{jeffreys_label(margins[0][0])} evidence over K = {margins[0][1]} "
                        f"(ln Bayes factor {margins[0][0]:.2f}).")
    elif _within_errors(by_sampler, bests, ks):
        choices = "; ".join(f"{s} puts K = {b.k} ahead" for s, b in bests.items())
        headline = (f"K = {' and K = '.join(str(k) for k in ks)} are about equally good: the "
                    f"samplers differ on which is ahead ({choices}), each by less than twice "
                    "its error or a ln Bayes factor below 1.")
    else:
        headline = "The samplers disagree on the best K: " + "; ".join(
            f"{s} prefers K = {b.k}" for s, b in bests.items()) + "."
    if caveat and not said:
        headline += f" The preference is uncertain too: {caveat}."
    details = [_sampler_verdict(s, rows, bests[s], caveats[s])
               for s, rows in by_sampler.items()]
    return headline, (*details, *unconverged_verdict(result))


UNCHECKED_ADVICE = ("rerun with more seeds (`sweep.repeats`: their spread is a second "
                    "estimate) or more live points")
"""What a verdict that rests on unchecked rows advises (issue 31, item 4): at 12 parameters and
more, more live points alone did not stop single runs scattering beyond their errors (enzyme
K = 5, docs/samplers.md "Rows nothing checks"), more seeds did."""


def _unchecked(rows: list[EvidenceRow], best: EvidenceRow) -> list[int]:
    """The K that decide a sampler's verdict — the best and every contender
    (:func:`nestmix.sweep.screening.is_contender`) — whose ln Z has no second estimate (neither
    bridge nor importance sampling had enough effective draws). Rows made before the checks
    existed (no optimiser record either) are not counted."""
    from nestmix.sweep.screening import is_contender

    return [r.k for r in rows if (r is best or is_contender(r, best))
            and r.crosscheck_z is None and r.best_logl is not None]


def _within_errors(by_sampler: dict[str, list[EvidenceRow]], bests: dict[str, EvidenceRow],
                   ks: Sequence[int]) -> bool:
    """True when, for every sampler, the K the others prefer trails its own best by less than
    twice the error of the ln Bayes factor or by a ln Bayes factor below 1."""
    for sampler, rows in by_sampler.items():
        best = bests[sampler]
        for row in rows:
            if row.k in ks and row is not best:
                margin = best.logZ - row.logZ
                if margin >= max(1.0, 2 * row.ln_bf_err):
                    return False
    return True


def _sampler_verdict(sampler: str, rows: list[EvidenceRow], best: EvidenceRow,
                     caveat: str = "") -> str:
    text = (f"{sampler}: P(K = {best.k} | data) = {best.p_k:.3f} ± {best.p_k_err:.3f}")
    others = [r for r in rows if r is not best]
    if not others:
        return text + f"; K = {best.k} is the only K finished, so nothing is compared yet."
    runner = max(others, key=lambda r: r.logZ)
    margin, err = best.logZ - runner.logZ, runner.ln_bf_err
    text += (f"; over the runner-up K = {runner.k} the ln Bayes factor is {margin:.2f} ± "
             f"{err:.2f}, evidence that is {jeffreys_label(margin)} on the Kass & Raftery "
             "scale")
    if margin < 2 * err:
        text += " (less than twice its error: the order of these two K is uncertain)"
    if caveat:
        text += f"; but the preference is uncertain: {caveat}"
    return text + "."


def evidence_warnings(result: SweepResult, k_values: Sequence[int] = ()) -> list[str]:
    """What a reader should be warned about in a sweep's evidence rows.

    Parameters
    ----------
    result : SweepResult
    k_values : sequence of int
        The K the sweep asked for (to warn when the best K is the largest of them).

    Returns
    -------
    list of str
        The rows' own warnings (relabellings missed, stopped early), samplers whose ln Z
        differ by more than ``DISAGREEMENT_SIGMA`` combined σ, K not finished, a best K at the
        top of the range or P(K | data) above 0.05 there
        (:func:`nestmix.report.trust.top_of_range_warnings`).
    """
    out = []
    for row in sorted(result.rows, key=lambda r: (r.sampler, r.k)):
        out += [f"K={row.k} {row.sampler}: {w}" for w in row.warnings]
        if not row.converged and not any("budget" in w or w.startswith("not converged")
                                         for w in row.warnings):
            out.append(f"K={row.k} {row.sampler}: the run stopped before converging")
    for row_a, row_b in _pairs_by_k(result.rows):
        delta, sigma = row_a.logZ - row_b.logZ, combined_sigma(row_a, row_b)
        if abs(delta) > DISAGREEMENT_SIGMA * sigma:
            out.append(f"K={row_a.k}: {row_a.sampler} and {row_b.sampler} disagree: their ln Z "
                       f"differ by {delta:.2f}, {abs(delta) / sigma:.1f} times the combined "
                       f"error {sigma:.2f}")
    if result.missing:
        by_sampler: dict[str, list[int]] = {}
        for k, sampler in result.missing:
            by_sampler.setdefault(sampler, []).append(k)
        for sampler, ks in by_sampler.items():
            out.append(f"missing K: {', '.join(f'K={k}' for k in sorted(ks))} ({sampler}) not "
                       "finished; this report covers the finished runs only (run the sweep "
                       "again to finish them)")
    if result.missing_repeats:
        out.append("repeats not finished: " + ", ".join(
            f"K={k} {s} repeat {r}" for k, s, r in sorted(result.missing_repeats)) +
            " (those K combine fewer seeds; run the sweep again to finish them)")
    out += top_of_range_warnings(result, k_values)
    return out


def _pairs_by_k(rows: tuple[EvidenceRow, ...]) -> list[tuple[EvidenceRow, EvidenceRow]]:
    ordered = sorted(rows, key=lambda r: (r.k, r.sampler))
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:] if a.k == b.k]


# --------------------------------------------------------------------------------- modes
def modes_table(result: SweepResult, dims: Sequence[str],
                names: Mapping[int, Sequence[str]] | None = None) -> Table | None:
    """The distinct modes of every run: mass, local evidence and per-component summaries.

    Parameters
    ----------
    result : SweepResult
        Its ``modes`` entries are the stored mode analyses.
    dims : sequence of str
        Names of the data columns (one mean and one scale column per dimension).
    names : mapping, optional
        Component names per K (Gaussians first, then custom components and the background, as
        in the analysis's weights); default ``1..K`` then ``extra 1, ...``.

    Returns
    -------
    Table or None
        Named ``modes``, one row per (sampler, K, mode, component); None when no run has a
        mode analysis.
    """
    columns = [Column("sampler", "sampler"), Column("k", "K", "d"), Column("mode", "mode", "d"),
               Column("mass", "mass", ".3f", help="posterior mass of the mode"),
               Column("logZ_mode", "local ln Z", ".2f"), Column("logZ_mode_err", "σ", ".2f"),
               Column("component", "component"),
               Column("weight", "weight", ".3f"), Column("weight_std", "± weight", ".3f")]
    for dim in dims:
        columns += [Column(f"mean_{dim}", f"mean {dim}", ".3f"),
                    Column(f"mean_{dim}_std", "±", ".3f"),
                    Column(f"scale_{dim}", f"σ {dim}", ".3f"),
                    Column(f"scale_{dim}_std", "±", ".3f")]
    rows = []
    for entry in sorted(result.modes, key=lambda m: (m.get("sampler", ""), m.get("k", 0))):
        k = int(entry.get("k", 0))
        for mode in entry.get("distinct_modes", {}).get("modes", []):
            weights = mode["weights"]["mean"]
            labels = list(names.get(k, ())) if names else []
            labels += [str(j + 1) if j < k else f"extra {j - k + 1}"
                       for j in range(len(labels), len(weights))]
            for j, weight in enumerate(weights):
                row: list[Any] = [entry.get("sampler"), k, int(mode["index"]) + 1,
                                  mode["mass"], mode["logZ"], mode["logZ_err"], labels[j],
                                  weight, mode["weights"]["std"][j]]
                for d in range(len(dims)):
                    if j < k:
                        row += [mode["means"]["mean"][j][d], mode["means"]["std"][j][d],
                                mode["scales"]["mean"][j][d], mode["scales"]["std"][j][d]]
                    else:
                        row += [None] * 4
                rows.append(tuple(row))
    if not rows:
        return None
    caption = ("Distinct solutions of each run after relabelling (relabelled copies merged), with "
               "their posterior mass, local ln Z and the posterior mean ± standard deviation "
               "of each component's weight, mean and width σ.")
    return Table("modes", "Distinct modes and components", caption, tuple(columns),
                 tuple(rows))


# --------------------------------------------------------------------------- memberships
def membership_table(averaged: AveragedMemberships, sampler: str, values: np.ndarray | None,
                     dims: Sequence[str]) -> tuple[Table, str]:
    """The model-averaged memberships, one row per data point, and a sentence about them.

    Parameters
    ----------
    averaged : AveragedMemberships
        What :func:`nestmix.posterior.predictive.model_averaged_memberships` returns.
    sampler : str
    values : ndarray, shape (N, D), or None
        The data (printed beside each point's memberships).
    dims : sequence of str
        Names of the data columns.

    Returns
    -------
    table : Table
        Named ``memberships_<sampler>``.
    sentence : str
        How many points belong clearly to one Gaussian, the expected number of points in each
        shared component (background, custom components) and any K left out.
    """
    ks = [int(k) for k in averaged.k_values]
    p = np.asarray(averaged.p_k, dtype=float)
    shared_names = ["background" if n == "bg" else str(n) for n in averaged.shared_names]
    gaussian = np.asarray(averaged.gaussian, dtype=float)
    shared = np.asarray(averaged.shared, dtype=float).reshape(len(gaussian), -1)
    top = np.asarray(averaged.top_gaussian, dtype=float)
    columns = [Column("point", "point", "d"), *(Column(d, d, ".3f") for d in dims),
               Column("p_gaussian", "P(any Gaussian)", ".3f"),
               *(Column(f"p_{n}", f"P({n})", ".3f") for n in shared_names),
               Column("p_top_gaussian", "P(its most probable Gaussian)", ".3f",
                      help="averaged over K of the point's largest Gaussian membership"),
               *(Column(f"top_gaussian_K{k}", f"K={k}", ".3f", show=False) for k in ks)]
    rows = []
    for i in range(len(gaussian)):
        coords = [float(v) for v in values[i]] if values is not None else [None] * len(dims)
        rows.append((i + 1, *coords, float(gaussian[i]), *(float(v) for v in shared[i]),
                     float(top[i]),
                     *(float(averaged.top_gaussian_per_k[k][i]) for k in ks)))
    caption = (f"{sampler}: memberships averaged over K with weights P(K | data). Gaussian "
               "labels mean different things in different K, so what is averaged is the "
               "probability to belong to any Gaussian, to each shared component, and to the "
               "point's most probable Gaussian of each K.")
    table = Table(f"memberships_{sampler}", f"Model-averaged memberships ({sampler})", caption,
                  tuple(columns), tuple(rows))
    sentence = (f"{sampler}, averaged over K: {int(np.sum(top > 0.9))} of {len(top)} points "
                "belong to one Gaussian with probability above 0.9; points split between "
                f"Gaussians (below 0.5): {int(np.sum(top < 0.5))}")
    for j, name in enumerate(shared_names):
        sentence += f"; expected number of points in {name}: {shared[:, j].sum():.1f}"
    if averaged.skipped:
        sentence += ("; left out (no stored memberships): K = "
                     + ", ".join(str(k) for k in averaged.skipped)
                     + "; weights renormalised to " + ", ".join(
                         f"K={k}: {v:.3f}" for k, v in zip(ks, p, strict=True)))
    return table, sentence + "."
