"""Run PolyChord in a child process, so that nothing it does can take the caller down.

The Fortran code ends its process on some errors, cannot be interrupted, writes to stdout
whatever its ``feedback`` says, and ctypes swallows exceptions raised in callbacks. Every run
therefore happens in a child interpreter, ``python -m nestmix.samplers.polychord.runner``, started
with :mod:`subprocess` (the request is sent with cloudpickle, so a problem class defined in a script
or notebook works, and the caller needs no ``if __name__ == "__main__":`` guard; this also works
from inside joblib's worker processes):

- the run directory and its ``clusters/`` subdirectory are created first;
- the child's file descriptors 1 and 2 go to ``polychord.log`` in the run directory;
- the likelihood and prior callbacks are wrapped: an exception, a NaN or a wrong shape is sent
  to the parent with the parameter values and the child ends at once with ``os._exit``;
- the child ignores SIGINT and dies with its parent; on Ctrl-C the parent kills it and re-raises;
- a child that ends without reporting becomes a :class:`~nestmix.errors.SamplerError` with the
  tail of its log.

With ``processes`` > 1 the child is ``mpirun -np N python -m nestmix.samplers.polychord.runner --mpi
FILE`` instead (:mod:`nestmix.samplers.polychord.mpi`): mpirun passes its ranks neither our pipe nor
(beyond rank 0) stdin, so the request goes through a file in the run directory and every rank
writes its report to a file of its own there (both removed afterwards). Every rank runs the
callbacks; rank 0 writes PolyChord's files. An error in any rank ends that rank, mpirun then
stops the others, and the error is raised here as in a serial run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pickle
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from nestmix.errors import ModelError, SamplerError
from nestmix.runtime.atomic import write_bytes_atomic
from nestmix.runtime.threads import child_environment
from nestmix.samplers.polychord.binding import CSettings

__all__ = ["CallbackError", "Callbacks", "ChildReport", "RunRequest", "run_in_child"]

LOG_NAME = "polychord.log"
_EXIT_CALLBACK_ERROR = 70
_MPI_REQUEST = ".nestmix-mpi-request.pkl"
_MPI_REPORT = ".nestmix-mpi-report-{rank}.pkl"
_STOP_SECONDS = 10.0
#: Proposals with non-finite unit-cube coordinates a run may reject before it is stopped
#: (3 296 were seen in a run that then finished correctly; each costs microseconds).
MAX_NONFINITE_PROPOSALS = 1_000_000
# Run mpirun with PR_SET_PDEATHSIG (kept across exec): it is stopped, and stops its ranks, if
# the process that started it dies. (Not preexec_fn: that is unsafe in threaded callers.)
_EXEC_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "os.getppid() == int(sys.argv[1]) or os._exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class CallbackError(ModelError):
    """The likelihood or prior raised (or returned a bad value) inside a PolyChord run.

    Attributes
    ----------
    where : str
        ``"log-likelihood"`` or ``"prior transform"``.
    exc_type : str
        Name of the exception type raised in the child (``""`` for a bad value).
    values : tuple of float
        θ (log-likelihood) or the unit-cube point (prior transform) it failed at.
    child_traceback : str
        The traceback in the child process.
    """

    def __init__(self, message: str, *, where: str = "", exc_type: str = "",
                 values: tuple[float, ...] = (), child_traceback: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.exc_type = exc_type
        self.values = values
        self.child_traceback = child_traceback


@dataclass(frozen=True)
class RunRequest:
    """Everything the child needs (sent to it with cloudpickle).

    Attributes
    ----------
    problem : object
        ``ndim``, ``param_names``, ``prior_transform(u)`` and ``log_likelihood(theta)``.
    settings : CSettings
        PolyChord's settings; ``base_dir`` is the run directory.
    library_dir : str or None
        Where the library from the 1.15.1 wheel lives; None to use an importable official
        ``pypolychord`` with ``pypolychord.run`` instead.
    processes : int
        1: one child process. N > 1: N processes under mpirun (``library_dir`` must then be
        the build linked to Open MPI).
    """

    problem: Any
    settings: CSettings
    library_dir: str | None
    processes: int = 1


@dataclass(frozen=True)
class ChildReport:
    """What the child reports after a run that ended normally.

    Attributes
    ----------
    ncall : int
        Likelihood calls made by this run, over all its processes (a resumed run counts only
        its own).
    seconds : float
        Wall time of the PolyChord call in the child.
    log_path : str
        The child's stdout and stderr.
    nonfinite_proposals : int
        Points PolyChord proposed with non-finite unit-cube coordinates (its slice sampler
        does so, rarely, when a cluster's covariance degenerates); each was rejected as outside
        the prior, over all processes.
    """

    ncall: int
    seconds: float
    log_path: str
    nonfinite_proposals: int = 0


def run_in_child(request: RunRequest) -> ChildReport:
    """Run PolyChord for ``request`` in a child interpreter and wait for it.

    Raises
    ------
    CallbackError
        If the likelihood or prior raised or returned a bad value (the message names the
        values).
    SamplerError
        If the problem cannot be pickled or the child ended without reporting.
    KeyboardInterrupt
        Re-raised after the child has been killed.
    """
    base = Path(request.settings.base_dir)
    (base / "clusters").mkdir(parents=True, exist_ok=True)
    _remove_mpi_files(base)  # left by an MPI run that was killed
    log_path = base / LOG_NAME
    import cloudpickle

    try:
        blob = cloudpickle.dumps((request, str(log_path), os.getpid()))
    except Exception as exc:
        raise SamplerError(f"the problem cannot be sent to PolyChord's process (it must be "
                           f"picklable): {exc}") from exc
    if request.processes > 1:
        return _run_under_mpirun(request, blob, log_path)
    read_fd, write_fd = os.pipe()
    receiver = Connection(read_fd, writable=False)
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "nestmix.samplers.polychord.runner", str(write_fd)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(write_fd,), close_fds=True,
                env={**os.environ, **child_environment(1)})  # the run's share of the cores
        finally:
            os.close(write_fd)
    try:
        try:
            assert process.stdin is not None  # stdin=PIPE
            process.stdin.write(blob)
            process.stdin.close()
        except BrokenPipeError:
            pass  # the child died at start-up; its log says why
        try:
            message = receiver.recv()
        except EOFError:
            message = None
        process.wait()
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait()
        raise
    finally:
        receiver.close()
    if message is None:
        raise SamplerError(f"PolyChord's process ended with exit code {process.returncode} "
                           f"without reporting; last lines of {log_path}:\n"
                           f"{_tail(log_path)}")
    kind, payload = message
    if kind == "error":
        raise _callback_error(payload, request)
    return ChildReport(ncall=int(payload["ncall"]), seconds=float(payload["seconds"]),
                       log_path=str(log_path),
                       nonfinite_proposals=int(payload.get("nonfinite_proposals", 0)))


def _run_under_mpirun(request: RunRequest, blob: bytes, log_path: Path) -> ChildReport:
    """Run the request on ``request.processes`` processes under mpirun and wait for them."""
    from nestmix.samplers.polychord.mpi import mpirun_command, mpirun_environment

    base = Path(request.settings.base_dir)
    request_path = base / _MPI_REQUEST
    program = [sys.executable, "-m", "nestmix.samplers.polychord.runner", "--mpi",
               str(request_path)]
    command = mpirun_command(request.processes, program)
    write_bytes_atomic(request_path, blob)
    try:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _EXEC_WITH_PARENT, str(os.getpid()), *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True,
                env={**mpirun_environment(), **child_environment(request.processes)})
        try:
            process.wait()
        except BaseException:
            _stop(process)
            raise
        reports = _read_reports(base)
    finally:
        _remove_mpi_files(base)
    errors = [payload for kind, payload in reports.values() if kind == "error"]
    if errors:
        raise _callback_error(errors[0], request)
    if reports.get(0, ("", None))[0] != "done":
        raise SamplerError(f"PolyChord's {request.processes} processes (mpirun) ended with exit "
                           f"code {process.returncode} without reporting; last lines of "
                           f"{log_path}:\n{_tail(log_path)}")
    done = [payload for kind, payload in reports.values() if kind == "done"]
    return ChildReport(ncall=sum(int(p["ncall"]) for p in done),
                       seconds=float(reports[0][1]["seconds"]), log_path=str(log_path),
                       nonfinite_proposals=sum(int(p.get("nonfinite_proposals", 0))
                                               for p in done))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (mpirun passes it to its ranks), then SIGKILL if it is still there."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _read_reports(base: Path) -> dict[int, tuple[str, dict]]:
    """The reports the ranks wrote, by rank (ranks that wrote none are absent)."""
    reports = {}
    for path in base.glob(_MPI_REPORT.format(rank="*")):
        rank = path.name.split("-")[-1].split(".")[0]
        with contextlib.suppress(Exception):
            reports[int(rank)] = pickle.loads(path.read_bytes())
    return dict(sorted(reports.items()))


def _remove_mpi_files(base: Path) -> None:
    """Remove the request and reports of a run under mpirun from the run directory."""
    (base / _MPI_REQUEST).unlink(missing_ok=True)
    for path in base.glob(_MPI_REPORT.format(rank="*")):
        path.unlink(missing_ok=True)


class _FileSender:
    """Sends one report by writing it (pickled, atomically) to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: object) -> None:
        write_bytes_atomic(self.path, pickle.dumps(message))

    def close(self) -> None:
        pass


