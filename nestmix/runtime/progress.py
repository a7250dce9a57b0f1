"""Live progress of the runs of a sweep, across processes: one small JSON file per running run.

A run's task writes ``progress.json`` into the run's work directory
(``K=<k>/.<sampler>.work/``) when it starts (:func:`start_progress`); the sampler adapter
rewrites it, atomically and at most every ``$NESTMIX_PROGRESS_SECONDS`` (default 1 s), from its
own loop (:class:`ProgressWriter`: dynesty calls it as its ``print_func``; PolyChord's adapter
feeds it what PolyChord writes to its ``.stats`` and live-point files). The task removes the file
when the run ends. Whoever wants to show progress (the command line, the service's page) reads
the files of a sweep directory with :func:`read_progress`, whichever process, worker or Dask
node wrote them, as long as it sees the same directory.

The time left is estimated from how fast the remaining Δln Z (the evidence still in the live
points) falls: ln Δ falls about linearly in time once the bulk of the posterior is reached, so
the estimate is the time ln Δ needs at its recent rate to reach the run's goal (dynesty's
``dlogz``); better, given the number of live points, the iterations the remaining Δ needs
at the recent time per iteration (:func:`estimate_seconds_left`).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nestmix.runtime.atomic import json_safe, write_json_atomic
from nestmix.runtime.processes import pid_alive, started_at

__all__ = ["PROGRESS_FILE", "QUIET_SECONDS", "ProgressWriter", "WorkDirectoryLost",
           "clear_progress", "estimate_seconds_left", "format_progress", "progress_cells",
           "read_progress", "start_progress"]

PROGRESS_FILE = "progress.json"
#: A printed line says how long ago its run's file was last written once that is longer than
#: this many seconds (numba compiling, a slow first batch of live points, a stuck writer).
QUIET_SECONDS = 30.0
_WINDOW = 30.0  # seconds of history behind the time per iteration (and the rate of ln Δ)
_HUGE = 1e100  # dynesty's Δln Z before the first dead point (1e300): not known yet


def _interval() -> float:
    try:
        return max(0.05, float(os.environ.get("NESTMIX_PROGRESS_SECONDS", "1")))
    except ValueError:
        return 1.0


def start_progress(workdir: str | Path, **fields: Any) -> None:
    """Write the first ``progress.json`` of a run: what it is (K, sampler, model, repeat) and
    when it started; the sampler's :class:`ProgressWriter` keeps these fields."""
    now = time.time()
    write_json_atomic(Path(workdir) / PROGRESS_FILE, {
        **fields, "started": now, "updated": now, "pid": os.getpid(),
        "pid_started": started_at(), "host": socket.gethostname(), "ncall": 0, "iteration": 0,
        "delta_logz": None, "goal": None, "logz": None, "seconds_left": None})


def clear_progress(workdir: str | Path) -> None:
    """Remove a run's ``progress.json`` (the run has ended)."""
    (Path(workdir) / PROGRESS_FILE).unlink(missing_ok=True)


def estimate_seconds_left(history: list[tuple[float, int, float]], goal: float,
                          nlive: int | None = None) -> float | None:
    """Seconds until Δln Z reaches ``goal``.

    With ``nlive``: with Δ = ln(1 + e^x), x = ln L_max + ln X − ln Z, and the prior volume X
    shrinking by e^(−1/n_live) per iteration, about n_live (x − x_goal) iterations remain, at the
    recent time per iteration. On the galaxies (K = 2 and 3, 500 live points) this was within
    a factor 2 of the true time left from the first seconds on, and within 40% over the second
    half of each run. Without ``nlive``: the time ln Δ needs to fall to ln ``goal`` at its
    recent rate (far worse early in a run, when Δ falls fast).

    Parameters
    ----------
    history : list of (float, int, float)
        (elapsed seconds, iteration, Δln Z), oldest first.
    goal : float
        The Δln Z at which the run stops.
    nlive : int, optional
        Live points of the run.

    Returns
    -------
    float or None
        None while there is too little history (or, without ``nlive``, Δ does not fall).
    """
    points = [(t, i, d) for t, i, d in history
              if d is not None and 0 < d < _HUGE]
    if len(points) < 2 or goal <= 0:
        return None
    (t0, i0, d0), (t1, i1, d1) = points[0], points[-1]
    if t1 <= t0:
        return None
    if d1 <= goal:
        return 0.0
    if nlive:
        if i1 <= i0:
            return None
        x, x_goal = _inverse_softplus(d1), _inverse_softplus(goal)
        return nlive * (x - x_goal) * (t1 - t0) / (i1 - i0)
    if d1 >= d0:
        return None
    return (math.log(d1) - math.log(goal)) * (t1 - t0) / (math.log(d0) - math.log(d1))


