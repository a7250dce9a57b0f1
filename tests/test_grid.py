"""Models × K grids: configs with lists of models, one directory, one table, one verdict."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

import nestmix
from nestmix.cli import main
from nestmix.errors import ConfigError, RunStoreError
from nestmix.report.grid import grid_verdict, plot_grid_evidence
from nestmix.results import EvidenceRow, GridRow, SweepResult
from nestmix.service.grid_jobs import finished_count, finished_rows, job_runs
from nestmix.store.grid import load_grid
from nestmix.sweep import SweepPlan, load_config, run_sweep


def grid_config(tmp_path: Path, rng, covariance='["full", "tied"]',
                background='["none", "uniform"]', ks="[1, 2]", nlive=30) -> Path:
    values = np.r_[rng.normal(0.0, 1.0, 30), rng.normal(5.0, 1.0, 30)]
    np.savetxt(tmp_path / "d.csv", values, header="x", comments="")
    path = tmp_path / "g.toml"
    path.write_text(f'name = "g"\n[data]\npath = "d.csv"\n[model]\ncovariance = {covariance}\n'
                    f'background = {background}\n[sweep]\nk = {ks}\nnlive = {nlive}\n')
    return path


def test_lists_of_models_make_a_grid_of_every_combination(tmp_path, rng):
    plan, _ = load_config(grid_config(tmp_path, rng))
    assert plan.is_grid
    assert plan.models == ("full", "full+uniform", "tied", "tied+uniform")
    # default priors per model, and the seed of (K, repeat) of a model alone
    for _, sub in plan.model_plans():
        assert sub.spec.priors and sub.k_values == (1, 2)
        assert sub.seed_for(2) == SweepPlan(name="x", data=plan.data, spec=sub.spec,
                                            k_values=(2,)).seed_for(2)


def test_one_model_in_a_list_is_a_plain_sweep_and_repeats_are_refused(tmp_path, rng):
    plan, _ = load_config(grid_config(tmp_path, rng, '["tied"]', '"none"'))
    assert isinstance(plan, SweepPlan) and plan.spec.covariance == "tied"
    with pytest.raises(ConfigError, match=r"model\.covariance"):
        load_config(grid_config(tmp_path, rng, '["tied", "tied"]'))
    with pytest.raises(ConfigError, match=r"model\.background"):
        load_config(grid_config(tmp_path, rng, '"full"', '["none", "box"]'))


def _row(k: int, logz: float, sampler: str = "dynesty", err: float = 0.1) -> EvidenceRow:
    return EvidenceRow(k=k, sampler=sampler, logZ=logz, logZ_err=err, logZ_err_sim=err,
                       ln_bf=0.0, ln_bf_err=0.0, p_k=0.5, p_k_err=0.0, ncall=10, seconds=1.0,
                       ndim=3, information=1.0, n_effective=100.0)


def _grid(cells: list[tuple[str, int, float, str]], err: float = 0.1) -> SweepResult:
    rows = []
    for sampler in sorted({c[3] for c in cells}):
        mine = [c for c in cells if c[3] == sampler]
        top = max(c[2] for c in mine)
        z = np.exp([c[2] - top for c in mine])
        rows += [GridRow(model=m, covariance=m.split("+")[0],
                         background="uniform" if "+" in m else "none",
                         row=_row(k, lz, s, err), ln_bf=lz - top, ln_bf_err=0.14, p=float(p),
                         p_err=0.01) for (m, k, lz, s), p in zip(mine, z / z.sum(), strict=True)]
    return SweepResult(name="g", directory="", models=("full", "tied"), k_values=(1, 2, 3),
                       cells=tuple(rows))


def _checked(result: SweepResult, unchecked: tuple[tuple[str, int], ...] = ()) -> SweepResult:
    """``result`` with every row checked (a second estimate, an optimiser record) but those in
    ``unchecked`` (an optimiser record, no second estimate: too few effective draws)."""
    from dataclasses import replace

    rows = tuple(replace(r, row=replace(r.row, best_logl=-1.0, crosscheck_z=None
                                        if (r.model, r.row.k) in unchecked else 0.5))
                 for r in result.cells)
    return replace(result, cells=rows)


def test_no_best_cell_is_named_when_a_row_deciding_the_verdict_could_not_be_checked():
    """Issue 31 item 4: the best row, or a contender close enough to change the verdict,
    without a second estimate of its ln Z makes the verdict say that no best (model, K) can
    be named; an unchecked row far behind does not."""
    result = _grid([("full", 3, -5.0, "dynesty"), ("tied", 3, -6.5, "dynesty"),
                    ("tied", 2, -40.0, "dynesty")], err=0.2)
    assert grid_verdict(_checked(result))[0].startswith("The data prefer K = 3 with the full")
    assert grid_verdict(_checked(result, (("tied", 2),)))[0].startswith("The data prefer")
    headline = grid_verdict(_checked(result, (("full", 3),)))[0]
    assert headline.startswith("No best (model, K) can be named: the ln Z of K = 3 with the "
                               "full model could not be checked"), headline
    assert "dynesty puts K = 3 with the full model ahead" in headline
    headline = grid_verdict(_checked(result, (("tied", 3), ("tied", 2))))[0]
    assert headline.startswith("No best (model, K) can be named: the ln Z of K = 3 with the "
                               "tied model could not"), headline
    assert "K = 2 with the tied" not in headline
    # rows made before the checks existed (no optimiser record) keep the usual verdict
    assert grid_verdict(result)[0].startswith("The data prefer K = 3 with the full")


def test_the_models_that_decide_the_verdict_are_the_best_and_its_contenders():
    """Their reports get figures in the grid's report; a model far behind on every sampler
    does not (issue 32: corner plots of trailing models were a fifth of the CPU)."""
    from nestmix.report.grid import deciding_models

    result = _grid([("full", 3, -5.0, "dynesty"), ("tied", 3, -40.0, "dynesty"),
                    ("full", 2, -30.0, "polychord"), ("tied", 2, -31.0, "polychord")])
    assert deciding_models(result) == {"full", "tied"}  # tied is a contender on PolyChord
    assert deciding_models(_grid([("full", 3, -5.0, "dynesty"),
                                  ("tied", 3, -40.0, "dynesty")])) == {"full"}
    assert deciding_models(_grid([("full", 3, -5.0, "dynesty"),
                                  ("tied", 3, -6.0, "dynesty")])) == {"full", "tied"}


def test_the_verdict_names_the_best_model_and_k_and_the_margin_over_the_runner_up():
    result = _grid([("full", 2, -10.0, "dynesty"), ("full", 3, -9.0, "dynesty"),
                    ("tied", 3, -5.0, "dynesty"), ("tied", 2, -10.5, "dynesty")])
    headline, details = grid_verdict(result)
    assert headline.startswith("The data prefer K = 3 with the tied model: strong evidence "
                               "over the runner-up, K = 3 with the full model (ln Bayes "
                               "factor 4.00)")
    assert "P(model | data): tied 0.9" in details[0]
    near = _grid([("full", 3, -5.5, "dynesty"), ("tied", 3, -5.0, "dynesty")])
    assert "about equally good" in grid_verdict(near)[0]
    # a margin over one nat but within twice its error (errors of nlive-100 runs on make_blobs)
    # decides nothing; with errors a third as large the same margin is positive evidence
    cells = [("tied", 3, -1964.10, "dynesty"), ("tied", 4, -1962.60, "dynesty")]
    headline = grid_verdict(_grid(cells, err=0.65))[0]
    assert headline.startswith("K = 4 with the tied model is ahead of K = 3 with the tied model "
                               "by an ln Bayes factor of 1.50 ± 0.92, less than twice its error")
    assert "prefer" not in headline
    assert grid_verdict(_grid(cells, err=0.2))[0].startswith("The data prefer K = 4 with the "
                                                             "tied model: positive evidence")
    split = _grid([("full", 3, -5.0, "dynesty"), ("tied", 3, -6.0, "dynesty"),
                   ("full", 3, -6.0, "polychord"), ("tied", 3, -5.0, "polychord")])
    assert grid_verdict(split)[0].startswith("The samplers differ on the best (model, K)")


def test_the_grid_verdict_is_uncertain_when_a_trailing_cell_may_be_underestimated():
    """A cell that found 2 of its 6 relabellings may be ln 3 = 1.10 nats low: behind by 0.5,
    the preference for the best cell is uncertain, in the headline and the sampler's sentence."""
    from dataclasses import replace

    from nestmix.modes.census import _warning
    from nestmix.results import SweepResult

    result = _grid([("full", 3, -5.5, "dynesty"), ("tied", 2, -5.0, "dynesty"),
                    ("tied", 3, -9.0, "dynesty")])
    masses = {"0-1-2": 0.5, "1-0-2": 0.5}
    census = {"k": 3, "exchangeable": True, "expected_copies": 6, "copies_visited": 2,
              "masses": masses, "n_effective": 500.0,
              "warning": _warning(3, 6, np.array([0.5, 0.5]), 2, 500.0)}
    sweeps = {"full": SweepResult(name="full", rows=(), modes=(
        {"k": 3, "sampler": "dynesty", "census": census},))}
    headline, details = grid_verdict(replace(result, sweeps=sweeps))
    assert headline.startswith("K = 2 with the tied model is ahead (ln Bayes factor 0.50 over "
                               "the runner-up, K = 3 with the full model), but the preference "
                               "is uncertain: dynesty found only 2 of the 6 equivalent "
                               "relabellings of the K = 3 fit"), headline
    assert "by which it trails: K = 3 with the full model may be as good or better" in headline
    assert "but the preference is uncertain" in details[0]
    assert grid_verdict(result)[0].startswith("K = 2 with the tied model and K = 3 with the "
                                              "full model are about equally good")


