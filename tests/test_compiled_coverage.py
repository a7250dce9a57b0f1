"""Every built-in prior block runs compiled, and agrees with its numpy transform to 1e-10.

The compiled inverses of the regularised incomplete gamma and beta functions are checked
twice: against scipy's inverses (through the numpy priors) and, independently of any inverse,
by putting the quantiles back through scipy's forward functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from nestmix import Measurements, ModelSpec
from nestmix.priors import LKJCorrelation, OrderedBlock, StickBreakingDirichlet, Univariate
from nestmix.priors._compiled import (
    CODES,
    _beta_quantile,
    _gamma_quantile,
    compile_blocks,
    run_plan,
    univariate_op,
)
from nestmix.priors._fast import FAST_PPF
from nestmix.priors.blocks import Block

EDGES = np.array([0.0, 1e-300, 1e-100, 1e-20, 1e-16, 1e-8, 0.01, 0.2, 0.25, 0.4999999999, 0.5,
                  0.5000000001, 0.75, 0.99, 1 - 1e-8, 1 - 1e-15, 1 - 2.0**-53, 1.0])
TOL = {"rtol": 1e-10, "atol": 1e-10}

UNIVARIATE = [
    ("gamma", {"a": 0.3}),
    ("gamma", {"a": 3.0, "scale": 2.0}),
    ("gamma", {"a": 250.0, "loc": -3.0}),
    ("invgamma", {"a": 3.0, "scale": 20.0}),
    ("invgamma", {"a": 0.5}),
    ("invgamma", {"a": 1.0, "scale": 0.1}),
    ("beta", {"a": 0.5, "b": 2.0}),
    ("beta", {"a": 2.0, "b": 3.0, "loc": -1.0, "scale": 2.0}),
    ("beta", {"a": 1.0, "b": 4.0}),
    ("beta", {"a": 40.0, "b": 0.7}),
    ("t", {"df": 3.0, "loc": 1.0, "scale": 2.0}),
    ("t", {"df": 30.0}),
    ("t", {"df": 1.5}),
    ("truncnorm", {"a": 0.0, "b": np.inf, "loc": 1.0, "scale": 2.0}),
    ("truncnorm", {"a": -2.0, "b": 3.0}),
    ("truncnorm", {"a": 5.0, "b": 6.0}),
    ("truncnorm", {"a": -np.inf, "b": -30.0}),
    ("cauchy", {"loc": 1.0, "scale": 2.0}),
    ("halfcauchy", {"scale": 3.0}),
]


def apply(op_code: int, values: list[float], u: np.ndarray, base: int = -1) -> np.ndarray:
    """One compiled operation over all of u's columns."""
    u = np.ascontiguousarray(u, dtype=float)
    out = np.empty_like(u)
    run_plan(u, np.array([[op_code, 0, u.shape[1], 0, base]]), np.array(values, dtype=float),
             out)
    return out


def test_every_closed_form_prior_has_a_compiled_form():
    assert set(FAST_PPF) <= set(CODES)


@pytest.mark.parametrize(("dist", "params"), UNIVARIATE)
def test_compiled_quantiles_match_the_numpy_priors(dist, params):
    prior = Univariate.create(dist, **params)
    u = np.concatenate([EDGES, np.random.default_rng(3).random(3_000)])
    code, values = univariate_op(prior)
    out = apply(code, values, u[:, None])[:, 0]
    assert np.all(np.isfinite(out))
    if dist == "t":  # where scipy's inverse underflows, see the next test
        u, out = u[u > 1e-100], out[u > 1e-100]
    np.testing.assert_allclose(out, prior.ppf(u), **TOL)


@pytest.mark.parametrize("df", [0.5, 1.0, 1.5])
def test_student_t_far_tail_is_exact_where_scipy_is_not(df):
    # Far in the lower tail scipy's betaincinv underflows (df = 1 gives -inf at the clipped
    # end u = 2^-1022, df = 1.5 the same finite value at 1e-300 and at 2^-1022); the compiled
    # quantile solves for log z and is the exact one.
    prior = Univariate.create("t", df=df)
    code, values = univariate_op(prior)
    u = np.array([0.0, 1e-300, 1e-250, 0.3, 1.0])
    out = apply(code, values, u[:, None])[:, 0]
    if df == 1.0:  # the Cauchy distribution: x = -cot(π u)
        np.testing.assert_allclose(out[:3], -1.0 / (np.pi * np.array([2.0**-1022, *u[1:3]])),
                                   rtol=1e-13)
    elif df == 0.5:  # |x| grows as u^(-1/df) and overflows
        assert out[0] == out[1] == -np.inf
    else:  # P(T < x) ~ c |x|^-df far out: the ratio of two quantiles follows
        np.testing.assert_allclose(out[1] / out[2], (1e-300 / 1e-250) ** (-1 / df), rtol=1e-10)
    np.testing.assert_allclose(out[3:], prior.ppf(u[3:]), rtol=1e-13)


