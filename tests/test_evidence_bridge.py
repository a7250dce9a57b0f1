"""Bridge sampling (nestmix.evidence.bridge): the prior density it uses is the one the unit-cube
transform draws from; the estimator and its error are calibrated on known densities; and on
real runs it agrees with every closed-form and quadrature evidence of the test suite within its
reported error, counts label copies the run never visited (symmetrised over the K! relabellings),
and handles ordered labels, spare components and full covariances."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import integrate, stats

import nestmix
from nestmix import Measurements, ModelSpec
from nestmix.evidence.bridge import (
    BridgeEstimate,
    bridge_evidence,
    bridge_solve,
    pareto_khat,
)
from nestmix.evidence.check import importance_check
from nestmix.priors.density import PriorCoordinates
from nestmix.samplers.polychord.install import BoxGaussian
from tests.conftest import GALAXY_PRIORS, TOY_PRIORS, grid_logz, toy_values
from tests.test_evidence_check import _quadrature_logz
from tests.test_evidence_galaxies import quadrature_logz_k1
from tests.test_samplers import analytic_logz

MAX_ERR = 0.2  # a bridge error above this would let the comparisons pass vacuously


def _dynesty(model, nlive: int, seed: int):
    return nestmix.get_sampler("dynesty").run(model, {"nlive": nlive}, seed=seed)


def _agrees(estimate: BridgeEstimate, reference: float, reference_err: float = 0.0) -> None:
    """|bridge − reference| within 3 combined errors, the bridge's error small and usable."""
    assert estimate.usable and estimate.logZ_err < MAX_ERR, estimate
    sigma = math.hypot(estimate.logZ_err, reference_err)
    assert abs(estimate.logZ - reference) < 3 * sigma, (estimate.logZ, reference, sigma)


