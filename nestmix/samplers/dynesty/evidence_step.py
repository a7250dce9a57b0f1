"""dynesty's per-iteration evidence update without scipy's array-API dispatch.

Each iteration of a dynesty run updates ln Z in ``dynesty.utils.progress_integration``, which
computes the shell's log-volume as ``scipy.special.logsumexp(a=[logvol + dlogvol, logvol],
b=[0.5, -0.5])``: two numbers. Since scipy 1.15 that call goes through scipy's array-API
dispatch and costs about 57 µs (scipy 1.17, this project's machine kind), against 0.3 µs for
the same arithmetic on two floats. At nestmix's cost per likelihood call (a few µs, compiled
slice proposals and kernel) that was a tenth of a 1-D K = 3 run (9 700 iterations,
``benchmarks/end_to_end.py``).

:func:`fast_evidence_update` gives ``dynesty.utils`` a ``logsumexp`` that computes exactly this
two-term case in floats (``expm1`` where the weights cancel, as scipy does for precision;
relative difference from scipy's below 1e-13) and hands every other call to scipy unchanged.
It is in effect only while nestmix runs a sampler and restores dynesty's own afterwards, so a
user's other dynesty runs in the same process are untouched.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scipy.special import logsumexp as scipy_logsumexp

__all__ = ["fast_evidence_update", "logsumexp"]

_lock = threading.Lock()
_active = 0
_original: Any = None  # dynesty's own, while ours is in place


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """``scipy.special.logsumexp`` with a float fast path for two terms with weights."""
    if (axis is None and b is not None and not keepdims and not return_sign
            and isinstance(a, list) and isinstance(b, list) and len(a) == 2 and len(b) == 2):
        x0, x1, w0, w1 = float(a[0]), float(a[1]), float(b[0]), float(b[1])
        if x0 < x1:
            x0, x1, w0, w1 = x1, x0, w1, w0
        if math.isfinite(x0) and math.isfinite(x1) and w0 > 0:
            if w1 == -w0:  # w0 (e^x0 - e^x1) = w0 e^x0 (-expm1(x1 - x0)), without cancellation
                total = -w0 * math.expm1(x1 - x0)
            else:
                total = w0 + w1 * math.exp(x1 - x0)
            if total > 0:
                return x0 + math.log(total)
    return scipy_logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)


@contextmanager
def fast_evidence_update() -> Iterator[None]:
    """While in effect, dynesty's evidence update uses :func:`logsumexp` (re-entrant and safe
    with runs in several threads: dynesty's own function is back once the last one ends)."""
    import dynesty.utils

    global _active, _original
    with _lock:
        if _active == 0:
            _original = dynesty.utils.logsumexp
            dynesty.utils.logsumexp = logsumexp
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                dynesty.utils.logsumexp = _original
