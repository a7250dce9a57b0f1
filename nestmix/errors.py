"""Exception types raised by nestmix.

Every error a user can cause (bad data, a bad prior, a bad configuration, an unknown
sampler, an unusable run directory) is a subclass of :class:`NestmixError`, so the command
line can report it in one line and exit with status 2 instead of printing a traceback.
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "ConfigError",
    "DataError",
    "ModelError",
    "NestmixError",
    "PriorError",
    "RunStoreError",
    "SamplerError",
]


class NestmixError(ValueError):
    """Base class of every error caused by the user's input."""


class DataError(NestmixError):
    """Measurements that cannot be used: bad values, uncertainties, shapes or columns."""


class PriorError(NestmixError):
    """A prior specification that names an unknown distribution or bad parameters."""


class ModelError(NestmixError):
    """A mixture model that cannot be built from the given options."""


class SamplerError(NestmixError):
    """An unknown sampler, or settings the sampler does not accept."""


class RunStoreError(NestmixError):
    """A run directory that cannot be written, or that holds runs made differently."""


class ClusterError(NestmixError):
    """A Dask cluster that cannot be reached or used (no shared run directory, lost workers)."""


class ConfigError(NestmixError):
    """A sweep configuration with an unknown key, a bad value or a missing file.

    Parameters
    ----------
    key : str
        Dotted name of the offending key, e.g. ``"model.priors.mean"``.
    message : str
        What is wrong with it.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)
