"""Facts about other processes of this machine, for the files that record a writer's PID
(a run's ``progress.json``, a sweep directory's lock)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["pid_alive"]


def pid_alive(pid: Any) -> bool:
    """Whether a process with this PID exists on this machine (False for anything that is
    not an ``int``); a process of another user counts as alive."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
