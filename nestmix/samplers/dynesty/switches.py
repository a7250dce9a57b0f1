"""dynesty's own switch: ``NESTMIX_COMPILED_SLICE``.

``0``, ``false`` or ``no`` in the environment turns off the compiled copy of dynesty's slice
proposals (:mod:`nestmix.samplers.dynesty.compiled_slice`): dynesty's ``slice`` then runs as it
is. It changes how a run is computed, not what (the compiled proposals give the same run, bit for
bit), and :meth:`nestmix.samplers.dynesty.DynestyAdapter.recorded_switches` writes its value into
each dynesty run's ``run.json`` (key ``backend``, beside the switches of
:mod:`nestmix.runtime.backend`). This module imports nothing but the standard library, so the
value can be read without loading dynesty or numba.
"""

from __future__ import annotations

import os

__all__ = ["COMPILED_SLICE_ENV", "compiled_slice_enabled"]

COMPILED_SLICE_ENV = "NESTMIX_COMPILED_SLICE"


def compiled_slice_enabled() -> bool:
    """False when ``$NESTMIX_COMPILED_SLICE`` is ``0``, ``false`` or ``no``."""
    return os.environ.get(COMPILED_SLICE_ENV, "1").strip().lower() not in ("0", "false", "no")