def test_a_1d_grid_refuses_covariance_models_that_are_the_same_model(tmp_path, rng):
    with pytest.raises(ConfigError, match=r"model\.covariance") as info:
        load_config(grid_config(tmp_path, rng, '["full", "diag", "spherical", "tied"]',
                                '"none"'))
    message = str(info.value)
    assert "\n" not in message
    assert ("for 1-D data full, diag, spherical are the same model (one variance per "
            "component)") in message and 'covariance = ["full", "tied"]' in message
    plan, _ = load_config(grid_config(tmp_path, rng, '["diag", "tied"]', '"none"'))
    assert plan.is_grid and plan.models == ("diag", "tied")
    values = rng.normal(size=(40, 2))  # in 2-D they differ: all four are a grid
    np.savetxt(tmp_path / "d.csv", values, header="x,y", comments="", delimiter=",")
    path = tmp_path / "g2.toml"
    path.write_text('name = "g"\n[data]\npath = "d.csv"\ncolumns = ["x", "y"]\n[model]\n'
                    'covariance = ["full", "diag", "spherical", "tied"]\n[sweep]\nk = [1, 2]\n')
    assert load_config(path)[0].models == ("full", "diag", "spherical", "tied")


def test_k1_full_and_tied_are_one_row_of_the_table_and_not_each_others_runner_up():
    from nestmix.report.grid import format_grid_table, grid_table, merge_same_models

    result = _grid([("full", 1, -10.0, "dynesty"), ("full", 2, -12.0, "dynesty"),
                    ("tied", 1, -10.02, "dynesty"), ("tied", 2, -13.0, "dynesty")])
    merged, notes = merge_same_models(result)
    k1 = [r for r in merged.cells if r.row.k == 1]
    assert [r.model for r in k1] == ["full = tied"] and k1[0].row.logZ == -10.0
    assert k1[0].p == pytest.approx(sum(r.p for r in result.cells if r.row.k == 1))
    assert len(merged.cells) == 3 and len(notes) == 1
    assert "tied: -10.020 ± 0.100" in notes[0] and "the same model" in notes[0]
    table = grid_table(result)
    assert [(row[0], row[1]) for row in table.rows] == [
        ("full = tied", 1), ("full", 2), ("tied", 2)]
    assert "K = 1: full = tied are the same model" in table.caption
    headline, details = grid_verdict(result)
    # the runner-up is K = 2 full, not the K = 1 tied copy of the best
    assert headline.startswith("The data prefer K = 1 with the full = tied model"), headline
    assert "runner-up, K = 2 with the full model" in headline
    assert "P(model | data): full 0.5" in details[0]  # per model, from every run
    text = format_grid_table(result)
    assert text.count("full = tied") >= 2 and "\ntied               1" not in text
    # with a background, and with another sampler, each K = 1 pair is merged on its own
    two = _grid([("full", 1, -10.0, "dynesty"), ("tied", 1, -10.1, "dynesty"),
                 ("full", 1, -10.0, "polychord"), ("tied", 1, -10.1, "polychord")])
    assert [r.model for r in merge_same_models(two)[0].cells] == ["full = tied"] * 2


