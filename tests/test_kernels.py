"""The fused likelihood kernel (numba and numpy backends) against the reference densities."""

from __future__ import annotations

import sys
import tracemalloc

import cloudpickle
import numpy as np
import pytest
from scipy.special import logsumexp

from nestmix import Measurements, ModelSpec
from nestmix.components import make_component
from nestmix.errors import ModelError
from nestmix.model.kernels import MixtureKernel, resolve_backend

NORM = {"dist": "norm", "loc": 0, "scale": 3}
HALF = {"dist": "halfnorm", "scale": 2}
BACKENDS = ("numba", "numpy")


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch) -> str:
    """Each test runs once per backend; models read ``NESTMIX_KERNEL`` when they are built."""
    monkeypatch.setenv("NESTMIX_KERNEL", request.param)
    return request.param


def reference(model, thetas) -> np.ndarray:
    """log Σ_k w_k p_k(y_i) summed over points, from the reference per-component densities."""
    thetas = np.atleast_2d(thetas)
    params = model.expand(thetas)
    with np.errstate(divide="ignore", over="ignore"):
        terms = model.component_log_densities(thetas) + np.log(params.weights)[:, None, :]
        out = logsumexp(terms, axis=2).sum(axis=1)
    return np.where(np.isnan(out), -np.inf, out)


