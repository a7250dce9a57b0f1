"""The supervisor's view of a grid job whose coarse-to-fine screening left cells out: those runs
are settled (``screened``), not missing, and the job is done, not failed. A real small grid on
disk (two models × K = 1, 2), read the way the supervisor reads a worker's progress.
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from nestmix.service.db import Database, Job, JobRun, now
from nestmix.service.grid_jobs import job_runs, screened_runs
from nestmix.service.replies import Replies
from nestmix.service.settings import ServiceSettings
from nestmix.service.supervisor import Supervisor
from nestmix.store.grid import load_grid, write_screening
from nestmix.sweep import run_sweep
from nestmix.sweep.config import plan_from_mapping


def test_screened_cells_settle_a_grid_job(tmp_path):
    rng = np.random.default_rng(33)
    values = np.r_[rng.normal(-3.0, 0.5, 15), rng.normal(3.0, 0.5, 15)]
    (tmp_path / "points.csv").write_text("x\n" + "".join(f"{v:.5f}\n" for v in values))
    plan, _ = plan_from_mapping({"name": "g", "data": {"path": "points.csv", "columns": ["x"]},
                                 "model": {"covariance": ["full", "tied"]},
                                 "sweep": {"k": [1, 2], "nlive": 25, "seed": 1,
                                           "escalate": 0}}, base=tmp_path)
    assert plan.is_grid
    settings = ServiceSettings(runs=tmp_path / "runs")
    directory = settings.runs / "g"
    run_sweep(plan, directory)
    # what a grid that stopped raising K for "tied" after K = 1 leaves: no run, a record
    shutil.rmtree(directory / "model=tied" / "K=2")
    write_screening(directory, [("tied", 2, "its ln Z fell twice")], rule="for the test")
    assert load_grid(directory).missing_cells == ()
    assert screened_runs(directory) == {(2, "tied")}

    settings.service_dir.mkdir(parents=True)
    db = Database(settings.database_url)
    job_id = "f" * 16
    with db.write() as session:
        job = Job(id=job_id, name="g", state="running", created=now(), started=now(),
                  attempts=1, figures=False, data_file="data.csv", n_runs=4, n_done=0)
        job.runs = [JobRun(k=k, sampler=key, state="pending") for k, key in job_runs(plan)]
        session.add(job)
    supervisor = Supervisor(settings, db)  # not started: its steps are called one by one
    supervisor._refresh(job_id, force=True)
    supervisor._finish(job_id, 0)  # the worker exited with status 0

    out = json.loads(Replies(db, supervisor.sweep_dir, settings.runs).job_body(job_id))
    assert out["state"] == "done" and out["error"] is None
    assert out["progress"] == {"done": 4, "total": 4}
    states = {(r["k"], r["sampler"]): (r["state"], r["row"] is not None) for r in out["runs"]}
    assert states == {(1, "full/dynesty"): ("done", True), (2, "full/dynesty"): ("done", True),
                      (1, "tied/dynesty"): ("done", True),
                      (2, "tied/dynesty"): ("screened", False)}
    db.dispose()


def test_a_missing_run_that_was_not_screened_still_fails_the_job(tmp_path):
    """The other side: without a screening record, a run the worker did not make is missing."""
    settings = ServiceSettings(runs=tmp_path / "runs")
    (settings.runs / "s").mkdir(parents=True)
    settings.service_dir.mkdir(parents=True)
    db = Database(settings.database_url)
    job_id = "e" * 16
    with db.write() as session:
        job = Job(id=job_id, name="s", state="running", created=now(), started=now(),
                  attempts=1, figures=False, data_file="data.txt", n_runs=1, n_done=0)
        job.runs = [JobRun(k=1, sampler="dynesty", state="pending")]
        session.add(job)
    supervisor = Supervisor(settings, db)
    supervisor._finish(job_id, 0)
    with db.read() as session:
        stored = session.get(Job, job_id)
        assert stored is not None
        assert (stored.state, stored.error) == ("failed", "the worker ended with 1 of 1 runs "
                                                          "missing")
    db.dispose()
