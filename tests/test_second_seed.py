"""Rows nothing checks get a second seed (issue 31, enzyme K = 5).

A row whose ln Z neither independent estimate (bridge, importance sampling) can check, and that
rests on one run, is run again with another seed at the same settings; its error then includes
the scatter between the runs (:func:`nestmix.evidence.combine_runs`). ``escalate`` is driven
here by scripted results (the runs themselves are the sweep's business; the real sweep is in
tests/test_enzyme_k5.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nestmix.evidence import combine_runs, scatter_factor
from nestmix.results import EvidenceRow, SweepResult
from nestmix.store.summary import _deepest
from nestmix.sweep.convergence import SECOND_SEED_MIN_NDIM, escalate, needs_second_seed


def _row(runs, k=5, checked=False, err=0.29) -> EvidenceRow:
    c = combine_runs(runs, [err] * len(runs))
    several = len(runs) > 1
    check = {"crosscheck_logZ": c.logz, "crosscheck_logZ_err": 0.1, "crosscheck_z": 0.0} \
        if checked else {}
    return EvidenceRow(k=k, sampler="dynesty", logZ=c.logz, logZ_err=c.logz_err,
                       logZ_err_sim=err, ln_bf=0.0, ln_bf_err=0.0, p_k=1.0, p_k_err=0.0,
                       ncall=10, seconds=1.0, ndim=14, information=10.0, n_effective=500.0,
                       converged=True, repeats=len(runs),
                       logZ_runs=tuple(runs) if several else (),
                       logZ_err_runs=(err,) * len(runs) if several else (), **check)


def test_only_a_single_unchecked_run_needs_a_second_seed():
    assert needs_second_seed(_row([-84.8]))
    assert not needs_second_seed(_row([-84.8], checked=True))
    assert not needs_second_seed(_row([-84.8, -85.1]))
    assert not needs_second_seed(replace(_row([-84.8]), ndim=SECOND_SEED_MIN_NDIM - 1))


class Script:
    """A sweep's rows as runs are added: ``runs`` per call, by step (deeper or same)."""

    def __init__(self, first, same, deeper):
        self.runs, self.same, self.deeper, self.calls = [first], same, deeper, []

    def result(self) -> SweepResult:
        return SweepResult(name="t", rows=(_row(self.runs[-1]),), repeats=1)

    def add(self, rows, deeper=True):
        self.calls.append(("deeper" if deeper else "second seed", list(rows)))
        self.runs.append(self.deeper.pop(0) if deeper else self.runs[-1] + [self.same.pop(0)])


def test_an_unchecked_row_gets_a_second_seed_and_its_error_shows_the_scatter(tmp_path):
    # enzyme K = 5, ordered means, nlive 500: two seeds 2.1 nats apart, each ± 0.29
    script = Script([-84.81], same=[-86.90, -85.55], deeper=[[-85.30]])
    record = escalate(script.result, script.add, tmp_path, budget=1)
    # the second seed, then (the two disagree: χ² p < 0.01) a deeper run, which nothing
    # checks either: a second seed at its settings too
    assert script.calls == [("second seed", [(5, "dynesty")]), ("deeper", [(5, "dynesty")]),
                            ("second seed", [(5, "dynesty")])]
    entry = record["rows"]["K=5 dynesty"]
    assert entry["second_seeds"] == 2 and entry["extra_runs"] == 1
    assert entry["converged"] is True, entry  # the deeper step's two seeds agree
    # the row of two seeds that disagree: its error is the scatter's, not the runs' 0.29
    two = _row([-84.81, -86.90])
    assert two.logZ_err == pytest.approx(scatter_factor(2) * abs(-84.81 + 86.90) / 2)
    assert two.logZ_err > 6 * 0.29


def test_the_scatter_of_two_seeds_gives_an_honest_error():
    """Runs that scatter 2.2 times their stated errors (enzyme K = 5 at nlive 500): combined
    over two seeds, ± the error covers the truth about 68 % of the time with the Student-t
    factor, well under without it."""
    rng = np.random.default_rng(5)
    sigma, truth = 0.29, -85.0
    combined = [combine_runs(rng.normal(truth, 2.2 * sigma, 2), [sigma] * 2)
                for _ in range(2000)]
    miss = np.array([abs(c.logz - truth) for c in combined])
    errors = np.array([c.logz_err for c in combined])
    assert 0.66 < np.mean(miss < errors) < 0.76
    assert np.mean(miss < errors / scatter_factor(2)) < 0.62  # without the factor
    assert scatter_factor(2) == pytest.approx(1.84, abs=0.005)
    assert scatter_factor(1) == 1.0 and 1.0 < scatter_factor(50) < 1.02


def test_a_second_seed_that_agrees_settles_the_row(tmp_path):
    script = Script([-85.17], same=[-85.30], deeper=[])
    record = escalate(script.result, script.add, tmp_path, budget=1)
    assert script.calls == [("second seed", [(5, "dynesty")])]
    entry = record["rows"]["K=5 dynesty"]
    assert (entry["converged"], entry["second_seeds"], entry["extra_runs"]) == (True, 1, 0)
    assert entry["logZ_steps"] == [[_row([-85.17, -85.30]).logZ, _row([-85.17, -85.30]).logZ_err]]


def test_no_second_seed_without_a_budget_for_a_checked_row_or_a_non_contender(tmp_path):
    calls: list = []

    def add(rows, deeper=True):
        calls.append(rows)

    for budget, checked, contender in ((0, False, True), (1, True, True), (1, False, False)):
        row = _row([-85.0], checked=checked)
        escalate(lambda row=row: SweepResult(name="t", rows=(row,), repeats=1), add,
                 tmp_path, budget, refine=lambda r, contender=contender: contender)
        assert calls == [], (budget, checked, contender)


def test_a_second_seed_that_never_lands_is_asked_for_once_per_step(tmp_path):
    calls = []

    def result():
        return SweepResult(name="t", rows=(_row([-85.0]),), repeats=1)

    escalate(result, lambda rows, deeper=True: calls.append(deeper), tmp_path, budget=1)
    assert calls == [False]


def _manifest(repeat, step=0, second=False):
    summary = {"k": 5, "sampler": "dynesty", "logZ": -85.0 - 0.1 * repeat, "logZ_err": 0.29,
               "logZ_err_sim": 0.29, "ncall": 10, "seconds": 1.0, "ndim": 14,
               "information": 10.0, "n_effective": 500.0, "converged": True,
               "seed": repeat}
    out = {"k": 5, "sampler": "dynesty", "repeat": repeat, "summary": summary}
    if step:
        out |= {"escalation": step, "nlive": 500 * 2**step}
    return out | ({"second_seed": True} if second else {})


def test_second_seeds_are_not_counted_as_deeper_runs():
    group = [_manifest(1), _manifest(2, second=True), _manifest(3, step=1),
             _manifest(4, step=1, second=True)]
    kept, depth = _deepest(group, repeats=1)
    assert [r["repeat"] for r in kept] == [3, 4]  # the deeper step, both its seeds
    assert depth["escalations"] == 1 and depth["nlive"] == 1000
