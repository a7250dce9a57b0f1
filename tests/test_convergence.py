"""The convergence check: signals of a missed mode, escalation by deeper runs within a budget,
rows marked not converged, and the verdict saying the answer is uncertain."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, load_sweep, run_sweep
from nestmix.errors import ModelError
from nestmix.report.tables import verdict
from nestmix.results import EvidenceRow, SweepResult
from nestmix.store.convergence import CONVERGENCE, apply
from nestmix.sweep.convergence import escalate, signals
from tests.conftest import TOY_PRIORS, toy_values


def _row(k=2, logz=-10.0, runs=(), errs=(), sampler="dynesty") -> EvidenceRow:
    """A row an independent estimate checked and agrees with (rows nothing checks get a
    second seed: tests/test_second_seed.py)."""
    return EvidenceRow(crosscheck_logZ=logz, crosscheck_logZ_err=0.2, crosscheck_z=0.0,
                       k=k, sampler=sampler, logZ=logz, logZ_err=0.2, logZ_err_sim=0.2,
                       ln_bf=0.0, ln_bf_err=0.2, p_k=0.5, p_k_err=0.1, ncall=10, seconds=1.0,
                       ndim=5, information=1.0, n_effective=500.0, converged=True,
                       repeats=max(1, len(runs)), logZ_runs=tuple(runs),
                       logZ_err_runs=tuple(errs))


def test_seeds_that_disagree_beyond_their_errors_are_a_signal():
    # galaxies K = 2, dynesty: one seed lost a label copy (about ln 2 low, 4σ)
    assert signals(_row(runs=(-233.63, -232.74, -232.77), errs=(0.18, 0.18, 0.18)))
    assert signals(_row(runs=(-232.80, -232.74, -232.97), errs=(0.18, 0.18, 0.18))) == ()
    assert signals(_row()) == ()  # one seed: nothing to compare


def test_missing_label_copies_are_a_signal_only_with_enough_samples():
    census = {"exchangeable": True, "expected_copies": 6, "copies_visited": 3,
              "warning": "the sampler found only 3 of the 6 ...", "n_effective": 500.0}
    assert "it found only 3 of the 6 equivalent relabellings" in signals(_row(k=3), census)[0]
    # every copy visited, with unequal shares: how a nested sampler's copies drift, not a signal
    assert signals(_row(k=3), {**census, "copies_visited": 6}) == ()
    assert signals(_row(k=3), {**census, "n_effective": 60.0}) == ()  # inconclusive
    assert signals(_row(k=3), {**census, "exchangeable": False}) == ()


def test_escalation_adds_runs_until_the_estimates_settle_or_the_budget_is_spent(tmp_path):
    """``escalate`` on a scripted sequence of results (the runs are the sweep's business)."""
    steps = [  # (K=2 runs, K=3 runs): K=2 settles after one seed, K=3 never does
        ([-10.0], [-20.0, -22.0]),
        ([-10.0, -10.1], [-20.0, -22.0, -20.1]),
        ([-10.0, -10.1], [-20.0, -22.0, -20.1, -22.2]),
    ]
    added = []

    def result_of():
        two, three = steps[min(len(added), len(steps) - 1)]
        rows = tuple(_row(k=k, logz=sum(r) / len(r), runs=r if len(r) > 1 else (),
                          errs=(0.1,) * len(r) if len(r) > 1 else ())
                     for k, r in ((2, two), (3, three)))
        return SweepResult(name="t", rows=rows, repeats=2)

    def add_seed(rows):
        added.append(sorted(rows))

    census_missing = {"exchangeable": True, "expected_copies": 2, "copies_visited": 1,
                      "warning": "far", "n_effective": 500.0}
    original = result_of

    def with_census():
        result = original()
        if not added:  # K=2's first seed visited one of its two label copies
            return SweepResult(name="t", rows=result.rows, repeats=2,
                               modes=({"k": 2, "sampler": "dynesty", "census": census_missing},))
        return result

    record = escalate(with_census, add_seed, tmp_path, budget=2)
    assert added == [[(2, "dynesty"), (3, "dynesty")], [(3, "dynesty")]]
    assert record["rows"]["K=2 dynesty"]["converged"] is True
    three = record["rows"]["K=3 dynesty"]
    assert three["converged"] is False and three["extra_runs"] == 2
    assert "disagree" in three["reasons"][0]
    assert json.loads((tmp_path / CONVERGENCE).read_text()) == record
    marked = apply(result_of(), tmp_path)
    assert [r.converged for r in marked.rows] == [True, False]
    assert marked.rows[1].warnings[-1].startswith("not converged after 2 deeper run(s)")
    _, details = verdict(marked)
    assert any("the answer is uncertain" in d and "K = 3" in d for d in details), details


def test_escalate_must_be_a_non_negative_integer():
    with pytest.raises(ModelError, match="deeper runs"):
        SweepPlan(name="t", data=Measurements.from_arrays(toy_values(10)),
                  spec=ModelSpec(priors=TOY_PRIORS), k_values=(1,), escalate=-1)


@pytest.mark.slow  # K = 3 at nlive 40, then deeper runs at 80 and 160: ~15 s
def test_a_sweep_escalates_a_row_with_deeper_runs_within_its_budget_and_marks_it(tmp_path):
    plan = SweepPlan(name="toy", data=Measurements.from_arrays(toy_values(25)),
                     spec=ModelSpec(priors=TOY_PRIORS), k_values=(2, 3),
                     settings={"nlive": 40}, seed=7, escalate=2)
    # without the check first: K = 3 at nlive 40 keeps to some of its 6 label copies; where
    # its symmetrised estimate agrees and its best point reached the optimiser's, that is no
    # signal (EvidenceRow.checked: no mass is missing)
    first = run_sweep(replace(plan, escalate=0), tmp_path / "toy", n_jobs=1)
    shallow = next(r for r in first.rows if r.k == 3)
    census = next(m["census"] for m in first.modes if m["k"] == 3)
    assert shallow.label_copies is not None and shallow.label_copies < 6
    if shallow.checked:
        assert not signals(shallow, census)
        assert any("no posterior mass is missing" in w for w in shallow.warnings)
    # K = 3's stored ln Z made 8 nats low (3 nats lie within the bridge's error since its
    # importance gap, #31): its check disagrees, and the check escalates it
    path = tmp_path / "toy" / "K=3" / "dynesty" / "manifest.json"
    stored = json.loads(path.read_text())
    stored["summary"]["logZ"] -= 8.0
    path.write_text(json.dumps(stored))
    lines: list[str] = []
    result = run_sweep(plan, tmp_path / "toy", n_jobs=1, progress=lines.append)
    record = json.loads((tmp_path / "toy" / CONVERGENCE).read_text())
    three = record["rows"]["K=3 dynesty"]
    extra = three["extra_runs"]
    assert extra >= 1
    row = next(r for r in result.rows if r.k == 3)
    # judged on its deepest run only: twice the live points per step, the estimate before
    # set aside (and shown)
    assert row.escalations == extra and row.repeats == 1 and row.nlive == 40 * 2**extra
    assert row.previous_logZ is not None and len(three["logZ_steps"]) == extra + 1
    assert three["logZ_steps"][-1] == [row.logZ, row.logZ_err]
    assert any("set aside" in w for w in row.warnings), row.warnings
    for step in range(1, extra + 1):
        stored = json.loads((tmp_path / "toy" / "K=3" / f"dynesty.repeat{step + 1}"
                             / "manifest.json").read_text())
        assert stored["escalation"] == step and stored["nlive"] == 40 * 2**step
        run = json.loads((tmp_path / "toy" / "K=3" / f"dynesty.repeat{step + 1}"
                          / "run.json").read_text())
        assert run["settings"]["nlive"] == 40 * 2**step
    # the row is marked exactly when a signal still fires after the budget is spent
    assert row.converged is three["converged"] is (not three["reasons"])
    if extra < 2:
        assert row.converged
    assert row.converged or any(w.startswith("not converged after 2 deeper run")
                                for w in row.warnings), row.warnings
    assert any("added by the convergence check" in line and "nlive 80" in line
               for line in lines), lines
    two = next(r for r in result.rows if r.k == 2)
    assert two.repeats == 1 and two.escalations == 0 and two.nlive is None  # K = 2 was fine
    # resumed: the budget spent is remembered, nothing is run again
    again_lines: list[str] = []
    run_sweep(plan, tmp_path / "toy", n_jobs=1, progress=again_lines.append)
    assert not any("added by the convergence check" in line for line in again_lines)
    # the check off: the record goes, the deeper runs stay the row's runs
    run_sweep(replace(plan, escalate=0), tmp_path / "toy")
    assert not (tmp_path / "toy" / CONVERGENCE).exists()
    written = json.loads((tmp_path / "toy" / "summary.json").read_text())
    assert not any(w.startswith("not converged") for r in written["rows"] for w in r["warnings"])
    again = next(r for r in load_sweep(tmp_path / "toy").rows if r.k == 3)
    assert again.logZ == row.logZ and again.nlive == row.nlive and again.converged
    assert not any(w.startswith("not converged") for w in again.warnings)


def test_deeper_runs_double_the_live_points_each_sampler_has():
    """The check's deeper run: twice the live points of the sweep's (dynesty's 500 default;
    PolyChord's 25 × ndim when unset; a dynamic run's initial ones too), four times at the
    second step; capped like any nlive."""
    from nestmix.samplers import get_sampler
    from nestmix.samplers.base import NLIVE_MAX

    data = Measurements.from_arrays(toy_values(25))
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(2,),
                     sampler=("dynesty", "polychord"), settings={"dynesty": {"nlive": 60}})
    ndim = plan.spec.build(data, 2).ndim
    assert plan.escalated_settings("dynesty", 2, 1) == {**plan.settings_for("dynesty"),
                                                        "nlive": 120}
    assert plan.escalated_settings("dynesty", 2, 2)["nlive"] == 240
    assert plan.escalated_settings("polychord", 2, 1)["nlive"] == 2 * 25 * ndim
    assert plan.settings_for("polychord")["nlive"] is None  # the sweep's own stay unset
    dynamic = get_sampler("dynesty").validate({"dynamic": True, "nlive_init": 80})
    deeper = get_sampler("dynesty").with_more_live_points(dynamic, ndim, 2)
    assert deeper["nlive_init"] == 160 and deeper["nlive"] == 2 * dynamic["nlive"]
    assert get_sampler("dynesty").with_more_live_points(
        {"nlive": NLIVE_MAX - 1}, ndim, 4)["nlive"] == NLIVE_MAX
    # a deeper run is a different run: its own fingerprint, and its manifest says what it is
    first = plan.run_manifest(2, "dynesty", 2)
    deeper_manifest = plan.run_manifest(2, "dynesty", 2, escalation=1)
    assert deeper_manifest["fingerprint"] != first["fingerprint"]
    assert deeper_manifest["escalation"] == 1 and deeper_manifest["nlive"] == 120
    assert "escalation" not in first


