"""The helpers' digests of the numba entry modules (nestmix.model.kernels.numba_digest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nestmix.model.kernels import numba_digest
from nestmix.model.kernels.numba_digest import (
    compute_digest,
    entry_digests,
    helper_files,
    package_dir,
    write_digests,
)

PACKAGE = package_dir()
SLICE = PACKAGE / "samplers" / "dynesty" / "_slice_numba.py"


def _rel(path: Path, package: Path) -> str:
    return path.relative_to(package.parent).as_posix()


def test_recorded_digests_are_current() -> None:
    """Every numba module that compiles other nestmix modules' code carries their current
    digest (run ``python -m nestmix.model.kernels.numba_digest --write`` after an edit)."""
    entries = {_rel(e.path, PACKAGE): e for e in entry_digests()}
    slice_entry = entries["nestmix/samplers/dynesty/_slice_numba.py"]
    helpers = {_rel(p, PACKAGE) for p in slice_entry.helpers}
    assert {"nestmix/priors/_compiled.py", "nestmix/model/kernels/_numba_impl.py"} <= helpers
    stale = {name: (e.recorded, e.computed) for name, e in entries.items() if e.stale}
    assert stale == {}, "stale digests: run python -m nestmix.model.kernels.numba_digest --write"
    assert numba_digest.main([]) == 0


@pytest.mark.parametrize(("helper", "old", "new", "stale"), [
    ("priors/_compiled.py", "_MAX_STEPS = 200", "_MAX_STEPS = 201",
     ["samplers/dynesty/_slice_numba.py"]),
    ("model/kernels/_numba_math.py", "x = max(x, -746.0)", "x = max(x, -745.0)",
     ["model/kernels/_numba_blocks.py", "model/kernels/_numba_components.py",
      "model/kernels/_numba_impl.py", "samplers/dynesty/_slice_numba.py"]),
])
def test_helper_edit_without_new_digest_is_stale(tmp_path: Path, helper: str, old: str,
                                                 new: str, stale: list[str]) -> None:
    """A helper edited (in a copy) leaves the recorded digests of the modules that compile its
    code stale; writing the digests changes those modules' sources, which is what numba's cache
    stamp hashes."""
    copy = tmp_path / "nestmix"
    entries = {e.path: e for e in entry_digests()}
    for path in {SLICE, *entries[SLICE].helpers}:
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    assert copy / SLICE.relative_to(PACKAGE) in {e.path for e in entry_digests(copy)}
    assert [e for e in entry_digests(copy) if e.stale] == []

    edited = copy / helper
    text = edited.read_text()
    assert text.count(old) == 1
    edited.write_text(text.replace(old, new))
    found = [e for e in entry_digests(copy) if e.stale]
    assert [e.path.relative_to(copy).as_posix() for e in found] == stale
    for entry in found:
        real = entries[PACKAGE / entry.path.relative_to(copy)]
        assert entry.recorded == real.recorded != entry.computed
        assert entry.computed == compute_digest(helper_files(entry.path, copy), copy)

    before = {e.path: e.path.read_bytes() for e in found}
    assert write_digests(copy) == sorted(before)
    assert all(path.read_bytes() != source for path, source in before.items())
    assert [e for e in entry_digests(copy) if e.stale] == []
    assert all((PACKAGE / path.relative_to(copy)).read_bytes() == source  # real files untouched
               for path, source in before.items())


def _demo_package(root: Path) -> Path:
    package = root / "demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "consts.py").write_text("SCALE = 1.0\n")
    (package / "helper.py").write_text(textwrap.dedent("""\
        from numba import njit

        from .consts import SCALE


        @njit(cache=True)
        def value(x):
            return SCALE * x
        """))
    (package / "entry.py").write_text(textwrap.dedent("""\
        from numba import njit

        from demo.helper import value


        @njit(cache=True)
        def twice(x):
            return 2.0 * value(x)


        if __name__ == "__main__":
            print(twice(1.0))
        """))
    return package


def _run(root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run([sys.executable, "-m", "demo.entry"], env=env, cwd=root,
                          capture_output=True, text=True, timeout=120, check=True)
    return float(done.stdout.strip())


@pytest.mark.slow  # three processes that import numba: about 5 s
def test_numba_cache_is_stale_until_the_digest_is_written(tmp_path: Path) -> None:
    """Why the digests exist: numba's cache of a function keeps a helper module's old code
    (and constants) after the helper is edited, until the entry module's source changes."""
    package = _demo_package(tmp_path)
    entry, helper = package / "entry.py", package / "helper.py"
    # helper.py compiles a constant of consts.py into its own cached code: an entry module too
    assert [(e.path, e.recorded) for e in entry_digests(package)] == [(entry, None),
                                                                      (helper, None)]
    assert helper_files(entry, package) == (package / "consts.py", helper)
    assert write_digests(package) == [entry, helper]
    assert [e.stale for e in entry_digests(package)] == [False, False]
    assert _run(tmp_path) == 2.0

    (package / "consts.py").write_text("SCALE = 3.0\n")  # two imports away from the entry
    os.utime(entry)  # touching the modules changes nothing (numba hashes their content)
    os.utime(helper)
    assert _run(tmp_path) == 2.0  # numba loads the stale compiled code
    assert [e.stale for e in entry_digests(package)] == [True, True]

    assert write_digests(package) == [entry, helper]
    assert _run(tmp_path) == 6.0


@pytest.mark.parametrize("line", ['_HELPER_DIGEST = "sha256:0"', '_HELPER_DIGEST = ""'])
def test_a_helpers_own_digest_line_is_not_hashed(tmp_path: Path, line: str) -> None:
    """Digests do not depend on the order in which they are written."""
    helper = tmp_path / "pkg" / "helper.py"
    helper.parent.mkdir()
    helper.write_text(f"X = 1\n{line}\n")
    first = compute_digest([helper], tmp_path / "pkg")
    helper.write_text('X = 1\n_HELPER_DIGEST = "sha256:1"\n')
    assert compute_digest([helper], tmp_path / "pkg") == first
    helper.write_text('X = 2\n_HELPER_DIGEST = "sha256:1"\n')
    assert compute_digest([helper], tmp_path / "pkg") != first
