"""The red-team reproducers of issue 33, run as the commands it gives, on real dynesty runs
(galaxies K = 1, 2 at nlive 100 with no deeper runs; zero-config sweeps of K = 1, 2):

- N1: a run moved aside as broken is not counted again as a second seed;
- N2: a zero-config sweep of one covariance model runs in the directory it wrote its config to;
- N3: a zero-config sweep refused for the user's own config.toml leaves every file as it was;
- N5: ``nestmix report`` removes only files an earlier report wrote;
- a sweep killed with ``kill -9`` leaves no "leaked semlock" warning in its log.

Each checks that the table, the user's files and the run counts are what they were.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from nestmix.cli import main
from nestmix.report.files import WRITTEN, remove_stale, written_before
from nestmix.store.runs import RunStore

BASE = """\
name = "galaxies"
[data]
path = "{data}"
scale = 0.001
[model.priors]
mean = {{ dist = "norm", loc = 20, scale = 10 }}
variance = {{ dist = "invgamma", a = 3, scale = 20 }}
[sweep]
k = [1, 2]
sampler = "dynesty"
nlive = {nlive}
seed = 1
escalate = 0
"""


def base_toml(directory: Path, nlive: int = 100) -> Path:
    data = resources.files("nestmix.examples") / "galaxies_roeder1990.txt"
    path = directory / "base.toml"
    path.write_text(BASE.format(data=str(data), nlive=nlive))
    return path


def rows(directory: Path) -> list[tuple]:
    """The table of summary.json without the seconds (a remade run takes other seconds)."""
    summary = json.loads((directory / "summary.json").read_text())
    return [(r["k"], r["sampler"], r["logZ"], r["logZ_err"], r["ncall"], r["repeats"])
            for r in summary["rows"]]


def evidence_csv(directory: Path) -> list[tuple]:
    with open(directory / "evidence.csv", newline="") as handle:
        return [(r["k"], r["logZ"], r["logZ_err"], r["ncall"]) for r in csv.DictReader(handle)]


def listing(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file()}


def points(path: Path, dims: int) -> Path:
    """Two blobs of 30 points in ``dims`` dimensions, as a CSV with a header."""
    rng = np.random.default_rng(33)
    values = np.r_[rng.normal(0.0, 1.0, (30, dims)), rng.normal(6.0, 1.0, (30, dims))]
    header = ",".join(f"x{i}" for i in range(dims))
    np.savetxt(path, values, delimiter=",", header=header, comments="")
    return path


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    """``runs/ref``: the finished base sweep (galaxies K = 1, 2) with its report."""
    root = tmp_path_factory.mktemp("hardening")
    out = root / "ref"
    assert main(["sweep", str(base_toml(root)), "--out", str(out), "--jobs", "1",
                 "--quiet"]) == 0
    return out


# ------------------------------------------------------------------------------------ N1
@pytest.mark.slow
def test_n1_a_run_moved_aside_as_broken_is_not_a_second_seed(ref, tmp_path, capsys):
    """``cp -a runs/ref runs/c && truncate -s 100 runs/c/K=2/dynesty/run.json && N sweep
    base.toml --out runs/c --jobs 1 && N show runs/c``: the broken run is named, moved aside
    and remade, and the table is the reference's (one seed per K, the same σ and calls)."""
    c = tmp_path / "c"
    shutil.copytree(ref, c, symlinks=True)
    os.truncate(c / "K=2" / "dynesty" / "run.json", 100)
    capsys.readouterr()
    assert main(["sweep", str(base_toml(tmp_path)), "--out", str(c), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "K=2 dynesty: run.json is corrupt" in printed
    assert "moved aside to K=2/dynesty.broken-1" in printed
    assert (c / "K=2" / "dynesty.broken-1" / "manifest.json").is_file()
    assert main(["show", str(c)]) == 0
    shown = capsys.readouterr().out
    assert "seeds" not in shown and "spread" not in shown
    assert rows(c) == rows(ref) and all(r[-1] == 1 for r in rows(c))
    assert evidence_csv(c) == evidence_csv(ref)
    runs = [(m["k"], m["sampler"], m["repeat"]) for m in RunStore(c).finished_runs()]
    assert runs == [(1, "dynesty", 1), (2, "dynesty", 1)]
    # a second break makes broken-2, and the count stays two
    os.truncate(c / "K=2" / "dynesty" / "samples.npz", 100)
    assert main(["sweep", str(base_toml(tmp_path)), "--out", str(c), "--jobs", "1",
                 "--no-report", "--quiet"]) == 0
    assert (c / "K=2" / "dynesty.broken-2").is_dir()
    assert len(RunStore(c).finished_runs()) == 2 and rows(c) == rows(ref)


# ------------------------------------------------------------------------------------ N2
@pytest.mark.slow
@pytest.mark.parametrize("dims, options, where", [
    (2, ["--covariance", "tied"], "runs/points"),
    (1, ["--covariance", "full"], "runs/points"),
    (2, ["--covariance", "tied", "--out", "p"], "p"),
])
def test_n2_zero_config_with_one_covariance_model_runs(tmp_path, monkeypatch, capsys, dims,
                                                       options, where):
    """``N sweep points.csv --covariance tied`` (and 1-D ``full``, and with ``--out``) writes
    its config and runs in that directory; run again, it reuses every run and leaves the
    config as it was; the config written reruns the same sweep."""
    monkeypatch.chdir(tmp_path)
    points(tmp_path / "points.csv", dims)
    command = ["sweep", "points.csv", *options, "--kmax", "2", "--escalate", "0", "--jobs",
               "1", "--no-report"]
    assert main(command) == 0
    printed = capsys.readouterr().out
    out = tmp_path / where
    assert f"config: {where}/config.toml" in printed and "best K =" in printed
    config = (out / "config.toml").read_bytes()
    runs = [(m["k"], m["repeat"]) for m in RunStore(out).finished_runs()]
    assert runs == [(1, 1), (2, 1)]
    table = rows(out)
    assert main(command) == 0
    assert capsys.readouterr().out.count("reused finished run") == 2
    assert (out / "config.toml").read_bytes() == config and rows(out) == table
    rerun = ["sweep", f"{where}/config.toml", "--jobs", "1", "--no-report"]
    assert main(rerun + (["--out", where] if "--out" in options else [])) == 0
    assert capsys.readouterr().out.count("reused finished run") == 2
    assert len(RunStore(out).finished_runs()) == 2 and rows(out) == table


# ------------------------------------------------------------------------------------ N3
@pytest.mark.slow
def test_n3_zero_config_never_overwrites_the_users_files(tmp_path, monkeypatch, capsys):
    """``mkdir p && echo mine > p/config.toml && echo x > p/notes.txt && N sweep points.csv
    --out p``: refused in one line, p exactly as it was; a directory left holding only the
    config an older nestmix wrote for the same command becomes the sweep (it tripped N2)."""
    monkeypatch.chdir(tmp_path)
    points(tmp_path / "points.csv", 1)
    p = tmp_path / "p"
    p.mkdir()
    (p / "config.toml").write_text("mine\n")
    (p / "notes.txt").write_text("x\n")
    command = ["sweep", "points.csv", "--kmax", "2", "--covariance", "tied", "--escalate",
               "0", "--jobs", "1", "--no-report"]
    assert main([*command, "--out", "p"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "p/config.toml" in err
    assert listing(p) == {"config.toml": b"mine\n", "notes.txt": b"x\n"}
    # the leftover of an older refused zero-config: only its own config, the same command
    assert main([*command, "--out", "q"]) == 0
    written = (tmp_path / "q" / "config.toml").read_bytes()
    leftover = tmp_path / "leftover"
    leftover.mkdir()
    (leftover / "config.toml").write_bytes(written)
    capsys.readouterr()
    assert main([*command, "--out", "leftover"]) == 0
    assert (leftover / "config.toml").read_bytes() == written
    assert len(RunStore(leftover).finished_runs()) == 2 and rows(leftover) == rows(
        tmp_path / "q")
    assert listing(p) == {"config.toml": b"mine\n", "notes.txt": b"x\n"}


# ------------------------------------------------------------------------------------ N5
@pytest.mark.slow
def test_n5_report_deletes_only_what_a_report_wrote(ref, tmp_path, capsys):
    """The user's ``report/thesis_fig1.png``, ``memberships_thesis.csv`` and
    ``agreement.csv`` in a sweep directory survive ``nestmix report`` (and one without
    figures); the figures the earlier report wrote, listed in its manifest, are removed."""
    c = tmp_path / "c"
    shutil.copytree(ref, c, symlinks=True)
    mine = {"report/thesis_fig1.png": b"\x89PNG my figure", "memberships_thesis.csv": b"a\n1\n",
            "agreement.csv": b"my agreement\n"}
    for name, payload in mine.items():
        (c / name).write_bytes(payload)
    table, runs = rows(c), RunStore(c).finished_runs()
    assert main(["report", str(c)]) == 0
    figures = sorted((c / "report").glob("*.png"))
    assert len(figures) > 2 and all((c / n).read_bytes() == p for n, p in mine.items())
    assert main(["report", str(c), "--no-figures"]) == 0
    assert all((c / n).read_bytes() == p for n, p in mine.items())
    assert sorted((c / "report").glob("*.png")) == [c / "report" / "thesis_fig1.png"]
    assert rows(c) == table and RunStore(c).finished_runs() == runs
    assert capsys.readouterr().err == ""


def test_the_report_manifest_lists_only_paths_inside_the_sweep(tmp_path):
    """What a report wrote is recorded relative to the sweep; a later report removes those it
    did not write again and nothing else, and a hand-edited list cannot reach outside."""
    sweep = tmp_path / "sweep"
    (sweep / "report").mkdir(parents=True)
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not the sweep's")
    for name in ("report/old.png", "report/kept.png", "mine.csv", "report.md"):
        (sweep / name).write_bytes(b"x")
    remove_stale(sweep, set(), [sweep / "report/old.png", sweep / "report/kept.png",
                                sweep / "report.md"])
    assert json.loads((sweep / WRITTEN).read_text())["files"] == [
        "report.md", "report/kept.png", "report/old.png"]
    before = written_before(sweep)
    remove_stale(sweep, before, [sweep / "report/kept.png", sweep / "report.md"])
    assert not (sweep / "report/old.png").exists()
    assert (sweep / "report/kept.png").exists() and (sweep / "mine.csv").exists()
    (sweep / WRITTEN).write_text(json.dumps({"files": ["../outside.png", str(outside),
                                                       WRITTEN, 3, "mine.csv"]}))
    assert written_before(sweep) == {sweep / "mine.csv"}
    (sweep / WRITTEN).write_text("{ not json")
    assert written_before(sweep) == set()
    assert outside.exists()


# ---------------------------------------------------------------- kill -9 (issue 33, L)
@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="POSIX semaphores not in /dev/shm")
def test_a_sweep_killed_with_sigkill_leaves_no_leaked_semlock_warning(tmp_path):
    """loky's resource tracker unlinks the semaphores a killed sweep's workers shared, and
    says nothing about it in the sweep's log."""
    config = base_toml(tmp_path, nlive=2000)
    log = tmp_path / "log.txt"
    with open(log, "wb") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "nestmix", "sweep", str(config),
                                 "--out", str(tmp_path / "out"), "--jobs", "2"],
                                stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while log.read_text().count("started") < 2:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    while time.monotonic() < deadline:  # the workers and the tracker end after the sweep
        alive = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).stdout
        if not alive.strip():
            break
        time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the workers outlived the sweep by two minutes")
    text = log.read_text()
    assert "leaked" not in text and "Traceback" not in text, text
    assert not [p for p in Path("/dev/shm").iterdir() if p.name.startswith(
        f"sem.loky-{proc.pid}-")]


# ------------------------------------------------------- nlive warning (issue 33, L)
@pytest.mark.slow
def test_the_large_nlive_warning_prints_once_with_worker_processes(tmp_path):
    """The warning is the plan's; runs re-validating their settings in worker processes
    (``--jobs 2``) do not give it again."""
    config = base_toml(tmp_path, nlive=25000)
    config.write_text(config.read_text().replace("escalate = 0", "escalate = 0\nmaxiter = 3"))
    done = subprocess.run([sys.executable, "-m", "nestmix", "sweep", str(config), "--out",
                           str(tmp_path / "out"), "--jobs", "2", "--no-report", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("'nlive' = 25,000 is very large") == 1, done.stderr
