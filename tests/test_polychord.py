"""The PolyChord backend on real runs of the Fortran library (installed here if missing).

Every run uses a fixed seed. The module fixture installs PolyChord (download of the official
wheel, build of the MPI stub, check run) when it is not installed yet, so CI runs these tests
for real instead of skipping them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, get_sampler
from nestmix.errors import ModelError, SamplerError
from nestmix.samplers.polychord import (
    CallbackError,
    PolyChordAdapter,
    check_installation,
    default_directory,
    find_library,
    install_polychord,
)
from nestmix.samplers.polychord.adapter import default_clustering, polychord_seed
from nestmix.samplers.polychord.runner import Callbacks
from tests.conftest import (
    GALAXY_PRIORS,
    BoxGaussian,
    KillsItself,
    RaisesAbove,
    SlowGaussian,
    tolerance,
)


@pytest.fixture(scope="module", autouse=True)
def polychord_installed():
    """Install PolyChord into the default directory unless it is there already."""
    return install_polychord(progress=lambda line: None)






@dataclass(frozen=True)
class NaNLikelihood(BoxGaussian):
    def log_likelihood(self, theta):
        return float("nan") if theta[1] < -4.0 else super().log_likelihood(theta)


@dataclass(frozen=True)
class BadPrior(BoxGaussian):
    def prior_transform(self, u):
        return np.zeros(self.ndim + 1)




_CALLS_IN_THIS_PROCESS = [0]


@dataclass(frozen=True)
class CountingGaussian(BoxGaussian):
    """Appends one line to ``tally`` every 1000 likelihood calls made in a process."""

    tally: str = ""

    def log_likelihood(self, theta):
        _CALLS_IN_THIS_PROCESS[0] += 1
        if _CALLS_IN_THIS_PROCESS[0] % 1000 == 0:
            with open(self.tally, "a") as stream:
                stream.write("1000\n")
        return super().log_likelihood(theta)


def calls_counted(path) -> int:
    return 1000 * len(path.read_text().splitlines()) if path.exists() else 0


@dataclass(frozen=True)
class Unpicklable(BoxGaussian):
    transform: object = None






@pytest.fixture(scope="module")
def mixture_model():
    """Two well-separated 1-D components, ~100 points; K = 2 with exchangeable labels."""
    rng = np.random.default_rng(20261121)
    y = np.concatenate([rng.normal(-3.0, 1.0, 50), rng.normal(3.0, 1.0, 50)])
    spec = ModelSpec(priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                             "sigma": {"dist": "loguniform", "a": 0.1, "b": 10}})
    return spec.build(Measurements.from_arrays(y), 2)


@pytest.fixture(scope="module")
def mixture_run(mixture_model):
    # clustering asked for explicitly: the default turns it off for exchangeable labels
    return get_sampler("polychord").run(mixture_model, {"nlive": 100, "do_clustering": True},
                                        seed=4)


# --------------------------------------------------------------------------------- tests
def test_installation_checks_itself():
    lib = find_library()
    assert lib.is_file() and lib.parent == default_directory()
    logz, logz_err, expected = check_installation(lib.parent)
    assert abs(logz - expected) < 4 * max(logz_err, 0.05)
    assert install_polychord(progress=lambda line: None) == lib  # idempotent


def test_gaussian_in_a_box_against_analytic_evidence():
    problem = BoxGaussian()
    run = get_sampler("polychord").run(problem, {"nlive": 200}, seed=1)
    assert abs(run.logz - problem.logz) < tolerance(run), (run.logz, problem.logz)
    assert run.sampler == "polychord" and run.seed == 1 and run.converged
    assert run.settings["nlive"] == 200 and run.settings["num_repeats"] == 10
    assert run.param_names == ("x_1", "x_2")
    assert run.ncall > 10_000 and run.seconds > 0
    assert run.samples.shape == (len(run.logl), 2) and np.all(np.diff(run.logl) >= 0)
    assert abs(float(run.to_anesthetic().logZ()) - run.logz) < 0.1
    mean = np.average(run.samples, weights=run.weights, axis=0)
    np.testing.assert_allclose(mean, problem.centre, atol=0.3)


def test_same_seed_gives_the_same_run():
    a = get_sampler("polychord").run(BoxGaussian(), {"nlive": 50}, seed=9)
    b = get_sampler("polychord").run(BoxGaussian(), {"nlive": 50}, seed=9)
    assert a.logz == b.logz and a.ncall == b.ncall


def test_a_seed_above_the_c_int_range_still_repeats_the_run():
    # Sweep seeds are 32-bit; one above 2**31 - 1 used to wrap to a negative C int, which
    # PolyChord takes as "seed from the clock", so such runs differed every time.
    seed = 2**32 - 7
    a = get_sampler("polychord").run(BoxGaussian(), {"nlive": 50}, seed=seed)
    b = get_sampler("polychord").run(BoxGaussian(), {"nlive": 50}, seed=seed)
    assert a.logz == b.logz and a.ncall == b.ncall
    assert a.seed == seed
    assert polychord_seed(seed) == seed - 2**31


def test_mixture_agrees_with_dynesty(mixture_model, mixture_run):
    dyn = get_sampler("dynesty").run(mixture_model, {"nlive": 200}, seed=4)
    pc = mixture_run
    assert pc.settings["num_repeats"] == 5 * mixture_model.ndim
    assert abs(pc.logz - dyn.logz) < tolerance(pc, dyn), (pc.logz, pc.logz_err, dyn.logz,
                                                          dyn.logz_err)


def test_every_sample_carries_its_unit_cube_point(mixture_model, mixture_run):
    # PolyChord writes only θ; nestmix writes each point's unit-cube coordinates as derived
    # parameters, so that the importance-sampling check can use PolyChord's samples
    run = mixture_run
    assert run.samples_u is not None and run.samples_u.shape == run.samples.shape
    assert np.all((run.samples_u > 0) & (run.samples_u < 1))
    again = np.array([mixture_model.prior_transform(u) for u in run.samples_u[::25]])
    np.testing.assert_allclose(again, run.samples[::25], rtol=1e-12, atol=1e-12)
    chains = run.to_anesthetic()
    assert list(chains.columns.get_level_values(0)[:mixture_model.ndim]) == list(
        run.param_names)


def test_the_importance_check_applies_to_polychord_runs(mixture_model, mixture_run):
    from nestmix.evidence.check import DISAGREE_Z, disagreement, importance_check

    check = importance_check(mixture_model, mixture_run, np.random.default_rng(1))
    assert check is not None and check.usable, check
    z = disagreement(mixture_run.logz, mixture_run.logz_err, check)
    assert z is not None and abs(z) < DISAGREE_Z, (mixture_run.logz, check)


def test_an_older_resume_file_is_set_aside_not_misread(tmp_path):
    adapter = get_sampler("polychord")
    settings = {"nlive": 50, "max_ndead": 150}
    adapter.run(BoxGaussian(), settings, seed=3, workdir=str(tmp_path))
    record = tmp_path / "nestmix-polychord.json"
    old = json.loads(record.read_text())
    del old["derived"]  # as an older nestmix wrote it
    record.write_text(json.dumps(old))
    run = adapter.run(BoxGaussian(), settings, seed=3, workdir=str(tmp_path))
    assert not run.resumed and (tmp_path / "polychord.resume.older-nestmix").is_file()
    assert any("older nestmix" in w for w in run.warnings), run.warnings
    assert run.samples_u is not None


def test_clusters_of_an_unordered_mixture_are_the_label_copies(mixture_run):
    run = mixture_run
    # PolyChord also keeps clusters that split off early and died out: ignore those (< 1 %)
    found = [(c.index, c.logz, c.logz_err) for c in run.clusters]
    main = [c for c in run.clusters if c.logz - run.logz > np.log(0.01)]
    assert len(main) == 2, found
    total = np.logaddexp.reduce([c.logz for c in run.clusters])
    assert abs(total - run.logz) < 3 * max(c.logz_err for c in main)
    for cluster in main:
        assert abs(cluster.logz - (run.logz - np.log(2))) < 3 * np.hypot(cluster.logz_err,
                                                                        run.logz_err)
        assert cluster.samples.shape[1] == run.samples.shape[1] and len(cluster.weights) > 0
    # the two clusters hold the two labellings: mean of mu_1 near -3 in one, +3 in the other
    col = run.param_names.index("mu_1")
    means = sorted(np.average(c.samples[:, col], weights=c.weights) for c in main)
    np.testing.assert_allclose(means, [-3, 3], atol=0.7)


def test_clustering_is_off_by_default_only_for_exchangeable_labels(mixture_model):
    y = np.asarray(mixture_model.data.values)[:, 0]
    data = Measurements.from_arrays(y)
    priors = {"mean": {"dist": "norm", "loc": 0, "scale": 5},
              "sigma": {"dist": "loguniform", "a": 0.1, "b": 10}}
    assert default_clustering(mixture_model) is False
    assert default_clustering(ModelSpec(priors=priors).build(data, 1)) is True
    assert default_clustering(ModelSpec(priors=priors, order="means").build(data, 2)) is True
    assert default_clustering(BoxGaussian()) is True  # not a mixture: PolyChord's own default


@pytest.mark.slow
def test_the_clustering_default_is_applied_and_recorded_and_a_user_setting_wins(
        mixture_model, mixture_run):
    # a short run: what is checked is the setting it ran with, not its accuracy (that is
    # benchmarks/calibration.py's job)
    run = get_sampler("polychord").run(mixture_model, {"nlive": 25, "num_repeats": 5}, seed=4)
    assert run.settings["do_clustering"] is False
    assert len(run.clusters) <= 1  # with clustering on, this posterior gives two (above)
    # without clustering the copies' masses drift at random: the census warns of nothing
    from nestmix.modes import analyse_run

    assert analyse_run(mixture_model, run, rng=np.random.default_rng(0)).census.warning is None
    assert mixture_run.settings["do_clustering"] is True  # asked for: kept


def test_resume_continues_instead_of_restarting(tmp_path):
    pc = get_sampler("polychord")
    work, first, second = tmp_path / "work", tmp_path / "first", tmp_path / "second"
    fresh = pc.run(BoxGaussian(), {"nlive": 100}, seed=3)
    stopped = pc.run(CountingGaussian(tally=str(first)), {"nlive": 100, "max_ndead": 400},
                     seed=3, workdir=str(work))
    assert not stopped.converged and not stopped.resumed
    assert (work / "polychord.resume").is_file()
    resumed = pc.run(CountingGaussian(tally=str(second)), {"nlive": 100}, seed=3,
                     workdir=str(work))
    assert resumed.converged and resumed.resumed
    # the second process made only the remaining calls; ncall counts the whole run
    assert calls_counted(second) < 0.8 * fresh.ncall
    assert abs(calls_counted(first) + calls_counted(second) - resumed.ncall) <= 2000
    assert abs(resumed.ncall - fresh.ncall) < 0.2 * fresh.ncall
    assert len(resumed.logl) > len(stopped.logl)
    assert abs(resumed.logz - fresh.logz) < tolerance(resumed, fresh)


def test_resume_refuses_a_different_run(tmp_path):
    pc = get_sampler("polychord")
    pc.run(BoxGaussian(), {"nlive": 50, "max_ndead": 100}, seed=3, workdir=str(tmp_path))
    with pytest.raises(SamplerError, match="nlive: was 50, now 60"):
        pc.run(BoxGaussian(), {"nlive": 60}, seed=3, workdir=str(tmp_path))


def test_a_raising_likelihood_stops_the_run_and_names_the_values():
    with pytest.raises(CallbackError) as info:
        get_sampler("polychord").run(RaisesAbove(), {"nlive": 50}, seed=1)
    error = info.value
    assert isinstance(error, ModelError) and error.where == "log-likelihood"
    assert error.exc_type == "ValueError" and error.values[0] > 1.5
    assert "raised ValueError" in str(error) and f"x_1={error.values[0]:.6g}" in str(error)
    assert isinstance(error.__cause__, ValueError)
    # the caller is alive and can run PolyChord again
    again = get_sampler("polychord").run(BoxGaussian(), {"nlive": 25}, seed=1)
    assert np.isfinite(again.logz)


def test_nan_likelihood_and_bad_prior_are_reported():
    with pytest.raises(CallbackError, match=r"returned nan at θ = \(x_1="):
        get_sampler("polychord").run(NaNLikelihood(), {"nlive": 50}, seed=1)
    with pytest.raises(CallbackError, match=r"prior transform returned shape \(3,\)"):
        get_sampler("polychord").run(BadPrior(), {"nlive": 50}, seed=1)


class Failed(Exception):
    """What the test's ``fail`` raises (in the child, ``fail`` reports and exits)."""


