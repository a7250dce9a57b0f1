"""Install PolyChord's library from the official ``pypolychord==1.15.1`` wheel.

No PolyChord code or binary is kept in nestmix. :func:`install_polychord` downloads the official
wheel with pip, extracts ``libchord`` and its bundled libgfortran, compiles nestmix's own
single-process MPI (``mpi_stub.c``) under the file names of the wheel's ``libmpi*`` libraries
(the bundled OpenMPI cannot start without its plugins), writes a manifest, and checks the
result by running a 2-D Gaussian through the library in a child process.

``install_polychord(mpi=True)`` also links a copy of the same library to the system's Open MPI
(in the ``openmpi/`` subdirectory; see :mod:`nestmix.samplers.polychord.mpi`) and checks it with a
run on two processes under ``mpirun``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from nestmix.errors import SamplerError
from nestmix.samplers.polychord.binding import DEPENDENCIES, LIBCHORD
from nestmix.samplers.polychord.mpi import MPI_SUBDIRECTORY, build_shims, open_mpi_version

__all__ = ["POLYCHORD_VERSION", "check_installation", "default_directory", "find_library",
           "install_polychord"]

POLYCHORD_VERSION = "1.15.1"
MANIFEST = "manifest.json"
NOT_INSTALLED = "PolyChord is not installed: run `nestmix install-polychord`"
MPI_NOT_INSTALLED = ("PolyChord's MPI build is not installed: run `nestmix install-polychord "
                     "--mpi` (it needs Open MPI: apt-get install openmpi-bin libopenmpi-dev)")
_WHEEL_LIBS = ("libchord-26d2ce45.so", "libgfortran-ed201abd.so.3.0.0")
_MPI_LIBS = tuple(name for name in DEPENDENCIES if name.startswith("libmpi"))
_PIP_DOWNLOAD = ("download", "--no-deps", "--only-binary=:all:", "--python-version", "3.7",
                 "--implementation", "cp", "--abi", "cp37m", "--platform", "manylinux1_x86_64",
                 f"pypolychord=={POLYCHORD_VERSION}")
_WHEEL_SHA256 = "bac193d95a76eb099023ec8a72016c58740b3bd39e5b664d1ab6486fd1374a8e"
_CHECK_HALF_WIDTH = 10.0


def default_directory() -> Path:
    """``$NESTMIX_POLYCHORD_HOME``, else ``~/.local/share/nestmix/polychord-1.15.1``."""
    env = os.environ.get("NESTMIX_POLYCHORD_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "nestmix" / f"polychord-{POLYCHORD_VERSION}"


def find_library(directory: Path | None = None, *, mpi: bool = False) -> Path:
    """Path of the installed ``libchord`` (with ``mpi``: the one linked to Open MPI).

    Raises
    ------
    SamplerError
        If no checked installation is in ``directory`` (default :func:`default_directory`).
    """
    directory = default_directory() if directory is None else Path(directory)
    if mpi:
        directory = directory / MPI_SUBDIRECTORY
    lib = directory / LIBCHORD
    if not (lib.is_file() and (directory / MANIFEST).is_file()
            and all((directory / name).is_file() for name in DEPENDENCIES)):
        raise SamplerError(f"{MPI_NOT_INSTALLED if mpi else NOT_INSTALLED} (looked in "
                           f"{directory})")
    return lib


def install_polychord(directory: Path | None = None, *, force: bool = False,
                      wheel: Path | None = None, mpi: bool = False,
                      progress: Callable[[str], object] = print) -> Path:
    """Download, build and check PolyChord's library; return the path of ``libchord``.

    Parameters
    ----------
    directory : Path, optional
        Where to install (default :func:`default_directory`).
    force : bool
        Reinstall even when a checked installation is present.
    wheel : Path, optional
        Use this copy of ``pypolychord-1.15.1-cp37-cp37m-manylinux1_x86_64.whl`` instead of
        downloading it.
    mpi : bool
        Also build the copy linked to the system's Open MPI (``openmpi/``) and check it on two
        processes; the path returned is then that copy's ``libchord``.
    progress : callable
        Called with one line of text per step.

    Returns
    -------
    Path
        The installed ``libchord``.

    Raises
    ------
    SamplerError
        If the platform is not Linux x86-64, pip or the C compiler fails, or the check run
        does not reproduce the analytic evidence; with ``mpi``, if Open MPI (mpirun, mpicc)
        is missing.
    """
    target = default_directory() if directory is None else Path(directory)
    if mpi:
        open_mpi_version()  # fail at once, before any download, when Open MPI is missing
        install_polychord(target, force=force, wheel=wheel, progress=progress)
        return _install_mpi(target, force=force, progress=progress)
    if not force:
        try:
            lib = find_library(target)
        except SamplerError:
            pass
        else:
            progress(f"PolyChord {POLYCHORD_VERSION} is already installed in {target}")
            return lib
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SamplerError("the PolyChord 1.15.1 library is only available for Linux x86-64 "
                           f"(this is {sys.platform} {platform.machine()})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".polychord-", dir=target.parent) as tmp_name:
        tmp = Path(tmp_name)
        if wheel is None:
            progress(f"downloading pypolychord=={POLYCHORD_VERSION} (the official wheel) "
                     "with pip")
            wheel = _download_wheel(tmp / "download")
        build = tmp / "lib"
        build.mkdir()
        progress(f"extracting PolyChord's library from {Path(wheel).name}")
        wheel_sha = _extract(Path(wheel), build)
        progress("compiling nestmix's single-process MPI for it")
        _compile_stub(build)
        manifest = {"polychord": POLYCHORD_VERSION, "wheel": Path(wheel).name,
                    "wheel_sha256": wheel_sha, "mpi": "nestmix mpi_stub.c (single process)"}
        _check_and_write_manifest(build, manifest, processes=1, progress=progress)
        _move_into_place(build, target, force=force, mpi=False)
    progress(f"PolyChord {POLYCHORD_VERSION} installed in {target}")
    return target / LIBCHORD


@dataclass(frozen=True)
class BoxGaussian:
    """Unit 2-D Gaussian likelihood, uniform prior on [−10, 10]²: Z = 1/400 to 1e-22."""

    ndim: int = 2
    param_names: tuple[str, ...] = ("x_1", "x_2")

    def prior_transform(self, u: np.ndarray) -> np.ndarray:
        """Uniform on the box."""
        return _CHECK_HALF_WIDTH * (2.0 * np.asarray(u) - 1.0)

    def log_likelihood(self, theta: np.ndarray) -> float:
        """log N(θ | 0, I)."""
        theta = np.asarray(theta)
        return float(-0.5 * theta @ theta - 0.5 * self.ndim * np.log(2 * np.pi))

    @property
    def logz(self) -> float:
        """The analytic log-evidence."""
        return -self.ndim * np.log(2 * _CHECK_HALF_WIDTH)


def check_installation(directory: Path, processes: int = 1) -> tuple[float, float, float]:
    """Run a 2-D Gaussian through the library in ``directory``; (logZ, error, expected).

    With ``processes`` > 1 the run is made under mpirun (``directory`` must hold the MPI build).

    Raises
    ------
    SamplerError
        If the run fails or its logZ is further than 4 σ (σ ≥ 0.05) from the analytic value.
    """
    from nestmix.samplers.polychord.binding import CSettings
    from nestmix.samplers.polychord.output import read_stats
    from nestmix.samplers.polychord.runner import RunRequest, run_in_child

    problem = BoxGaussian()
    with tempfile.TemporaryDirectory(prefix="nestmix-polychord-check-") as work:
        settings = CSettings(ndim=2, nlive=200, num_repeats=10, base_dir=work,
                             file_root="check", seed=1, read_resume=False,
                             write_resume=False, do_clustering=False)
        try:
            run_in_child(RunRequest(problem, settings, str(Path(directory).resolve()),
                                    processes=processes))
            stats = read_stats(Path(work) / "check")
        except SamplerError as exc:
            raise SamplerError(f"the PolyChord check run failed: {exc}") from exc
    if abs(stats.logz - problem.logz) > 4 * max(stats.logz_err, 0.05):
        raise SamplerError(f"the PolyChord check run gave log Z = {stats.logz:.3f} ± "
                           f"{stats.logz_err:.3f}, expected {problem.logz:.3f}")
    return stats.logz, stats.logz_err, problem.logz


def _install_mpi(target: Path, *, force: bool, progress: Callable[[str], object]) -> Path:
    """Build ``target/openmpi``: the wheel's library and three shims pulling in Open MPI."""
    final = target / MPI_SUBDIRECTORY
    if not force:
        try:
            lib = find_library(target, mpi=True)
        except SamplerError:
            pass
        else:
            progress(f"PolyChord {POLYCHORD_VERSION} for Open MPI is already installed in "
                     f"{final}")
            return lib
    version = open_mpi_version()
    with tempfile.TemporaryDirectory(prefix=".openmpi-", dir=target) as tmp:
        build = Path(tmp) / "lib"
        build.mkdir()
        progress(f"linking PolyChord's library to the system's Open MPI ({version})")
        for name in _WHEEL_LIBS:
            shutil.copy2(target / name, build / name)
        build_shims(build, _MPI_LIBS)
        serial = json.loads((target / MANIFEST).read_text())
        manifest = {"polychord": POLYCHORD_VERSION, "wheel": serial.get("wheel"),
                    "wheel_sha256": serial.get("wheel_sha256"),
                    "mpi": f"{version}, through nestmix's shims for the wheel's libmpi* names"}
        _check_and_write_manifest(build, manifest, processes=2, progress=progress)
        _move_into_place(build, final, force=force, mpi=True)
    progress(f"PolyChord {POLYCHORD_VERSION} for Open MPI installed in {final}")
    return final / LIBCHORD


