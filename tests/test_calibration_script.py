"""The calibration benchmark script runs on a tiny case and prints its table.

The benchmark itself (``benchmarks/calibration.py``, both samplers on eleven cases with known
evidences, three seeds each) takes about an hour; this keeps the script working: its reference
by quadrature agrees with importance sampling, both samplers run at their defaults, a rerun
reuses the results file, and the table and the rms of z are printed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "calibration.py"


@pytest.fixture(scope="module")
def calibration():
    spec = importlib.util.spec_from_file_location("calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibration"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["calibration"]


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
    # a rerun makes no new runs: the results file is the cache
    calibration.main(["--quick", "--out", str(out), "--samplers", *samplers])
    assert len(out.read_text().splitlines()) == len(samplers)


def test_references_agree_on_a_two_parameter_model(calibration):
    model = calibration.build("tiny", 1)
    quad = calibration.quadrature_reference(model, points=201)
    imp = calibration.importance_reference(model, n=20_000, rounds=1, starts=4)
    assert abs(quad["logz"] - imp["logz"]) < 5 * imp["logz_err"] + 0.01
