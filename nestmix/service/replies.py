"""The bodies of ``GET /jobs/{id}`` and ``GET /jobs``, built once and kept until they change.

What a poll costs (issue 33, L9: 20 concurrent pollers): a job's reply is built from the
database only after a write to that job (:meth:`Database.version`), not after any write, so the
supervisor recording one job's progress leaves the other jobs' replies in memory. A running
job's reply also carries the live progress of its runs, read from their ``progress.json``
files; those are read at most every :data:`LIVE_SECONDS` per job (the samplers rewrite them
about once a second), not once per poll, and the reply is rebuilt only when a new reading
arrives. Between changes a poll is a dictionary look-up and a copy of bytes, answered by
:class:`AnswerPolls` before FastAPI's routing (which costs more than the rest of the reply).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.types import ASGIApp, Receive, Scope, Send

from nestmix.service.db import Database, Job
from nestmix.service.schemas import JobList, JobOut, job_out, live_run

__all__ = ["LIVE_SECONDS", "AnswerPolls", "Replies"]

LIVE_SECONDS = 0.5


class Replies:
    """The replies of the jobs API, cached.

    Parameters
    ----------
    db : Database
    sweep_dir : callable
        The sweep directory of a job name.
    runs : Path
        The runs directory (the replies never show its path).
    live_seconds : float
        How long a reading of a running job's progress files is shown before they are read
        again.
    """

    def __init__(self, db: Database, sweep_dir: Callable[[str], Path], runs: Path,
                 live_seconds: float = LIVE_SECONDS) -> None:
        self.db = db
        self.sweep_dir = sweep_dir
        self.runs = runs
        self.live_seconds = live_seconds
        self._live: dict[str, tuple[float, int, list[Any]]] = {}  # job → (read at, n, runs)
        self._bodies: dict[str, tuple[int, int, bytes]] = {}  # (version, reading, body)
        self._list: tuple[Any, bytes] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ one job
    def job(self, job_id: str) -> JobOut | None:
        """The job as the API shows it, live progress included; None if there is none."""
        static = self._static(job_id)
        if static is None or static.state != "running":
            return static
        _, live = self._progress(job_id, static.name)
        return static.model_copy(update={"live": live}) if live else static

    def job_body(self, job_id: str) -> bytes | None:
        """:meth:`job` as JSON bytes, rebuilt only when the job or its progress changed."""
        version = self.db.version(job_id)  # read before building: a write during it is seen
        static = self._static(job_id)
        if static is None:
            return None
        reading = self._progress(job_id, static.name)[0] if static.state == "running" else 0
        held = self._bodies.get(job_id)
        if held is not None and held[:2] == (version, reading):
            return held[2]
        job = self.job(job_id)
        if job is None:
            return None
        body = job.model_dump_json().encode()
        if len(self._bodies) > 10_000:
            self._bodies.clear()
        self._bodies[job_id] = (version, reading, body)
        return body

    def _static(self, job_id: str) -> JobOut | None:
        """The job from the database without live progress (None if there is none)."""
        def build() -> JobOut | None:
            job = self.db.job(job_id)
            return None if job is None else self._out(job)

        return self.db.cached(("job", job_id), build, job_id)

    def _out(self, job: Job) -> JobOut:
        report = job.state == "done" and (self.sweep_dir(job.name) / "report.html").is_file()
        return job_out(job, report, self.runs)

    def _progress(self, job_id: str, name: str) -> tuple[int, list[Any]]:
        """(a number naming the reading, the live runs) of a running job's progress files,
        read again once the last reading is :attr:`live_seconds` old."""
        from nestmix.runtime.progress import read_progress

        now = time.monotonic()
        with self._lock:
            held = self._live.get(job_id)
            if held is not None and now - held[0] < self.live_seconds:
                return held[1], held[2]
            live = [live_run(fields) for fields in read_progress(self.sweep_dir(name))]
            count = 1 if held is None else held[1] + 1
            self._live[job_id] = (now, count, live)
            if len(self._live) > 1000:
                self._live = {job_id: self._live[job_id]}
            return count, live

    # ------------------------------------------------------------------ every job
    def jobs(self) -> list[JobOut]:
        """Every job, newest first, live progress included."""
        def ids() -> list[str]:
            with self.db.read() as session:
                return list(session.scalars(select(Job.id).order_by(Job.created.desc())))

        out = []
        for job_id in self.db.cached(("ids",), ids):
            job = self.job(job_id)
            if job is not None:
                out.append(job)
        return out

    def jobs_body(self) -> bytes:
        """:meth:`jobs` as JSON bytes, rebuilt only when a job or a running job's progress
        changed."""
        version = self.db.version()
        jobs = self.jobs()
        state = (version, tuple(self._live[j.id][1] if j.id in self._live else 0
                                for j in jobs if j.state == "running"))
        if self._list is not None and self._list[0] == state:
            return self._list[1]
        body = JobList(jobs=jobs).model_dump_json().encode()
        self._list = (state, body)
        return body


_POLL = re.compile(r"^/jobs(?:/([0-9a-f]{16}))?$")


class AnswerPolls:
    """ASGI middleware (inside the :class:`~nestmix.service.security.Guard`): ``GET /jobs``
    (what the web page polls) and ``GET /jobs/<id>`` of a known job answered with
    :meth:`Replies.jobs_body` and :meth:`Replies.job_body` directly, without
    FastAPI's routing and dependency resolution, when the database is SQLite (a reply not in
    memory is one short read of its write-ahead log, done on the event loop; another database
    is read on a thread by the routes themselves). Anything else goes on to the app: the
    routes ``GET /jobs`` and ``GET /jobs/{job_id}`` answer the same, and describe it in the
    OpenAPI schema."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _POLL.match(scope["path"]) if scope["type"] == "http" \
            and scope["method"] == "GET" else None
        service = getattr(scope["app"].state, "service", None) if match else None
        if match and service is not None and service.db.engine.dialect.name == "sqlite":
            body = (service.replies.job_body(match[1]) if match[1]
                    else service.replies.jobs_body())
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
