"""The samplers nestmix knows, by name: the only place that lists them.

Adapters are imported when first asked for, so that importing nestmix does not import every
sampler library.
"""

from __future__ import annotations

import difflib
import importlib

from nestmix.errors import SamplerError
from nestmix.samplers.base import SamplerAdapter

__all__ = ["DEFAULT_SAMPLER", "REGISTRY", "all_samplers", "available_samplers", "get_sampler"]

REGISTRY = {
    "dynesty": "nestmix.samplers.dynesty.adapter:DynestyAdapter",
    "polychord": "nestmix.samplers.polychord.adapter:PolyChordAdapter",
    "ultranest": "nestmix.samplers.ultranest.adapter:UltraNestAdapter",
}
"""Sampler name -> ``module:class`` of its adapter."""

DEFAULT_SAMPLER = "dynesty"
"""The sampler a sweep, a grid, a config file, the zero-config sweep and the estimator use when
none is named: written here only."""


def available_samplers() -> tuple[str, ...]:
    """Names of the samplers nestmix knows."""
    return tuple(sorted(REGISTRY))


def get_sampler(name: str) -> SamplerAdapter:
    """The adapter registered as ``name``.

    Raises
    ------
    SamplerError
        If no sampler has that name (the message lists the known ones).
    """
    if name not in REGISTRY:
        hint = difflib.get_close_matches(str(name), REGISTRY, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise SamplerError(f"unknown sampler {name!r}{extra} (available: "
                           f"{', '.join(available_samplers())})")
    module_name, class_name = REGISTRY[name].split(":")
    adapter: SamplerAdapter = getattr(importlib.import_module(module_name), class_name)()
    return adapter


def all_samplers() -> tuple[SamplerAdapter, ...]:
    """One adapter of every known sampler, in name order."""
    return tuple(get_sampler(name) for name in available_samplers())