def test_the_grid_plot_has_one_line_per_model_and_a_panel_per_sampler():
    result = _grid([("full", 1, -10.0, "dynesty"), ("full", 2, -9.0, "dynesty"),
                    ("tied", 1, -10.0, "dynesty"), ("tied", 2, -5.0, "dynesty"),
                    ("tied", 2, -5.0, "polychord")])
    fig = plot_grid_evidence(result)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].containers) == 2 and len(fig.axes[1].containers) == 1
    assert "one line per model" in fig.axes[0].get_title()


@pytest.mark.slow
def test_a_grid_runs_resumes_and_reports_over_models(tmp_path, rng, capsys):
    """The acceptance case: full and tied, with and without a background, K = 1, 2: 8 runs in
    one directory; killed after some finished, the rerun reuses them and runs the rest; the
    report shows the grid plot and the verdict over models."""
    config = grid_config(tmp_path, rng)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nestmix.cli", "sweep", str(config),
                             "--out", str(out), "--jobs", "1", "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("model=*/K=*/dynesty/manifest.json"))) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.05)
        assert proc.poll() is None, "the grid finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    partial = load_grid(out)
    finished = {(r.model, r.row.k): r.row.logZ for r in partial.cells}
    assert 2 <= len(finished) < 8 and len(partial.missing_cells) == 8 - len(finished)

    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("reused finished run") == len(finished)
    result = load_grid(out)
    assert len(result.cells) == 8 and result.missing_cells == ()
    for r in result.cells:  # the reused runs are the same runs (a row the check escalated is
        first = r.row.logZ if r.row.previous_logZ is None else r.row.previous_logZ  # set aside)
        assert finished.get((r.model, r.row.k), first) == first
    assert sum(r.p for r in result.cells) == pytest.approx(1.0)
    summary = json.loads((out / "summary.json").read_text())
    assert {row["model"] for row in summary["rows"]} == set(result.models)
    best = result.best_cell()
    assert best.row.k == 2  # two well-separated clusters
    page = (out / "report.html").read_text()
    assert "ln Z against K, one line per model" in page
    headline = grid_verdict(result)[0]  # the best (model, K) named first, however decisive
    assert headline.removeprefix("The data prefer ").startswith(f"K = 2 with the {best.model} "
                                                                "model")
    assert headline in page
    assert (out / "report" / "grid_evidence.png").is_file()
    assert (out / f"model={best.model}" / "report.html").is_file()
    opened = nestmix.open_sweep(out, model=best.model)  # one model's sweep of the grid
    assert opened.result.best().logZ == best.row.logZ and opened.spec is not None
    whole = nestmix.open_sweep(out)  # the grid itself: its table over every model
    assert whole.result.cells == result.cells and whole.data is not None
    assert whole.for_model(best.model).result == opened.result
    assert "grid sweep 'g'" in printed and main(["show", str(out)]) == 0
    # what the service's job table reads: one run per (K, model/sampler)
    plan = load_config(config)[0]
    # (with the deeper runs the convergence check added, and the runs they set aside)
    assert finished_count(out) == 8 + sum(r.row.repeats - 1 + r.row.escalations
                                          for r in result.cells)
    assert set(finished_rows(out)) == set(job_runs(plan)) == {
        (k, f"{m}/dynesty") for m in result.models for k in (1, 2)}
    # a single-model sweep cannot be written into the grid's directory, nor the other way
    with pytest.raises(RunStoreError, match="models × K grid"):
        run_sweep(load_config(config)[0].model_plans()[0][1], out)
    run_sweep(load_config(config)[0].model_plans()[0][1], tmp_path / "plain")
    with pytest.raises(RunStoreError, match="single-model"):
        run_sweep(load_config(config)[0], tmp_path / "plain")


