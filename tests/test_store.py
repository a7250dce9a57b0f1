"""The run store: repeats beside the first run, and a run written once even when two workers
finish the same task (Dask retrying a task whose worker it lost)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from nestmix.results import NestedRun
from nestmix.store.runs import RunStore, run_name


def tiny_run(logz: float) -> NestedRun:
    n = 5
    return NestedRun(sampler="dynesty", param_names=("a",), samples=np.zeros((n, 1)),
                     logl=np.arange(n, dtype=float), logwt=np.full(n, -np.log(n)),
                     nlive=np.arange(n, 0, -1), logz=logz, logz_err=0.1, ncall=10,
                     seconds=0.1)


def test_repeats_live_beside_the_first_run(tmp_path):
    store = RunStore(tmp_path)
    assert run_name("dynesty") == "dynesty" and run_name("dynesty", 3) == "dynesty.repeat3"
    assert store.run_directory(2, "dynesty", 1) == tmp_path / "K=2" / "dynesty"
    assert store.work_directory(2, "dynesty", 2) == tmp_path / "K=2" / ".dynesty.repeat2.work"
    for bad in (0, -1, 1.0, True):
        with pytest.raises(ValueError, match="numbered from 1"):
            run_name("dynesty", bad)
    for repeat in (1, 2):
        store.save_run(2, "dynesty", tiny_run(-repeat), {"fingerprint": f"f{repeat}", "k": 2,
                                                         "sampler": "dynesty",
                                                         "repeat": repeat}, repeat=repeat)
    found = sorted((m["k"], m["repeat"], m["fingerprint"]) for m in store.finished_runs())
    assert found == [(2, 1, "f1"), (2, 2, "f2")]
    assert store.load_run(2, "dynesty", 2).logz == -2
    assert store.finished(2, "dynesty", "f2", repeat=2)["repeat"] == 2


def test_the_same_run_saved_twice_is_kept_once(tmp_path):
    store = RunStore(tmp_path)
    manifest = {"fingerprint": "same", "k": 1, "sampler": "dynesty"}
    assert store.save_run(1, "dynesty", tiny_run(-1.0), manifest) is True
    first = (tmp_path / "K=1" / "dynesty" / "run.json").stat().st_mtime_ns
    workdir = tmp_path / "K=1" / ".dynesty.work"
    workdir.mkdir()
    (workdir / "chain.txt").write_text("the late copy's own files")
    assert store.save_run(1, "dynesty", tiny_run(-1.5), manifest, workdir=workdir) is False
    assert (tmp_path / "K=1" / "dynesty" / "run.json").stat().st_mtime_ns == first
    assert store.load_run(1, "dynesty").logz == -1.0  # the first copy stays
    assert sorted(p.name for p in (tmp_path / "K=1").iterdir()) == ["dynesty"]
    # a run made differently is replaced (it cannot be the same task)
    assert store.save_run(1, "dynesty", tiny_run(-2.0), {**manifest, "fingerprint": "new"})
    assert json.loads((tmp_path / "K=1" / "dynesty" / "manifest.json").read_text())[
        "fingerprint"] == "new"
    # so is a directory that is no finished run at all (no manifest)
    (tmp_path / "K=3" / "dynesty").mkdir(parents=True)
    (tmp_path / "K=3" / "dynesty" / "stray.txt").write_text("not a run")
    assert store.save_run(3, "dynesty", tiny_run(-3.0), {"fingerprint": "f"})
    assert sorted(p.name for p in (tmp_path / "K=3" / "dynesty").iterdir()) == [
        "manifest.json", "run.json", "samples.npz"]


def test_workers_racing_to_save_the_same_run_leave_one_copy(tmp_path):
    """Eight threads save the same run at the same moment, twenty times over: each time one
    copy is in place, exactly one writer reports writing it, nothing temporary is left."""
    for attempt in range(20):
        store = RunStore(tmp_path / str(attempt))
        barrier = threading.Barrier(8)
        written: list[bool] = []
        errors: list[BaseException] = []

        def save(i: int, store=store, barrier=barrier, written=written, errors=errors) -> None:
            barrier.wait()
            try:
                written.append(store.save_run(1, "dynesty", tiny_run(-float(i)),
                                              {"fingerprint": "same"}))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(written) == [False] * 7 + [True]
        assert [p.name for p in (store.directory / "K=1").iterdir()] == ["dynesty"]
        assert store.load_run(1, "dynesty").logz in {-float(i) for i in range(8)}


def test_ln_z_is_spelled_logZ_in_run_json_and_old_files_still_read(tmp_path):
    from dataclasses import replace

    from nestmix.results import Cluster, RunSummary

    cluster = Cluster(index=1, logz=-3.0, logz_err=0.2, samples=np.zeros((2, 1)),
                      weights=np.ones(2))
    run = replace(tiny_run(-7.5), clusters=(cluster,),
                  backend={"kernel": "numba", "compiled_slice": True})
    run.save(tmp_path / "new")
    meta = json.loads((tmp_path / "new" / "run.json").read_text())
    assert meta["logZ"] == -7.5 and meta["logZ_err"] == 0.1 and "logz" not in meta
    assert meta["clusters"][0]["logZ"] == -3.0
    assert meta["backend"] == {"kernel": "numba", "compiled_slice": True}
    # a run.json written before: logz, no backend
    old = {k: v for k, v in meta.items() if k not in ("logZ", "logZ_err", "backend")}
    old |= {"logz": -7.5, "logz_err": 0.1,
            "clusters": [{"index": 1, "logz": -3.0, "logz_err": 0.2}]}
    (tmp_path / "new" / "run.json").write_text(json.dumps(old))
    back = NestedRun.load(tmp_path / "new")
    assert back.logz == -7.5 and back.clusters[0].logz == -3.0 and back.backend == {}
    # the run's summary in its manifest, from before converged/resumed/warnings existed
    summary = RunSummary.from_dict({"logZ": -1.0, "logZ_err": 0.1, "logZ_err_sim": 0.1,
                                    "ncall": 3, "seconds": 1.0, "ndim": 2, "information": 1.0,
                                    "n_effective": 5.0, "seed": 4})
    assert summary.converged and not summary.resumed and summary.warnings == ()
    assert RunSummary.from_dict(summary.to_dict()) == summary


def test_a_run_under_an_older_fingerprint_is_checked_against_its_recorded_settings(tmp_path):
    """RunStore.finished: the current fingerprint is reused as is; an older one only when the
    settings run.json records are today's resolved ones (execution settings ignored), else the
    error names each difference (dynesty's rounds of slices, added by a newer default rule)."""
    from nestmix.errors import RunStoreError

    store = RunStore(tmp_path)
    directory = store.run_directory(3, "dynesty")
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({"fingerprint": "older"}))
    recorded = {"sample": "slice", "nlive": 500, "pool": 2}
    (directory / "run.json").write_text(json.dumps({"settings": recorded}))
    today = {"sample": "slice", "nlive": 500, "slices": 1}
    assert store.finished(3, "dynesty", ("older",), settings=today) is not None  # current one
    same = {"sample": "slice", "nlive": 500}
    assert store.finished(3, "dynesty", ("now", "older"), settings=same, ignored={"pool"})
    with pytest.raises(RunStoreError, match=r"earlier nestmix.*\(slices: unset then, 1 now\)"):
        store.finished(3, "dynesty", ("now", "older"), settings=today, ignored={"pool"})
    with pytest.raises(RunStoreError, match="different model"):
        store.finished(3, "dynesty", ("now",), settings=today)


def test_a_run_moved_aside_or_copied_is_not_another_seed(tmp_path):
    """Issue 33, N1: only a manifest in the directory its own (k, sampler, repeat) names is a
    finished run; ``dynesty.broken-1`` (moved aside by the sweep) and hand-made copies are not."""
    store = RunStore(tmp_path)
    manifest = {"fingerprint": "f", "k": 2, "sampler": "dynesty"}
    store.save_run(2, "dynesty", tiny_run(-1.0), manifest)
    aside = store.move_aside(2, "dynesty")
    assert aside.name == "dynesty.broken-1"
    store.save_run(2, "dynesty", tiny_run(-1.0), manifest)
    (tmp_path / "K=2" / "dynesty.copy").mkdir()
    (tmp_path / "K=2" / "dynesty.copy" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "K=3" / "dynesty").mkdir(parents=True)  # names K=2, lies in K=3
    (tmp_path / "K=3" / "dynesty" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "K=2" / "junk").mkdir()
    (tmp_path / "K=2" / "junk" / "manifest.json").write_text('["not", "a", "run"]')
    found = [(m["k"], m["sampler"], m["repeat"]) for m in store.finished_runs()]
    assert found == [(2, "dynesty", 1)]
