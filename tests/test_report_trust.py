"""The report's sentences on whether the answer can be trusted (nestmix.report.trust)."""

from __future__ import annotations

import numpy as np

from nestmix.evidence.arithmetic import posterior_probabilities
from nestmix.report import build_report
from nestmix.report.trust import top_of_range_warnings
from nestmix.results import EvidenceRow, SweepResult
from nestmix.store.archive import SweepArchive


def _rows(logzs: dict[int, float], sampler: str = "dynesty") -> tuple[EvidenceRow, ...]:
    ks = sorted(logzs)
    p, _ = posterior_probabilities([logzs[k] for k in ks], [0.1] * len(ks))
    return tuple(EvidenceRow(k=k, sampler=sampler, logZ=logzs[k], logZ_err=0.1,
                             logZ_err_sim=0.1, ln_bf=0.0, ln_bf_err=0.1, p_k=float(pk),
                             p_k_err=0.01, ncall=10, seconds=1.0, ndim=2, information=1.0,
                             n_effective=10.0, converged=True)
                 for k, pk in zip(ks, p, strict=True))


def test_probability_at_the_top_of_the_range_suggests_larger_k():
    # P(K = 4) = 0.13 while K = 3 is best (acidity-like): warned
    rows = _rows({1: -40.0, 2: -30.0, 3: -10.0, 4: -10.0 - np.log(0.87 / 0.13)})
    assert 0.12 < rows[-1].p_k < 0.14 and max(rows, key=lambda r: r.logZ).k == 3
    warnings = top_of_range_warnings(SweepResult(name="t", rows=rows), [1, 2, 3, 4])
    assert len(warnings) == 1 and "P(K = 4 | data) = 0.130" in warnings[0]
    assert "add larger K" in warnings[0]
    # P(K = 4) = 0.03: nothing to say
    rows = _rows({1: -40.0, 2: -30.0, 3: -10.0, 4: -10.0 - np.log(0.97 / 0.03)})
    assert top_of_range_warnings(SweepResult(name="t", rows=rows), [1, 2, 3, 4]) == []
    # the top K not finished yet: its probability is unknown, so nothing is claimed
    assert top_of_range_warnings(SweepResult(name="t", rows=rows[:3]), [1, 2, 3, 4]) == []


def test_best_k_at_the_top_is_still_warned_and_each_sampler_speaks_for_itself():
    rows = _rows({1: -20.0, 2: -10.0}) + _rows({1: -20.0, 2: -30.0}, sampler="polychord")
    warnings = top_of_range_warnings(SweepResult(name="t", rows=rows), [1, 2])
    assert warnings == ["dynesty: the best K (2) is the largest K of the sweep; a larger K may "
                        "fit better (add larger K to the sweep)"]


def test_the_report_carries_the_warning(tmp_path):
    rows = _rows({1: -20.0, 2: -10.0, 3: -11.0})
    archive = SweepArchive(directory=tmp_path, result=SweepResult(name="t", rows=rows),
                           manifest={"k_values": [1, 2, 3]}, data=None, spec=None,
                           spec_problem="no data")
    report = build_report(archive, figures=False)
    assert any("P(K = 3 | data) = 0.269" in w for w in report.warnings), report.warnings
