"""One K over several processes: dynesty's pool gives the evidence of a direct integration, is
not part of the run's fingerprint, and continues from its checkpoint."""

from __future__ import annotations

import pickle
import time
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

from nestmix import Measurements, ModelSpec, SweepPlan, run_sweep
from nestmix.errors import SamplerError
from nestmix.runtime.cpuload import available_cores
from nestmix.samplers import get_sampler
from nestmix.samplers.dynesty.pools import ProblemMethod, make_token
from tests.conftest import TOY_PRIORS, grid_logz, toy_values

PRIORS = TOY_PRIORS


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    return toy_values(40)




def test_the_grid_integrates_the_models_likelihood(values):
    model = ModelSpec(priors=PRIORS).build(Measurements.from_arrays(values), 1)
    assert model.param_names == ("mu_1", "sigma")
    theta = np.array([0.3, 2.0])
    assert model.log_likelihood(theta) == pytest.approx(
        stats.norm.logpdf(values, 0.3, 2.0).sum(), rel=1e-12)



def test_the_grid_agrees_with_an_independent_integration(values):
    """μ integrated out analytically (x ~ N(0, σ² I + 5² J) given σ), then σ by quadrature:
    the grid's ln Z, checked against a method that shares nothing with it."""
    n = values.size

    def log_marginal(sigma: float) -> float:
        cov = sigma**2 * np.eye(n) + 25.0 * np.ones((n, n))
        return float(stats.multivariate_normal.logpdf(values, np.zeros(n), cov))

    peak = log_marginal(2.9)
    integral, _ = quad(lambda s: np.exp(log_marginal(s) - peak) * stats.halfnorm.pdf(s, scale=3),
                       0.5, 15.0, points=[2.9], limit=200)
    assert grid_logz(values) == pytest.approx(peak + np.log(integral), abs=1e-3)


def test_a_process_pool_gives_the_same_evidence_and_is_not_fingerprinted(values, tmp_path):
    truth = grid_logz(values)
    plan = SweepPlan(name="pool", data=Measurements.from_arrays(values),
                     spec=ModelSpec(priors=PRIORS), k_values=(1,),
                     settings={"nlive": 30, "pool": 2}, seed=4)
    pooled = run_sweep(plan, tmp_path / "pool").rows[0]
    assert abs(pooled.logZ - truth) < 3 * max(pooled.logZ_err, pooled.logZ_err_sim)
    serial = run_sweep(replace(plan, settings={"nlive": 30}), tmp_path / "serial").rows[0]
    assert abs(pooled.logZ - serial.logZ) < 3 * np.hypot(pooled.logZ_err, serial.logZ_err)
    assert pooled.logZ != serial.logZ  # two proposals at a time: a different run
    # where a run was computed is not what it is: the serial sweep resumes the pooled one
    lines: list[str] = []
    again = run_sweep(replace(plan, settings={"nlive": 30}), tmp_path / "pool",
                      progress=lines.append)
    assert any("reused finished run" in line for line in lines)
    assert again.rows[0].logZ == pooled.logZ


def test_stand_ins_pickle_to_a_token(values):
    model = ModelSpec(priors=PRIORS).build(Measurements.from_arrays(values), 1)
    stand_in = ProblemMethod(make_token("x"), "log_likelihood", model)
    theta = np.array([0.3, 2.0])
    assert stand_in(theta) == model.log_likelihood(theta)
    assert len(pickle.dumps(stand_in)) < 200 < len(pickle.dumps(model))
    with pytest.raises(RuntimeError, match="no problem installed"):
        pickle.loads(pickle.dumps(stand_in))(theta)  # nothing installed under that token


class Failing:
    """The model, with a likelihood that fails after ``limit`` calls in each process (a run
    cut short, leaving its checkpoint behind)."""

    def __init__(self, model, limit: int, delay: float = 0.0) -> None:
        self.model, self.limit, self.calls, self.delay = model, limit, 0, delay
        self.ndim, self.param_names = model.ndim, model.param_names

    def prior_transform(self, u):
        return self.model.prior_transform(u)

    def log_likelihood(self, theta):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError("cut short")
        if self.delay:  # a lower bound on the run's time, so it outlasts a checkpoint interval
            time.sleep(self.delay)
        return self.model.log_likelihood(theta)


@pytest.mark.slow
def test_a_pooled_run_continues_from_its_checkpoint(values, tmp_path, monkeypatch):
    monkeypatch.setenv("NESTMIX_CHECKPOINT_SECONDS", "0.1")
    model = ModelSpec(priors=PRIORS).build(Measurements.from_arrays(values), 1)
    adapter = get_sampler("dynesty")
    settings = {"nlive": 50, "pool": 2}
    workdir = tmp_path / "work"
    with pytest.raises(RuntimeError, match="cut short"):
        adapter.run(Failing(model, limit=2500), settings, seed=9, workdir=str(workdir))
    assert (workdir / "dynesty.save").exists()
    # continued with a pool of another size (dynesty keeps the checkpoint's queue_size) where
    # this machine has the cores for one (a pool is at most the cores)
    other = 3 if available_cores() >= 3 else 2
    run = adapter.run(model, {**settings, "pool": other}, seed=9, workdir=str(workdir))
    assert run.resumed
    assert abs(run.logz - grid_logz(values)) < 3 * run.logz_err
    assert not (workdir / "dynesty.save").exists()


def test_pool_settings_are_checked():
    adapter = get_sampler("dynesty")
    assert adapter.validate({"pool": 2, "queue_size": 6})["queue_size"] == 6
    for bad, words in (({"pool": 0}, "number of processes"), ({"pool": True}, "must be"),
                       ({"pool": available_cores() + 1}, "at most the"),
                       ({"queue_size": 2}, "needs a pool"), ({"pool": 2, "queue_size": 0},
                                                             "at least 1")):
        with pytest.raises(SamplerError, match=words):
            adapter.validate(bad)
    model_free = {"nlive": 10, "pool": "dask"}
    with pytest.raises(SamplerError, match="only works in a sweep that runs on a Dask"):
        adapter.run(_Tiny(), model_free, seed=1)


class _Tiny:
    ndim, param_names = 1, ("x",)

    @staticmethod
    def prior_transform(u):
        return u

    @staticmethod
    def log_likelihood(theta):
        return 0.0
