"""The model-selection service: ``nestmix serve``.

A job queue over HTTP (FastAPI + uvicorn) with its state in a database (SQLAlchemy; SQLite in
the runs directory by default) and a web page. Each job is a normal sweep under the runs
directory, run by :mod:`nestmix.service.runner` in a worker process of its own.

Modules: :mod:`~nestmix.service.settings` (options and their checks), :mod:`~.db` (tables),
:mod:`~.intake` (turning an upload into a job), :mod:`~.supervisor` (the worker processes),
:mod:`~.security` (token, origin, upload size), :mod:`~.redact` (no server paths or tokens in
what is shown), :mod:`~.schemas` and :mod:`~.replies` (the replies and their cache),
:mod:`~.files` (the files a report links), :mod:`~.routes` and :mod:`~.page` (HTTP and the web
page), :mod:`~.app` (assembly and ``serve``).

Importing this package is cheap; the web stack is imported by :mod:`nestmix.service.app`.
"""

from nestmix.service.settings import ServiceSettings

__all__ = ["ServiceSettings"]
