"""The sampler contract, run over every registered sampler (as emcee's backend tests run over
every backend): settings validated and resolved, a deeper run accepted, and a tiny real run
that returns a consistent NestedRun with the closed-form evidence.

A new adapter added to ``nestmix.samplers.registry`` is tested here without a line changed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from nestmix import Measurements, ModelSpec, NestedRun
from nestmix.errors import SamplerError
from nestmix.samplers.base import SamplerAdapter
from nestmix.samplers.dynesty.adapter import DynestyAdapter
from nestmix.samplers.registry import REGISTRY, available_samplers, get_sampler
from nestmix.sweep.plan import SweepPlan
from tests.conftest import TOY_PRIORS, toy_values

SAMPLERS = available_samplers()
#: Live points of the tiny runs: enough for an evidence within a few tenths of a nat.
TINY_NLIVE = 100


def test_every_registered_sampler_is_here():
    assert set(SAMPLERS) == set(REGISTRY) and {"dynesty", "polychord", "ultranest"} <= set(
        SAMPLERS)


@pytest.fixture(scope="module")
def gaussian():
    """y_i ~ N(μ, 1), μ ~ N(0, 3²): one parameter, a closed-form evidence."""
    y = np.random.default_rng(7).normal(1.5, 1.0, size=30)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": 1.0}).build(Measurements.from_arrays(y), 1)
    cov = np.eye(len(y)) + 9.0 * np.ones((len(y), len(y)))
    return model, float(stats.multivariate_normal(np.zeros(len(y)), cov).logpdf(y))


@pytest.fixture(scope="module")
def tiny_runs(gaussian, tmp_path_factory):
    """One tiny run of each sampler, in a work directory, as a sweep makes it."""
    model, _ = gaussian
    return {name: get_sampler(name).run(model, {"nlive": TINY_NLIVE}, seed=3,
                                        workdir=str(tmp_path_factory.mktemp(name)))
            for name in SAMPLERS}


@pytest.mark.parametrize("name", SAMPLERS)
def test_declarations(name):
    adapter = get_sampler(name)
    assert isinstance(adapter, SamplerAdapter) and adapter.name == name
    assert set(adapter.defaults) <= set(adapter.valid_settings)
    assert adapter.execution_settings <= set(adapter.valid_settings)
    assert adapter.formerly_fingerprinted <= adapter.execution_settings
    assert "nlive" in adapter.valid_settings  # the deeper runs of the convergence check
    defaults = adapter.validate({})
    assert set(defaults) >= set(adapter.defaults)
    assert not set(adapter.fingerprinted(defaults)) & adapter.execution_settings
    assert adapter.processes_per_run(defaults) >= 1
    assert adapter.processes_started(defaults) >= adapter.processes_per_run(defaults)
    assert isinstance(adapter.census_is_signal(defaults), bool)
    adapter.check_execution(defaults, on_cluster=False)
    assert adapter.launch_problem() is None


@pytest.mark.parametrize("name", SAMPLERS)
def test_unknown_and_bad_settings_are_refused_in_one_line(name):
    adapter = get_sampler(name)
    with pytest.raises(SamplerError, match=f"unknown {name} setting 'nlife' .*did you mean "
                                           "'nlive'.*valid settings: "):
        adapter.validate({"nlife": 100})
    for bad in (1, -5, "many", 2.5, True):
        with pytest.raises(SamplerError, match="nlive") as info:
            adapter.validate({"nlive": bad})
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", SAMPLERS)
def test_defaults_resolve_and_deeper_runs_are_accepted(name, gaussian):
    """What a sweep does with a sampler: validate, resolve for the problem, and double the live
    points for the convergence check's deeper run, which validates and resolves again."""
    model, _ = gaussian
    adapter = get_sampler(name)
    resolved = adapter.resolved(adapter.validate({}), model)
    nlive = resolved["nlive"]
    assert isinstance(nlive, int) and nlive == adapter.default_nlive(model.ndim) >= 2
    assert adapter.resolved(resolved, model) == resolved  # resolving is idempotent
    deeper = adapter.with_more_live_points(adapter.validate({}), model.ndim, 2)
    if deeper is None:  # the adapter says it cannot make a deeper run: the check adds none
        assert adapter.with_more_live_points(adapter.validate({"nlive": 40}), model.ndim,
                                             4) is None
        return
    assert adapter.resolved(adapter.validate(deeper), model)["nlive"] == 2 * nlive
    own = adapter.with_more_live_points(adapter.validate({"nlive": 40}), model.ndim, 4)
    assert own is not None and adapter.validate(own)["nlive"] == 160


@pytest.mark.parametrize("name", SAMPLERS)
def test_a_sweep_plan_escalates_every_sampler(name):
    data = Measurements.from_arrays(toy_values(10))
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(2,),
                     sampler=name, settings={name: {"nlive": 30}})
    deeper = plan.escalated_settings(name, 2, 1)
    if deeper is None:  # cannot deepen: no escalation step can be planned
        with pytest.raises(SamplerError, match="cannot make a deeper run"):
            plan.run(2, name, 2, escalation=1)
        return
    assert deeper["nlive"] == 60
    assert get_sampler(name).validate(deeper)["nlive"] == 60
    manifest = plan.run_manifest(2, name, 2, escalation=1)
    assert manifest["nlive"] == 60 and manifest["sampler"] == name
    assert manifest["fingerprint"] != plan.run_manifest(2, name, 2)["fingerprint"]