@pytest.mark.slow
def test_the_estimator_runs_its_models_as_one_grid(tmp_path, rng):
    from nestmix import NestedGaussianMixture

    x = np.r_[rng.normal(-3.0, 0.5, 30), rng.normal(3.0, 0.5, 30)]
    gm = NestedGaussianMixture(k=[1, 2], covariance="auto", background=["none", "uniform"],
                               sampler_settings={"nlive": 40}, n_jobs=1,
                               directory=tmp_path).fit(x)
    assert (tmp_path / "grid.json").is_file()
    grid = load_grid(tmp_path)
    assert set(gm.evidence_["model"]) == set(grid.models) == {
        "full", "full+uniform", "tied", "tied+uniform"}
    best = grid.best_cell()
    assert (gm.best_k_, gm.best_model_["covariance"], gm.best_model_["background"]) == (
        best.row.k, best.covariance, best.background)
    assert gm.best_k_ == 2 and gm.means_.shape == (2, 1)


@pytest.mark.slow
def test_the_service_runs_a_grid_job(tmp_path):
    from tests.conftest import Server, config, finished

    server = Server(tmp_path / "runs", "--workers", "1").start()
    try:
        text = config("grid", extra='[model]\ncovariance = ["full", "tied"]\n')
        response = server.submit(text)
        assert response.status_code == 201, response.text
        job = response.json()
        assert sorted((r["k"], r["sampler"]) for r in job["runs"]) == [
            (1, "full/dynesty"), (1, "tied/dynesty"), (2, "full/dynesty"), (2, "tied/dynesty")]
        job = server.wait(job["id"], finished)
        assert job["state"] == "done", job
        assert job["progress"] == {"done": 4, "total": 4}
        summary = server.client.get(f"/jobs/{job['id']}/summary.json").json()
        assert {(r["model"], r["k"]) for r in summary["rows"]} == {
            (m, k) for m in ("full", "tied") for k in (1, 2)}
        page = server.client.get(f"/jobs/{job['id']}/report").text
        assert "one line per model" in page and "with the" in page
    finally:
        assert server.stop()


