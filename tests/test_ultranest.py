"""The UltraNest adapter on real runs of the ``ultranest`` package (the ``[ultranest]`` extra):
evidences against closed forms and quadrature, seeding, resume, its settings, and sweeps
with ``sampler = "ultranest"`` through the command line (runs, relabelling, census, checks,
report, resume). Every run has a fixed seed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, get_sampler, load_sweep
from nestmix.cli import main
from nestmix.errors import ModelError, SamplerError
from nestmix.samplers.ultranest.adapter import SLICE_ABOVE
from tests.conftest import GALAXY_PRIORS, TOY_PRIORS, BoxGaussian, tolerance, toy_values
from tests.test_evidence_galaxies import quadrature_logz_k1
from tests.test_samplers import analytic_logz

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deconvolved():
    """y_i ~ N(μ, 0.7² + s_i²) with per-point errors s_i, μ ~ N(0, 5²): ln Z in closed form
    (tests/test_samplers.py's heteroscedastic case)."""
    rng = np.random.default_rng(3)
    s = rng.uniform(0.2, 1.5, size=60)
    y = rng.normal(-2.0, np.sqrt(0.7**2 + s**2))
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                              "sigma": 0.7}).build(Measurements.from_arrays(y, errors=s), 1)
    return model, float(analytic_logz(y, s**2, 0.7**2, 0.0, 5.0))


def test_evidence_with_per_point_errors_against_the_closed_form(deconvolved):
    model, expected = deconvolved
    run = get_sampler("ultranest").run(model, {"nlive": 100}, seed=5)
    assert abs(run.logz - expected) < tolerance(run), (run.logz, run.logz_err, expected)
    assert run.sampler == "ultranest" and run.converged and not run.resumed


@pytest.mark.slow
def test_galaxies_k1_against_quadrature(galaxies):
    """Two parameters (μ, σ²) of the galaxy velocities against a Simpson quadrature."""
    model = ModelSpec(priors=GALAXY_PRIORS).build(galaxies, 1)
    run = get_sampler("ultranest").run(model, {"nlive": 200}, seed=1)
    expected = quadrature_logz_k1(np.asarray(galaxies.values)[:, 0])
    assert abs(run.logz - expected) < tolerance(run), (run.logz, run.logz_err, expected)


def test_same_seed_same_run_and_the_global_generator_is_left_alone(deconvolved):
    model, _ = deconvolved
    adapter = get_sampler("ultranest")
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - what UltraNest draws from
    a = adapter.run(model, {"nlive": 30}, seed=2)
    after = np.random.get_state()[1]  # noqa: NPY002
    b = adapter.run(model, {"nlive": 30}, seed=2**32 + 2)  # folded into the same seed
    c = adapter.run(model, {"nlive": 30}, seed=3)
    np.testing.assert_array_equal(before, after)
    assert a.logz == b.logz and a.ncall == b.ncall
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.logz != c.logz


def test_a_problem_without_batches_runs_point_by_point():
    """A plain LikelihoodProblem (no log_likelihood_batch, a transform of single points):
    the Gaussian in a box, Z = (2a)^−d."""
    problem = BoxGaussian(ndim=2)
    run = get_sampler("ultranest").run(problem, {"nlive": 50}, seed=4)
    assert abs(run.logz - problem.logz) < tolerance(run), (run.logz, problem.logz)


def test_slice_steps_in_many_dimensions():
    """Above SLICE_ABOVE parameters, and for exchangeable labels with K ≥ 2, the default
    proposal is UltraNest's slice sampler, with 2 × ndim steps; asked for in one dimension,
    it gives the box's evidence too."""
    adapter = get_sampler("ultranest")
    wide = adapter.resolved(adapter.validate({}), BoxGaussian(ndim=SLICE_ABOVE + 1))
    assert wide["step_sampler"] == "slice" and wide["nsteps"] == 2 * (SLICE_ABOVE + 1)
    narrow = adapter.resolved(adapter.validate({}), BoxGaussian(ndim=2))
    assert narrow["step_sampler"] == "none" and narrow["nsteps"] is None
    assert adapter.resolved(adapter.validate({"nsteps": 5}), BoxGaussian())["step_sampler"] \
        == "slice"
    data = Measurements.from_arrays(toy_values(10))  # label copies: slices from K = 2 on
    for k, order, step in ((1, "none", "none"), (2, "none", "slice"), (2, "means", "none")):
        model = ModelSpec(order=order, priors=TOY_PRIORS).build(data, k)
        assert adapter.resolved(adapter.validate({}), model)["step_sampler"] == step, (k, order)
    problem = BoxGaussian(ndim=1)
    run = adapter.run(problem, {"nlive": 50, "step_sampler": "slice"}, seed=6)
    assert run.settings["nsteps"] == 2
    assert abs(run.logz - problem.logz) < tolerance(run), (run.logz, problem.logz)


