"""A fast start: ``import nestmix`` and ``nestmix --help`` load none of the heavy stacks.

Each check runs in a fresh interpreter (this one has imported everything already) and lists the
top-level packages it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("dask", "distributed", "fastapi", "sqlalchemy", "sklearn", "uvicorn", "starlette",
         "numba", "matplotlib", "anesthetic", "dynesty")

LOADED = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def loaded_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}\n{LOADED}"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_nestmix_loads_no_heavy_package():
    assert loaded_after("import nestmix").isdisjoint(HEAVY)


def test_help_loads_no_heavy_package():
    """``python -m nestmix --help``, the ``nestmix`` command's own entry point."""
    code = ("import contextlib, io, runpy, sys\nsys.argv = ['nestmix', '--help']\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n        runpy.run_module('nestmix', run_name='__main__')\n"
            "    except SystemExit as exit:\n        assert exit.code in (0, None), exit.code\n"
            "assert 'sweep' in out.getvalue(), out.getvalue()")
    assert loaded_after(code).isdisjoint(HEAVY)


@pytest.mark.parametrize("name", ["NestedGaussianMixture", "run_sweep", "open_sweep", "datasets",
                                  "shrinkage", "to_arviz", "NestmixError"])
def test_lazy_names_resolve_to_the_real_objects(name):
    import importlib

    import nestmix

    value = getattr(nestmix, name)
    home = importlib.import_module(nestmix._LAZY[name])
    assert value is (home if name == "datasets" else getattr(home, name))
    assert name in dir(nestmix) and name in nestmix.__all__


def test_every_public_name_is_importable_and_unknown_names_raise():
    import nestmix

    assert set(nestmix.__all__) == {*nestmix._LAZY, "__version__"}
    for name in nestmix.__all__:
        assert getattr(nestmix, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        nestmix.nonesuch  # noqa: B018
