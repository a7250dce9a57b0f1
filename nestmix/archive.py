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
from nestmix.store.runs import MANIFEST

__all__ = ["SweepArchive", "grid_refusal", "open_sweep"]


def grid_refusal(directory: str | Path) -> str:
    """The one-line message for a grid directory opened as one sweep.

    Parameters
    ----------
    directory : str or Path
        A grid directory.

    Returns
    -------
    str
        What the directory is and how to open it: the grid's table with ``load_grid``, or one
        model's sweep with ``open_sweep`` on its ``model=<label>`` subdirectory.
    """
    directory = Path(directory)
    models = sorted(p.name.removeprefix("model=") for p in directory.glob("model=*")
                    if p.is_dir())
    first = f"{directory / f'model={models[0]}'}" if models else f"{directory}/model=<label>"
    which = f" of {len(models)} models ({', '.join(models)})" if models else ""
    return (f"{directory} is a models × K grid{which}, not one sweep: load the grid's evidence "
            f"table with nestmix.store.grid.load_grid('{directory}'), or open one model's "
            f"sweep with nestmix.open_sweep('{first}')")


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
