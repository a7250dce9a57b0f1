"""The HTTP interface: the jobs API, the report and the files it links, and the web page."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy import select

from nestmix._version import __version__
from nestmix.errors import ConfigError, RunStoreError
from nestmix.service.costing import job_cost, job_limit
from nestmix.service.db import ACTIVE, Job, JobRun, now
from nestmix.service.files import MEDIA_TYPES, REPORT, resolve_linked
from nestmix.service.grid_jobs import job_runs
from nestmix.service.intake import Submission, prepare_submission
from nestmix.service.page import render_page
from nestmix.service.redact import redact_html, redact_json, redact_paths
from nestmix.service.schemas import Health, JobList, JobOut
from nestmix.store.grid import prepare_grid
from nestmix.store.runs import RunStore
from nestmix.sweep.cost import CostEstimate
from nestmix.sweep.plan import SweepPlan

__all__ = ["JobOut", "router"]

router = APIRouter()
_INTAKE = threading.Lock()
MAX_CONFIG_BYTES = 2**20
_JOB_ID = re.compile(r"^[0-9a-f]{16}$")
_TEXT = (".csv", ".md", ".json", ".txt")


def _service(request: Request):
    return request.app.state.service


def _job(request: Request, job_id: str) -> Job:
    job = _service(request).db.job(job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


def _out(request: Request, job_id: str) -> JobOut:
    out = _service(request).replies.job(job_id) if _JOB_ID.match(job_id) else None
    if out is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return out


async def _answer(request: Request, build):
    """``build()``: on the event loop for SQLite (a cached reply is a look-up; a changed job
    costs one short read of SQLite's write-ahead log, never blocked by a writer: 20 pollers
    on threads would queue behind each other for the GIL instead), on a thread for a database
    across a network."""
    db = _service(request).db
    if db.engine.dialect.name == "sqlite":
        return build()
    return await run_in_threadpool(build)


@router.get("/health", response_model=Health, tags=["service"])
def health() -> Health:
    """Liveness check (needs no token)."""
    return Health(status="ok")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    return HTMLResponse(render_page(__version__))


@router.post("/jobs", response_model=JobOut, status_code=201, tags=["jobs"],
             responses={400: {"description": "a malformed config or bad data (the message "
                                             "names the problem), or a cost estimate above "
                                             "max_minutes (the message says how to narrow "
                                             "the sweep)"},
                        409: {"description": "the sweep's directory is in use or holds "
                                             "another sweep"},
                        413: {"description": "the upload is over the size limit"}})
def submit(
    request: Request, response: Response,
    data: Annotated[UploadFile, File(description="the data: .csv with a header, .txt / .dat "
                                                 "whitespace-separated numbers, or .npy")],
    config: Annotated[UploadFile | None, File(
        description="the sweep config, TOML or JSON (the schema of `nestmix sweep`); its "
                    "data.path is replaced by the upload. Without it: the zero-configuration "
                    "sweep of the data, as `nestmix sweep points.csv`")] = None,
    name: Annotated[str | None, Form(description="the sweep's name (default: the config's; "
                                                 "without a config, the data file's stem)")]
    = None,
    figures: Annotated[bool, Form(description="draw the report's figures")] = True,
    columns: Annotated[str | None, Form(description="without a config: the CSV's value "
                                                    "columns, comma-separated")] = None,
    kmax: Annotated[int | None, Form(description="without a config: the largest K")] = None,
    covariance: Annotated[str | None, Form(description="without a config: covariance "
                                                       "models, comma-separated")] = None,
    background: Annotated[str | None, Form(description="without a config: none and/or "
                                                       "uniform, comma-separated")] = None,
    max_minutes: Annotated[float | None, Form(
        description="refuse the job when its cost estimate is above this many minutes "
                    "(default: the config's sweep.max_minutes, else 30; 0: no limit, up to "
                    "the service's own limit)")] = None,
) -> JobOut:
    """Queue a sweep. It runs in ``<runs>/<name>``; a finished sweep of the same name and the
    same data, model and settings is resumed (its finished runs are reused). Each job runs in
    one worker process (``sweep.jobs`` is not used). Its cost is estimated first ("16 runs,
    about 12 minutes on 1 core", the job's ``cost``) and a job above ``max_minutes`` is
    refused."""
    service = _service(request)
    text = None
    if config is not None:
        text = config.file.read(MAX_CONFIG_BYTES + 1)
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError("config", f"is over {MAX_CONFIG_BYTES:,} bytes; a sweep config "
                              "is a few hundred")
    options = {"columns": _listed(columns, keep_empty=True), "kmax": kmax,
               "covariance": _listed(covariance), "background": _listed(background)}
    with _INTAKE:  # one upload parsed (and its likelihood timed) at a time
        submission = prepare_submission(
            service.settings.runs, service.settings.service_dir / "jobs", text,
            config.filename if config is not None else None, data.file, data.filename,
            name or None, max_processes=service.settings.workers, zero_config=options)
        try:
            estimate = _estimate(service, submission, max_minutes, zero_config=config is None)
        except BaseException:
            shutil.rmtree(submission.job_dir, ignore_errors=True)
            raise
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
                      n_runs=len(job_runs(plan)), n_done=0,
                      cost=None if estimate is None else json.dumps(estimate.to_dict()))
            job.runs = [JobRun(k=k, sampler=s, state="pending") for k, s in job_runs(plan)]
            session.add(job)
    except BaseException:
        shutil.rmtree(submission.job_dir, ignore_errors=True)
        raise
    service.supervisor.wake()
    response.headers["Location"] = f"/jobs/{job.id}"
    return _out(request, job.id)


def _estimate(service: Any, submission: Submission, asked: float | None,
              zero_config: bool) -> CostEstimate | None:
    """The job's cost estimate (None: nothing left to run, or its runs go to a Dask cluster
    whose cores are not known here); a job above its limit is refused."""
    limit, lift = job_limit(asked, submission.max_minutes, service.settings.max_minutes)
    if service.settings.dask is not None:
        return None
    return job_cost(submission.plan, service.sweep_dir(submission.plan.name), limit, lift,
                    zero_config)


def _listed(text: str | None, keep_empty: bool = False) -> list[str] | None:
    """A comma-separated form field as a list (None when not given)."""
    if text is None or (not text.strip() and not keep_empty):
        return None
    items = [item.strip() for item in text.split(",")]
    return items if keep_empty else [item for item in items if item]


@router.get("/jobs", response_model=JobList, tags=["jobs"])
async def list_jobs(request: Request) -> Response:
    """Every job, newest first."""
    body = await _answer(request, _service(request).replies.jobs_body)
    return Response(body, media_type="application/json")


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
async def get_job(request: Request, job_id: str) -> Response:
    """A job's state, per-(K, sampler) progress and the evidence rows so far."""
    replies = _service(request).replies
    body = await _answer(request, lambda: replies.job_body(job_id)
                         if _JOB_ID.match(job_id) else None)
    if body is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return Response(body, media_type="application/json")