def _callback_error(payload: dict, request: RunRequest) -> CallbackError:
    where = payload["where"]
    values = tuple(float(v) for v in payload["values"])
    if where == "log-likelihood":
        names = tuple(request.problem.param_names)
        pairs = zip(names, values, strict=len(names) == len(values))
        at = "θ = (" + ", ".join(f"{n}={v:.6g}" for n, v in pairs) + ")"
    else:
        at = "u = (" + ", ".join(f"{v:.6g}" for v in values) + ")"
    what = (f"raised {payload['exc_type']}: {payload['message']}" if payload["exc_type"]
            else payload["message"])
    error = CallbackError(f"the {where} {what} at {at}; the PolyChord run was stopped",
                          where=where, exc_type=payload["exc_type"], values=values,
                          child_traceback=payload["traceback"])
    if payload.get("exception") is not None:
        with contextlib.suppress(Exception):
            error.__cause__ = pickle.loads(payload["exception"])
    return error


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


# ------------------------------------------------------------------ the child side

class Callbacks:
    """PolyChord's log-likelihood and prior callbacks around a problem, with their checks.

    Every failure (an exception, a NaN or +inf log-likelihood, a prior transform returning the
    wrong shape or non-finite values) goes to ``fail(where, values, exc, message)``, which
    must not return (in the child it reports and exits). PolyChord 1.15's slice sampler
    occasionally proposes points whose unit-cube coordinates are NaN (when a cluster of few
    live points has a degenerate covariance); such a point is rejected as outside the prior
    (``logzero``), which PolyChord recovers from, and counted in ``nonfinite``; more than
    ``max_nonfinite`` of them stop the run.

    PolyChord calls the prior transform and then, at once and in the same process, the
    log-likelihood of that point (``calculate_point``); :meth:`unit_cube` therefore returns the
    unit-cube coordinates of the point whose log-likelihood was just computed, which nestmix
    writes as PolyChord's derived parameters.

    Attributes
    ----------
    ncall : int
        Log-likelihood calls so far.
    nonfinite : int
        Proposals rejected for non-finite unit-cube coordinates so far.
    """

    def __init__(self, problem, ndim: int, logzero: float, fail,
                 max_nonfinite: int = MAX_NONFINITE_PROPOSALS) -> None:
        self.problem, self.ndim, self.logzero, self.fail = problem, ndim, logzero, fail
        self.max_nonfinite = max_nonfinite
        self.ncall = 0
        self.nonfinite = 0
        self._cube = np.full(ndim, np.nan)

    def unit_cube(self) -> np.ndarray:
        """The unit-cube point of the last prior transform (the point PolyChord evaluates)."""
        return self._cube

    def loglike(self, theta: np.ndarray) -> float:
        """The log-likelihood at ``theta``, at least ``logzero``."""
        self.ncall += 1
        if math.isnan(theta[0]):  # a rejected proposal (all NaN, see prior); O(1) per call
            return self.logzero
        try:
            value = float(self.problem.log_likelihood(theta))
        except BaseException as exc:  # anything must end the run cleanly
            self.fail("log-likelihood", theta, exc, str(exc))
        if np.isnan(value) or value == np.inf:
            self.fail("log-likelihood", theta, None, f"returned {value}")
        return max(value, self.logzero)

    def prior(self, cube: np.ndarray) -> np.ndarray:
        """The parameters at unit-cube point ``cube`` (all NaN for a rejected proposal)."""
        self._cube = np.array(cube, dtype=float)
        if not np.all(np.isfinite(cube)):
            self.nonfinite += 1
            if self.nonfinite > self.max_nonfinite:
                self.fail("prior transform", cube, None,
                          f"PolyChord proposed {self.nonfinite} points with non-finite "
                          "unit-cube coordinates and did not recover (try a larger nlive or "
                          "num_repeats)")
            return np.full(self.ndim, np.nan)
        try:
            theta = np.asarray(self.problem.prior_transform(cube), dtype=float)
        except BaseException as exc:
            self.fail("prior transform", cube, exc, str(exc))
        if theta.shape != (self.ndim,):
            self.fail("prior transform", cube, None, f"returned shape {theta.shape}, "
                      f"expected ({self.ndim},)")
        if not np.all(np.isfinite(theta)):
            self.fail("prior transform", cube, None, f"returned non-finite values {theta}")
        return theta

