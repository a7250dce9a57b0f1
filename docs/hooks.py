"""MkDocs hook: serve the notebooks and the benchmark figures from where they live.

The notebooks stay in ``notebooks/`` (executed with their outputs, kept in sync by
``tests/test_notebooks.py``) and the benchmark plot in ``benchmarks/``; this hook adds them to the
site as if they were under ``docs/``, so nothing is copied by hand.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
EXTRA = {"notebooks": ROOT / "notebooks", "benchmarks": ROOT / "benchmarks"}
PATTERNS = {"notebooks": "*.ipynb", "benchmarks": "*.png"}
RENAMED = {"benchmarks/figures.md": ROOT / "benchmarks" / "README.md"}  # site page -> source


@event_priority(100)  # before mkdocs-jupyter turns notebooks into pages
def on_files(files: Files, config) -> Files:
    for prefix, folder in EXTRA.items():
        for path in sorted(folder.glob(PATTERNS[prefix])):
            uri = f"{prefix}/{path.name}"
            if files.get_file_from_path(uri) is None:
                files.append(File(uri, src_dir=str(ROOT), dest_dir=config["site_dir"],
                                  use_directory_urls=config["use_directory_urls"]))
    for uri, path in RENAMED.items():
        files.append(File.generated(config, uri, content=path.read_text(encoding="utf-8")))
    return files