def _fail(where, values, exc, message):
    raise Failed(f"{where}: {message}")


def test_a_nonfinite_proposal_is_rejected_as_outside_the_prior():
    """PolyChord 1.15 sometimes proposes NaN unit-cube coordinates: the callbacks turn such a
    point into one outside the prior (logzero) and count it; a finite point is unaffected, a
    problem's own non-finite output is still an error, and too many NaN proposals stop."""
    problem = BoxGaussian()
    callbacks = Callbacks(problem, problem.ndim, -1e30, _fail, max_nonfinite=2)
    theta = callbacks.prior(np.array([np.nan, np.nan]))
    assert theta.shape == (2,) and np.all(np.isnan(theta))
    assert callbacks.loglike(theta) == -1e30 and callbacks.nonfinite == 1
    good = callbacks.prior(np.array([0.55, 0.45]))
    np.testing.assert_allclose(good, problem.prior_transform([0.55, 0.45]))
    assert callbacks.loglike(good) == pytest.approx(problem.log_likelihood(good))
    assert callbacks.ncall == 2 and callbacks.nonfinite == 1
    callbacks.prior(np.array([0.3, np.inf]))
    with pytest.raises(Failed, match="proposed 3 points with non-finite unit-cube"):
        callbacks.prior(np.array([np.nan, 0.5]))
    with pytest.raises(Failed, match="prior transform: returned non-finite values"):
        Callbacks(NaNPrior(), 2, -1e30, _fail).prior(np.array([0.5, 0.5]))