# ------------------------------------------------------------------------------- the prior
def _models() -> dict:
    rng = np.random.default_rng(1)
    y1, y2, y3 = rng.normal(size=40), rng.normal(size=(40, 2)), rng.normal(size=(40, 3))
    invgamma = {"mean": {"dist": "norm", "loc": 0, "scale": 3},
                "variance": {"dist": "invgamma", "a": 3, "scale": 2}}
    return {
        "halfnorm K=2": ModelSpec(priors=TOY_PRIORS).build(Measurements.from_arrays(y1), 2),
        "galaxies K=3": ModelSpec(priors=GALAXY_PRIORS).build(Measurements.from_arrays(y1), 3),
        "ordered K=3": ModelSpec(order="means", priors=invgamma).build(
            Measurements.from_arrays(y1), 3),
        "2-D full + background": ModelSpec(
            covariance="full", background="uniform",
            priors={"mean": {"dist": "uniform", "loc": -3, "scale": 6},
                    "sigma": {"dist": "loguniform", "a": 0.1, "b": 5},
                    "correlation": {"dist": "lkj", "eta": 2.0},
                    "weights": {"dist": "dirichlet", "alpha": 1.5}}).build(
            Measurements.from_arrays(y2), 2),
        "3-D full ordered, LKJ 0.7": ModelSpec(
            covariance="full", order="means",
            priors={**invgamma, "correlation": {"dist": "lkj", "eta": 0.7}}).build(
            Measurements.from_arrays(y3), 3),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_the_prior_density_is_the_one_the_unit_cube_transform_draws_from(name):
    """π(T(u)) |∂T/∂u| = 1 (the cube's density) at random u, by central differences: a wrong
    K!, Dirichlet or LKJ normalisation or a missing Jacobian would show by ≥ ln 2 ≈ 0.7."""
    model = _models()[name]
    coordinates = PriorCoordinates(model.prior)
    rng = np.random.default_rng(2)
    for _ in range(3):
        u = rng.uniform(0.1, 0.9, model.ndim)
        step = 1e-6 * np.eye(model.ndim)
        jacobian = np.column_stack([(model.prior_transform(u + e) - model.prior_transform(u - e))
                                    / 2e-6 for e in step])
        theta = model.prior_transform(u)[None, :]
        total = coordinates.log_prior(theta)[0] + np.linalg.slogdet(jacobian)[1]
        assert abs(total) < 1e-6, total
        z, _ = coordinates.to_z(theta)
        np.testing.assert_allclose(coordinates.from_z(z), theta, rtol=1e-9, atol=1e-12)
    if "ordered" in name:  # the same means out of order: outside the prior's support
        theta = model.prior_transform(rng.uniform(size=model.ndim))[None, :]
        columns = [model.param_names.index(f"mu_{j}{'_x0' if model.n_dims > 1 else ''}")
                   for j in (1, 2)]
        theta[:, columns] = theta[:, columns[::-1]]
        assert coordinates.log_prior(theta)[0] == -np.inf


# --------------------------------------------------------------------------- the estimator
def test_the_bridge_and_its_error_are_calibrated_on_known_densities():
    """p = e^{2.5} N(0, 1) in 3-D, exact posterior draws, a shifted and widened normal
    proposal: over 60 repetitions the estimates scatter about ln Z = 2.5 as their reported
    errors say."""
    rng = np.random.default_rng(0)
    target = stats.multivariate_normal(np.zeros(3))
    proposal = stats.multivariate_normal(np.full(3, 0.4), 1.7 * np.eye(3))
    z_scores, errors = [], []
    for _ in range(60):
        post = rng.normal(size=(1000, 3))
        draws = proposal.rvs(1000, random_state=rng)
        l1 = 2.5 + target.logpdf(post) - proposal.logpdf(post)
        l2 = 2.5 + target.logpdf(draws) - proposal.logpdf(draws)
        logz, err, _, ess1, ess2 = bridge_solve(l1, np.ones(1000), 1000.0, l2)
        z_scores.append((logz - 2.5) / err)
        errors.append(err)
        assert 100 < ess1 <= 1000 and 100 < ess2 <= 1000
    assert 0.01 < np.mean(errors) < 0.1
    assert abs(np.mean(z_scores)) < 0.4 and 0.7 < np.std(z_scores) < 1.4, np.std(z_scores)


def test_pareto_khat_tells_heavy_from_light_tails():
    rng = np.random.default_rng(1)
    assert pareto_khat(np.log(rng.pareto(1 / 0.9, 4000) + 1)) > 0.7  # k = 0.9
    assert pareto_khat(-rng.exponential(size=4000)) < 0.3  # bounded weights
    assert math.isnan(pareto_khat(np.zeros(10)))


# ----------------------------------------------------------- closed forms and quadratures
def test_known_sigma_gaussian_closed_form():
    """test_samplers' closed form: y_i ~ N(μ, 1), μ ~ N(0, 3²) (one parameter)."""
    y = np.random.default_rng(7).normal(1.5, 1.0, size=50)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": 1.0}).build(Measurements.from_arrays(y), 1)
    estimate = bridge_evidence(model, _dynesty(model, 300, 11), np.random.default_rng(0))
    _agrees(estimate, analytic_logz(y, np.zeros_like(y), 1.0, 0.0, 3.0))
    assert estimate.space == "parameters" and estimate.permutations == 1
    assert estimate.likelihood_calls <= estimate.proposal_draws == 2000


def test_deconvolved_errors_closed_form():
    """test_samplers' heteroscedastic closed form: y_i ~ N(μ, 0.7² + s_i²)."""
    rng = np.random.default_rng(3)
    s = rng.uniform(0.2, 1.5, size=60)
    y = rng.normal(-2.0, np.sqrt(0.7**2 + s**2))
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                              "sigma": 0.7}).build(Measurements.from_arrays(y, errors=s), 1)
    estimate = bridge_evidence(model, _dynesty(model, 300, 5), np.random.default_rng(0))
    _agrees(estimate, analytic_logz(y, s**2, 0.7**2, 0.0, 5.0))


