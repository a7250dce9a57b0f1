"""The end-to-end benchmark script runs, and its plain runs continue from a checkpoint exactly.

The benchmarks are not run by the tests (they take minutes to hours); this only keeps
``benchmarks/end_to_end.py`` working: its table on a small problem, and the checkpointing that
lets a plain run of hours be finished in several sittings.
"""

from __future__ import annotations

import math
import re

import pytest

from nestmix.data.datasets import deconvolution_problem
from tests.benchmark_scripts import benchmark_scripts


@pytest.fixture(scope="module")
def end_to_end():
    with benchmark_scripts("end_to_end") as loaded:
        yield loaded["end_to_end"]


@pytest.mark.slow
def test_a_plain_run_stopped_and_continued_equals_one_run_through(end_to_end, tmp_path):
    problem = deconvolution_problem(n=100, seed=3)
    args = (problem.values, problem.errors, [1], 5)
    through = end_to_end.run_plain(*args, timeout=600)[1]
    stopped = end_to_end.run_plain(*args, timeout=0.3, checkpoint_dir=str(tmp_path))[1]
    assert not stopped["finished"] and math.isnan(stopped["logz"])
    assert 0 < stopped["ncall"] < through["ncall"]
    continued = end_to_end.run_plain(*args, timeout=600, checkpoint_dir=str(tmp_path))[1]
    assert continued["finished"]
    # the same seeded run: dynesty's state (random generator included) was saved and restored
    assert continued["logz"] == through["logz"] and continued["err"] == through["err"]
    assert continued["ncall"] == through["ncall"]
    assert continued["seconds"] > stopped["seconds"]  # the first sitting's seconds are kept
    # a finished run with another stopping rule is not reused
    again = end_to_end.run_plain(*args, timeout=600, checkpoint_dir=str(tmp_path), dlogz=0.5)[1]
    assert again["finished"] and again["ncall"] < through["ncall"]


@pytest.mark.slow  # 13-18 s in a cold clean clone; runs in CI's slow stage
def test_the_script_prints_the_comparison(end_to_end, capsys):
    end_to_end.main(["--ks", "1", "--points", "100", "--jobs", "1", "--seed", "2"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(" 1 "))
    (plain, plain_err), (ours, ours_err) = [(float(z), float(e)) for z, e in
                                            re.findall(r"(-?[\d.]+) ± ([\d.]+)", row)]
    assert abs(plain - ours) < 4 * math.hypot(plain_err, ours_err)  # both finished, agree
    assert "ratio" in out and "agree within 2 combined errors" in out
