"""Old import path of :mod:`nestmix.store.archive`, kept for existing notebooks and scripts."""

from nestmix.store.archive import SweepArchive, open_sweep

__all__ = ["SweepArchive", "open_sweep"]
