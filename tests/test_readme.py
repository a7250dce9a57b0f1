"""The README's examples run as shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def readme_example(tag: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- readme-example: {tag} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"README has no example tagged {tag!r}"
    return match.group(1)


def test_custom_component_example_runs_as_shown():
    code = readme_example("custom-components")
    assert len(code.strip().splitlines()) <= 25
    done = subprocess.run([sys.executable, "-c", code], cwd=SHARED_DATA, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.strip().splitlines()
    assert "('w_line', 'line_m', 'line_b', 'outliers_ln_s')" in first
    memberships = [float(v) for v in " ".join(rest).strip("[] ").split()]
    assert len(memberships) == 32 and sum(v > 0.5 for v in memberships) >= 7


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "nestmix sweep --example galaxies" in block[0]
    assert block[1].endswith("pytest")
