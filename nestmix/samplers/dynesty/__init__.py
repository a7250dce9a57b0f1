"""dynesty behind nestmix's sampler interface: the adapter, the compiled slice proposals of
its fast path, and the process pools that spread one run over cores."""

from nestmix.samplers.dynesty.adapter import DynestyAdapter

__all__ = ["DynestyAdapter"]
