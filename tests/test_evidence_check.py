"""The importance-sampling check of a run's ln Z (nestmix.evidence.check): it agrees with an
exact evidence, it marks a row whose ln Z is off, and it is carried through the store, the
convergence check and the verdict."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import special

import nestmix
from nestmix import Measurements, ModelSpec, SweepPlan, load_sweep, run_sweep
from nestmix.evidence.check import (
    DISAGREE_Z,
    ImportanceCheck,
    LogitTarget,
    disagreement,
    importance_check,
)
from nestmix.results import NestedRun
from nestmix.sweep.convergence import signals
from tests.conftest import TOY_PRIORS, toy_values


def _quadrature_logz(model, points: int = 601) -> float:
    """ln Z of a two-parameter model on a grid in x = logit(u) (independent of any sampler)."""
    assert model.ndim == 2
    grid = np.linspace(-14.0, 14.0, points)
    x0, x1 = np.meshgrid(grid, grid, indexing="ij")
    values = LogitTarget(model)(np.column_stack([x0.ravel(), x1.ravel()]))
    step = grid[1] - grid[0]
    return float(special.logsumexp(values) + 2 * math.log(step))


@pytest.fixture(scope="module")
def one_component():
    data = Measurements.from_arrays(toy_values(60))
    model = ModelSpec(priors=TOY_PRIORS).build(data, 1)
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": 200}, seed=5)
    return model, run


def test_the_check_agrees_with_the_exact_evidence(one_component):
    model, run = one_component
    exact = _quadrature_logz(model)
    check = importance_check(model, run, np.random.default_rng(0))
    assert check is not None and check.usable
    assert check.ess > 2000 and check.components >= 1 and check.draws == 10_000
    assert abs(check.logZ - exact) < 5 * check.logZ_err + 0.005, (check, exact)
    # the sampler agrees with it within its own error (one honest run)
    assert abs(disagreement(run.logz, run.logz_err, check)) < DISAGREE_Z


def test_refining_the_proposal_rescues_a_poor_fit(one_component, monkeypatch):
    """Fitted to a band of low-likelihood samples (as a proposal fitted to a run's samples can
    be far from the posterior), the first proposal keeps few effective draws; the adaptive
    rounds bring them above MIN_ESS and ln Z to the exact value."""
    from nestmix.evidence import check as evidence_check

    model, run = one_component
    exact = _quadrature_logz(model)
    order = np.argsort(run.logl)
    band = order[len(order) // 2 - 200:len(order) // 2]
    weights = np.full(len(band), 1 / len(band))

    def estimate():
        return evidence_check._estimate(LogitTarget(model), run.samples_u[band], weights,
                                        np.random.default_rng(0), 10_000, 2_000, 6)

    monkeypatch.setattr(evidence_check, "REFINE_ROUNDS", 0)
    logz, err, ess, _ = estimate()
    assert ess < evidence_check.MIN_ESS
    monkeypatch.setattr(evidence_check, "REFINE_ROUNDS", 4)
    logz, err, ess, _ = estimate()
    assert ess >= evidence_check.MIN_ESS
    assert abs(logz - exact) < 5 * err + 0.005, (logz, err, exact)


def test_no_unit_cube_samples_no_check(one_component):
    model, run = one_component
    assert run.samples_u is not None and run.samples_u.shape == run.samples.shape
    assert importance_check(model, replace(run, samples_u=None)) is None
    assert disagreement(run.logz, run.logz_err, None) is None
    poor = ImportanceCheck(logZ=-1.0, logZ_err=0.1, ess=20.0, draws=10_000, components=1,
                           seconds=0.1)
    assert not poor.usable and disagreement(run.logz, run.logz_err, poor) is None


def test_the_unit_cube_samples_are_stored_with_the_run(one_component, tmp_path):
    _, run = one_component
    run.save(tmp_path)
    back = NestedRun.load(tmp_path)
    assert np.array_equal(back.samples_u, run.samples_u)
    with pytest.raises(ValueError, match="samples_u has shape"):
        replace(run, samples_u=run.samples_u[:-1])


@pytest.fixture(scope="module")
def two_label_copies():
    """K = 2 with exchangeable labels on two well separated clusters: two label copies."""
    data = Measurements.from_arrays(toy_values(60))
    model = ModelSpec(priors=TOY_PRIORS, order="none").build(data, 2)
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": 200}, seed=3)
    return model, run


def _one_copy(model, run):
    """The run with only the samples whose first component has the smaller mean: as if the
    sampler had never visited the other label copy."""
    means = model.expand(run.samples).means[:, :, 0]
    keep = means[:, 0] < means[:, 1]
    assert 0.2 < run.weights[keep].sum() < 0.8  # both copies were visited
    return replace(run, samples=run.samples[keep], samples_u=run.samples_u[keep],
                   logl=run.logl[keep], logwt=run.logwt[keep], nlive=run.nlive[keep])


def test_the_symmetrised_check_agrees_with_the_direct_one(two_label_copies):
    model, run = two_label_copies
    direct = importance_check(model, run, np.random.default_rng(0), symmetrise=False)
    symmetric = importance_check(model, run, np.random.default_rng(0), symmetrise=True)
    assert direct.usable and symmetric.usable, (direct, symmetric)
    assert direct.label_copies == 1 and symmetric.label_copies == 2
    combined = math.hypot(direct.logZ_err, symmetric.logZ_err)
    assert abs(direct.logZ - symmetric.logZ) < 5 * combined + 0.01, (direct, symmetric)
    assert abs(disagreement(run.logz, run.logz_err, symmetric)) < DISAGREE_Z


def test_the_symmetrised_check_counts_a_label_copy_the_run_never_visited(two_label_copies):
    model, run = two_label_copies
    full = importance_check(model, run, np.random.default_rng(0), symmetrise=False)
    lost = _one_copy(model, run)
    direct = importance_check(model, lost, np.random.default_rng(1), symmetrise=False)
    symmetric = importance_check(model, lost, np.random.default_rng(1), symmetrise=True)
    # the direct estimate sees half the posterior mass, the symmetrised one all of it
    assert abs(direct.logZ - (full.logZ - math.log(2))) < 5 * direct.logZ_err + 0.02
    assert abs(symmetric.logZ - full.logZ) < 5 * symmetric.logZ_err + 0.02
    # by default (direct usable) nothing changes; without exchangeable labels no symmetrising
    assert importance_check(model, lost, np.random.default_rng(1)).label_copies == 1
    ordered = ModelSpec(priors=TOY_PRIORS, order="means").build(model.data, 2)
    with pytest.raises(ValueError, match="exchangeable labels"):
        importance_check(ordered, run, symmetrise=True)


def _sweep(tmp_path):
    data = Measurements.from_arrays(toy_values(60))
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(1, 2),
                     settings={"nlive": 100}, seed=2)
    run_sweep(plan, tmp_path, n_jobs=1)
    return tmp_path


def test_a_sweep_records_the_check_and_marks_a_row_it_contradicts(tmp_path):
    """Every dynesty run's summary carries the check; a stored ln Z moved by 2 nats (as a run
    that lost half the posterior's mass would report) makes its row 'not converged', with the
    reason in plain words, a convergence signal and an uncertain verdict."""
    from nestmix.report.tables import verdict

    directory = _sweep(tmp_path)
    result = load_sweep(directory)
    for row in result.rows:
        assert row.crosscheck_logZ is not None and row.crosscheck_z is not None
        assert abs(row.crosscheck_z) < DISAGREE_Z and row.converged
        assert not any(w.startswith("not converged") for w in row.warnings)
    assert not signals(result.rows[0])
    # move K = 2's stored ln Z down by 2 nats
    manifest_path = directory / "K=2" / "dynesty" / "manifest.json"
    stored = json.loads(manifest_path.read_text())
    stored["summary"]["logZ"] -= 2.0
    manifest_path.write_text(json.dumps(stored))
    row = next(r for r in load_sweep(directory).rows if r.k == 2)
    assert not row.converged and row.crosscheck_z < -DISAGREE_Z
    assert row.warnings[0].startswith("not converged: an independent estimate of ln Z")
    assert "lost part of the posterior's mass" in row.warnings[0]
    assert "an independent estimate from its own samples" in signals(row)[0]
    _, details = verdict(load_sweep(directory))
    assert any("the answer is uncertain" in d and "K = 2" in d for d in details), details


def test_by_default_a_row_the_check_contradicts_gets_one_deeper_run(tmp_path):
    """nestmix escalates by itself (``escalate`` defaults to 1): rerunning the sweep of the test
    above, with K = 2's stored ln Z 2 nats low, adds one run to K = 2 only, with another seed
    and twice the live points, and the row is then judged on that run (which agrees with its
    check), the damaged estimate set aside."""
    import inspect

    from nestmix.store.convergence import CONVERGENCE
    from nestmix.sweep.plan import DEFAULT_ESCALATE

    assert DEFAULT_ESCALATE == 1
    assert inspect.signature(SweepPlan).parameters["escalate"].default == 1
    directory = _sweep(tmp_path)
    outcome = json.loads((directory / CONVERGENCE).read_text())
    assert outcome["budget"] == 1
    assert all(entry["extra_runs"] == 0 and entry["converged"]
               for entry in outcome["rows"].values()), outcome
    manifest_path = directory / "K=2" / "dynesty" / "manifest.json"
    stored = json.loads(manifest_path.read_text())
    stored["summary"]["logZ"] -= 2.0
    manifest_path.write_text(json.dumps(stored))
    damaged = next(r for r in load_sweep(directory).rows if r.k == 2)
    assert damaged.crosscheck_z < -DISAGREE_Z
    data = Measurements.from_arrays(toy_values(60))
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(1, 2),
                     settings={"nlive": 100}, seed=2)
    result = run_sweep(plan, directory, n_jobs=1)
    outcome = json.loads((directory / CONVERGENCE).read_text())
    rows = outcome["rows"]
    assert rows["K=1 dynesty"]["extra_runs"] == 0 and rows["K=1 dynesty"]["converged"]
    assert rows["K=2 dynesty"]["extra_runs"] == 1
    assert rows["K=2 dynesty"]["logZ_steps"][0] == [damaged.logZ, damaged.logZ_err]
    row = next(r for r in result.rows if r.k == 2)
    assert row.repeats == 1 and row.escalations == 1 and row.nlive == 200
    assert row.previous_logZ == damaged.logZ
    # the report, exports and estimator read the run the row is judged on, not the one set aside
    from nestmix.store.archive import open_sweep

    archive = open_sweep(directory)
    assert archive.repeats(2, "dynesty") == (1, 2)
    assert archive.run(2, "dynesty").settings["nlive"] == 200
    assert archive.run(2, "dynesty").logz == pytest.approx(row.logZ)
    assert archive.run(2, "dynesty", repeat=1).settings["nlive"] == 100
    assert abs(row.crosscheck_z) < DISAGREE_Z, row.crosscheck_z
    # the 2-nat move is more than twice the combined error: with a budget of 1 the row cannot
    # show that a second deeper run agrees, so it stays marked
    assert not row.converged and "moved" in " ".join(row.warnings)


def test_a_row_is_judged_by_the_usable_checks_of_its_seeds():
    """Every usable check estimates the same evidence: one seed's check that fell short does not
    hide another seed's that speaks (enzyme K = 3, exchangeable: seed 1's check ESS 1 931,
    seed 2's 256)."""
    from types import SimpleNamespace

    from nestmix.store.summary import _crosscheck

    good = ImportanceCheck(logZ=-82.716, logZ_err=0.020, ess=1931.0, draws=10_000,
                           components=24, seconds=1.4, label_copies=6).to_dict()
    poor = ImportanceCheck(logZ=-83.540, logZ_err=0.062, ess=256.0, draws=10_000,
                           components=24, seconds=1.3).to_dict()
    combined = SimpleNamespace(logz=-82.021, logz_err=0.203)
    runs = [SimpleNamespace(crosscheck=good), SimpleNamespace(crosscheck=poor)]
    logz, err, z = _crosscheck(runs, combined)
    assert logz == pytest.approx(-82.716) and err == pytest.approx(0.020)
    assert z > DISAGREE_Z  # the row is 3.4 combined errors above it: marked
    assert _crosscheck([SimpleNamespace(crosscheck=poor)], combined) is None


def test_a_damaged_check_record_is_no_check():
    """A run summary whose check is damaged (hand-edited, another version) gives no check
    rather than stopping the evidence table."""
    good = ImportanceCheck(logZ=-1.0, logZ_err=0.01, ess=900.0, draws=10_000, components=1,
                           seconds=0.1)
    assert ImportanceCheck.from_dict(good.to_dict()) == good
    for bad in (None, {"error": "ValueError: x"}, {"logZ": "nan?"}, [1, 2],
                {**good.to_dict(), "logZ": "text"}):
        assert ImportanceCheck.from_dict(bad) is None
