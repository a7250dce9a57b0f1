"""Tests of the unit-cube prior transforms in :mod:`nestmix.priors`."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
from scipy import stats

from nestmix.errors import PriorError
from nestmix.priors import (
    Fixed,
    LKJCorrelation,
    OrderedBlock,
    StickBreakingDirichlet,
    Univariate,
    covariance_from_scales,
    univariate_from_spec,
)
from nestmix.priors._fast import FAST_PPF

KS_P_MIN = 1e-3
N_KS = 20_000

# ---------------------------------------------------------------- univariate: building


def test_number_gives_fixed():
    prior = univariate_from_spec(3)
    assert prior == Fixed(3.0)
    assert prior.ndim == 0
    assert prior.to_dict() == {"fixed": 3.0}


def test_spec_gives_univariate_with_sorted_params_and_round_trips():
    prior = univariate_from_spec({"dist": "norm", "scale": 10, "loc": 20})
    assert prior == Univariate("norm", (("loc", 20.0), ("scale", 10.0)))
    assert prior.to_dict() == {"dist": "norm", "loc": 20.0, "scale": 10.0}
    assert univariate_from_spec(prior.to_dict()) == prior
    assert hash(prior) == hash(univariate_from_spec({"dist": "norm", "loc": 20.0, "scale": 10}))
    assert prior.ndim == 1


@pytest.mark.parametrize(
    ("alias", "canonical"), [("normal", "norm"), ("log-uniform", "loguniform"), ("Norm", "norm")]
)
def test_aliases(alias, canonical):
    params = {"a": 0.1, "b": 2.0} if canonical == "loguniform" else {}
    assert univariate_from_spec({"dist": alias, **params}).dist == canonical


def test_create_matches_spec():
    assert Univariate.create("invgamma", a=3, scale=20) == univariate_from_spec(
        {"dist": "invgamma", "a": 3, "scale": 20}
    )


def test_support_logpdf_frozen():
    prior = Univariate.create("invgamma", a=3.0, scale=20.0)
    assert prior.support() == (0.0, math.inf)
    assert Univariate.create("loguniform", a=0.01, b=10).support() == (0.01, 10.0)
    x = np.array([-1.0, 0.5, 3.0, 40.0])
    np.testing.assert_allclose(prior.logpdf(x), stats.invgamma(3.0, scale=20.0).logpdf(x))
    assert prior.logpdf(-1.0) == -math.inf
    assert prior.frozen().mean() == pytest.approx(10.0)


def test_priors_pickle_after_use():
    priors = [
        Univariate.create("truncnorm", a=0.0, b=math.inf, scale=2.0),
        Univariate.create("weibull_min", c=1.5),
        Fixed(2.0),
        StickBreakingDirichlet.create(3, [1.0, 2.0, 3.0]),
        OrderedBlock(Univariate.create("norm"), 2),
        LKJCorrelation(3, 2.0),
    ]
    u = np.random.default_rng(1).random(3)
    for prior in priors:
        if isinstance(prior, Univariate):
            prior.ppf(u)  # fills the caches of the scipy distribution and the fast path
        elif not isinstance(prior, Fixed):
            prior.transform(u[: prior.ndim])
        copy = pickle.loads(pickle.dumps(prior))
        assert copy == prior
        if isinstance(prior, Univariate):
            np.testing.assert_array_equal(copy.ppf(u), prior.ppf(u))


def test_fixed_rejects_non_finite():
    with pytest.raises(PriorError, match=r"^fixed: the value must be a finite number, got inf"):
        Fixed(math.inf)


def test_rvs_reproducible_and_shaped():
    prior = Univariate.create("gamma", a=2.0, scale=3.0)
    a = prior.rvs((50, 3), np.random.default_rng(4))
    b = prior.rvs((50, 3), np.random.default_rng(4))
    assert a.shape == (50, 3)
    np.testing.assert_array_equal(a, b)
    assert np.all(a > 0)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
@pytest.mark.parametrize("dist", ["norm", "weibull_min"])
def test_ppf_keeps_shape(shape, dist):
    prior = Univariate.create(dist, c=1.5) if dist == "weibull_min" else Univariate.create(dist)
    u = np.random.default_rng(0).random(shape)
    assert np.shape(prior.ppf(u)) == shape
    np.testing.assert_allclose(prior.ppf(u), prior.frozen().ppf(u), rtol=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "norm"},
        {"dist": "halfnorm", "scale": 2},
        {"dist": "gamma", "a": 0.5},
        {"dist": "invgamma", "a": 3},
        {"dist": "cauchy"},
        {"dist": "t", "df": 3},
        {"dist": "weibull_min", "c": 2},
    ],
)
def test_ppf_finite_at_cube_edges(spec):
    x = univariate_from_spec(spec).ppf(np.array([0.0, 1.0]))
    assert np.all(np.isfinite(x))
    assert x[0] < x[1]


# ---------------------------------------------------------------- univariate: fast paths

U_GRID = (1e-12, 1e-8, 1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-4, 1 - 1e-8, 1 - 1e-12)
NEAR_0, NEAR_1 = U_GRID[:2], U_GRID[-2:]

# (name, params, grid points where scipy's own ppf loses precision). At those points scipy
# evaluates ndtri((1 + u) / 2) (halfnorm), tan(pi u / 2) (halfcauchy) or 1 - (1 - u) Q(a) in
# linear space (truncnorm), or its root finder gives up (beta with a < 1): there the fast path
# is checked by inverting scipy's cdf / sf instead.
FAST_CASES = [
    ("uniform", {"loc": -2.0, "scale": 5.0}, ()),
    ("norm", {"loc": 20.0, "scale": 10.0}, ()),
    ("halfnorm", {"scale": 3.0}, NEAR_0 + NEAR_1),
    ("lognorm", {"s": 0.7, "scale": 2.0}, ()),
    ("loguniform", {"a": 0.01, "b": 10.0}, ()),
    ("reciprocal", {"a": 1.0, "b": 1e6}, ()),
    ("gamma", {"a": 0.3}, ()),
    ("gamma", {"a": 4.0, "loc": 1.0, "scale": 2.0}, ()),
    ("invgamma", {"a": 3.0, "scale": 20.0}, ()),
    ("invgamma", {"a": 0.5}, ()),
    ("beta", {"a": 3.0, "b": 7.0}, ()),
    ("beta", {"a": 0.5, "b": 2.0}, (1e-12,)),
    ("expon", {"scale": 0.5}, ()),
    ("halfcauchy", {"scale": 2.0}, NEAR_1),
    ("cauchy", {"loc": 1.0}, ()),
    ("t", {"df": 3.0}, ()),
    ("t", {"df": 30.0, "loc": -1.0}, ()),
    ("truncnorm", {"a": 0.0, "b": math.inf, "loc": 1.0, "scale": 2.0}, ()),
    ("truncnorm", {"a": -1.0, "b": 2.0}, ()),
    ("truncnorm", {"a": 2.0, "b": 5.0}, ()),
    ("truncnorm", {"a": -2.0, "b": math.inf}, NEAR_1),
    ("truncnorm", {"a": -math.inf, "b": -3.0}, ()),
    ("truncnorm", {"a": 8.0, "b": math.inf}, ()),
    ("truncnorm", {"a": -12.0, "b": -10.0, "scale": 0.1}, ()),
]


def test_fast_cases_cover_every_fast_path():
    assert {name for name, _, _ in FAST_CASES} == set(FAST_PPF)


@pytest.mark.parametrize(("name", "params", "scipy_inaccurate"), FAST_CASES)
def test_fast_path_matches_scipy(name, params, scipy_inaccurate):
    prior = Univariate.create(name, **params)
    frozen = prior.frozen()
    u = np.array(U_GRID)
    ours = prior.ppf(u)
    exact = ~np.isin(u, scipy_inaccurate)
    np.testing.assert_allclose(ours[exact], frozen.ppf(u[exact]), rtol=1e-10, atol=0)
    low = ~exact & (u < 0.5)
    high = ~exact & (u > 0.5)
    np.testing.assert_allclose(frozen.cdf(ours[low]), u[low], rtol=1e-9, atol=0)
    np.testing.assert_allclose(frozen.sf(ours[high]), 1.0 - u[high], rtol=1e-9, atol=0)


@pytest.mark.parametrize(("name", "params", "scipy_inaccurate"), FAST_CASES)
def test_fast_path_is_finite_and_monotone_up_to_the_cube_edges(name, params, scipy_inaccurate):
    u = np.array([0.0, 1e-300, 1e-100, 1e-20, *U_GRID, 1 - 2.0**-52, 1.0])
    x = Univariate.create(name, **params).ppf(u)
    assert np.all(np.isfinite(x))
    assert np.all(np.diff(x) >= 0)


def test_fallback_is_scipy():
    assert "weibull_min" not in FAST_PPF
    prior = Univariate.create("weibull_min", c=1.5)
    u = np.array(U_GRID)
    np.testing.assert_array_equal(prior.ppf(u), prior.frozen().ppf(u))


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "norm", "loc": 20, "scale": 10},
        {"dist": "invgamma", "a": 3, "scale": 20},
        {"dist": "loguniform", "a": 0.01, "b": 10},
        {"dist": "halfnorm", "scale": 2},
        {"dist": "gamma", "a": 2.5, "scale": 0.5},
        {"dist": "truncnorm", "a": -0.5, "b": 1.5, "loc": 3, "scale": 2},
        {"dist": "weibull_min", "c": 1.7, "scale": 3},
        {"dist": "t", "df": 4},
    ],
)
def test_ppf_of_uniforms_has_the_distribution(spec):
    prior = univariate_from_spec(spec)
    x = prior.ppf(np.random.default_rng(11).random(N_KS))
    assert stats.kstest(x, prior.frozen().cdf).pvalue > KS_P_MIN


# ---------------------------------------------------------------- univariate: errors

KEY = "model.priors.mean"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"loc": 1.0}, r"^model\.priors\.mean: missing 'dist'"),
        ({"dist": 3}, r"^model\.priors\.mean: 'dist' must be a distribution name"),
        (
            {"dist": "nrom"},
            r"^model\.priors\.mean: unknown distribution 'nrom'; did you mean 'norm'\?",
        ),
        ({"dist": "zzzzqqq"}, r"^model\.priors\.mean: unknown distribution 'zzzzqqq'$"),
        ({"dist": "kstest"}, r"unknown distribution 'kstest'"),
        ({"dist": "poisson", "mu": 2}, r"'poisson' is a discrete distribution"),
        ({"dist": "multivariate_normal"}, r"'multivariate_normal' is a multivariate distribution"),
        (
            {"dist": "dirichlet", "alpha": 1},
            r"'dirichlet' is only valid as the prior on mixture weights",
        ),
        ({"dist": "lkj", "eta": 2}, r"'lkj' is only valid as the prior on correlation matrices"),
        (
            {"dist": "norm", "sigma": 1},
            r"unknown parameter\(s\) 'sigma' for 'norm'; valid parameters are loc, scale$",
        ),
        (
            {"dist": "invgamma", "alpha": 3, "beta": 1},
            r"unknown parameter\(s\) 'alpha', 'beta' for 'invgamma'; "
            r"valid parameters are a, loc, scale",
        ),
        ({"dist": "gamma", "scale": 2}, r"'gamma' needs shape parameter\(s\) a$"),
        ({"dist": "loguniform", "a": 1}, r"'loguniform' needs shape parameter\(s\) b$"),
        ({"dist": "norm", "loc": "20"}, r"parameter 'loc' must be a number, got '20'"),
        ({"dist": "norm", "loc": True}, r"parameter 'loc' must be a number"),
        ({"dist": "norm", "loc": [1, 2]}, r"parameter 'loc' must be a number"),
        ({"dist": "norm", "scale": math.nan}, r"parameter 'scale' must be finite, got nan"),
        ({"dist": "norm", "loc": math.inf}, r"parameter 'loc' must be finite, got inf"),
        ({"dist": "uniform", "scale": -math.inf}, r"parameter 'scale' must be finite"),
        ({"dist": "norm", "scale": -1}, r"^model\.priors\.mean: scale must be positive, got -1"),
        ({"dist": "norm", "scale": 0}, r"scale must be positive, got 0"),
        ({"dist": "invgamma", "a": -3}, r"scipy\.stats\.invgamma rejects parameters a=-3"),
        (
            {"dist": "loguniform", "a": 0, "b": 1},
            r"scipy\.stats\.loguniform rejects parameters a=0",
        ),
        (
            {"dist": "truncnorm", "a": 2, "b": 1},
            r"scipy\.stats\.truncnorm rejects parameters a=2, b=1",
        ),
        ({"dist": "beta", "a": 1, "b": -1}, r"scipy\.stats\.beta rejects parameters a=1, b=-1"),
        (math.nan, r"^model\.priors\.mean: a fixed value must be finite, got nan"),
        ("norm", r"expected a number \(a fixed value\) or a mapping with 'dist', got 'norm'"),
        (None, r"expected a number \(a fixed value\) or a mapping with 'dist'"),
        (True, r"expected a number \(a fixed value\) or a mapping with 'dist'"),
    ],
)
def test_bad_specs_raise_one_clear_error(spec, message):
    with pytest.raises(PriorError, match=message) as info:
        univariate_from_spec(spec, key=KEY)
    assert str(info.value).startswith(KEY + ": ")
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is None


def test_default_key_and_create_errors():
    with pytest.raises(PriorError, match=r"^prior: unknown distribution 'gauss'"):
        univariate_from_spec({"dist": "gauss"})
    with pytest.raises(PriorError, match=r"scale must be positive"):
        Univariate.create("norm", scale=-2.0)


# ---------------------------------------------------------------- stick-breaking Dirichlet


@pytest.mark.parametrize("alpha", [1.0, 0.5, (0.5, 1.0, 2.0, 3.0)])
def test_stick_breaking_is_dirichlet(alpha):
    prior = StickBreakingDirichlet.create(4, alpha)
    alphas = np.broadcast_to(np.asarray(alpha, dtype=float), (4,))
    assert prior.alpha == tuple(alphas)
    assert prior.ndim == 3
    w = prior.transform(np.random.default_rng(5).random((N_KS, 3)))
    assert w.shape == (N_KS, 4)
    assert np.all(w >= 0.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    total = alphas.sum()
    for j in range(4):
        marginal = stats.beta(alphas[j], total - alphas[j])
        assert stats.kstest(w[:, j], marginal.cdf).pvalue > KS_P_MIN
    reference = stats.dirichlet(alphas)
    # Standard errors of the sample moments are ~ sqrt(var / n) ~ 3e-3 at most here.
    np.testing.assert_allclose(w.mean(axis=0), reference.mean(), atol=0.01)
    np.testing.assert_allclose(w.var(axis=0), reference.var(), rtol=0.1, atol=1e-4)
    np.testing.assert_allclose(np.cov(w.T), reference.cov(), rtol=0.1, atol=1e-3)


def test_stick_breaking_k1_and_shapes():
    prior = StickBreakingDirichlet.create(1)
    assert prior.ndim == 0
    np.testing.assert_array_equal(prior.transform(np.empty((5, 0))), np.ones((5, 1)))
    two = StickBreakingDirichlet.create(2, [2.0, 3.0])
    np.testing.assert_allclose(
        two.transform([0.5]), [stats.beta(2, 3).ppf(0.5), 1 - stats.beta(2, 3).ppf(0.5)]
    )
    edges = StickBreakingDirichlet.create(3).transform(
        np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    )
    np.testing.assert_allclose(edges, [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-15)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        StickBreakingDirichlet.create(3).transform(np.zeros((4, 3)))


def test_stick_breaking_to_dict():
    prior = StickBreakingDirichlet.create(3, 2)
    assert prior.to_dict() == {"dist": "dirichlet", "k": 3, "alpha": [2.0, 2.0, 2.0]}
    assert StickBreakingDirichlet.create(3, [2, 2, 2]) == prior


@pytest.mark.parametrize(
    ("k", "alpha", "message"),
    [
        (0, 1.0, r"^weights: the number of weights k must be an integer >= 1, got 0"),
        (2.5, 1.0, r"k must be an integer >= 1, got 2\.5"),
        (True, 1.0, r"k must be an integer >= 1, got True"),
        (3, 0.0, r"alpha must be finite and positive, got 0\.0"),
        (3, -1, r"alpha must be finite and positive, got -1"),
        (3, math.nan, r"alpha must be finite and positive, got nan"),
        (3, (1.0, math.inf, 1.0), r"alpha must be finite and positive, got inf"),
        (3, (1.0, 2.0), r"alpha must be a number or a sequence of k = 3 numbers, got 2 values"),
        (2, ("a", 1.0), r"alpha must contain numbers, got 'a'"),
        (2, "ab", r"alpha must be a number or a sequence of numbers, got 'ab'"),
    ],
)
def test_stick_breaking_errors(k, alpha, message):
    with pytest.raises(PriorError, match=message):
        StickBreakingDirichlet.create(k, alpha)


def test_stick_breaking_direct_construction_is_validated():
    with pytest.raises(PriorError, match=r"^dirichlet: alpha must be a number or a sequence"):
        StickBreakingDirichlet(3, (1.0,))


# ---------------------------------------------------------------- ordered blocks


def test_ordered_is_sorted_iid():
    base = Univariate.create("norm", loc=20.0, scale=10.0)
    block = OrderedBlock(base, 3)
    assert block.ndim == 3
    x = block.transform(np.random.default_rng(7).random((N_KS, 3)))
    assert x.shape == (N_KS, 3)
    assert np.all(np.diff(x, axis=1) > 0)
    reference = np.sort(base.rvs((N_KS, 3), np.random.default_rng(8)), axis=1)
    for j in range(3):
        assert stats.ks_2samp(x[:, j], reference[:, j]).pvalue > KS_P_MIN


def test_ordered_k1_is_base_and_shapes():
    base = Univariate.create("invgamma", a=3.0, scale=20.0)
    u = np.random.default_rng(3).random((10, 1))
    np.testing.assert_allclose(OrderedBlock(base, 1).transform(u), base.ppf(u))
    assert OrderedBlock(base, 1).log_volume_factor == 0.0
    assert OrderedBlock(base, 2).transform(np.random.default_rng(3).random((4, 5, 2))).shape == (
        4,
        5,
        2,
    )
    x = OrderedBlock(base, 3).transform(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    assert np.all(np.isfinite(x))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        OrderedBlock(base, 3).transform(np.zeros((4, 2)))


@pytest.mark.parametrize("k", [2, 3])
def test_ordered_jacobian_gives_k_factorial_normalisation(k):
    """|det dx/du| = 1 / (k! prod pdf(x)): the prior density is k! prod pdf on the ordered set."""
    base = Univariate.create("norm", loc=1.0, scale=2.0)
    block = OrderedBlock(base, k)
    assert block.log_volume_factor == pytest.approx(math.log(math.factorial(k)))
    rng = np.random.default_rng(k)
    h = 1e-6
    for u in rng.uniform(0.1, 0.9, size=(5, k)):
        steps = np.eye(k) * h
        jac = (block.transform(u + steps) - block.transform(u - steps)).T / (2 * h)
        x = block.transform(u)
        expected = -block.log_volume_factor - base.logpdf(x).sum()
        assert np.log(abs(np.linalg.det(jac))) == pytest.approx(expected, abs=1e-6)


def test_ordered_to_dict_and_errors():
    base = Univariate.create("norm")
    assert OrderedBlock(base, 2).to_dict() == {
        "dist": "ordered",
        "k": 2,
        "base": {"dist": "norm"},
    }
    with pytest.raises(PriorError, match=r"^ordered: k must be an integer >= 1, got 0"):
        OrderedBlock(base, 0)
    with pytest.raises(PriorError, match=r"^ordered: the base prior must be a distribution"):
        OrderedBlock(Fixed(1.0), 2)  # type: ignore[arg-type]


# ---------------------------------------------------------------- LKJ correlations


@pytest.mark.parametrize(("d", "eta"), itertools.product([2, 3, 4], [1.0, 2.0]))
def test_lkj_marginals_and_validity(d, eta):
    prior = LKJCorrelation(d, eta)
    assert prior.ndim == d * (d - 1) // 2
    corr = prior.transform(np.random.default_rng(10 * d + int(eta)).random((N_KS, prior.ndim)))
    assert corr.shape == (N_KS, d, d)
    np.testing.assert_array_equal(corr, np.swapaxes(corr, 1, 2))
    np.testing.assert_array_equal(np.diagonal(corr, axis1=1, axis2=2), 1.0)
    np.linalg.cholesky(corr)  # raises LinAlgError unless every matrix is positive definite
    b = eta - 1 + d / 2
    marginal = stats.beta(b, b)
    for i, j in itertools.combinations(range(d), 2):
        assert stats.kstest((corr[:, i, j] + 1) / 2, marginal.cdf).pvalue > KS_P_MIN


@pytest.mark.parametrize("eta", [1.0, 2.0])
def test_lkj_joint_law_against_rejection_sampling(eta):
    """For d = 3, LKJ(eta) is uniform off-diagonals on [-1, 1]^3 restricted to PD, x det^(eta-1)."""
    rng = np.random.default_rng(21)
    r = rng.uniform(-1, 1, size=(120_000, 3))
    det = 1 - (r**2).sum(axis=1) + 2 * r.prod(axis=1)
    keep = (det > 0) & (rng.random(len(det)) < np.clip(det, 0, 1) ** (eta - 1))
    corr = LKJCorrelation(3, eta).transform(rng.random((N_KS, 3)))
    assert stats.ks_2samp(np.linalg.det(corr), det[keep]).pvalue > KS_P_MIN
    product = corr[:, 0, 1] * corr[:, 0, 2] * corr[:, 1, 2]
    assert stats.ks_2samp(product, r[keep].prod(axis=1)).pvalue > KS_P_MIN


def test_lkj_edges_cholesky_and_to_dict():
    prior = LKJCorrelation(3, 1.5)
    corr = prior.transform(np.array([[0.0, 1.0, 0.5], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]]))
    assert np.all(np.isfinite(corr))
    np.testing.assert_allclose(corr[2], np.eye(3), atol=1e-15)
    u = np.random.default_rng(2).random((6, 3))
    chol = prior.cholesky(u)
    np.testing.assert_array_equal(np.triu(chol, 1), 0.0)
    np.testing.assert_allclose(chol @ np.swapaxes(chol, 1, 2), prior.transform(u), atol=1e-15)
    assert prior.to_dict() == {"dist": "lkj", "d": 3, "eta": 1.5}
    assert prior.transform(u[0]).shape == (3, 3)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        prior.transform(np.zeros((2, 2)))


@pytest.mark.parametrize(
    ("d", "eta", "message"),
    [
        (1, 1.0, r"^lkj: dimension d must be an integer >= 2, got 1"),
        (2.0, 1.0, r"dimension d must be an integer >= 2, got 2\.0"),
        (3, 0.0, r"^lkj: eta must be finite and positive, got 0\.0"),
        (3, math.nan, r"eta must be finite and positive, got nan"),
        (3, "1", r"eta must be finite and positive, got '1'"),
    ],
)
def test_lkj_errors(d, eta, message):
    with pytest.raises(PriorError, match=message):
        LKJCorrelation(d, eta)


def test_covariance_from_scales():
    rng = np.random.default_rng(9)
    corr = LKJCorrelation(3, 1.0).transform(rng.random((5, 3)))
    scales = rng.uniform(0.5, 3.0, size=(5, 3))
    cov = covariance_from_scales(scales, corr)
    for s, c, v in zip(scales, corr, cov, strict=True):
        np.testing.assert_allclose(v, np.diag(s) @ c @ np.diag(s), rtol=1e-14)
    np.testing.assert_allclose(np.diagonal(cov, axis1=1, axis2=2), scales**2, rtol=1e-14)
    with pytest.raises(ValueError, match=r"need correlations of shape"):
        covariance_from_scales(scales, corr[:, :2, :2])
