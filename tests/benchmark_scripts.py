"""Load benchmark scripts (``benchmarks/<name>.py``) as modules for the tests.

A script imports what the scripts share from ``benchmarks/common.py`` as ``common``, which
works when it runs (its own folder is first on ``sys.path``); a test loading it puts
``benchmarks/`` on ``sys.path`` for as long as it uses the modules.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextlib.contextmanager
def benchmark_scripts(*names: str) -> Iterator[dict[str, ModuleType]]:
    """The scripts ``names`` as modules, registered in ``sys.modules`` under their names
    (dynesty's checkpoints pickle the plain scripts' models by module name); on exit they,
    ``common`` and ``benchmarks/`` on ``sys.path`` are gone again."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        modules = {}
        for name in names:
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            modules[name] = module
        yield modules
    finally:
        for name in (*names, "common"):
            sys.modules.pop(name, None)
        sys.path.remove(str(BENCHMARKS))
