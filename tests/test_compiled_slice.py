"""nestmix's compiled copy of dynesty's slice sampler gives dynesty's own runs, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from dynesty import internal_samplers
from dynesty.internal_samplers import SamplerArgument, SliceSampler
from dynesty.utils import LogLikelihood

from nestmix import Measurements, ModelSpec
from nestmix.model import MixtureModel
from nestmix.samplers.dynesty import compiled_slice
from nestmix.samplers.dynesty.adapter import DynestyAdapter, _with_compiled_slice
from nestmix.samplers.dynesty.compiled_slice import CompiledSliceSampler

ORDERED = ModelSpec(order="means", priors={"mean": {"dist": "uniform", "loc": -4, "scale": 8},
                                           "sigma": {"dist": "loguniform", "a": 0.05,
                                                     "b": 5}})


@pytest.fixture(scope="module")
def model_1d():
    """Two components with per-point errors (the 1-D kernel, deconvolved)."""
    rng = np.random.default_rng(7)
    y = np.concatenate([rng.normal(-1.5, 0.4, 60), rng.normal(1.0, 0.7, 60)])
    err = rng.uniform(0.1, 0.4, y.size)
    return ORDERED.build(Measurements.from_arrays(y + err * rng.normal(size=y.size),
                                                  errors=err), 2)


@pytest.fixture(scope="module")
def model_2d():
    """2-D data with per-point covariances and diagonal component covariances (the N-D kernel)."""
    rng = np.random.default_rng(8)
    y = np.concatenate([rng.normal([-1, 0], 0.5, (50, 2)), rng.normal([1.5, 1], 0.6, (50, 2))])
    errors = np.full((100, 2), 0.2)
    spec = ModelSpec(covariance="diag", priors={
        "mean": {"dist": "uniform", "loc": -4, "scale": 8},
        "sigma": {"dist": "loguniform", "a": 0.05, "b": 5}})
    return spec.build(Measurements.from_arrays(y, errors=errors), 2)


def both_runs(model, monkeypatch, settings):
    runs = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(compiled_slice.ENV_VAR, flag)
        runs[flag] = DynestyAdapter().run(model, settings, seed=11)
    return runs["1"], runs["0"]


def assert_same_run(a, b):
    assert a.ncall == b.ncall
    assert a.logz == b.logz and a.logz_err == b.logz_err
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.logl, b.logl)


@pytest.mark.parametrize("name", ["model_1d", "model_2d"])
def test_a_whole_run_equals_dynestys_slice_sampler(name, request, monkeypatch):
    model = request.getfixturevalue(name)
    assert model.compiled_parts() is not None
    compiled, python = both_runs(model, monkeypatch, {"nlive": 60, "dlogz": 0.5})
    assert_same_run(compiled, python)
    assert compiled.ncall > 20_000  # a real run, not a few iterations


def test_more_slices_and_a_dynamic_run_also_match(model_1d, monkeypatch):
    compiled, python = both_runs(model_1d, monkeypatch, {"nlive": 40, "slices": 2,
                                                         "dlogz": 1.0})
    assert_same_run(compiled, python)
    compiled, python = both_runs(model_1d, monkeypatch, {"nlive": 40, "dynamic": True,
                                                         "dlogz": 1.0, "maxbatch": 1})
    assert_same_run(compiled, python)


@pytest.mark.parametrize("doubling", [False, True])
def test_one_proposal_equals_dynestys_step_by_step(doubling, monkeypatch):
    # Straight against SliceSampler.sample: the same start, bound, axes and seed give the
    # same point, likelihood and call count, stepping out or doubling. Two well-separated
    # groups and exchangeable labels make slices with two pieces, so that Neal's acceptance
    # test of the doubling procedure also rejects (counted on dynesty's own function).
    rng = np.random.default_rng(7)
    y = np.concatenate([rng.normal(-2, 0.3, 20), rng.normal(2, 0.3, 20)])
    spec = ModelSpec(priors={"mean": {"dist": "uniform", "loc": -4, "scale": 8},
                             "sigma": {"dist": "loguniform", "a": 0.05, "b": 5}})
    model = spec.build(Measurements.from_arrays(y), 2)
    rejected = []
    accept = internal_samplers._slice_doubling_accept

    def counting_accept(*args):
        result = accept(*args)
        rejected.append(not result)
        return result

    monkeypatch.setattr(internal_samplers, "_slice_doubling_accept", counting_accept)
    cube = np.random.default_rng(3).random((20_000, model.ndim))
    logl = model.log_likelihood_batch(model.prior_transform(cube))
    loglstar = float(np.quantile(logl, 0.9))
    starts = cube[logl > loglstar]
    wrapped = LogLikelihood(model.log_likelihood, model.ndim)
    parts = model.compiled_parts()
    for trial in range(200):
        axes = np.eye(model.ndim) * 0.2 if trial % 2 else np.linalg.cholesky(
            np.cov(rng.normal(size=(50, model.ndim)), rowvar=False)) * 0.1
        scale = 1.0 if trial % 2 else rng.uniform(0.2, 30.0)
        kwargs = {"slices": 1 + trial % 3, "slice_doubling": doubling, "nonbounded": None,
                  "periodic": None, "reflective": None}
        arguments = [SamplerArgument(u=starts[trial].copy(), loglstar=loglstar, axes=axes,
                                     scale=scale, prior_transform=model.prior_transform,
                                     loglikelihood=wrapped, rseed=trial,
                                     kwargs={**kwargs, **extra})
                     for extra in ({}, {"compiled": parts})]
        expected = SliceSampler.sample(arguments[0])
        got = CompiledSliceSampler.sample(arguments[1])
        np.testing.assert_array_equal(got.u, expected.u)
        np.testing.assert_array_equal(got.v, expected.v)
        assert float(got.logl) == float(expected.logl) > loglstar
        assert got.ncalls == expected.ncalls
        assert got.tuning_info == expected.tuning_info
    assert any(rejected) == doubling


class OwnLikelihood(MixtureModel):
    def log_likelihood(self, theta):
        return super().log_likelihood(theta)


def test_used_only_where_the_compiled_functions_are_the_models(model_1d, monkeypatch):
    settings = DynestyAdapter().validate({})
    chosen = _with_compiled_slice(model_1d, settings, {"sample": "slice"})["sample"]
    assert isinstance(chosen, CompiledSliceSampler)
    # another sampler, switched off, a subclass with its own likelihood, a prior without a
    # compiled form, the numpy kernel: dynesty's own slice sampler
    rwalk = DynestyAdapter().validate({"sample": "rwalk"})
    assert _with_compiled_slice(model_1d, rwalk, {"sample": "rwalk"}) == {"sample": "rwalk"}
    subclass = OwnLikelihood(model_1d.data, 2, ORDERED)
    no_closed_form = ModelSpec(priors={"mean": {"dist": "norm", "scale": 3},
                                       "variance": {"dist": "weibull_min", "c": 1.5,
                                                    "scale": 1}}).build(
        model_1d.data, 2)
    assert subclass.compiled_parts() is None and no_closed_form.compiled_parts() is None
    for model in (subclass, no_closed_form):
        assert _with_compiled_slice(model, settings, {"sample": "slice"}) == {"sample": "slice"}
    monkeypatch.setenv(compiled_slice.ENV_VAR, "0")
    assert _with_compiled_slice(model_1d, settings, {"sample": "slice"}) == {"sample": "slice"}
    monkeypatch.setenv("NESTMIX_KERNEL", "numpy")
    assert ORDERED.build(model_1d.data, 2).compiled_parts() is None
