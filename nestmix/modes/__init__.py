"""Label switching: relabel mixture posteriors, count label copies, find distinct modes.

:func:`analyse_run` does everything for one run; the pieces are usable on their own.
"""

from nestmix.modes.analysis import ModeAnalysis, analyse_run
from nestmix.modes.assignment import solve_assignments
from nestmix.modes.census import LabelCensus, label_census
from nestmix.modes.distinct import DistinctMode, DistinctModes, find_distinct_modes
from nestmix.modes.memberships import Memberships, compute_memberships
from nestmix.modes.relabel import METHODS, Relabelling, relabel
from nestmix.modes.theta import ThetaLayout

__all__ = [
    "METHODS",
    "DistinctMode",
    "DistinctModes",
    "LabelCensus",
    "Memberships",
    "ModeAnalysis",
    "Relabelling",
    "ThetaLayout",
    "analyse_run",
    "compute_memberships",
    "find_distinct_modes",
    "label_census",
    "relabel",
    "solve_assignments",
]
