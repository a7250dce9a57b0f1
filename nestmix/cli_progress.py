"""The live progress display of ``nestmix sweep``: one line per running run.

It reads the runs' ``progress.json`` files (:mod:`nestmix.runtime.progress`), so it shows runs in
worker
processes and on Dask workers alike. On a terminal it is a ``rich`` live table, redrawn twice a
second and gone when the sweep ends (the lines the sweep prints appear above it). When standard
output is not a terminal (a log file, a pipe, a test reading the output) it prints a plain line
per running run every ``plain_every`` seconds (``$NESTMIX_PROGRESS_PRINT_SECONDS``, default
60), and nothing else. Every line is read afresh from the files: a run's calls and Δln Z as its
sampler last wrote them (every second), and, when that was more than half a minute ago, how
long ago (:func:`nestmix.runtime.progress.format_progress`), so a line never repeats old numbers as
if
they were new.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from nestmix.runtime.progress import format_progress, progress_cells, read_progress

__all__ = ["LiveProgress"]

#: Seconds between the plain lines when standard output is not a terminal, unless
#: ``$NESTMIX_PROGRESS_PRINT_SECONDS`` says otherwise.
PLAIN_EVERY = 60.0


def _plain_every() -> float:
    try:
        return max(0.05, float(os.environ.get("NESTMIX_PROGRESS_PRINT_SECONDS", PLAIN_EVERY)))
    except ValueError:
        return PLAIN_EVERY


class LiveProgress:
    """Show the progress of a sweep's running runs while the ``with`` block runs.

    Parameters
    ----------
    directory : str or Path
        The sweep directory.
    stream : file, optional
        Where to draw (default standard output).
    tty : bool, optional
        Draw the live table (True) or plain periodic lines (False); default: whether
        ``stream`` is a terminal.
    plain_every : float
        Seconds between the plain lines.
    """

    def __init__(self, directory: str | Path, stream: TextIO | None = None,
                 tty: bool | None = None, plain_every: float | None = None) -> None:
        self.directory = Path(directory)
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.plain_every = _plain_every() if plain_every is None else plain_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Any = None
        self._cached: tuple[float, Any] = (0.0, None)

    def __enter__(self) -> LiveProgress:
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream)
            self._live = Live(get_renderable=self._table, console=console,
                              refresh_per_second=2, transient=True, redirect_stdout=True,
                              redirect_stderr=True)
            self._live.__enter__()
        else:
            self._thread = threading.Thread(target=self._plain, name="nestmix-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._live is not None:
            self._live.__exit__(kind, value, traceback)

    def _plain(self) -> None:
        while not self._stop.wait(self.plain_every):
            try:
                lines = [format_progress(fields) for fields in read_progress(self.directory)]
            except Exception:  # a file half gone, a field of the wrong type: the next tick
                continue
            for line in lines:
                print(f"  {line}", file=self.stream, flush=True)

    def _table(self) -> Any:
        """The rich table of the running runs (read at most every half second)."""
        now = time.monotonic()
        if self._cached[1] is not None and now - self._cached[0] < 0.5:
            return self._cached[1]
        from rich.table import Table
        from rich.text import Text

        running = read_progress(self.directory)
        if not running:  # nothing between runs: no empty header
            self._cached = (now, Text(""))
            return self._cached[1]
        table = Table(box=None, header_style="bold", pad_edge=False)
        for title in ("K", "model", "sampler", "calls", "Δln Z → goal", "elapsed", "left"):
            table.add_column(title, justify="right" if title in ("K", "calls") else "left")
        for f in running:
            c = progress_cells(f)
            table.add_row(str(f.get("k", "?")), str(f.get("model") or ""),
                          str(f.get("sampler", "?")) + (
                              "" if f.get("repeat", 1) in (None, 1) else f" #{f['repeat']}"),
                          c["calls"], c["remaining"], c["elapsed"], c["left"])
        self._cached = (now, table)
        return table