def make_data(rng, n, d, errors):
    values = rng.normal(size=(n, d)) * 2 + np.arange(d)
    if errors == "none":
        return Measurements.from_arrays(values if d > 1 else values[:, 0])
    err = rng.uniform(0.1, 0.8, size=(n, d))
    if errors == "corr" and d >= 2:
        corr = rng.uniform(-0.5, 0.5, size=(n, d * (d - 1) // 2))
        return Measurements.from_arrays(values, errors=err, correlations=corr)
    return Measurements.from_arrays(values if d > 1 else values[:, 0],
                                     errors=err if d > 1 else err[:, 0])


CASES = [  # (D, covariance, errors, background, K)
    (1, "full", "none", "none", 3),
    (1, "full", "diag", "none", 3),
    (1, "tied", "diag", "uniform", 2),
    (1, "spherical", "none", "uniform", 1),
    (2, "full", "none", "none", 3),
    (2, "full", "corr", "none", 3),
    (2, "diag", "diag", "uniform", 2),
    (2, "spherical", "none", "uniform", 3),
    (2, "tied", "corr", "none", 3),
    (2, "tied", "none", "uniform", 1),
    (3, "full", "corr", "none", 3),
    (3, "full", "none", "uniform", 2),
    (3, "diag", "none", "none", 3),
    (3, "spherical", "corr", "uniform", 2),
    (3, "tied", "diag", "none", 3),
    (3, "tied", "none", "none", 2),
]


@pytest.mark.parametrize(("d", "covariance", "errors", "background", "k"), CASES)
def test_kernel_matches_reference_densities(backend, rng, d, covariance, errors, background, k):
    data = make_data(rng, 60, d, errors)
    scale = "sigma" if d != 2 else "variance"
    prior = HALF if scale == "sigma" else {"dist": "invgamma", "a": 3, "scale": 4}
    spec = ModelSpec(covariance=covariance, background=background,
                     priors={"mean": NORM, scale: prior})
    model = spec.build(data, k)
    assert model._kernel.backend == backend
    thetas = model.prior_transform(rng.uniform(size=(25, model.ndim)))
    expected = reference(model, thetas)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(model.log_likelihood_batch(thetas), expected, rtol=1e-10)
    for theta, value in zip(thetas[:3], expected[:3], strict=True):
        assert model.log_likelihood(theta) == pytest.approx(value, rel=1e-10)


def test_fixed_parameters_ordered_means_and_alpha(backend, rng):
    """Fixed entries of φ are filled in, ordered means and non-unit Dirichlet α are honoured."""
    data = make_data(rng, 50, 2, "corr")
    spec = ModelSpec(order="means", priors={
        "mean": [NORM, 1.5], "sigma": [HALF, 0.7],
        "weights": {"dist": "dirichlet", "alpha": [2.0, 0.5, 1.0]}})
    model = spec.build(data, 3)
    assert "mu_1_x1" not in model.param_names  # the fixed second mean axis is not sampled
    thetas = model.prior_transform(rng.uniform(size=(20, model.ndim)))
    np.testing.assert_allclose(model.log_likelihood_batch(thetas), reference(model, thetas),
                               rtol=1e-10)


@pytest.mark.parametrize("background", ["none", "uniform"])
def test_custom_components_enter_the_sum(backend, rng, background):
    data = make_data(rng, 80, 1, "diag")
    spec = ModelSpec(background=background, priors={"mean": NORM, "sigma": HALF},
                     extra_components=(
                         make_component("student_t", priors={"mu": NORM, "sigma": HALF,
                                                              "nu": {"dist": "uniform",
                                                                     "loc": 1, "scale": 9}}),
                         make_component("gaussian_outlier", name="wide",
                                        priors={"mu": NORM, "ln_s": {"dist": "uniform",
                                                                     "loc": 0, "scale": 2}})))
    for k in (0, 2):
        model = spec.build(data, k)
        thetas = model.prior_transform(rng.uniform(size=(15, model.ndim)))
        expected = reference(model, thetas)
        assert np.all(np.isfinite(expected))
        np.testing.assert_allclose(model.log_likelihood_batch(thetas), expected, rtol=1e-10)
        assert model.log_likelihood(thetas[0]) == pytest.approx(expected[0], rel=1e-10)


# ------------------------------------------------------------------ extreme values
def _sigma_model(values, errors, sigma_range, background="none", d=1):
    data = Measurements.from_arrays(values, errors=errors)
    lo, hi = sigma_range
    spec = ModelSpec(background=background, priors={
        "mean": {"dist": "uniform", "loc": -1, "scale": 2},
        "sigma": {"dist": "loguniform", "a": lo, "b": hi}})
    return spec.build(data, 2)


@pytest.mark.parametrize("errors", [False, True])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_tiny_widths_and_far_outliers(backend, rng, errors, d):
    """Widths down to 1e-160 and points 1e6 or 1e90 away (values beyond 1e100 are refused as
    data: tests/test_bad_input.py): no NaN, -inf exactly when the reference says so, and the
    same finite values otherwise."""
    n = 30
    for outlier, sigma_range in [(0.3, (1e-160, 1e-150)), (1e6, (1e-3, 1e-1)),
                                 (1e90, (0.1, 1.0)), (1e6, (1e-160, 1e-150))]:
        values = rng.normal(0, 0.5, size=(n, d))
        values[0] = outlier
        err = np.full((n, d), 0.05) if errors else None
        for background in ("none", "uniform"):
            model = _sigma_model(values if d > 1 else values[:, 0],
                                 None if err is None else (err if d > 1 else err[:, 0]),
                                 sigma_range, background, d)
            thetas = model.prior_transform(rng.uniform(size=(10, model.ndim)))
            got = model.log_likelihood_batch(thetas)
            expected = reference(model, thetas)
            assert not np.isnan(got).any()
            np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
            finite = np.isfinite(expected)
            np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-10)
            if background == "uniform":  # the background explains the outlier
                assert finite.all()


def test_zero_weights_and_invalid_theta(backend, rng):
    data = make_data(rng, 40, 2, "diag")
    model = ModelSpec(priors={"mean": NORM, "sigma": HALF}).build(data, 3)
    u = rng.uniform(size=(4, model.ndim))
    u[0, :2] = [1.0, 0.0]  # all weight on component 1
    u[1, :2] = [0.0, 1.0]  # all weight on component 2
    u[2, :2] = [0.0, 0.0]  # all weight on component 3
    thetas = model.prior_transform(u)
    assert (model.expand(thetas).weights == 0.0).sum() >= 5
    np.testing.assert_allclose(model.log_likelihood_batch(thetas), reference(model, thetas),
                               rtol=1e-10)
    bad = np.repeat(thetas[3:4], 4, axis=0)
    bad[0, 3] = np.nan
    bad[1, 3] = np.inf
    bad[2, 0] = -0.5  # a negative weight
    out = model.log_likelihood_batch(bad)
    assert np.isneginf(out[:3]).all() and np.isfinite(out[3])
    with pytest.raises(ModelError, match=r"θ must have shape"):
        model.log_likelihood(thetas[0, :-1])
    with pytest.raises(ModelError, match=r"θ must have shape"):
        model.log_likelihood(thetas)


# ---------------------------------------------------------------- chunks, memory
def test_numpy_chunks_do_not_change_values(rng):
    data = make_data(rng, 3_000, 2, "corr")
    model = ModelSpec(background="uniform", priors={"mean": NORM, "sigma": HALF}).build(data, 4)
    thetas = model.prior_transform(rng.uniform(size=(6, model.ndim)))
    whole = MixtureKernel(model._layout, model.prior, data.values, data.covariances,
                          model._log_background, backend="numpy", max_elements=10**9)
    chunked = MixtureKernel(model._layout, model.prior, data.values, data.covariances,
                            model._log_background, backend="numpy", max_elements=1_000)
    fused = MixtureKernel(model._layout, model.prior, data.values, data.covariances,
                          model._log_background, backend="numba")
    np.testing.assert_allclose(chunked(thetas), whole(thetas), rtol=1e-13)
    np.testing.assert_allclose(fused(thetas), whole(thetas), rtol=1e-10)


def test_numpy_backend_memory_is_bounded(rng):
    """200 000 points, K = 4, 2-D with errors: one unchunked (m, N, K, D, D) array alone would
    take 25.6 MB; in chunks of 100 000 elements the peak stays a few MB."""
    n = 200_000
    values = rng.normal(size=(n, 2))
    data = Measurements.from_arrays(values, errors=np.full((n, 2), 0.3))
    model = ModelSpec(priors={"mean": NORM, "sigma": HALF}).build(data, 4)
    kernel = MixtureKernel(model._layout, model.prior, data.values, data.covariances, None,
                           backend="numpy", max_elements=100_000)
    theta = model.prior_transform(rng.uniform(size=(1, model.ndim)))
    tracemalloc.start()
    try:
        value = kernel(theta)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB"
    assert value[0] == pytest.approx(model.log_likelihood(theta[0]), rel=1e-10)


# ------------------------------------------------------------- backend choice
def test_backend_choice_and_clean_fallback(monkeypatch, rng):
    monkeypatch.delenv("NESTMIX_KERNEL", raising=False)
    assert resolve_backend() == "numba"
    monkeypatch.setenv("NESTMIX_KERNEL", "NumPy")
    assert resolve_backend() == "numpy"
    monkeypatch.setenv("NESTMIX_KERNEL", "fortran")
    with pytest.raises(ModelError, match=r"NESTMIX_KERNEL: unknown likelihood backend "
                                         r"'fortran'; valid: auto, numba, numpy"):
        ModelSpec(priors={"mean": NORM, "sigma": HALF}).build(make_data(rng, 10, 1, "none"), 1)
    with pytest.raises(ModelError, match="backend: unknown"):
        resolve_backend("cuda")
    # numba not importable: auto falls back to numpy, asking for numba says how to get it
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setenv("NESTMIX_KERNEL", "auto")
    assert resolve_backend() == "numpy"
    data = make_data(rng, 50, 1, "diag")
    model = ModelSpec(priors={"mean": NORM, "sigma": HALF}).build(data, 2)
    assert model._kernel.backend == "numpy"
    assert model.prior._compiled is None  # the prior transform falls back to numpy too
    thetas = model.prior_transform(rng.uniform(size=(5, model.ndim)))
    np.testing.assert_allclose(model.log_likelihood_batch(thetas), reference(model, thetas),
                               rtol=1e-10)
    with pytest.raises(ModelError, match=r"pip install numba"):
        resolve_backend("numba")


def test_pickled_model_gives_the_same_values(rng):
    data = make_data(rng, 40, 2, "corr")
    model = ModelSpec(background="uniform", priors={"mean": NORM, "sigma": HALF}).build(data, 2)
    theta = model.prior_transform(rng.uniform(size=model.ndim))
    copy = cloudpickle.loads(cloudpickle.dumps(model))
    assert copy.log_likelihood(theta) == model.log_likelihood(theta)


def test_one_compiled_signature_per_entry_point(rng):
    """Read-only data, sliced θ and every data case reuse the same compiled code."""
    from nestmix.model.kernels import _numba_impl

    for d, errors in [(1, "none"), (1, "diag"), (2, "none"), (2, "corr"), (3, "diag")]:
        data = make_data(rng, 20, d, errors)
        assert not data.values.flags.writeable
        model = ModelSpec(background="uniform", priors={"mean": NORM, "sigma": HALF}).build(
            data, 2)
        thetas = model.prior_transform(rng.uniform(size=(4, model.ndim)))
        thetas.flags.writeable = False
        model.log_likelihood_batch(thetas[::2])
        model.log_likelihood(thetas[1])
    assert len(_numba_impl.loglike_1d.signatures) == 1
    assert len(_numba_impl.loglike_nd.signatures) == 1


def test_vectorised_exp_and_log_are_accurate():
    from numba import njit

    from nestmix.model.kernels._numba_math import exp_nonpositive, log_positive

    @njit(error_model="numpy")
    def both(x, y):
        e = np.empty_like(x)
        g = np.empty_like(y)
        for i in range(x.shape[0]):
            e[i] = exp_nonpositive(x[i])
        for i in range(y.shape[0]):
            g[i] = log_positive(y[i])
        return e, g

    rng = np.random.default_rng(3)
    x = np.concatenate([-rng.exponential(50.0, 20_000), [0.0, -1e-300, -745.0, -745.2, -746.0,
                                                         -800.0, -np.inf]])
    y = np.concatenate([np.exp(rng.uniform(-700, 700, 20_000)),
                        1.0 + rng.uniform(-1e-9, 1e-9, 1_000),
                        [1.0, 2.0, np.sqrt(0.5), 2.2250738585072014e-308, 1.7e308]])
    e, g = both(x, y)
    expected_e, expected_g = np.exp(x), np.log(y)
    normal = expected_e > 2.3e-308
    np.testing.assert_allclose(e[normal], expected_e[normal], rtol=4e-16, atol=0)
    np.testing.assert_allclose(e[~normal], expected_e[~normal], rtol=0, atol=1e-320)
    np.testing.assert_allclose(g, expected_g, rtol=5e-16, atol=3e-16)
