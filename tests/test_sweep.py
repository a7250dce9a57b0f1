"""The K-sweep driver: results on disk, resume, refusal to mix runs, parallel workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, load_sweep, run_sweep
from nestmix.errors import RunStoreError
from tests.conftest import TOY_PRIORS, toy_values

PRIORS = TOY_PRIORS


@pytest.fixture(scope="module")
def two_clusters() -> np.ndarray:
    return toy_values(40)


@pytest.fixture
def plan(two_clusters) -> SweepPlan:
    return SweepPlan(name="toy", data=Measurements.from_arrays(two_clusters),
                     spec=ModelSpec(priors=PRIORS), k_values=(1, 2), sampler="dynesty",
                     settings={"nlive": 40}, seed=3)


def mtimes(directory: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in directory.glob("K=*/*/*")}


def test_sweep_writes_runs_and_summary(plan, tmp_path):
    lines: list[str] = []
    result = run_sweep(plan, tmp_path / "toy", progress=lines.append)
    assert [r.k for r in result.rows] == [1, 2]
    assert result.missing == ()
    summary = json.loads((tmp_path / "toy" / "summary.json").read_text())
    for row in summary["rows"]:
        for key in ("k", "sampler", "logZ", "logZ_err", "ln_bf", "p_k", "ncall", "seconds"):
            assert key in row
    assert sum(r["p_k"] for r in summary["rows"]) == pytest.approx(1.0)
    # two well separated clusters: K = 2 wins decisively
    assert result.best().k == 2
    assert result.rows[0].ln_bf < -5
    for k in (1, 2):
        run_dir = tmp_path / "toy" / f"K={k}" / "dynesty"
        assert {p.name for p in run_dir.iterdir()} == {"run.json", "samples.npz",
                                                        "manifest.json", "modes.json",
                                                        "modes.npz"}
        meta = json.loads((run_dir / "run.json").read_text())  # how the numbers were made
        assert meta["backend"]["kernel"] in ("numba", "numpy") and "logZ" in meta
    assert any("K=2 dynesty: logZ =" in line for line in lines)
    # the mode analysis of every run: in the rows, in summary.json and on disk
    k2 = result.rows[1]
    assert k2.expected_copies == 2 and k2.distinct_modes == 1
    assert 1 <= k2.label_copies <= 2
    entry = next(m for m in summary["modes"] if m["k"] == 2)
    assert entry["sampler"] == "dynesty" and entry["method"] == "hungarian"
    assert entry["distinct_modes"]["n_modes"] == 1
    relabelled = entry["distinct_modes"]["modes"][0]["means"]["mean"]
    assert relabelled[0][0] == pytest.approx(-3, abs=0.5)  # canonical order: by mean
    assert relabelled[1][0] == pytest.approx(2.5, abs=0.5)
    with np.load(tmp_path / "toy" / "K=2" / "dynesty" / "modes.npz") as arrays:
        membership = arrays["membership_mean"]
    assert membership.shape == (80, 2)
    np.testing.assert_allclose(membership.sum(axis=1), 1.0)
    assert (membership[:40, 0] > 0.9).all() and (membership[40:, 1] > 0.9).all()


def test_changing_the_relabelling_method_reanalyses_without_rerunning(plan, tmp_path):
    out = tmp_path / "toy"
    run_sweep(replace(plan, k_values=(2,)), out)
    before = (out / "K=2" / "dynesty" / "samples.npz").stat().st_mtime_ns
    lines: list[str] = []
    result = run_sweep(replace(plan, k_values=(2,), relabel="stephens"), out,
                       progress=lines.append)
    assert any("mode analysis redone with 'stephens'" in line for line in lines)
    assert (out / "K=2" / "dynesty" / "samples.npz").stat().st_mtime_ns == before
    assert result.modes[0]["method"] == "stephens"
    with pytest.raises(Exception, match="unknown relabelling method 'pivot'"):
        replace(plan, relabel="pivot")


def test_resume_reuses_finished_runs_and_reruns_only_missing(plan, tmp_path):
    out = tmp_path / "toy"
    first = run_sweep(plan, out)
    before = mtimes(out)
    lines: list[str] = []
    again = run_sweep(plan, out, progress=lines.append)
    assert mtimes(out) == before  # nothing rewritten
    assert sum("reused finished run" in line for line in lines) == 2
    assert [r.logZ for r in again.rows] == [r.logZ for r in first.rows]

    # a K that never finished (its directory missing, a half-written temporary left behind)
    import shutil

    shutil.rmtree(out / "K=2" / "dynesty")
    (out / "K=2" / ".dynesty.tmp-crashed").mkdir()
    lines.clear()
    resumed = run_sweep(plan, out, progress=lines.append)
    assert any("K=1 dynesty: reused" in line for line in lines)
    assert any("running K = 2 " in line for line in lines)
    assert not (out / "K=2" / ".dynesty.tmp-crashed").exists()
    # the seed of each K is derived from the master seed: the rerun is the same run
    assert resumed.rows[1].logZ == first.rows[1].logZ

    # asking for more K runs only the new one
    lines.clear()
    bigger = run_sweep(replace(plan, k_values=(1, 2, 3)), out, progress=lines.append)
    assert [r.k for r in bigger.rows] == [1, 2, 3]
    assert any("running K = 3 " in line for line in lines)
    assert sum("reused" in line for line in lines) == 2


@pytest.mark.parametrize(("change", "match"), [
    ("data", r"different data"),
    ("prior", r"model settings \(model\.priors\.mean\.loc: was 0, now 1\)"),
    ("covariance", r"model settings \(model\.covariance: was 'full', now 'tied'\)"),
    ("nlive", r"sampler settings \(dynesty\.settings\.nlive: was 40, now 50\)"),
    ("seed", r"sampler settings \(dynesty\.seed: was 3, now 4\)"),
])
def test_refuses_a_directory_made_differently(plan, tmp_path, two_clusters, change, match):
    out = tmp_path / "toy"
    run_sweep(replace(plan, k_values=(1,)), out)
    if change == "data":
        values = two_clusters.copy()
        values[0] += 1e-6
        other = replace(plan, data=Measurements.from_arrays(values))
    elif change == "prior":
        other = replace(plan, spec=ModelSpec(priors={**PRIORS, "mean": {
            "dist": "norm", "loc": 1, "scale": 5}}))
    elif change == "covariance":
        other = replace(plan, spec=ModelSpec(covariance="tied", priors=PRIORS))
    elif change == "nlive":
        other = replace(plan, settings={"nlive": 50})
    else:
        other = replace(plan, seed=4)
    with pytest.raises(RunStoreError, match=match):
        run_sweep(other, out)
    assert len(load_sweep(out).rows) == 1  # the old run is untouched


def test_unwritable_directory_is_refused(plan, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(RunStoreError, match=r"cannot write to run directory .*a-file/toy"):
        run_sweep(plan, blocker / "toy")


def test_parallel_workers_give_the_same_runs(plan, tmp_path):
    serial = run_sweep(plan, tmp_path / "serial", n_jobs=1)
    parallel = run_sweep(plan, tmp_path / "parallel", n_jobs=2)
    assert [r.logZ for r in parallel.rows] == [r.logZ for r in serial.rows]


def toy_config(tmp_path: Path, values: np.ndarray, ks: list[int], nlive: int) -> Path:
    """A sweep config file for ``values`` (written beside it) with the test's priors."""
    np.savetxt(tmp_path / "values.txt", values)
    config = tmp_path / "toy.toml"
    config.write_text(
        'name = "toy"\n[data]\npath = "values.txt"\n[model]\ncovariance = "full"\n'
        '[model.priors]\nmean = { dist = "norm", loc = 0, scale = 5 }\n'
        'sigma = { dist = "halfnorm", scale = 3 }\n'
        f'[sweep]\nk = {ks}\nnlive = {nlive}\nseed = 2\n')
    return config


