"""dynesty's ``slice`` sampler with its proposals run in compiled code.

dynesty spends about 10 µs of Python per likelihood call in its slice sampler (the step closure,
``unitcheck``, a history record, the prior and likelihood wrappers), more than nestmix's fused
likelihood costs at a few hundred points; ``slice`` makes several times the calls of ``rwalk``,
so that overhead decided nestmix's end-to-end speed. :class:`CompiledSliceSampler` is dynesty's
own ``SliceSampler`` (same tuning, bound updates and interface; dynesty accepts any
``InternalSampler`` as ``sample``) whose ``sample`` hands the whole chain of slices to
:func:`nestmix.samplers.dynesty._slice_numba.slice_sample`, a statement-by-statement numba
transcription
of dynesty 3.1's code drawing the same random numbers. A run with it is bit for bit the run with
``sample="slice"`` (``tests/test_compiled_slice.py`` checks whole runs), only faster.

At N >= 10⁴ points the proposals call the kernel's parallel variant when the run has more than
one thread (:mod:`nestmix.runtime.threads`; the thread count is looked at again before each
proposal).

It is used when nestmix can run the model's prior and likelihood in compiled code
(:meth:`nestmix.model.MixtureModel.compiled_parts`) and the run has no pool; otherwise, or with
``NESTMIX_COMPILED_SLICE=0`` in the environment, dynesty's ``slice`` runs as it is. Written here
rather than taken from a library because no sampler library offers a compiled version of
dynesty's proposal; transcribing it keeps dynesty's behaviour, and its evidence, unchanged.
"""

from __future__ import annotations

import warnings

import numpy as np
from dynesty.internal_samplers import SamplerReturn, SliceSampler
from dynesty.utils import LoglOutput, get_random_generator
from numpy import linalg

from nestmix.model.mixture import CompiledParts
from nestmix.runtime.threads import launch_numba_threads, threads_for
from nestmix.samplers.dynesty.switches import COMPILED_SLICE_ENV, compiled_slice_enabled

__all__ = ["ENV_VAR", "CompiledParts", "CompiledSliceSampler", "enabled"]

ENV_VAR = COMPILED_SLICE_ENV
enabled = compiled_slice_enabled


class CompiledSliceSampler(SliceSampler):
    """dynesty's ``SliceSampler`` whose proposals run in
    :mod:`nestmix.samplers.dynesty._slice_numba`.

    Parameters
    ----------
    compiled : CompiledParts
        The model's compiled prior and likelihood.
    slices : int
        Rounds of slices per proposal (dynesty's default for ``slice``: 3).
    **kwargs
        What dynesty passes to every internal sampler (``ndim``, ``periodic``, …).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sampler_kwargs["compiled"] = kwargs["compiled"]

    @staticmethod
    def sample(args) -> SamplerReturn:
        """One new live point; dynesty's ``SliceSampler.sample`` computed in numba."""
        kwargs = args.kwargs
        if kwargs.get("nonperiodic") is not None or getattr(args.loglikelihood, "blob", False):
            return SliceSampler.sample(args)  # cases the transcription does not cover
        from nestmix.samplers.dynesty._slice_numba import FAILED, PARALLEL, SERIAL, slice_sample

        parts: CompiledParts = kwargs["compiled"]
        launch_numba_threads()  # before compiled code that holds the parallel kernel runs
        variant = PARALLEL if threads_for(parts.kernel_arguments[3].shape[-1],
                                          parts.parallel_min_points) > 1 else SERIAL
        rstate = get_random_generator(args.rseed)
        u = np.array(args.u, dtype=float)
        n = len(u)
        axes = args.scale * args.axes.T
        maxlen = np.sqrt(n) / 2.0
        directions = np.empty((n, n))
        for i in range(n):  # as generic_slice_step normalises each direction
            dirlen = linalg.norm(axes[i])
            directions[i] = axes[i] / (dirlen / maxlen if dirlen > maxlen else 1)
        (u_prop, v_prop, logl, ncall, n_expand, n_contract, expanded, switched,
         status) = slice_sample(u, float(args.loglstar), directions, int(kwargs["slices"]),
                                bool(kwargs.get("slice_doubling", False)), rstate,
                                (parts.ops, parts.params, *parts.kernel_arguments, variant))
        for _ in range(expanded):
            warnings.warn("The slice sample interval was expanded more than 1000 times",
                          stacklevel=2)
        if switched:
            warnings.warn("Enabling doubling strategy of slice sampling from Neal(2003)",
                          stacklevel=2)
        if status == FAILED:
            raise RuntimeError("Slice sampler has failed to find a valid point (compiled "
                               f"slice sampler): u: {u_prop}, loglstar: {args.loglstar}, "
                               f"logl_prop: {logl}")
        return SamplerReturn(u=u_prop, v=v_prop, logl=LoglOutput(float(logl), False),
                             ncalls=int(ncall),
                             tuning_info={"n_expand": int(n_expand),
                                          "n_contract": int(n_contract),
                                          "expansion_warning_set": bool(switched)},
                             evaluation_history=[],
                             proposal_stats={"n_expand": int(n_expand),
                                             "n_contract": int(n_contract)})
