"""Sweep directories on disk: the run layout with atomic writes and fingerprints
(:mod:`~nestmix.store.runs`), the evidence table built from it, and the finished sweep as an
archive (:mod:`~nestmix.store.archive`)."""

from nestmix.store.archive import SweepArchive, open_sweep
from nestmix.store.runs import RunStore, fingerprint

__all__ = ["RunStore", "SweepArchive", "fingerprint", "open_sweep"]
