"""What the service never shows: server paths, other jobs' files and tokens.

Replies and served reports speak of ``runs/<name>`` and ``<upload>`` instead of the server's
directories; log lines have any ``token=...`` replaced, so a token given in a URL (``/?token=``,
how a browser logs in) never reaches a log file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

__all__ = ["RedactTokens", "redact_paths", "redact_tokens"]

_TOKEN = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)\S+", re.IGNORECASE)


def redact_paths(text: str, runs: Path) -> str:
    """``text`` with paths of uploaded files as ``<upload>`` and the runs directory as
    ``runs``."""
    root = re.escape(str(Path(runs).resolve()))
    text = re.sub(root + r"/\.service/jobs/[0-9a-f]+/[^\s'\",)]*", "<upload>", text)
    text = re.sub(root + r"(?=[/\s'\",)]|$)", "runs", text)
    return text


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
