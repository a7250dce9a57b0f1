"""The HTTP interface: the jobs API, the report files and the web page."""

from __future__ import annotations

import json
import re
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from nestmix._version import __version__
from nestmix.errors import ConfigError, RunStoreError
from nestmix.service.db import ACTIVE, Job, JobRun, now
from nestmix.service.grid_jobs import job_runs
from nestmix.service.intake import prepare_submission
from nestmix.service.page import render_page
from nestmix.service.redact import redact_paths
from nestmix.store.grid import model_directory, prepare_grid
from nestmix.store.runs import RunStore
from nestmix.sweep.grid import GridPlan
from nestmix.sweep.plan import SweepPlan

__all__ = ["JobOut", "router"]

router = APIRouter()
_INTAKE = threading.Lock()
MAX_CONFIG_BYTES = 2**20
_JOB_ID = re.compile(r"^[0-9a-f]{16}$")


class RunOut(BaseModel):
    """One (K, sampler) run of a job."""

    k: int
    sampler: str
    state: Literal["pending", "done"]
    row: dict[str, Any] | None = Field(
        None, description="the evidence row once done (as in summary.json: logZ, logZ_err, "
                          "ln_bf, p_k, ...); Bayes factors and P(K) among the runs done so far")


class Progress(BaseModel):
    done: int
    total: int


class LiveRun(BaseModel):
    """A run that is running now, from its ``progress.json`` (:mod:`nestmix.progress`)."""

    k: int | None = None
    sampler: str | None = None
    model: str | None = None
    ncall: int = 0
    delta_logz: float | None = Field(None, description="evidence left in the live points")
    goal: float | None = Field(None, description="the Δln Z at which the run stops")
    elapsed: float | None = None
    seconds_left: float | None = Field(None, description="estimated; null: not known yet")
    text: str = Field("", description="the same in one line, as the command line prints it")


class JobOut(BaseModel):
    """A job: its state, progress per (K, sampler) and links."""

    id: str
    name: str = Field(description="the sweep's name; it lives in <runs>/<name>")
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    created: str
    started: str | None
    finished: str | None
    attempts: int = Field(description="times a worker started it (> 1 after a restart)")
    pid: int | None = Field(description="the worker's process id while running")
    figures: bool
    progress: Progress
    runs: list[RunOut]
    error: str | None = Field(description="why the job failed")
    warning: str | None
    links: dict[str, str]
    live: list[LiveRun] = Field(default_factory=list,
                                description="progress of the runs running now")


class JobList(BaseModel):
    jobs: list[JobOut]


class Health(BaseModel):
    status: str


def _time(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="seconds")


def job_out(job: Job, report: bool, live: list[dict[str, Any]] | None = None) -> JobOut:
    """The API form of a job (``report``: whether its report.html exists; ``live``: what
    :func:`nestmix.progress.read_progress` read of its running runs)."""
    links = {"self": f"/jobs/{job.id}", "summary": f"/jobs/{job.id}/summary.json",
             "log": f"/jobs/{job.id}/log"}
    if report:
        links["report"] = f"/jobs/{job.id}/report"
    return JobOut(
        id=job.id, name=job.name, state=cast(Any, job.state), created=cast(Any, _time(job.created)),
        started=_time(job.started), finished=_time(job.finished), attempts=job.attempts,
        pid=job.pid, figures=job.figures, progress=Progress(done=job.n_done, total=job.n_runs),
        runs=[RunOut(k=r.k, sampler=r.sampler, state=cast(Any, r.state), row=r.row_dict())
              for r in job.runs],
        error=job.error, warning=job.warning, links=links,
        live=[_live(fields) for fields in live or ()])


def _live(fields: dict[str, Any]) -> LiveRun:
    from nestmix.progress import format_progress

    known = {key: fields.get(key) for key in LiveRun.model_fields if key != "text"}
    known["ncall"] = int(known.get("ncall") or 0)
    return LiveRun.model_validate({**known, "text": format_progress(fields)})


def _service(request: Request):
    return request.app.state.service


def _out(request: Request, job: Job) -> JobOut:
    directory = _service(request).sweep_dir(job.name)
    report = job.state == "done" and (directory / "report.html").is_file()
    live = None
    if job.state == "running":
        from nestmix.progress import read_progress

        live = read_progress(directory)
    return job_out(job, report, live)


