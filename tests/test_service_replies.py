"""What a poll costs (issue 33, L9): a job's reply is rebuilt only after a write to that job, a
running job's progress files are read at most every ``live_seconds``, and the replies show no
server path. A real SQLite database and real progress files, no server.
"""

from __future__ import annotations

import json
from pathlib import Path

from nestmix.runtime.atomic import write_json_atomic
from nestmix.runtime.progress import PROGRESS_FILE, start_progress
from nestmix.service.db import Database, Job, JobRun, now
from nestmix.service.replies import Replies


def add_job(db: Database, job_id: str, name: str, state: str = "queued") -> None:
    with db.write() as session:
        job = Job(id=job_id, name=name, state=state, created=now(), attempts=0, figures=False,
                  data_file="data.txt", n_runs=1, n_done=0)
        job.runs = [JobRun(k=1, sampler="dynesty", state="pending")]
        session.add(job)


def test_a_reply_is_rebuilt_only_after_a_write_to_its_job(tmp_path):
    runs = tmp_path / "runs"
    db = Database(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    replies = Replies(db, lambda name: runs / name, runs)
    a, b = "a" * 16, "b" * 16
    add_job(db, a, "first")
    add_job(db, b, "second")
    body_a, body_b = replies.job_body(a), replies.job_body(b)
    assert replies.job_body(a) is body_a and replies.job_body(b) is body_b  # from memory
    listed = replies.jobs_body()
    assert replies.jobs_body() is listed
    assert [job["id"] for job in json.loads(listed)["jobs"]] == [b, a]  # newest first

    with db.write() as session:  # the supervisor records a run of job b
        run = session.get(JobRun, (b, 1, "dynesty"))
        run.state = "done"
        run.row = json.dumps({"k": 1, "logZ": -3.5,
                              "warnings": [f"see {runs.resolve()}/second/K=1"]})
        session.get(Job, b).n_done = 1
    assert replies.job_body(a) is body_a  # job a did not change: not rebuilt
    again = json.loads(replies.job_body(b))
    assert again["progress"] == {"done": 1, "total": 1}
    assert again["runs"][0]["row"]["warnings"] == ["see runs/second/K=1"]  # no server path
    assert json.loads(replies.jobs_body())["jobs"][0] == again
    assert replies.job_body("c" * 16) is None
    db.dispose()


def test_live_progress_is_read_again_after_live_seconds(tmp_path):
    runs = tmp_path / "runs"
    db = Database(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    job_id = "d" * 16
    add_job(db, job_id, "live", state="running")
    workdir = runs / "live" / "K=1" / ".dynesty.work"
    workdir.mkdir(parents=True)
    start_progress(workdir, k=1, sampler="dynesty", model="full")
    fresh = Replies(db, lambda name: runs / name, runs, live_seconds=0.0)
    held = Replies(db, lambda name: runs / name, runs, live_seconds=3600.0)
    for replies in (fresh, held):
        live = json.loads(replies.job_body(job_id))["live"]
        assert [(r["k"], r["ncall"]) for r in live] == [(1, 0)]

    fields = json.loads((workdir / PROGRESS_FILE).read_text())
    write_json_atomic(workdir / PROGRESS_FILE, {**fields, "ncall": 12345})  # the run goes on
    # no write to the database, yet the reply shows the run's progress as it is now...
    assert [r["ncall"] for r in json.loads(fresh.job_body(job_id))["live"]] == [12345]
    assert "12,345 calls" in json.loads(fresh.jobs_body())["jobs"][0]["live"][0]["text"]
    # ...read at most every live_seconds, whoever polls
    assert [r["ncall"] for r in json.loads(held.job_body(job_id))["live"]] == [0]
    (workdir / PROGRESS_FILE).unlink()  # the run ended
    assert json.loads(fresh.job_body(job_id))["live"] == []
    db.dispose()


def test_the_list_answers_without_the_runs_directory(tmp_path):
    runs = tmp_path / "runs"
    db = Database(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    add_job(db, "e" * 16, "broken", state="failed")
    with db.write() as session:
        session.get(Job, "e" * 16).error = f"cannot read {runs.resolve()}/broken/manifest.json"
    replies = Replies(db, lambda name: runs / name, runs)
    body = replies.jobs_body().decode()
    assert str(Path(runs).resolve()) not in body
    assert json.loads(body)["jobs"][0]["error"] == "cannot read runs/broken/manifest.json"
    db.dispose()


def test_polls_are_answered_before_routing_and_after_the_guard(tmp_path):
    """``GET /jobs/<id>`` and ``GET /jobs`` through the app (in this process, no server): a
    known job from the replies' memory, an unknown one by the route (404), nothing without the
    token."""
    import asyncio

    from nestmix.service.app import create_app
    from nestmix.service.settings import ServiceSettings

    app = create_app(ServiceSettings(runs=tmp_path / "runs", token="poll-token-123"))
    job_id = "a1" * 8

    async def get(path: str, token: str | None) -> tuple[int, dict]:
        headers = [(b"host", b"127.0.0.1:8000")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "headers": headers, "http_version": "1.1",
                 "scheme": "http", "server": ("127.0.0.1", 8000),
                 "client": ("127.0.0.1", 5000), "root_path": "", "app": app}
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], json.loads(body)

    async def scenario() -> list[tuple[int, dict]]:
        async with app.router.lifespan_context(app):
            add_job(app.state.service.db, job_id, "known", state="done")
            return [await get(f"/jobs/{job_id}", "poll-token-123"),
                    await get("/jobs/" + "0" * 16, "poll-token-123"),
                    await get(f"/jobs/{job_id}", None), await get("/jobs", "poll-token-123"),
                    await get("/jobs", None)]

    known, unknown, anonymous, listed, anonymous_list = asyncio.run(scenario())
    assert known[0] == 200 and known[1]["id"] == job_id and known[1]["state"] == "done"
    assert listed == (200, {"jobs": [known[1]]}) and anonymous_list[0] == 401
    assert unknown == (404, {"detail": "no job '0000000000000000'"})
    assert anonymous[0] == 401 and "needs a token" in anonymous[1]["detail"]
