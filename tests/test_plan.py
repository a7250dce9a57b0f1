"""One plan type: a sweep is a :class:`SweepPlan` of one model, a models × K grid one of
several; the plan builds each (model, K) once and resolves every run once
(:class:`nestmix.sweep.plan.PlannedRun`), which the store and the runner are handed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import nestmix.sweep.grid as grid_module
from nestmix import Measurements, ModelSpec
from nestmix.errors import ModelError
from nestmix.store.runs import RunStore
from nestmix.sweep import run_sweep
from nestmix.sweep.driver import prepare_runs
from nestmix.sweep.plan import SweepPlan
from tests.conftest import TOY_PRIORS, toy_values


@pytest.fixture
def builds(monkeypatch):
    """Count the calls of ModelSpec.build (the real one runs)."""
    made: list[int] = []
    real = ModelSpec.build

    def counted(self, data, k):
        made.append(k)
        return real(self, data, k)

    monkeypatch.setattr(ModelSpec, "build", counted)
    return made


def test_one_plan_type_for_a_sweep_and_a_grid():
    data = Measurements.from_arrays(toy_values(10))
    one = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(1, 2))
    two = SweepPlan(name="t", data=data, k_values=(1, 2), specs=(
        ModelSpec(priors=TOY_PRIORS), ModelSpec(covariance="tied", priors=TOY_PRIORS)))
    assert not hasattr(grid_module, "GridPlan")
    assert type(one) is type(two) is SweepPlan
    assert not one.is_grid and two.is_grid and two.models == ("full", "tied")
    assert one.model_plans() == (("full", one),) and one.spec is one.specs[0]
    full = two.for_model("full")
    assert type(full) is SweepPlan and full.name == "t.full" and not full.is_grid
    # each model's runs are those of a sweep of that model alone: same seeds, fingerprints
    assert full.run_fingerprints(2, "dynesty") == one.run_fingerprints(2, "dynesty")
    with pytest.raises(ModelError, match="2 models"):
        _ = two.spec
    assert [p for _, _, p in two.model_sweeps("out")] == [Path("out/model=full"),
                                                          Path("out/model=tied")]
    assert one.model_sweeps("out") == (("full", one, Path("out")),)
    # dataclasses.replace keeps working on either
    assert dataclasses.replace(one, k_values=(3,)).k_values == (3,)
    assert dataclasses.replace(two, k_values=(3,)).for_model("tied").k_values == (3,)
    tied = dataclasses.replace(one, spec=ModelSpec(covariance="tied", priors=TOY_PRIORS))
    assert tied.models == ("tied",)


def test_the_plan_builds_each_model_once_while_a_sweep_is_prepared(tmp_path, builds):
    data = Measurements.from_arrays(toy_values(10))
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS),
                     k_values=(1, 2, 3), sampler=("dynesty", "polychord"), repeats=2)
    tasks = prepare_runs(plan, RunStore(tmp_path / "t"), lambda line: None)
    assert len(tasks) == 12
    # before: 5 builds per task (80 for 16 tasks); now one per K, made with the plan
    assert sorted(builds) == [1, 2, 3]
    run = plan.run(3, "polychord", 2)  # the last task
    assert tasks[-1].manifest == run.manifest and tasks[-1].seed == run.seed
    assert sorted(builds) == [1, 2, 3]


def test_a_grid_builds_each_model_once_and_a_resumed_sweep_none_again(tmp_path, builds):
    data = Measurements.from_arrays(toy_values(10))
    grid = SweepPlan(name="g", data=data, k_values=(1, 2), specs=(
        ModelSpec(priors=TOY_PRIORS), ModelSpec(covariance="tied", priors=TOY_PRIORS)))
    for _, sub, where in grid.model_sweeps(tmp_path / "g"):
        prepare_runs(sub, RunStore(where), lambda line: None)
    assert len(builds) == 4  # (model, K)
    # a real sweep: the runner builds its model once per task, in this process (n_jobs=1)
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(1, 2),
                     settings={"nlive": 25}, escalate=0)
    builds.clear()
    run_sweep(plan, tmp_path / "t", n_jobs=1)
    assert len(builds) <= 2 + 2  # the plan's, then one per run
    builds.clear()
    again = dataclasses.replace(plan)
    run_sweep(again, tmp_path / "t", n_jobs=1)  # every run reused
    assert sorted(builds) == [1, 2]
