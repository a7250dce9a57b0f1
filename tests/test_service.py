"""`nestmix serve`: the real server (uvicorn in a subprocess on a free loopback port), driven over
HTTP with httpx. Jobs are real sweeps on the first 30 galaxy velocities with few live points.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from nestmix.cli import main
from nestmix.sweep import load_sweep
from tests.conftest import DATA, Server, config, finished, free_port

TOKEN = "correct-horse-battery"






def runner_pids(runs: Path) -> list[int]:
    """Worker processes (nestmix.service.runner) working in ``runs``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if b"nestmix.service.runner" in cmdline and str(runs).encode() in cmdline \
                and state != "Z":
            pids.append(int(entry.name))
    return pids






@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for most tests: 2 workers, a 50 kB upload limit."""
    runs = tmp_path_factory.mktemp("service") / "runs"
    server = Server(runs, "--workers", "2", "--max-upload-mb", "0.05").start()
    yield server
    assert server.stop()
    assert runner_pids(runs) == [], "workers left running after the server stopped"


# ----------------------------------------------------------------------------- the basics
def test_submit_watch_and_read_the_report(server, capsys):
    response = server.submit(config("basic"))
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["name"] == "basic" and job["state"] in ("queued", "running")
    assert [(r["k"], r["state"]) for r in job["runs"]] == [(1, "pending"), (2, "pending")]
    seen: list[dict] = []
    job = server.wait(job["id"], finished, seen=seen)
    assert job["state"] == "done", job
    assert job["error"] is None and job["warning"] is None
    states = [s["state"] for s in seen]
    assert "running" in states
    done = [s["progress"]["done"] for s in seen]
    assert done == sorted(done) and job["progress"] == {"done": 2, "total": 2}

    # the evidence rows agree with summary.json and with the sweep read from disk by nestmix
    summary = server.client.get(f"/jobs/{job['id']}/summary.json").json()
    on_disk = load_sweep(server.runs / "basic")
    assert on_disk.missing == ()
    api = {r["k"]: r["row"]["logZ"] for r in job["runs"]}
    assert api == {r["k"]: r["logZ"] for r in summary["rows"]}
    assert api == {r.k: r.logZ for r in on_disk.rows}

    report = server.client.get(f"/jobs/{job['id']}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "nestmix report: basic" in report.text
    assert str(server.runs) not in report.text  # no server paths in a served report
    for row in on_disk.rows:
        assert f"{row.logZ:.3f}" in report.text
    assert job["links"]["report"] == f"/jobs/{job['id']}/report"
    assert "K=2 dynesty" in server.client.get(f"/jobs/{job['id']}/log").text
    assert main(["show", str(server.runs / "basic")]) == 0  # the CLI reads what it wrote
    assert f"{on_disk.rows[1].logZ:.3f}" in capsys.readouterr().out


def test_the_service_resumes_a_sweep_the_cli_started(server, tmp_path):
    (tmp_path / "galaxies.txt").write_bytes(DATA)
    (tmp_path / "sweep.toml").write_text(
        config("from-cli", k=(1,)).replace("[data]\n", '[data]\npath = "galaxies.txt"\n'))
    assert main(["sweep", str(tmp_path / "sweep.toml"), "--out",
                 str(server.runs / "from-cli"), "--jobs", "1", "--quiet", "--no-report"]) == 0
    cli_logz = load_sweep(server.runs / "from-cli").rows[0].logZ
    job = server.submit(config("from-cli", k=(1,)), figures="false").json()
    job = server.wait(job["id"], finished)
    assert job["state"] == "done"
    assert job["runs"][0]["row"]["logZ"] == cli_logz
    log = server.client.get(f"/jobs/{job['id']}/log").text
    assert "K=1 dynesty: reused finished run" in log and "running K" not in log


def test_the_docs_show_the_service_in_three_commands(server):
    page = (Path(__file__).resolve().parents[1] / "docs" / "service.md").read_text()
    section = page.split("# The service: `nestmix serve`", 1)[1]
    lines = section.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("nestmix serve ")
    fields = dict(re.findall(r"-F (\w+)=@(\S+)", lines[1]))
    assert set(fields) == {"config", "data"}
    root = Path(__file__).resolve().parents[1]
    files = {key: (Path(path).name, (root / path).read_bytes()) for key, path in fields.items()}
    response = server.client.post("/jobs", files=files)  # the bundled example is accepted
    assert response.status_code == 201, response.text
    assert response.json()["progress"]["total"] == 4
    assert server.client.delete(f"/jobs/{response.json()['id']}").status_code == 200


def test_openapi_description_and_page(server):
    spec = server.client.get("/openapi.json").json()
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/report",
            "/jobs/{job_id}/summary.json"} <= set(spec["paths"])
    assert {"get", "post"} <= set(spec["paths"]["/jobs"])
    assert "delete" in spec["paths"]["/jobs/{job_id}"]
    page = server.client.get("/")
    assert page.status_code == 200
    assert 'id="submit-form"' in page.text and 'type="file"' in page.text
    assert "setInterval(refresh" in page.text  # the page polls instead of reloading


# ------------------------------------------------------------------------ cancel and crash
def test_cancel_a_queued_and_a_running_job_and_a_worker_error(server):
    long = config(k=(1, 2, 3, 4, 5, 6), nlive=40)
    first = server.submit(long, name="long-a").json()
    second = server.submit(long, name="long-b").json()
    third = server.submit(long, name="long-c").json()  # two workers: this one waits
    busy = server.submit(long, name="long-a")  # the same sweep twice at once
    assert busy.status_code == 409 and "is already running the sweep" in busy.json()["detail"]
    # a queued job whose sweep directory is damaged before it starts: its worker fails
    damaged = server.submit(config("damaged", k=(1,)), figures="false").json()
    (server.runs / "damaged" / "manifest.json").write_text("{not json")
    assert third["state"] == damaged["state"] == "queued"
    cancelled = server.client.delete(f"/jobs/{third['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["started"] is None and cancelled.json()["attempts"] == 0

    # live progress of a running run, read from its progress.json (nestmix.runtime.progress)
    live = server.wait(first["id"], lambda j: any(r["ncall"] > 0 for r in j["live"]))["live"]
    run = next(r for r in live if r["ncall"] > 0)
    assert run["sampler"] == "dynesty" and run["k"] in range(1, 7) and run["model"] == "full"
    assert run["elapsed"] >= 0 and run["goal"] == pytest.approx(0.1)
    assert run["text"].startswith(f"K={run['k']} dynesty (full): {run['ncall']:,} calls, Δln Z")
    assert "live.text" in server.client.get("/").text  # the page shows it
    job = server.wait(first["id"], lambda j: j["progress"]["done"] >= 1)
    assert job["state"] == "running"
    pid = job["pid"]
    response = server.client.delete(f"/jobs/{first['id']}")
    assert response.status_code == 200
    job = response.json()
    assert job["state"] == "cancelled" and job["pid"] is None
    assert pid not in runner_pids(server.runs)
    kept = load_sweep(server.runs / "long-a")  # finished runs stay on disk
    assert len(kept.rows) == job["progress"]["done"] >= 1 and kept.missing
    assert server.client.delete(f"/jobs/{first['id']}").status_code == 409
    other = server.submit(config(k=(1, 2, 3, 4, 5, 6), nlive=100), name="long-a")
    assert other.status_code == 409
    assert "runs/long-a holds a sweep made with different sampler settings (dynesty.settings" \
        ".nlive: was 40, now 100)" in other.json()["detail"]
    moved = server.submit(long, data=b"9.5\n" + DATA, name="long-a")  # other data
    assert moved.status_code == 409 and "different data" in moved.json()["detail"]
    assert "<upload>" in moved.json()["detail"]  # not the other job's file on the server
    assert str(server.runs) not in moved.json()["detail"]
    assert server.client.get(f"/jobs/{first['id']}/report").status_code == 404
    time.sleep(1.5)  # the supervisor does not overwrite a cancellation
    assert server.job(first["id"])["state"] == "cancelled"
    job = server.wait(damaged["id"], finished)  # it got the worker long-a had
    assert job["state"] == "failed"
    assert job["error"].startswith("cannot read runs/damaged/manifest.json")  # no server path
    assert server.client.delete(f"/jobs/{second['id']}").json()["state"] == "cancelled"
    assert server.job(third["id"])["state"] == "cancelled"


def test_a_crashed_worker_fails_its_job_and_the_service_goes_on(server):
    job = server.submit(config("crash", k=(1, 2, 3), nlive=60), figures="false").json()
    job = server.wait(job["id"], lambda j: j["pid"] is not None or finished(j))
    assert job["state"] == "running"
    os.kill(job["pid"], signal.SIGKILL)
    job = server.wait(job["id"], finished)
    assert job["state"] == "failed"
    assert job["error"] == "the worker process was killed by signal SIGKILL (9)"
    after = server.submit(config("after-crash", k=(1,)), figures="false").json()
    after = server.wait(after["id"], finished)
    assert after["state"] == "done"


# ------------------------------------------------------------------------ refusing input
@pytest.mark.parametrize(("text", "data", "data_name", "status", "message"), [
    (config("big"), b"9.5\n" * 20_000, "big.txt", 413, "the limit is 52,428 bytes"),
    ("name = 'x'\n[sweep\nk = [1]", DATA, "g.txt", 400, "config: is not valid TOML"),
    (config("typo").replace("nlive", "nlve"), DATA, "g.txt", 400,
     "unknown dynesty setting 'nlve' (did you mean 'nlive'?)"),
    (config("nan"), DATA.replace(b"\n", b"\nnan\n", 1), "g.txt", 400,
     "values contain 1 non-finite entry (NaN or inf); first at point 1 (line 2)"),
    (config("text"), DATA + b"fast\n", "g.txt", 400, "cannot read 'fast' as a number"),
    (config("exe"), DATA, "g.exe", 400, "unsupported data file type '.exe'"),
    ('{"name": "j", "data": {"scale": NaN}}', DATA, "g.txt", 400,
     "NaN is not a number a config may hold"),
    (config("inf").replace("scale = 0.001", "scale = inf"), DATA, "g.txt", 400,
     "data.scale: inf is not a value a sweep config may hold"),
    (config("kzero", k=(0,)), DATA, "g.txt", 400, "sweep.k: must be a list of integers >= 1"),
    (config("custom", extra="") + '[[model.extra_components]]\nfamily = "mylib.models:Arm"\n',
     DATA, "g.txt", 400, "custom Python components are not accepted over HTTP"),
    (config("empty"), b"", "g.txt", 400, "the uploaded data file is empty"),
    ('{"a": ' * 5000 + "1" + "}" * 5000, DATA, "g.txt", 400, "config: is nested too deeply"),
    ("x = " + "[" * 900 + "]" * 900, DATA, "g.txt", 400, "config: is nested"),
    (config("deep") + "[model.x]\n" + "y = " + "[" * 30 + "]" * 30, DATA, "g.txt", 400,
     "config: is nested more than 20 levels deep"),
], ids=["too-large", "bad-toml", "unknown-setting", "nan-data", "text-data", "file-type",
        "json-nan", "toml-inf", "k-zero", "custom-component", "empty-data", "deep-json",
        "deep-toml", "deep-table"])
def test_bad_uploads_are_refused_with_a_message(server, text, data, data_name, status,
                                                message):
    before = len(server.client.get("/jobs").json()["jobs"])
    response = server.submit(text, data=data, data_name=data_name)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert "/.service/jobs/" not in response.json()["detail"]  # no server paths shown
    assert len(server.client.get("/jobs").json()["jobs"]) == before


def test_missing_parts_are_named(server):
    response = server.client.post("/jobs", files={"config": ("c.toml", config("x").encode())})
    assert response.status_code == 422
    assert response.json()["detail"] == "data: Field required"


def test_paths_from_clients_cannot_leave_the_runs_directory(server):
    outside = server.runs.parent
    before = sorted(p.name for p in outside.iterdir())
    cases = [
        (config(), {"name": "../evil"}, "name: '../evil' is not a usable sweep name"),
        (config("../../evil"), {}, "name: '../../evil' is not a usable sweep name"),
        (config("..", k=(1,)), {}, "name: '..' is not a usable sweep name"),
    ]
    for text, form, message in cases:
        response = server.submit(text, **form)
        assert response.status_code == 400, response.text
        assert message in response.json()["detail"]
    # a data file name with a path is only used for its suffix
    job = server.submit(config("named", k=(1,)), data_name="../../escape.txt",
                        figures="false").json()
    job = server.wait(job["id"], finished)
    assert job["state"] == "done"
    assert (server.runs / ".service" / "jobs" / job["id"] / "data.txt").read_bytes() == DATA
    assert sorted(p.name for p in outside.iterdir()) == before
    for path in ("/jobs/..%2F..%2Fetc%2Fpasswd", "/jobs/..%2F..%2Fetc/report",
                 f"/jobs/{job['id']}%2F..%2F..", "/jobs/0000000000000000/summary.json"):
        assert server.client.get(path).status_code == 404, path


# ------------------------------------------------------------------------------- access
def test_a_token_is_needed_on_every_request_but_the_health_check(tmp_path):
    database = tmp_path / "elsewhere" / "jobs.db"
    database.parent.mkdir()
    server = Server(tmp_path / "runs", "--workers", "1", "--db", f"sqlite:///{database}",
                    token=TOKEN).start()
    try:
        anonymous = httpx.Client(base_url=server.url, timeout=30)
        assert anonymous.get("/health").status_code == 200
        for method, path in [("GET", "/"), ("GET", "/jobs"), ("GET", "/openapi.json"),
                             ("GET", "/jobs/0123456789abcdef"), ("DELETE", "/jobs/x")]:
            response = anonymous.request(method, path)
            assert response.status_code == 401, (method, path)
            assert "needs a token" in response.json()["detail"]
        wrong = {"Authorization": "Bearer wrong-token-123"}
        assert anonymous.get("/jobs", headers=wrong).status_code == 401
        refused = anonymous.post("/jobs", files={"config": ("c.toml", config("x").encode()),
                                                 "data": ("g.txt", DATA)})
        assert refused.status_code == 401
        assert server.client.get("/jobs").json() == {"jobs": []}  # nothing was queued
        # a browser opens /?token=... once and gets a cookie for the page's requests
        assert anonymous.get("/", params={"token": "wrong-token-123"}).status_code == 401
        opened = anonymous.get("/", params={"token": TOKEN})
        assert opened.status_code == 303 and opened.headers["location"] == "/"
        assert "httponly" in opened.headers["set-cookie"].lower()
        assert anonymous.get("/").status_code == 200  # the client kept the cookie
        # the token holder: requests from elsewhere than the page are still refused
        response = server.client.post("/jobs", headers={"Origin": "http://evil.example"},
                                      files={"config": ("c.toml", config("x").encode()),
                                             "data": ("g.txt", DATA)})
        assert response.status_code == 403
        assert server.client.get("/jobs", headers={"Host": "evil.example"}).status_code == 403
        job = server.submit(config("with-token", k=(1,)), figures="false")
        assert job.status_code == 201
        cancelled = server.client.delete(f"/jobs/{job.json()['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        anonymous.close()
    finally:
        assert server.stop()
    with sqlite3.connect(database) as db:  # the job state went to the database named by --db
        assert db.execute("SELECT name, state FROM jobs").fetchall() == [("with-token",
                                                                          "cancelled")]
    assert not (tmp_path / "runs" / ".service" / "jobs.sqlite").exists()


def test_binding_beyond_loopback_needs_a_token(capsys, monkeypatch):
    monkeypatch.delenv("NESTMIX_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--runs", "unused"]) == 2
    assert "needs a token: give --token or set NESTMIX_TOKEN" in capsys.readouterr().err


def test_an_unusable_database_url_is_named(tmp_path, capsys):
    assert main(["serve", "--runs", str(tmp_path / "runs"), "--db", "not-a-url"]) == 2
    assert "--db: cannot use the database 'not-a-url': ArgumentError" in capsys.readouterr().err


def test_one_server_per_runs_directory(server, capsys):
    assert main(["serve", "--runs", str(server.runs), "--port", str(free_port())]) == 2
    assert "another nestmix serve is using" in capsys.readouterr().err


# ------------------------------------------------------------------------------ restart
@pytest.mark.slow
def test_a_restarted_server_resumes_interrupted_and_queued_jobs(tmp_path):
    runs = tmp_path / "runs"
    database = runs / ".service" / "jobs.sqlite"
    server = Server(runs, "--workers", "1").start()
    try:
        # run for run comparisons below: no seeds added by the convergence check (its own
        # tests cover it; with nlive 30 it may add some and change a row after the restart)
        interrupted = server.submit(config("interrupted", k=(1, 2, 3), nlive=30,
                                           sweep="escalate = 0\n"),
                                    figures="false").json()
        queued = server.submit(config("waiting", k=(1,)), figures="false").json()
        job = server.wait(interrupted["id"], lambda j: j["progress"]["done"] >= 1)
        assert job["state"] == "running" and server.job(queued["id"])["state"] == "queued"
        first = {r["k"]: r["row"] for r in job["runs"] if r["row"]}
        orphan = job["pid"]
    finally:
        server.stop(signal.SIGKILL)  # a crash: the worker is left running on its own

    # 1. after a crash: the old worker is stopped, the job resumes from the K it finished
    server = Server(runs, "--workers", "1").start()
    try:
        assert orphan not in runner_pids(runs)  # stopped by the new server
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the new worker has looked at the disk
            log = server.client.get(f"/jobs/{interrupted['id']}/log").text
            attempt = log.partition("--- attempt 2")[2]
            if "running K" in attempt or "report written" in attempt:
                break
            time.sleep(0.1)
        assert "K=1 dynesty: reused finished run" in attempt, log
        job = server.job(interrupted["id"])
        for k, row in first.items():  # the runs finished before the crash were reused
            again = next(r["row"] for r in job["runs"] if r["k"] == k)
            assert again["seconds"] == row["seconds"] and again["logZ"] == row["logZ"]
        second = {r["k"]: r["row"] for r in job["runs"] if r["row"]}
    finally:
        assert server.stop()  # 2. a clean shutdown: workers stopped, their jobs queued again
    assert runner_pids(runs) == []
    with sqlite3.connect(database) as db:
        states = dict(db.execute("SELECT name, state FROM jobs").fetchall())
    assert states["interrupted"] in ("queued", "done")  # done if it finished before the stop
    assert states["waiting"] == "queued"

    server = Server(runs, "--workers", "1").start()
    try:
        job = server.wait(interrupted["id"], finished)
        assert job["state"] == "done"
        assert job["attempts"] == (2 if states["interrupted"] == "done" else 3)
        for k, row in second.items():
            again = next(r["row"] for r in job["runs"] if r["k"] == k)
            assert again["seconds"] == row["seconds"]
        waiting = server.wait(queued["id"], finished)
        # started once, or twice if the first job finished early and the clean stop caught it
        assert waiting["state"] == "done"
        assert waiting["attempts"] == 1 or (states["interrupted"] == "done"
                                            and waiting["attempts"] == 2)
    finally:
        assert server.stop()
    assert runner_pids(runs) == []


# --------------------------------------------------------------------------------- load
@pytest.mark.slow
def test_twenty_jobs_and_two_hundred_status_requests(tmp_path):
    runs = tmp_path / "runs"
    server = Server(runs, "--workers", "2").start()
    statuses: list[int] = []
    running_at_once: list[int] = []
    lock = threading.Lock()
    try:
        text = config(k=(1,), nlive=20)

        def submit(i: int) -> httpx.Response:
            return server.submit(text, name=f"load-{i:02d}", figures="false")

        with ThreadPoolExecutor(20) as pool:
            submitted = list(pool.map(submit, range(20)))
        assert [r.status_code for r in submitted] == [201] * 20, [r.text for r in submitted]
        ids = [r.json()["id"] for r in submitted]
        assert len(set(ids)) == 20

        def poll(i: int) -> None:
            path = "/jobs" if i % 4 == 0 else f"/jobs/{ids[i % 20]}"
            response = server.client.get(path)
            with lock:
                statuses.append(response.status_code)
                if path == "/jobs" and response.status_code == 200:
                    running_at_once.append(sum(j["state"] == "running"
                                               for j in response.json()["jobs"]))
            time.sleep(0.05)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(poll, range(200)))
        assert statuses == [200] * 200
        jobs = [server.wait(i, finished, timeout=600) for i in ids]
        assert [j["state"] for j in jobs] == ["done"] * 20
        assert 1 <= max(running_at_once) <= 2  # they ran while polled, on at most 2 workers
    finally:
        assert server.stop()

    with sqlite3.connect(runs / ".service" / "jobs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT id, name, state, created, started, finished, attempts, pid, "
                          "n_runs, n_done FROM jobs").fetchall()
        assert len(rows) == 20
        for job_id, name, state, created, started, done_at, attempts, pid, n_runs, n_done \
                in rows:
            assert (state, attempts, pid, n_runs, n_done) == ("done", 1, None, 1, 1)
            assert created <= started <= done_at
            runs_rows = db.execute("SELECT k, sampler, state, row FROM job_runs "
                                   "WHERE job_id = ?", (job_id,)).fetchall()
            assert [r[:3] for r in runs_rows] == [(1, "dynesty", "done")]
            summary = json.loads((runs / name / "summary.json").read_text())
            assert json.loads(runs_rows[0][3])["logZ"] == summary["rows"][0]["logZ"]
        orphans = db.execute("SELECT count(*) FROM job_runs WHERE job_id NOT IN "
                             "(SELECT id FROM jobs)").fetchone()
        assert orphans == (0,)


def test_a_job_cannot_ask_for_more_processes_than_the_service_runs():
    """``--workers`` bounds a job's dynesty pool (the service's limit wins over the client's)."""
    from nestmix.errors import ConfigError
    from nestmix.service.intake import check_processes
    from nestmix.sweep.config import plan_from_mapping

    raw = {"data": {"path": "galaxies_roeder1990.txt", "scale": 0.001},
           "model": {"priors": {"mean": {"dist": "norm", "loc": 20, "scale": 10},
                                "variance": {"dist": "invgamma", "a": 3, "scale": 20}}},
           "sweep": {"k": [1], "pool": 2}}
    plan, _ = plan_from_mapping(raw, base=Path(__file__).resolve().parents[1] / "nestmix"
                                / "examples")
    check_processes(plan, 2)
    with pytest.raises(ConfigError, match="asks for 2 processes per run; this service runs "
                                          "at most 1 per job"):
        check_processes(plan, 1)
