"""The command line: a sweep from a config file, `show`, and one clear error per bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nestmix import datasets
from nestmix.cli import main

GOOD = """\
name = "toy"
[data]
path = "values.txt"
[model]
covariance = "full"
[model.priors]
mean = {{ dist = "norm", loc = 0, scale = 5 }}
variance = {{ dist = "invgamma", a = 3, scale = 2 }}
{extra_priors}
[sweep]
k = {k}
sampler = "{sampler}"
nlive = 40
seed = 1
{extra_sweep}
"""


def write_config(tmp_path: Path, k="[1, 2]", sampler="dynesty", extra_priors="",
                 extra_sweep="", replace: tuple[str, str] | None = None) -> Path:
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.normal(-2, 0.5, 30), rng.normal(2, 0.5, 30)])
    np.savetxt(tmp_path / "values.txt", values)
    text = GOOD.format(k=k, sampler=sampler, extra_priors=extra_priors, extra_sweep=extra_sweep)
    if replace:
        text = text.replace(*replace)
    path = tmp_path / "toy.toml"
    path.write_text(text)
    return path


def test_sweep_and_show(tmp_path, capsys):
    config = write_config(tmp_path)
    out = tmp_path / "runs" / "toy"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "running K = 1, 2 with dynesty" in printed
    assert "best K = 2 for dynesty" in printed
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [r["k"] for r in rows] == [1, 2]

    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    for row in rows:
        assert f"{row['logZ']:.3f}" in shown

    shutil.rmtree(out / "K=2")  # a partly finished sweep
    assert main(["show", str(out)]) == 0
    assert "missing (not finished): K=2 dynesty" in capsys.readouterr().out


def test_per_sampler_settings_table(tmp_path):
    config = write_config(tmp_path, k="[1]", extra_sweep="[sweep.dynesty]\nnlive = 30")
    text = config.read_text().replace('sampler = "dynesty"', 'sampler = ["dynesty"]')
    config.write_text(text.replace("nlive = 40\n", ""))
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["samplers"]["dynesty"]["settings"]["nlive"] == 30


def test_default_output_directory_is_runs_name(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, k="[1]")
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(config), "--jobs", "1", "--quiet"]) == 0
    assert (tmp_path / "runs" / "toy" / "K=1" / "dynesty" / "run.json").exists()


@pytest.mark.parametrize(("kwargs", "key", "words"), [
    ({"replace": ('name = "toy"', 'nmae = "toy"')}, "nmae", "unknown key"),
    ({"replace": ('covariance = "full"', 'covarance = "full"')}, "model.covarance",
     "unknown key"),
    ({"replace": ('covariance = "full"', 'covariance = "fll"')}, "model.covariance",
     "unknown value 'fll'"),
    ({"replace": ('"norm", loc', '"nrom", loc')}, "model.priors.mean",
     "unknown distribution 'nrom'"),
    ({"replace": ("loc = 0", "locc = 0")}, "model.priors.mean", "locc"),
    ({"replace": ('"values.txt"', '"missing.txt"')}, "data", "not found"),
    ({"replace": ("[data]\n", "[data]\nscale = 'big'\n")}, "data.scale", "must be a number"),
    ({"sampler": "multinest"}, "sweep.sampler", "unknown sampler 'multinest'"),
    ({"extra_sweep": "nlve = 3"}, "sweep", "unknown dynesty setting 'nlve'"),
    ({"k": "[0, 1]"}, "sweep.k", "K < 1 makes no mixture without custom components"),
    ({"k": "[2, 2]"}, "sweep.k", "repeated"),
    ({"extra_sweep": "kmax = 3"}, "sweep.k", "either k"),
    ({"extra_priors": "weights = { dist = 'dirichlet', alpha = -1 }"},
     "model.priors.weights", "alpha"),
    ({"extra_priors": "colour = 3"}, "model.priors", "unknown prior 'colour'"),
    ({"replace": ("[sweep]", "[sweep\n")}, "", "not valid TOML"),
    ({"replace": ('sampler = "dynesty"', 'sampler = ["dynesty", "dynesty"]')}, "sweep.sampler",
     "repeated sampler"),
    ({"extra_sweep": "[sweep.polychord]\nnlive = 3"}, "sweep.polychord",
     "settings for a sampler this sweep does not run"),
    ({"extra_sweep": "[sweep.dynesty]\nwalks = 'x'"}, "sweep", "'walks' must be int"),
    ({"extra_sweep": "repeats = 0"}, "sweep.repeats", "must be a positive integer"),
    ({"extra_sweep": "repeats = 'many'"}, "sweep.repeats", "must be a positive integer"),
    ({"extra_sweep": "dask = 8786"}, "sweep.dask", "must be a Dask scheduler address"),
    ({"extra_sweep": "dask = ' '"}, "sweep.dask", "must be a Dask scheduler address"),
    ({"extra_sweep": "pool = 0"}, "sweep", "'pool' must be a number of processes"),
    ({"extra_sweep": "pool = 'ray'"}, "sweep", "'pool' must be a number of processes"),
    ({"extra_sweep": "queue_size = 4"}, "sweep", "'queue_size' > 1 needs a pool"),
    ({"extra_sweep": "pool = 'dask'"}, "", "pool = 'dask' runs each K on the Dask cluster"),
])
def test_bad_config_names_the_key(tmp_path, capsys, kwargs, key, words):
    config = write_config(tmp_path, **kwargs)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nestmix: error: ")
    assert f"error: {key}" in err
    assert words in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_repeats_from_the_config_and_where_to_run(tmp_path, capsys):
    config = write_config(tmp_path, k="[1]", extra_sweep="repeats = 2")
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "K=1 dynesty: started" in printed and "K=1 dynesty repeat 2: started" in printed
    row = json.loads((out / "summary.json").read_text())["rows"][0]
    assert row["repeats"] == 2 and len(row["logZ_runs"]) == 2
    assert f"{row['logZ_spread']:.3f}" in printed  # the table shows the spread over seeds
    assert main(["sweep", str(config), "--out", str(out), "--dask", "tcp://127.0.0.1:1",
                 "--local"]) == 2
    assert "give --dask ADDRESS or --local, not both" in capsys.readouterr().err
    # --local overrides a cluster named in the config: everything is reused here
    with_dask = config.read_text().replace("repeats = 2", 'repeats = 2\ndask = "tcp://nowhere:1"')
    config.write_text(with_dask)
    assert main(["sweep", str(config), "--out", str(out), "--local", "--no-report"]) == 0
    assert capsys.readouterr().out.count("reused finished run") == 2


@pytest.mark.parametrize(("contents", "words"), [
    ("1.0\nnan\n2.0\n", "non-finite"),
    ("1.0\n2.0\nabc\n", "abc"),
    ("", "empty"),
])
def test_bad_data_is_reported_without_traceback(tmp_path, capsys, contents, words):
    config = write_config(tmp_path)
    (tmp_path / "values.txt").write_text(contents)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nestmix: error: data") and words in err
    assert "Traceback" not in err


def test_negative_errors_in_csv(tmp_path, capsys):
    config = write_config(tmp_path, replace=('path = "values.txt"',
                                             'path = "v.csv"\ncolumns = ["v"]\n'
                                             'errors = ["e"]'))
    (tmp_path / "v.csv").write_text("v,e\n" + "".join(f"{i},0.1\n" for i in range(9))
                                    + "3,-0.2\n")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "errors must be positive" in err and "Traceback" not in err


def test_missing_config_and_bad_arguments(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["sweep"]) == 2
    assert "give a config file or --example" in capsys.readouterr().err
    assert main(["show", str(tmp_path)]) == 2
    assert "is not a nestmix sweep" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--example", "unknown"])
    assert exit_info.value.code == 2


def test_escalate_option(tmp_path, capsys):
    config = write_config(tmp_path, k="[1]")
    assert main(["sweep", str(config), "--out", str(tmp_path / "a"), "--escalate", "-1"]) == 2
    assert "--escalate" in capsys.readouterr().err
    # default: the convergence check runs (budget 1); --escalate 0 turns it off
    assert main(["sweep", str(config), "--out", str(tmp_path / "b"), "--jobs", "1",
                 "--quiet", "--no-report"]) == 0
    assert json.loads((tmp_path / "b" / "convergence.json").read_text())["budget"] == 1
    assert main(["sweep", str(config), "--out", str(tmp_path / "c"), "--jobs", "1",
                 "--quiet", "--no-report", "--escalate", "0"]) == 0
    assert not (tmp_path / "c" / "convergence.json").exists()


def test_install_polychord_command(capsys):
    """The README's set-up command; idempotent once installed (the first call may install)."""
    assert main(["install-polychord"]) == 0
    assert main(["install-polychord"]) == 0
    out = capsys.readouterr().out
    assert "already installed" in out and "PolyChord is ready" in out


