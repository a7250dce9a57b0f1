"""Open a stored sweep in Python; also the old import path of :mod:`nestmix.store.archive`.

:func:`open_sweep` is :func:`nestmix.store.archive.open_sweep` with one more check: a models × K
grid directory (``grid.json`` and ``model=<label>/`` sweeps) is refused in one line that says
how to open it (:func:`nestmix.store.grid.load_grid` for the grid's table, or one model's
directory).
"""

from __future__ import annotations

from pathlib import Path

from nestmix.errors import RunStoreError
from nestmix.store.archive import SweepArchive
from nestmix.store.archive import open_sweep as _open_sweep
from nestmix.store.grid import is_grid
from nestmix.store.runs import MANIFEST, grid_refusal

__all__ = ["SweepArchive", "grid_refusal", "open_sweep"]


def open_sweep(directory: str | Path) -> SweepArchive:
    """Open a sweep directory written by :func:`nestmix.run_sweep` or ``nestmix sweep``.

    Parameters
    ----------
    directory : str or Path
        A sweep directory (``manifest.json``), or one model's directory of a grid
        (``<grid>/model=<label>``).

    Returns
    -------
    SweepArchive
        Its data, model, runs, mode analyses and evidence table.

    Raises
    ------
    RunStoreError
        If the directory is not a nestmix sweep; for a grid directory, the message says how to
        open it.
    """
    if is_grid(directory) and not (Path(directory) / MANIFEST).is_file():
        raise RunStoreError(grid_refusal(directory))
    return _open_sweep(directory)
