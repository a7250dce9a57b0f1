"""ctypes binding to ``polychord_c_interface`` in the library of the official 1.15.1 wheel.

The library is loaded in dependency order with ``RTLD_GLOBAL``: libgfortran and nestmix's
single-process MPI (compiled under the wheel's three ``libmpi*`` file names) first, so that the
dynamic loader finds every library libchord needs by its soname. Load it only in a process that
may die: the Fortran code ends the process on some errors (see
:mod:`nestmix.samplers.polychord.runner`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEPENDENCIES",
    "DUMPER",
    "LOGLIKE",
    "PRIOR",
    "CSettings",
    "load_library",
    "run_c_interface",
]

#: Libraries libchord needs, in the order they are loaded (file names in the wheel).
DEPENDENCIES = (
    "libgfortran-ed201abd.so.3.0.0",
    "libmpi-53321f99.so.20.10.3",
    "libmpi_mpifh-3bac19fe.so.20.12.1",
    "libmpi_usempi-91f89651.so.20.12.0",
)
LIBCHORD = "libchord-26d2ce45.so"
STR_LENGTH = 300  # PolyChord's limit on base_dir and file_root

_dp = ctypes.POINTER(ctypes.c_double)
_ip = ctypes.POINTER(ctypes.c_int)

#: double loglike(double* theta, int nDims, double* phi, int nDerived)
LOGLIKE = ctypes.CFUNCTYPE(ctypes.c_double, _dp, ctypes.c_int, _dp, ctypes.c_int)
#: void prior(double* cube, double* theta, int nDims)
PRIOR = ctypes.CFUNCTYPE(None, _dp, _dp, ctypes.c_int)
#: void dumper(int ndead, int nlive, int npars, double* live, double* dead, double* logweights,
#: double logZ, double logZerr)
DUMPER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, _dp, _dp, _dp,
                          ctypes.c_double, ctypes.c_double)

_ARGTYPES = [
    LOGLIKE, PRIOR, DUMPER,
    ctypes.c_int,     # nlive
    ctypes.c_int,     # num_repeats
    ctypes.c_int,     # nprior
    ctypes.c_int,     # nfail
    ctypes.c_bool,    # do_clustering
    ctypes.c_int,     # feedback
    ctypes.c_double,  # precision_criterion
    ctypes.c_double,  # logzero
    ctypes.c_int,     # max_ndead
    ctypes.c_double,  # boost_posterior
    ctypes.c_bool,    # posteriors
    ctypes.c_bool,    # equals
    ctypes.c_bool,    # cluster_posteriors
    ctypes.c_bool,    # write_resume
    ctypes.c_bool,    # write_paramnames
    ctypes.c_bool,    # read_resume
    ctypes.c_bool,    # write_stats
    ctypes.c_bool,    # write_live
    ctypes.c_bool,    # write_dead
    ctypes.c_bool,    # write_prior
    ctypes.c_double,  # compression_factor
    ctypes.c_int,     # nDims
    ctypes.c_int,     # nDerived
    ctypes.c_char_p,  # base_dir
    ctypes.c_char_p,  # file_root
    ctypes.c_int,     # nGrade
    _dp,              # grade_frac
    _ip,              # grade_dims
    ctypes.c_int,     # n_nlives
    _dp,              # loglikes
    _ip,              # nlives
    ctypes.c_int,     # seed
    _ip,              # comm (Fortran communicator, by reference)
]


@dataclass(frozen=True)
class CSettings:
    """The run settings ``polychord_c_interface`` takes, with PolyChord's own defaults.

    Attributes
    ----------
    ndim : int
        Number of parameters.
    nlive, num_repeats, nprior, nfail : int
        Live points, slice-sampling repeats, prior samples (-1: PolyChord's default) and
        failures allowed (-1: default).
    do_clustering : bool
    feedback : int
        Verbosity of PolyChord's own output (it goes to the run's log file).
    precision_criterion : float
        Stop when the live points hold less than this fraction of the evidence.
    logzero : float
        Log-likelihoods at or below this mark the zero-likelihood region.
    max_ndead : int
        Stop after this many dead points (-1: no limit).
    boost_posterior : float
    read_resume, write_resume : bool
    cluster_posteriors : bool
    compression_factor : float
    base_dir, file_root : str
        Output goes to ``base_dir/file_root.*``; each under 300 characters.
    seed : int
        Seed of PolyChord's generator (negative: from the clock).
    nderived : int
        Derived parameters written after θ in every output line (nestmix writes the
        unit-cube coordinates there, so that its evidence check can use PolyChord's samples).
    """

    ndim: int
    nlive: int
    num_repeats: int
    base_dir: str
    file_root: str
    seed: int
    nprior: int = -1
    nfail: int = -1
    do_clustering: bool = True
    feedback: int = 1
    precision_criterion: float = 0.001
    logzero: float = -1e30
    max_ndead: int = -1
    boost_posterior: float = 0.0
    read_resume: bool = True
    write_resume: bool = True
    cluster_posteriors: bool = True
    compression_factor: float = float(np.exp(-1.0))
    nderived: int = 0


def load_library(directory: Path) -> ctypes.CDLL:
    """Load libchord from ``directory`` after its dependencies, all with RTLD_GLOBAL."""
    for name in DEPENDENCIES:
        ctypes.CDLL(str(directory / name), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(str(directory / LIBCHORD), mode=ctypes.RTLD_GLOBAL)
    lib.polychord_c_interface.argtypes = _ARGTYPES  # type: ignore[assignment]
    lib.polychord_c_interface.restype = None
    return lib


def run_c_interface(lib: ctypes.CDLL, settings: CSettings,
                    loglike: Callable[[np.ndarray], float],
                    prior: Callable[[np.ndarray], np.ndarray],
                    derived: Callable[[], np.ndarray] | None = None) -> None:
    """Run PolyChord through ``polychord_c_interface``.

    Parameters
    ----------
    lib : ctypes.CDLL
        From :func:`load_library`.
    settings : CSettings
    loglike : callable
        θ (a read-only view, shape (ndim,)) → log-likelihood.
    prior : callable
        Unit-cube point (shape (ndim,)) → θ of shape (ndim,).
    derived : callable, optional
        Called after each log-likelihood call, no arguments → the ``settings.nderived``
        derived parameters of that point (required when ``nderived`` > 0).

    Notes
    -----
    ctypes swallows exceptions raised inside callbacks (it prints them and returns 0), so the
    callables given here must not raise: :mod:`nestmix.samplers.polychord.runner` wraps them so
    that an error ends the process after reporting it.
    """
    ndim, nderived = settings.ndim, settings.nderived
    if nderived and derived is None:
        raise ValueError("settings.nderived > 0 needs a derived callable")
    if not -2**31 <= settings.seed < 2**31:  # ctypes would wrap it silently
        raise ValueError(f"PolyChord's seed must fit a C int, got {settings.seed}")
    for label, text in (("base_dir", settings.base_dir), ("file_root", settings.file_root)):
        if len(text.encode()) >= STR_LENGTH:
            raise ValueError(f"PolyChord's {label} must be under {STR_LENGTH} bytes: {text!r}")

    def c_loglike(theta_p, n, phi_p, n_phi):
        theta = np.ctypeslib.as_array(theta_p, shape=(n,)).copy()
        value = float(loglike(theta))
        if n_phi > 0:
            np.ctypeslib.as_array(phi_p, shape=(n_phi,))[:] = derived()  # type: ignore[misc]
        return value

    def c_prior(cube_p, theta_p, n):
        cube = np.ctypeslib.as_array(cube_p, shape=(n,)).copy()
        np.ctypeslib.as_array(theta_p, shape=(n,))[:] = prior(cube)

    def c_dumper(*_args):
        return None

    # Keep references to the callbacks for the whole run.
    callbacks = (LOGLIKE(c_loglike), PRIOR(c_prior), DUMPER(c_dumper))
    grade_frac = (ctypes.c_double * 1)(1.0)
    grade_dims = (ctypes.c_int * 1)(ndim)
    loglikes = (ctypes.c_double * 1)(0.0)
    nlives = (ctypes.c_int * 1)(0)
    comm = ctypes.c_int(0)
    base_dir = ctypes.create_string_buffer(settings.base_dir.encode(), STR_LENGTH)
    file_root = ctypes.create_string_buffer(settings.file_root.encode(), STR_LENGTH)
    s = settings
    lib.polychord_c_interface(
        *callbacks,
        s.nlive, s.num_repeats, s.nprior, s.nfail, s.do_clustering, s.feedback,
        s.precision_criterion, s.logzero, s.max_ndead, s.boost_posterior,
        True,                  # posteriors
        True,                  # equals
        s.cluster_posteriors,
        s.write_resume,
        False,                 # write_paramnames (nestmix writes the .paramnames file itself)
        s.read_resume,
        True,                  # write_stats
        True,                  # write_live
        True,                  # write_dead
        True,                  # write_prior
        s.compression_factor,
        ndim, nderived,
        ctypes.cast(base_dir, ctypes.c_char_p), ctypes.cast(file_root, ctypes.c_char_p),
        1, grade_frac, grade_dims,
        0, loglikes, nlives,
        s.seed, ctypes.byref(comm),
    )
