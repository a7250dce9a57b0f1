"""Repeated seeds per K: stored side by side, fingerprinted, resumed, combined into one row with
their spread; progress names every task's start and finish."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, load_sweep, run_sweep
from nestmix.errors import ModelError, RunStoreError
from nestmix.evidence.arithmetic import bayes_factors, posterior_probabilities, scatter_factor
from nestmix.report.table import format_table
from tests.conftest import TOY_PRIORS, toy_values

PRIORS = TOY_PRIORS


@pytest.fixture(scope="module")
def data() -> Measurements:
    return Measurements.from_arrays(toy_values(25))


@pytest.fixture(scope="module")
def plan(data) -> SweepPlan:
    return SweepPlan(name="toy", data=data, spec=ModelSpec(priors=PRIORS), k_values=(1, 2),
                     settings={"nlive": 30}, seed=7, repeats=3)


@pytest.fixture(scope="module")
def swept(plan, tmp_path_factory) -> tuple[Path, list[str]]:
    """A sweep with three seeds per K, run on two worker processes, and its progress lines."""
    out = tmp_path_factory.mktemp("repeats") / "toy"
    lines: list[str] = []
    run_sweep(plan, out, n_jobs=2, progress=lines.append)
    return out, lines


def manifests(out: Path, k: int) -> list[dict]:
    return [json.loads((out / f"K={k}" / name / "manifest.json").read_text())
            for name in ("dynesty", "dynesty.repeat2", "dynesty.repeat3")]


def test_each_repeat_is_its_own_run_with_its_own_seed(swept, plan):
    out, _ = swept
    for k in (1, 2):
        assert sorted(p.name for p in (out / f"K={k}").iterdir()) == [
            "dynesty", "dynesty.repeat2", "dynesty.repeat3"]
        runs = manifests(out, k)
        assert [m.get("repeat", 1) for m in runs] == [1, 2, 3]
        seeds = [m["summary"]["seed"] for m in runs]
        assert seeds == [plan.seed_for(k, r) for r in (1, 2, 3)]
        assert len(set(seeds)) == 3
        assert len({m["fingerprint"] for m in runs}) == 3
    # repeat 1 is the run a sweep without repeats makes: same seed, same fingerprint
    single = replace(plan, repeats=1)
    assert single.run_manifest(2, "dynesty") == plan.run_manifest(2, "dynesty", 1)
    assert manifests(out, 2)[0]["fingerprint"] == single.run_manifest(2, "dynesty")[
        "fingerprint"]


def test_on_several_workers_the_largest_k_starts_first(swept):
    _, lines = swept
    started = [x.split(":")[0] for x in lines if x.endswith(")") and ": started (seed" in x]
    assert started == ["K=2 dynesty", "K=2 dynesty repeat 2", "K=2 dynesty repeat 3",
                       "K=1 dynesty", "K=1 dynesty repeat 2", "K=1 dynesty repeat 3"]


def test_rows_combine_the_seeds_and_show_their_spread(swept):
    out, _ = swept
    result = load_sweep(out)
    summary = json.loads((out / "summary.json").read_text())
    assert [(r.k, r.repeats) for r in result.rows] == [(1, 3), (2, 3)]
    combined = []
    for row, written in zip(result.rows, summary["rows"], strict=True):
        runs = [m["summary"] for m in manifests(out, row.k)]
        logz = np.array([s["logZ"] for s in runs])
        err = np.array([s["logZ_err"] for s in runs])
        w = 1 / err**2
        mean = np.sum(w * logz) / np.sum(w)
        sigma = max(np.sum(w) ** -0.5, scatter_factor(3) * np.std(logz, ddof=1) / np.sqrt(3))
        assert row.logZ == pytest.approx(mean, rel=1e-12)
        assert row.logZ_err == pytest.approx(sigma, rel=1e-12)
        assert row.logZ_spread == pytest.approx(np.std(logz, ddof=1), rel=1e-12)
        assert row.logZ_err_run == pytest.approx(err.mean(), rel=1e-12)
        assert row.logZ_runs == tuple(logz) and row.seeds == tuple(s["seed"] for s in runs)
        assert row.ncall == sum(s["ncall"] for s in runs)
        for key in ("logZ", "logZ_err", "logZ_spread", "logZ_err_run", "repeats"):
            assert written[key] == pytest.approx(getattr(row, key), rel=1e-15)
        assert written["logZ_runs"] == list(logz)
        combined.append((mean, sigma))
        # the seeds agree with each other within their errors on this easy problem
        assert np.ptp(logz) < 4 * err.max()
    ln_bf, ln_bf_err = bayes_factors(*zip(*combined, strict=True))
    p, _ = posterior_probabilities(*zip(*combined, strict=True))
    assert [r.ln_bf for r in result.rows] == pytest.approx(list(ln_bf), rel=1e-12)
    assert [r.ln_bf_err for r in result.rows] == pytest.approx(list(ln_bf_err), rel=1e-12)
    assert [r.p_k for r in result.rows] == pytest.approx(list(p), rel=1e-12)
    assert result.best().k == 2
    table = format_table(result)
    assert "seeds" in table and "spread" in table
    line = next(x for x in table.splitlines() if x.startswith("dynesty      2"))
    assert f"{result.rows[1].logZ_spread:.3f}" in line and f"{result.rows[1].logZ_err_run:.3f}" \
        in line


def test_progress_names_start_and_finish_of_every_task(swept, plan):
    _, lines = swept
    assert lines[0].startswith("running K = 1, 2 with dynesty (6 runs, up to 3 seeds per K) "
                               "on 2 workers")
    for k in (1, 2):
        for r in (1, 2, 3):
            label = f"K={k} dynesty" + ("" if r == 1 else f" repeat {r}")
            seed = plan.seed_for(k, r)
            start = [i for i, x in enumerate(lines) if x == f"{label}: started (seed {seed})"]
            finish = [i for i, x in enumerate(lines)
                      if re.match(rf"{label}: logZ = -?\d+\.\d\d ± \d\.\d\d .* seed {seed}, "
                                  r"\d+\.\d s elapsed  \[\d/6 to run done\]$", x)]
            assert len(start) == 1 and len(finish) == 1 and start[0] < finish[0], label
    # never more tasks running than workers
    running = peak = 0
    for x in lines:
        running += x.endswith(")") and ": started (seed" in x
        running -= "to run done]" in x
        peak = max(peak, running)
    assert peak == 2


def test_resume_reuses_every_repeat_and_runs_only_new_ones(swept, plan, tmp_path):
    out = tmp_path / "toy"
    shutil.copytree(swept[0], out)
    before = {str(p): p.stat().st_mtime_ns for p in out.glob("K=*/*/*")}
    lines: list[str] = []
    again = run_sweep(plan, out, progress=lines.append)
    assert sum("reused finished run" in x for x in lines) == 6
    assert {str(p): p.stat().st_mtime_ns for p in out.glob("K=*/*/*")} == before
    assert again.rows == load_sweep(swept[0]).rows

    # one repeat lost: it shows as missing, its K combines the two left, and only it is rerun
    shutil.rmtree(out / "K=2" / "dynesty.repeat3")
    partial = load_sweep(out)
    assert partial.missing == () and partial.missing_repeats == ((2, "dynesty", 3),)
    assert [r.repeats for r in partial.rows] == [3, 2]
    assert "repeats not finished: K=2 dynesty repeat 3" in format_table(partial)
    lines.clear()
    run_sweep(plan, out, progress=lines.append)
    assert [x for x in lines if "started" in x] == [
        f"K=2 dynesty repeat 3: started (seed {plan.seed_for(2, 3)})"]
    # the same seed makes the same run again
    assert [r.logZ_runs for r in load_sweep(out).rows] == [r.logZ_runs for r in again.rows]

    # a repeat made with another seed is refused, naming its directory
    path = out / "K=1" / "dynesty.repeat2" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "fingerprint": "0" * 64}))
    with pytest.raises(RunStoreError, match=r"K=1/dynesty.repeat2 was made with a different"):
        run_sweep(plan, out)


def test_a_sweep_without_repeats_grows_into_one_with_repeats(plan, swept, tmp_path):
    out = tmp_path / "toy"
    single = run_sweep(replace(plan, repeats=1, k_values=(1,)), out)
    assert single.rows[0].repeats == 1 and single.rows[0].logZ_spread is None
    lines: list[str] = []
    result = run_sweep(replace(plan, k_values=(1,)), out, progress=lines.append)
    assert sum("reused finished run" in x for x in lines) == 1
    assert sum("started" in x for x in lines) == 2
    # the same three runs as the sweep made with three repeats from the start
    assert result.rows[0].logZ_runs == load_sweep(swept[0]).rows[0].logZ_runs


def test_repeats_must_be_a_positive_integer(plan):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ModelError, match=r"sweep.repeats: .* integer >= 1"):
            replace(plan, repeats=bad)


def test_report_shows_the_spread_over_seeds(swept, tmp_path):
    import csv

    from nestmix.report import write_report

    out = tmp_path / "toy"
    shutil.copytree(swept[0], out)
    write_report(out, figures=False)
    rows = load_sweep(out).rows
    with open(out / "evidence.csv", newline="") as handle:
        printed = list(csv.DictReader(handle))
    for cells, row in zip(printed, rows, strict=True):
        assert int(cells["repeats"]) == 3
        assert float(cells["logZ_spread"]) == pytest.approx(row.logZ_spread, rel=1e-15)
        assert float(cells["logZ_err_run"]) == pytest.approx(row.logZ_err_run, rel=1e-15)
    markdown = (out / "report.md").read_text().replace("**", "")  # best row in bold
    assert "spread over seeds" in markdown and "σ per run" in markdown
    for row in rows:
        assert f"| 3 | {row.logZ_spread:.3f} | {row.logZ_err_run:.3f} |" in markdown
    assert "3 seeds per K: 6 runs" in markdown
