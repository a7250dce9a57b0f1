"""Reopening a sweep directory: the data copy, the rebuilt model, runs and analyses."""

from __future__ import annotations

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, run_sweep
from nestmix.components import make_component
from nestmix.store.archive import open_sweep


def test_open_sweep_gives_back_data_model_runs_and_analyses(tmp_path):
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(-2, 0.5, 30), rng.normal(2, 0.5, 30)])
    data = Measurements.from_arrays(values, errors=np.full(60, 0.1), columns=["v"])
    spec = ModelSpec(background="uniform", order="means", priors={
        "mean": {"dist": "norm", "loc": 0, "scale": 5}, "sigma": {"dist": "halfnorm",
                                                                  "scale": 3}})
    plan = SweepPlan(name="toy", data=data, spec=spec, k_values=(1, 2),
                     settings={"nlive": 40}, seed=1)
    run_sweep(plan, tmp_path / "toy")
    archive = open_sweep(tmp_path / "toy")
    assert archive.spec_problem == ""
    assert archive.data.fingerprint() == data.fingerprint()
    assert archive.samplers == ("dynesty",) and archive.k_values("dynesty") == (1, 2)
    assert archive.spec.to_dict() == spec.to_dict()
    model = archive.model(2)
    assert model.describe() == spec.build(data, 2).describe()
    run = archive.run(2, "dynesty")
    assert run.param_names == model.param_names
    summary, arrays = archive.analysis(2, "dynesty")
    assert summary["method"] == "hungarian"
    assert arrays["membership_mean"].shape == (60, 3)
    # read once: the figures ask again without going back to the disk
    for stored in (tmp_path / "toy" / "K=2" / "dynesty").glob("*.np*"):
        stored.unlink()
    assert archive.run(2, "dynesty") is run and archive.model(2) is model
    assert archive.analysis(2, "dynesty")[1] is arrays


def test_spec_round_trip_with_builtin_components():
    line = make_component("line", priors={"m": {"dist": "uniform", "loc": 0, "scale": 10},
                                          "b": {"dist": "norm", "loc": 0, "scale": 25}})
    spec = ModelSpec(extra_components=(line,))
    assert ModelSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()


def test_spec_with_a_user_class_says_it_cannot_be_rebuilt():
    from nestmix.errors import ModelError

    description = ModelSpec(priors={"mean": 0.0, "sigma": 1.0}).to_dict()
    description["extra_components"] = [{"family": "mymodule.Thing", "name": "thing",
                                        "priors": {}}]
    with pytest.raises(ModelError, match="user class"):
        ModelSpec.from_dict(description)


def test_a_grid_directory_opens_as_a_grid_and_says_how_to_open_one_model(tmp_path):
    import json

    import nestmix.store.archive
    from nestmix.errors import RunStoreError
    from nestmix.store import load_sweep

    grid = tmp_path / "g"
    for model in ("full", "tied"):
        (grid / f"model={model}").mkdir(parents=True)
    (grid / "grid.json").write_text(json.dumps({
        "name": "g", "k_values": [1, 2], "samplers": ["dynesty"],
        "models": {m: {"covariance": m, "background": "none"} for m in ("full", "tied")}}))
    # one open_sweep for either kind: a grid opens as the table over its models
    for opener in (nestmix.store.archive.open_sweep, nestmix.open_sweep):
        archive = opener(grid)
        assert archive.result.is_grid and archive.models == ("full", "tied")
        assert archive.spec is None and "models × K grid" in archive.spec_problem
        assert len(archive.result.missing_cells) == 4 and archive.result.cells == ()
        with pytest.raises(RunStoreError) as info:  # a run belongs to one of its models
            archive.run(1, "dynesty")
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{grid} is a models × K grid of 2 models (full, tied), "
                                  "not one sweep")
        assert f"nestmix.open_sweep('{grid}')" in message
        assert f"nestmix.open_sweep('{grid}', model='full')" in message
    with pytest.raises(RunStoreError, match="models × K grid of 2 models"):
        load_sweep(grid)  # the table of one sweep: not a grid's
    with pytest.raises(RunStoreError, match="has no model 'diag'"):
        nestmix.open_sweep(grid, model="diag")
    with pytest.raises(RunStoreError, match="not a models × K grid"):
        nestmix.open_sweep(grid / "model=full", model="full")
