"""The calibration benchmark script runs on a tiny case and prints its table.

The benchmark itself (``benchmarks/calibration.py``, both samplers on eighteen cases with known
evidences, three seeds each) takes hours; this keeps the script working: its reference by
quadrature agrees with importance sampling, a reference from two methods (a long ordered-means
run with the bridge from its samples) is counted only when they agree, both samplers run at
their defaults with the checks a sweep makes, a rerun reuses the results file, and the table,
the rms of z and the fraction of rows marked are printed.
"""

from __future__ import annotations

import json

import pytest

from tests.benchmark_scripts import benchmark_scripts


@pytest.fixture(scope="module")
def calibration():
    with benchmark_scripts("calibration") as loaded:
        yield loaded["calibration"]


def test_quick_run_prints_the_table_and_resumes(calibration, tmp_path, capsys):
    samplers = ["dynesty", "polychord"]
    out = tmp_path / "calibration.jsonl"
    summary = calibration.main(["--quick", "--out", str(out), "--samplers", *samplers])
    text = capsys.readouterr().out
    refs = json.loads((tmp_path / "calibration_references.json").read_text())
    ref = refs["tiny:1"]
    assert ref["method"] == "quadrature"
    check, check_err = ref["importance_check"]
    assert abs(ref["logz"] - check) < 5 * (check_err + ref["logz_err"])  # two methods agree
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["sampler"] for r in records] == samplers
    for name in samplers:
        overall = summary["overall"][name]
        assert overall["n"] == 1 and overall["rms_z"] < 4  # a run at the defaults, near the answer
        assert f"{name:<10} runs   1  rms z = " in text
    assert "tiny" in text and "reference" in text
    # each run carries what a sweep computes from its samples: both checks, the row's verdict
    for record in records:
        assert "crosscheck" in record and "bridge" in record
        assert calibration.row_check(record) is not None
    assert "rows marked not converged by their check:" in text
    # a rerun makes no new runs: the results file is the cache
    calibration.main(["--quick", "--out", str(out), "--samplers", *samplers])
    assert len(out.read_text().splitlines()) == len(samplers)


def test_references_agree_on_a_two_parameter_model(calibration):
    model = calibration.build("tiny", 1)
    quad = calibration.quadrature_reference(model, points=201)
    imp = calibration.importance_reference(model, n=20_000, rounds=1, starts=4)
    assert abs(quad["logz"] - imp["logz"]) < 5 * imp["logz_err"] + 0.01


def test_reference_methods_agree_or_the_case_is_not_counted(calibration):
    """A K = 2 case's reference from two methods: importance sampling on the ordered-means
    model, and a long ordered-means dynesty run with the bridge and importance estimates from
    its samples. They agree within their errors, and the reference becomes their mean; the same
    record with the long run moved 10 combined errors away is not calibrated and keeps its
    first reference."""
    model = calibration.build("tiny", 2, "means")
    first = calibration.importance_reference(model, n=20_000, rounds=1, starts=4)
    long = calibration.long_run_reference("tiny", 2, nlive=150, draws=2_000)
    ref = calibration.with_long_run(first, long)
    estimates = calibration.reference_estimates(ref)
    assert [e["usable"] for e in estimates] == [True] * 4  # k̂ small, bridge and check usable
    assert ref["calibrated"] and ref["agreement"]["agree"]
    values = [e["logz"] for e in estimates]
    assert min(values) <= ref["logz"] <= max(values)
    assert ref["logz_err"] < min(e["logz_err"] for e in estimates)
    assert ref["primary"]["logz"] == first["logz"]
    assert calibration.calibrated(ref)

    run = long["run"]
    shift = 10 * (run["logz_err"] + first["logz_err"])
    moved = {**long, "run": {**run, "logz": run["logz"] + shift}}
    bad = calibration.with_long_run(first, moved)
    assert not bad["calibrated"] and bad["agreement"]["max_z"] > 3
    assert bad["logz"] == first["logz"] and not calibration.calibrated(bad)


def test_agreement_needs_two_usable_estimates(calibration):
    module = calibration

    def est(logz, err, usable=True):
        return {"method": "m", "logz": logz, "logz_err": err, "usable": usable}

    one = module.agreement([est(1.0, 0.1), est(9.0, 0.1, usable=False)])
    assert not one["agree"] and one["usable"] == 1 and one["max_z"] is None
    assert one["logz"] == 1.0
    two = module.agreement([est(1.0, 0.1), est(1.3, 0.1)])  # 2.1 combined errors apart
    assert two["agree"] and abs(two["max_z"] - 0.3 / 0.1 / 2**0.5) < 1e-9
    assert abs(two["logz"] - 1.15) < 1e-12 and abs(two["logz_err"] - 0.1 / 2**0.5) < 1e-12
    assert not module.agreement([est(1.0, 0.1), est(1.5, 0.1)])["agree"]  # 3.5 apart


def test_row_check_marks_and_the_marked_fraction(calibration):
    """The row check is the bridge estimate when usable, else the importance check (as
    nestmix.store.summary judges a row); a run beyond 3σ counts against the calibration only
    when unmarked, and runs of a case without an agreed reference are not counted."""
    def record(seed, logz, bridge_z=None, check_z=None, problem="tiny", k=1):
        r = {"problem": problem, "k": k, "sampler": "dynesty", "settings": {}, "seed": seed,
             "logz": logz, "logz_err": 0.1, "ncall": 1, "seconds": 1.0,
             "crosscheck": {"z": check_z}}
        r["bridge"] = {"z": bridge_z}
        return r

    assert calibration.row_check(record(1, 0.0, bridge_z=-4.0, check_z=0.5)) == ("bridge", -4.0)
    assert calibration.row_check(record(1, 0.0, check_z=3.5)) == ("importance", 3.5)
    assert calibration.row_check(record(1, 0.0)) is None
    assert calibration.marked_fraction([True, False, False, False]) == (1, 4, 0.25)
    m, n, frac = calibration.marked_fraction([])
    assert (m, n) == (0, 0) and frac != frac  # NaN without runs

    refs = {"tiny:1": {"logz": 0.0, "logz_err": 0.01},
            "tiny:2": {"logz": 0.0, "logz_err": 0.01, "calibrated": False}}
    records = [record(1, 0.05), record(2, -0.5, bridge_z=-4.0),  # z = -5, marked
               record(3, 0.4, bridge_z=1.0, check_z=5.0),  # z = +4, the bridge agrees
               record(1, 2.0, problem="tiny", k=2)]  # not counted: reference not agreed
    summary = calibration.summarise(records, refs, [("tiny", 1), ("tiny", 2)], ["dynesty"],
                                    {"dynesty": {}})
    o = summary["overall"]["dynesty"]
    assert o["n"] == 3 and abs(o["rms_z"] - ((0.25 + 25 + 16) / 3) ** 0.5) < 1e-9
    assert [v[2] for v in o["beyond3"]] == [3] and [v[2] for v in o["beyond3_marked"]] == [2]
    assert (o["marked_runs"], o["all_runs"]) == (1, 4)
    assert [v[:3] for v in o["not_calibrated"]] == [("tiny", 2, 1)]
    assert o["check_methods"] == {"bridge": 2, "importance": 0, "none": 2}