def test_a_deeper_run_that_comes_out_lower_is_lost_mass_not_the_answer(tmp_path):
    """K = 5 of enzyme, exchangeable labels (issue 31): −83.69 ± 0.30 at nlive 500, then the
    deeper run −86.24 ± 0.22 replaced it. A deeper run lower beyond the errors is evidence that
    a run lost posterior mass; one higher only says the estimate moved; within the errors,
    nothing."""
    steps = [[-83.69], [-86.24]]
    added = []

    def result_of():
        return SweepResult(name="t", rows=(_row(k=5, logz=steps[min(len(added), 1)][0]),),
                           repeats=1)

    def add_run(rows):
        added.append(rows)

    first = replace(_row(k=5, logz=-83.69), crosscheck_z=-4.0, crosscheck_logZ=-82.9,
                    crosscheck_logZ_err=0.05)

    def flagged_first():
        return SweepResult(name="t", rows=(first,), repeats=1) if not added else result_of()

    record = escalate(flagged_first, add_run, tmp_path, budget=1)
    reasons = record["rows"]["K=5 dynesty"]["reasons"]
    assert record["rows"]["K=5 dynesty"]["converged"] is False
    assert reasons[0].startswith("its ln Z fell from -83.69 to -86.24")
    assert "lost posterior mass" in reasons[0]
    steps[1] = [-82.00]  # higher beyond the errors: moved, no claim of lost mass
    added.clear()
    record = escalate(flagged_first, add_run, tmp_path, budget=1)
    reasons = record["rows"]["K=5 dynesty"]["reasons"]
    assert reasons[0].startswith("its ln Z moved from -83.69 to -82.00")
    steps[1] = [-83.80]  # within twice the combined error (0.2 each): settled
    added.clear()
    assert escalate(flagged_first, add_run, tmp_path, budget=1)["rows"]["K=5 dynesty"][
        "converged"] is True