def start_sweep(config: Path, out: Path, **env: str) -> subprocess.Popen:
    """`nestmix sweep` in its own process group (so the test can kill it and its workers)."""
    return subprocess.Popen([sys.executable, "-m", "nestmix.cli", "sweep", str(config),
                             "--out", str(out), "--jobs", "1", "--no-report"],
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def test_interrupted_sweep_resumes(tmp_path, two_clusters):
    """Kill a real `nestmix sweep` process after K=1 finished; the rerun reuses K=1 only."""
    config = toy_config(tmp_path, two_clusters, ks=[1, 2], nlive=300)
    out = tmp_path / "runs" / "toy"
    proc = start_sweep(config, out)
    try:
        deadline = time.monotonic() + 120
        while not (out / "K=1" / "dynesty" / "manifest.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "K=1 did not finish in time"
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep finished before it could be interrupted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    partial = load_sweep(out)
    assert [r.k for r in partial.rows] == [1]
    assert partial.missing == ((2, "dynesty"),)

    from nestmix.cli import main

    result_code = main(["sweep", str(config), "--out", str(out), "--jobs", "1"])
    assert result_code == 0
    result = load_sweep(out)
    assert [r.k for r in result.rows] == [1, 2]
    assert result.missing == ()
    manifest = json.loads((out / "K=1" / "dynesty" / "manifest.json").read_text())
    assert manifest["summary"]["logZ"] == partial.rows[0].logZ


def test_killed_run_continues_from_its_checkpoint(tmp_path, two_clusters):
    """Kill a sweep in the middle of one K; the rerun continues from dynesty's checkpoint."""
    config = toy_config(tmp_path, two_clusters, ks=[2], nlive=250)
    out = tmp_path / "runs" / "toy"
    checkpoint = out / "K=2" / ".dynesty.work" / "dynesty.save"
    proc = start_sweep(config, out, NESTMIX_CHECKPOINT_SECONDS="0.2")
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the run finished before it could be interrupted"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert checkpoint.exists() and not (out / "K=2" / "dynesty").exists()

    from nestmix.cli import main

    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 0
    summary = json.loads((out / "K=2" / "dynesty" / "manifest.json").read_text())["summary"]
    assert summary["resumed"] is True
    assert not (out / "K=2" / ".dynesty.work").exists()  # checkpoint removed when done
    # the continued run is a valid run: the same evidence as an uninterrupted one
    fresh = run_sweep(SweepPlan(name="toy", data=Measurements.from_arrays(two_clusters),
                                spec=ModelSpec(priors=PRIORS), k_values=(2,),
                                settings={"nlive": 250}, seed=2), tmp_path / "fresh")
    sigma = np.hypot(summary["logZ_err"], fresh.rows[0].logZ_err)
    assert abs(summary["logZ"] - fresh.rows[0].logZ) < 3 * sigma


@pytest.mark.slow  # 13-18 s in a cold clean clone; runs in CI's slow stage
def test_two_samplers_side_by_side(two_clusters, tmp_path):
    """sampler = ["dynesty", "polychord"]: both run every K, stored side by side, both in the
    summary, and they agree on the evidence within their combined errors."""
    plan = SweepPlan(name="both", data=Measurements.from_arrays(two_clusters),
                     spec=ModelSpec(priors=PRIORS), k_values=(1, 2),
                     sampler=("dynesty", "polychord"),
                     settings={"nlive": 100, "polychord": {"num_repeats": 10}}, seed=5)
    assert plan.settings_for("polychord")["num_repeats"] == 10
    assert "num_repeats" not in plan.settings_for("dynesty")
    out = tmp_path / "both"
    result = run_sweep(plan, out, n_jobs=2)
    assert sorted((r.sampler, r.k) for r in result.rows) == [
        ("dynesty", 1), ("dynesty", 2), ("polychord", 1), ("polychord", 2)]
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["sampler"], r["k"]) for r in summary["rows"]} == {
        ("dynesty", 1), ("dynesty", 2), ("polychord", 1), ("polychord", 2)}
    for sampler in ("dynesty", "polychord"):  # P(K | data) within each sampler's rows
        assert sum(r["p_k"] for r in summary["rows"] if r["sampler"] == sampler) == \
            pytest.approx(1.0)
    assert (out / "K=2" / "polychord" / "chains").is_dir()  # PolyChord's own files kept
    assert not (out / "K=2" / ".polychord.work").exists()
    by = {(r.sampler, r.k): r for r in result.rows}
    for k in (1, 2):
        a, b = by["dynesty", k], by["polychord", k]
        assert abs(a.logZ - b.logZ) < 3 * np.hypot(a.logZ_err, b.logZ_err)
    lines: list[str] = []
    run_sweep(plan, out, progress=lines.append)
    assert sum("reused finished run" in line for line in lines) == 4


