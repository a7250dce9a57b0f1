"""The cost estimate before the first run (issue 32 item 3, issue 33 N4): the pilot, the rule
for the calls, the line the command prints and the refusal above ``--max-minutes``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nestmix.cli import main
from nestmix.model import ModelSpec
from nestmix.sweep import run_sweep
from nestmix.sweep.cost import (
    ESCALATION_RATE,
    SECOND_SEED_RATE,
    estimate_cost,
    expected_calls,
    expected_extra,
)
from nestmix.sweep.plan import SweepPlan

ROOT = Path(__file__).resolve().parents[1]
PRIORS = {"mean": {"dist": "norm", "loc": 20, "scale": 10},
          "variance": {"dist": "invgamma", "a": 3, "scale": 20}}
LINE = re.compile(r"^cost: (up to )?(\d+) runs?, (under a minute|about [\d.]+ (minutes?|hours)) on "
                  r"(\d+) cores? ")


def galaxies_plan(galaxies, k_values, nlive) -> SweepPlan:
    return SweepPlan(name="g", data=galaxies, spec=ModelSpec(priors=PRIORS),
                     k_values=k_values, settings={"nlive": nlive}, seed=1, escalate=0)


def test_the_estimate_counts_every_run_to_make_and_times_the_likelihood(galaxies):
    estimate = estimate_cost(galaxies_plan(galaxies, (1, 2, 3), 100), n_jobs=2)
    assert [(r.k, r.sampler, r.repeat) for r in estimate.runs] == [
        (1, "dynesty", 1), (2, "dynesty", 1), (3, "dynesty", 1)]
    assert [r.ndim for r in estimate.runs] == [2, 5, 8]
    assert estimate.cores == 2
    # a real pilot: each (model, K)'s call was timed, and it was quick
    assert all(0 < r.seconds_per_call < 0.01 for r in estimate.runs)
    assert estimate.pilot_seconds < 30
    # the calls grow with the parameters; two workers: the wall time is at least the longest
    # run and half of all the CPU time, at most the runs one after the other
    calls = [r.calls for r in estimate.runs]
    assert calls == sorted(calls) and calls[0] < calls[-1]
    seconds = [r.seconds for r in estimate.runs]
    assert max(max(seconds), 60 * estimate.cpu_minutes / 2) <= 60 * estimate.minutes + 1e-9
    assert 60 * estimate.minutes <= sum(seconds) + 1e-9
    assert estimate.busy_elsewhere >= 0
    assert re.match(r"^3 runs, (under a minute|about \d+ minutes?) on 2 cores$",
                    estimate.line())


def test_the_estimate_counts_the_runs_the_convergence_check_may_add(galaxies):
    """Deeper runs (twice the live points at each step of the budget) and second seeds (rows
    of 12 parameters or more) as an expected share of each row's first run."""
    rate = 2 * ESCALATION_RATE
    assert expected_extra(5, 0) == 0.0 and expected_extra(30, 0) == 0.0
    assert expected_extra(5, 1) == pytest.approx(rate)
    assert expected_extra(5, 2) == pytest.approx(rate + rate ** 2)
    assert expected_extra(12, 1) == pytest.approx(rate + SECOND_SEED_RATE)
    assert expected_extra(12, 1, repeats=2) == pytest.approx(rate)  # seeds run already
    plan = replace(galaxies_plan(galaxies, (1, 2), 100), escalate=1, repeats=2)
    estimate = estimate_cost(plan, n_jobs=1)
    # the added runs are per row: counted once, on the first seed's run
    assert [(r.k, r.repeat, r.extra) for r in estimate.runs] == [
        (1, 1, pytest.approx(rate)), (2, 1, pytest.approx(rate)), (1, 2, 0.0), (2, 2, 0.0)]
    assert estimate.calls == pytest.approx(sum(r.calls * (1 + r.extra) for r in estimate.runs))
    assert estimate.calls > sum(r.calls for r in estimate.runs)
    for r in estimate.runs:
        assert r.seconds == pytest.approx(r.calls * (1 + r.extra) * r.seconds_per_call)


