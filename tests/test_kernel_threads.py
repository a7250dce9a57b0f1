"""The parallel likelihood kernel and each run's share of the cores (issue #17, item 3).

The parallel kernels must return the serial kernels' values (they add the same block sums in
the same order), whatever the number of threads; a run's thread count is a pure function of the
cores, the sweep's running runs, the processes per run and the cores other work left free (a
pure function of two CPU counters); and a sweep at N >= 10⁴ gives the same evidence with the
parallel kernel as without it. Tests that count threads replace the CPU counters by a machine
whose other work they choose (:class:`FakeMachine`): they do not depend on this machine's load.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from nestmix import Measurements, ModelSpec
from nestmix.errors import ModelError
from nestmix.model.kernels import _numba_impl
from nestmix.runtime import cpuload
from nestmix.runtime.backend import PARALLEL_KERNEL_ENV, parallel_kernel_limit, recorded_switches
from nestmix.runtime.cpuload import available_cores
from nestmix.runtime.threads import (
    PARALLEL_MIN_POINTS,
    SHARE_ENV,
    child_environment,
    parallel_record,
    run_share,
    running_runs,
    thread_budget,
    threads_for,
)
from tests.test_compiled_coverage import component_cases, one_d_data
from tests.test_kernels import HALF, NORM, make_data

N = 1_100  # five blocks, the last one short: chunks and the remainder are exercised


class FakeMachine:
    """CPU counters of a machine whose other work keeps ``other`` cores busy while this process
    uses ``own`` cores; each sample is one second after the last."""

    def __init__(self, cores: int, other: float = 0.0, own: float = 1.0) -> None:
        self.cores, self.other, self.own = cores, other, own
        self.now = 0.0
        self.busy = self.total = self.own_seconds = 0.0

    def __call__(self) -> cpuload.CpuSample:
        self.now += 1.0
        self.total += 100.0 * self.cores
        self.busy += 100.0 * min(self.cores, self.other + self.own)
        self.own_seconds += self.own
        return cpuload.CpuSample(self.now, self.own_seconds, self.busy, self.total, np.nan)


@pytest.fixture
def machine(monkeypatch) -> FakeMachine:
    """An idle machine (no other work) in place of this one's counters; no first-window pause.
    """
    import nestmix.runtime.threads as threads

    fake = FakeMachine(available_cores())
    monkeypatch.setattr(threads, "_cpu_sample", fake)
    monkeypatch.setattr(threads, "FIRST_WINDOW_SECONDS", 0.0)
    return fake


def _numba_threads() -> int:
    from numba import config

    return int(config.NUMBA_NUM_THREADS)


def serial_and_parallel(model, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The serial kernel's values and the parallel kernel's with 1 and with all of numba's
    threads (called directly: independent of how many cores this machine has)."""
    import numba

    arguments = model._kernel.compiled_arguments()
    assert arguments is not None
    one_d = arguments[3].ndim == 1
    serial = _numba_impl.loglike_1d if one_d else _numba_impl.loglike_nd
    parallel = _numba_impl.loglike_1d_parallel if one_d else _numba_impl.loglike_nd_parallel
    theta = np.ascontiguousarray(theta, dtype=float)
    expected = np.empty(len(theta))
    serial(theta, *arguments, expected)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, _numba_threads()}):
            numba.set_num_threads(threads)
            out = np.empty(len(theta))
            parallel(theta, *arguments, out)
            results.append(out)
    finally:
        numba.set_num_threads(before)
    return expected, results


def check_agreement(model, theta: np.ndarray) -> np.ndarray:
    expected, results = serial_and_parallel(model, theta)
    for out in results:
        np.testing.assert_array_equal(np.isfinite(out), np.isfinite(expected))
        finite = np.isfinite(expected)
        np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-10, atol=0)
        np.testing.assert_array_equal(out[~finite], expected[~finite])
    return expected


def with_bad_rows(model, rng) -> np.ndarray:
    """Prior draws plus a θ with a NaN and one with a negative weight (likelihood -inf)."""
    theta = model.prior_transform(rng.uniform(size=(12, model.ndim)))
    nan = theta[0].copy()
    nan[-1] = np.nan
    negative = theta[1].copy()
    negative[0] = -0.5
    return np.vstack([theta, nan, negative])


