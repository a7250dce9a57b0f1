"""CI fails on any skip: with ``NESTMIX_NO_SKIPS=1`` (set by .ci/run) tests/conftest.py turns a
skipped test, or a skipped module, into a failure that carries the skip's reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SKIPPING = '''
import pytest

@pytest.fixture(scope="module")
def tool():
    pytest.skip("no widget here")

def test_needs_a_tool(tool):
    pass

def test_plain():
    pass
'''

MODULE_SKIP = 'import pytest\npytest.skip("no gadget here", allow_module_level=True)\n'


def run_pytest(tmp_path: Path, no_skips: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {**os.environ, "NESTMIX_NO_SKIPS": "1" if no_skips else "0"}
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", "-n", "0",
               "-p", "no:cacheprovider", "--continue-on-collection-errors", "-c", os.devnull,
               "--rootdir", str(tmp_path), str(tmp_path)]
    return subprocess.run(command,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.parametrize("no_skips", [False, True])
def test_skips_fail_only_when_asked(tmp_path, no_skips):
    done = run_pytest(tmp_path, no_skips)
    summary = done.stdout.strip().splitlines()[-1]
    if no_skips:
        assert done.returncode == 1, done.stdout[-3000:]
        assert "1 passed, 2 errors" in summary  # a failed set-up or collection is an error
        assert "skipped" not in summary
        assert "no widget here" in done.stdout and "no gadget here" in done.stdout
    else:
        assert done.returncode == 0, done.stdout[-3000:]
        assert "1 passed, 2 skipped" in summary