def _check_and_write_manifest(build: Path, manifest: dict, *, processes: int,
                              progress: Callable[[str], object]) -> None:
    """Write the manifest, run the check in ``build`` and add its result to the manifest."""
    (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    under = "" if processes == 1 else f" with mpirun -np {processes}"
    progress(f"checking it on a 2-D Gaussian{under} (analytic log-evidence -5.991)")
    logz, logz_err, expected = check_installation(build, processes=processes)
    progress(f"log Z = {logz:.3f} ± {logz_err:.3f}, expected {expected:.3f}: ok")
    manifest["check"] = {"logz": logz, "logz_err": logz_err, "expected": expected}
    if processes > 1:
        manifest["check"]["processes"] = processes
    (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _move_into_place(build: Path, final: Path, *, force: bool, mpi: bool) -> None:
    """Replace ``final`` by the checked ``build``; keep another process's finished install."""
    if final.exists():
        shutil.rmtree(final)
    try:
        build.rename(final)
    except OSError:
        if force:
            raise
        # another process installed it in the meantime: use that
        find_library(final.parent if mpi else final, mpi=mpi)


def _download_wheel(directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", *_PIP_DOWNLOAD, "-d", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("pypolychord-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-10:])
        raise SamplerError(f"pip could not download pypolychord=={POLYCHORD_VERSION} "
                           f"(command: {' '.join(command)}):\n{tail}")
    return wheels[0]


def _extract(wheel: Path, build: Path) -> str:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != _WHEEL_SHA256:
        raise SamplerError(f"{wheel} has sha256 {digest}, not that of the official pypolychord "
                           f"{POLYCHORD_VERSION} wheel ({_WHEEL_SHA256})")
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name in _WHEEL_LIBS:
                member = f"pypolychord/libs_pypolychord/{name}"
                with archive.open(member) as src, open(build / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise SamplerError(f"{wheel} is not the pypolychord {POLYCHORD_VERSION} wheel: "
                           f"{exc}") from exc
    return digest


def _compile_stub(build: Path) -> None:
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise SamplerError(f"no C compiler {compiler!r} found: PolyChord needs one (gcc) to "
                           "build nestmix's single-process MPI")
    with resources.as_file(resources.files("nestmix.samplers.polychord") / "mpi_stub.c") as source:
        for name in _MPI_LIBS:
            command = [compiler, "-shared", "-fPIC", "-O2", f"-Wl,-soname,{name}",
                       "-o", str(build / name), str(source)]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise SamplerError(f"compiling the MPI stub failed ({' '.join(command)}):\n"
                                   f"{result.stderr.strip()}")
