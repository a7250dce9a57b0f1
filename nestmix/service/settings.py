"""The service's options (``nestmix serve``) and the rules they must follow."""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from pathlib import Path

from nestmix.errors import ConfigError

__all__ = ["SERVICE_DIR", "ServiceSettings", "is_loopback"]

SERVICE_DIR = ".service"  # inside the runs directory; sweep names cannot start with "."


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this
    machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs.

    Attributes
    ----------
    runs : Path
        The runs directory: one sweep per job in ``runs/<name>/``; the service's own files
        (the SQLite database, uploads, worker logs) in ``runs/.service/``.
    host : str
        Address to bind; loopback by default. Any other address needs a token.
    port : int
    workers : int
        Jobs running at once, each in its own worker process.
    token : str or None
        When set, every request but ``GET /health`` must carry it (``Authorization: Bearer
        <token>``, or the cookie set by opening ``/?token=<token>``).
    database : str or None
        SQLAlchemy URL of the job database; default a SQLite file in ``runs/.service/``.
    max_upload_bytes : int
        Largest request body accepted (config and data together).
    poll_seconds : float
        How often the supervisor checks its workers and reads their progress.
    dask : str or None
        Address of a Dask scheduler: every job's runs go to that cluster instead of the
        worker process itself (the runs directory must be visible to the Dask workers).
    max_minutes : float or None
        The most minutes any job's cost estimate may show (each job asks for its own limit,
        30 minutes by default: :mod:`nestmix.service.costing`); None or 0: no cap.
    """

    runs: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: str | None = None
    database: str | None = None
    max_upload_bytes: int = 50 * 2**20
    poll_seconds: float = 0.5
    dask: str | None = None
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", Path(self.runs).resolve())
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) \
                or self.workers < 1:
            raise ConfigError("--workers", f"must be a positive integer, got {self.workers!r}")
        if not 0 <= self.port < 65536:
            raise ConfigError("--port", f"must be in 0..65535, got {self.port}")
        if self.max_upload_bytes < 1:
            raise ConfigError("--max-upload-mb", "must be positive")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("--token", "use at least 8 characters")
        if self.token is None and not is_loopback(self.host):
            raise ConfigError("--host", f"binding to {self.host} (not loopback) needs a token: "
                              "give --token or set NESTMIX_TOKEN")
        if self.dask is not None and not self.dask.strip():
            raise ConfigError("--dask", "give the Dask scheduler's address, e.g. tcp://host:8786")
        if self.max_minutes is not None:
            from nestmix.sweep.cost import check_max_minutes

            cap = check_max_minutes(self.max_minutes, "--max-minutes")
            object.__setattr__(self, "max_minutes", None if math.isinf(cap) else cap)

    @classmethod
    def from_options(cls, *, runs: str | Path = "runs", host: str = "127.0.0.1",
                     port: int = 8000, workers: int | None = None, token: str | None = None,
                     database: str | None = None,
                     max_upload_mb: float = 50.0, dask: str | None = None,
                     max_minutes: float | None = None) -> ServiceSettings:
        """Settings from command-line style options: ``workers`` defaults to the number of
        cores, ``token`` to ``$NESTMIX_TOKEN``."""
        token = token if token is not None else (os.environ.get("NESTMIX_TOKEN") or None)
        if not (isinstance(max_upload_mb, (int, float)) and 0 < max_upload_mb <= 1e6):
            raise ConfigError("--max-upload-mb", f"must be a positive number of megabytes up "
                              f"to 1e6, got {max_upload_mb!r}")
        return cls(runs=Path(runs), host=host, port=port,
                   workers=workers if workers is not None else (os.cpu_count() or 1),
                   token=token, database=database,
                   max_upload_bytes=int(max_upload_mb * 2**20), dask=dask,
                   max_minutes=max_minutes)

    @property
    def service_dir(self) -> Path:
        """``runs/.service``: the database, the uploads and the worker logs."""
        return self.runs / SERVICE_DIR

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in use."""
        return self.database or f"sqlite:///{self.service_dir / 'jobs.sqlite'}"