def test_execution_settings_are_out_of_fingerprints_and_older_fingerprints_still_match(plan):
    """PolyChord's ``resume`` and ``feedback`` (and dynesty's ``queue_size``) choose how a run
    is made, not what it computes: changing them keeps a run's fingerprint. Runs stored by
    nestmix 0.1.0, which still fingerprinted them, are recognised by their old fingerprint."""
    from nestmix.store import fingerprint

    pc = replace(plan, sampler="polychord", settings={"nlive": 20, "feedback": 0})
    quiet = replace(pc, settings={"nlive": 20, "feedback": 2, "resume": False, "mpi": 2})
    now, given, before = pc.run_fingerprints(1, "polychord")  # resolved, as given, 0.1.0
    assert pc.run_manifest(1, "polychord")["fingerprint"] == now
    assert quiet.run_fingerprints(1, "polychord")[:2] == (now, given)
    old_settings = {k: v for k, v in pc.settings_for("polychord").items() if k != "mpi"}
    model = pc.spec.build(pc.data, 1)
    assert before == fingerprint({"data": pc.data.fingerprint(), "model": model.describe(),
                                  "sampler": "polychord", "settings": old_settings,
                                  "seed": pc.seed_for(1)})  # as nestmix 0.1.0 computed it
    assert "feedback" not in pc.manifest()["samplers"]["polychord"]["settings"]
    # dynesty runs without queue_size keep the one fingerprint they always had
    assert plan.run_fingerprints(2, "dynesty") == (plan.run_manifest(2, "dynesty")["fingerprint"],)


