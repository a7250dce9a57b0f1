"""The evidence: its arithmetic, ln Bayes factors and P(K | data) with errors
(:mod:`~nestmix.evidence.arithmetic`, re-exported here); ln Z estimated again without a nested
sampler, by importance sampling (:mod:`~nestmix.evidence.check`) and by bridge sampling
(:mod:`~nestmix.evidence.bridge`); the optimiser's cross-check of the best point a run reached
(:mod:`~nestmix.evidence.optimum`); and ln Z under wider or narrower priors
(:mod:`~nestmix.evidence.sensitivity`)."""

from nestmix.evidence.arithmetic import (
    CombinedEvidence,
    bayes_factors,
    combine_runs,
    jeffreys_label,
    posterior_probabilities,
    scatter_factor,
)

__all__ = ["CombinedEvidence", "bayes_factors", "combine_runs", "jeffreys_label",
           "posterior_probabilities", "scatter_factor"]