# ------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize(("d", "covariance", "errors", "background", "k"), [
    (1, "full", "diag", "uniform", 3),
    (1, "spherical", "none", "none", 2),
    (2, "full", "corr", "uniform", 3),
    (2, "full", "none", "uniform", 2),
    (3, "full", "corr", "uniform", 3),
    (3, "tied", "none", "none", 2),
])
def test_parallel_kernel_agrees_with_serial(rng, d, covariance, errors, background, k):
    data = make_data(rng, N, d, errors)
    scale = "sigma" if d != 2 else "variance"
    prior = HALF if scale == "sigma" else {"dist": "invgamma", "a": 3, "scale": 4}
    model = ModelSpec(covariance=covariance, background=background,
                      priors={"mean": NORM, scale: prior}).build(data, k)
    expected = check_agreement(model, with_bad_rows(model, rng))
    assert np.isfinite(expected[:12]).all() and not np.isfinite(expected[12:]).any()


def test_parallel_kernel_agrees_where_no_component_reaches_a_point(rng):
    """A point so far that its squared distance overflows: -inf from the block that holds it,
    as in the serial kernel."""
    values = rng.normal(size=N)
    values[700] = 1e99  # in the third of five blocks; its (value / sigma)² overflows
    model = ModelSpec(priors={"mean": NORM, "sigma": {"dist": "loguniform", "a": 1e-60,
                                                      "b": 1e-59}}).build(
        Measurements.from_arrays(values), 2)
    expected = check_agreement(model, model.prior_transform(rng.uniform(size=(5, model.ndim))))
    assert not np.isfinite(expected).any()


@pytest.mark.parametrize(("components", "k", "errors"), component_cases())
def test_parallel_kernel_agrees_with_built_in_components(components, k, errors):
    spec = ModelSpec(priors={"mean": NORM, "sigma": HALF} if k else {},
                     extra_components=components, background="uniform" if k == 1 else "none")
    model = spec.build(one_d_data(errors, N), k)
    assert model._kernel.compiles_components
    theta = model.prior_transform(np.random.default_rng(9).random((12, model.ndim)))
    assert np.isfinite(check_agreement(model, theta)).all()


def test_parallel_kernel_agrees_with_space_density_and_2d_cluster(rng):
    from nestmix.components import make_component

    distance = rng.gamma(3.0, 0.4, N)
    err = rng.uniform(0.05, 0.3, N)
    field = make_component("exponential_space_density", name="field", nodes=16,
                           priors={"L": {"dist": "loguniform", "a": 0.05, "b": 5}})
    model = ModelSpec(priors={"mean": NORM, "sigma": HALF}, extra_components=(field,)).build(
        Measurements.from_arrays(1 / distance + err * rng.normal(size=N), errors=err), 1)
    assert model._kernel.compiles_components
    check_agreement(model, model.prior_transform(rng.random((8, model.ndim))))
    prior = {"dist": "loguniform", "a": 0.05, "b": 2}
    cluster = make_component("gaussian_cluster", name="cl", axes=("x0", "x1"), shape="diagonal",
                             priors={"mu_x0": NORM, "mu_x1": NORM, "sigma_x0": prior,
                                     "sigma_x1": prior})
    data = make_data(rng, N, 2, "corr")
    model = ModelSpec(background="uniform", extra_components=(cluster,),
                      priors={"mean": NORM, "sigma": HALF}).build(data, 2)
    assert model._kernel.compiles_components
    check_agreement(model, model.prior_transform(rng.random((8, model.ndim))))


def test_model_takes_the_parallel_kernel_above_its_threshold(rng, machine):
    """Through the model: the same values; the parallel kernel runs (and is recorded) when this
    machine gives the run more than one thread."""
    data = make_data(rng, N, 2, "corr")
    model = ModelSpec(background="uniform", priors={"mean": NORM, "variance": {
        "dist": "invgamma", "a": 3, "scale": 4}}).build(data, 2)
    theta = model.prior_transform(rng.uniform(size=(6, model.ndim)))
    with run_share(None):
        serial = model.log_likelihood_batch(theta)
        assert parallel_record() == {"parallel_kernel_threads": 0}  # N below the threshold
        model._kernel.parallel_min_points = 1_000
        parallel = model.log_likelihood_batch(theta)
        single = [model.log_likelihood(row) for row in theta]
        used = parallel_record()["parallel_kernel_threads"]
    np.testing.assert_allclose(parallel, serial, rtol=1e-10)
    np.testing.assert_allclose(single, serial, rtol=1e-10)
    share = min(available_cores(), _numba_threads())
    assert used == (share if share > 1 else 0)