@pytest.mark.parametrize("name", SAMPLERS)
def test_a_tiny_run_is_a_consistent_nested_run(name, gaussian, tiny_runs):
    model, expected = gaussian
    run = tiny_runs[name]
    assert isinstance(run, NestedRun) and run.sampler == name
    n = len(run.logl)
    assert n > TINY_NLIVE and run.samples.shape == (n, model.ndim)
    assert run.param_names == tuple(model.param_names)
    assert run.logwt.shape == run.nlive.shape == (n,)
    assert np.all(run.nlive >= 1) and run.nlive.max() >= TINY_NLIVE
    assert np.isfinite(run.logz) and run.logz_err > 0 and np.isfinite(run.logz_err)
    assert run.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert run.ncall >= n and run.seconds > 0 and run.seed == 3
    assert run.settings["nlive"] == TINY_NLIVE and run.converged
    # the weights are the evidence's terms, and the run agrees with the closed form
    assert logsumexp(run.logwt) == pytest.approx(run.logz, abs=max(run.logz_err, 0.05))
    assert abs(run.logz - expected) < 3 * max(run.logz_err, 0.05), (run.logz, expected)
    mean = float(np.sum(run.weights * run.samples[:, 0]))
    assert abs(mean - model.data.values.mean()) < 0.1
    # the unit-cube coordinates the importance check needs map onto the samples
    assert run.samples_u is not None and run.samples_u.shape == run.samples.shape
    assert np.all((run.samples_u >= 0) & (run.samples_u <= 1))
    assert np.allclose(model.prior_transform(run.samples_u), run.samples, atol=1e-8)
    # anesthetic rebuilds the run from nlive alone: the same evidence within its error
    simulated, spread = run.logz_simulated(nsamples=100, seed=0)
    assert abs(simulated - run.logz) < 3 * max(run.logz_err, spread, 0.05)


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_declares_the_packages_a_dask_worker_must_match(name):
    """The Dask workers are checked for nestmix, numpy, scipy and the packages of the sweep's
    own samplers (each adapter's ``worker_packages``), each by a version it can be compared on.
    """
    from nestmix.sweep.dask import MATCHED_PACKAGES, matched_packages, package_versions

    adapter = get_sampler(name)
    assert isinstance(adapter.worker_packages, tuple)
    versions = package_versions(adapter.worker_packages)
    assert all(v not in (None, "unknown") for v in versions.values()), versions
    packages = matched_packages([name])
    assert packages[:len(MATCHED_PACKAGES)] == MATCHED_PACKAGES
    assert set(adapter.worker_packages) <= set(packages)
    others = {p for other in SAMPLERS if other != name for p in get_sampler(other).worker_packages}
    assert not (others - set(adapter.worker_packages)) & set(packages)


def test_the_sampler_libraries_are_matched_on_the_workers():
    from nestmix.sweep.dask import matched_packages

    assert {"dynesty", "ultranest"} <= set(matched_packages(SAMPLERS))
    assert "dynesty" not in matched_packages(["ultranest"])


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_records_its_own_switches(name):
    """A sampler's switches go into run.json beside nestmix's, under names of their own."""
    import json

    from nestmix.runtime.backend import recorded_switches

    switches = get_sampler(name).recorded_switches()
    assert isinstance(switches, dict)
    assert not set(switches) & set(recorded_switches())
    json.dumps(switches)


def test_dynesty_s_compiled_slice_switch_is_dynesty_s(monkeypatch):
    from nestmix.runtime import backend
    from nestmix.samplers.dynesty import switches

    adapter = get_sampler("dynesty")
    monkeypatch.setenv(switches.COMPILED_SLICE_ENV, "0")
    assert adapter.recorded_switches() == {"compiled_slice": False}
    monkeypatch.setenv(switches.COMPILED_SLICE_ENV, "yes")
    assert adapter.recorded_switches() == {"compiled_slice": True}
    assert not hasattr(backend, "compiled_slice_enabled")
    assert "compiled_slice" not in backend.recorded_switches()


