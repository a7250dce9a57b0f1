"""Distinct modes that are distinct (clumps merged), and repeats that combine their diagnostics:
census, modes and warnings of a (K, sampler) come from every seed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, load_sweep, run_sweep
from nestmix.model.layout import Parameters
from nestmix.modes.census import label_census, pooled_census
from nestmix.modes.combine import combine_analyses
from nestmix.modes.distinct import find_distinct_modes
from nestmix.modes.merge import combine_mode_summaries, modes_agree
from nestmix.store.runs import MODES_SUMMARY
from tests.conftest import TOY_PRIORS, toy_values


def clumpy_posterior(rng, n_points=245, clumps=8, per_clump=600, tight=0.15):
    """One well-determined K = 2 solution with N data points, sampled as a poorly mixed run
    would: tight clumps whose centres scatter by the posterior's large-sample width."""
    w, mu, sd = np.array([0.6, 0.4]), np.array([0.2, 1.3]), np.array([0.1, 0.5])
    width_w = np.sqrt(w[0] * w[1] / n_points)
    width_mu = sd / np.sqrt(n_points * w)
    width_sd = sd / np.sqrt(2 * n_points * w)
    parts = []
    for _ in range(clumps):
        cw = w[0] + width_w * rng.normal()
        cmu, csd = mu + width_mu * rng.normal(size=2), sd + width_sd * rng.normal(size=2)
        w1 = cw + tight * width_w * rng.normal(size=per_clump)
        m = cmu + tight * width_mu * rng.normal(size=(per_clump, 2))
        s = csd + tight * width_sd * rng.normal(size=(per_clump, 2))
        parts.append(Parameters(weights=np.stack([w1, 1 - w1], axis=1), means=m[:, :, None],
                                covariances=(s**2)[:, :, None, None]))
    return Parameters(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("weights", "means", "covariances")))


def test_clumps_of_one_poorly_mixed_posterior_are_one_mode():
    params = clumpy_posterior(np.random.default_rng(3))
    weights = np.ones(len(params.weights))
    # without merging the dip test splits the clumps apart
    split = find_distinct_modes(params, weights, rng=np.random.default_rng(1),
                                merge_tolerance=0.0)
    assert split.n_modes >= 3
    modes = find_distinct_modes(params, weights, rng=np.random.default_rng(1), n_points=245)
    assert modes.n_modes == 1 and modes.modes[0].mass == pytest.approx(1.0)
    assert np.all(modes.labels == 0)


def test_two_solutions_apart_by_a_component_width_stay_two_modes():
    rng = np.random.default_rng(4)
    one = clumpy_posterior(rng, clumps=1)
    other = clumpy_posterior(rng, clumps=1)
    other.means[:, 1, 0] += 0.5  # the broad component moved by its own width σ = 0.5
    params = Parameters(*(np.concatenate([getattr(one, f), getattr(other, f)])
                          for f in ("weights", "means", "covariances")))
    modes = find_distinct_modes(params, np.ones(len(params.weights)),
                                rng=np.random.default_rng(1), n_points=245)
    assert modes.n_modes == 2
    assert not modes_agree(modes.modes[0], modes.modes[1], 245)


def _mode(mass, mu2, logz=-10.0):
    return {"index": 0, "mass": mass, "logZ": logz, "logZ_err": 0.1, "logZ_source": "mass",
            "weights": {"mean": [0.6, 0.4], "std": [0.03, 0.03]},
            "means": {"mean": [[0.2], [mu2]], "std": [[0.01], [0.05]]},
            "scales": {"mean": [[0.1], [0.5]], "std": [[0.005], [0.03]]}}


def test_modes_of_several_seeds_merge_when_they_agree():
    seeds = [{"n_modes": 1, "n_draws": 100, "modes": [_mode(1.0, 1.30)]},
             {"n_modes": 1, "n_draws": 100, "modes": [_mode(1.0, 1.32)]},
             {"n_modes": 2, "n_draws": 100, "modes": [_mode(0.8, 1.31, np.log(0.8) - 10),
                                                     _mode(0.2, 3.0, np.log(0.2) - 10)]}]
    combined = combine_mode_summaries(seeds, n_points=245)
    assert combined["n_modes"] == 2 and combined["seeds"] == 3 and combined["n_draws"] == 300
    main, other = combined["modes"]
    assert main["mass"] == pytest.approx(2.8 / 3) and other["mass"] == pytest.approx(0.2 / 3)
    assert main["means"]["mean"][1][0] == pytest.approx((1.30 + 1.32 + 0.8 * 1.31) / 2.8)
    # the spread of the merged mode holds the seeds' differences as well as their own spreads
    assert main["means"]["std"][1][0] > 0.05
    # local evidences: Z of the mode averaged over the seeds
    assert other["logZ"] == pytest.approx(np.log(0.2 / 3) - 10)
    assert main["logZ"] == pytest.approx(np.log(2.8 / 3) - 10)


