"""Every hostile or careless input of the red-team pass (issue #20, L1 and L2) ends in one line
and exit status 2: no traceback, no hang, no setting silently run as something else."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nestmix.cli import main

CONFIG = """\
name = "toy"
[data]
path = "{data}"
{data_extra}
[model]
covariance = "full"
[model.priors]
mean = {{ dist = "norm", loc = 0, scale = 5 }}
variance = {{ dist = "invgamma", a = 3, scale = 2 }}
[sweep]
k = [1]
sampler = "dynesty"
nlive = 40
seed = 1
{sweep_extra}
"""


def write_config(tmp_path: Path, sweep_extra: str = "", data_extra: str = "",
                 data: str = "values.txt", values: np.ndarray | None = None) -> Path:
    rng = np.random.default_rng(4)
    np.savetxt(tmp_path / "values.txt", rng.normal(0, 1, 40) if values is None else values)
    path = tmp_path / "toy.toml"
    path.write_text(CONFIG.format(data=data, data_extra=data_extra, sweep_extra=sweep_extra))
    return path


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nestmix: error: ")
    return lines[0]


@pytest.mark.parametrize("sweep_extra, words", [
    ("maxiter = -1", "'maxiter' must be at least 1, got -1"),
    ("maxiter = 0", "'maxiter' must be at least 1, got 0"),
    ("maxcall = 0", "'maxcall' must be at least 1, got 0"),
    ("enlarge = -2", "'enlarge' must be at least 1"),
    ("slices = 0", "'slices' must be at least 1, got 0"),
    ("walks = 0", "'walks' must be at least 1, got 0"),
    ("update_interval = -1", "'update_interval' must be greater than 0"),
    ("facc = 2.0", "'facc' must be at most 1"),
    ("[sweep.dynesty]\nnlive = 10000000", "'nlive' must be at most 1e+06"),
    ("pool = 100000", "'pool' must be at most the"),
    ("dask = 'garbage'", "looks like tcp://host:8786"),
])
def test_bad_sampler_settings_are_refused_in_one_line(tmp_path, capsys, sweep_extra, words):
    config = write_config(tmp_path, sweep_extra=sweep_extra)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--no-report"]) == 2
    assert words in one_line(capsys.readouterr().err)


def test_jobs_zero_is_refused_not_all_cores(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--jobs", "0"]) == 2
    assert "--jobs: must be a positive integer, got 0" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("values, data_extra, words", [
    (np.array([1e300, -2.0, 3.0, 1.0]), "", "values must be at most 1e+100 in magnitude"),
    (None, "scale = 1e300", "values must be at most 1e+100 in magnitude"),
    (None, "scale = 1e200", "values must be at most 1e+100"),
])
def test_huge_data_is_refused(tmp_path, capsys, values, data_extra, words):
    config = write_config(tmp_path, data_extra=data_extra, values=values)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    assert words in one_line(capsys.readouterr().err)


def test_deeply_nested_toml_is_refused(tmp_path, capsys):
    config = tmp_path / "deep.toml"
    config.write_text("x = " + "[" * 900 + "]" * 900 + "\n")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "nested too deeply" in one_line(capsys.readouterr().err)


def test_device_as_data_file_is_refused(tmp_path, capsys):
    config = write_config(tmp_path, data="/dev/zero")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "cannot read data file /dev/zero: not a regular file" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_serve_upload_limit_must_be_a_positive_number(tmp_path, capsys, value):
    assert main(["serve", "--runs", str(tmp_path / "runs"), "--max-upload-mb", value]) == 2
    assert "--max-upload-mb: must be a positive number" in one_line(capsys.readouterr().err)


def test_large_nlive_warns(tmp_path):
    from nestmix.samplers import get_sampler

    with pytest.warns(UserWarning, match="'nlive' = 50,000 is very large"):
        get_sampler("dynesty").validate({"nlive": 50_000})


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    """The kernel's own ENOSPC (from writing /dev/full) while a sweep stores its summary."""
    import nestmix.store.runs as runs

    def full_disk(path, payload):
        with open("/dev/full", "wb") as handle:
            handle.write(b"x" * 65536)
            handle.flush()

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    config = write_config(tmp_path)
    monkeypatch.setattr(runs, "write_json_atomic", lambda path, obj: full_disk(path, b""))
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--no-report"]) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    ["sweep", "{config}", "--out", "{out}", "--dask", "garbage"],
    ["sweep", "{config}", "--out", "{out}", "--jobs", "0"],
    ["serve", "--runs", "{out}", "--max-upload-mb", "nan"],
])
def test_the_command_exits_at_once_with_one_line(tmp_path, argv):
    """As a user sees it: a separate process, nothing printed at exit, no 40 s hang."""
    config = write_config(tmp_path)
    args = [a.format(config=config, out=tmp_path / "out") for a in argv]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nestmix.cli", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    one_line(done.stderr)
    assert time.perf_counter() - start < 20
