"""nestmix: how many components does my mixture need? Evidences from nested sampling.

The names below are imported when first used (PEP 562), so ``import nestmix`` and
``nestmix --help`` stay fast: scipy.stats, numba's kernels, scikit-learn, Dask and the web
stack load only with the code that needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from nestmix._version import __version__

if TYPE_CHECKING:  # what the lazy names are, for type checkers and the API reference
    from nestmix.data import datasets
    from nestmix.data.loaders import load_measurements
    from nestmix.data.measurements import Measurements
    from nestmix.errors import NestmixError
    from nestmix.estimator import NestedGaussianMixture
    from nestmix.model import MixtureModel, ModelSpec
    from nestmix.posterior import Shrinkage, shrinkage
    from nestmix.posterior.exports import to_anesthetic, to_arviz
    from nestmix.results import EvidenceRow, NestedRun, SweepResult
    from nestmix.samplers import available_samplers, get_sampler
    from nestmix.store import SweepArchive
    from nestmix.store.archive import open_sweep
    from nestmix.sweep import SweepPlan, load_sweep, run_sweep

#: public name -> the module it lives in (the module itself where its last part is the name)
_LAZY = {
    "datasets": "nestmix.data.datasets",
    "open_sweep": "nestmix.store.archive",
    "Measurements": "nestmix.data.measurements",
    "NestmixError": "nestmix.errors",
    "NestedGaussianMixture": "nestmix.estimator",
    "to_anesthetic": "nestmix.posterior.exports",
    "to_arviz": "nestmix.posterior.exports",
    "load_measurements": "nestmix.data.loaders",
    "MixtureModel": "nestmix.model",
    "ModelSpec": "nestmix.model",
    "Shrinkage": "nestmix.posterior",
    "shrinkage": "nestmix.posterior",
    "EvidenceRow": "nestmix.results",
    "NestedRun": "nestmix.results",
    "SweepResult": "nestmix.results",
    "available_samplers": "nestmix.samplers",
    "get_sampler": "nestmix.samplers",
    "SweepArchive": "nestmix.store",
    "SweepPlan": "nestmix.sweep",
    "load_sweep": "nestmix.sweep",
    "run_sweep": "nestmix.sweep",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it (PEP 562)."""
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'nestmix' has no attribute {name!r}")
    module = import_module(where)
    value = module if where.rpartition(".")[2] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
