"""The files a job's report links (its tables as CSV, each run's posterior, a grid's reports of
each model), served beside the report: ``/jobs/{id}/report`` links ``evidence.csv``, which the
browser asks for as ``/jobs/{id}/evidence.csv``.

Only what the report links is served, found by following the links of ``report.html`` and of
the HTML pages it links, inside the sweep's directory: no other file of the sweep, nothing
outside it. HTML and text files are served with server paths redacted
(:mod:`nestmix.service.redact`).
"""

from __future__ import annotations

import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["MEDIA_TYPES", "REPORT", "linked_files", "local_links", "resolve_linked"]

REPORT = "report.html"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".csv": "text/csv; charset=utf-8",
               ".md": "text/markdown; charset=utf-8", ".json": "application/json",
               ".txt": "text/plain; charset=utf-8", ".png": "image/png",
               ".svg": "image/svg+xml", ".pdf": "application/pdf"}
_MAX_PAGES = 200  # a grid links one report per model; no report links more pages than this
_cache: dict[str, tuple[tuple[tuple[str, int | None], ...], frozenset[str]]] = {}


class _Links(HTMLParser):
    """The ``href`` and ``src`` values of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def local_links(page: str, base: str = "") -> list[str]:
    """The links of an HTML page to files beside it, as paths relative to the sweep directory
    (``base``: the page's own directory there): no URLs with a scheme or a host, no absolute
    paths, no fragments alone, nothing that climbs out with ``..``."""
    parser = _Links()
    parser.feed(page)
    parser.close()
    out = []
    for link in parser.links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        path = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
        if path == ".." or path.startswith("../") or path.startswith("/"):
            continue
        out.append(path)
    return out


def linked_files(directory: Path) -> frozenset[str]:
    """Every file ``directory/report.html`` links, directly or through the HTML pages it
    links (paths relative to ``directory``, ``/``-separated); empty without a report.
    The pages are read again only when one of them changed."""
    held = _cache.get(str(directory))
    if held is not None and all(_stamp(directory / page) == stamp for page, stamp in held[0]):
        return held[1]
    pages, files = _follow(directory)
    if len(_cache) > 1000:
        _cache.clear()
    _cache[str(directory)] = (pages, files)
    return files


def _follow(directory: Path) -> tuple[tuple[tuple[str, int | None], ...], frozenset[str]]:
    """(the pages read with their modification times, the files they link)."""
    pages: list[tuple[str, int | None]] = []
    found: set[str] = set()
    todo = [REPORT]
    while todo and len(pages) < _MAX_PAGES:
        page = todo.pop()
        stamp = _stamp(directory / page)
        pages.append((page, stamp))
        try:
            text = (directory / page).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for path in local_links(text, posixpath.dirname(page)):
            if path not in found:
                found.add(path)
                if path.endswith(".html"):
                    todo.append(path)
    return tuple(pages), frozenset(found)


def _stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def resolve_linked(directory: Path, path: str) -> Path | None:
    """``directory/path`` if the report links it and it is a file inside ``directory`` (links
    followed), else None."""
    path = posixpath.normpath(path)
    if path not in linked_files(directory):
        return None
    target = (directory / path).resolve()
    root = directory.resolve()
    if root not in target.parents or not target.is_file():
        return None
    return target
