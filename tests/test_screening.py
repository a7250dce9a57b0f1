"""The coarse-to-fine grid (nestmix.sweep.screening, nestmix.sweep.grid): which K a model still
needs, which rows get deeper runs, and what the report says of the cells left out."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from nestmix.report.grid import format_grid_table
from nestmix.results import EvidenceRow
from nestmix.store.grid import SCREENING, load_grid
from nestmix.sweep import load_config, run_sweep
from nestmix.sweep.screening import (
    CONTENDER_NATS,
    FALL_NATS,
    MISSED_MODE_SLACK,
    TRAIL_NATS,
    is_contender,
    stop_raising_k,
)


def _row(k: int, logz: float, err: float = 0.2, sampler: str = "dynesty",
         **more) -> EvidenceRow:
    return EvidenceRow(k=k, sampler=sampler, logZ=logz, logZ_err=err, logZ_err_sim=err,
                       ln_bf=0.0, ln_bf_err=0.0, p_k=0.5, p_k_err=0.0, ncall=10, seconds=1.0,
                       ndim=3 * k, information=1.0, n_effective=100.0, **more)


KS = (1, 2, 3, 4, 5, 6)


def test_a_model_whose_ln_z_fell_clearly_twice_stops():
    rows = [_row(1, -300), _row(2, -200), _row(3, -203), _row(4, -207)]
    best = {"dynesty": rows[1]}
    why = stop_raising_k(rows, KS, best)
    assert why is not None and "fell clearly at K = 3 and K = 4" in why
    # one fall is not two; a fall within twice its error is not clear
    assert stop_raising_k(rows[:3], KS, best) is None
    noisy = [_row(1, -300), _row(2, -200), _row(3, -201.5, err=1.0), _row(4, -203, err=1.0)]
    assert FALL_NATS < 1.5 and stop_raising_k(noisy, KS, {"dynesty": noisy[1]}) is None


def test_a_model_far_behind_with_small_gains_is_pruned_but_not_one_still_climbing():
    best = {"dynesty": _row(3, -500)}
    slow = [_row(1, -900), _row(2, -800), _row(3, -790)]  # gains 100 then 10: 3 K left
    why = stop_raising_k(slow, KS, best)
    assert why is not None and "trails the best so far by 290 nats" in why
    # 290 > 20 + 2 × 10 × 3; with a last gain of 50 (20 + 300 > 290) it may still catch up
    climbing = [_row(1, -900), _row(2, -840), _row(3, -790)]
    assert stop_raising_k(climbing, KS, best) is None
    close = [_row(1, -900), _row(2, -530), _row(3, -515)]  # within TRAIL_NATS + gains
    assert TRAIL_NATS == 20 and stop_raising_k(close, KS, best) is None


def test_rows_in_doubt_never_stop_a_model():
    """A run that missed a mode is low by any amount: it must not end its model."""
    best = {"dynesty": _row(3, -500)}
    missed = [_row(1, -900), _row(2, -800),
              replace(_row(3, -790), converged=False, crosscheck_logZ=-520.0,
                      crosscheck_logZ_err=0.1, crosscheck_z=-50.0)]
    assert stop_raising_k(missed, KS, best) is None
    budget = [_row(1, -900), _row(2, -800),
              replace(_row(3, -790), converged=False, warnings=(
                  "the run stopped on its call or iteration budget before converging",))]
    assert stop_raising_k(budget, KS, best) is None
    # a check saying the ln Z is too high only makes the gap larger: the model still stops
    high = [_row(1, -900), _row(2, -800),
            replace(_row(3, -790), converged=False, crosscheck_logZ=-795.0,
                    crosscheck_logZ_err=0.1, crosscheck_z=20.0)]
    assert stop_raising_k(high, KS, best) is not None


def test_every_sampler_must_agree_before_a_model_stops():
    rows = [_row(1, -300), _row(2, -200), _row(3, -203), _row(4, -207),
            _row(1, -300, sampler="polychord"), _row(2, -200, sampler="polychord"),
            _row(3, -199, sampler="polychord"), _row(4, -198, sampler="polychord")]
    best = {"dynesty": rows[1], "polychord": rows[7]}
    assert stop_raising_k(rows, KS, best) is None
    assert stop_raising_k(rows[:4], KS, best) is not None


def test_contenders_are_near_the_best_or_have_a_check_that_is():
    best = _row(2, -100.0, err=0.2)
    assert is_contender(_row(3, -101.0), best)
    assert not is_contender(_row(3, -100.0 - CONTENDER_NATS - 0.5), best)
    # a row with large errors is a contender within three combined errors
    assert is_contender(_row(3, -103.5, err=1.5), best)
    # a row far below whose own second estimate reaches the best is a contender
    far = _row(3, -130.0, crosscheck_logZ=-100.5, crosscheck_logZ_err=0.1, crosscheck_z=-20.0)
    assert is_contender(far, best)
    assert not is_contender(replace(far, crosscheck_logZ=-125.0), best)


def test_a_row_that_missed_a_mode_is_a_contender_only_if_the_mode_could_lift_it_there():
    """A missed mode lifts ln Z by about its peak's deficit, plus MISSED_MODE_SLACK a
    parameter for a wider mode; a row below the best by more than that (the benchmark's diag
    K = 3, 117 nats behind with a deficit of 23) gets no deeper run."""
    best = _row(4, -1848.8, err=1.2)
    far = replace(_row(3, -1983.1, err=1.0), mode_deficit=23.5, converged=False)  # ndim 9
    assert not is_contender(far, best)
    # the same deficit on a row whose missed mode could reach the best: a contender
    near = replace(far, logZ=-1848.8 - 23.5 - 9 * MISSED_MODE_SLACK - 3.0)
    assert is_contender(near, best)
    assert not is_contender(replace(near, mode_deficit=None), best)
    # a deficit that cannot be measured says nothing of where the row stands
    assert is_contender(replace(far, mode_deficit=float("inf")), best)


@pytest.mark.slow
def test_a_grid_prunes_a_hopeless_model_and_the_report_says_so(tmp_path):
    """Two elongated, strongly correlated clusters: spherical components trail full ones by
    a hundred nats and gain little per extra component from K = 3, so the spherical model is
    not run at K = 4. That cell is screened (not missing), recorded with the reason and shown
    in the table."""
    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 3.8], [3.8, 4.0]])
    values = np.r_[rng.multivariate_normal([0, 0], cov, 60),
                   rng.multivariate_normal([12, -12], cov, 60)]
    np.savetxt(tmp_path / "d.csv", values, header="x,y", comments="", delimiter=",")
    (tmp_path / "g.toml").write_text(
        'name = "g"\n[data]\npath = "d.csv"\ncolumns = ["x", "y"]\n[model]\n'
        'covariance = ["full", "spherical"]\nbackground = ["none"]\n'
        "[sweep]\nk = [1, 2, 3, 4]\nnlive = 100\nescalate = 0\n")
    plan, _ = load_config(tmp_path / "g.toml")
    lines: list[str] = []
    result = run_sweep(plan, tmp_path / "out", n_jobs=2, progress=lines.append)
    by_model = {m: sorted(r.row.k for r in result.cells if r.model == m) for m in result.models}
    assert result.best_cell().model == "full" and result.best_cell().row.k == 2
    assert by_model["full"] == [1, 2, 3, 4]
    assert by_model["spherical"] == [1, 2, 3]
    assert result.missing_cells == ()
    assert {(m, k) for m, k, _ in result.screened} == {("spherical", 4)}
    record = json.loads((tmp_path / "out" / SCREENING).read_text())
    assert "trails the best" in record["screened"][0]["why"] and record["rule"]
    assert any(line.startswith("spherical: K = 4 not run") for line in lines)
    assert "screened: spherical K = 4 not run: it trails the best" in format_grid_table(
        load_grid(tmp_path / "out"))
    # the spherical model's own sweep covers the K it ran: nothing of it is missing
    assert load_grid(tmp_path / "out").sweeps["spherical"].missing == ()
    # resuming reuses every run and screens the same cells again
    again: list[str] = []
    run_sweep(plan, tmp_path / "out", n_jobs=1, progress=again.append)
    assert not any("started" in line for line in again)
    assert load_grid(tmp_path / "out").screened == result.screened
