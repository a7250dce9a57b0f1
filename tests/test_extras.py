"""The service and Dask are extras: without them, one line names the extra to install.

The missing packages are simulated in a fresh interpreter by ``sys.modules[name] = None``, which
makes both ``import name`` and ``importlib.util.find_spec(name)`` see no such package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nestmix.errors import NestmixError
from nestmix.extras import EXTRAS, ExtraMissing, require

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def run_without(packages: tuple[str, ...], code: str,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    hide = "".join(f"sys.modules[{name!r}] = None\n" for name in packages)
    return subprocess.run([sys.executable, "-c", f"import sys\n{hide}{code}"], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def test_serve_without_the_service_extra_names_it(tmp_path):
    done = run_without(("fastapi",), "from nestmix.cli import main\n"
                                     f"sys.exit(main(['serve', '--runs', {str(tmp_path)!r}]))")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "nestmix: error: nestmix serve needs the 'service' extra (fastapi not installed): "
        "pip install 'nestmix[service]'"]


def test_dask_without_the_dask_extra_names_it(tmp_path):
    done = run_without(("distributed",), "from nestmix.cli import main\n"
                       "sys.exit(main(['sweep', '--example', 'galaxies', '--dask', "
                       f"'tcp://127.0.0.1:1', '--out', {str(tmp_path / 'runs')!r}]))")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "nestmix: error: running on a Dask cluster needs the 'dask' extra (distributed not "
        "installed): pip install 'nestmix[dask]'"]
    assert not list((tmp_path / "runs").glob("K=*"))  # refused before any run


@pytest.mark.slow  # a zero-config sweep and its report, every extra hidden: ~30 s
def test_a_sweep_and_its_report_need_no_extra(tmp_path):
    """The core install's promise: a zero-config sweep (in this process: --jobs 1) and its
    report run with every module of every extra unimportable."""
    rng = np.random.default_rng(1)
    values = np.r_[rng.normal(0, 1, 30), rng.normal(5, 1, 30)]
    (tmp_path / "pts.csv").write_text("x\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    hidden = tuple(name for names in EXTRAS.values() for name in names)
    done = run_without(hidden, "from nestmix.cli import main\n"
                       "sys.exit(main(['sweep', 'pts.csv', '--kmax', '2', '--covariance', 'full', "
                       "'--jobs', '1', '--quiet']))", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best K = 2" in done.stdout
    assert (tmp_path / "runs" / "pts" / "report.html").stat().st_size > 0


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_require_passes_when_the_extra_is_installed(extra):
    require(extra, "this test")  # the test extra installs every extra


def test_extras_match_pyproject():
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(EXTRAS) <= set(extras)
    assert "nestmix[service,dask,arviz]" in extras["all"]
    assert any(line.startswith("nestmix[all") for line in extras["test"])
    core = " ".join(project["dependencies"])
    for module in ("fastapi", "uvicorn", "sqlalchemy", "multipart", "dask", "distributed"):
        assert module not in core
    assert issubclass(ExtraMissing, NestmixError)
