"""Live progress: the progress.json channel, the time-left estimate, the command line's display,
and Ctrl-C on a real `nestmix sweep` (one line, no traceback)."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nestmix.cli_progress import LiveProgress
from nestmix.runtime.progress import (
    PROGRESS_FILE,
    ProgressWriter,
    clear_progress,
    estimate_seconds_left,
    format_progress,
    read_progress,
    start_progress,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "nestmix" / "examples" / "galaxies_roeder1990.txt"


def test_time_left_from_the_iterations_the_remaining_evidence_needs():
    # x = ln(e^Δ − 1) falls by 1/nlive per iteration; 10 iterations per second
    nlive, goal = 100, 0.1
    x_goal = math.log(math.expm1(goal))
    history = [(t, 10 * t, math.log1p(math.exp(x_goal + 3 - t / 10))) for t in range(11)]
    # at t = 10: x − x_goal = 2, i.e. 200 iterations, 20 s
    assert estimate_seconds_left(history, goal, nlive) == pytest.approx(20.0)
    # without nlive: ln Δ's own rate
    assert estimate_seconds_left(history, goal) > 0
    assert estimate_seconds_left(history[:1], goal, nlive) is None
    assert estimate_seconds_left([(0, 0, 5.0), (1, 10, 0.05)], goal, nlive) == 0.0
    assert estimate_seconds_left([(0, 0, 1e300), (1, 10, 1e300)], goal, nlive) is None


def test_progress_file_is_written_read_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("NESTMIX_PROGRESS_SECONDS", "0")
    work = tmp_path / "K=3" / ".dynesty.work"
    start_progress(work, k=3, sampler="dynesty", repeat=1, model="full")
    writer = ProgressWriter(work, "dynesty", nlive=100)
    for i in range(3):
        writer.update(ncall=1000 * (i + 1), iteration=100 * i, delta_logz=5.0 - i, goal=0.1)
        time.sleep(0.06)
    (fields,) = read_progress(tmp_path)
    assert (fields["k"], fields["sampler"], fields["model"]) == (3, "dynesty", "full")
    assert fields["ncall"] == 3000 and fields["delta_logz"] == 3.0
    assert fields["seconds_left"] > 0 and fields["elapsed"] >= 0
    line = format_progress(fields)
    assert line.startswith("K=3 dynesty (full): 3,000 calls, Δln Z 3 → 0.1, 0:00 elapsed")
    assert line.endswith(" left")
    # a file left by a process that is gone is not a running run
    other = tmp_path / "K=4" / ".dynesty.work"
    start_progress(other, k=4, sampler="dynesty")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    text = (other / PROGRESS_FILE).read_text()
    (other / PROGRESS_FILE).write_text(text.replace(f'"pid": {os.getpid()}',
                                                    f'"pid": {int(done.stdout)}'))
    assert [f["k"] for f in read_progress(tmp_path)] == [3]
    clear_progress(work)
    assert read_progress(tmp_path) == []


def test_plain_lines_when_not_a_terminal(tmp_path):
    start_progress(tmp_path / "K=2" / ".dynesty.work", k=2, sampler="dynesty")
    out = io.StringIO()
    with LiveProgress(tmp_path, stream=out, plain_every=0.05):
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert lines and all(line.startswith("  K=2 dynesty: 0 calls, Δln Z ?") for line in lines)
    assert "\x1b" not in out.getvalue()
    table = LiveProgress(tmp_path, stream=io.StringIO(), tty=True)._table()
    assert table.row_count == 1 and [c.header for c in table.columns][:3] == [
        "K", "model", "sampler"]


def test_a_file_whose_pid_now_names_another_process_is_not_a_running_run(tmp_path):
    """PIDs are reused (in a container, from small numbers): a progress file left by a killed
    worker whose PID now belongs to another live process once showed its old numbers as a
    running run's. The file records when its writer started, which names it for good."""
    from nestmix.runtime.processes import started_at

    work = tmp_path / "K=2" / ".dynesty.work"
    start_progress(work, k=2, sampler="dynesty")
    assert [f["k"] for f in read_progress(tmp_path)] == [2]
    path = work / PROGRESS_FILE
    fields = json.loads(path.read_text())
    assert fields["pid"] == os.getpid() and fields["pid_started"] == started_at()
    path.write_text(json.dumps({**fields, "pid_started": fields["pid_started"] - 100}))
    assert read_progress(tmp_path) == []


