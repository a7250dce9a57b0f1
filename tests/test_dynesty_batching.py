"""dynesty's initial live points come from one batched evaluation of the likelihood."""

from __future__ import annotations

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec
from nestmix.samplers.dynesty import DynestyAdapter


class Counting:
    """A mixture model that counts single and batched likelihood evaluations."""

    def __init__(self, model, batched: bool = True) -> None:
        self.model = model
        self.ndim = model.ndim
        self.param_names = model.param_names
        self.single = 0
        self.batches: list[int] = []
        if batched:
            self.log_likelihood_batch = self._batch

    def prior_transform(self, u):
        return self.model.prior_transform(u)

    def log_likelihood(self, theta):
        self.single += 1
        return self.model.log_likelihood(theta)

    def _batch(self, thetas):
        self.batches.append(len(thetas))
        return self.model.log_likelihood_batch(thetas)


@pytest.fixture
def model(rng):
    y = rng.normal(0.0, 1.0, 60)
    return ModelSpec(priors={"mean": {"dist": "norm", "scale": 3},
                             "sigma": {"dist": "loguniform", "a": 0.1, "b": 10}}).build(
        Measurements.from_arrays(y), 1)


def test_initial_live_points_are_one_batch(model):
    problem = Counting(model)
    run = DynestyAdapter().run(problem, {"nlive": 60, "dlogz": 0.5}, seed=3)
    assert problem.batches == [60]
    assert run.ncall == problem.single + 60  # the batch counts as nlive calls


def test_problems_without_a_batch_are_left_to_dynesty(model):
    problem = Counting(model, batched=False)
    run = DynestyAdapter().run(problem, {"nlive": 60, "dlogz": 0.5}, seed=3)
    assert problem.batches == []
    assert run.ncall == problem.single


def test_batched_start_gives_the_same_evidence(model):
    """Batched or not, the two runs estimate the same evidence within their errors."""
    with_batch = DynestyAdapter().run(Counting(model), {"nlive": 200}, seed=5)
    without = DynestyAdapter().run(Counting(model, batched=False), {"nlive": 200}, seed=5)
    combined = np.hypot(with_batch.logz_err, without.logz_err)
    assert abs(with_batch.logz - without.logz) < 3 * combined