def _child_main(request: RunRequest, sender: Connection | _FileSender, log_path: str,
                parent: int | None) -> None:
    """Entry point of the child process (of each rank under mpirun; ``parent`` None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    settings = request.settings

    def fail(where: str, values: np.ndarray, exc: BaseException | None, message: str) -> None:
        payload: dict[str, Any] = {"where": where, "values": [float(v) for v in np.ravel(values)],
                   "exc_type": "" if exc is None else type(exc).__name__,
                   "message": message, "traceback": traceback.format_exc() if exc else "",
                   "exception": None}
        if exc is not None:
            with contextlib.suppress(Exception):
                payload["exception"] = pickle.dumps(exc)
        try:
            sender.send(("error", payload))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(_EXIT_CALLBACK_ERROR)

    callbacks = Callbacks(request.problem, settings.ndim, settings.logzero, fail)
    loglike, prior = callbacks.loglike, callbacks.prior

    os.chdir(settings.base_dir)
    start = time.perf_counter()
    if request.library_dir is None:
        _run_official(settings, loglike, prior, callbacks.unit_cube)
    else:
        from nestmix.samplers.polychord.binding import load_library, run_c_interface

        local = dataclasses.replace(settings, base_dir=".")
        run_c_interface(load_library(Path(request.library_dir)), local, loglike, prior,
                        callbacks.unit_cube if settings.nderived else None)
    seconds = time.perf_counter() - start
    sys.stdout.flush()
    sys.stderr.flush()
    sender.send(("done", {"ncall": callbacks.ncall, "seconds": seconds,
                          "nonfinite_proposals": callbacks.nonfinite}))
    sender.close()


def _run_official(settings: CSettings, loglike, prior, unit_cube) -> None:
    """Run through an official ``pypolychord`` (1.20 or newer) with ``pypolychord.run``.

    Not exercised by nestmix's tests (no such build can be installed from the package
    registry for Python 3.10+); it passes the same settings by their documented names, and
    the derived parameters (the unit cube) as a likelihood returning ``(logL, phi)``.
    """
    import pypolychord

    def loglike_and_derived(theta):
        value = loglike(theta)
        return (value, unit_cube().copy()) if settings.nderived else value

    pypolychord.run(
        loglike_and_derived, settings.ndim, nDerived=settings.nderived, prior=prior,
        nlive=settings.nlive,
        num_repeats=settings.num_repeats, nprior=settings.nprior, nfail=settings.nfail,
        do_clustering=settings.do_clustering, feedback=settings.feedback,
        precision_criterion=settings.precision_criterion, logzero=settings.logzero,
        max_ndead=settings.max_ndead, boost_posterior=settings.boost_posterior,
        cluster_posteriors=settings.cluster_posteriors, write_resume=settings.write_resume,
        read_resume=settings.read_resume, compression_factor=settings.compression_factor,
        base_dir=".", file_root=settings.file_root, seed=settings.seed,
    )


def _die_with_parent(parent: int | None) -> None:
    """Ask Linux to kill this process when its parent (mpirun's, if None) dies (best effort)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def main(argv: list[str] | None = None) -> None:
    """Child entry point.

    ``FD``: read the request from stdin, report on file descriptor FD. ``--mpi FILE`` (one
    rank under mpirun): read the request from FILE, report in a file beside it.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == "--mpi":
        from nestmix.samplers.polychord.mpi import mpi_rank

        request, log_path, _ = pickle.loads(Path(argv[1]).read_bytes())
        rank = mpi_rank() or 0
        report = _FileSender(Path(argv[1]).parent / _MPI_REPORT.format(rank=rank))
        _child_main(request, report, log_path, None)
        return
    sender = Connection(int(argv[0]), readable=False)
    request, log_path, parent = pickle.loads(sys.stdin.buffer.read())
    _child_main(request, sender, log_path, parent)


if __name__ == "__main__":
    main()