def test_a_line_says_how_old_its_numbers_are_once_its_run_went_quiet():
    fields = {"k": 2, "sampler": "dynesty", "ncall": 7503, "delta_logz": 31.6, "goal": 0.1,
              "elapsed": 200.0, "seconds_left": 31.0}
    assert format_progress({**fields, "quiet": 1.0}) == (
        "K=2 dynesty: 7,503 calls, Δln Z 31.6 → 0.1, 3:20 elapsed, about 0:31 left")
    assert format_progress({**fields, "quiet": 185.0}).endswith(
        "about 0:31 left, last update 3:05 ago")


MOVING = f"""name = "moving"
[data]
path = "{DATA}"
scale = 0.001
[model.priors]
mean = {{ dist = "norm", loc = 20, scale = 10 }}
variance = {{ dist = "invgamma", a = 3, scale = 20 }}
[sweep]
k = [1, 3]
nlive = 1000
seed = 1
escalate = 0
"""


@pytest.mark.slow  # a real two-worker sweep printing to a file: ~30-60 s (K = 3 at nlive 1000
# lasts long enough for several prints a second apart on a quiet machine too)
def test_the_progress_line_changes_between_two_prints_while_a_run_advances(tmp_path):
    """Issue 32: "7,503 calls, Δln Z 31.6 → 0.1 … about 0:31 left" was printed unchanged for
    minutes while the run went on (the galaxies example, runs in worker processes, output to a
    file). A real sweep of two runs on two workers with its output to a file (not a terminal),
    lines every second: each line of the longer run has more calls than the one before, its
    Δln Z falls, and none says its numbers are old."""
    (tmp_path / "moving.toml").write_text(MOVING)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NESTMIX_PROGRESS_SECONDS": "0.2",
           "NESTMIX_PROGRESS_PRINT_SECONDS": "1"}
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-m", "nestmix", "sweep", "moving.toml",
                               "--out", "out", "--jobs", "2", "--no-report"], cwd=tmp_path,
                              env=env, stdout=log, stderr=subprocess.PIPE, text=True,
                              timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (tmp_path / "log.txt").read_text().splitlines()
             if line.startswith("  K=3 dynesty (full): ")]
    sampling = [(int(m.group(1).replace(",", "")), float(m.group(2))) for m in (
        re.search(r": ([\d,]+) calls, Δln Z ([\d.e+-]+) → 0.1", line) for line in lines)
        if m and int(m.group(1).replace(",", "")) > 1]
    assert len(sampling) >= 3, lines
    calls = [c for c, _ in sampling]
    assert all(b > a for a, b in itertools.pairwise(calls)), lines
    assert sampling[-1][1] < sampling[0][1]  # and Δln Z fell
    assert not any("last update" in line for line in lines)


CONFIG = f"""name = "interrupted"
[data]
path = "{DATA}"
scale = 0.001
[model.priors]
mean = {{ dist = "norm", loc = 20, scale = 10 }}
variance = {{ dist = "invgamma", a = 3, scale = 20 }}
[sweep]
k = [3, 4]
nlive = 1500
seed = 1
"""


@pytest.mark.slow
@pytest.mark.parametrize(("jobs", "extra"), [("1", ""), ("2", ""), ("1", "pool = 2\n")],
                         ids=["in-process", "two-workers", "dynesty-pool"])
def test_ctrl_c_prints_one_line_and_no_traceback(tmp_path, jobs, extra):
    """Ctrl-C in a terminal signals the whole process group: the sweep, its workers and theirs.
    Before it, the running runs show their progress to any process that reads the directory.
    """
    (tmp_path / "sweep.toml").write_text(CONFIG + extra)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NESTMIX_PROGRESS_SECONDS": "0.2"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "nestmix.cli", "sweep", "sweep.toml", "--out", "out",
         "--jobs", jobs], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        running: list[dict] = []
        while time.monotonic() < deadline and not running:
            running = [f for f in read_progress(tmp_path / "out")
                       if f["ncall"] > 0 and f["delta_logz"] is not None]
            time.sleep(0.2)
        assert running, "no run showed its progress"
        assert {f["k"] for f in running} <= {3, 4} and running[0]["sampler"] == "dynesty"
        time.sleep(2)
        os.killpg(sweep.pid, signal.SIGINT)
        out, err = sweep.communicate(timeout=60)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.communicate()
    assert sweep.returncode == 130
    assert "Traceback" not in err
    assert err.splitlines() == ["nestmix: interrupted; finished runs are kept, run the same "
                                "command to resume"]
    assert "\x1b" not in out  # no live display on a pipe


