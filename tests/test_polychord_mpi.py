"""PolyChord under Open MPI: real `mpirun -np 2` runs against serial runs of the same problem.

The module fixture builds nestmix's link of PolyChord to the system's Open MPI (`nestmix
install-polychord --mpi`, which checks itself on two processes); where Open MPI is not installed
the module is skipped with that reason (CI installs it before the tests, and fails on a skip).
Evidences are compared within combined errors: MPI runs are not bit-for-bit reproducible (the
order in which workers return points varies), serial runs with a fixed seed are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nestmix import get_sampler
from nestmix.cli import main
from nestmix.errors import ModelError, SamplerError
from nestmix.samplers.polychord import CallbackError, find_library, install_polychord
from nestmix.samplers.polychord.mpi import mpirun_command
from tests.conftest import (
    BoxGaussian,
    KillsItself,
    RaisesAbove,
    SlowGaussian,
    tolerance,
    toy_values,
)

MPI_PACKAGES = ("openmpi-bin", "libopenmpi-dev")


@pytest.fixture(scope="module", autouse=True)
def mpi_polychord() -> Path:
    """PolyChord's MPI build (installed when missing) on the system's Open MPI; the module is
    skipped where Open MPI is not installed (CI installs it: .ci/run)."""
    missing = [tool for tool in ("mpirun", "mpicc") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"Open MPI is not installed (no {' or '.join(missing)}; Debian packages: "
                    f"{' '.join(MPI_PACKAGES)})")
    return install_polychord(mpi=True, progress=lambda line: None)


_FIRST_CALL = [True]


@dataclass(frozen=True)
class RankRecording(BoxGaussian):
    """Writes one line ``rank size pid`` to ``tally`` at its first call in each process."""

    tally: str = ""

    def log_likelihood(self, theta):
        if _FIRST_CALL[0]:
            _FIRST_CALL[0] = False
            with open(self.tally, "a") as stream:
                stream.write(f"{os.environ.get('OMPI_COMM_WORLD_RANK', '-')} "
                             f"{os.environ.get('OMPI_COMM_WORLD_SIZE', '-')} {os.getpid()}\n")
        return super().log_likelihood(theta)


def files_of(directory: Path) -> set[str]:
    """Relative paths of the files under ``directory``, PolyChord's cluster files left out
    (how many clusters PolyChord splits off is random, MPI or not)."""
    return {str(p.relative_to(directory)) for p in directory.rglob("*")
            if p.is_file() and "clusters" not in p.parts}


def processes_running(fragment: str) -> list[int]:
    """Processes whose command line contains ``fragment``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if fragment.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


# --------------------------------------------------------------------------------- tests
def test_the_mpi_build_is_linked_to_open_mpi(mpi_polychord):
    lib = find_library(mpi=True)
    assert lib == mpi_polychord and lib.parent.name == "openmpi"
    manifest = json.loads((lib.parent / "manifest.json").read_text())
    assert "Open MPI" in manifest["mpi"] and manifest["check"]["processes"] == 2
    check = manifest["check"]
    assert abs(check["logz"] - check["expected"]) < 4 * max(check["logz_err"], 0.05)
    # the shims under the wheel's libmpi* names pull in the system's libmpi
    shim = next(lib.parent.glob("libmpi-*.so*"))
    needed = subprocess.run(["ldd", str(shim)], capture_output=True, text=True, check=True)
    assert "libmpi.so." in needed.stdout and "not found" not in needed.stdout


@pytest.mark.slow  # ~15 s (two MPI ranks and a serial run); runs in CI's slow stage
def test_two_processes_agree_with_the_serial_run(tmp_path):
    """mpirun -np 2 on a 2-D Gaussian: the calls are made by rank 1 of 2, the evidence agrees
    with the serial run's (and the analytic one) within errors, and the files have the same
    form."""
    pc = get_sampler("polychord")
    problem = RankRecording(tally=str(tmp_path / "ranks.txt"))
    serial = pc.run(BoxGaussian(), {"nlive": 100}, seed=7, workdir=str(tmp_path / "serial"))
    parallel = pc.run(problem, {"nlive": 100, "mpi": 2}, seed=7,
                      workdir=str(tmp_path / "mpi"))
    ranks = [line.split() for line in (tmp_path / "ranks.txt").read_text().splitlines()]
    assert {size for _, size, _ in ranks} == {"2"}, ranks
    assert "1" in {rank for rank, _, _ in ranks} <= {"0", "1"}
    assert abs(parallel.logz - serial.logz) < tolerance(parallel, serial), (parallel.logz,
                                                                           serial.logz)
    assert abs(parallel.logz - problem.logz) < tolerance(parallel)
    assert parallel.converged and not parallel.resumed and parallel.settings["mpi"] == 2
    assert parallel.ncall > 10_000 and parallel.samples.shape == (len(parallel.logl), 2)
    assert files_of(tmp_path / "mpi") == files_of(tmp_path / "serial")
    assert (tmp_path / "mpi" / "clusters" / "polychord_1.txt").is_file()
    assert not list((tmp_path / "mpi").glob(".nestmix-mpi-*"))  # request and reports gone


