"""The compiled prior transform against scipy and against the numpy transforms it replaces."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pytest
from scipy import stats

from nestmix import Measurements, ModelSpec
from nestmix.priors import Univariate
from nestmix.priors._compiled import run_plan, univariate_op

EDGES = np.array([0.0, 1e-320, 2.2250738585072014e-308, 1e-300, 1e-100, 1e-20, 1e-16, 1e-8,
                  0.01, 0.2, 0.25, 0.25000000001, 0.4999999999, 0.5, 0.5000000001, 0.75,
                  0.99, 1 - 1e-8, 1 - 1e-15, 1 - 2.0**-53, 1.0])


@pytest.mark.parametrize(("dist", "params"), [
    ("uniform", {"loc": -1.0, "scale": 3.0}),
    ("loguniform", {"a": 0.01, "b": 10.0}),
    ("norm", {}),
    ("norm", {"loc": 20.0, "scale": 10.0}),
    ("halfnorm", {"scale": 2.0}),
    ("lognorm", {"s": 0.7, "scale": 2.0}),
    ("expon", {"scale": 3.0}),
])
def test_compiled_quantiles_match_scipy(dist, params):
    u = np.concatenate([EDGES, np.random.default_rng(1).random(5_000)])
    code, values = univariate_op(Univariate.create(dist, **params))
    out = np.empty((u.size, 1))
    run_plan(u[:, None].copy(), np.array([[code, 0, 1, 0, -1]]), np.array(values), out)
    assert np.all(np.isfinite(out))
    # against nestmix's numpy quantiles (tested against scipy in test_priors.py) everywhere,
    # including the cube's edges, where scipy's own ppf loses digits
    prior = Univariate.create(dist, **params)
    np.testing.assert_allclose(out[:, 0], prior.ppf(u), rtol=4e-15, atol=1e-14)
    inner = (u > 1e-10) & (u < 0.99)  # halfnorm: scipy forms (1 + u) / 2 and loses digits
    np.testing.assert_allclose(out[inner, 0], getattr(stats, dist)(**params).ppf(u[inner]),
                               rtol=4e-15, atol=1e-14)


SPECS = [
    # the deconvolution notebook: every block compiled
    ({"order": "means", "priors": {"mean": {"dist": "uniform", "loc": 0, "scale": 1},
                                   "sigma": {"dist": "loguniform", "a": 0.01, "b": 1}}}, 1, 4),
    # galaxies: normal means and inverse-gamma variances
    ({"priors": {"mean": {"dist": "norm", "loc": 20, "scale": 10},
                 "variance": {"dist": "invgamma", "a": 3, "scale": 20}}}, 1, 3),
    # 2-D: ordered normal means, a fixed mean axis, half-normal widths, LKJ correlations,
    # Dirichlet with unequal α and a background weight
    ({"order": "means", "background": "uniform",
      "priors": {"mean": [{"dist": "norm", "scale": 3}, 0.5],
                 "sigma": {"dist": "halfnorm", "scale": 2},
                 "weights": {"dist": "dirichlet", "alpha": [1, 2, 3, 1]}}}, 2, 3),
    ({"covariance": "diag", "priors": {"mean": {"dist": "lognorm", "s": 0.5, "scale": 1},
                                       "variance": {"dist": "expon", "scale": 2}}}, 3, 2),
]


@pytest.mark.parametrize(("spec", "d", "k"), SPECS)
def test_compiled_prior_matches_numpy_prior(monkeypatch, rng, spec, d, k):
    data = Measurements.from_arrays(rng.normal(size=(60, d)) if d > 1 else rng.normal(size=60))
    model = ModelSpec(**spec).build(data, k)
    assert model.prior._compiled is not None and not model.prior._compiled.numpy_blocks
    monkeypatch.setenv("NESTMIX_KERNEL", "numpy")
    reference = ModelSpec(**spec).build(data, k)
    assert reference.prior._compiled is None
    u = np.vstack([rng.random((200, model.ndim)), np.zeros(model.ndim), np.ones(model.ndim),
                   np.full(model.ndim, 0.5), np.full(model.ndim, np.nan)])
    # equal to rounding: a few units in the last place of loc + scale * z
    np.testing.assert_allclose(model.prior_transform(u), reference.prior_transform(u),
                               rtol=5e-15, atol=5e-14)
    assert np.all(np.isnan(model.prior_transform(u[-1])))  # NaN propagates, as in numpy
    for row in u[:3]:
        np.testing.assert_allclose(model.prior_transform(row), reference.prior_transform(row),
                                   rtol=5e-15, atol=5e-14)


def test_compiled_weights_and_ordering_keep_their_properties(rng):
    spec = SPECS[0][0]
    model = ModelSpec(**spec).build(Measurements.from_arrays(rng.normal(size=50)), 4)
    params = model.expand(model.prior_transform(rng.random((2_000, model.ndim))))
    assert np.all(params.weights >= 0)
    np.testing.assert_allclose(params.weights.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.diff(params.means[:, :, 0], axis=1) >= 0)
    # Dirichlet(1) weights: each marginal is Beta(1, K - 1)
    assert stats.kstest(params.weights[:, 2], stats.beta(1, 3).cdf).pvalue > 1e-3
    edges = model.expand(model.prior_transform(np.r_[1.0, 1.0, 1.0, np.full(8, 0.5)]))
    np.testing.assert_allclose(edges.weights[0], [1, 0, 0, 0], atol=1e-15)


def test_pickled_prior_transforms_the_same(rng):
    model = ModelSpec(**SPECS[2][0]).build(
        Measurements.from_arrays(rng.normal(size=(40, 2))), 3)
    u = rng.random((5, model.ndim))
    copy = cloudpickle.loads(cloudpickle.dumps(model))
    np.testing.assert_array_equal(copy.prior_transform(u), model.prior_transform(u))


def test_one_compiled_signature(rng):
    from nestmix.priors import _compiled

    model = ModelSpec(**SPECS[0][0]).build(Measurements.from_arrays(rng.normal(size=50)), 3)
    u = rng.random((4, model.ndim))
    u.flags.writeable = False
    model.prior_transform(u[::2])
    model.prior_transform(u[1])
    assert len(_compiled.run_plan.signatures) == 1