def _job(request: Request, job_id: str) -> Job:
    job = _service(request).db.job(job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


@router.get("/health", response_model=Health, tags=["service"])
def health() -> Health:
    """Liveness check (needs no token)."""
    return Health(status="ok")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(render_page(__version__))


@router.post("/jobs", response_model=JobOut, status_code=201, tags=["jobs"],
             responses={400: {"description": "a malformed config or bad data (the message "
                                             "names the problem)"},
                        409: {"description": "the sweep's directory is in use or holds "
                                             "another sweep"},
                        413: {"description": "the upload is over the size limit"}})
def submit(
    request: Request, response: Response,
    config: Annotated[UploadFile, File(description="the sweep config, TOML or JSON (the "
                                                   "schema of `nestmix sweep`)")],
    data: Annotated[UploadFile, File(description="the data: .csv with a header, .txt / .dat "
                                                 "whitespace-separated numbers, or .npy")],
    name: Annotated[str | None, Form(description="the sweep's name (default: the config's)")]
    = None,
    figures: Annotated[bool, Form(description="draw the report's figures")] = True,
) -> JobOut:
    """Queue a sweep. It runs in ``<runs>/<name>``; a finished sweep of the same name and the
    same data, model and settings is resumed (its finished runs are reused). Each job runs in
    one worker process (``sweep.jobs`` is not used)."""
    service = _service(request)
    text = config.file.read(MAX_CONFIG_BYTES + 1)
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError("config", f"is over {MAX_CONFIG_BYTES:,} bytes; a sweep config is "
                          "a few hundred")
    with _INTAKE:  # one upload parsed at a time: memory stays that of one
        submission = prepare_submission(
            service.settings.runs, service.settings.service_dir / "jobs", text,
            config.filename, data.file, data.filename, name or None,
            max_processes=service.settings.workers)
    plan = submission.plan
    try:
        with service.db.write() as session:
            busy = session.scalars(select(Job).where(Job.name == plan.name,
                                                     Job.state.in_(ACTIVE))).first()
            if busy is not None:
                raise RunStoreError(f"job {busy.id} ({busy.state}) is already running the "
                                    f"sweep {plan.name!r}; wait for it, cancel it or submit "
                                    "with another name")
            try:
                _prepare(plan, service.sweep_dir(plan.name))
            except RunStoreError as exc:
                shown = redact_paths(str(exc), service.settings.runs)
                raise RunStoreError(f"{shown} (over HTTP: submit with another name)") from None
            job = Job(id=submission.job_id, name=plan.name, state="queued", created=now(),
                      attempts=0, figures=figures, data_file=submission.data_file,
                      n_runs=len(job_runs(plan)), n_done=0)
            job.runs = [JobRun(k=k, sampler=s, state="pending") for k, s in job_runs(plan)]
            session.add(job)
    except BaseException:
        shutil.rmtree(submission.job_dir, ignore_errors=True)
        raise
    service.supervisor.wake()
    response.headers["Location"] = f"/jobs/{job.id}"
    return _out(request, _job(request, job.id))


@router.get("/jobs", response_model=JobList, tags=["jobs"])
def list_jobs(request: Request) -> JobList:
    """Every job, newest first."""
    return JobList(jobs=[_out(request, job) for job in _service(request).db.jobs()])


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
async def get_job(request: Request, job_id: str) -> Response:
    """A job's state, per-(K, sampler) progress and the evidence rows so far."""
    db = _service(request).db

    def build() -> bytes:
        return _out(request, _job(request, job_id)).model_dump_json().encode()

    # answered on the event loop: an unchanged job from memory, a changed one with one short
    # read of SQLite's write-ahead log (never blocked by a writer); 20 concurrent pollers on
    # threads would queue behind each other for the GIL
    body = db.peek(("job", job_id))
    if body is None:
        body = db.cached(("job", job_id), build) if _sqlite(db) else await run_in_threadpool(
            db.cached, ("job", job_id), build)
    return Response(body, media_type="application/json")


def _sqlite(db) -> bool:
    return db.engine.dialect.name == "sqlite"


@router.delete("/jobs/{job_id}", response_model=JobOut, tags=["jobs"],
               responses={409: {"description": "the job has already finished"}})
def cancel_job(request: Request, job_id: str) -> JobOut:
    """Cancel a queued or running job; the runs it finished stay on disk."""
    job = _job(request, job_id)
    if not _service(request).supervisor.cancel(job.id):
        job = _job(request, job_id)
        raise HTTPException(409, f"job {job.id} has already finished ({job.state})")
    return _out(request, _job(request, job_id))


@router.get("/jobs/{job_id}/report", response_class=HTMLResponse, tags=["results"])
def report(request: Request, job_id: str) -> HTMLResponse:
    """The job's HTML report (figures embedded), once the job is done."""
    job = _job(request, job_id)
    path = _service(request).sweep_dir(job.name) / "report.html"
    if job.state != "done" or not path.is_file():
        why = job.warning or "it is written when the job is done"
        raise HTTPException(404, f"job {job.id} ({job.state}) has no report: {why}")
    page = redact_paths(path.read_text(encoding="utf-8"), _service(request).settings.runs)
    return HTMLResponse(page)


@router.get("/jobs/{job_id}/summary.json", tags=["results"])
def summary(request: Request, job_id: str) -> Any:
    """The sweep's ``summary.json``: the evidence table of the runs finished so far."""
    job = _job(request, job_id)
    path = _service(request).sweep_dir(job.name) / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise HTTPException(404, f"job {job.id} ({job.state}) has no summary yet") from None


@router.get("/jobs/{job_id}/log", response_class=PlainTextResponse, tags=["results"])
def log(request: Request, job_id: str) -> PlainTextResponse:
    """The end of the worker's output (every attempt)."""
    job = _job(request, job_id)
    return PlainTextResponse("\n".join(_service(request).supervisor.log_tail(job.id)) + "\n")


def _prepare(plan: SweepPlan | GridPlan, directory: Path) -> None:
    """Create the sweep's directory, or check that it may be resumed (every model's, for a
    grid), before the job is queued."""
    if not isinstance(plan, GridPlan):
        RunStore(directory).prepare(plan.manifest(), plan.samplers)
        return
    prepare_grid(directory, plan.manifest())
    for label, sub in plan.plans:
        RunStore(model_directory(directory, label)).prepare(sub.manifest(), sub.samplers)
