"""nestmix: how many components does my mixture need? Evidences from nested sampling."""

__version__ = "0.1.0"

from nestmix import datasets
from nestmix.archive import SweepArchive, open_sweep
from nestmix.data import Measurements
from nestmix.errors import NestmixError
from nestmix.estimator import NestedGaussianMixture
from nestmix.loaders import load_measurements
from nestmix.model import MixtureModel, ModelSpec
from nestmix.results import EvidenceRow, NestedRun, SweepResult
from nestmix.samplers import available_samplers, get_sampler
from nestmix.shrinkage import Shrinkage, shrinkage
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
]
