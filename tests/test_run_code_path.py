"""Every run records which code path it took (compiled or numpy) in run.json and the report."""

from __future__ import annotations

import json

import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, run_sweep
from nestmix.report.build import build_report
from nestmix.store.archive import open_sweep
from tests.conftest import TOY_PRIORS, toy_values


@pytest.mark.slow
@pytest.mark.parametrize("kernel, compiled, parts", [
    ("numba", True, []),
    ("numpy", False, ["likelihood (numpy backend)"]),
])
def test_a_run_records_its_code_path_and_the_report_shows_it(tmp_path, monkeypatch, kernel,
                                                              compiled, parts):
    monkeypatch.setenv("NESTMIX_KERNEL", kernel)
    plan = SweepPlan(name="toy", data=Measurements.from_arrays(toy_values(30)),
                     spec=ModelSpec(priors=TOY_PRIORS), k_values=(1,), sampler="dynesty",
                     settings={"nlive": 30}, seed=2)
    run_sweep(plan, tmp_path / "toy")
    meta = json.loads((tmp_path / "toy" / "K=1" / "dynesty" / "run.json").read_text())
    assert meta["backend"]["kernel"] == kernel
    assert meta["backend"]["compiled_path"] is compiled
    assert meta["backend"]["numpy_parts"][:1] == parts  # the numpy backend: the priors too
    facts = dict(build_report(open_sweep(tmp_path / "toy"), figures=False).facts)
    if compiled:
        assert facts["code path"] == "compiled prior and likelihood in every run (1)"
    else:
        assert facts["code path"].startswith("K=1 dynesty: numpy for likelihood (numpy backend),")
