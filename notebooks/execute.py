"""Execute the science notebooks, and keep their committed outputs in sync.

The notebooks are committed *with* their outputs (figures included) so that a reader of the
repository or of the documentation site sees them without running anything. Each notebook ends by
printing its key numbers as JSON on a line starting with ``RESULTS:``.

    python notebooks/execute.py                 # execute all, write the outputs back
    python notebooks/execute.py galaxies.ipynb  # just one
    python notebooks/execute.py --check         # execute in memory; fail if RESULTS differ

``tests/test_notebooks.py`` uses the same functions: its slow tests execute every notebook,
check the science in its ``RESULTS`` and check that the committed outputs show the same numbers.
Sweep directories go to ``$NESTMIX_NOTEBOOK_RUNS`` (default: a new temporary directory), never
into this folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
NOTEBOOK_FILES = ("line_outliers.ipynb", "deconvolution.ipynb", "galaxies.ipynb",
                  "star_cluster.ipynb")
CELL_TIMEOUT = 900  # seconds per cell
RESULTS_PREFIX = "RESULTS:"


def execute(notebook: nbformat.NotebookNode, runs: Path | None = None,
            cwd: Path = HERE) -> nbformat.NotebookNode:
    """Execute an in-memory notebook in ``cwd`` (a ``python3`` kernel of this interpreter).

    ``runs`` is where the notebook may write sweep directories (``NESTMIX_NOTEBOOK_RUNS``).
    """
    saved = {key: os.environ.get(key) for key in ("NESTMIX_NOTEBOOK_RUNS", "MPLBACKEND")}
    try:
        if runs is not None:
            os.environ["NESTMIX_NOTEBOOK_RUNS"] = str(runs)
        os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend draws the figures
        client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                         resources={"metadata": {"path": str(cwd)}})
        return client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stdout_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's code cells printed to stdout."""
    return "".join(output.get("text", "") for cell in notebook.cells
                   if cell.cell_type == "code" for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


def results_of(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """The ``RESULTS`` a notebook printed (exactly one line), parsed."""
    lines = [line for line in stdout_of(notebook).splitlines()
             if line.startswith(RESULTS_PREFIX)]
    if len(lines) != 1:
        raise ValueError(f"the notebook printed {len(lines)} {RESULTS_PREFIX} lines, not 1")
    return json.loads(lines[0].removeprefix(RESULTS_PREFIX))


def differences(committed: Any, fresh: Any, path: str = "", rtol: float = 1e-6) -> list[str]:
    """Where two RESULTS differ (numbers beyond ``rtol``); wall times are not compared."""
    if "seconds" in path:
        return []
    if isinstance(committed, dict) and isinstance(fresh, dict):
        if set(committed) != set(fresh):
            return [f"{path or 'RESULTS'}: keys {sorted(set(committed) ^ set(fresh))} differ"]
        return [d for key in committed
                for d in differences(committed[key], fresh[key], f"{path}.{key}", rtol)]
    if isinstance(committed, list) and isinstance(fresh, list):
        if len(committed) != len(fresh):
            return [f"{path}: {len(committed)} values committed, {len(fresh)} now"]
        return [d for i, (a, b) in enumerate(zip(committed, fresh, strict=True))
                for d in differences(a, b, f"{path}[{i}]", rtol)]
    if isinstance(committed, bool) or isinstance(fresh, bool) or not (
            isinstance(committed, (int, float)) and isinstance(fresh, (int, float))):
        return [] if committed == fresh else [f"{path}: committed {committed!r}, now {fresh!r}"]
    if math.isclose(committed, fresh, rel_tol=rtol, abs_tol=1e-12):
        return []
    return [f"{path}: committed {committed!r}, now {fresh!r}"]


def strip_volatile_metadata(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop per-execution timestamps so a re-execution changes only what the cells show."""
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(NOTEBOOK_FILES),
                        help="notebooks to execute (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="execute in memory and compare RESULTS with the committed outputs")
    args = parser.parse_args(argv)
    failed = False
    for name in args.names:
        path = HERE / Path(name).name
        committed = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory(prefix="nestmix-notebook-") as runs:
            executed = execute(nbformat.read(path, as_version=4), Path(runs))
        fresh = results_of(executed)
        if args.check:
            diff = differences(results_of(committed), fresh)
            failed |= bool(diff)
            print(f"{name}: " + ("in sync" if not diff else "OUT OF SYNC\n  " + "\n  ".join(diff)))
        else:
            nbformat.write(strip_volatile_metadata(executed), path)
            print(f"{name}: executed and written ({fresh.get('seconds', math.nan):.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