@pytest.mark.parametrize("a", [0.01, 0.1, 0.5, 0.9, 1.0, 1.5, 3.0, 10.0, 50.0, 1e3])
def test_gamma_quantiles_invert_scipys_incomplete_gamma(a):
    p = np.concatenate([[1e-300, 1e-100, 1e-20, 1e-8], np.linspace(0.001, 0.999, 101),
                        [1 - 1e-8, 1 - 1e-15]])
    lower = np.array([_gamma_quantile(a, v, 1.0 - v) for v in p])
    upper = np.array([_gamma_quantile(a, 1.0 - v, v) for v in p])  # Q(a, x) = v
    # x underflows only where P(a, x) ~ x^a / Γ(a + 1) says it must
    gone, gone_upper = lower == 0.0, upper == 0.0
    assert np.all((np.log(p[gone]) + special.gammaln(a + 1)) / a < np.log(5e-324))
    assert np.all((np.log1p(-p[gone_upper]) + special.gammaln(a + 1)) / a < np.log(5e-324))
    # through the forward functions, each in the tail where it is exact: a relative error
    # δ in x moves P by x P'(x) δ, so this checks x to 1e-12 relative
    for x, forward, target in ((lower[~gone], special.gammainc, p[~gone]),
                               (upper[~gone_upper], special.gammaincc, p[~gone_upper])):
        slope = np.exp(a * np.log(x) - x - special.gammaln(a))  # x P'(x)
        err = (forward(a, x) - target) / slope
        assert np.all(np.abs(err) < 1e-12), np.abs(err).max()
    np.testing.assert_allclose(lower, special.gammaincinv(a, p), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(upper, special.gammainccinv(a, p), rtol=1e-12)


@pytest.mark.parametrize(("a", "b"), [(0.1, 0.1), (0.5, 0.5), (0.3, 2.0), (2.0, 0.3),
                                      (1.0, 3.0), (3.0, 1.0), (1.5, 1.5), (2.2, 2.2),
                                      (2.0, 5.0), (50.0, 0.5), (0.5, 50.0), (20.0, 30.0),
                                      (200.0, 300.0)])
def test_beta_quantiles_invert_scipys_incomplete_beta(a, b):
    p = np.concatenate([[1e-300, 1e-100, 1e-20, 1e-8], np.linspace(0.001, 0.999, 101),
                        [0.5, 1 - 1e-8, 1 - 1e-15]])
    pairs = np.array([_beta_quantile(a, b, v, 1.0 - v) for v in p])
    x, y = pairs[:, 0], pairs[:, 1]
    np.testing.assert_allclose(x + y, 1.0, rtol=0, atol=2e-16)
    # x underflows only where I_x(a, b) ~ x^a / (a B(a, b)) says it must
    gone = x == 0.0
    assert np.all((np.log(p[gone] * a) + special.betaln(a, b)) / a < np.log(5e-324))
    x, y, p = x[~gone], y[~gone], p[~gone]
    # forward, in the tail where the function value is exact: I_x(a, b) = p below the
    # median, I_y(b, a) = 1 - p above it; this checks x (below) and y (above) to 1e-12
    lower = p <= 0.5
    log_slope = a * np.log(x) + b * np.log(y) - special.betaln(a, b)  # x y I'(x)
    err = np.where(lower, (special.betainc(a, b, x) - p) * y,
                   ((1.0 - p) - special.betainc(b, a, y)) * x) / np.exp(log_slope)
    assert np.all(np.abs(err) < 1e-12), np.abs(err).max()


def test_beta_and_gamma_quantiles_at_the_ends():
    assert _beta_quantile(2.0, 3.0, 0.0, 1.0) == (0.0, 1.0)
    assert _beta_quantile(2.0, 3.0, 1.0, 0.0) == (1.0, 0.0)
    assert np.isnan(_beta_quantile(2.0, 3.0, np.nan, np.nan)[0])
    assert _gamma_quantile(2.0, 0.0, 1.0) == 0.0
    assert _gamma_quantile(2.0, 1.0, 0.0) == np.inf
    assert np.isnan(_gamma_quantile(2.0, np.nan, np.nan))


def blocks_of(*pairs) -> tuple[Block, ...]:
    out, start = [], 0
    for name, transform, ndim in pairs:
        out.append(Block(name, tuple(range(start, start + ndim)), transform, {"dist": name}))
        start += ndim
    return tuple(out)


class _Weights:  # what nestmix.model.layout gives the compiled plan: the free weights
    drops_last = True

    def __init__(self, stick: StickBreakingDirichlet) -> None:
        self.stick = stick

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return self.stick.transform(u)[:, :-1]


@pytest.mark.parametrize("alpha", [0.5, 2.0, (1.0, 2.0, 3.0, 0.7, 4.0), (3.0, 1.0, 1.0, 1.0, 1.0)])
def test_dirichlet_weights_for_any_alpha(alpha):
    stick = StickBreakingDirichlet.create(5, alpha)
    plan = compile_blocks(blocks_of(("weights", _Weights(stick), 4)))
    assert plan is not None and not plan.numpy_blocks
    u = np.vstack([np.random.default_rng(4).random((500, 4)), np.zeros(4), np.ones(4),
                   np.full(4, 0.5)])
    np.testing.assert_allclose(plan(u), stick.transform(u)[:, :-1], **TOL)
    assert np.all(np.isnan(plan(np.full((1, 4), np.nan))))


@pytest.mark.parametrize(("d", "eta"), [(2, 1.0), (2, 0.4), (3, 1.0), (3, 2.5), (4, 0.7),
                                        (6, 1.0), (6, 3.0)])
def test_lkj_correlations_in_any_dimension(d, eta):
    from nestmix.model.layout import _UpperTriangle

    lkj = LKJCorrelation(d, eta)
    plan = compile_blocks(blocks_of(("correlation", _UpperTriangle(lkj), lkj.ndim)))
    assert plan is not None and not plan.numpy_blocks
    rng = np.random.default_rng(5)
    u = np.vstack([rng.random((400, lkj.ndim)), np.zeros(lkj.ndim), np.ones(lkj.ndim),
                   rng.choice([0.0, 1.0, 0.3], size=(20, lkj.ndim))])
    out = plan(u)
    np.testing.assert_allclose(out, _UpperTriangle(lkj)(u), **TOL)
    # valid correlation matrices: positive definite with a unit diagonal
    iu = np.triu_indices(d, 1)
    corr = np.broadcast_to(np.eye(d), (u.shape[0], d, d)).copy()
    corr[:, iu[0], iu[1]] = out
    corr[:, iu[1], iu[0]] = out
    assert np.all(np.linalg.eigvalsh(corr[:400])[:, 0] > 0)


@pytest.mark.parametrize(("dist", "params"), [("gamma", {"a": 2.0}), ("t", {"df": 4.0}),
                                              ("truncnorm", {"a": -1.0, "b": 2.0})])
def test_ordered_blocks_over_any_closed_form(dist, params):
    ordered = OrderedBlock(Univariate.create(dist, **params), 4)
    plan = compile_blocks(blocks_of(("mean_ordered", ordered.transform, 4)))
    assert plan is not None and not plan.numpy_blocks
    u = np.vstack([np.random.default_rng(6).random((300, 4)), np.full(4, 0.5)])
    out = plan(u)
    np.testing.assert_allclose(out, ordered.transform(u), **TOL)
    assert np.all(np.diff(out, axis=1) >= 0)


def gaia_like(n: int, seed: int = 3) -> Measurements:
    """2-D points with per-point correlated errors: three correlated clusters and a background."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [-2.0, 3.0]])
    covs = np.array([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.2], [-0.2, 0.7]],
                     [[0.3, 0.1], [0.1, 1.2]]])
    label = rng.integers(0, 4, n)
    x = rng.uniform(-6, 8, (n, 2))
    for j in range(3):
        m = label == j
        x[m] = rng.multivariate_normal(centres[j], covs[j], m.sum())
    sd = rng.uniform(0.05, 0.3, (n, 2))
    rho = rng.uniform(-0.3, 0.3, n)
    err = np.einsum("ni,nj->nij", sd, sd) * np.where(np.eye(2, dtype=bool), 1.0,
                                                      rho[:, None, None])
    x += np.einsum("nij,nj->ni", np.linalg.cholesky(err), rng.normal(size=(n, 2)))
    return Measurements.from_arrays(x, covariances=err)


MODELS = [
    # the default covariance: full, LKJ(1), with a background
    {"background": "uniform", "priors": {"mean": {"dist": "norm", "loc": 1, "scale": 5},
                                         "sigma": {"dist": "halfnorm", "scale": 3}}},
    # galaxies-style inverse-gamma variances, LKJ(2), unequal Dirichlet weights
    {"background": "uniform", "priors": {
        "mean": {"dist": "norm", "loc": 1, "scale": 5},
        "variance": {"dist": "invgamma", "a": 3, "scale": 2},
        "correlation": {"dist": "lkj", "eta": 2.0},
        "weights": {"dist": "dirichlet", "alpha": [2.0, 1.0, 1.0, 0.5]}}},
    # tied covariance, ordered Student-t means, gamma variances, Dirichlet(0.5)
    {"covariance": "tied", "order": "means", "priors": {
        "mean": {"dist": "t", "df": 3, "loc": 1, "scale": 4},
        "variance": {"dist": "gamma", "a": 2, "scale": 0.5},
        "weights": {"dist": "dirichlet", "alpha": 0.5}}},
]


@pytest.fixture(scope="module")
def gaia_data() -> Measurements:
    return gaia_like(400)


@pytest.mark.parametrize("spec", MODELS)
def test_full_covariance_models_are_compiled_and_agree_with_numpy(monkeypatch, gaia_data,
                                                                    spec):
    model = ModelSpec(**spec).build(gaia_data, 3)
    assert model.compiled_path and model.numpy_parts == ()
    assert model.compiled_parts() is not None
    monkeypatch.setenv("NESTMIX_KERNEL", "numpy")
    reference = ModelSpec(**spec).build(gaia_data, 3)
    assert not reference.compiled_path and reference.compiled_parts() is None
    rng = np.random.default_rng(7)
    u = np.vstack([rng.random((100, model.ndim)), np.zeros(model.ndim), np.ones(model.ndim)])
    theta = model.prior_transform(u)
    np.testing.assert_allclose(theta, reference.prior_transform(u), **TOL)
    for row in u[:3]:
        np.testing.assert_allclose(model.prior_transform(row), reference.prior_transform(row),
                                   **TOL)
    logl = np.array([model.log_likelihood(t) for t in theta[:100]])
    assert np.all(np.isfinite(logl))
    np.testing.assert_allclose(logl, [reference.log_likelihood(t) for t in theta[:100]],
                               rtol=1e-10)


def test_compiled_path_tells_the_truth(gaia_data, rng):
    from nestmix.components import Component, make_component

    class Level(Component):  # a user's component: its density is computed in Python
        parameters = ("c",)

        def log_density(self, params, data):
            return np.broadcast_to(params["c"][:, None], (len(params["c"]), data.n_points))

    line = make_component("line", "line", {"m": {"dist": "norm"}, "b": {"dist": "norm"}})
    one_d = Measurements.from_arrays(rng.normal(size=40), errors=np.full(40, 0.1),
                                     extra={"x": rng.normal(size=40)})
    gauss = {"mean": {"dist": "norm", "scale": 1}, "sigma": {"dist": "halfnorm", "scale": 1}}
    cases = [
        (ModelSpec(**MODELS[0]).build(gaia_data, 2), ()),
        (ModelSpec(priors={"mean": {"dist": "norm", "scale": 1},
                           "sigma": {"dist": "weibull_min", "c": 2, "scale": 1}}
                   ).build(gaia_data, 2), ("prior sigma (weibull_min)",)),
        (ModelSpec(priors=gauss, extra_components=(line,)).build(one_d, 1), ()),
        (ModelSpec(priors=gauss, extra_components=(line, Level("level", {"c": -3.0}))
                   ).build(one_d, 1), ("component line (line)", "component level (Level)")),
    ]
    for model, parts in cases:
        assert model.numpy_parts == parts
        assert model.compiled_path == (model.compiled_parts() is not None) == (not parts)


# ------------------------------------------------------------------------------ components
GAUSS = {"mean": {"dist": "norm", "scale": 3}, "sigma": {"dist": "halfnorm", "scale": 2}}


def one_d_data(errors: bool, n: int = 300) -> Measurements:
    rng = np.random.default_rng(8)
    x = rng.uniform(-3, 3, n)
    y = np.where(rng.random(n) < 0.8, 0.7 * x + 0.3, rng.normal(0, 4, n))
    err = rng.uniform(0.05, 0.5, n)
    return Measurements.from_arrays(y + err * rng.normal(size=n), errors=err if errors else None,
                                    columns=["y"], extra={"x": x})


def component_cases():
    from nestmix.components import make_component

    line = make_component("line", priors={"m": {"dist": "norm"}, "b": {"dist": "norm"},
                                          "scatter": {"dist": "halfnorm", "scale": 0.5}})
    fixed_line = make_component("line", name="fit", priors={"m": {"dist": "norm"},
                                                            "b": {"dist": "norm"}})
    outliers = make_component("gaussian_outlier", name="out", priors={
        "mu": 0.0, "ln_s": {"dist": "uniform", "loc": -1, "scale": 4}})
    t_broad = make_component("student_t", name="tb", priors={
        "mu": {"dist": "norm"}, "sigma": {"dist": "halfnorm"},
        "nu": {"dist": "loguniform", "a": 0.5, "b": 50}})
    t_plain = make_component("student_t", name="tp", errors="ignore", priors={
        "mu": {"dist": "norm"}, "sigma": {"dist": "halfnorm"}, "nu": 3.0})
    cluster_1d = make_component("gaussian_cluster", name="cl", axes=("y",), priors={
        "mu_y": {"dist": "norm"}, "sigma": {"dist": "loguniform", "a": 0.01, "b": 1}})
    return [
        ((line, outliers), 0, True),
        ((fixed_line, outliers), 1, True),
        ((t_broad,), 1, True),
        ((t_plain, outliers), 0, False),
        ((cluster_1d,), 2, True),
    ]


@pytest.mark.parametrize(("components", "k", "errors"), component_cases())
def test_built_in_components_are_compiled_and_agree_with_numpy(monkeypatch, components, k,
                                                                errors):
    spec = ModelSpec(priors=GAUSS if k else {}, extra_components=components,
                     background="uniform" if k == 1 else "none")
    data = one_d_data(errors)
    model = spec.build(data, k)
    assert model._kernel.compiles_components and model.compiled_path
    assert model.compiled_parts() is not None
    monkeypatch.setenv("NESTMIX_KERNEL", "numpy")
    reference = spec.build(data, k)
    assert reference.numpy_parts[0] == "likelihood (numpy backend)"
    theta = model.prior_transform(np.random.default_rng(9).random((60, model.ndim)))
    expected = reference.log_likelihood_batch(theta)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(model.log_likelihood_batch(theta), expected, rtol=1e-10)
    for row, value in zip(theta[:3], expected[:3], strict=True):
        assert model.log_likelihood(row) == pytest.approx(value, rel=1e-10)


def test_space_density_component_is_compiled(monkeypatch):
    from nestmix.components import make_component

    rng = np.random.default_rng(10)
    distance = rng.gamma(3.0, 0.4, 200)
    err = rng.uniform(0.05, 0.3, 200)
    data = Measurements.from_arrays(1 / distance + err * rng.normal(size=200), errors=err)
    field = make_component("exponential_space_density", name="field", nodes=64,
                           priors={"L": {"dist": "loguniform", "a": 0.05, "b": 5}})
    spec = ModelSpec(priors=GAUSS, extra_components=(field,))
    model = spec.build(data, 1)
    assert model._kernel.compiles_components and model.compiled_path
    monkeypatch.setenv("NESTMIX_KERNEL", "numpy")
    reference = spec.build(data, 1)
    theta = model.prior_transform(rng.random((40, model.ndim)))
    np.testing.assert_allclose(model.log_likelihood_batch(theta),
                               reference.log_likelihood_batch(theta), rtol=1e-10)


@pytest.mark.parametrize(("shape", "errors"), [("isotropic", True), ("diagonal", True),
                                               ("diagonal", False)])
def test_gaussian_cluster_in_two_dimensions_is_compiled(monkeypatch, gaia_data, shape, errors):
    from nestmix.components import make_component

    prior = {"dist": "loguniform", "a": 0.05, "b": 2}
    scales = {"sigma": prior} if shape == "isotropic" else {"sigma_x0": prior, "sigma_x1": prior}
    cluster = make_component("gaussian_cluster", name="cl", axes=("x0", "x1"), shape=shape,
                             priors={"mu_x0": {"dist": "norm"}, "mu_x1": {"dist": "norm"},
                                     **scales})
    data = gaia_data if errors else Measurements.from_arrays(gaia_data.values)
    spec = ModelSpec(background="uniform", extra_components=(cluster,), priors=MODELS[0]["priors"])
    model = spec.build(data, 2)
    assert model._kernel.compiles_components and model.compiled_path
    monkeypatch.setenv("NESTMIX_KERNEL", "numpy")
    reference = spec.build(data, 2)
    theta = model.prior_transform(np.random.default_rng(11).random((40, model.ndim)))
    np.testing.assert_allclose(model.log_likelihood_batch(theta),
                               reference.log_likelihood_batch(theta), rtol=1e-10)


def test_a_subclass_with_its_own_density_stays_in_python(rng):
    from nestmix.components.builtin import GaussianOutlier

    class Wider(GaussianOutlier):
        def log_density(self, params, data):
            return super().log_density(params, data) - 1.0

    wider = Wider("wide", {"mu": 0.0, "ln_s": {"dist": "uniform", "loc": -1, "scale": 2}})
    model = ModelSpec(priors=GAUSS, extra_components=(wider,)).build(one_d_data(True), 1)
    assert not model._kernel.compiles_components
    assert model.numpy_parts == ("component wide (gaussian_outlier)",)
    assert model.compiled_parts() is None


@pytest.mark.slow  # 13-18 s in a cold clean clone; runs in CI's slow stage
def test_compiled_slice_runs_models_with_components_as_dynesty_does(monkeypatch):
    from nestmix.samplers.dynesty import DynestyAdapter, compiled_slice

    (line, outliers), _, _ = component_cases()[0]
    model = ModelSpec(extra_components=(line, outliers)).build(one_d_data(True, 80), 0)
    assert model.compiled_parts() is not None
    runs = {}
    for flag in ("1", "0"):
        monkeypatch.setenv(compiled_slice.ENV_VAR, flag)
        runs[flag] = DynestyAdapter().run(model, {"nlive": 40, "dlogz": 1.0}, seed=3)
    assert runs["1"].ncall == runs["0"].ncall > 5_000
    assert runs["1"].logz == runs["0"].logz
    np.testing.assert_array_equal(runs["1"].samples, runs["0"].samples)


def test_pickled_model_with_components_rebuilds_its_table():
    import cloudpickle

    components, k, errors = component_cases()[1]
    model = ModelSpec(priors=GAUSS, extra_components=components,
                      background="uniform").build(one_d_data(errors), k)
    theta = model.prior_transform(np.random.default_rng(12).random((5, model.ndim)))
    values = model.log_likelihood_batch(theta)
    assert model._kernel.compiles_components
    copy = cloudpickle.loads(cloudpickle.dumps(model))
    assert copy._kernel._component_data.size == 0  # the data rows did not travel
    np.testing.assert_array_equal(copy.log_likelihood_batch(theta), values)
    assert copy._kernel.compiles_components


@pytest.mark.parametrize(("dist", "params"), [("gamma", {"a": 1e5}), ("invgamma", {"a": 3e4}),
                                              ("beta", {"a": 0.5, "b": 1e5}),
                                              ("t", {"df": 1e5})])
def test_large_shapes_up_to_the_compiled_limit(dist, params):
    prior = Univariate.create(dist, **params)
    u = np.concatenate([[1e-20, 1e-8, 0.5, 1 - 1e-12], np.random.default_rng(13).random(300)])
    code, values = univariate_op(prior)
    np.testing.assert_allclose(apply(code, values, u[:, None])[:, 0], prior.ppf(u), rtol=1e-10)
    beyond = {key: value * 11 for key, value in params.items()}
    assert univariate_op(Univariate.create(dist, **beyond)) is None  # left to scipy


def test_extreme_dirichlet_and_lkj_shapes_stay_with_numpy():
    from nestmix.model.layout import _UpperTriangle

    stick = StickBreakingDirichlet.create(3, (2.0, 1e5, 1.0))
    lkj = LKJCorrelation(3, 2e5)
    plan = compile_blocks(blocks_of(("weights", _Weights(stick), 2),
                                    ("correlation", _UpperTriangle(lkj), 3)))
    assert plan is None