def test_fingerprints_hold_the_defaults_resolved_for_the_model(plan):
    """The settings a run uses (dynesty's slice rounds by dimension, PolyChord's nlive and
    num_repeats) are in its fingerprint: a change of a default rule changes the fingerprint."""
    from nestmix.samplers.dynesty.dimension import slice_rounds

    wide = replace(plan, k_values=(5,))  # 1-D, K = 5: 14 parameters
    ndim = wide.spec.build(wide.data, 5).ndim
    assert ndim > 11 and "slices" not in wide.settings_for("dynesty")
    resolved = wide.resolved_settings("dynesty", 5)
    assert resolved["slices"] == slice_rounds(ndim)
    fingerprints = wide.run_fingerprints(5, "dynesty")
    assert len(fingerprints) == 2  # today's, and the one made from the settings as given
    assert wide.run_manifest(5, "dynesty")["fingerprint"] == fingerprints[0]
    assert "slices" not in plan.resolved_settings("dynesty", 2)  # ndim 5: unchanged
    chord = replace(plan, sampler="polychord", settings={"nlive": 20})
    resolved = chord.resolved_settings("polychord", 2)
    assert resolved["num_repeats"] == 5 * 5 and resolved["nlive"] == 20


def test_a_run_from_before_a_default_changed_is_not_reused(plan, tmp_path):
    """A finished run stored under the older fingerprint (settings as given) is reused while
    the settings its run.json records are today's resolved ones, and refused, naming the
    setting, once they differ (an older nestmix that resolved another default)."""
    chord = replace(plan, sampler="polychord", k_values=(1,), settings={"nlive": 20})
    out = tmp_path / "old"
    run_sweep(chord, out)
    run_dir = out / "K=1" / "polychord"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    older = chord.run_fingerprints(1, "polychord")[1]
    assert manifest["fingerprint"] != older
    (run_dir / "manifest.json").write_text(json.dumps({**manifest, "fingerprint": older}))
    lines: list[str] = []
    run_sweep(chord, out, progress=lines.append)
    assert any("reused finished run" in line for line in lines)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["settings"]["num_repeats"] == 5 * 2  # what the run used, resolved
    record["settings"]["num_repeats"] = 3  # as if an older default had given 3
    (run_dir / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunStoreError, match=r"earlier nestmix.*num_repeats: 3 then, 10 now"):
        run_sweep(chord, out)


def test_errors_carry_their_key_through_pickling(plan):
    """The offending key is an attribute (what the configuration reader reports), kept when
    the error comes back from a worker process."""
    import pickle

    from nestmix.errors import ConfigError, ModelError

    with pytest.raises(ModelError) as info:
        replace(plan, k_values=(0, 1))
    error = info.value
    assert error.key == "sweep.k" and error.detail.startswith("must be a list of integers >= 1")
    assert str(error) == f"sweep.k: {error.detail}"
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is ModelError and back.key == error.key and str(back) == str(error)
    config = pickle.loads(pickle.dumps(ConfigError("sweep.seed", "must be >= 0")))
    assert config.key == "sweep.seed" and str(config) == "sweep.seed: must be >= 0"
