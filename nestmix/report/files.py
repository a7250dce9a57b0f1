"""What writing a report needs besides its content: where the files go (:class:`ReportFiles`),
atomic writes readable as any new file, and figures drawn to PNG without sinking the report.

Shared by the report of a sweep (:mod:`~nestmix.report.build`) and of a models × K grid
(:mod:`~nestmix.report.grid`).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nestmix.atomic import write_bytes_atomic
from nestmix.report.document import ReportFigure

__all__ = ["FIGURE_DIR", "Maker", "ReportFiles", "render_figure", "write_file"]

FIGURE_DIR = "report"
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
    """

    html: Path
    markdown: Path
    csv: tuple[Path, ...]
    figures: tuple[Path, ...]
    warnings: tuple[str, ...]


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
