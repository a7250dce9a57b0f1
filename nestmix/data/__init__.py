"""The data: measurements with their per-point uncertainties
(:mod:`~nestmix.data.measurements`), read from files (:mod:`~nestmix.data.loaders`), the real
data sets that ship with the package (:mod:`~nestmix.data.bundled`) and seeded simulators of the
science cases (:mod:`~nestmix.data.datasets`)."""

from nestmix.data.measurements import Measurements

__all__ = ["Measurements"]
