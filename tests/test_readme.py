"""The README and the documentation pages: their examples run as shown, in an empty directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def tagged_example(page: str, tag: str, language: str = "python") -> str:
    text = (ROOT / page).read_text()
    match = re.search(rf"<!-- (?:readme|docs)-example: {tag} -->\n```{language}\n(.*?)```",
                      text, re.S)
    assert match, f"{page} has no example tagged {tag!r}"
    return match.group(1)


def run_python(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow  # ~30 s (a subprocess run of the README's example); runs in CI's slow stage
def test_custom_component_example_runs_as_shown(tmp_path):
    code = tagged_example("docs/components.md", "custom-components")
    assert len(code.strip().splitlines()) <= 25
    first, *rest = run_python(code, tmp_path).strip().splitlines()
    assert "('w_line', 'line_m', 'line_b', 'outliers_ln_s')" in first
    memberships = [float(v) for v in " ".join(rest).strip("[] ").split()]
    assert len(memberships) == 32 and sum(v > 0.5 for v in memberships) >= 7


@pytest.mark.slow
@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_python_quickstart_runs_as_shown_and_finds_several_components(page, tmp_path):
    code = tagged_example(page, "python-quickstart")
    assert len(code.strip().splitlines()) <= 12
    best_k, logz = run_python(code, tmp_path).strip().split(" ", 1)
    logz = [float(v) for v in logz.strip("[]").split(",")]
    assert int(best_k) == 3 and len(logz) == 3
    assert logz[0] < logz[1] - 5 < logz[2] - 10  # one and two components are far behind
    assert (tmp_path / "runs" / "galaxies-python" / "summary.json").exists()


@pytest.mark.slow  # ~1.5 min: eight runs of the bundled galaxies (K = 1..4 x full, tied)
def test_estimator_example_runs_as_shown(tmp_path):
    code = tagged_example("README.md", "estimator")
    assert len(code.strip().splitlines()) <= 4
    best_k, covariance, p = run_python(code, tmp_path).split()
    assert int(best_k) in (3, 4) and covariance == "full"  # K = 1, 2 and tied far behind
    assert 0.3 <= float(p) <= 1
    text = (ROOT / "README.md").read_text()
    assert f"It prints `{best_k} {covariance} {p}`" in text


def test_readme_tour_shows_both_entry_points_and_needs_no_config():
    text = (ROOT / "README.md").read_text()
    tour = text[text.index("## Quick start"):]
    assert "nestmix sweep points.csv" in tour and "NestedGaussianMixture" in tour
    assert tour.index("nestmix sweep points.csv") < tour.index(".toml")
    assert "A config names" not in text


def test_readme_timings_carry_their_conditions():
    text = " ".join((ROOT / "README.md").read_text().split())
    timings = re.findall(r"\b(?:\d+ min )?\d+ s\b", text)
    assert len(timings) >= 3
    for timing in timings:  # each within a sentence that says how loaded the machine was
        sentence = text[max(0, text.index(timing) - 300):text.index(timing) + 60]
        assert re.search(r"load average|idle|shared", sentence), timing


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "nestmix sweep --example galaxies" in block[0]
    assert block[1].endswith("pytest")


def test_readme_states_the_measured_time_of_the_default_test_run():
    text = (ROOT / "README.md").read_text()
    match = re.search(r"the\s+default\s+run\s+took\s+(\d+)\s+min\s+(\d+)\s+s", text)
    assert match, "README must state the measured time of the default `pytest` run"
    assert 60 * int(match.group(1)) + int(match.group(2)) <= 300


def test_getting_started_config_loads_with_a_csv_of_that_shape(tmp_path):
    from nestmix.sweep.config import load_config

    rng = np.random.default_rng(3)
    n = 40
    errors = rng.uniform(0.05, 0.2, size=(n, 2))
    values = rng.normal([[-2.9, -3.8]], 0.3, size=(n, 2)) + rng.normal(0.0, errors)
    rho = rng.uniform(-0.3, 0.3, size=n)
    rows = ["pmra,pmdec,pmra_error,pmdec_error,pmra_pmdec_corr"] + [
        ",".join(repr(float(v)) for v in (*values[i], *errors[i], rho[i])) for i in range(n)]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "points.toml"
    config.write_text(tagged_example("docs/getting-started.md", "points-config", "toml"))
    plan, _ = load_config(config)
    assert plan.k_values == (1, 2, 3)
    assert plan.data.n_points == n and plan.data.columns == ("pmra", "pmdec")
    np.testing.assert_allclose(plan.data.covariances[:, 0, 1], rho * errors[:, 0] * errors[:, 1])
    model = plan.spec.build(plan.data, k=2)
    theta = model.prior_transform(np.full(model.ndim, 0.5))
    assert np.isfinite(model.log_likelihood(theta))
    assert "background" in repr(model) and model.ndim == 12  # 2 + 2 x (2 means, 2 scales, 1 rho)