def _inverse_softplus(delta: float) -> float:
    """x with ln(1 + e^x) = delta."""
    return delta + math.log(-math.expm1(-delta)) if delta > 0 else -math.inf


class WorkDirectoryLost(FileNotFoundError):
    """A running run's work directory was deleted, or replaced by another's."""


class ProgressWriter:
    """Rewrites a run's ``progress.json`` from the sampler's loop, at most every
    ``$NESTMIX_PROGRESS_SECONDS``.

    Its call signature is dynesty's ``print_func`` (``results, niter, ncall, dlogz=...``);
    :meth:`update` is the sampler-independent form.

    Parameters
    ----------
    workdir : str or Path
        The run's work directory; the fields :func:`start_progress` wrote there are kept.
    sampler : str
    nlive : int, optional
        Live points (sharpens the estimate of the time left).
    stop_if_lost : bool
        Raise :class:`WorkDirectoryLost` from :meth:`update` when the work directory is gone or
        is no longer the directory it was (deleted, or deleted and made again by another
        sweep): the sampler's loop then stops within one interval, instead of computing on
        until its next checkpoint fails, or writing that checkpoint into another sweep's
        directory. Never does it make the directory again.
    """

    def __init__(self, workdir: str | Path, sampler: str, nlive: int | None = None,
                 stop_if_lost: bool = False) -> None:
        self.path = Path(workdir) / PROGRESS_FILE
        self.stop_if_lost = stop_if_lost
        self.identity: tuple[int, int] | None = None
        if stop_if_lost:  # held open, so a new directory of the same name gets another inode
            try:
                handle = os.open(workdir, os.O_RDONLY)
            except OSError:
                pass
            else:
                weakref.finalize(self, os.close, handle)
                status = os.fstat(handle)
                self.identity = status.st_dev, status.st_ino
        self.fields: dict[str, Any] = {"sampler": sampler}
        try:
            self.fields.update(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            self.fields.update(started=time.time(), pid=os.getpid(), pid_started=started_at(),
                               host=socket.gethostname())
        self.start = time.time()
        self.interval = _interval()
        self.last = -math.inf
        self.nlive = nlive
        self.history: deque[tuple[float, int, float]] = deque()

    def __call__(self, results: Any, niter: int, ncall: int, add_live_it: int | None = None,
                 dlogz: float | None = None, stop_val: float | None = None, **_: Any) -> None:
        delta = getattr(results, "delta_logz", None)
        if add_live_it is not None:  # adding the last live points: the run is all but done
            delta = 0.0
        self.update(ncall=int(ncall), iteration=int(niter),
                    delta_logz=None if delta is None else float(delta),
                    goal=dlogz, logz=getattr(results, "logz", None))

    def update(self, *, ncall: int, iteration: int, delta_logz: float | None,
               goal: float | None, logz: float | None = None, force: bool = False) -> None:
        """Record the run's state; written when the interval has passed (or ``force``)."""
        now = time.time()
        elapsed = now - self.start
        if delta_logz is not None and not (abs(delta_logz) < _HUGE):
            delta_logz = None
        if delta_logz is not None:
            self.history.append((elapsed, iteration, delta_logz))
            while len(self.history) > 2 and self.history[0][0] < elapsed - _WINDOW:
                self.history.popleft()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        left = None if goal is None else estimate_seconds_left(list(self.history), goal,
                                                               self.nlive)
        self.fields.update(updated=now, ncall=ncall, iteration=iteration,
                           delta_logz=delta_logz, goal=goal,
                           logz=None if logz is None or not math.isfinite(logz) else logz,
                           seconds_left=left)
        if self.stop_if_lost and self.identity is not None \
                and _identity(self.path.parent) != self.identity:
            raise WorkDirectoryLost(f"the run's work directory {self.path.parent} was deleted "
                                    "or replaced while it ran")
        try:
            _write_fields(self.path, self.fields)
        except OSError:  # progress is a courtesy: never fail a run over it
            pass


def _write_fields(path: Path, fields: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically (a temporary file, then ``os.replace``), never making its
    directory again, and without ``fsync``: the file is rewritten every second and worthless
    after a crash, and on a busy disk a sync held up the sampler's loop."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(json_safe(dict(fields))))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _identity(directory: Path) -> tuple[int, int] | None:
    """The (device, inode) of a directory, or None when it does not exist."""
    try:
        status = os.stat(directory)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def read_progress(directory: str | Path, *, stale: float = 600.0) -> list[dict[str, Any]]:
    """The progress of every run of a sweep directory that is running now.

    Parameters
    ----------
    directory : str or Path
        A sweep directory.
    stale : float
        Files not updated for this many seconds whose writer is gone (or on another host)
        are left out: what a killed run left behind.

    Returns
    -------
    list of dict
        The fields of each ``progress.json`` (``k``, ``sampler``, ``model``, ``repeat``,
        ``ncall``, ``iteration``, ``delta_logz``, ``goal``, ``seconds_left``, ``started``,
        ``updated``), with ``elapsed`` and ``quiet`` (seconds since the file was last written)
        added, sorted by model, K, sampler and repeat.
    """
    out = []
    now = time.time()
    host = socket.gethostname()
    for path in Path(directory).glob(f"**/.*.work/{PROGRESS_FILE}"):
        try:
            fields = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed or being replaced just now
        if not isinstance(fields, dict):
            continue
        if fields.get("host") == host and not pid_alive(fields.get("pid"),
                                                        fields.get("pid_started")):
            continue  # its writer is gone (its PID may be another process's by now)
        if fields.get("host") != host and now - float(fields.get("updated", 0)) > stale:
            continue
        fields["elapsed"] = now - float(fields.get("started", now))
        fields["quiet"] = max(0.0, now - float(fields.get("updated", now)))
        out.append(fields)
    return sorted(out, key=lambda f: (str(f.get("model") or ""), _number(f.get("k")),
                                      str(f.get("sampler") or ""), _number(f.get("repeat"))))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0




def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    hours, rest = divmod(round(seconds), 3600)
    return (f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours
            else f"{rest // 60}:{rest % 60:02d}")


def progress_cells(fields: Mapping[str, Any]) -> dict[str, str]:
    """A run's progress as printed words: ``run`` (K, sampler, repeat, model), ``calls``,
    ``remaining`` (Δln Z → goal), ``elapsed`` and ``left`` ("?" while not known)."""
    label = f"K={fields.get('k', '?')} {fields.get('sampler', '?')}"
    if fields.get("repeat", 1) not in (None, 1):
        label += f" repeat {fields['repeat']}"
    if fields.get("model"):
        label += f" ({fields['model']})"
    delta, goal = fields.get("delta_logz"), fields.get("goal")
    remaining = "?" if delta is None else f"{delta:.3g}"
    if goal is not None:
        remaining += f" → {goal:g}"
    return {"run": label, "calls": f"{int(fields.get('ncall') or 0):,}",
            "remaining": remaining, "elapsed": _clock(fields.get("elapsed")),
            "left": _clock(fields.get("seconds_left"))}


def format_progress(fields: Mapping[str, Any]) -> str:
    """One line of a run's progress, e.g. ``K=3 dynesty (full): 12,345 calls, Δln Z 2.31 →
    0.1, 0:42 elapsed, about 0:30 left``; with ``, last update 1:05 ago`` when its file was
    last written more than :data:`QUIET_SECONDS` ago (the numbers are then that old)."""
    c = progress_cells(fields)
    left = "time left ?" if c["left"] == "?" else f"about {c['left']} left"
    quiet = fields.get("quiet")
    note = (f", last update {_clock(quiet)} ago"
            if isinstance(quiet, (int, float)) and quiet > QUIET_SECONDS else "")
    return (f"{c['run']}: {c['calls']} calls, Δln Z {c['remaining']}, {c['elapsed']} elapsed, "
            f"{left}{note}")
