"""Default priors when none are given, recorded where resume fingerprints see them; model
priors must state their scale (uniform ones their location too)."""

from __future__ import annotations

import numpy as np
import pytest

import nestmix
from nestmix.cli import main
from nestmix.errors import ConfigError, PriorError
from nestmix.priors.defaults import default_priors
from nestmix.sweep import SweepPlan, plan_from_mapping


@pytest.fixture
def blob(rng):
    values = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))]
    return nestmix.Measurements.from_arrays(values, columns=["a", "b"])


def test_a_spec_without_priors_takes_the_defaults_of_the_data(blob):
    spec = nestmix.ModelSpec(covariance="diag")
    assert spec.uses_default_priors
    model = spec.build(blob, 2)
    assert model.describe()["priors"] == nestmix.ModelSpec(
        covariance="diag", priors=default_priors(blob, "diag")).to_dict()["priors"]
    plan = SweepPlan(name="t", data=blob, spec=spec, k_values=(1, 2))
    assert plan.manifest()["model"]["priors"]["sigma"] == [
        {"a": p["a"], "b": p["b"], "dist": "loguniform"}
        for p in default_priors(blob, "diag")["sigma"]]
    # the recorded priors feed the run fingerprints: other data, other priors, other runs
    other = SweepPlan(name="t", data=nestmix.Measurements.from_arrays(
        blob.values * 2.0, columns=["a", "b"]), spec=spec, k_values=(1, 2))
    assert other.manifest()["model"]["priors"] != plan.manifest()["model"]["priors"]


def test_a_config_without_priors_takes_the_defaults(tmp_path, blob):
    np.savetxt(tmp_path / "d.csv", blob.values, delimiter=",", header="a,b", comments="")
    raw = {"data": {"path": "d.csv", "columns": ["a", "b"]}, "model": {"covariance": "tied"}}
    plan, _ = plan_from_mapping(raw, base=tmp_path)
    assert dict(plan.spec.priors) == default_priors(plan.data, "tied")
    assert plan.manifest()["model"]["priors"]["correlation"] == {"dist": "lkj", "eta": 1.0}


@pytest.mark.parametrize("priors, words", [
    ({"mean": {"dist": "norm", "loc": 0}, "sigma": {"dist": "halfnorm", "scale": 3}},
     "'norm' prior on 'mean' has no 'scale'"),
    ({"mean": {"dist": "norm", "loc": 0, "scale": 5}, "sigma": {"dist": "halfnorm"}},
     "'halfnorm' prior on 'sigma' has no 'scale'"),
    ({"mean": {"dist": "norm", "loc": 0, "scale": 5}, "variance": {"dist": "invgamma", "a": 3}},
     "'invgamma' prior on 'variance' has no 'scale'"),
    ({"mean": [{"dist": "norm", "loc": 0, "scale": 5}, {"dist": "uniform", "scale": 2}],
      "sigma": {"dist": "halfnorm", "scale": 3}}, "'uniform' prior on 'mean' has no 'loc'"),
])
def test_a_missing_distribution_parameter_is_an_error_naming_it(priors, words):
    with pytest.raises(PriorError, match=words) as info:
        nestmix.ModelSpec(priors=priors)
    assert "\n" not in str(info.value) and "model.priors." in str(info.value)


def test_scale_free_distributions_and_fixed_values_pass():
    nestmix.ModelSpec(priors={"mean": [0.0, {"dist": "norm", "scale": 5}],
                              "sigma": {"dist": "loguniform", "a": 0.1, "b": 10}})
    with pytest.raises(PriorError, match="nrom"):  # an unknown name is reported as such
        nestmix.ModelSpec(priors={"mean": {"dist": "nrom"}, "sigma": 1.0}).build(
            nestmix.Measurements.from_arrays(np.arange(10.0)), 1)


def test_the_cli_names_the_missing_parameter_in_one_line(tmp_path, blob, capsys):
    np.savetxt(tmp_path / "d.csv", blob.values, delimiter=",", header="a,b", comments="")
    (tmp_path / "c.toml").write_text(
        '[data]\npath = "d.csv"\ncolumns = ["a", "b"]\n[model.priors]\n'
        'mean = {dist = "norm", loc = 0}\nsigma = {dist = "halfnorm", scale = 2}\n')
    assert main(["sweep", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.priors.mean" in err and "'scale'" in err
    with pytest.raises(ConfigError, match=r"model\.priors\.mean"):
        nestmix.sweep.load_config(tmp_path / "c.toml")