LINE_CONFIG = """\
name = "line"
[data]
path = "{path}"
columns = ["y"]
errors = ["y_err"]
extra = ["x"]
[model]
[[model.extra_components]]
family = "line"
name = "line"
[model.extra_components.priors]
m = {{ dist = "uniform", loc = 0, scale = 10 }}
b = {{ dist = "norm", loc = 0, scale = 25 }}
[[model.extra_components]]
family = "gaussian_outlier"
name = "outliers"
priors = {{ mu = 0.0, ln_s = {{ dist = "uniform", loc = -3, scale = 7 }} }}
[model.priors]
mean = {{ dist = "norm", loc = 0, scale = 30 }}
sigma = {{ dist = "loguniform", a = 0.1, b = 50 }}
[sweep]
k = [0, 1]
nlive = 150
seed = 7
"""


@pytest.mark.slow
def test_line_with_outliers_sweep_from_k_zero(tmp_path):
    """A config sweep of custom components with K = 0 and 1 extra Gaussians; the stored
    memberships of the K = 0 run find the outliers (issue 4's acceptance on this data set)."""
    import csv

    data = datasets.load("line_outliers").path
    config = tmp_path / "line.toml"
    config.write_text(LINE_CONFIG.format(path=data))
    out = tmp_path / "runs" / "line"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [r["k"] for r in rows] == [0, 1]
    with np.load(out / "K=0" / "dynesty" / "modes.npz") as arrays:
        outlier = arrays["membership_mean"][:, 1]  # columns: line, outliers
    with data.open() as handle:
        truth = np.array([int(r["is_outlier"]) for r in csv.DictReader(handle)], dtype=bool)
    assert np.sum(outlier[truth] > 0.5) >= 7
    assert np.sum(outlier[~truth] > 0.5) <= 2