@dataclass(frozen=True)
class NaNPrior(BoxGaussian):
    def prior_transform(self, u):
        return np.full(self.ndim, np.nan)


@pytest.mark.slow
def test_polychord_recovers_from_nan_proposals_on_the_galaxies(galaxies):
    """A run that used to stop with "the prior transform ... at u = (nan, ...)": the galaxies,
    K = 3 with unequal variances, num_repeats = ndim, seed 1 (found by
    ``benchmarks/sampler_study.py``). It now finishes, with the evidence of an independent
    dynesty run; where PolyChord did propose NaN points, the run says how many."""
    model = ModelSpec(covariance="full", priors=GALAXY_PRIORS).build(galaxies, 3)
    run = get_sampler("polychord").run(model, {"num_repeats": model.ndim}, seed=1)
    reference = get_sampler("dynesty").run(
        model, {"nlive": 500, "sample": "rwalk", "bound": "multi"}, seed=3)
    assert abs(run.logz - reference.logz) < tolerance(run, reference)
    assert np.all(np.isfinite(run.samples)) and np.all(np.isfinite(run.logl))
    nan_warnings = [w for w in run.warnings if "non-finite unit-cube coordinates" in w]
    assert len(nan_warnings) <= 1 and all("rejected as outside the prior" in w
                                         for w in nan_warnings)