def test_a_row_is_checked_by_bridge_sampling_where_it_is_usable():
    """The row's check is the inverse-variance mean of its seeds' usable bridge estimates; an
    unusable or missing bridge falls back on the importance-sampling check."""
    from types import SimpleNamespace

    from nestmix.evidence.bridge import BridgeEstimate
    from nestmix.evidence.check import ImportanceCheck
    from nestmix.store.summary import _bridge, _crosscheck

    def bridge(logz, err, ess=800.0):
        return BridgeEstimate(logZ=logz, logZ_err=err, err_bridge=err, err_split=0.0,
                              err_weights=0.0, ess_posterior=ess, ess_proposal=ess, khat=0.3,
                              posterior_draws=2000, proposal_draws=2000,
                              likelihood_calls=2000, components=3, permutations=120,
                              label_copies=120, space="parameters", iterations=8,
                              seconds=1.0).to_dict()

    importance = ImportanceCheck(logZ=-84.0, logZ_err=0.05, ess=900.0, draws=10_000,
                                 components=6, seconds=1.0).to_dict()
    combined = SimpleNamespace(logz=-84.6, logz_err=0.3)
    runs = [SimpleNamespace(crosscheck={**importance, "bridge": bridge(-83.0, 0.04)}),
            SimpleNamespace(crosscheck={"error": "ValueError: x", "bridge": bridge(-83.1, 0.04)})]
    logz, err, z = _bridge(runs, combined)
    assert logz == pytest.approx(-83.05) and err == pytest.approx(0.04 / 2**0.5)
    assert z == pytest.approx((-84.6 + 83.05) / (0.3**2 + err**2) ** 0.5)
    unusable = [SimpleNamespace(crosscheck={**importance, "bridge": bridge(-83.0, 0.04, 20.0)}),
                SimpleNamespace(crosscheck=None), SimpleNamespace(crosscheck={"bridge": [1]})]
    assert _bridge(unusable, combined) is None
    assert _crosscheck(unusable, combined)[0] == pytest.approx(-84.0)


