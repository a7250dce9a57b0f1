"""dynesty's per-iteration evidence update with nestmix's two-term logsumexp."""

from __future__ import annotations

import threading

import dynesty.utils
import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp

from nestmix import Measurements, ModelSpec, get_sampler
from nestmix.samplers.dynesty.evidence_step import fast_evidence_update, logsumexp


def test_two_terms_agree_with_scipy_to_rounding():
    """dynesty's case (a shell between two log-volumes, weights ±1/2) and general weights."""
    rng = np.random.default_rng(3)
    for _ in range(4_000):
        logvol = -rng.uniform(0, 300)
        dlogvol = rng.choice([rng.uniform(1e-5, 1e-2), rng.uniform(0.01, 3)])
        a, b = [logvol + dlogvol, logvol], [0.5, -0.5]
        assert logsumexp(a=a, b=b) == pytest.approx(scipy_logsumexp(a=a, b=b), rel=1e-13)
        c, w = [rng.normal(0, 50), rng.normal(0, 50)], [rng.uniform(0.1, 2), rng.uniform(0.1, 2)]
        assert logsumexp(c, b=w) == pytest.approx(scipy_logsumexp(c, b=w), rel=1e-13, abs=1e-13)


@pytest.mark.parametrize(("a", "kwargs"), [
    ([1.0, 2.0, 3.0], {}),                                # more than two terms
    ([1.0, 2.0], {}),                                     # no weights
    ([0.0, 0.0], {"b": [0.5, -0.5]}),                     # they cancel: -inf, as scipy says
    ([1.0, 2.0], {"b": [0.5, -0.5]}),                     # negative total: nan, as scipy says
    ([-np.inf, 1.0], {"b": [0.5, 0.5]}),                  # an infinite term
    ([1.0, 2.0], {"b": [0.5, 0.5], "return_sign": True}),
    (np.array([[1.0, 2.0], [3.0, 4.0]]), {"axis": 0}),
])
def test_everything_else_is_scipys_answer(a, kwargs):
    with np.errstate(divide="ignore", invalid="ignore"):
        ours = logsumexp(a, **kwargs)
        theirs = scipy_logsumexp(a, **kwargs)
    np.testing.assert_array_equal(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float))


def test_in_effect_only_while_nestmix_runs_a_sampler():
    original = dynesty.utils.logsumexp
    with fast_evidence_update():
        assert dynesty.utils.logsumexp is logsumexp
        with fast_evidence_update():  # nested (re-entrant)
            assert dynesty.utils.logsumexp is logsumexp
        assert dynesty.utils.logsumexp is logsumexp
    assert dynesty.utils.logsumexp is original
    inside = threading.Barrier(3)

    def run():
        with fast_evidence_update():
            inside.wait()
            inside.wait()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()  # both threads inside
    assert dynesty.utils.logsumexp is logsumexp
    inside.wait()
    for t in threads:
        t.join()
    assert dynesty.utils.logsumexp is original


def test_a_run_matches_dynestys_own_update(monkeypatch):
    """The same seed with dynesty's own update and with nestmix's: the same run (calls,
    iterations) and ln Z to rounding."""
    import nestmix.samplers.dynesty.adapter as adapter

    data = Measurements.from_arrays(np.random.default_rng(1).normal(1.0, 2.0, size=80))
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 3},
                              "sigma": 1.0}).build(data, 1)
    ours = get_sampler("dynesty").run(model, {"nlive": 60, "sample": "rwalk"}, seed=5)

    class Unpatched:
        def __enter__(self):
            return None

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(adapter, "fast_evidence_update", Unpatched)
    theirs = get_sampler("dynesty").run(model, {"nlive": 60, "sample": "rwalk"}, seed=5)
    assert ours.ncall == theirs.ncall and len(ours.logl) == len(theirs.logl)
    assert ours.logz == pytest.approx(theirs.logz, rel=0, abs=1e-9)
    np.testing.assert_allclose(ours.logwt, theirs.logwt, rtol=0, atol=1e-8)
