"""Sampler adapters behind one interface (:mod:`~nestmix.samplers.base`), looked up by name
(:mod:`~nestmix.samplers.registry`); one package per sampler library."""

from nestmix.samplers.base import SamplerAdapter
from nestmix.samplers.registry import (
    DEFAULT_SAMPLER,
    all_samplers,
    available_samplers,
    get_sampler,
)

__all__ = ["DEFAULT_SAMPLER", "SamplerAdapter", "all_samplers", "available_samplers",
           "get_sampler"]
