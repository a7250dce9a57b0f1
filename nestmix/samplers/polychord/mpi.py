"""PolyChord under Open MPI: link the wheel's library to Debian's Open MPI, and start runs.

The official 1.15.1 wheel's ``libchord`` was built against Open MPI 2.1 (``libmpi.so.20``).
It calls MPI almost only through the Fortran ``mpif.h`` interface (``mpi_send_`` …), whose
integer handles (``MPI_COMM_WORLD`` = 0, ``MPI_INTEGER`` = 7, ``MPI_DOUBLE_PRECISION`` = 17,
``MPI_STATUS_SIZE`` = 6) Open MPI has kept unchanged since, plus five C functions and the
``ompi_mpi_comm_world`` object, all still exported by Open MPI 4 and 5 (``libmpi.so.40``).
No PolyChord source is published on the package registries, so rather than recompiling
PolyChord, :func:`build_shims` compiles three empty libraries under the wheel's ``libmpi*``
file names that depend on the system's ``libmpi`` and ``libmpi_mpifh``: loaded first with
``RTLD_GLOBAL`` (see :mod:`nestmix.samplers.polychord.binding`), they bring the real Open MPI in,
and ``libchord`` binds to it. The installer then checks the result with a 2-process run.

A run with ``N`` processes is ``mpirun -np N python -m nestmix.samplers.polychord.runner --mpi
FILE``
(:func:`mpirun_command`): rank 0 is PolyChord's coordinator and writes the files, ranks 1..N−1
slice (they make almost all likelihood calls), so ``N`` = 2 has one worker.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from nestmix.errors import SamplerError

__all__ = ["MPI_SUBDIRECTORY", "build_shims", "launched_by_mpirun", "mpi_rank", "mpirun_command",
           "mpirun_environment", "open_mpi_version"]

#: The MPI build lives in this subdirectory of the PolyChord installation.
MPI_SUBDIRECTORY = "openmpi"
APT_HINT = "install Debian's Open MPI: apt-get install openmpi-bin libopenmpi-dev"
_RANK_VARIABLE = "OMPI_COMM_WORLD_RANK"
_SIZE_VARIABLE = "OMPI_COMM_WORLD_SIZE"


def _mpirun() -> str:
    name = os.environ.get("NESTMIX_MPIRUN", "mpirun")
    found = shutil.which(name)
    if found is None:
        raise SamplerError(f"PolyChord under MPI needs {name!r}, which is not on the PATH: "
                           f"{APT_HINT}")
    return found


@lru_cache(maxsize=4)
def _version_of(mpirun: str) -> str:
    try:
        done = subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SamplerError(f"cannot run {mpirun} --version: {exc}") from exc
    text = (done.stdout + done.stderr).strip()
    first = text.splitlines()[0] if text else ""
    if "Open MPI" not in text:
        raise SamplerError(f"{mpirun} is not Open MPI ({first or 'no version'}); PolyChord's "
                           f"library speaks Open MPI's interface only: {APT_HINT}")
    return first


def open_mpi_version() -> str:
    """The first line of ``mpirun --version``, e.g. ``mpirun (Open MPI) 4.1.4``.

    Raises
    ------
    SamplerError
        If mpirun is missing or is not Open MPI's.
    """
    return _version_of(_mpirun())


def mpirun_command(processes: int, program: Sequence[str]) -> list[str]:
    """``mpirun`` starting ``program`` on ``processes`` processes.

    ``--oversubscribe`` lets N exceed the cores Open MPI counts (PolyChord's coordinator
    mostly waits), ``--allow-run-as-root`` is added when running as root (containers, CI), and
    ``$NESTMIX_MPIRUN_ARGS`` (split like a shell would) is inserted before the program, e.g.
    ``--hostfile hosts``. ``$NESTMIX_MPIRUN`` names another mpirun.

    Raises
    ------
    SamplerError
        If mpirun is missing or is not Open MPI's.
    """
    mpirun = _mpirun()
    _version_of(mpirun)
    command = [mpirun, "-np", str(int(processes)), "--oversubscribe"]
    if os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += shlex.split(os.environ.get("NESTMIX_MPIRUN_ARGS", ""))
    return [*command, *program]


def mpirun_environment() -> dict[str, str]:
    """The environment for mpirun: this one, with ranks yielding the CPU while they wait.

    PolyChord's coordinator (rank 0) spends its time waiting for the workers, and Open MPI
    waits by polling, which by default takes a whole core from the workers when processes
    do not each have a free core. ``OMPI_MCA_mpi_yield_when_idle=1`` (unless already set;
    ``--mca`` in ``$NESTMIX_MPIRUN_ARGS`` overrides it) makes waiting ranks yield.
    """
    return {"OMPI_MCA_mpi_yield_when_idle": "1", **os.environ}


def mpi_rank() -> int | None:
    """This process's rank when Open MPI's mpirun started it, else None."""
    value = os.environ.get(_RANK_VARIABLE)
    return int(value) if value is not None and value.isdigit() else None


def launched_by_mpirun() -> bool:
    """True in a process that Open MPI's mpirun started as one of several ranks."""
    size = os.environ.get(_SIZE_VARIABLE, "")
    return size.isdigit() and int(size) > 1


def build_shims(build: Path, names: Sequence[str]) -> None:
    """Compile an empty library for each of ``names`` that depends on Open MPI's libraries.

    Raises
    ------
    SamplerError
        If ``mpicc`` is missing or fails.
    """
    compiler = os.environ.get("MPICC", "mpicc")
    if shutil.which(compiler) is None:
        raise SamplerError(f"PolyChord's MPI build needs Open MPI's compiler wrapper "
                           f"{compiler!r}, which is not on the PATH: {APT_HINT}")
    source = build / "empty.c"
    source.write_text("/* nestmix: a library that only pulls in Open MPI */\n"
                      "int nestmix_openmpi_shim;\n")
    try:
        for name in names:
            command = [compiler, "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o",
                       str(build / name), str(source), "-Wl,--no-as-needed", "-lmpi_mpifh",
                       "-lmpi"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SamplerError(f"linking PolyChord to Open MPI failed "
                                   f"({' '.join(command)}):\n{done.stderr.strip()}")
    finally:
        source.unlink(missing_ok=True)