def test_a_sweep_records_the_bridge_and_a_row_it_contradicts_is_marked(tmp_path):
    """Every run's summary carries its bridge estimate; the row's check is that estimate; a
    stored ln Z moved 2 nats down is marked by it, in words that name bridge sampling."""
    from nestmix.evidence.bridge import BridgeEstimate

    data = Measurements.from_arrays(toy_values(60))
    plan = SweepPlan(name="t", data=data, spec=ModelSpec(priors=TOY_PRIORS), k_values=(1, 2),
                     settings={"nlive": 100}, seed=2, escalate=0)
    run_sweep(plan, tmp_path, n_jobs=1)
    manifest_path = tmp_path / "K=2" / "dynesty" / "manifest.json"
    stored = json.loads(manifest_path.read_text())
    estimate = BridgeEstimate.from_dict(stored["summary"]["crosscheck"]["bridge"])
    assert estimate is not None and estimate.usable and estimate.permutations == 2
    assert estimate.logZ_err < 0.1 and estimate.likelihood_calls <= 2000
    row = next(r for r in load_sweep(tmp_path).rows if r.k == 2)
    assert row.crosscheck_logZ == pytest.approx(estimate.logZ) and row.converged
    stored["summary"]["logZ"] -= 2.0
    manifest_path.write_text(json.dumps(stored))
    row = next(r for r in load_sweep(tmp_path).rows if r.k == 2)
    assert not row.converged and row.crosscheck_z < -3
    assert row.warnings[0].startswith("not converged: an independent estimate of ln Z by "
                                      "bridge sampling")
    assert "independent estimate from its own samples" in signals(row)[0]