@router.delete("/jobs/{job_id}", response_model=JobOut, tags=["jobs"],
               responses={409: {"description": "the job has already finished"}})
def cancel_job(request: Request, job_id: str) -> JobOut:
    """Cancel a queued or running job; the runs it finished stay on disk."""
    job = _job(request, job_id)
    if not _service(request).supervisor.cancel(job.id):
        job = _job(request, job_id)
        raise HTTPException(409, f"job {job.id} has already finished ({job.state})")
    return _out(request, job_id)


@router.get("/jobs/{job_id}/report", response_class=HTMLResponse, tags=["results"])
def report(request: Request, job_id: str) -> HTMLResponse:
    """The job's HTML report (figures embedded), once the job is done. The files it links
    (its tables as CSV, each run's posterior samples) are served beside it:
    ``/jobs/{job_id}/<link>``."""
    job = _job(request, job_id)
    path = _service(request).sweep_dir(job.name) / REPORT
    if job.state != "done" or not path.is_file():
        why = job.warning or "it is written when the job is done"
        raise HTTPException(404, f"job {job.id} ({job.state}) has no report: {why}")
    page = redact_html(path.read_text(encoding="utf-8"), _service(request).settings.runs)
    return HTMLResponse(page)


@router.get("/jobs/{job_id}/summary.json", tags=["results"])
def summary(request: Request, job_id: str) -> Any:
    """The sweep's ``summary.json``: the evidence table of the runs finished so far."""
    job = _job(request, job_id)
    path = _service(request).sweep_dir(job.name) / "summary.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        raise HTTPException(404, f"job {job.id} ({job.state}) has no summary yet") from None
    return redact_json(table, _service(request).settings.runs)


@router.get("/jobs/{job_id}/log", response_class=PlainTextResponse, tags=["results"])
def log(request: Request, job_id: str) -> PlainTextResponse:
    """The end of the worker's output (every attempt)."""
    job = _job(request, job_id)
    service = _service(request)
    lines = service.supervisor.log_tail(job.id)
    return PlainTextResponse(redact_paths("\n".join(lines) + "\n", service.settings.runs))


@router.get("/jobs/{job_id}/{path:path}", tags=["results"],
            responses={200: {"description": "the file", "content": {
                "text/csv": {}, "text/html": {}, "image/png": {}}}})
def linked_file(request: Request, job_id: str, path: str) -> Response:
    """A file the job's report links (``evidence.csv``, ``K=2/dynesty/posterior.csv``, a
    grid's ``model=<label>/report.html``, ...), once the job is done; nothing else of the
    sweep's directory is served."""
    job = _job(request, job_id)
    service = _service(request)
    directory = service.sweep_dir(job.name)
    target = resolve_linked(directory, path) if job.state == "done" else None
    if target is None:
        raise HTTPException(404, f"job {job.id} ({job.state}): its report links no file "
                                 f"{path!r}")
    suffix = target.suffix.lower()
    media = MEDIA_TYPES.get(suffix, "application/octet-stream")
    if suffix == ".html":
        return Response(redact_html(target.read_text(encoding="utf-8"),
                                    service.settings.runs), media_type=media)
    if suffix in _TEXT:
        return Response(redact_paths(target.read_text(encoding="utf-8"),
                                     service.settings.runs), media_type=media)
    return Response(target.read_bytes(), media_type=media)


def _prepare(plan: SweepPlan, directory: Path) -> None:
    """Create the sweep's directory, or check that it may be resumed (every model's, for a
    grid), before the job is queued."""
    if plan.is_grid:
        prepare_grid(directory, plan.manifest())
    for _, sub, where in plan.model_sweeps(directory):
        RunStore(where).prepare(sub.manifest(), sub.samplers)
