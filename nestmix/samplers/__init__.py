"""Sampler adapters behind one interface, looked up by name."""

from nestmix.samplers.base import SamplerAdapter, available_samplers, get_sampler

__all__ = ["SamplerAdapter", "available_samplers", "get_sampler"]
