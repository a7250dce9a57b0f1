"""Finished runs read back before they are reused: a broken one is named and moved aside.

A run directory holds files written atomically, but a disk that filled up, a copy cut short or a
hand edit can still leave a truncated ``run.json`` or ``samples.npz``, a garbage ``manifest.json``
or ``modes.npz``. Before a sweep reuses a finished run it parses every one of them; a run that
fails is renamed ``<name>.broken-<n>`` (kept for a look, never read again) and made anew, and a
broken mode analysis alone is recomputed from the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from nestmix.store.runs import CorruptRunError, RunStore

__all__ = ["new_sweep_id", "stored_analysis", "verified"]


def new_sweep_id() -> str:
    """A fresh id for one sweep process's ownership of its directory."""
    return uuid.uuid4().hex


def verified(store: RunStore, k: int, sampler: str, repeat: int, done: dict | None,
             say: Callable[[str], None], label: str) -> dict | None:
    """``done`` (a finished run's manifest) if every file of the run reads back, else None
    after moving the run aside and saying so (a line beginning with ``label``); None as well
    when there is no run."""
    if not store.run_directory(k, sampler, repeat).exists():
        return None
    broken = store.verify_run(k, sampler, repeat)
    if broken is None:
        return done
    if done is not None and broken.path.name in ("modes.json", "modes.npz"):
        return done  # the run is sound: only its mode analysis is redone
    aside = store.move_aside(k, sampler, repeat)
    say(f"{label}: {broken.path.name} is corrupt ({broken.reason}); the run was moved aside to "
        f"{aside.parent.name}/{aside.name} and is made again")
    return None


def stored_analysis(store: RunStore, k: int, sampler: str,
                    repeat: int) -> tuple[dict, dict] | None:
    """The stored mode analysis, or None when there is none or it cannot be read (so that it
    is recomputed)."""
    try:
        return store.load_analysis(k, sampler, repeat)
    except CorruptRunError:
        return None