@pytest.mark.parametrize("per_cluster, quadrature", [(60, "logit grid"), (40, "grid")])
def test_toy_one_component_quadratures(per_cluster, quadrature):
    """test_evidence_check's quadrature in logit(u), and conftest's grid in (μ, σ)."""
    model = ModelSpec(priors=TOY_PRIORS).build(
        Measurements.from_arrays(toy_values(per_cluster)), 1)
    estimate = bridge_evidence(model, _dynesty(model, 200, 5), np.random.default_rng(1))
    exact = (_quadrature_logz(model) if quadrature == "logit grid"
             else grid_logz(toy_values(per_cluster)))
    _agrees(estimate, exact)
    assert estimate.ess_posterior > 300 and estimate.ess_proposal > 1000


def test_galaxies_one_component_quadrature(galaxies):
    """test_evidence_galaxies' Simpson quadrature: μ ~ N(20, 10²), σ² ~ InvGamma(3, 20)."""
    model = ModelSpec(priors=GALAXY_PRIORS).build(galaxies, 1)
    estimate = bridge_evidence(model, _dynesty(model, 200, 1), np.random.default_rng(0))
    _agrees(estimate, quadrature_logz_k1(np.asarray(galaxies.values)[:, 0]))


def test_a_problem_outside_nestmix_priors_is_bridged_in_the_unit_cube():
    """PolyChord's installation check (a Gaussian in a box, Z = 1/400), which has only
    ``prior_transform`` and a one-θ ``log_likelihood``: the bridge works in logit(u)."""
    problem = BoxGaussian()
    run = _dynesty(problem, 200, 1)
    estimate = bridge_evidence(problem, run, np.random.default_rng(0))
    _agrees(estimate, problem.logz)
    assert estimate.space == "unit cube"
    assert bridge_evidence(problem, replace(run, samples_u=None)) is None


def _two_component_quadrature(y: np.ndarray, sigma: float) -> float:
    """ln Z of K = 2 exchangeable components with σ fixed, μ_k ~ N(0, 5²), w ~ U(0, 1): the
    two label copies are mirror images, so Z = 2 × the integral over μ₁ < μ₂, done with
    Simpson's rule on (w, μ₁, μ₂) around the mode (±8 posterior standard deviations)."""
    left, right = y[y < 0], y[y >= 0]
    sd = sigma / np.sqrt([len(left), len(right)])
    mu1 = np.linspace(left.mean() - 8 * sd[0], left.mean() + 8 * sd[0], 161)
    mu2 = np.linspace(right.mean() - 8 * sd[1], right.mean() + 8 * sd[1], 161)
    w = np.linspace(0, 1, 401)[1:-1]
    dens1 = stats.norm.pdf(y[None, :], mu1[:, None], sigma)  # (μ₁, n)
    dens2 = stats.norm.pdf(y[None, :], mu2[:, None], sigma)
    values = np.empty((len(w), len(mu1), len(mu2)))
    for i, wi in enumerate(w):
        mix = wi * dens1[:, None, :] + (1 - wi) * dens2[None, :, :]
        values[i] = np.log(mix).sum(axis=2)
    values += (stats.norm.logpdf(mu1, 0, 5)[None, :, None]
               + stats.norm.logpdf(mu2, 0, 5)[None, None, :])
    peak = values.max()
    inner = integrate.simpson(np.exp(values - peak), x=mu2, axis=2)
    inner = integrate.simpson(inner, x=mu1, axis=1)
    edges = np.linspace(0, 1, 401)
    return float(peak + math.log(2) + np.log(integrate.simpson(
        np.concatenate([[0.0], inner, [0.0]]), x=edges)))


