"""What the service never shows: server paths, other jobs' files and tokens.

Replies, logs and served reports speak of ``runs/<name>`` and ``<upload>`` instead of the
server's directories (:func:`redact_paths` for text, :func:`redact_json` for the values of a JSON
document, :func:`redact_html` for the text and attribute values of an HTML page, tags left
whole); log lines have any ``token=...`` replaced, so a token given in a URL (``/?token=``, how
a browser logs in) never reaches a log file.
"""

from __future__ import annotations

import html
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["RedactTokens", "redact_html", "redact_json", "redact_paths", "redact_tokens"]

_TOKEN = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)\S+", re.IGNORECASE)
_END = r"\s'\",;:)<>&`"  # where a path shown in text, JSON or HTML ends
_TAG = re.compile(r"(<[^>]*>)")


@lru_cache(maxsize=8)
def _patterns(runs: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(an uploaded file under ``runs``, ``runs`` itself) as regular expressions."""
    root = re.escape(str(Path(runs).resolve()))
    return (re.compile(root + r"/\.service/jobs/[0-9a-f]+(?:/[^" + _END + "]*)?"),
            re.compile(root + r"(?![\w-]|\.\w)"))


def redact_paths(text: str, runs: Path, upload: str = "<upload>") -> str:
    """``text`` with paths of uploaded files as ``upload`` and the runs directory as ``runs``.

    A path ends at white space, a quote or any of ``,;:)<>&``: in HTML, use
    :func:`redact_html`, which also writes the replacement escaped.
    """
    files, root = _patterns(str(runs))
    if str(Path(runs).resolve()) not in text:
        return text
    return root.sub("runs", files.sub(upload.replace("\\", r"\\"), text))


def redact_json(value: Any, runs: Path) -> Any:
    """A JSON document (dicts, lists, strings, numbers) with every string redacted."""
    if isinstance(value, str):
        return redact_paths(value, runs)
    if isinstance(value, dict):
        return {redact_paths(k, runs) if isinstance(k, str) else k: redact_json(v, runs)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, runs) for v in value]
    return value


def redact_html(page: str, runs: Path) -> str:
    """An HTML page with paths redacted in its text and attribute values, one text run or tag
    at a time: a replacement never spans (or removes) markup, and is written escaped
    (``&lt;upload&gt;``)."""
    if str(Path(runs).resolve()) not in page:
        return page
    upload = html.escape("<upload>")
    return "".join(redact_paths(part, runs, upload) for part in _TAG.split(page))


def redact_tokens(text: str) -> str:
    """``text`` with every ``token=<value>`` and ``Bearer <value>`` hidden."""
    return _BEARER.sub(r"\1***", _TOKEN.sub(r"\1***", text))


class RedactTokens(logging.Filter):
    """A logging filter that hides tokens in a record's message and arguments (uvicorn's
    access log passes the request line, query string included, as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_tokens(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True