@pytest.mark.parametrize(("settings", "match"), [
    ({"step_sampler": "hmc"}, "'step_sampler' must be one of none, slice; got 'hmc'"),
    ({"step_sampler": "none", "nsteps": 3}, "'nsteps' is only used with step_sampler"),
    ({"dlogz": 0}, "'dlogz' must be greater than 0"),
    ({"frac_remain": 2.0}, "'frac_remain' must be at most 1"),
    ({"min_num_live_points": 100}, "unknown ultranest setting 'min_num_live_points'"),
    ({"resume": "yes"}, "'resume' must be bool"),
])
def test_bad_settings_are_refused(settings, match):
    with pytest.raises(SamplerError, match=match):
        get_sampler("ultranest").validate(settings)


def test_resume_continues_from_the_stored_points_and_refuses_another_run(tmp_path,
                                                                        deconvolved):
    model, _ = deconvolved
    adapter = get_sampler("ultranest")
    work = tmp_path / "work"
    first = adapter.run(model, {"nlive": 30}, seed=2, workdir=str(work))
    assert (work / "results" / "points.hdf5").is_file() and not first.resumed
    progress = json.loads((work / "progress.json").read_text())  # what `nestmix` shows
    assert progress["sampler"] == "ultranest" and 0 < progress["ncall"] <= first.ncall
    assert progress["logz"] == pytest.approx(first.logz, abs=3)
    again = adapter.run(model, {"nlive": 30}, seed=2, workdir=str(work))
    assert again.resumed and again.ncall == first.ncall  # every point read back, none new
    assert abs(again.logz - first.logz) < tolerance(first, again)
    moved = adapter.run(model, {"nlive": 30}, seed=9, workdir=str(work))
    assert not moved.resumed and moved.warnings[0].startswith(
        "the UltraNest points in the work directory belong to a run made differently")


def test_a_nan_likelihood_is_one_clear_error():
    class NaNAbove(BoxGaussian):
        def log_likelihood(self, theta):
            return float("nan") if theta[0] > 4.5 else super().log_likelihood(theta)

    with pytest.raises(ModelError, match=r"the log-likelihood is nan at θ = \["):
        get_sampler("ultranest").run(NaNAbove(ndim=2), {"nlive": 50}, seed=1)