_FRESH_RUN = """
import numpy as np
import nestmix.runtime.threads as threads
from nestmix import Measurements, ModelSpec
from nestmix.runtime import cpuload
from nestmix.samplers import get_sampler

ticks = iter(range(1, 10**9))


def idle_machine():  # no other work: the run's threads are its share of the cores
    now = float(next(ticks))
    return cpuload.CpuSample(now, 0.0, 0.0, 100.0 * now, float("nan"))


threads._cpu_sample, threads.FIRST_WINDOW_SECONDS = idle_machine, 0.0
y = np.random.default_rng(1).normal(size=60)
model = ModelSpec(priors={"mean": {"dist": "norm", "scale": 3},
                         "sigma": {"dist": "halfnorm", "scale": 2}}).build(
    Measurements.from_arrays(y), 1)
model._kernel.parallel_min_points = 10  # the parallel variant at these 60 points
assert model.compiled_parts() is not None
with threads.run_share(None):
    run = get_sampler("dynesty").run(model, {"nlive": 20, "maxcall": 3000}, seed=1)
    print(run.ncall, run.logz, threads.parallel_record()["parallel_kernel_threads"])
"""


@pytest.mark.slow
def test_compiled_slice_with_the_parallel_kernel_runs_first_thing_in_a_fresh_process():
    """The compiled slice proposals with the parallel kernel in fresh processes: the first
    compiles (or loads) them, the second loads them from numba's cache; the same run both
    times, with the parallel kernel. (Cached code that held the parallel kernel once crashed,
    segmentation fault, when it ran before numba's thread pool was started; the variant is now
    chosen at compile time and the pool started before it runs.)"""
    import subprocess
    import sys

    if min(available_cores(), _numba_threads()) < 2:
        pytest.skip("one core: the parallel kernel is not used")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    outputs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-W", "ignore", "-c", _FRESH_RUN], env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout.split()[-3:])
    ncall, _, used = outputs[0]
    assert int(ncall) >= 3000  # past uniform draws: slice proposals ran
    assert int(used) >= 2  # with the parallel kernel
    assert outputs[1] == outputs[0]


# ---------------------------------------------------------------------------- thread budget
def test_thread_budget_shares_the_cores():
    assert thread_budget(8, 1) == 8
    assert thread_budget(8, 3) == 2
    assert thread_budget(8, 8) == 1
    assert thread_budget(2, 5) == 1  # more runs than cores: one thread each, never zero
    assert thread_budget(8, 2, processes=2) == 2  # a pool or MPI ranks split the run's share
    assert thread_budget(8, 1, limit=3) == 3
    assert thread_budget(2, 1, limit=8) == 2
    assert thread_budget(8, 0) == 8  # no run counted (its progress file not written yet)
    for cores in range(1, 17):
        for running in range(1, 20):
            assert running * thread_budget(cores, running) <= max(cores, running)


def _progress(directory: Path, k: int, pid: int, host: str | None = None) -> None:
    work = directory / f"K={k}" / ".dynesty.work"
    work.mkdir(parents=True)
    (work / "progress.json").write_text(json.dumps({
        "k": k, "pid": pid, "host": host or socket.gethostname(), "started": 0.0,
        "updated": 0.0}))


def test_running_runs_counts_this_hosts_live_runs(tmp_path):
    assert running_runs(tmp_path) == 1  # the caller's own run, before its file exists
    _progress(tmp_path, 1, os.getpid())
    _progress(tmp_path, 2, os.getppid())
    _progress(tmp_path, 3, 2**22 + 12345)  # a process that is gone
    _progress(tmp_path, 4, os.getpid(), host="elsewhere")  # a Dask worker's run on another host
    assert running_runs(tmp_path) == 2
    grid = tmp_path / "grid"
    (grid / "model=a").mkdir(parents=True)
    (grid / "grid.json").write_text("{}")
    _progress(grid / "model=b", 1, os.getpid())
    assert running_runs(grid / "model=a") == 1  # the grid's other model counts


