"""The replies of the jobs API as pydantic models (their schema is the OpenAPI description)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from nestmix.service.db import Job
from nestmix.service.redact import redact_json, redact_paths

__all__ = ["Cost", "Health", "JobList", "JobOut", "LiveRun", "Progress", "RunOut", "job_out",
           "live_run"]


class RunOut(BaseModel):
    """One (K, sampler) run of a job."""

    k: int
    sampler: str
    state: Literal["pending", "done", "screened"] = Field(
        description="screened: a coarse-to-fine grid decided not to run it (the report and "
                    "summary.json say why)")
    row: dict[str, Any] | None = Field(
        None, description="the evidence row once done (as in summary.json: logZ, logZ_err, "
                          "ln_bf, p_k, ...); Bayes factors and P(K) among the runs done so far")


class Progress(BaseModel):
    done: int = Field(description="runs settled: finished, or screened out by a "
                                  "coarse-to-fine grid")
    total: int


class LiveRun(BaseModel):
    """A run that is running now, from its ``progress.json`` (:mod:`nestmix.runtime.progress`)."""

    k: int | None = None
    sampler: str | None = None
    model: str | None = None
    ncall: int = 0
    delta_logz: float | None = Field(None, description="evidence left in the live points")
    goal: float | None = Field(None, description="the Δln Z at which the run stops")
    elapsed: float | None = None
    seconds_left: float | None = Field(None, description="estimated; null: not known yet")
    text: str = Field("", description="the same in one line, as the command line prints it")


class Cost(BaseModel):
    """The cost estimate made when the job was submitted (:mod:`nestmix.service.costing`)."""

    line: str = Field(description='e.g. "16 runs, about 12 minutes on 1 core", as `nestmix '
                                  'sweep` prints it')
    runs: int = Field(description="runs still to make when it was submitted")
    cores: int
    screened: bool = Field(description="a models × K grid that may stop raising K: the runs "
                                       "and minutes are an upper bound")
    minutes: float = Field(description="expected wall-clock minutes")
    cpu_minutes: float
    calls: float = Field(description="expected likelihood calls")
    busy_elsewhere: float = Field(description="cores other work kept busy during the pilot")


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
    cost: Cost | None = Field(None, description="the cost estimate made at submission (null: "
                                                "not estimated, e.g. nothing left to run)")


class JobList(BaseModel):
    jobs: list[JobOut]


class Health(BaseModel):
    status: str


def _time(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="seconds")


def job_out(job: Job, report: bool, runs: Path, live: list[dict[str, Any]] | None = None
            ) -> JobOut:
    """The API form of a job (``report``: whether its report.html exists; ``runs``: the runs
    directory, whose path its texts never show; ``live``: what
    :func:`nestmix.runtime.progress.read_progress` read of its running runs)."""
    links = {"self": f"/jobs/{job.id}", "summary": f"/jobs/{job.id}/summary.json",
             "log": f"/jobs/{job.id}/log"}
    if report:
        links["report"] = f"/jobs/{job.id}/report"
    return JobOut(
        id=job.id, name=job.name, state=cast(Any, job.state), created=cast(Any, _time(job.created)),
        started=_time(job.started), finished=_time(job.finished), attempts=job.attempts,
        pid=job.pid, figures=job.figures, progress=Progress(done=job.n_done, total=job.n_runs),
        runs=[RunOut(k=r.k, sampler=r.sampler, state=cast(Any, r.state),
                     row=redact_json(r.row_dict(), runs)) for r in job.runs],
        error=_redacted(job.error, runs), warning=_redacted(job.warning, runs), links=links,
        live=[live_run(fields) for fields in live or ()],
        cost=None if job.cost is None else Cost.model_validate_json(job.cost))


def _redacted(text: str | None, runs: Path) -> str | None:
    return None if text is None else redact_paths(text, runs)


def live_run(fields: dict[str, Any]) -> LiveRun:
    """One entry of :func:`nestmix.runtime.progress.read_progress` as the API shows it."""
    from nestmix.runtime.progress import format_progress

    known = {key: fields.get(key) for key in LiveRun.model_fields if key != "text"}
    known["ncall"] = int(known.get("ncall") or 0)
    return LiveRun.model_validate({**known, "text": format_progress(fields)})
