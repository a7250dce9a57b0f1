"""PolyChord at its defaults on the galaxies, K = 3 with one variance per component (issue 31).

The acceptance case of issue 31: the 82 galaxy velocities (1000 km/s), μ ~ N(20, 10²),
σ² ~ InvGamma(3, scale 20), Dirichlet(1) weights, exchangeable labels: the ln Z a sweep
reports (after its checks and any deeper run) for three master seeds, each within 3 of its
combined errors of the calibration's reference (``benchmarks/results/calibration_references.json``,
key ``galaxies:3``: importance sampling with 200 000 draws, −226.816 ± 0.008).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import nestmix
from nestmix.samplers.polychord import install_polychord

REFERENCES = Path(__file__).resolve().parents[1] / "benchmarks" / "results" \
    / "calibration_references.json"
PRIORS = {"mean": {"dist": "norm", "loc": 20, "scale": 10},
          "variance": {"dist": "invgamma", "a": 3, "scale": 20},
          "weights": {"dist": "dirichlet", "alpha": 1.0}}


def galaxies_plan(seed: int) -> nestmix.SweepPlan:
    """The sweep of K = 3 on PolyChord at its defaults (benchmarks/calibration.py's model)."""
    data = nestmix.datasets.load("galaxies").measurements(scale=1e-3)
    spec = nestmix.ModelSpec(order="none", covariance="full", priors=PRIORS)
    return nestmix.SweepPlan(name=f"galaxies-k3-{seed}", data=data, spec=spec, k_values=(3,),
                             sampler="polychord", seed=seed)


def test_the_plan_runs_the_calibrations_model():
    """The sweep's model is the one the reference was computed for: same data, priors, ndim."""
    plan = galaxies_plan(1)
    model = plan.spec.build(plan.data, 3)
    assert model.ndim == 8 and plan.data.n_points == 82
    assert json.loads(REFERENCES.read_text())["galaxies:3"]["ndim"] == 8
    settings = plan.resolved_settings("polychord", 3)
    assert (settings["nlive"], settings["num_repeats"]) == (200, 40)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_polychord_defaults_reach_the_reference_on_galaxies_k3(seed, tmp_path):
    install_polychord(progress=lambda line: None)
    reference = json.loads(REFERENCES.read_text())["galaxies:3"]
    row = nestmix.run_sweep(galaxies_plan(seed), tmp_path / "sweep").rows[0]
    sigma = math.hypot(row.logZ_err, reference["logz_err"])
    z = (row.logZ - reference["logz"]) / sigma
    print(f"galaxies K=3 polychord seed {seed}: ln Z {row.logZ:.3f} ± {row.logZ_err:.3f}, "
          f"z = {z:+.2f}, runs {row.repeats}, converged {row.converged}")
    assert abs(z) <= 3, (row.logZ, row.logZ_err, z, row.warnings)
