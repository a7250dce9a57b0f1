"""Assembly: the FastAPI app (routes, error handlers, the guard middleware, the supervisor's life
cycle) and :func:`serve`, which runs it with uvicorn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from nestmix._version import __version__
from nestmix.errors import NestmixError, RunStoreError
from nestmix.service.db import Database, check_database
from nestmix.service.redact import redact_paths
from nestmix.service.replies import AnswerPolls, Replies
from nestmix.service.routes import router
from nestmix.service.security import Guard
from nestmix.service.settings import ServiceSettings
from nestmix.service.supervisor import Supervisor

__all__ = ["Service", "create_app", "serve"]

DESCRIPTION = """\
Submit model-selection sweeps (a data file, with the config of `nestmix sweep` or alone for the
zero-configuration sweep of `nestmix sweep points.csv`), watch them run, read their reports.
Each job is a sweep in `<runs>/<name>/`, readable by `nestmix show` and `nestmix report`.
Errors are JSON: `{"detail": "<what is wrong>"}`.
"""


@dataclass(frozen=True)
class Service:
    """What the routes use: the settings, the database, the supervisor and the cached
    replies."""

    settings: ServiceSettings
    db: Database
    supervisor: Supervisor
    replies: Replies

    def sweep_dir(self, name: str) -> Path:
        """``<runs>/<name>``."""
        return self.supervisor.sweep_dir(name)


def create_app(settings: ServiceSettings) -> FastAPI:
    """The service as an ASGI app; the database and workers start with its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.service_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url)
        supervisor = Supervisor(settings, db)
        replies = Replies(db, supervisor.sweep_dir, settings.runs)
        app.state.service = Service(settings, db, supervisor, replies)
        supervisor.start()
        try:
            yield
        finally:
            supervisor.stop()
            db.dispose()

    app = FastAPI(title="nestmix service", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.include_router(router)
    app.add_exception_handler(NestmixError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RecursionError, _too_deep)
    app.add_middleware(AnswerPolls)  # polls of a known job: no routing (replies.py)
    app.add_middleware(Guard, settings=settings)  # added last: runs first
    return app


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    status = 409 if isinstance(exc, RunStoreError) else 400
    runs = request.app.state.service.settings.runs
    return JSONResponse({"detail": redact_paths(str(exc), runs)}, status_code=status)


async def _too_deep(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "the request is nested too deeply"}, status_code=400)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    problems = []
    for error in getattr(exc, "errors", list)():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where
                        else error.get("msg", "invalid"))
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


def serve(settings: ServiceSettings) -> int:
    """Run the service until interrupted (one server per runs directory).

    Raises
    ------
    RunStoreError
        If the runs directory cannot be written or another server uses it.
    ConfigError
        If the database cannot be used.
    """
    import uvicorn

    lock = _lock(settings)
    try:
        check_database(settings.database_url)
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info", log_config=_log_config())
    finally:
        os.close(lock)
    return 0


def _log_config() -> dict:
    """uvicorn's logging with every handler hiding tokens (the access log included)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "nestmix.service.redact.RedactTokens"}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact")
    return config


def _lock(settings: ServiceSettings) -> int:
    """Hold ``runs/.service/lock`` for the life of this process."""
    import fcntl

    try:
        settings.service_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(settings.service_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunStoreError(f"cannot use the runs directory {settings.runs}: "
                            f"{exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunStoreError(f"another nestmix serve is using {settings.runs}; one server per "
                            "runs directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
