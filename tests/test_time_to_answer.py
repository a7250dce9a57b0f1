"""``benchmarks/time_to_answer.py`` (issue 32): its data, its CSV and its scikit-learn side.

The nestmix sweep of the benchmark takes minutes and is not run here; this keeps the pieces
that decide what is measured honest: the data are seeded with the stated shares, the CSV is
read by nestmix's zero-config path with the per-point error covariances it was written with,
and the scikit-learn grid picks its lowest BIC.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nestmix.data.loaders import load_measurements
from nestmix.sweep.zeroconf import config_for_data
from tests.benchmark_scripts import benchmark_scripts


@pytest.fixture(scope="module")
def bench():
    with benchmark_scripts("time_to_answer") as loaded:
        yield loaded["time_to_answer"]


def test_the_issue_case_has_its_counts_and_other_sizes_keep_the_shares(bench):
    assert bench.counts(350) == (150, 100, 60, 40)
    for n in (300, 333, 500):
        sizes = bench.counts(n)
        assert sum(sizes) == n
        assert abs(sizes[3] / n - 40 / 350) < 1 / n  # the background keeps its share


def test_the_points_are_seeded_and_as_described(bench):
    points = bench.make_points(350, seed=3)
    again = bench.make_points(350, seed=3)
    for key in ("values", "errors", "corr", "labels"):
        np.testing.assert_array_equal(points[key], again[key])
    assert not np.array_equal(bench.make_points(350, seed=4)["values"], points["values"])
    assert points["values"].shape == (350, 2)
    assert np.bincount(points["labels"]).tolist() == [150, 100, 60, 40]
    lo, hi = np.array(bench.BOX).T
    assert np.all(points["values"] >= lo) and np.all(points["values"] <= hi)
    assert np.all((points["errors"] >= 0.1) & (points["errors"] <= 0.4))
    assert np.all(np.abs(points["corr"]) <= 0.5)
    # each cluster's sample correlation has the sign of the stated one (errors are small)
    for j, (_, _, rho, _) in enumerate(bench.CLUSTERS):
        r = np.corrcoef(points["values"][points["labels"] == j].T)[0, 1]
        assert np.sign(r) == np.sign(rho) and abs(r - rho) < 0.3


def test_too_few_points_are_refused_in_one_line(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--points", "5"])
    assert "--points must be at least 10, got 5" in capsys.readouterr().err


def test_zero_config_reads_the_csv_with_each_points_error_covariance(bench, tmp_path):
    points = bench.make_points(300, seed=2)
    path = bench.write_csv(points, tmp_path / "points.csv")
    config = config_for_data(path, base=tmp_path)
    assert config["data"]["columns"] == ["x", "y"]
    assert config["data"]["errors"] == ["x_error", "y_error"]
    assert config["data"]["correlations"] == ["x_y_corr"]
    assert config["model"]["background"] == ["none"]  # the zero-config grid the issue measured
    data = load_measurements(path, columns=["x", "y"], errors=["x_error", "y_error"],
                             correlations=["x_y_corr"])
    np.testing.assert_array_equal(data.values, points["values"])
    sx, sy, r = points["errors"][:, 0], points["errors"][:, 1], points["corr"]
    expected = np.stack([np.stack([sx * sx, r * sx * sy], -1),
                         np.stack([r * sx * sy, sy * sy], -1)], -2)
    np.testing.assert_allclose(data.covariances, expected, rtol=1e-12)


def test_the_sklearn_grid_picks_its_lowest_bic(bench):
    values = bench.make_points(300, seed=1)["values"]
    out = bench.sklearn_grid(values, seed=1, n_init=1, ks=(1, 2, 3, 4, 5), types=("full",))
    assert len(out["bic"]) == 5 and out["cpu"] > 0 and out["wall"] > 0
    assert out["bic"][f"full K={out['k']}"] == min(out["bic"].values())
    assert out["k"] >= 3  # three separated clusters: fewer components fit clearly worse
    one = bench.sklearn_one_thread(values, seed=1, n_init=1, ks=(1, 2, 3, 4, 5), types=("full",))
    assert one["k"] == out["k"] and one["cpu"] > 0  # the same fits, on one thread
    assert one["bic"] == pytest.approx(out["bic"], rel=1e-9)


def test_the_verdict_rule_of_the_issue(bench):
    assert bench.verdict_right("full", "uniform", 3)
    assert bench.verdict_right("full", "none", 4)
    assert not bench.verdict_right("full", "none", 3)
    assert not bench.verdict_right("full", "uniform", 4)
    assert not bench.verdict_right("diag", "none", 4)


def test_the_verdict_is_read_from_a_grids_summary(bench, tmp_path):
    assert bench.nestmix_verdict(tmp_path) is None  # no sweep yet
    row = {"ncall": 1000, "seconds": 2.0, "logZ_err": 0.2, "repeats": 1}
    summary = {"rows": [{**row, "model": "full", "covariance": "full", "background": "none",
                         "k": 4, "logZ": -10.0, "converged": False, "p_model_k": 0.7},
                        {**row, "model": "tied", "covariance": "tied", "background": "none",
                         "k": 3, "logZ": -12.0, "repeats": 2}],
               "screened": [{"model": "tied", "k": 4, "why": "fell"}], "missing": []}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    # the runs are counted from their manifests: a deeper run's shallower one counts too
    runs = (("full", 4, "dynesty", 1000), ("full", 4, "dynesty.repeat2", 3000),
            ("tied", 3, "dynesty", 500))
    for model, k, run, ncall in runs:
        where = tmp_path / f"model={model}" / f"K={k}" / run
        where.mkdir(parents=True)
        (where / "manifest.json").write_text(json.dumps(
            {"k": k, "nlive": 200 if "repeat" in run else None,
             "summary": {"ncall": ncall, "seconds": 1.5, "logZ": -10.0, "logZ_err": 0.3}}))
    verdict = bench.nestmix_verdict(tmp_path)
    assert (verdict["model"], verdict["k"], verdict["converged"]) == ("full", 4, False)
    assert (verdict["runs"], verdict["calls"], verdict["screened"]) == (3, 4500, 1)
    assert verdict["run_seconds"] == pytest.approx(4.5)
    assert {(r["model"], r["run"], r["nlive"]) for r in verdict["run_list"]} == {
        ("full", "dynesty", None), ("full", "dynesty.repeat2", 200), ("tied", "dynesty", None)}


def test_the_command_is_the_readmes_zero_config_one(bench, tmp_path):
    cmd = bench.nestmix_command(tmp_path / "points.csv", tmp_path / "sweep", 2)
    assert cmd[cmd.index("sweep"):] == ["sweep", str(tmp_path / "points.csv"), "--out",
                                        str(tmp_path / "sweep"), "--jobs", "2"]
    assert "--max-minutes" in bench.nestmix_command("p.csv", "o", 2, max_minutes=0)


@pytest.mark.slow
def test_the_phase_breakdown_times_each_phase_of_a_real_sweep(bench, tmp_path):
    """``--phases``: the zero-config sweep (narrowed here to K = 1, full and tied) in a child
    process, every phase's CPU seconds recorded and adding up to the total."""
    path = bench.write_csv(bench.make_points(60, seed=1), tmp_path / "points.csv")
    phases = bench.run_phases(path, tmp_path / "sweep", tmp_path / "phases.log", 600,
                              ("--kmax", "1", "--covariance", "full,tied"))
    assert phases is not None, (tmp_path / "phases.log").read_text()[-2000:]
    assert phases["returncode"] == 0
    for phase in ("imports", "cost pilot", "sampling", "checks: bridge + importance sampling",
                  "checks: optimiser", "mode analysis", "report: tables, CSVs",
                  "figure: corner", "figure: grid"):
        assert phases[phase] > 0, phase
    parts = sum(v for k, v in phases.items() if k not in ("total", "returncode", "other"))
    assert phases["other"] >= -1e-6 and parts + phases["other"] == pytest.approx(phases["total"])
    assert (tmp_path / "sweep" / "report.html").is_file()
