"""The worker supervisor: starts queued jobs, follows them, records how they end.

Each running job is one process (:mod:`nestmix.service.runner`) in a process group of its own,
at most ``workers`` at a time. A thread in the server checks them every ``poll_seconds``: it
reads each job's progress from its sweep directory (the runs finished so far, through
:func:`nestmix.sweep.load_sweep`), records finished jobs (done, or failed with the reason:
the worker's last error line or the signal that killed it) and starts queued ones.

On shutdown the workers are stopped and their jobs queued again; on start, jobs the database
still shows running (the server was killed) are queued again after any worker they left behind
is stopped. A re-run job resumes: the sweep reuses every run already finished.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select

from nestmix.errors import NestmixError
from nestmix.runtime.atomic import json_safe
from nestmix.runtime.backend import BLAS_ENV
from nestmix.service.db import Database, Job, now
from nestmix.service.grid_jobs import finished_count, finished_rows, screened_runs
from nestmix.service.runner import REPORT_WARNING
from nestmix.service.settings import ServiceSettings

__all__ = ["LOG_FILE", "Supervisor"]

LOG_FILE = "worker.log"
_log = logging.getLogger("nestmix.service")


class Supervisor:
    """Runs the jobs of one service.

    Parameters
    ----------
    settings : ServiceSettings
    db : Database
    """

    def __init__(self, settings: ServiceSettings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._procs: dict[str, subprocess.Popen] = {}
        self._seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Re-queue jobs left running by a previous server, then start the supervising thread."""
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="nestmix-supervisor",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and the workers; their jobs go back to the queue."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            for job_id, proc in list(self._procs.items()):
                _terminate(proc)
                with self.db.write() as session:
                    job = session.get(Job, job_id)
                    if job is not None and job.state == "running":
                        job.state, job.pid = "queued", None
                del self._procs[job_id]

    def wake(self) -> None:
        """Check the queue now (after a submission)."""
        self._wake.set()

    def recover(self) -> None:
        """Queue again the jobs a killed server left running, stopping their old workers."""
        with self._lock, self.db.write() as session:
            for job in session.scalars(select(Job).where(Job.state == "running")):
                if job.pid is not None and _is_worker_of(job.pid, job.id):
                    _log.warning("stopping worker %d left running by a previous server "
                                 "(job %s)", job.pid, job.id)
                    _terminate_group(job.pid)
                job.state, job.pid = "queued", None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # the service goes on; the next tick tries again
                _log.exception("supervisor tick failed")
            self._wake.wait(self.settings.poll_seconds)
            self._wake.clear()

    # ------------------------------------------------------------------ one check
    def tick(self) -> None:
        """Record finished workers, read progress, start queued jobs."""
        with self._lock:
            if self._stopping.is_set():
                return
            for job_id, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[job_id]
                    self._finish(job_id, proc.returncode)
                else:
                    self._refresh(job_id)
            self._launch()

    def _launch(self) -> None:
        free = self.settings.workers - len(self._procs)
        if free <= 0:
            return
        with self.db.write() as session:
            query = (select(Job).where(Job.state == "queued").order_by(Job.created)
                     .limit(free))
            for job in session.scalars(query):
                job.state, job.started, job.error = "running", now(), None
                job.attempts += 1
                try:
                    proc = self._spawn(job)
                except OSError as exc:
                    job.state, job.finished = "failed", now()
                    job.error = f"the worker process could not be started: {exc}"
                    continue
                job.pid = proc.pid
                self._procs[job.id] = proc
                self._seen.pop(job.id, None)

    def _spawn(self, job: Job) -> subprocess.Popen:
        job_dir = self.job_dir(job.id)
        command = [sys.executable, "-m", "nestmix.service.runner", str(job_dir),
                   str(self.sweep_dir(job.name))]
        if not job.figures:
            command.append("--no-figures")
        if self.settings.dask:
            command += ["--dask", self.settings.dask]
        env = {**os.environ, **BLAS_ENV, "PYTHONUNBUFFERED": "1"}
        with open(job_dir / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"--- attempt {job.attempts}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            log.flush()
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=self.settings.runs, env=env,
                                    start_new_session=True)

    def _finish(self, job_id: str, returncode: int) -> None:
        self._refresh(job_id, force=True)
        tail = self.log_tail(job_id)
        with self.db.write() as session:
            job = session.get(Job, job_id)
            if job is None or job.state != "running":
                return
            job.pid, job.finished = None, now()
            if returncode == 0 and job.n_done == job.n_runs:
                job.state = "done"
                warning = [line for line in tail if line.startswith(REPORT_WARNING)]
                if warning:
                    job.warning = warning[-1].removeprefix("nestmix: warning: ")
                elif not (self.sweep_dir(job.name) / "report.html").is_file():
                    job.warning = "the report was not written"
                return
            job.state = "failed"
            if returncode == 0:
                job.error = (f"the worker ended with {job.n_runs - job.n_done} of "
                             f"{job.n_runs} runs missing")
            elif returncode < 0:
                job.error = (f"the worker process was killed by signal "
                             f"{_signal_name(-returncode)}")
            else:
                last = tail[-1] if tail else ""
                job.error = (last.removeprefix("nestmix: error: ") if last
                             else f"the worker exited with status {returncode}")

    def _refresh(self, job_id: str, force: bool = False) -> None:
        """Copy the runs finished so far from the sweep directory into the database."""
        job = self.db.job(job_id)
        if job is None:
            return
        directory = self.sweep_dir(job.name)
        try:
            screened = screened_runs(directory)
            count = (finished_count(directory), len(screened))
            if not force and self._seen.get(job_id) == count:
                return
            rows = finished_rows(directory)
        except (OSError, ValueError, KeyError, NestmixError) as exc:
            _log.warning("cannot read the progress of job %s: %s", job_id, exc)
            return
        self._seen[job_id] = count
        with self.db.write() as session:
            stored = session.get(Job, job_id)
            if stored is None:
                return
            for run in stored.runs:
                row = rows.get((run.k, run.sampler))
                run.state = "done" if row is not None else (
                    "screened" if (run.k, run.sampler.rpartition("/")[0]) in screened
                    else "pending")
                run.row = None if row is None else json.dumps(json_safe(row))
            stored.n_done = sum(run.state != "pending" for run in stored.runs)

    # ------------------------------------------------------------------ requests
    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job (its finished runs stay on disk).

        Returns False if the job had already finished; raises KeyError for an unknown job.
        """
        with self._lock:
            job = self.db.job(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.state not in ("queued", "running"):
                return False
            proc = self._procs.pop(job_id, None)
            if proc is not None:
                _terminate(proc)
                self._refresh(job_id, force=True)
            with self.db.write() as session:
                stored = session.get(Job, job_id)
                assert stored is not None  # the job was found above
                stored.state, stored.pid, stored.finished = "cancelled", None, now()
            return True

    # ------------------------------------------------------------------ paths
    def job_dir(self, job_id: str) -> Path:
        """``runs/.service/jobs/<id>``."""
        return self.settings.service_dir / "jobs" / job_id

    def sweep_dir(self, name: str) -> Path:
        """``runs/<name>``."""
        return self.settings.runs / name

    def log_tail(self, job_id: str, max_bytes: int = 8192) -> list[str]:
        """The last lines of a job's worker log (all attempts)."""
        path = self.job_dir(job_id) / LOG_FILE
        try:
            with open(path, "rb") as handle:
                handle.seek(max(0, path.stat().st_size - max_bytes))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()]


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


def _terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a worker and everything in its process group; reap it."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # anything the worker started and left behind


def _terminate_group(pid: int, grace: float = 10.0) -> None:
    """Stop a worker that is not our child (left by a killed server)."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _is_worker_of(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is a runner of ``job_id`` (not a recycled process id)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (b"nestmix.service.runner" in cmdline
            and any(job_id.encode() in part for part in cmdline)) and _alive(pid)
