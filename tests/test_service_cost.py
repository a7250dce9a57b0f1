"""The service estimates every job's cost at submission (issue 32, item 3): a job above its
``max_minutes`` (the form field, else the config's ``sweep.max_minutes``, else 30; capped by
``nestmix serve --max-minutes``) is refused in one line saying how to narrow it, and nothing
is kept; an accepted job shows its estimate. Real submissions to the real server."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import sys
import time

import numpy as np
import pytest

from nestmix.cli import main
from nestmix.errors import ConfigError
from nestmix.service.costing import job_limit
from nestmix.service.db import Database, Job
from nestmix.service.schemas import job_out
from nestmix.service.settings import ServiceSettings
from tests.conftest import DATA, Server, config

CAP = 60  # the server's own limit (nestmix serve --max-minutes)
LINE = r"(under a minute|about [\d.]+ (minutes?|hours))"


def points_csv(n: int = 30) -> bytes:
    """``n`` points in two clusters 6 standard deviations apart, with a header."""
    rng = np.random.default_rng(32)
    x = np.r_[rng.normal(-3.0, 0.5, n // 2), rng.normal(3.0, 0.5, n - n // 2)]
    return ("x\n" + "".join(f"{v:.5f}\n" for v in x)).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("cost") / "runs"
    server = Server(runs, "--workers", "1", "--max-minutes", str(CAP)).start()
    yield server
    assert server.stop()


def post(server: Server, data: bytes, data_name: str, config_text: str | None = None,
         **form: str):
    files = {"data": (data_name, data)}
    if config_text is not None:
        files["config"] = ("config.toml", config_text.encode())
    return server.client.post("/jobs", files=files, data=form)


def nothing_kept(server: Server, name: str) -> bool:
    """No job of that name listed, no job directory but the listed jobs', no sweep
    directory."""
    jobs = server.client.get("/jobs").json()["jobs"]
    jobs_dir = server.runs / ".service" / "jobs"
    kept = {path.name for path in jobs_dir.iterdir()} if jobs_dir.exists() else set()
    return (name not in {job["name"] for job in jobs} and kept <= {job["id"] for job in jobs}
            and not (server.runs / name).exists())


def test_a_csv_above_its_limit_is_refused_in_one_line_and_nothing_is_kept(server):
    response = post(server, points_csv(), "wide.csv", max_minutes="0.0001")
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    # 1-D data: the full and tied models, K = 1..4, a grid that may stop raising K
    assert re.fullmatch(
        rf"max_minutes: up to 8 runs, {LINE} on 1 core, above the limit of 0\.0001 minutes: "
        r"narrow the grid \(the kmax and covariance fields, e\.g\. kmax 2 and covariance "
        r"full\), submit a random subsample of the rows, or raise max_minutes \(at most "
        rf"{CAP} on this service\)", detail), detail
    assert nothing_kept(server, "wide")


def test_a_config_above_its_sweep_max_minutes_is_refused_and_the_form_overrides_it(server):
    text = config("limited", k=(1, 2), sweep="max_minutes = 0.0001\n")
    response = post(server, DATA, "galaxies.txt", text, figures="false")
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert re.fullmatch(rf"max_minutes: 2 runs, {LINE} on 1 core, above the limit of 0\.0001 "
                        r"minutes: narrow the sweep \(fewer K in sweep\.k, a smaller nlive\), "
                        r"submit a random subsample of the data, or raise max_minutes .*",
                        detail), detail
    assert nothing_kept(server, "limited")
    # bad values of the field or the key: one line naming them, nothing kept
    bad = post(server, DATA, "galaxies.txt", config("limited"), max_minutes="-1")
    assert bad.status_code == 400
    assert bad.json()["detail"] == ("max_minutes: must be a number of minutes >= 0 (0: no "
                                    "limit), got -1")
    bad = post(server, DATA, "galaxies.txt", config("limited", sweep="max_minutes = 'ten'\n"))
    assert bad.status_code == 400
    assert bad.json()["detail"] == ("sweep.max_minutes: must be a number of minutes >= 0 (0: "
                                    "no limit), got 'ten'")
    assert nothing_kept(server, "limited")
    # the form's 0 (no limit) lifts the config's limit, up to the service's own
    accepted = post(server, DATA, "galaxies.txt", text, figures="false", max_minutes="0")
    assert accepted.status_code == 201, accepted.text
    job = accepted.json()
    try:
        assert job["cost"]["line"] == "2 runs, under a minute on 1 core", job["cost"]
    finally:
        server.client.delete(f"/jobs/{job['id']}")


def test_an_accepted_csv_shows_its_estimate(server):
    response = post(server, points_csv(), "points.csv", kmax="2", covariance="tied",
                    figures="false")
    assert response.status_code == 201, response.text
    job = response.json()
    try:
        cost = server.job(job["id"])["cost"]
        assert cost["line"] == "2 runs, under a minute on 1 core"
        assert (cost["runs"], cost["cores"], cost["screened"]) == (2, 1, False)
        assert 0 < cost["minutes"] < 1 and cost["calls"] > 0
        stored = server.runs / ".service" / "jobs.sqlite"
        with sqlite3.connect(stored) as db:
            (kept,) = db.execute("SELECT cost FROM jobs WHERE id = ?", (job["id"],)).fetchone()
        assert json.loads(kept)["line"] == cost["line"]
    finally:
        server.client.delete(f"/jobs/{job['id']}")
    page = server.client.get("/").text  # the page shows it with each job, and asks for it
    assert "cost estimate: ${job.cost.line}" in page and 'id="max_minutes"' in page


def test_the_limit_of_a_job_and_of_the_service():
    assert job_limit(None, None, None) == (30.0, "raise max_minutes (0: no limit)")
    assert job_limit(None, 5.0, None)[0] == 5.0  # the config's key
    assert job_limit(2, 5.0, None)[0] == 2.0  # the form's field wins
    assert job_limit(0, 5.0, None)[0] == math.inf  # 0: no limit
    limit, lift = job_limit(0, None, 10.0)  # ... up to the service's cap
    assert limit == 10.0 and "nestmix serve --max-minutes" in lift
    assert job_limit(None, None, 45.0) == (30.0, "raise max_minutes (at most 45 on this "
                                                 "service)")
    with pytest.raises(ConfigError, match=r"^max_minutes: must be a number of minutes"):
        job_limit(float("nan"), None, None)
    assert ServiceSettings(runs="r", max_minutes=0).max_minutes is None  # 0: no cap
    with pytest.raises(ConfigError, match=r"^--max-minutes: must be a number of minutes >= 0"):
        ServiceSettings(runs="r", max_minutes=-5)


def test_a_bad_service_cap_is_one_line(tmp_path, capsys):
    assert main(["serve", "--runs", str(tmp_path / "runs"), "--max-minutes", "-1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "nestmix: error: --max-minutes: must be a number of minutes >= 0 (0: no limit), got -1")


def test_a_database_from_before_the_estimates_gains_their_column(tmp_path):
    """A jobs.sqlite made before ``cost`` existed is opened: the column is added, old jobs
    show no estimate."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    Database(url).dispose()
    with sqlite3.connect(tmp_path / "jobs.sqlite") as db:
        db.execute("ALTER TABLE jobs DROP COLUMN cost")
        db.execute("INSERT INTO jobs (id, name, state, created, attempts, figures, data_file, "
                   "n_runs, n_done) VALUES ('0123456789abcdef', 'old', 'done', 0, 1, 1, "
                   "'data.txt', 0, 0)")
        assert "cost" not in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
    database = Database(url)
    job = database.job("0123456789abcdef")
    assert isinstance(job, Job) and job.cost is None
    assert job_out(job, False, tmp_path).cost is None
    database.dispose()


@pytest.mark.slow  # ~15 s: a 200 000-row upload, the pilot on it
def test_a_large_csv_is_refused_promptly_at_the_default_limit(server):
    """As on the command line (issue 33, N4): a large CSV sent alone is refused by the
    default limit of 30 minutes, with the estimate, before any run; nothing is kept."""
    rng = np.random.default_rng(33)
    n = 200_000
    points = np.r_[rng.normal(0.0, 1.0, (n // 2, 2)), rng.normal(4.0, 1.0, (n - n // 2, 2))]
    data = ("x,y\n" + "".join(f"{a:.4f},{b:.4f}\n" for a, b in points)).encode()
    start = time.monotonic()
    response = post(server, data, "big.csv")
    seconds = time.monotonic() - start
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert re.match(r"^max_minutes: up to 16 runs, about [\d.]+ (minutes|hours) on 1 core, "
                    r"above the limit of 30 minutes: narrow the grid \(the kmax and covariance "
                    r"fields", detail), detail
    assert nothing_kept(server, "big")
    print(f"refused after {seconds:.1f} s: {detail}", file=sys.stderr)
    assert seconds < 120
