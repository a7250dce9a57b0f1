"""Facts about other processes of this machine, for the files that record a writer's PID
(a run's ``progress.json``, a sweep directory's lock), and the processes below this one (the
workers a Ctrl-C must stop)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

__all__ = ["descendants", "kill_descendants", "pid_alive", "started_at"]


def pid_alive(pid: Any, started: Any = None) -> bool:
    """Whether a process with this PID exists on this machine (False for anything that is
    not an ``int``, and for a process that has ended but is not yet reaped); a process of
    another user counts as alive.

    ``started`` (what :func:`started_at` gave for the process when its file was written): the
    process must also have started then, so that a new process that was given the PID of a
    dead writer (PIDs are reused, in a container from small numbers) is not taken for it.
    """
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields is not None and fields[0] in ("Z", "X"):
        return False  # ended, not yet reaped by its parent
    if started is not None:
        now = started_at(pid)
        if now is not None and now != started:
            return False
    return True


def started_at(pid: int | None = None) -> int | None:
    """When a process started, in clock ticks since boot (Linux's ``/proc/<pid>/stat``), or
    None where that is not known; with the PID it names one process for good."""
    fields = _stat(os.getpid() if pid is None else pid)
    return None if fields is None else int(fields[19])


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields if len(fields) > 19 else None


def descendants(pid: int | None = None) -> list[int]:
    """The PIDs of every process below ``pid`` (default: this process), children before
    their own children; from ``/proc`` on Linux, empty elsewhere."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        below = children.get(todo.pop(0), [])
        out += below
        todo += below
    return out


def kill_descendants(pid: int | None = None, spare: tuple[int, ...] = ()) -> None:
    """Send SIGKILL to every process below ``pid`` (default: this process) but ``spare``."""
    for child in descendants(pid):
        if child not in spare:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