def test_a_child_that_dies_gives_a_clear_error():
    with pytest.raises(SamplerError, match="ended with exit code -9 without reporting"):
        get_sampler("polychord").run(KillsItself(), {"nlive": 50}, seed=1)


def test_ctrl_c_kills_the_run_and_is_re_raised():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, (
        "SIGINT is ignored in this process: started in the background by a non-interactive "
        "shell (`cmd &` without job control ignores SIGINT)? Ctrl-C cannot be tested here")
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            get_sampler("polychord").run(SlowGaussian(), {"nlive": 500}, seed=1)
    finally:
        timer.cancel()
    assert not runner_children(), "the PolyChord child outlived the interrupted run"


def test_a_problem_that_cannot_be_pickled_is_refused():
    with pytest.raises(SamplerError, match="must be picklable"):
        get_sampler("polychord").run(Unpicklable(transform=threading.Lock()), {}, seed=1)


def test_a_problem_defined_in_a_script_runs_without_a_main_guard(tmp_path):
    """The child is a fresh interpreter fed with cloudpickle: no `if __name__` guard needed."""
    script = tmp_path / "user_script.py"
    script.write_text(
        "import numpy as np\n"
        "from nestmix import get_sampler\n"
        "class Flat:\n"
        "    ndim = 2\n"
        "    param_names = ('a', 'b')\n"
        "    def prior_transform(self, u):\n"
        "        return 20 * np.asarray(u) - 10\n"
        "    def log_likelihood(self, theta):\n"
        "        return float(-0.5 * np.sum(theta**2) - np.log(2 * np.pi))\n"
        "run = get_sampler('polychord').run(Flat(), {'nlive': 50}, seed=1)\n"
        "print('LOGZ', run.logz, run.logz_err)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    logz, err = (float(v) for v in done.stdout.split("LOGZ")[1].split())
    assert abs(logz - np.log(1 / 400)) < 3 * max(err, 0.05)


def runner_children() -> list[int]:
    """Processes whose parent is this one and that run nestmix's PolyChord runner."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in text.splitlines()
                     if line.startswith("PPid:")), "")
        if ppid == str(os.getpid()) and b"nestmix.samplers.polychord.runner" in cmdline:
            found.append(int(status.parent.name))
    return found


def test_installer_refuses_a_wheel_that_is_not_the_official_one(tmp_path):
    fake = tmp_path / "pypolychord-1.15.1-cp37-cp37m-manylinux1_x86_64.whl"
    fake.write_bytes(b"not a wheel")
    with pytest.raises(SamplerError, match="not that of the official pypolychord"):
        install_polychord(tmp_path / "home", wheel=fake, progress=lambda line: None)
    assert not (tmp_path / "home").exists()


def test_unknown_and_bad_settings_are_rejected():
    adapter = PolyChordAdapter()
    with pytest.raises(SamplerError, match=r"did you mean 'nlive'.*valid settings: .*num_repeats"):
        adapter.validate({"nlives": 100})
    with pytest.raises(SamplerError, match="must be int"):
        adapter.validate({"nlive": 10.5})
    with pytest.raises(SamplerError, match="precision_criterion"):
        adapter.validate({"precision_criterion": 0})
    merged = adapter.validate({"num_repeats": 7})
    assert merged["nlive"] is None and merged["num_repeats"] == 7
    assert merged["do_clustering"] is None  # chosen from the problem at run time
    assert get_sampler("polychord").name == "polychord"


def test_not_installed_gives_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("NESTMIX_POLYCHORD_HOME", str(tmp_path / "empty"))
    with pytest.raises(SamplerError, match="nestmix install-polychord"):
        find_library()
    with pytest.raises(SamplerError, match="PolyChord is not installed"):
        get_sampler("polychord").run(BoxGaussian(), {}, seed=1)


@pytest.mark.slow
def test_a_running_run_shows_its_progress(tmp_path):
    """The adapter reads PolyChord's .stats and live-point files while it runs and keeps the
    run's progress.json up to date (nestmix.runtime.progress), as the command line and service read
    it.
    """
    import time

    from nestmix.runtime.progress import read_progress

    workdir = tmp_path / "K=1" / ".polychord.work"
    done: list = []
    thread = threading.Thread(target=lambda: done.append(get_sampler("polychord").run(
        SlowGaussian(), {"nlive": 50, "num_repeats": 2}, seed=1, workdir=str(workdir))))
    thread.start()
    seen = []
    while thread.is_alive():
        seen += [f for f in read_progress(tmp_path) if f["ncall"] > 0]
        time.sleep(0.25)
    thread.join()
    assert done and len(seen) >= 2, "no progress while PolyChord ran"
    assert {f["sampler"] for f in seen} == {"polychord"}
    calls = [f["ncall"] for f in seen]
    assert calls == sorted(calls) and calls[-1] <= done[0].ncall
    deltas = [f["delta_logz"] for f in seen if f["delta_logz"] is not None]
    assert deltas and deltas[-1] < deltas[0]
    assert seen[-1]["goal"] == pytest.approx(np.log1p(done[0].settings["precision_criterion"]))
