"""Label switching: relabelling, label census, distinct modes and memberships (nestmix.modes)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, NestedRun, get_sampler
from nestmix.errors import ModelError
from nestmix.model.layout import Parameters
from nestmix.modes import (
    ThetaLayout,
    analyse_run,
    compute_memberships,
    find_distinct_modes,
    label_census,
    relabel,
    solve_assignments,
)
from nestmix.modes.features import permute_parameters

MEAN = {"dist": "norm", "loc": 0, "scale": 10}
SIGMA = {"dist": "halfnorm", "scale": 3}
TRUE_MEANS = np.array([[-6.0, 1.0], [0.0, -4.0], [6.0, 3.0]])  # sorted along the first axis
TRUE_SIGMAS = np.array([0.8, 1.0, 1.3])
TRUE_WEIGHTS = np.array([0.3, 0.5, 0.2])
_NAME = re.compile(r"^(w|mu|var|sigma|rho)(?:_(\d+))?(?:_x(\d))?(?:_x\d)?$")


def simulate(rng, n_points, d, background=False):
    """Points from the three true Gaussians (first d axes), plus 10% uniform outliers."""
    comp = rng.choice(3, size=n_points, p=TRUE_WEIGHTS)
    values = TRUE_MEANS[comp, :d] + TRUE_SIGMAS[comp, None] * rng.normal(size=(n_points, d))
    if background:
        values[: n_points // 10] = rng.uniform(-12, 12, size=(n_points // 10, d))
    return Measurements.from_arrays(values), comp


def truth_theta(model):
    """θ at the truth, filled in by parameter name."""
    bg = 0.1 if model.has_background else 0.0
    weights = np.append(TRUE_WEIGHTS * (1 - bg), bg)
    theta = []
    for name in model.param_names:
        kind, comp, axis = _NAME.match(name).groups()
        j = int(comp) - 1 if comp else None
        a = int(axis) if axis else 0
        if kind == "w":
            theta.append(weights[j])
        elif kind == "mu":
            theta.append(TRUE_MEANS[j, a])
        elif kind in ("sigma", "var"):
            sigma = 1.0 if j is None else TRUE_SIGMAS[j] * (1 + 0.2 * a)
            theta.append(sigma if kind == "sigma" else sigma**2)
        else:
            theta.append(0.3 if j is None else 0.3 * (-1) ** j)
    return np.array(theta)


def posterior_cloud(model, n, rng, spread=0.05):
    """Parameter draws scattered around the truth, in the true (canonical) labelling."""
    base = truth_theta(model)
    theta = np.tile(base, (n, 1))
    for c, name in enumerate(model.param_names):
        kind = _NAME.match(name).group(1)
        if kind == "mu":
            theta[:, c] += spread * rng.normal(size=n)
        elif kind in ("sigma", "var"):
            theta[:, c] *= np.exp(spread * rng.normal(size=n))
        elif kind == "rho":
            theta[:, c] += 0.5 * spread * rng.normal(size=n)
    layout = ThetaLayout.from_model(model)
    if layout.weight_columns.size:
        full = np.append(base[layout.weight_columns], 1 - base[layout.weight_columns].sum())
        theta[:, layout.weight_columns] = rng.dirichlet(2000 * full, size=n)[:, :-1]
    return theta


def scramble(model, theta, rng):
    """Randomly permute the labels of every sample; returns θ and the permutations used."""
    perms = np.array([rng.permutation(model.k) for _ in range(len(theta))])
    return ThetaLayout.from_model(model).permute(theta, perms), perms


def build(rng, d=1, covariance="full", background="none", n_points=200, k=3):
    data, comp = simulate(rng, n_points, d, background=background == "uniform")
    spec = ModelSpec(covariance=covariance, background=background,
                     priors={"mean": MEAN, "sigma": SIGMA})
    return spec.build(data, k), comp


def assert_same_parameters(a: Parameters, b: Parameters):
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-12)
    np.testing.assert_allclose(a.means, b.means, atol=1e-12)
    np.testing.assert_allclose(a.covariances, b.covariances, atol=1e-12)


# ------------------------------------------------------------------ assignment and θ layout
def test_assignment_solvers_agree(rng):
    cost = rng.normal(size=(500, 5, 5))
    fast, brute = solve_assignments(cost, "scipy"), solve_assignments(cost, "brute")
    np.testing.assert_array_equal(fast, brute)
    with pytest.raises(ModelError, match="valid: scipy, brute"):
        solve_assignments(cost, "greedy")


@pytest.mark.parametrize(("d", "covariance", "background"), [
    (1, "full", "none"), (1, "tied", "uniform"), (2, "full", "none"), (2, "full", "uniform"),
    (2, "tied", "none"), (2, "diag", "uniform"), (2, "spherical", "none"),
])
def test_relabelled_theta_expands_to_relabelled_parameters(rng, d, covariance, background):
    model, _ = build(rng, d, covariance, background)
    theta = model.prior_transform(rng.uniform(size=(50, model.ndim)))
    perms = np.array([rng.permutation(model.k) for _ in range(50)])
    moved = ThetaLayout.from_model(model).permute(theta, perms)
    assert_same_parameters(model.expand(moved), permute_parameters(model.expand(theta), perms))


# ---------------------------------------------------------------------------- relabelling
@pytest.mark.parametrize("method", ["hungarian", "stephens"])
@pytest.mark.parametrize(("d", "covariance", "background"), [
    (1, "full", "none"), (1, "full", "uniform"), (1, "tied", "none"),
    (2, "full", "none"), (2, "full", "uniform"), (2, "tied", "uniform"),
])
def test_relabelling_recovers_the_true_labels(rng, method, d, covariance, background):
    model, _ = build(rng, d, covariance, background)
    clean = posterior_cloud(model, 400, rng)
    theta, _ = scramble(model, clean, rng)
    weights = rng.uniform(0.5, 1.5, size=len(theta))
    params = model.expand(theta)
    result = relabel(params, weights, method=method, model=model, thetas=theta)
    assert result.converged and result.method == method
    relabelled = result.apply(params)
    assert_same_parameters(relabelled, model.expand(clean))
    if model.has_background:  # the background weight never moves
        np.testing.assert_array_equal(relabelled.weights[:, -1], params.weights[:, -1])
    np.testing.assert_allclose(result.apply_to_theta(theta, model), clean, atol=1e-12)


def test_unknown_method_lists_the_valid_ones(rng):
    model, _ = build(rng)
    theta = posterior_cloud(model, 10, rng)
    with pytest.raises(ModelError, match="unknown relabelling method 'ecr'; valid: hungarian, "
                                         "stephens"):
        relabel(model.expand(theta), np.ones(10), method="ecr")
    with pytest.raises(ModelError, match="needs the model"):
        relabel(model.expand(theta), np.ones(10), method="stephens")


def test_canonical_order_is_by_first_axis_mean(rng):
    model, _ = build(rng, 2)
    theta, _ = scramble(model, posterior_cloud(model, 200, rng), rng)
    relabelled = relabel(model.expand(theta), np.ones(200)).apply(model.expand(theta))
    first = relabelled.means[:, :, 0].mean(axis=0)
    assert np.all(np.diff(first) > 0)


# ---------------------------------------------------------------------------- census
def test_census_counts_all_six_copies_with_equal_mass(rng):
    perms = np.array([rng.permutation(3) for _ in range(6000)])
    weights = rng.uniform(0.5, 1.5, size=6000)
    census = label_census(perms, weights)
    assert census.expected_copies == 6 and census.copies_visited == 6
    assert census.masses.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(census.masses, 1 / 6, rtol=0.15)
    assert census.warning is None
    for s in (0, 17, 5999):  # every sample's copy is its own permutation
        np.testing.assert_array_equal(census.copies[census.copy_of_sample[s]], perms[s])
    out = json.loads(json.dumps(census.to_dict()))
    assert len(out["masses"]) == 6


def test_census_warns_about_a_missing_copy(rng):
    perms = np.array([rng.permutation(3) for _ in range(6000)])
    perms = perms[~np.all(perms == [2, 1, 0], axis=1)]
    census = label_census(perms, np.ones(len(perms)))
    assert census.copies_visited == 5
    assert census.warning.startswith("the sampler found only 5 of the 6 equivalent "
                                     "relabellings of the K = 3 fit")
    ordered = label_census(perms, np.ones(len(perms)), exchangeable=False)
    assert ordered.expected_copies == 1 and ordered.warning is None


def test_census_does_not_warn_about_unequal_shares_of_copies_it_found(rng):
    """Every relabelling found, one with five times the others' share: how a nested sampler's
    copies drift once they separate, not a bias of ln Z (nestmix.sweep.convergence)."""
    perms = np.array([rng.permutation(3) for _ in range(6000)])
    weights = np.where(np.all(perms == [0, 1, 2], axis=1), 5.0, 1.0)
    census = label_census(perms, weights)
    assert census.copies_visited == 6 and census.masses[0] > 2 / 6
    assert census.warning is None


# ---------------------------------------------------------------------------- distinct modes
def two_gaussians(means, n, rng, sd=0.1):
    """Relabelled K = 2, 1-D parameter samples around the given (2,) means."""
    m = np.asarray(means)[None, :] + sd * rng.normal(size=(n, 2))
    w1 = np.clip(0.5 + 0.02 * rng.normal(size=n), 0.01, 0.99)
    cov = np.exp(0.1 * rng.normal(size=(n, 2)))[:, :, None, None]
    return Parameters(weights=np.stack([w1, 1 - w1], axis=1), means=m[:, :, None],
                      covariances=cov)


def concat(*parts: Parameters) -> Parameters:
    return Parameters(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("weights", "means", "covariances")))


def test_two_solutions_are_two_distinct_modes(rng):
    a, b = two_gaussians([0.0, 5.0], 3000, rng), two_gaussians([-5.0, 2.5], 3000, rng)
    weights = np.r_[np.full(3000, 0.7), np.full(3000, 0.3)]
    modes = find_distinct_modes(concat(a, b), weights, rng=rng, logz=-100.0, logz_err=0.1)
    assert modes.n_modes == 2
    assert modes.modes[0].mass == pytest.approx(0.7, abs=1e-9)
    assert modes.modes[1].mass == pytest.approx(0.3, abs=1e-9)
    np.testing.assert_allclose(modes.modes[0].means_mean[:, 0], [0, 5], atol=0.02)
    np.testing.assert_allclose(modes.modes[1].means_mean[:, 0], [-5, 2.5], atol=0.02)
    assert modes.modes[1].logz == pytest.approx(-100 + np.log(0.3))
    assert modes.modes[1].logz_source == "mass"
    assert json.loads(json.dumps(modes.to_dict()))["n_modes"] == 2


@pytest.mark.parametrize("shape", ["gaussian", "skewed", "banana"])
def test_one_unimodal_posterior_is_one_mode(rng, shape):
    params = two_gaussians([0.0, 5.0], 6000, rng, sd=1.0)
    means = params.means.copy()
    if shape == "skewed":
        means[:, 0, 0] = np.exp(0.8 * rng.normal(size=6000))
    elif shape == "banana":
        x = rng.normal(size=6000)
        means[:, 0, 0], means[:, 1, 0] = x, 5 + 1.5 * x**2 + 0.3 * rng.normal(size=6000)
    params = Parameters(params.weights, means, params.covariances)
    modes = find_distinct_modes(params, rng.uniform(0.5, 1.5, size=6000), rng=rng)
    assert modes.n_modes == 1
    assert modes.modes[0].mass == pytest.approx(1.0)


# ---------------------------------------------------------------------------- memberships
@pytest.mark.parametrize("background", ["none", "uniform"])
def test_memberships_sum_to_one_and_find_the_right_component(rng, background):
    model, comp = build(rng, 1, "full", background, n_points=300)
    clean = posterior_cloud(model, 1000, rng)
    theta, _ = scramble(model, clean, rng)
    weights = rng.uniform(0.5, 1.5, size=1000)
    result = relabel(model.expand(theta), weights)
    members = compute_memberships(model, theta, weights, result, rng=rng, max_draws=500)
    assert members.mean.shape == (300, model.n_components)
    np.testing.assert_allclose(members.mean.sum(axis=1), 1.0)
    assert np.all(members.std >= 0)
    # points their own component claims by more than 0.95 at the truth: well inside it
    at_truth = np.exp(model.membership_log_probabilities(truth_theta(model)))
    core = (np.arange(300) >= (30 if model.has_background else 0)) \
        & (at_truth[np.arange(300), comp] > 0.95)
    assert core.sum() > 150
    assert np.all(members.mean[np.arange(300), comp][core] > 0.9)
    values = np.asarray(model.data.values)[:, 0]
    if model.has_background:  # outliers far from every Gaussian go to the background
        far = np.min(np.abs(values[:30, None] - TRUE_MEANS[None, :, 0]), axis=1) > 4
        assert np.all(members.mean[:30][far, -1] > 0.9)


# ---------------------------------------------------------------------------- end to end
def test_analysis_of_a_synthetic_run_is_json_able(rng):
    model, _ = build(rng, 2, "full", "uniform")
    theta, _ = scramble(model, posterior_cloud(model, 600, rng), rng)
    run = NestedRun(sampler="test", param_names=model.param_names, samples=theta,
                    logl=np.zeros(600), logwt=np.zeros(600), nlive=np.full(600, 50),
                    logz=-50.0, logz_err=0.2, ncall=1, seconds=0.0)
    analysis = analyse_run(model, run, rng=rng, max_membership_draws=200)
    summary = json.loads(json.dumps(analysis.to_dict()))
    assert summary["distinct_modes"]["n_modes"] == 1
    assert summary["census"]["copies_visited"] == 6 and summary["census"]["warning"] is None
    arrays = analysis.arrays()
    assert arrays["relabelled_samples"].shape == theta.shape
    assert arrays["membership_mean"].shape == (200, 4)


def test_short_dynesty_run_contains_the_truth(rng):
    # its own data seed: with the shared one, component 1's sample mean happens to lie 3.4
    # standard errors from the truth, which no correct posterior can then contain within 3 sd
    data, _ = simulate(np.random.default_rng(5), 300, 1)
    spec = ModelSpec(priors={"mean": MEAN, "sigma": SIGMA})
    model = spec.build(data, 3)
    run = get_sampler("dynesty").run(model, {"nlive": 100}, seed=3)
    analysis = analyse_run(model, run, rng=rng)
    assert analysis.relabelling.converged
    assert analysis.modes.n_modes == 1
    relabelled = analysis.relabelling.apply(model.expand(run.samples))
    w = run.weights
    for values, truth in ((relabelled.weights, TRUE_WEIGHTS),
                          (relabelled.means[:, :, 0], TRUE_MEANS[:, 0]),
                          (np.sqrt(relabelled.covariances[:, :, 0, 0]), TRUE_SIGMAS)):
        mean = w @ values
        sd = np.sqrt(w @ (values - mean) ** 2)
        assert np.all(np.abs(mean - truth) < 3 * sd), (mean, sd, truth)


def test_a_pooled_census_warns_only_when_a_seed_did():
    """PolyChord without clustering drops its census warnings (its copies' masses drift by
    design); pooling its seeds must not bring them back."""
    from nestmix.modes.census import pooled_census

    drifted = {"k": 2, "exchangeable": True, "expected_copies": 2, "copies_visited": 2,
               "masses": {"0-1": 0.95, "1-0": 0.05}, "n_effective": 500.0, "warning": None}
    assert pooled_census([drifted, drifted])["warning"] is None
    warned = {**drifted, "copies_visited": 1, "masses": {"0-1": 1.0}, "warning": "missed"}
    assert "found only 1 of the 2" in pooled_census([warned, warned])["warning"]
