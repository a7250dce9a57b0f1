"""PolyChord behind nestmix's sampler interface: adapter, installer, ctypes binding and
child-process runner.

``install_polychord()`` fetches the library from the official ``pypolychord==1.15.1`` wheel
(no PolyChord code is kept in nestmix); :class:`nestmix.samplers.polychord.PolyChordAdapter`
runs it. ``nestmix/samplers/polychord/mpi_stub.c`` is nestmix's own code.
``install_polychord(mpi=True)``
also links the library to the system's Open MPI for runs under mpirun
(:mod:`nestmix.samplers.polychord.mpi`).
"""

from nestmix.samplers.polychord.adapter import PolyChordAdapter
from nestmix.samplers.polychord.install import (
    POLYCHORD_VERSION,
    check_installation,
    default_directory,
    find_library,
    install_polychord,
)
from nestmix.samplers.polychord.runner import CallbackError

__all__ = ["POLYCHORD_VERSION", "CallbackError", "PolyChordAdapter", "check_installation",
           "default_directory", "find_library", "install_polychord"]