@pytest.mark.slow  # 15 s: the report's figures
def test_the_report_warnings_are_printed_in_full_after_a_sweep(tmp_path, capsys):
    from nestmix.cli import main

    rng = np.random.default_rng(4)
    np.savetxt(tmp_path / "values.txt", np.concatenate([rng.normal(-5, 1, 30),
                                                        rng.normal(5, 1, 30)]))
    (tmp_path / "two.toml").write_text(
        'name = "two"\n[data]\npath = "values.txt"\n[model.priors]\n'
        'mean = { dist = "norm", loc = 0, scale = 10 }\n'
        'variance = { dist = "invgamma", a = 3, scale = 2 }\n'
        '[sweep]\nk = [1, 2]\nnlive = 30\nseed = 1\n')
    assert main(["sweep", str(tmp_path / "two.toml"), "--out", str(tmp_path / "two"),
                 "--jobs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "warnings in the report" in out or "warning in the report" in out
    # not a row's warning (those the table prints): only the report's list has it
    assert "  - dynesty: the best K (2) is the largest K of the sweep; a larger K may fit " \
           "better (add larger K to the sweep)" in out


@pytest.mark.slow  # two runs, ~6 s with a cold numba cache
def test_writing_progress_leaves_the_run_unchanged(tmp_path):
    """The progress callback only reads the sampler's state: the same seed gives the same run
    with (a work directory) and without (none) it."""
    import nestmix
    from nestmix.model import ModelSpec

    data = nestmix.load_measurements(str(DATA), scale=0.001)
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 20, "scale": 10},
                              "variance": {"dist": "invgamma", "a": 3, "scale": 20}}
                      ).build(data, 1)
    dynesty = nestmix.get_sampler("dynesty")
    plain = dynesty.run(model, {"nlive": 40}, seed=3)
    work = tmp_path / "K=1" / ".dynesty.work"
    tracked = dynesty.run(model, {"nlive": 40}, seed=3, workdir=str(work))
    assert (tracked.logz, tracked.ncall) == (plain.logz, plain.ncall)
    assert np.array_equal(tracked.samples, plain.samples)
    assert (work / PROGRESS_FILE).is_file()  # the task (not the adapter) removes it


def test_a_progress_writer_never_makes_its_directory_again_and_stops_when_it_is_lost(tmp_path):
    """The writer of a run whose work directory was deleted (H1 of issue 20) does not bring the
    directory back; with ``stop_if_lost`` it raises, also when another sweep made a new
    directory of the same name."""
    from nestmix.runtime.progress import ProgressWriter, WorkDirectoryLost

    work = tmp_path / "K=2" / ".dynesty.work"
    work.mkdir(parents=True)
    courtesy = ProgressWriter(work, "dynesty", 50)
    strict = ProgressWriter(work, "dynesty", 50, stop_if_lost=True)
    strict.update(ncall=10, iteration=1, delta_logz=5.0, goal=0.1, force=True)
    assert (work / "progress.json").exists()
    shutil.rmtree(tmp_path / "K=2")
    courtesy.update(ncall=20, iteration=2, delta_logz=4.0, goal=0.1, force=True)
    assert not (tmp_path / "K=2").exists()
    with pytest.raises(WorkDirectoryLost, match="deleted or replaced"):
        strict.update(ncall=20, iteration=2, delta_logz=4.0, goal=0.1, force=True)
    work.mkdir(parents=True)  # another sweep's run of the same K
    with pytest.raises(WorkDirectoryLost):
        strict.update(ncall=30, iteration=3, delta_logz=3.0, goal=0.1, force=True)
    assert not (work / "progress.json").exists()
