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
    "disk_problem",
    "keyed",
]


class NestmixError(ValueError):
    """Base class of every error caused by the user's input.

    Parameters
    ----------
    message : str
        What is wrong.
    key : str, optional
        Dotted name of the configuration key at fault (``"sweep.k"``, ``"model.priors.mean"``),
        when there is one; the error's text is then ``"<key>: <message>"``.

    Attributes
    ----------
    key : str or None
    detail : str
        The message without the key.
    """

    def __init__(self, message: str = "", *, key: str | None = None) -> None:
        self.key = key
        self.detail = message
        super().__init__(f"{key}: {message}" if key else message)

    def __reduce__(self) -> tuple:
        # pickled (from worker processes) with its key, whatever the subclass's signature
        return _restore, (type(self), self.detail, self.key, self.__dict__)


def _restore(cls: type[NestmixError], detail: str, key: str | None,
             state: dict) -> NestmixError:
    error = cls.__new__(cls)
    NestmixError.__init__(error, detail, key=key)
    error.__dict__.update(state)
    return error


def disk_problem(exc: OSError) -> str | None:
    """One line for an error of the storage itself (full disk, quota, read-only file system),
    else None (any other OSError is a bug to see whole)."""
    import errno

    if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return None
    where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
    return (f"{exc.strerror or exc}{where}; finished runs are kept: make room and run the "
            "same command to resume")


def keyed(error: NestmixError, key: str) -> NestmixError:
    """``error`` carrying ``key``, for an error whose text begins with ``"<key>: "`` (how the
    prior specifications, given the key they are read from, name it); any other is returned
    as it is."""
    prefix = f"{key}: "
    text = str(error)
    if error.key is not None or not text.startswith(prefix):
        return error
    return type(error)(text[len(prefix):], key=key)


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
        super().__init__(message, key=key)
        self.key = key
