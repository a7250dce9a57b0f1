"""The service and Dask are extras: without them, one line names the extra to install.

The missing packages are simulated in a fresh interpreter by ``sys.modules[name] = None``, which
makes both ``import name`` and ``importlib.util.find_spec(name)`` see no such package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nestmix.errors import NestmixError
from nestmix.extras import EXTRAS, ExtraMissing, require

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def run_without(packages: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    hide = "".join(f"sys.modules[{name!r}] = None\n" for name in packages)
    return subprocess.run([sys.executable, "-c", f"import sys\n{hide}{code}"],
                          capture_output=True, text=True, timeout=120, check=False)


def test_serve_without_the_service_extra_names_it(tmp_path):
    done = run_without(("fastapi",), "from nestmix.cli import main\n"
                                     f"sys.exit(main(['serve', '--runs', {str(tmp_path)!r}]))")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "nestmix: error: nestmix serve needs the 'service' extra (fastapi not installed): "
        "pip install 'nestmix[service]'"]


def test_dask_without_the_dask_extra_names_it():
    done = run_without(("distributed",), "from nestmix.sweep.dask import connect\n"
                                         "with connect('tcp://127.0.0.1:1'):\n    pass\n")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "nestmix.extras.ExtraMissing: running on a Dask cluster needs the 'dask' extra "
        "(distributed not installed): pip install 'nestmix[dask]'")


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
