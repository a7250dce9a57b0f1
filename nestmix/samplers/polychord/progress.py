"""Live progress of a PolyChord run, read from the files it writes while it runs.

PolyChord runs in a child process (:mod:`nestmix.samplers.polychord.runner`) and rewrites
``<root>.stats`` (calls, dead points, ln Z) and ``<root>_phys_live.txt`` (the live points, ln L
in the last column) every ``update_files`` iterations. :func:`watch` reads them from a thread
of the adapter's process and feeds a :class:`nestmix.runtime.progress.ProgressWriter`. The remaining
evidence is estimated as in PolyChord's stopping rule: Δln Z = ln(1 + L_max X / Z) with the prior
volume X = exp(−n_dead / n_live); its goal is ln(1 + precision_criterion).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from nestmix.runtime.progress import ProgressWriter

__all__ = ["remaining_logz", "watch"]


def remaining_logz(logl_max: float, ndead: int, nlive: int, logz: float) -> float:
    """Δln Z = ln(1 + L_max X / Z) with X = exp(−ndead / nlive)."""
    return float(np.logaddexp(0.0, logl_max - ndead / nlive - logz))


@contextmanager
def watch(root: Path, nlive: int, precision: float, period: float = 1.0) -> Iterator[None]:
    """Write the progress of the PolyChord run writing ``root.*`` while the block runs."""
    writer = ProgressWriter(root.parent, "polychord", nlive)
    stop = threading.Event()
    goal = math.log1p(precision)

    def poll() -> None:
        from nestmix.samplers.polychord.output import read_stats

        while not stop.wait(period):
            try:
                stats = read_stats(root)
                live = np.loadtxt(f"{root}_phys_live.txt", ndmin=2)
                delta = remaining_logz(float(live[:, -1].max()), stats.ndead, nlive,
                                       stats.logz) if live.size else None
            except Exception:  # not written yet, or being rewritten just now
                continue
            writer.update(ncall=stats.nlike, iteration=stats.ndead, delta_logz=delta,
                          goal=goal, logz=stats.logz, force=True)

    thread = threading.Thread(target=poll, name="polychord-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
