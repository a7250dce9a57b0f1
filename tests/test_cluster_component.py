"""The ``gaussian_cluster`` component: densities against scipy, per-point covariances, errors,
mixing with the counted Gaussians, shrinkage, configs, and a real run on the simulated field."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import nestmix
from nestmix.components import GaussianCluster, make_component
from nestmix.data.datasets import star_cluster_field
from nestmix.errors import ConfigError, ModelError
from nestmix.posterior.shrinkage import shrinkage
from nestmix.sweep.config import plan_from_mapping

PM_PRIORS = {"mu_pmra": {"dist": "uniform", "loc": -10, "scale": 20},
             "mu_pmdec": {"dist": "uniform", "loc": -10, "scale": 20},
             "sigma": {"dist": "loguniform", "a": 0.005, "b": 0.5}}


def gaia_like(n: int, rng: np.random.Generator) -> nestmix.Measurements:
    """Proper motions with Gaia-style errors and correlations (different for every point)."""
    errors = rng.uniform(0.05, 0.8, (n, 2))
    corr = rng.uniform(-0.9, 0.9, n)
    return nestmix.Measurements.from_arrays(rng.normal(-3, 1, (n, 2)), errors=errors,
                                            correlations=corr, columns=["pmra", "pmdec"])


def cluster(**options) -> GaussianCluster:
    return make_component("gaussian_cluster", name="cluster", priors=PM_PRIORS, **options)


# ---------------------------------------------------------------------- densities
def test_density_matches_scipy_with_each_points_own_covariance(rng):
    data = gaia_like(30, rng)
    p = {"mu_pmra": np.array([-2.91, -1.0]), "mu_pmdec": np.array([-3.86, 0.5]),
         "sigma": np.array([0.08, 1.3])}
    got = cluster().log_density(p, data)
    assert got.shape == (2, 30)
    for s in range(2):
        for i in range(30):
            cov = data.covariances[i] + p["sigma"][s] ** 2 * np.eye(2)
            want = stats.multivariate_normal([p["mu_pmra"][s], p["mu_pmdec"][s]], cov).logpdf(
                data.values[i])
            assert got[s, i] == pytest.approx(want, rel=1e-12)
    # the correlation columns matter: flipping their sign changes the density as scipy says
    flipped = nestmix.Measurements.from_arrays(
        data.values, errors=data.errors,
        correlations=-data.covariances[:, 0, 1] / np.prod(data.errors, axis=1),
        columns=["pmra", "pmdec"])
    other = cluster().log_density(p, flipped)
    assert not np.allclose(other, got)
    for i in range(30):
        cov = flipped.covariances[i] + p["sigma"][0] ** 2 * np.eye(2)
        assert other[0, i] == pytest.approx(stats.multivariate_normal(
            [-2.91, -3.86], cov).logpdf(data.values[i]), rel=1e-12)


def test_diagonal_shape_in_three_dimensions_and_one(rng):
    a = rng.normal(size=(12, 3, 3)) * 0.3
    cov = a @ a.transpose(0, 2, 1) + 0.02 * np.eye(3)
    data = nestmix.Measurements.from_arrays(rng.normal(size=(12, 3)), covariances=cov,
                                            columns=["pmra", "pmdec", "parallax"])
    comp = make_component("gaussian_cluster", name="c3", shape="diagonal",
                          axes=["pmra", "pmdec", "parallax"],
                          priors={**{f"mu_{a}": 0.0 for a in ("pmra", "pmdec", "parallax")},
                                  **{f"sigma_{a}": 0.1 for a in ("pmra", "pmdec", "parallax")}})
    assert comp.parameters == ("mu_pmra", "mu_pmdec", "mu_parallax", "sigma_pmra",
                               "sigma_pmdec", "sigma_parallax")
    p = {"mu_pmra": np.array([0.1]), "mu_pmdec": np.array([-0.2]), "mu_parallax": np.array([0.4]),
         "sigma_pmra": np.array([0.3]), "sigma_pmdec": np.array([-0.7]),  # sign irrelevant
         "sigma_parallax": np.array([0.0])}
    got = comp.log_density(p, data)[0]
    intrinsic = np.diag([0.09, 0.49, 0.0])
    want = [stats.multivariate_normal([0.1, -0.2, 0.4], cov[i] + intrinsic).logpdf(data.values[i])
            for i in range(12)]
    np.testing.assert_allclose(got, want, rtol=1e-11)
    # one axis: a cluster's parallax, without intrinsic width
    plx = nestmix.Measurements.from_arrays(rng.normal(0.36, 0.1, 40), errors=rng.uniform(
        0.01, 0.3, 40), columns=["parallax"])
    one = make_component("gaussian_cluster", name="plx", axes=["parallax"],
                         priors={"mu_parallax": {"dist": "uniform", "loc": 0, "scale": 1},
                                 "sigma": 0.0})
    got = one.log_density({"mu_parallax": np.array([0.36, 0.5]), "sigma": np.zeros(2)}, plx)
    for s, mu in enumerate((0.36, 0.5)):
        np.testing.assert_allclose(got[s], stats.norm.logpdf(plx.values[:, 0], mu,
                                                             plx.errors[:, 0]), rtol=1e-12)


def test_density_is_normalised_over_the_measurement_plane():
    """∫ p(y | μ, σ) dy = 1 for a point with a strongly correlated error ellipse."""
    grid = np.linspace(-6, 6, 601)
    yy = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
    cov = np.array([[0.5**2, 0.8 * 0.5 * 0.3], [0.8 * 0.5 * 0.3, 0.3**2]])
    data = nestmix.Measurements.from_arrays(yy, covariances=np.broadcast_to(cov, (len(yy), 2, 2)),
                                            columns=["pmra", "pmdec"])
    p = {"mu_pmra": np.array([0.4]), "mu_pmdec": np.array([-0.3]), "sigma": np.array([0.2])}
    dens = np.exp(cluster().log_density(p, data)[0]).reshape(len(grid), len(grid))
    assert np.trapezoid(np.trapezoid(dens, grid, axis=1), grid) == pytest.approx(1.0, abs=1e-8)
    want = stats.multivariate_normal([0.4, -0.3], cov + 0.04 * np.eye(2)).pdf(yy)
    np.testing.assert_allclose(dens.ravel(), want, rtol=1e-10, atol=1e-300)


def test_without_errors_the_intrinsic_width_alone(rng):
    y = rng.normal(size=(20, 2))
    data = nestmix.Measurements.from_arrays(y, columns=["pmra", "pmdec"])
    p = {"mu_pmra": np.array([0.2]), "mu_pmdec": np.array([0.1]), "sigma": np.array([0.9])}
    np.testing.assert_allclose(cluster().log_density(p, data)[0], stats.multivariate_normal(
        [0.2, 0.1], 0.81 * np.eye(2)).logpdf(y), rtol=1e-12)
    zero = {**p, "sigma": np.array([0.0])}  # singular: no point can be produced
    assert np.all(cluster().log_density(zero, data) == -np.inf)


# ------------------------------------------------------------------------- errors
def test_bad_input_gives_one_clear_error(rng):
    data = gaia_like(10, rng)
    with pytest.raises(ModelError, match=r"cluster\.priors\.sigma: missing prior"):
        nestmix.ModelSpec(extra_components=(make_component(
            "gaussian_cluster", name="cluster", priors={"mu_pmra": 0, "mu_pmdec": 0}),))
    with pytest.raises(ModelError, match=r"cluster\.priors\.mu_x: unknown parameter; valid: "
                                         r"mu_pmra, mu_pmdec, sigma"):
        nestmix.ModelSpec(extra_components=(make_component(
            "gaussian_cluster", name="cluster", priors={**PM_PRIORS, "mu_x": 0}),))
    other = nestmix.Measurements.from_arrays(data.values, covariances=data.covariances)
    spec = nestmix.ModelSpec(extra_components=(cluster(),))
    with pytest.raises(ModelError, match=r"cluster\.axes: the component's axes \['pmra', "
                                         r"'pmdec'\] do not match the data's columns \['x0', "
                                         r"'x1'\]"):
        spec.build(other, 0)
    exact = nestmix.Measurements.from_arrays(data.values, columns=["pmra", "pmdec"])
    fixed = make_component("gaussian_cluster", name="cluster",
                           priors={**PM_PRIORS, "sigma": 0})
    with pytest.raises(ModelError, match=r"cluster\.priors\.sigma: data without errors need a "
                                         "non-zero intrinsic dispersion"):
        nestmix.ModelSpec(extra_components=(fixed,)).build(exact, 0)
    nestmix.ModelSpec(extra_components=(fixed,)).build(data, 0)  # fine with errors
    for options, message in [({"shape": "full"}, "shape: unknown value 'full'; valid: "
                                                 "isotropic, diagonal"),
                             ({"axes": "pmra"}, "axes must be a non-empty list"),
                             ({"axes": []}, "axes must be a non-empty list"),
                             ({"axes": ["pm ra"]}, "axes must be column names"),
                             ({"axes": ["a", "a"]}, "repeated column names"),
                             ({"width": 1}, "unknown option of family 'gaussian_cluster'")]:
        with pytest.raises(ModelError, match=message):
            make_component("gaussian_cluster", priors=PM_PRIORS, **options)


def test_config_tables_and_errors(tmp_path):
    sky = star_cluster_field(n=300, seed=4)
    sky.to_csv(tmp_path / "field.csv")
    raw = {"name": "ngc6819",
           "data": {"path": str(tmp_path / "field.csv"), "columns": ["pmra", "pmdec"],
                    "errors": ["pmra_error", "pmdec_error"],
                    "correlations": ["pmra_pmdec_corr"]},
           "model": {"priors": {"mean": {"dist": "norm", "loc": 0, "scale": 10},
                                "sigma": {"dist": "loguniform", "a": 0.1, "b": 50}},
                     "extra_components": [{"family": "gaussian_cluster", "name": "cluster",
                                           "axes": ["pmra", "pmdec"], "priors": PM_PRIORS}]},
           "sweep": {"k": [1, 2], "nlive": 50}}
    plan, _ = plan_from_mapping(raw)
    model = plan.spec.build(plan.data, 1)
    assert model.param_names[-3:] == ("cluster_mu_pmra", "cluster_mu_pmdec", "cluster_sigma")
    # the stored description rebuilds the same component (sweep directories, open_sweep)
    again = nestmix.ModelSpec.from_dict(plan.spec.to_dict())
    assert again.extra_components == plan.spec.extra_components
    raw["model"]["extra_components"][0]["shape"] = "round"
    with pytest.raises(ConfigError, match="shape: unknown value 'round'"):
        plan_from_mapping(raw)


# ---------------------------------------------------------------- in the mixture
def test_mixes_with_counted_gaussians_and_shrinks_its_members(rng):
    data = gaia_like(40, rng)
    spec = nestmix.ModelSpec(covariance="full",
                             priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                                     "sigma": {"dist": "loguniform", "a": 0.1, "b": 20}},
                             extra_components=(cluster(),))
    model = spec.build(data, 2)
    assert model.param_names[-3:] == ("cluster_mu_pmra", "cluster_mu_pmdec", "cluster_sigma")
    assert model.weight_names == ("w_1", "w_2", "w_cluster")
    theta = model.prior_transform(np.random.default_rng(2).random((4, model.ndim)))
    params = model.expand(theta)
    dens = model.component_log_densities(theta)
    for s in range(4):
        mu = [params.extra["cluster_mu_pmra"][s], params.extra["cluster_mu_pmdec"][s]]
        var = params.extra["cluster_sigma"][s] ** 2
        want = [stats.multivariate_normal(mu, data.covariances[i] + var * np.eye(2)).logpdf(
            data.values[i]) for i in range(40)]
        np.testing.assert_allclose(dens[s, :, 2], want, rtol=1e-10)
        terms = dens[s] + np.log(params.weights[s])
        assert model.log_likelihood(theta[s]) == pytest.approx(logsumexp(terms, axis=1).sum())
    copy = pickle.loads(pickle.dumps(model))  # sweeps send models to worker processes
    assert copy.log_likelihood(theta[0]) == model.log_likelihood(theta[0])

    # shrinkage: the cluster is a Gaussian prior on the true value, not a flat one
    out = shrinkage(model, theta[:1], rng=rng, n_draws=1)
    resp = np.exp(model.membership_log_probabilities(theta[0]))
    mu_c = np.array([params.extra["cluster_mu_pmra"][0], params.extra["cluster_mu_pmdec"][0]])
    sig_c = params.extra["cluster_sigma"][0] ** 2 * np.eye(2)
    for i in range(40):
        means = [*params.means[0], mu_c]
        covs = [*params.covariances[0], sig_c]
        post = []
        for mean, cov in zip(means, covs, strict=True):
            v = np.linalg.inv(np.linalg.inv(cov) + np.linalg.inv(data.covariances[i]))
            post.append(v @ (np.linalg.solve(cov, mean)
                             + np.linalg.solve(data.covariances[i], data.values[i])))
        np.testing.assert_allclose(out.mean[i], resp[i] @ np.array(post), rtol=1e-8)


def test_shrinkage_onto_a_population_without_width(rng):
    """σ = 0: a member's true value is the population's mean (a cluster's parallax)."""
    plx = nestmix.Measurements.from_arrays(np.array([0.30, 0.41]), errors=[0.05, 0.2],
                                           columns=["parallax"])
    one = make_component("gaussian_cluster", name="plx", axes=["parallax"],
                         priors={"mu_parallax": 0.36, "sigma": 0.0})
    model = nestmix.ModelSpec(extra_components=(one,)).build(plx, 0)
    out = shrinkage(model, np.zeros((1, 0)), rng=rng, n_draws=2)
    np.testing.assert_allclose(out.mean[:, 0], 0.36, rtol=1e-12)
    np.testing.assert_allclose(out.std[:, 0], 0.0, atol=1e-12)


def test_recovers_a_cluster_over_a_uniform_field():
    """A real run: a narrow cluster with correlated per-point errors over a flat field."""
    rng = np.random.default_rng(12)
    n, members = 300, 60
    errors = rng.uniform(0.02, 0.4, (n, 2))
    corr = rng.uniform(-0.6, 0.6, n)
    true = np.concatenate([rng.normal([-2.91, -3.86], 0.08, (members, 2)),
                           rng.uniform(-10, 4, (n - members, 2))])
    cov = np.zeros((n, 2, 2))
    cov[:, 0, 0], cov[:, 1, 1] = errors[:, 0] ** 2, errors[:, 1] ** 2
    cov[:, 0, 1] = cov[:, 1, 0] = corr * errors[:, 0] * errors[:, 1]
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(cov), rng.normal(size=(n, 2)))
    data = nestmix.Measurements.from_arrays(true + noise, errors=errors, correlations=corr,
                                            columns=["pmra", "pmdec"])
    spec = nestmix.ModelSpec(background="uniform", background_box=((-12, 6), (-12, 6)),
                             extra_components=(cluster(),))
    model = spec.build(data, 0)
    assert model.param_names == ("w_cluster", "cluster_mu_pmra", "cluster_mu_pmdec",
                                 "cluster_sigma")
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": 50}, seed=3)
    w = run.weights / run.weights.sum()
    mean = w @ run.samples
    sd = np.sqrt(w @ (run.samples - mean) ** 2)
    for name, truth in [("cluster_mu_pmra", -2.91), ("cluster_mu_pmdec", -3.86),
                        ("cluster_sigma", 0.08), ("w_cluster", members / n)]:
        i = model.param_names.index(name)
        assert abs(mean[i] - truth) < 3 * sd[i], (name, mean[i], sd[i])
    assert sd[1] < 0.03  # narrow: the members' errors are deconvolved, not added
    # and the same as the generalised-least-squares mean of the true members, each weighted by
    # its own (correlated) error ellipse plus the true dispersion: membership is not in doubt
    precision = np.linalg.inv(cov[:members] + 0.08**2 * np.eye(2))
    gls = np.linalg.solve(precision.sum(axis=0),
                          np.einsum("nij,nj->i", precision, data.values[:members]))
    np.testing.assert_array_less(np.abs(mean[1:3] - gls), 0.5 * sd[1:3])