def test_two_exchangeable_components_against_quadrature():
    """K = 2 with exchangeable labels against a 3-D quadrature: the symmetrised bridge."""
    y = toy_values(20)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                              "sigma": 0.7}, order="none").build(Measurements.from_arrays(y), 2)
    exact = _two_component_quadrature(y, 0.7)
    estimate = bridge_evidence(model, _dynesty(model, 200, 3), np.random.default_rng(0))
    assert estimate.permutations == 2 and estimate.label_copies == 2
    _agrees(estimate, exact)


# ---------------------------------------------------------------------- labels and copies
@pytest.fixture(scope="module")
def three_clusters():
    """Three well separated 1-D clusters; K = 3 ordered and exchangeable models and a run
    of each (the ordered run holds a single labelling of the exchangeable posterior)."""
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(-4, 0.7, 25), rng.normal(0, 0.7, 25),
                        rng.normal(4, 0.7, 25)])
    data = Measurements.from_arrays(y)
    ordered = ModelSpec(priors=TOY_PRIORS, order="means").build(data, 3)
    exchangeable = ModelSpec(priors=TOY_PRIORS, order="none").build(data, 3)
    return (ordered, _dynesty(ordered, 150, 1), exchangeable, _dynesty(exchangeable, 150, 1))


def test_ordered_labels_and_symmetrised_exchangeable_labels_agree(three_clusters):
    """One Z, three ways: the ordered model's bridge from its run, the exchangeable model's
    symmetrised bridge from its own run (which visited several of the 3! copies) and from
    the ordered run's samples (one copy); the nested-sampling ln Z agree within errors."""
    ordered, ordered_run, exchangeable, exchangeable_run = three_clusters
    reference = bridge_evidence(ordered, ordered_run, np.random.default_rng(0))
    assert reference.permutations == 1 and reference.label_copies == 1
    assert reference.usable and reference.logZ_err < 0.1
    for run in (exchangeable_run, ordered_run):
        symmetric = bridge_evidence(exchangeable, run, np.random.default_rng(1))
        assert symmetric.permutations == 6 and symmetric.label_copies == 6
        _agrees(symmetric, reference.logZ, reference.logZ_err)
    for run in (ordered_run, exchangeable_run):
        assert abs(run.logz - reference.logZ) < 3 * math.hypot(run.logz_err,
                                                                 reference.logZ_err)
    with pytest.raises(ValueError, match="exchangeable labels"):
        bridge_evidence(ordered, ordered_run, symmetrise=True)


def test_without_symmetrising_a_run_that_found_one_labelling_is_low_by_ln_k_factorial(
        three_clusters):
    """The ordered run's samples are the exchangeable posterior restricted to one of its 3!
    copies: unsymmetrised, the bridge gives the mass of that copy, Z / 3!."""
    _, ordered_run, exchangeable, _ = three_clusters
    symmetric = bridge_evidence(exchangeable, ordered_run, np.random.default_rng(2))
    one_copy = bridge_evidence(exchangeable, ordered_run, np.random.default_rng(2),
                               symmetrise=False)
    assert one_copy.permutations == 1
    shortfall = symmetric.logZ - one_copy.logZ
    assert abs(shortfall - math.log(6)) < 3 * math.hypot(symmetric.logZ_err,
                                                         one_copy.logZ_err), shortfall


def test_a_random_subset_of_permutations_gives_the_same_evidence(three_clusters):
    """Three of the six permutations (the matching estimator: posterior draws relabelled at
    random) agree with all six; losing half the posterior side shows in the error."""
    _, _, exchangeable, run = three_clusters
    full = bridge_evidence(exchangeable, run, np.random.default_rng(3))
    subset = bridge_evidence(exchangeable, run, np.random.default_rng(3), max_permutations=3)
    assert subset.permutations == 3 and full.permutations == 6
    assert subset.ess_posterior < 0.8 * full.ess_posterior
    _agrees(subset, full.logZ, full.logZ_err)