@pytest.mark.slow
def test_a_grid_runs_on_both_samplers_with_repeats_and_resumes(tmp_path, rng):
    """Issue 19: "Resume, repeats, both samplers and the service work on grids as on single
    models". Two models × K = 1, 2 × dynesty and PolyChord × 2 seeds (16 small runs); one run
    deleted, the rerun reuses the other 15 and makes only that one again."""
    from nestmix.report import write_report
    from nestmix.samplers.polychord import install_polychord

    install_polychord(progress=lambda line: None)  # a no-op where it is installed already
    config = grid_config(tmp_path, rng, background='"none"', nlive=25)
    config.write_text(config.read_text().replace(
        "nlive = 25\n", 'nlive = 25\nsampler = ["dynesty", "polychord"]\nrepeats = 2\n'
                         "[sweep.polychord]\nnum_repeats = 5\n"))  # a fifth of the default
    plan, _ = load_config(config)
    assert plan.is_grid and plan.samplers == ("dynesty", "polychord")
    out = tmp_path / "out"
    result = run_sweep(plan, out, n_jobs=2)
    assert result.missing_cells == () and len(result.cells) == 8
    assert {(r.model, r.row.k, r.row.sampler) for r in result.cells} == {
        (m, k, s) for m in ("full", "tied") for k in (1, 2) for s in ("dynesty", "polychord")}
    assert all(r.row.repeats == 2 and len(r.row.logZ_runs) == 2 for r in result.cells)
    for sampler in ("dynesty", "polychord"):  # two clusters 5σ apart
        assert result.best_cell(sampler).row.k == 2
        assert sum(r.p for r in result.cells if r.row.sampler == sampler) == pytest.approx(1.0)
    by_cell: dict[tuple[str, int], list[EvidenceRow]] = {}
    for r in result.cells:
        by_cell.setdefault((r.model, r.row.k), []).append(r.row)
    for (model, k), (a, b) in by_cell.items():  # the samplers agree within 4 combined σ
        assert abs(a.logZ - b.logZ) < 4 * np.hypot(a.logZ_err, b.logZ_err), (model, k, a, b)
    # resume: one PolyChord seed lost; the rest are reused, that one is run again
    lost = out / "model=tied" / "K=2" / "polychord.repeat2"
    assert (lost / "manifest.json").is_file()
    before = {(r.model, r.row.k, r.row.sampler): r.row.logZ_runs for r in result.cells}
    shutil.rmtree(lost)
    assert load_grid(out).missing_cells != () or any(
        r.row.repeats == 1 for r in load_grid(out).cells)
    lines: list[str] = []
    again = run_sweep(plan, out, n_jobs=1, progress=lines.append)
    assert sum("reused finished run" in line for line in lines) == 15, lines
    assert (lost / "manifest.json").is_file()
    after = {(r.model, r.row.k, r.row.sampler): r.row.logZ_runs for r in again.cells}
    assert after == before  # fixed seeds: the rerun run is the run it replaces
    # the service's view of the job, and the report over both samplers
    assert finished_count(out) == 16
    assert set(finished_rows(out)) == set(job_runs(plan)) == {
        (k, f"{m}/{s}") for m in ("full", "tied") for s in ("dynesty", "polychord")
        for k in (1, 2)}
    write_report(out, figures=False)
    page = (out / "report.md").read_text()
    assert "dynesty: P(" in page and "polychord: P(" in page


