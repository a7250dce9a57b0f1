"""Atomic file writes: a temporary file in the same directory, then ``os.replace``."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["current_umask", "json_safe", "write_bytes_atomic", "write_json_atomic",
           "write_text_atomic"]


def write_bytes_atomic(path: str | Path, payload: bytes, *, make_parents: bool = True) -> None:
    """Write ``payload`` to ``path`` so that readers see either the old or the new file.

    With ``make_parents=False`` a missing directory is an error (``FileNotFoundError``) rather
    than made again: for writers that must not bring back a directory someone deleted.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # as open() would make it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask (read once: reading it means setting it, which is not
    thread-safe)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def write_text_atomic(path: str | Path, text: str, *, make_parents: bool = True) -> None:
    """Write text (UTF-8) atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), make_parents=make_parents)


def write_json_atomic(path: str | Path, obj: Any, *, make_parents: bool = True) -> None:
    """Write ``obj`` as indented JSON atomically; NaN and infinities become null."""
    write_text_atomic(path, json.dumps(json_safe(obj), indent=2, sort_keys=False) + "\n",
                      make_parents=make_parents)


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None, tuples as lists and numpy scalars as Python
    numbers, ready for strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return json_safe(obj.item())
    return obj