def test_the_estimate_round_trips_and_bad_input_is_refused(three_clusters):
    ordered, run, exchangeable, _ = three_clusters
    estimate = bridge_evidence(ordered, run, np.random.default_rng(0))
    assert BridgeEstimate.from_dict(estimate.to_dict()) == estimate
    assert BridgeEstimate.from_dict({"error": "ValueError: x"}) is None
    assert BridgeEstimate.from_dict({"logZ": 1.0}) is None
    with pytest.raises(ValueError, match="the run's samples have shape"):
        bridge_evidence(ModelSpec(priors=TOY_PRIORS).build(exchangeable.data, 1), run)


# ------------------------------------------------------------ full covariances, spare ones
def test_two_dimensional_full_covariances_with_a_background():
    """2-D, K = 2 full covariances (LKJ correlations) and a uniform background, 12
    parameters: the bridge agrees with the importance-sampling check and the run."""
    rng = np.random.default_rng(4)
    y = np.vstack([rng.multivariate_normal([-2, 0], [[0.5, 0.3], [0.3, 0.5]], 40),
                   rng.multivariate_normal([2, 1], [[0.4, -0.2], [-0.2, 0.6]], 40),
                   rng.uniform(-5, 5, (8, 2))])
    model = ModelSpec(covariance="full", background="uniform", order="none",
                      priors={"mean": {"dist": "norm", "loc": 0, "scale": 4},
                              "sigma": {"dist": "loguniform", "a": 0.1, "b": 5}}).build(
        Measurements.from_arrays(y), 2)
    run = _dynesty(model, 200, 2)
    estimate = bridge_evidence(model, run, np.random.default_rng(0))
    check = importance_check(model, run, np.random.default_rng(0))
    assert check is not None and check.usable
    _agrees(estimate, check.logZ, check.logZ_err)
    assert abs(run.logz - estimate.logZ) < 3 * math.hypot(run.logz_err, estimate.logZ_err)


@pytest.mark.slow
def test_three_dimensional_full_covariances():
    """3-D, K = 2 full covariances (19 parameters): the symmetrised bridge from an
    exchangeable run agrees with the ordered model's bridge from its own run, and each with
    the importance-sampling check of its run. (The runs' own ln Z at nlive 300 are 0.3 to 1.4
    nats higher: −424.92 ± 0.38 exchangeable, −425.93 ± 0.38 ordered, against −426.26.)"""
    rng = np.random.default_rng(5)
    cov = np.array([[0.6, 0.2, 0.1], [0.2, 0.5, -0.15], [0.1, -0.15, 0.7]])
    y = np.vstack([rng.multivariate_normal([-2, 0, 1], cov, 50),
                   rng.multivariate_normal([2, 1, -1], cov[::-1, ::-1], 50)])
    data = Measurements.from_arrays(y)
    priors = {"mean": {"dist": "norm", "loc": 0, "scale": 4},
              "variance": {"dist": "invgamma", "a": 3, "scale": 2}}
    estimates = []
    for order in ("none", "means"):
        model = ModelSpec(covariance="full", order=order, priors=priors).build(data, 2)
        run = _dynesty(model, 300, 6)
        estimates.append(bridge_evidence(model, run, np.random.default_rng(0)))
        check = importance_check(model, run, np.random.default_rng(0))
        assert check is not None and check.usable
        _agrees(estimates[-1], check.logZ, check.logZ_err)
    assert estimates[0].permutations == 2 and estimates[1].permutations == 1
    _agrees(estimates[0], estimates[1].logZ, estimates[1].logZ_err)