# ------------------------------------------------ the step the evidence supports (issue 31)
def _manifest(repeat: int, step: int, logz: float, err: float, *, check: float | None = None,
              best: float | None = None, optimum: float | None = None) -> dict:
    from nestmix.results import RunSummary

    crosscheck = None
    if check is not None:
        crosscheck = {"logZ": check, "logZ_err": 0.05, "ess": 5000.0, "draws": 8000,
                      "components": 2, "seconds": 1.0}
    record = None
    if best is not None:
        record = {"best_run_logl": best, "log_likelihood": optimum, "method": "xd-em",
                  "threshold": 5.0, "deficit": None, "seconds": 0.1}
    summary = RunSummary(logZ=logz, logZ_err=err, logZ_err_sim=err, ncall=1000, seconds=1.0,
                         ndim=5, information=3.0, n_effective=300.0, seed=repeat,
                         crosscheck=crosscheck, optimum=record)
    out = {"k": 2, "sampler": "dynesty", "repeat": repeat, "summary": summary.to_dict()}
    if step:
        out |= {"escalation": step, "nlive": 100 * 2**step}
    return out


def test_a_deeper_run_that_lost_mass_is_set_aside_for_the_run_the_check_supports():
    """The first run agrees with its independent estimate; the deeper run came out 235 nats
    lower: the row is judged on the first, and says why the deeper one was set aside."""
    from nestmix.store.summary import supported_runs

    first = _manifest(1, 0, -516.0, 1.3, check=-516.5)
    deeper = _manifest(2, 1, -751.0, 0.7, check=-750.0)
    kept, why = supported_runs([first, deeper])
    # pooled check: inverse-variance mean of -516.5 and -750.0 (equal errors) is -633; neither
    # agrees, so the check cannot choose: the deepest step stays (no optimiser records)
    assert kept == [deeper] and why is None
    # with the optimiser's records, the deeper run's best point is far below the peak: it
    # missed the main mode, and the first run is judged
    first = _manifest(1, 0, -516.0, 1.3, check=-516.5, best=-480.0, optimum=-479.0)
    deeper = _manifest(2, 1, -751.0, 0.7, check=-750.0, best=-700.0, optimum=-479.0)
    kept, why = supported_runs([first, deeper])
    assert kept == [first]
    assert "deeper run(s) at nlive 200 (ln Z -751.00 ± 0.70) are set aside" in why
    assert "missed the main mode" in why


def test_the_deepest_step_that_agrees_with_the_pooled_check_is_judged():
    from nestmix.store.summary import supported_runs

    first = _manifest(1, 0, -100.0, 0.3)  # no check of its own
    deeper = _manifest(2, 1, -104.0, 0.3, check=-100.1)  # its own check says it is too low
    kept, why = supported_runs([first, deeper])
    assert kept == [first] and "lost posterior mass" in why
    agreeing = _manifest(2, 1, -100.2, 0.3, check=-100.1)
    kept, why = supported_runs([first, agreeing])
    assert kept == [agreeing] and why is None


def test_a_row_whose_sampler_cannot_make_a_deeper_run_is_marked_without_one(tmp_path):
    """``escalate`` told that K = 3's sampler cannot deepen: no run is asked for, the record
    says so, and the row's note names the reason instead of a count of deeper runs."""
    added: list = []

    def result_of():
        rows = (_row(k=2, logz=-10.0), _row(k=3, logz=-21.0, runs=(-20.0, -22.0),
                                           errs=(0.1, 0.1)))
        return SweepResult(name="t", rows=rows, repeats=2)

    lines: list[str] = []
    record = escalate(result_of, lambda rows, deeper=True: added.append(rows), tmp_path,
                      budget=2, say=lines.append, can_deepen=lambda k, sampler: k != 3)
    assert added == []
    three = record["rows"]["K=3 dynesty"]
    assert three["converged"] is False and three["cannot_deepen"] is True
    assert three["extra_runs"] == 0 and "disagree" in three["reasons"][0]
    assert any("cannot make a deeper run" in line for line in lines), lines
    marked = apply(result_of(), tmp_path)
    assert [r.converged for r in marked.rows] == [True, False]
    note = marked.rows[1].warnings[-1]
    assert note.startswith("not converged; no deeper run added: dynesty cannot make one"), note
