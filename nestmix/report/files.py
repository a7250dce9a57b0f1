"""What writing a report needs besides its content: where the files go (:class:`ReportFiles`),
atomic writes readable as any new file, figures drawn to PNG without sinking the report, and
the list of files a report wrote (:data:`WRITTEN`), so that the next report removes those it
no longer writes and nothing else: a file nestmix did not write is never deleted.

Shared by the report of a sweep (:mod:`~nestmix.report.build`) and of a models × K grid
(:mod:`~nestmix.report.grid`).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nestmix.report.document import ReportFigure
from nestmix.runtime.atomic import write_bytes_atomic

__all__ = ["FIGURE_DIR", "WRITTEN", "Maker", "ReportFiles", "remove_stale", "render_figure",
           "write_file", "written_before"]

FIGURE_DIR = "report"
WRITTEN = ".report-files.json"
"""The files the last report wrote (paths relative to the sweep's directory)."""
Maker = Callable[[], Any]


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`write_report` wrote the report.

    Attributes
    ----------
    html, markdown : Path
    csv : tuple of Path
    figures : tuple of Path
        The PNG files beside ``report.md``.
    warnings : tuple of str
        The report's warnings (also printed in it).
    verdict : tuple of str
        The verdict's sentences after the headline (per-sampler details, prior sensitivity),
        for a grid report to carry the models' verdicts at its top.
    """

    html: Path
    markdown: Path
    csv: tuple[Path, ...]
    figures: tuple[Path, ...]
    warnings: tuple[str, ...]
    verdict: tuple[str, ...] = ()


def write_file(path: Path, payload: bytes) -> None:
    """Write atomically, readable as any new file would be (the temporary file is 0600)."""
    write_bytes_atomic(path, payload)
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def render_figure(name: str, title: str, caption: str, section: str, make: Maker,
            notes: list[str]) -> ReportFigure | None:
    """Draw one figure into PNG bytes; a failure becomes a warning, never an exception."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = None
        try:
            fig = make()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=72 if section == "runs" else 100)
        except Exception as exc:  # a figure must not sink the report
            notes.append(f"figure {title!r} failed: {type(exc).__name__}: {exc}")
            return None
        finally:
            _close(fig)
    said = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return ReportFigure(name=name, title=title, caption=caption, section=section,
                        png=buffer.getvalue(), notes=said, wide=name.startswith("corner_"))


def _close(fig: Any) -> None:
    if fig is None:
        return
    import matplotlib.pyplot as plt

    plt.close(fig)


def written_before(directory: Path) -> set[Path]:
    """The files the last report of ``directory`` wrote, as :data:`WRITTEN` lists them (none
    when there is no list or it cannot be read; a listed path outside the directory, or
    naming :data:`WRITTEN` itself, is ignored)."""
    try:
        listed = json.loads((directory / WRITTEN).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    if not isinstance(listed, list):
        return set()
    out = set()
    for name in listed:
        if not isinstance(name, str) or not name or Path(name).is_absolute() or \
                ".." in Path(name).parts or name == WRITTEN:
            continue
        out.add(directory / name)
    return out


def remove_stale(directory: Path, before: Iterable[Path], written: Iterable[Path]) -> None:
    """Record ``written`` as the files of this report (:data:`WRITTEN`, atomically) and remove
    those of ``before`` (:func:`written_before`) it did not write again; files the list does
    not name are left alone, whoever made them."""
    directory = Path(directory)
    now = {Path(p) for p in written}
    names = sorted(os.path.relpath(p, directory) for p in now)
    write_file(directory / WRITTEN, json.dumps({"files": names}, indent=1).encode("utf-8"))
    for path in sorted(set(before) - now):
        if path.is_file() and not path.is_symlink():
            path.unlink()