def test_census_pooled_over_seeds_warns_only_when_the_seeds_together_miss_copies():
    rng = np.random.default_rng(0)
    both = rng.integers(0, 2, 4000)
    perms_both = np.stack([both, 1 - both], axis=1)
    perms_one = np.tile([0, 1], (4000, 1))
    w = np.ones(4000)
    missed = label_census(perms_one, w).to_dict()
    full = label_census(perms_both, w).to_dict()
    assert missed["warning"] and not full["warning"]
    pooled = pooled_census([missed, full, full, full, full])
    assert pooled["warning"] is None and pooled["copies_visited"] == 2
    assert pooled["seeds"] == 5 and pooled["seeds_far_from_uniform"] == 1
    assert sum(pooled["masses"].values()) == pytest.approx(1.0)
    assert pooled["n_effective"] == pytest.approx(missed["n_effective"] + 4 * full["n_effective"])
    assert pooled_census([missed, missed])["warning"]  # every seed missed it: still warned


# ------------------------------------------------------------------ in a sweep with repeats
@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    plan = SweepPlan(name="toy", data=Measurements.from_arrays(toy_values(25)),
                     spec=ModelSpec(priors=TOY_PRIORS), k_values=(2,),
                     settings={"nlive": 30}, seed=7, repeats=3)
    out = tmp_path_factory.mktemp("combine") / "toy"
    run_sweep(plan, out, n_jobs=1)
    return out


@pytest.mark.slow  # the sweep takes ~4 s
def test_a_sweep_row_combines_the_census_and_modes_of_every_seed(swept, tmp_path):
    out = tmp_path / "toy"
    shutil.copytree(swept, out)
    stored = [json.loads((out / "K=2" / name / MODES_SUMMARY).read_text())
              for name in ("dynesty", "dynesty.repeat2", "dynesty.repeat3")]
    row = load_sweep(out).rows[0]
    expected = combine_analyses(stored, 25)
    assert row.distinct_modes == expected["distinct_modes"]["n_modes"]
    assert row.label_copies == expected["census"]["copies_visited"]
    # the first seed alone missed a label copy (its census says so); the others did not
    first = dict(stored[0])
    first["census"] = {**first["census"], "copies_visited": 1, "masses": {"0-1": 1.0},
                       "warning": "the sampler found only 1 of the 2 equivalent "
                                  "relabellings of the K = 2 fit"}
    for census in (s["census"] for s in stored[1:]):
        census.update(copies_visited=2, masses={"0-1": 0.5, "1-0": 0.5}, warning=None)
    for name, analysis in zip(("dynesty", "dynesty.repeat2", "dynesty.repeat3"),
                              [first, *stored[1:]], strict=True):
        (out / "K=2" / name / MODES_SUMMARY).write_text(json.dumps(analysis))
    row = load_sweep(out).rows[0]
    assert row.label_copies == 2
    assert not any("relabellings" in w for w in row.warnings), row.warnings
    # ... and when it is the last seed that missed it, the row is the same
    for name, analysis in zip(("dynesty", "dynesty.repeat2", "dynesty.repeat3"),
                              [*stored[1:], first], strict=True):
        (out / "K=2" / name / MODES_SUMMARY).write_text(json.dumps(analysis))
    assert load_sweep(out).rows[0].label_copies == 2
    entry = next(m for m in load_sweep(out).modes if m["k"] == 2)
    assert entry["census"]["seeds"] == 3 and entry["distinct_modes"]["seeds"] == 3


@pytest.mark.slow  # about a minute: 2M likelihood calls
@pytest.mark.filterwarnings("ignore:The slice sample interval:UserWarning",
                            "ignore:Enabling doubling strategy:UserWarning")
def test_enzyme_k2_reports_one_distinct_mode():
    """#18's acceptance: enzyme, K = 2, Richardson & Green-style priors, dynesty at its
    defaults. Before merging, the dip test reported 8 "modes" with near-identical parameters
    (clumps of one poorly mixed posterior)."""
    from nestmix import datasets, get_sampler
    from nestmix.modes import analyse_run

    data = datasets.load("enzyme").measurements()
    values = data.values[:, 0]
    low, high = float(values.min()), float(values.max())
    r = high - low
    model = ModelSpec(priors={
        "mean": {"dist": "norm", "loc": (low + high) / 2, "scale": r},
        "variance": {"dist": "invgamma", "a": 2, "scale": 0.02 * r * r},
        "weights": {"dist": "dirichlet", "alpha": 1.0}}).build(data, 2)
    run = get_sampler("dynesty").run(model, {}, seed=1)
    analysis = analyse_run(model, run, rng=np.random.default_rng(1))
    assert analysis.modes.n_modes == 1, analysis.modes.to_dict()
    assert analysis.census.copies_visited == 2