def _constants_outside_the_samplers() -> list[tuple[str, int, str]]:
    """Every string constant in nestmix/ outside nestmix/samplers/, docstrings left out."""
    import ast
    from pathlib import Path

    import nestmix

    package = Path(nestmix.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if "samplers" in path.relative_to(package).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                           ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        found += [(str(path.relative_to(package)), node.lineno, node.value)
                  for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings]
    return found


def test_no_sampler_switch_is_named_outside_its_folder():
    """Environment switches named under nestmix/samplers/ (dynesty's NESTMIX_COMPILED_SLICE)
    are read there only."""
    import re
    from pathlib import Path

    import nestmix.samplers

    folder = Path(nestmix.samplers.__file__).parent
    names = {name for path in folder.rglob("*.py")
             for name in re.findall(r'"(NESTMIX_[A-Z_]+)"', path.read_text(encoding="utf-8"))}
    assert "NESTMIX_COMPILED_SLICE" in names
    outside = [c for c in _constants_outside_the_samplers() if c[2] in names]
    assert not outside, outside


def test_the_default_sampler_is_written_once():
    from nestmix.estimator import NestedGaussianMixture
    from nestmix.samplers import DEFAULT_SAMPLER

    assert DEFAULT_SAMPLER in REGISTRY
    plan = SweepPlan(name="t", data=Measurements.from_arrays(toy_values(10)),
                     spec=ModelSpec(priors=TOY_PRIORS), k_values=(1,))
    assert plan.samplers == (DEFAULT_SAMPLER,)
    assert NestedGaussianMixture().sampler == DEFAULT_SAMPLER
    written = [c for c in _constants_outside_the_samplers() if c[2] == DEFAULT_SAMPLER]
    assert not written, f"the default sampler written outside samplers/registry.py: {written}"


def test_the_interface_s_example_speaks_the_contract():
    """samplers/base.py's example adapter asks for live points as ``nlive``, with settings the
    real adapter accepts, and overrides only methods the interface has."""
    import ast
    import re

    import nestmix.samplers.base as base

    doc = base.__doc__ or ""
    defaults = ast.literal_eval(re.search(r"defaults = (\{.*?\})", doc).group(1))
    valid = re.search(r"valid_settings = (\{.*?\})", doc).group(1)
    real = get_sampler("ultranest")
    assert "nlive" in defaults and set(defaults) <= set(real.valid_settings)
    assert set(defaults) <= set(re.findall(r'"(\w+)":', valid))
    assert "min_num_live_points" not in defaults and "worker_packages" in doc
    methods = re.findall(r"def (\w+)\(self", doc)
    assert "default_nlive" in methods
    assert all(hasattr(SamplerAdapter, m) for m in methods), methods


#: Where a sampler's name may appear as a string outside nestmix/samplers/, and why.
NAMED_ELSEWHERE = {"extras.py": "the optional extra that installs UltraNest is named for it"}


def test_no_sampler_is_named_outside_its_folder():
    """What differs between samplers (their default, their cost per live point, their
    switches and packages) is declared by their adapters, not decided by name elsewhere."""
    found = [c for c in _constants_outside_the_samplers()
             if c[2] in REGISTRY and c[0] not in NAMED_ELSEWHERE]
    assert not found, found


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_declares_its_cost_per_live_point(name):
    from nestmix.sweep.cost import expected_calls

    adapter = get_sampler(name)
    assert isinstance(adapter.relative_calls, float) and adapter.relative_calls > 0
    assert expected_calls(name, 100, 4, 200) == pytest.approx(
        adapter.relative_calls * expected_calls("dynesty", 100, 4, 200))


class FixedDepthDynesty(DynestyAdapter):
    """dynesty as a sampler that cannot make a deeper run (an adapter written that way)."""

    name = "fixed_depth"

    def with_more_live_points(self, settings, ndim, factor):
        return None


@pytest.mark.slow  # K = 2, 3 at nlive 40 with dynesty: ~10 s
def test_a_sampler_that_cannot_deepen_is_checked_and_marked_without_a_deeper_run(
        tmp_path, monkeypatch):
    import json
    from dataclasses import replace

    from nestmix.store.convergence import CONVERGENCE
    from nestmix.sweep import run_sweep

    monkeypatch.setitem(REGISTRY, "fixed_depth", f"{__name__}:FixedDepthDynesty")
    plan = SweepPlan(name="toy", data=Measurements.from_arrays(toy_values(25)),
                     spec=ModelSpec(priors=TOY_PRIORS), k_values=(2, 3), sampler="fixed_depth",
                     settings={"nlive": 40}, seed=7, escalate=2)
    assert plan.escalated_settings("fixed_depth", 3, 1) is None
    run_sweep(replace(plan, escalate=0), tmp_path / "toy", n_jobs=1)
    # K = 3's stored ln Z made 8 nats low: its independent check disagrees (a signal)
    path = tmp_path / "toy" / "K=3" / "fixed_depth" / "manifest.json"
    stored = json.loads(path.read_text())
    stored["summary"]["logZ"] -= 8.0
    path.write_text(json.dumps(stored))
    lines: list[str] = []
    result = run_sweep(plan, tmp_path / "toy", n_jobs=1, progress=lines.append)
    three = json.loads((tmp_path / "toy" / CONVERGENCE).read_text())["rows"]["K=3 fixed_depth"]
    assert three["converged"] is False and three["cannot_deepen"] and three["extra_runs"] == 0
    assert not (tmp_path / "toy" / "K=3" / "fixed_depth.repeat2").exists()
    row = next(r for r in result.rows if r.k == 3)
    assert not row.converged and row.escalations == 0
    assert any("fixed_depth cannot make one" in w for w in row.warnings), row.warnings
    assert any("cannot make a deeper run" in line for line in lines), lines
