"""UltraNest behind nestmix's sampler interface (``pip install 'nestmix[ultranest]'``).

:class:`nestmix.samplers.ultranest.UltraNestAdapter` runs UltraNest's
``ReactiveNestedSampler`` on a problem, vectorised over nestmix's batched prior transform and
likelihood (:mod:`nestmix.samplers.ultranest.problem`). The ``ultranest`` package itself is
imported only when a run starts.
"""

from nestmix.samplers.ultranest.adapter import UltraNestAdapter

__all__ = ["UltraNestAdapter"]