def test_the_rule_for_the_calls_holds_on_a_run_it_was_not_fitted_to(galaxies, tmp_path):
    """The galaxies at K = 2 with 150 live points (the rule was fitted at nlive 250 and 500):
    the run's calls are within the factor of two the module's docstring states."""
    plan = galaxies_plan(galaxies, (2,), 150)
    result = run_sweep(plan, tmp_path / "g", n_jobs=1)
    (row,) = [r for r in result.rows if r.k == 2]
    expected = expected_calls("dynesty", 150, 5, galaxies.n_points)
    assert expected / 2 < row.ncall < expected * 2, (row.ncall, expected)
    # the finished run is not counted again
    assert estimate_cost(plan, 1, tmp_path / "g").runs == ()
    assert len(estimate_cost(galaxies_plan(galaxies, (2, 3), 150), 1, tmp_path / "g").runs) == 1


def test_the_command_prints_the_estimate_before_the_first_run(tmp_path, capsys):
    data = ROOT / "nestmix" / "examples" / "galaxies_roeder1990.txt"
    (tmp_path / "g.toml").write_text(
        f'name = "g"\n[data]\npath = "{data}"\nscale = 0.001\n[model.priors]\n'
        'mean = { dist = "norm", loc = 20, scale = 10 }\n'
        'variance = { dist = "invgamma", a = 3, scale = 20 }\n'
        '[sweep]\nk = [1]\nnlive = 30\nseed = 1\nescalate = 0\n')
    assert main(["sweep", str(tmp_path / "g.toml"), "--out", str(tmp_path / "out"),
                 "--jobs", "1", "--no-report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert LINE.match(lines[0]), lines[0]
    assert lines[0].startswith("cost: 1 run, under a minute on 1 core ")
    assert lines[1].startswith("running K = 1 with dynesty")


def test_above_max_minutes_the_command_refuses_in_one_line_and_writes_nothing(tmp_path,
                                                                             capsys, rng):
    values = np.r_[rng.normal(0.0, 1.0, 40), rng.normal(6.0, 1.0, 40)]
    np.savetxt(tmp_path / "points.txt", values)
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "points.txt"), "--out", str(out),
                 "--max-minutes", "0.0001"]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("nestmix: error: --max-minutes: up to 8 runs, ")
    assert "above the limit of 0.0001 minutes" in line
    assert "--kmax" in line and "--covariance" in line and "subsample" in line
    assert captured.out == "" and not out.exists()
    assert main(["sweep", str(tmp_path / "points.txt"), "--out", str(out),
                 "--max-minutes", "-1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "nestmix: error: --max-minutes: must be a number of minutes >= 0 (0: no limit), got -1")
    assert not out.exists()


@pytest.mark.slow  # ~20 s: writing and reading 200 000 rows, the pilot on them
def test_a_large_csv_is_refused_promptly_before_any_run(tmp_path):
    """N4 of issue 33: a CSV of a million rows started 16 runs with no word and printed nothing
    for a minute. 200 000 rows (the million takes long to write, not to refuse): the default
    limit refuses it, with the estimate and how to narrow the grid, and nothing is written."""
    rng = np.random.default_rng(33)
    n = 200_000
    points = np.r_[rng.normal(0.0, 1.0, (n // 2, 2)), rng.normal(4.0, 1.0, (n - n // 2, 2))]
    np.savetxt(tmp_path / "big.csv", points, delimiter=",", header="x,y", comments="",
               fmt="%.5f")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "nestmix", "sweep", "big.csv", "--out", "big",
                           "--jobs", "2"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    seconds = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert re.match(r"^nestmix: error: --max-minutes: up to 16 runs, about [\d.]+ "
                    r"(minutes|hours) on 2 cores, above the limit of 30 minutes: narrow the "
                    r"grid \(--kmax, --covariance", line), line
    assert "subsample" in line
    assert done.stdout == ""
    assert not (tmp_path / "big").exists()  # no run started, no config written
    print(f"refused after {seconds:.1f} s: {line}", file=sys.stderr)
    assert seconds < 120


def test_the_first_sweep_on_a_machine_says_it_compiles(tmp_path):
    """Without numba's index files of the kernels anywhere it looks, the command says on
    stderr that it compiles them once; with one (this machine, after any compiled run), it
    does not. (The check itself reads directories only.)"""
    from nestmix.sweep.cost import kernels_cached

    empty, cache = tmp_path / "empty", tmp_path / "cache" / "nestmix" / "model"
    empty.mkdir()
    cache.mkdir(parents=True)
    assert not kernels_cached([empty, tmp_path / "missing"])
    (cache / "_numba_impl.loglike_full-120.py311.nbi").write_bytes(b"")
    assert kernels_cached([empty, tmp_path / "cache"])


def galaxies_config(tmp_path, sweep_extra: str = "") -> Path:
    """A config of the galaxies at K = 1, 30 live points (a run of a second or two)."""
    data = ROOT / "nestmix" / "examples" / "galaxies_roeder1990.txt"
    path = tmp_path / "g.toml"
    path.write_text(
        f'name = "g"\n[data]\npath = "{data}"\nscale = 0.001\n[model.priors]\n'
        'mean = { dist = "norm", loc = 20, scale = 10 }\n'
        'variance = { dist = "invgamma", a = 3, scale = 20 }\n'
        f'[sweep]\nk = [1]\nnlive = 30\nseed = 1\nescalate = 0\n{sweep_extra}')
    return path


def test_the_config_key_max_minutes_refuses_and_the_flag_overrides_it(tmp_path, capsys):
    out = tmp_path / "out"
    config = galaxies_config(tmp_path, "max_minutes = 0.0001\n")
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--no-report"]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("nestmix: error: sweep.max_minutes: 1 run, under a minute on 1 "
                           "core, above the limit of 0.0001 minutes: narrow the sweep "), line
    assert line.endswith("raise sweep.max_minutes or give --max-minutes (0: no limit)")
    assert captured.out == "" and not out.exists()
    # the command's flag wins over the key: 0 lifts the limit
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--no-report",
                 "--max-minutes", "0"]) == 0
    assert capsys.readouterr().out.startswith("cost: 1 run, under a minute on 1 core ")


@pytest.mark.parametrize("value, shown", [("-1", "-1"), ('"ten"', "'ten'"), ("true", "True"),
                                          ("nan", "nan"), ("[5]", "[5]")])
def test_a_bad_max_minutes_key_is_one_line_naming_it(tmp_path, capsys, value, shown):
    config = galaxies_config(tmp_path, f"max_minutes = {value}\n")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        "nestmix: error: sweep.max_minutes: must be a number of minutes >= 0 (0: no limit), "
        f"got {shown}")
    assert not (tmp_path / "out").exists()


def test_max_minutes_is_no_part_of_the_runs_so_a_changed_limit_resumes(tmp_path, capsys):
    """The limit does not change the runs: not in their fingerprints nor the sweep's
    manifest, so a sweep resumed with another limit reuses its finished runs."""
    from nestmix.sweep.config import load_config, max_minutes_setting, read_config

    plans = []
    for i, extra in enumerate(("", "max_minutes = 5\n", "max_minutes = 0\n")):
        (tmp_path / f"c{i}").mkdir()
        path = galaxies_config(tmp_path / f"c{i}", extra)
        plans.append(load_config(path)[0])
        assert "max_minutes" not in plans[-1].settings_for("dynesty")
    assert max_minutes_setting(read_config(path)) == float("inf")  # 0: no limit
    assert len({p.run_fingerprints(1, "dynesty") for p in plans}) == 1
    assert len({repr(p.manifest()) for p in plans}) == 1
    out = tmp_path / "out"
    config = galaxies_config(tmp_path, "max_minutes = 10\n")
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--no-report"]) == 0
    capsys.readouterr()
    config = galaxies_config(tmp_path, "max_minutes = 0.0001\n")
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "reused finished run" in printed and "started" not in printed, printed
    assert "cost:" not in printed  # nothing left to run, nothing to estimate