def test_errors_in_a_rank_are_reported_like_serial_ones():
    pc = get_sampler("polychord")
    with pytest.raises(CallbackError) as info:
        pc.run(RaisesAbove(), {"nlive": 50, "mpi": 2}, seed=1)
    error = info.value
    assert isinstance(error, ModelError) and error.where == "log-likelihood"
    assert error.exc_type == "ValueError" and error.values[0] > 1.5
    assert f"x_1={error.values[0]:.6g}" in str(error)
    with pytest.raises(SamplerError, match=r"2 processes \(mpirun\) ended with exit code .* "
                                           "without reporting"):
        pc.run(KillsItself(), {"nlive": 50, "mpi": 2}, seed=1)


def test_missing_mpi_pieces_give_clear_errors(tmp_path, monkeypatch):
    pc = get_sampler("polychord")
    with pytest.raises(SamplerError, match=r"'mpi' .* at least 1"):
        pc.validate({"mpi": 0})
    monkeypatch.setenv("NESTMIX_MPIRUN", "no-such-mpirun")
    with pytest.raises(SamplerError, match="install openmpi-bin libopenmpi-dev"):
        mpirun_command(2, ["true"])
    fake = tmp_path / "mpirun"
    fake.write_text("#!/bin/sh\necho 'HYDRA build details:'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("NESTMIX_MPIRUN", str(fake))
    with pytest.raises(SamplerError, match="is not Open MPI"):
        mpirun_command(2, ["true"])
    monkeypatch.delenv("NESTMIX_MPIRUN")
    monkeypatch.setenv("NESTMIX_POLYCHORD_HOME", str(tmp_path / "empty"))
    with pytest.raises(SamplerError, match="install-polychord --mpi"):
        pc.run(BoxGaussian(), {"mpi": 2}, seed=1)


def test_mpirun_flags_for_root_and_small_machines(monkeypatch):
    monkeypatch.setenv("NESTMIX_MPIRUN_ARGS", "--bind-to none")
    command = mpirun_command(3, ["python", "x.py"])
    assert command[1:4] == ["-np", "3", "--oversubscribe"]
    assert ("--allow-run-as-root" in command) == (os.geteuid() == 0)
    assert command[-4:] == ["--bind-to", "none", "python", "x.py"]


def test_cli_refuses_to_be_started_by_mpirun(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert main(["sweep", str(tmp_path / "any.toml")]) == 2
    assert "--mpi N` instead" in capsys.readouterr().err


def toy_config(tmp_path: Path, sampler: str = "polychord") -> Path:
    """Two clusters of 1-D points; K = 1, 2 with means ordered (one posterior mode, so no
    cluster starved of live points at this small nlive)."""
    np.savetxt(tmp_path / "values.txt", toy_values(20))
    config = tmp_path / "toy.toml"
    config.write_text(
        'name = "toy"\n[data]\npath = "values.txt"\n[model]\norder = "means"\n'
        '[model.priors]\nmean = { dist = "norm", loc = 0, scale = 5 }\n'
        'sigma = { dist = "halfnorm", scale = 3 }\n'
        f'[sweep]\nk = [1, 2]\nsampler = "{sampler}"\nseed = 2\n'
        f'[sweep.{sampler}]\nnlive = 50\n'
        + ("num_repeats = 10\n" if sampler == "polychord" else ""))
    return config


def test_cli_mpi_flag_needs_a_polychord_sweep(tmp_path, capsys):
    config = toy_config(tmp_path, sampler="dynesty")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--mpi", "2"]) == 2
    assert "--mpi: runs PolyChord on several processes" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_with_mpi_matches_the_serial_sweep(tmp_path, capsys):
    """`nestmix sweep --mpi 2` against the same sweep run serially: evidences within combined
    errors, the same files, the same run records; and the process count is not part of the
    fingerprint: the serial command reuses the MPI sweep's runs."""
    config = toy_config(tmp_path)
    serial, parallel = tmp_path / "serial", tmp_path / "mpi"
    args = ["sweep", str(config), "--jobs", "1", "--no-report"]
    assert main([*args, "--out", str(serial)]) == 0
    assert main([*args, "--out", str(parallel), "--mpi", "2"]) == 0
    capsys.readouterr()
    assert files_of(parallel) == files_of(serial)
    rows = {}
    for directory in (serial, parallel):
        summary = json.loads((directory / "summary.json").read_text())
        rows[directory.name] = {r["k"]: r for r in summary["rows"]}
    for k in (1, 2):
        a, b = rows["serial"][k], rows["mpi"][k]
        assert set(a) == set(b)
        assert abs(a["logZ"] - b["logZ"]) < 3 * np.hypot(a["logZ_err"], b["logZ_err"]), (a, b)
        manifests = [json.loads((d / f"K={k}" / "polychord" / "manifest.json").read_text())
                     for d in (serial, parallel)]
        assert manifests[0]["fingerprint"] == manifests[1]["fingerprint"]
        runs = [json.loads((d / f"K={k}" / "polychord" / "run.json").read_text())
                for d in (serial, parallel)]
        assert set(runs[0]) == set(runs[1]) and runs[1]["settings"]["mpi"] == 2
        assert "mpi" not in runs[0]["settings"]
    # K = 2 is decisively better than K = 1 in both
    assert rows["mpi"][2]["logZ"] - rows["mpi"][1]["logZ"] > 5
    assert main([*args, "--out", str(parallel)]) == 0
    assert capsys.readouterr().out.count("reused finished run") == 2


@pytest.mark.slow
def test_resume_under_mpi_and_across_process_counts(tmp_path):
    """A run stopped under mpirun continues from its resume file, with 2 processes or 1."""
    pc = get_sampler("polychord")
    fresh = pc.run(BoxGaussian(), {"nlive": 100}, seed=3)
    for first, second in ((2, 2), (2, 1)):
        work = tmp_path / f"work{first}{second}"
        stopped = pc.run(BoxGaussian(), {"nlive": 100, "max_ndead": 400, "mpi": first},
                         seed=3, workdir=str(work))
        assert not stopped.converged and (work / "polychord.resume").is_file()
        resumed = pc.run(BoxGaussian(), {"nlive": 100, "mpi": second}, seed=3,
                         workdir=str(work))
        assert resumed.converged and resumed.resumed
        assert len(resumed.logl) > len(stopped.logl) >= 400
        assert abs(resumed.ncall - fresh.ncall) < 0.25 * fresh.ncall
        assert abs(resumed.logz - fresh.logz) < tolerance(resumed, fresh)


@pytest.mark.slow
def test_ctrl_c_stops_mpirun_and_its_ranks(tmp_path):
    work = tmp_path / "interrupted"
    timer = threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            get_sampler("polychord").run(SlowGaussian(), {"nlive": 500, "mpi": 2}, seed=1,
                                         workdir=str(work))
    finally:
        timer.cancel()
    deadline = time.monotonic() + 10
    while processes_running(str(work)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_running(str(work)), "mpirun or a rank outlived the interrupted run"


@pytest.mark.slow
def test_a_killed_mpi_sweep_leaves_no_processes_and_resumes_serially(tmp_path, capsys):
    """SIGKILL the sweep process while K = 1 runs under mpirun: mpirun and its ranks end too
    (mpirun gets SIGTERM when its parent dies); the same sweep without --mpi then continues
    K = 1 from PolyChord's resume file, and nothing of the MPI run is left in its files."""
    config = toy_config(tmp_path)
    out = tmp_path / "out"
    sweep = subprocess.Popen([sys.executable, "-m", "nestmix.cli", "sweep", str(config),
                              "--out", str(out), "--jobs", "1", "--no-report", "--mpi", "2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    work = out / "K=1" / ".polychord.work"
    try:
        deadline = time.monotonic() + 120
        while not (work / "polychord.resume").exists() and time.monotonic() < deadline:
            assert sweep.poll() is None, "the sweep ended before K = 1 wrote a resume file"
            time.sleep(0.2)
        assert processes_running(str(work)), "no mpirun for K = 1"
    finally:
        sweep.kill()
        sweep.wait()
    deadline = time.monotonic() + 15
    while processes_running(str(work)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_running(str(work)), "mpirun or a rank outlived the killed sweep"
    capsys.readouterr()
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--no-report"]) == 0
    assert "K=1 polychord:" in capsys.readouterr().out
    summary = json.loads((out / "K=1" / "polychord" / "manifest.json").read_text())["summary"]
    assert summary["resumed"] and summary["converged"]
    chains = out / "K=1" / "polychord" / "chains"
    assert (chains / "polychord.stats").is_file() and not list(chains.glob(".nestmix-mpi-*"))
