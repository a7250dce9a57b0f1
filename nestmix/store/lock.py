"""One writer per sweep directory: an exclusive lock held while a sweep or a report writes.

The lock is ``<sweep>/.nestmix.lock``, taken with ``fcntl.flock``: the kernel releases it when
its holder dies, however it dies, so a lock left by a killed process is simply taken over. The
file records the holder's PID and what it is doing, for the refusal another process prints.
A process may take the lock of a directory it already holds (a sweep that then writes its
report): only the outermost release lets it go.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nestmix.errors import RunStoreError
from nestmix.runtime.processes import pid_alive

__all__ = ["LOCK_NAME", "check_not_locked", "sweep_lock"]

LOCK_NAME = ".nestmix.lock"
#: Seconds to wait for a lock whose recorded holder is dead: processes it forked (a pool of
#: a killed sweep) may still hold it for the moment their parent-death check takes.
ORPHAN_WAIT = 5.0

_held: dict[Path, tuple[int, int]] = {}  # directory -> (descriptor, depth), this process


@contextmanager
def sweep_lock(directory: str | Path, purpose: str = "nestmix sweep") -> Iterator[None]:
    """Hold the exclusive lock of ``directory`` (created if missing) for the ``with`` block.

    Raises
    ------
    RunStoreError
        If another live process holds it (the message names its PID and purpose), or the
        directory cannot be written.
    """
    key = Path(directory).resolve()
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    fd = _acquire(key, purpose)
    _held[key] = (fd, 1)
    try:
        yield
    finally:
        _held.pop(key, None)
        os.close(fd)  # releases the lock; the file stays (removing it would race)


def check_not_locked(directory: str | Path) -> None:
    """Raise RunStoreError if another process holds the lock of ``directory``."""
    key = Path(directory).resolve()
    if key in _held or not (key / LOCK_NAME).exists():
        return
    fd = _acquire(key, "", record=False, wait=0.0)
    os.close(fd)


def _acquire(directory: Path, purpose: str, record: bool = True,
             wait: float = ORPHAN_WAIT) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise RunStoreError(f"cannot write to run directory {directory}: "
                            f"{exc.strerror or exc}") from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            pid, what = _holder(fd)
            if pid is not None and not pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)  # the holder is dead: its leftover children are going
                continue
            os.close(fd)
            who = f"PID {pid}" if pid is not None else "another process"
            doing = f" ({what})" if what else ""
            raise RunStoreError(
                f"{directory} is in use by {who}{doing}; one writer per sweep directory: "
                "wait for it to finish (or stop it), or choose another --out") from None
    if record:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {purpose}\n".encode(), 0)
    return fd


def _holder(fd: int) -> tuple[int | None, str]:
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").strip()
        pid, _, what = text.partition(" ")
        return int(pid), what
    except (OSError, ValueError):
        return None, ""