def test_a_sweep_run_takes_its_share_and_more_when_others_finish(tmp_path, monkeypatch,
                                                                 machine):
    import nestmix.runtime.threads as threads

    monkeypatch.setattr(threads, "REEVALUATE_SECONDS", 0.0)
    cores = min(available_cores(), _numba_threads())
    _progress(tmp_path, 1, os.getpid())
    other = tmp_path / "K=2"
    _progress(tmp_path, 2, os.getpid())
    with run_share(tmp_path):
        assert threads.kernel_threads() == max(1, cores // 2)
        import shutil

        shutil.rmtree(other)  # the other run finished
        assert threads.kernel_threads() == cores
        env = child_environment(2)
    assert json.loads(env[SHARE_ENV]) == {"directory": str(tmp_path), "processes": 2}


def test_other_busy_cores_is_the_machines_busy_cores_less_this_process():
    def at(wall, own, busy, total, load=np.nan):
        return cpuload.CpuSample(wall, own, busy, total, load)

    start = at(10.0, 5.0, 1000.0, 4000.0)
    # 3 s on 4 cores (1200 ticks): 600 busy ticks = 2 cores, of which this process 1.5
    assert cpuload.other_busy_cores(start, at(13.0, 9.5, 1600.0, 5200.0), 4) == pytest.approx(
        0.5)
    # a busy loop on the other core of two while this process runs its kernel on one
    two = at(0.0, 0.0, 0.0, 0.0)
    assert cpuload.other_busy_cores(two, at(3.0, 3.0, 600.0, 600.0), 2) == pytest.approx(1.0)
    # this process's threads time-share with it: 1.2 cores its own, 0.8 the loop's
    assert cpuload.other_busy_cores(two, at(3.0, 3.6, 600.0, 600.0), 2) == pytest.approx(0.8)
    # idle machine; this process's time over counted ticks (rounding) never goes below zero
    assert cpuload.other_busy_cores(two, at(3.0, 3.3, 300.0, 600.0), 2) == 0.0
    # no ticks (no /proc/stat): the load average stands in, at most the cores
    no_ticks = at(0.0, 0.0, np.nan, np.nan)
    assert cpuload.other_busy_cores(no_ticks, at(2.0, 2.0, np.nan, np.nan, 1.7), 2) == (
        pytest.approx(0.7))
    assert cpuload.other_busy_cores(no_ticks, at(2.0, 2.0, np.nan, np.nan, 9.0), 2) == (
        pytest.approx(1.0))
    assert cpuload.other_busy_cores(no_ticks, at(2.0, 1.0, np.nan, np.nan), 2) == 0.0


def test_free_cores_rounds_other_work():
    assert cpuload.free_cores(2, 0.0) == 2
    assert cpuload.free_cores(2, 0.5) == 2  # a shell, a sweep's parent: the core stays free
    assert cpuload.free_cores(2, 0.51) == 1
    assert cpuload.free_cores(2, 0.8) == 1
    assert cpuload.free_cores(8, 2.3) == 6
    assert cpuload.free_cores(8, 2.6) == 5
    assert cpuload.free_cores(2, 5.0) == 1  # never fewer than one (the serial kernel)


def test_cpu_ticks_of_the_process_cores(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  30 0 30 60 10 0 0 0 0 0\n"
                    "cpu0 10 0 10 30 5 0 0 0 0 0\n"
                    "cpu1 20 0 20 30 5 0 0 9 0 0\n"
                    "intr 1 2 3\n")
    assert cpuload._cpu_ticks(None, str(stat)) == (69.0, 139.0)  # steal (9) counts as busy
    assert cpuload._cpu_ticks({1}, str(stat)) == (49.0, 84.0)
    with pytest.raises(OSError, match="no cpu lines"):
        cpuload._cpu_ticks({5}, str(stat))
    now = cpuload.read_counters()  # this machine's: ticks, or NaN without /proc/stat
    assert now.own >= 0 and (np.isnan(now.total) or 0 <= now.busy <= now.total)


def test_a_run_takes_the_serial_kernel_while_other_work_holds_a_core(monkeypatch, machine):
    """Re-evaluated each call here: other work on one core of the run's takes that core from
    the parallel kernel; once it stops the run has its cores again."""
    import nestmix.runtime.threads as threads

    monkeypatch.setattr(threads, "REEVALUATE_SECONDS", 0.0)
    cores = min(available_cores(), _numba_threads())
    with run_share(None):
        assert threads.kernel_threads() == cores
        machine.other = 1.0
        assert threads.kernel_threads() == max(1, cores - 1)
        machine.other, machine.own = 0.3, cores - 0.3
        assert threads.kernel_threads() == cores
        machine.other, machine.own = 1.0 * cores, 1.0
        assert threads_for(10 * PARALLEL_MIN_POINTS) == 1


_SPIN = """
import importlib, os
import nestmix.runtime.threads
for policy, count in ((None, None), ("passive", None), (None, "7")):
    for name, value in (("OMP_WAIT_POLICY", policy), ("GOMP_SPINCOUNT", count)):
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value
    importlib.reload(nestmix.runtime.threads)
    print(os.environ.get("GOMP_SPINCOUNT"))
"""


def test_spin_count_is_set_unless_the_user_chose_a_wait_policy():
    """A short spin by default; the user's OMP_WAIT_POLICY or GOMP_SPINCOUNT stands (in a
    fresh process: numba reads them when it starts its threads)."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", _SPIN], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split()[-3:] == ["30000", "None", "7"]


def test_switch_turns_the_parallel_kernel_off(monkeypatch):
    monkeypatch.setenv(PARALLEL_KERNEL_ENV, "0")
    assert parallel_kernel_limit() == 0
    assert recorded_switches()["parallel_kernel"] == "off"
    with run_share(None):
        assert threads_for(10 * PARALLEL_MIN_POINTS) == 1
        assert parallel_record() == {"parallel_kernel_threads": 0}
    monkeypatch.setenv(PARALLEL_KERNEL_ENV, "3")
    assert parallel_kernel_limit() == 3 and recorded_switches()["parallel_kernel"] == 3
    monkeypatch.setenv(PARALLEL_KERNEL_ENV, "some")
    with pytest.raises(ModelError, match="NESTMIX_PARALLEL_KERNEL: expected auto"):
        parallel_kernel_limit()
    monkeypatch.delenv(PARALLEL_KERNEL_ENV)
    assert parallel_kernel_limit() is None and recorded_switches()["parallel_kernel"] == "auto"


# ---------------------------------------------------------------------------- a whole sweep
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The sampling was stopped short")
def test_sweep_at_large_n_gives_the_same_evidence_with_and_without_parallel_kernel(
        tmp_path, monkeypatch, machine):
    """N = 10⁴ in 2-D with per-point errors, K = 1 and 2, one after the other (each run then has
    every core): the parallel kernel changes no number of the runs, and run.json says whether
    it ran and with how many threads."""
    from nestmix.store.runs import RunStore
    from nestmix.sweep import SweepPlan, run_sweep

    rng = np.random.default_rng(3)
    n = PARALLEL_MIN_POINTS
    values = np.where(rng.random((n, 1)) < 0.5, rng.normal([0, 0], 1, (n, 2)),
                      rng.normal([4, 1], 0.7, (n, 2)))
    data = Measurements.from_arrays(values, errors=np.full((n, 2), 0.2))
    spec = ModelSpec(covariance="full", background="uniform",
                     priors={"mean": {"dist": "uniform", "loc": -5, "scale": 15},
                             "sigma": {"dist": "loguniform", "a": 0.1, "b": 5},
                             "correlation": {"dist": "lkj", "eta": 1}})
    share = min(available_cores(), _numba_threads())
    for switch, threads in (("0", 0), ("auto", share if share > 1 else 0)):
        monkeypatch.setenv(PARALLEL_KERNEL_ENV, switch)
        plan = SweepPlan(name="large", data=data, spec=spec, k_values=(1, 2),
                         settings={"dynesty": {"nlive": 40, "maxcall": 4000}},
                         seed=5)
        result = run_sweep(plan, tmp_path / switch, n_jobs=1)
        store = RunStore(tmp_path / switch)
        rows = {row.k: (row.logZ, row.logZ_err, row.ncall) for row in result.rows}
        for k in (1, 2):
            backend = store.load_run(k, "dynesty").backend
            assert backend["parallel_kernel_threads"] == threads
            assert backend["parallel_kernel"] == ("off" if switch == "0" else "auto")
            assert backend["compiled_path"]
        if switch == "0":
            serial = rows
    assert rows == serial  # the same runs, number for number
