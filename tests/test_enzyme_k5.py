"""Enzyme K = 5 at the defaults: ordered means with two seeds and exchangeable labels report
one ln Z (issue 31).

Richardson & Green's priors (μ ~ N(1.4505, 2.859²), σ² ~ InvGamma(2, scale 0.163478),
Dirichlet(1)). The two labellings are the same model (the ordered prior is K! Π p(μ_k) on the
ordered region), so their evidences are equal. Neither independent estimate is usable here
(the bridge's k̂ > 1, the importance check has too few effective draws), and single runs at
nlive 500 scatter by 2.3 times their reported error (ordered means, eight seeds: −84.3 to
−86.1, each ± 0.29), so before the second-seed rule two ordered seeds came out 3.8σ and 5σ
apart. With it (:func:`nestmix.sweep.convergence.needs_second_seed`) each row rests on two
seeds and its error includes their scatter: the three reported values agree within 2 combined
errors.
"""

from __future__ import annotations

import itertools
import json
import math
from importlib import resources

import pytest

import nestmix
from nestmix.data.loaders import load_measurements

PRIORS = {"mean": {"dist": "norm", "loc": 1.4505, "scale": 2.859},
          "variance": {"dist": "invgamma", "a": 2, "scale": 0.163478},
          "weights": {"dist": "dirichlet", "alpha": 1.0}}
SWEEPS = (("means", 1), ("means", 2), ("none", 1))


def enzyme_plan(order: str, seed: int) -> nestmix.SweepPlan:
    """K = 5 of the enzyme data at the defaults, labels ``order``, master seed ``seed``."""
    data = load_measurements(str(resources.files("nestmix.examples") / "enzyme.txt"))
    return nestmix.SweepPlan(name=f"enzyme-{order}-{seed}", data=data,
                             spec=nestmix.ModelSpec(order=order, priors=PRIORS),
                             k_values=(5,), seed=seed)


def test_enzyme_k5_is_a_row_that_gets_a_second_seed():
    """14 parameters: at or above the size from which an unchecked row gets a second seed."""
    from nestmix.sweep.convergence import SECOND_SEED_MIN_NDIM

    plan = enzyme_plan("means", 1)
    assert plan.spec.build(plan.data, 5).ndim == 14 >= SECOND_SEED_MIN_NDIM
    assert plan.escalate >= 1  # the default budget allows the second seed


@pytest.mark.slow  # about 3 to 6 CPU minutes: two to four dynesty runs per sweep
@pytest.mark.filterwarnings("ignore::UserWarning")  # dynesty: slice intervals expanded
def test_ordered_and_exchangeable_enzyme_k5_report_one_evidence(tmp_path):
    rows = {}
    for order, seed in SWEEPS:
        result = nestmix.run_sweep(enzyme_plan(order, seed), tmp_path / f"{order}-{seed}")
        rows[order, seed] = row = result.rows[0]
        print(f"enzyme K=5 {order} seed {seed}: ln Z {row.logZ:.3f} ± {row.logZ_err:.3f} "
              f"(runs {row.repeats}, {row.logZ_runs or ''}, nlive {row.nlive or 500}, "
              f"converged {row.converged})")
        assert row.repeats >= 2  # no row rests on one unchecked run
        assert row.crosscheck_logZ is None  # (nothing checks it: why it has two seeds)
        runs = [json.loads(path.read_text()) for path in
                (tmp_path / f"{order}-{seed}" / "K=5").glob("*/manifest.json")]
        seconds = [m for m in runs if m.get("second_seed")]
        assert seconds and all(m.get("repeat", 1) > 1 for m in seconds)
        # second seeds are not deeper runs: the row counts only those
        assert row.escalations == sum(1 for m in runs if m.get("repeat", 1) > 1
                                      and not m.get("second_seed"))
    for (a, ra), (b, rb) in itertools.combinations(rows.items(), 2):
        z = (ra.logZ - rb.logZ) / math.hypot(ra.logZ_err, rb.logZ_err)
        assert abs(z) <= 2, (a, ra.logZ, ra.logZ_err, b, rb.logZ, rb.logZ_err, z)
