"""Sweep directories on disk: the run layout with atomic writes and fingerprints
(:mod:`~nestmix.store.runs`), the evidence table built from it, and the finished sweep as an
archive (:mod:`~nestmix.store.archive`)."""

from nestmix.store.archive import SweepArchive, open_sweep
from nestmix.store.runs import RunStore, fingerprint
from nestmix.store.summary import load_sweep

__all__ = ["RunStore", "SweepArchive", "fingerprint", "load_sweep", "open_sweep"]
