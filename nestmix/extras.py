"""The optional parts of nestmix and the extra that installs each.

``pip install nestmix`` holds what a sweep and its report need; the service and Dask come with
``pip install 'nestmix[service]'``, ``'nestmix[dask]'`` or ``'nestmix[all]'``, the UltraNest
sampler with ``'nestmix[ultranest]'``. Code that needs
an extra calls :func:`require` first, so a missing one is a single line naming the extra.
"""

from __future__ import annotations

from importlib.util import find_spec

from nestmix.errors import NestmixError

__all__ = ["EXTRAS", "ExtraMissing", "require"]

#: the modules each extra installs (import names), as pyproject.toml lists their packages
EXTRAS: dict[str, tuple[str, ...]] = {
    "service": ("fastapi", "uvicorn", "sqlalchemy", "multipart"),
    "dask": ("dask", "distributed"),
    "ultranest": ("ultranest",),
}


class ExtraMissing(NestmixError):
    """An optional part of nestmix was asked for without the extra that installs it."""


def require(extra: str, purpose: str) -> None:
    """Raise :class:`ExtraMissing` unless every module of ``extra`` can be imported.

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS`.
    purpose : str
        What needs it, as the start of the message (``"nestmix serve"``).

    Raises
    ------
    ExtraMissing
        Naming the missing modules and the ``pip install`` command that adds them.
    """
    missing = [name for name in EXTRAS[extra] if find_spec(name) is None]
    if missing:
        raise ExtraMissing(f"{purpose} needs the '{extra}' extra ({', '.join(missing)} not "
                           f"installed): pip install 'nestmix[{extra}]'")