@pytest.mark.slow
def test_a_spare_component_from_a_long_ordered_run():
    """K = 4 on three clusters (one spare component, its posterior near its prior), from an
    ordered run at nlive 1000: the ordered bridge, the exchangeable model's symmetrised bridge
    over the 4! relabellings of the same samples, and the run's own ln Z agree."""
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(-4, 0.7, 25), rng.normal(0, 0.7, 25),
                        rng.normal(4, 0.7, 25)])
    data = Measurements.from_arrays(y)
    ordered = ModelSpec(priors=TOY_PRIORS, order="means").build(data, 4)
    exchangeable = ModelSpec(priors=TOY_PRIORS, order="none").build(data, 4)
    run = _dynesty(ordered, 1000, 7)
    direct = bridge_evidence(ordered, run, np.random.default_rng(0))
    symmetric = bridge_evidence(exchangeable, run, np.random.default_rng(0))
    assert symmetric.permutations == 24
    _agrees(symmetric, direct.logZ, direct.logZ_err)
    _agrees(direct, run.logz, run.logz_err)


def test_the_symmetrised_proposal_is_a_density_and_draws_from_itself():
    """g_S = (g(θ) + g(Pθ)) / 2 for K = 2 (σ fixed: 3 parameters) with g on one label copy:
    at draws of g it is g / 2 (the copies do not overlap), and over draws of g_S the mean
    of g / g_S is ∫ g = 1 — both hold only if the draws and the density match."""
    from nestmix.evidence.bridge import _ParameterSpace
    from nestmix.evidence.check import StudentTMixture

    y = toy_values(20)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                              "sigma": 0.7}).build(Measurements.from_arrays(y), 2)
    run = _dynesty(model, 50, 1)
    space = _ParameterSpace(model, run, np.array([[0, 1], [1, 0]]), True, 2)
    single = _ParameterSpace(model, run, None, True, 2)
    proposal = StudentTMixture([np.array([0.5, -3.0, 2.5])], [np.diag([0.3, 0.2, 0.2])], [1.0])
    rng = np.random.default_rng(0)
    theta = single.draw(proposal, 20_000, rng)
    half = np.exp(space.log_g(theta, proposal) - single.log_g(theta, proposal))
    assert abs(np.median(half) - 0.5) < 1e-3
    drawn = space.draw(proposal, 20_000, rng)  # half of its draws come relabelled
    means = model.expand(drawn).means[:, :, 0]
    assert 0.48 < np.mean(means[:, 0] > means[:, 1]) < 0.52
    ratio = np.exp(single.log_g(drawn, proposal) - space.log_g(drawn, proposal))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio)), ratio.mean()


def test_heavy_proposal_side_tails_make_the_estimate_unusable(three_clusters):
    from nestmix.evidence.bridge import KHAT_MAX

    ordered, run, _, _ = three_clusters
    estimate = bridge_evidence(ordered, run, np.random.default_rng(0))
    assert estimate.usable and estimate.khat < KHAT_MAX
    assert not replace(estimate, khat=KHAT_MAX + 0.2).usable
    assert not replace(estimate, ess_proposal=50.0).usable


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # dynesty: slice intervals expanded
def test_the_bridge_declines_where_the_runs_draws_cannot_be_trusted():
    """Enzyme K = 5 with Richardson & Green's priors, ordered means, dynesty at nlive 500
    (issue 31; dynesty warns that its slice intervals had to expand more than 1000 times):
    the bridge from the run's samples lands 7+ nats below the run's ln Z with a small error,
    but its k̂ is far above KHAT_MAX, so it is not usable (a row is not judged by it)."""
    from importlib import resources

    from nestmix.data.loaders import load_measurements
    from nestmix.evidence.bridge import KHAT_MAX

    data = load_measurements(str(resources.files("nestmix.examples") / "enzyme.txt"))
    priors = {"mean": {"dist": "norm", "loc": 1.4505, "scale": 2.859},
              "variance": {"dist": "invgamma", "a": 2, "scale": 0.163478}}
    model = ModelSpec(priors=priors, order="means").build(data, 5)
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": 500}, seed=1)
    estimate = bridge_evidence(model, run, np.random.default_rng(0))
    assert estimate.khat > KHAT_MAX and not estimate.usable, estimate
