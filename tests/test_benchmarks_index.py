"""The index at the top of ``benchmarks/README.md`` lists every benchmark script, and only them.

Each row names a script, the command that runs it and the results files it writes; the docs
page links to that index instead of keeping a list of its own (issue #34, item 6).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SHARED = {"common.py"}  # imported by the scripts, not a benchmark


def index_rows() -> list[list[str]]:
    """The cells of each row of the README's index table (header and rule left out)."""
    text = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Index\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0].split("|")[1:-1] == [" script ", " measures ", " command ", " writes ",
                                         " run time "]
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:]]


def test_the_index_lists_every_script_once_and_nothing_else():
    scripts = [row[0].strip("`") for row in index_rows()]
    on_disk = {path.name for path in BENCHMARKS.glob("*.py")} - SHARED
    assert len(scripts) == len(set(scripts)), "a script listed twice"
    assert not on_disk - set(scripts), f"missing from the index: {sorted(on_disk - set(scripts))}"
    assert not set(scripts) - on_disk, f"no such script: {sorted(set(scripts) - on_disk)}"


@pytest.mark.parametrize("row", index_rows(), ids=lambda row: row[0].strip("`"))
def test_each_row_runs_its_own_script_and_names_files_that_exist(row):
    script, _, command, writes, run_time = row
    assert re.fullmatch(rf"`python benchmarks/{re.escape(script.strip('`'))}( [^`]*)?`",
                        command), command
    assert run_time
    for name in re.findall(r"`(?:--[\w-]+ )?([\w./-]+\.(?:jsonl?|png))`", writes):
        assert (BENCHMARKS / name).is_file(), f"{script} writes {name}, not in benchmarks/"


def test_the_docs_page_links_to_the_index_and_keeps_no_list():
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert "(benchmarks/figures.md#index)" in page  # the README, served as benchmarks/figures.md
    assert "python benchmarks/" not in page