def test_the_same_model_run_twice_at_k1_gets_one_models_prior():
    """Full and tied at K = 1 are one model: their two cells share one cell's prior, so
    P(model, K | data) summed over them is what the model alone would get."""
    from nestmix.evidence.arithmetic import posterior_probabilities
    from nestmix.store.grid import cell_prior

    cells = [("full", "none", 1), ("tied", "none", 1), ("full", "none", 2), ("tied", "none", 2),
             ("spherical", "none", 1), ("full", "uniform", 1), ("tied", "uniform", 1)]
    assert cell_prior(cells) == [0.5, 0.5, 1.0, 1.0, 1.0, 0.5, 0.5]
    logz = [-10.0, -10.0, -10.5, -11.0, -12.0]
    p, _ = posterior_probabilities(logz, [0.1] * 5, cell_prior(cells[:5]))
    alone, _ = posterior_probabilities([-10.0, -10.5, -11.0, -12.0], [0.1] * 4)
    assert p[0] + p[1] == pytest.approx(alone[0])
    assert p[2:] == pytest.approx(alone[1:])


def test_the_grid_report_carries_every_warning_and_sensitivity_line_of_its_models(tmp_path,
                                                                                   rng,
                                                                                   monkeypatch):
    """Two clusters, K = 1, 2: each model's best K is the largest of the sweep. The grid's own
    report.md says so for every model, and carries each model's prior-sensitivity sentence."""
    from nestmix.report import write_report

    config = grid_config(tmp_path, rng, covariance='["full", "tied"]', background='["none"]')
    config.write_text(config.read_text() + "escalate = 0\n")
    plan, _ = load_config(config)
    out = tmp_path / "out"
    run_sweep(plan, out, n_jobs=1)
    write_report(out, figures=False)
    top = (out / "report.md").read_text()
    for model in plan.models:
        own = (out / f"model={model}" / "report.md").read_text()
        assert "is the largest K of the sweep" in own
        assert f"{model}: dynesty: the best K (2) is the largest K of the sweep" in top
        sensitivity = next(line for line in own.splitlines() if "prior sensitivity" in line)
        assert sensitivity.lstrip("- ") in top
    # the grid's page links each model's report and its own table, and each link is a file
    page = (out / "report.html").read_text()
    links = {unquote(link) for link in re.findall(r'href="([^"#:]+)"', page)}
    assert {"evidence.csv", *(f"model={m}/report.html" for m in plan.models)} <= links
    assert all((out / link).is_file() for link in links)
    # with figures: those of the models that decide the verdict; a trailing model's report
    # has tables only and says how to draw its figures (here: tied, made to trail)
    import nestmix.report.grid as grid_report
    from nestmix.report.build import _write_report

    result = load_grid(out)
    assert grid_report.deciding_models(result) <= set(plan.models)
    calls: dict[str, tuple[bool, str]] = {}

    def model_report(sub, *, seed, figures, figures_note=""):
        calls[Path(sub).name] = (figures, figures_note)
        return _write_report(Path(sub), seed=seed, figures=figures, figures_note=figures_note)

    best = result.best_cell().model
    trailing = next(m for m in plan.models if m != best)
    monkeypatch.setattr(grid_report, "deciding_models", lambda r: frozenset({best}))
    grid_report.write_grid_report(out, model_report=model_report)
    assert calls[f"model={best}"] == (True, "")
    drawn, note = calls[f"model={trailing}"]
    assert not drawn and f"nestmix report {out / f'model={trailing}'}" in note
    assert note in (out / f"model={trailing}" / "report.md").read_text().replace("\\", "")
    assert not list((out / f"model={trailing}" / "report").glob("*.png"))
    assert list((out / f"model={best}" / "report").glob("corner_*.png"))
    top = (out / "report.md").read_text().replace("\\", "")
    assert f"drawn for {best} (the best (model, K) and its contenders); not for {trailing}" in top
    assert f"the report of model {best}: modes, memberships, figures and its own" in top
    assert f"the report of model {trailing}: modes, memberships, its own tables" in top