def test_without_the_extra_a_sweep_names_it_in_one_line(tmp_path):
    config = _toy_config(tmp_path, k=[1])
    code = ("import sys\nsys.modules['ultranest'] = None\nfrom nestmix.cli import main\n"
            f"sys.exit(main(['sweep', {str(config)!r}, '--out', {str(tmp_path / 'out')!r}, "
            "'--jobs', '1']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "nestmix: error: the ultranest sampler needs the 'ultranest' extra (ultranest not "
        "installed): pip install 'nestmix[ultranest]'"]
    assert not list((tmp_path / "out").glob("K=*/ultranest"))


def _toy_config(tmp_path: Path, k: list[int], nlive: int = 100, extra: str = "") -> Path:
    np.savetxt(tmp_path / "values.txt", toy_values(20))
    config = tmp_path / "toy.toml"
    config.write_text(
        'name = "toy"\n[data]\npath = "values.txt"\n[model.priors]\n'
        'mean = { dist = "norm", loc = 0, scale = 5 }\n'
        'sigma = { dist = "halfnorm", scale = 3 }\n'
        f'[sweep]\nk = {k}\nsampler = "ultranest"\nnlive = {nlive}\nseed = 1\n{extra}')
    return config


@pytest.mark.slow  # a command-line sweep and its report on UltraNest: ~30-70 s
def test_a_sweep_with_ultranest(tmp_path, capsys):
    """``sampler = "ultranest"`` through ``nestmix sweep``: runs stored with UltraNest's own
    files, relabelled, their label census and cross-checks recorded, the report written, and
    a second call reuses every run."""
    config = _toy_config(tmp_path, k=[1, 2])
    out = tmp_path / "runs" / "toy"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "best K = 2 for ultranest" in printed
    assert (out / "report.html").stat().st_size > 0
    for k in (1, 2):
        run_dir = out / f"K={k}" / "ultranest"
        assert (run_dir / "chains" / "results" / "points.hdf5").is_file()  # UltraNest's own
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["sampler"] == "ultranest"
        assert "error" not in (manifest["summary"].get("crosscheck") or {})
    result = load_sweep(out)
    rows = {r.k: r for r in result.rows}
    assert set(rows) == {1, 2} and all(r.sampler == "ultranest" for r in rows.values())
    assert rows[2].logZ - rows[1].logZ > 5  # two well separated clusters
    assert rows[2].expected_copies == 2 and 1 <= rows[2].label_copies <= 2
    assert rows[2].crosscheck_logZ is not None
    assert abs(rows[2].logZ - rows[2].crosscheck_logZ) < 3 * np.hypot(
        rows[2].logZ_err, rows[2].crosscheck_logZ_err or 0.0) + 0.1
    modes = next(m for m in result.modes if m["k"] == 2)
    means = sorted(m[0] for m in modes["distinct_modes"]["modes"][0]["means"]["mean"])
    assert means == pytest.approx([-3, 2.5], abs=0.5)  # relabelled to the two clusters
    from anesthetic import read_chains  # UltraNest's own files, read by anesthetic

    chains = read_chains(str(out / "K=2" / "ultranest" / "chains"))
    assert abs(float(chains.logZ()) - rows[2].logZ) < 3 * max(rows[2].logZ_err, 0.05)
    before = {p: p.stat().st_mtime_ns for p in out.glob("K=*/ultranest/samples.npz")}
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 0
    assert capsys.readouterr().out.count("reused finished run") == 2
    assert {p: p.stat().st_mtime_ns for p in before} == before


#: ln Z of the galaxies example (``nestmix sweep --example galaxies``: velocities / 1000,
#: μ ~ N(20, 10²), σ² ~ InvGamma(3, 20), Dirichlet(1) weights, exchangeable labels), from
#: ``benchmarks/results/calibration_references.json``: K = 1 by quadrature (also computed
#: below), K = 2 and 3 by importance sampling over the posterior's modes (200 000 draws).
GALAXIES_REFERENCES = {1: (-246.10615, 0.001), 2: (-232.87726, 0.0023),
                       3: (-226.81646, 0.0079)}


@pytest.mark.slow
def test_galaxies_sweep_at_defaults_agrees_with_references_and_dynesty(tmp_path, capsys,
                                                                       galaxies):
    """Issue 34's acceptance: the galaxies K = 1..3 with ``sampler = ["ultranest",
    "dynesty"]`` at their defaults, escalation on (the example's own), agree with the
    quadrature / importance-sampling references and with each other within 3σ."""
    example = ROOT / "nestmix" / "examples" / "galaxies.toml"
    text = example.read_text().replace('path = "galaxies_roeder1990.txt"',
                                       f'path = "{example.parent / "galaxies_roeder1990.txt"}"')
    text = text.replace("k = [1, 2, 3, 4]", "k = [1, 2, 3]").replace(
        'sampler = "dynesty"', 'sampler = ["ultranest", "dynesty"]').replace(
        "nlive = 250 ", "# nlive: each sampler's default ")
    assert 'sampler = ["ultranest", "dynesty"]' in text and "nlive = 250" not in text
    config = tmp_path / "galaxies.toml"
    config.write_text(text)
    out = tmp_path / "galaxies"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "2"]) == 0
    assert quadrature_logz_k1(np.asarray(galaxies.values)[:, 0]) == pytest.approx(
        GALAXIES_REFERENCES[1][0], abs=1e-3)
    by = {(r.sampler, r.k): r for r in load_sweep(out).rows}
    for k, (reference, error) in GALAXIES_REFERENCES.items():
        ultra, dyn = by["ultranest", k], by["dynesty", k]
        assert abs(ultra.logZ - reference) < 3 * np.hypot(ultra.logZ_err, error), (k, ultra)
        assert abs(ultra.logZ - dyn.logZ) < 3 * np.hypot(ultra.logZ_err, dyn.logZ_err), k
    print(json.dumps({f"{s} K={k}": [r.logZ, r.logZ_err, r.ncall, r.seconds]
                      for (s, k), r in sorted(by.items())}), file=sys.stderr)
