"""The repository stands alone: no source reads outside it, and the public API is what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import nestmix

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("nestmix", "tests", "notebooks") for p in sorted(
    (ROOT / folder).rglob("*")) if p.suffix in (".py", ".ipynb", ".toml") and p.is_file()]
# Ways a source reaches outside its clone: the sibling ``shared`` folder of CI, the repository's
# parent, or a parent of ``tests``/``notebooks`` above the repository's root.
OUTSIDE = re.compile(r"\.\./shared|[\"']shared[\"']\s*/|parents\[[2-9]\]|ROOT\.parent|"
                     r"NESTMIX_SHARED_DATA")


def test_the_sources_are_found():
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "test_standalone.py", "galaxies.ipynb", "galaxies.toml"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_reads_outside_the_repository(path):
    if path == Path(__file__):
        return
    hits = [f"line {i}: {line.strip()}" for i, line in
            enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} reads outside the repository: {hits}"


def test_the_pattern_catches_the_ways_out():
    up = ".." + "/"  # spelled in pieces so that text searches of this file find no way out
    for line in ('DATA = Path(__file__).resolve().parents' + '[2] / "shared"' + ' / "data"',
                 f'Path(os.environ.get("NESTMIX_SHARED_DATA", "{up}{up}shared/data"))',
                 "SHARED = ROOT.parent / 'shared'", f'open("{up}shared/data/enzyme.txt")'):
        assert OUTSIDE.search(line), line


def test_every_public_name_resolves_and_star_import_works():
    for name in nestmix.__all__:
        assert getattr(nestmix, name) is not None, name
    code = ("from nestmix import *; import nestmix; "
            "missing = [n for n in nestmix.__all__ if n not in globals()]; "
            "assert not missing, missing; nestmix.open_sweep; nestmix.shrinkage; "
            "nestmix.SweepArchive; nestmix.Shrinkage; nestmix.datasets.load; "
            "from nestmix import to_anesthetic, to_arviz; "
            "import nestmix.posterior.exports as e; assert to_anesthetic is e.to_anesthetic; "
            "assert to_arviz is e.to_arviz")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_package_ships_its_type_hints_and_data():
    package = Path(nestmix.__file__).parent
    assert (package / "py.typed").exists()
    for name in nestmix.datasets.dataset_names():
        dataset = nestmix.datasets.load(name)
        assert dataset.path.is_file() and package in dataset.path.parents
    assert (package / "examples" / "README.md").exists()
