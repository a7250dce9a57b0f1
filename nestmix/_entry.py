"""The ``nestmix`` command's entry point: Ctrl-C at any moment ends it within about a second,
with one line.

Three things stood between a Ctrl-C and the end of a sweep (issues 32 and 33, L5):

- while nestmix was still importing (numpy, scipy, numba: seconds under load) Python's own
  ``KeyboardInterrupt`` printed a twenty-line traceback; here a handler installed before those
  imports prints one line and exits (what runs before this module, Python's own start-up and
  ``nestmix/__init__.py``, tens of milliseconds, no package code can guard);
- Python runs signal handlers only in the main thread between bytecodes: a run in this process
  inside a compiled call (a numba likelihood over a million rows; numba compiling, during
  which dynesty's runs hold the interrupt back until their next iteration) sees its Ctrl-C
  only when the call returns, which under load can take minutes;
- after the one line, the interpreter's exit could still wait for the executor's threads and
  loky's clean-up.

So :func:`main` forks a small watchdog before the heavy imports. The C-level part of Python's
signal handling writes each signal's number to a pipe (``signal.set_wakeup_fd``) the moment it
arrives, whatever the main thread is doing; the watchdog reads that pipe, gives the command
:data:`GRACE` seconds to stop on its own (its workers stopped, the one line printed), and
otherwise prints the line itself and kills the command and every process below it. A command
that stopped on its own leaves through ``os._exit(130)`` once its line is out. Runs that
finished are on disk already (written atomically), so the same command resumes as after any
interruption.

``python -m nestmix`` calls :func:`main`, as the console script does (``nestmix =
"nestmix._entry:main"`` in ``pyproject.toml``);
:func:`nestmix.cli.main` stays an ordinary function for tests and embedding (no watchdog, no
``os._exit``).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nothing more imported before main() guards Ctrl-C
    from collections.abc import Callable
    from typing import Any

__all__ = ["GRACE", "INTERRUPTED", "main"]

#: The line a Ctrl-C prints (also :func:`nestmix.cli.main`'s).
INTERRUPTED = "nestmix: interrupted; finished runs are kept, run the same command to resume"
#: Seconds the command gets to stop on its own after a Ctrl-C before the watchdog ends it.
GRACE = 1.0
_PRINTED = b"\xff"  # written to the watchdog's pipe once the command printed its line


def _kill_below(pid: int | None = None, spare: tuple[int, ...] = ()) -> None:
    """:func:`nestmix.runtime.processes.kill_descendants` (imported by :func:`main` once its
    handler is
    in place, before the fork)."""
    from nestmix.runtime.processes import kill_descendants

    kill_descendants(pid, spare)
    _forget_semaphores(os.getpid() if pid is None else pid)


def _forget_semaphores(pid: int) -> None:
    """Unlink the named semaphores of ``pid``'s worker executor (``/dev/shm/sem.loky-<pid>-*``),
    which its resource tracker, killed with the workers, would have unlinked at its exit with a
    "leaked semlock objects" warning."""
    import glob

    for path in glob.glob(f"/dev/shm/sem.loky-{pid}-*"):
        try:
            os.unlink(path)
        except OSError:
            pass


def main() -> int:
    """Run the ``nestmix`` command line with Ctrl-C handled from the first moment."""
    signal.signal(signal.SIGINT, _while_importing)
    import nestmix.runtime.processes  # noqa: F401  (loaded before the watchdog is forked)

    # `nestmix serve` stops its own workers and web server on Ctrl-C, in its own time
    watchdog = None if sys.argv[1:2] == ["serve"] else _start_watchdog()
    sys.unraisablehook = _interrupt_hook(watchdog, sys.unraisablehook)
    try:
        from nestmix.cli import main as cli_main

        signal.signal(signal.SIGINT, signal.default_int_handler)
        status = cli_main()
        signal.signal(signal.SIGINT, _while_importing)  # done: no traceback from the exit
    except KeyboardInterrupt:
        _say(INTERRUPTED)
        status = 130
    if status == 130:  # interrupted: leave now, not after the executor's and loky's clean-up
        if watchdog is not None:
            _tell(watchdog, _PRINTED)
        _leave(130)
    return status


def _interrupt_hook(watchdog: int | None, previous: Callable[[Any], object]
                    ) -> Callable[[Any], None]:
    """A :func:`sys.unraisablehook` that ends the command on a Ctrl-C Python could not raise.

    A ``KeyboardInterrupt`` that arrives while a callback runs (importlib's module-lock weakref
    callback during a lazy import, a ``__del__``) cannot propagate: Python printed "Exception
    ignored in …" with a traceback and carried on as if nothing had been pressed. Here it ends
    the command as any other Ctrl-C does: the one line, then out. Other unraisable exceptions
    go to ``previous``.
    """

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_type, type) and issubclass(unraisable.exc_type,
                                                                KeyboardInterrupt):
            _say(INTERRUPTED)
            if watchdog is not None:
                _tell(watchdog, _PRINTED)
            _leave(130)
        previous(unraisable)

    return hook


def _while_importing(signum: int, frame: object) -> None:
    """SIGINT before the command line is loaded (nothing has started, nothing to keep) or
    after it returned."""
    _say("nestmix: interrupted")
    os._exit(130)


def _say(line: str) -> None:
    try:
        sys.stdout.flush()
    except Exception:  # closed, or a signal handler interrupting a write of its own
        pass
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass


def _leave(status: int) -> None:
    """Flush, stop every process below this one, and exit without the interpreter's
    clean-up."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    _kill_below()
    os._exit(status)


def _tell(fd: int, message: bytes) -> None:
    try:
        os.write(fd, message)
    except OSError:
        pass


def _start_watchdog() -> int | None:
    """Fork the watchdog; returns the write end of its pipe (also Python's wakeup fd), or None
    where there is no ``fork`` or the wakeup fd is taken."""
    if not hasattr(os, "fork") or not hasattr(signal, "pthread_sigmask"):
        return None
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:
        previous = None
    if previous != -1:  # someone else's (an embedding loop): leave it alone
        if previous is not None:
            signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return None
    parent = os.getpid()
    # a Ctrl-C during the fork waits for the parent: the child must not answer it as well
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:  # the watchdog
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group
            signal.set_wakeup_fd(-1)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            os.close(write)
            _watch(read, parent)
        finally:
            os._exit(0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.close(read)
    if pid < 0:
        signal.set_wakeup_fd(-1)
        os.close(write)
        return None
    return write


def _watch(read: int, parent: int) -> None:
    """The watchdog's loop: ends when the command does (end of file on the pipe)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # never hold the command's standard output open
    printed = False
    deadline: float | None = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([read], [], [], timeout)
        if ready:
            data = os.read(read, 256)
            if not data:
                return  # the command has exited
            printed = printed or _PRINTED in data
            if deadline is None and bytes([signal.SIGINT]) in data:
                deadline = time.monotonic() + GRACE
            continue
        if os.getppid() != parent:
            return
        if not printed:
            _say(INTERRUPTED)
        _kill_below(parent, spare=(os.getpid(),))
        try:
            os.kill(parent, signal.SIGKILL)
        except OSError:
            pass
        return
