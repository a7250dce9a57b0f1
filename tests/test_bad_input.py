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


# ------------------------------------------------------------- CSV columns (issue 33, N8)
def test_an_unnamed_column_holding_values_is_named_not_dropped(tmp_path, capsys):
    """A header ``a,`` over rows of two numbers: the second column is refused by its number,
    in a config and with a data file alone, instead of being dropped silently."""
    (tmp_path / "values.csv").write_text("a,\n" + "".join(f"{i},{2 * i}\n" for i in range(30)))
    config = write_config(tmp_path, data="values.csv")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "column 2 of" in err and "has no name in the header ('a,')" in err
    assert main(["sweep", str(tmp_path / "values.csv"), "--out", str(tmp_path / "zero")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "column 2 of" in err and "has no name in the header ('a,')" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "zero").exists()


def test_an_unnamed_first_column_is_an_index_and_an_empty_one_is_nothing(tmp_path):
    from nestmix import load_measurements

    (tmp_path / "index.csv").write_text(",a,\n" + "".join(f"{i},{i / 2},\n" for i in range(5)))
    data = load_measurements(tmp_path / "index.csv")
    assert data.columns == ("a",) and data.values[:, 0].tolist() == [0, 0.5, 1, 1.5, 2]


@pytest.mark.parametrize("columns", [",", "", " , ", "a,,b"])
def test_empty_column_names_are_refused(tmp_path, capsys, columns):
    (tmp_path / "values.csv").write_text("a,b\n" + "".join(f"{i},{2 * i}\n" for i in range(30)))
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "values.csv"), "--columns", columns,
                 "--out", str(out)]) == 2
    assert "--columns: give column names separated by commas" in one_line(
        capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("name, delimiter", [("semi.csv", ";"), ("tabs.csv", "\t"),
                                             ("tabs.tsv", "\t"), ("one.tsv", "\t")])
def test_semicolon_and_tab_separated_files_are_read(tmp_path, name, delimiter):
    """Excel's ``;`` CSV, tab-separated CSV and ``.tsv`` files are read with their delimiter,
    as a data file alone (every numeric column) and through load_measurements."""
    from nestmix import load_measurements
    from nestmix.sweep.zeroconf import config_for_data, is_data_file

    names = ["a"] if name.startswith("one") else ["a", "b", "a_error", "b_error"]
    rows = [[f"{i / 4}", f"{-i}", "0.1", "0.2"][:len(names)] for i in range(20)]
    path = tmp_path / name
    path.write_text("\n".join(delimiter.join(r) for r in [names, *rows]) + "\n")
    assert is_data_file(path)
    config = config_for_data(path, base=tmp_path)
    values = names[:1] if len(names) == 1 else ["a", "b"]
    assert config["data"]["columns"] == values
    data = load_measurements(path, columns=values,
                             errors=None if len(names) == 1 else ["a_error", "b_error"])
    assert data.values.shape == (20, len(values))
    assert data.values[:, 0].tolist() == [i / 4 for i in range(20)]


def test_no_numeric_columns_names_the_delimiter(tmp_path, capsys):
    (tmp_path / "words.csv").write_text("name|size\nx|1\ny|2\n")
    assert main(["sweep", str(tmp_path / "words.csv"), "--out", str(tmp_path / "o")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "no numeric value columns (read as comma-separated with 1 column: 'name|size')" \
        in err


def test_a_tsv_file_is_data_not_a_config(tmp_path, capsys):
    (tmp_path / "points.tsv").write_text("x\ty\n1\t2\n3\tfoo\n")
    assert main(["sweep", str(tmp_path / "points.tsv"), "--out", str(tmp_path / "o")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "TOML" not in err
    assert "cannot read 'foo' as a number at line 3, column 'y' of" in err
    assert "points.tsv" in err and not (tmp_path / "o").exists()


def test_large_nlive_warns_once_per_sweep_not_again_from_the_run(tmp_path, capsys, recwarn):
    """Issue 33: the warning was given when the sweep was planned and again when each run
    re-validated its settings (in every worker process)."""
    config = write_config(tmp_path, sweep_extra="maxiter = 3")
    config.write_text(config.read_text().replace("nlive = 40", "nlive = 25000"))
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--jobs", "1",
                 "--no-report", "--quiet", "--escalate", "0"]) == 0
    said = [str(w.message) for w in recwarn.list if "is very large" in str(w.message)]
    assert said == ["dynesty setting 'nlive' = 25,000 is very large (runs take time in "
                    "proportion; a few hundred to 20,000 is usual)"]
