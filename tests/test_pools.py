"""One K over several processes: dynesty's pool gives the evidence of a direct integration, is
not part of the run's fingerprint, and continues from its checkpoint."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from nestmix import Measurements, ModelSpec, SweepPlan, run_sweep
from nestmix.errors import SamplerError
from nestmix.samplers import get_sampler
from nestmix.samplers.dynesty.pools import ProblemMethod, make_token

PRIORS = {"mean": {"dist": "norm", "loc": 0, "scale": 5},
          "sigma": {"dist": "halfnorm", "scale": 3}}


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    rng = np.random.default_rng(12)
    return np.concatenate([rng.normal(-3, 0.6, 40), rng.normal(2.5, 0.8, 40)])


def grid_logz(x: np.ndarray) -> float:
    """ln Z of one Gaussian (mean ~ N(0, 5), σ ~ HalfNormal(3)) by integration on a grid
    covering the posterior of these data (μ ≈ −0.2 ± 0.3, σ ≈ 2.9 ± 0.3; a grid over
    [−20, 20] × [0, 15] gives the same value to 1e-12)."""
    n, s1, s2 = x.size, x.sum(), (x**2).sum()
    mu = np.linspace(-4, 4, 801)[:, None]
    sigma = np.linspace(1, 8, 701)[None, :]
    logl = -0.5 * n * np.log(2 * np.pi * sigma**2) - (s2 - 2 * mu * s1 + n * mu**2) / (
        2 * sigma**2)
    log_prior = stats.norm.logpdf(mu, 0, 5) + stats.halfnorm.logpdf(sigma, scale=3)
    cell = (mu[1, 0] - mu[0, 0]) * (sigma[0, 1] - sigma[0, 0])
    return float(logsumexp(logl + log_prior) + np.log(cell))


def test_the_grid_integrates_the_models_likelihood(values):
    model = ModelSpec(priors=PRIORS).build(Measurements.from_arrays(values), 1)
    assert model.param_names == ("mu_1", "sigma")
    theta = np.array([0.3, 2.0])
    assert model.log_likelihood(theta) == pytest.approx(
        stats.norm.logpdf(values, 0.3, 2.0).sum(), rel=1e-12)
    assert grid_logz(values) == pytest.approx(-202.7896, abs=1e-4)


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

    def __init__(self, model, limit: int) -> None:
        self.model, self.limit, self.calls = model, limit, 0
        self.ndim, self.param_names = model.ndim, model.param_names

    def prior_transform(self, u):
        return self.model.prior_transform(u)

    def log_likelihood(self, theta):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError("cut short")
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
    # continued with a pool of another size (dynesty keeps the checkpoint's queue_size)
    run = adapter.run(model, {**settings, "pool": 3}, seed=9, workdir=str(workdir))
    assert run.resumed
    assert abs(run.logz - grid_logz(values)) < 3 * run.logz_err
    assert not (workdir / "dynesty.save").exists()


def test_pool_settings_are_checked():
    adapter = get_sampler("dynesty")
    assert adapter.validate({"pool": 3, "queue_size": 6})["queue_size"] == 6
    for bad, words in (({"pool": 0}, "number of processes"), ({"pool": True}, "must be"),
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
