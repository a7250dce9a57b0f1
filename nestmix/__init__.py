"""nestmix: how many components does my mixture need? Evidences from nested sampling."""

from nestmix import datasets
from nestmix._version import __version__
from nestmix.archive import open_sweep
from nestmix.data import Measurements
from nestmix.errors import NestmixError
from nestmix.estimator import NestedGaussianMixture
from nestmix.exports import to_anesthetic, to_arviz
from nestmix.loaders import load_measurements
from nestmix.model import MixtureModel, ModelSpec
from nestmix.posterior import Shrinkage, shrinkage
from nestmix.results import EvidenceRow, NestedRun, SweepResult
from nestmix.samplers import available_samplers, get_sampler
from nestmix.store import SweepArchive
from nestmix.sweep import SweepPlan, load_sweep, run_sweep

__all__ = [
    "EvidenceRow",
    "Measurements",
    "MixtureModel",
    "ModelSpec",
    "NestedGaussianMixture",
    "NestedRun",
    "NestmixError",
    "Shrinkage",
    "SweepArchive",
    "SweepPlan",
    "SweepResult",
    "__version__",
    "available_samplers",
    "datasets",
    "get_sampler",
    "load_measurements",
    "load_sweep",
    "open_sweep",
    "run_sweep",
    "shrinkage",
    "to_anesthetic",
    "to_arviz",
]
