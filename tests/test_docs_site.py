"""The documentation site: formulas render on notebook pages, the API page links its names.

The fast test checks the Griffe extension that turns Sphinx roles into cross-references on a
small package; the slow one builds the whole site (``mkdocs build --strict``, as CI does) and
reads the HTML a reader gets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
from griffe_roles import SphinxRoles  # noqa: E402

sys.path.insert(0, str(ROOT / "docs" / "images"))
from make_report_image import top_of_report  # noqa: E402

RAW_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc):")

PACKAGE = {
    "__init__.py": 'from pkg.sub import f\n__all__ = ["f"]\n',
    "sub.py": ('"""See :func:`f`, :class:`~pkg.sub.C`, :mod:`~.sub` and :func:`elsewhere.g`."""\n'
               'def f():\n    """Calls :meth:`C.go` and :func:`pkg.f`."""\n'
               'class C:\n    """A class; :meth:`go` goes."""\n'
               '    def go(self):\n        """Go."""\n'),
}


def autoref(identifier: str, shown: str) -> str:
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'


def test_sphinx_roles_become_optional_cross_references():
    with griffe.temporary_visited_package("pkg", PACKAGE,
                                          extensions=griffe.load_extensions(SphinxRoles)) as pkg:
        module, function, cls = pkg["sub"], pkg["sub.f"], pkg["sub.C"]
        assert module.docstring.value == (
            f"See {autoref('pkg.sub.f', 'f')}, {autoref('pkg.sub.C', 'C')}, "
            f"{autoref('pkg.sub', 'sub')} and {autoref('elsewhere.g', 'elsewhere.g')}.")
        assert function.docstring.value == (
            f"Calls {autoref('pkg.sub.C.go', 'C.go')} and {autoref('pkg.f', 'pkg.f')}.")
        assert cls.docstring.value == f"A class; {autoref('pkg.sub.C.go', 'go')} goes."


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_notebook_pages_load_a_math_renderer(site):
    pages = sorted(site.glob("notebooks/*/index.html"))
    assert len(pages) == len(list((ROOT / "notebooks").glob("*.ipynb"))) > 0
    for page in pages:
        html = page.read_text()
        sources = re.findall(r'<script[^>]*\bsrc="([^"]*)"', html)
        assert "" not in sources, f"{page}: a script with an empty src"
        assert any(re.search(r"mathjax|katex", src, re.I) for src in sources), page
    galaxies = (site / "notebooks" / "galaxies" / "index.html").read_text()
    assert "$$" in galaxies or "\\(" in galaxies  # there is TeX for the renderer to typeset


@pytest.mark.slow
def test_api_page_links_its_names_and_opens_with_what_users_call(site):
    html = (site / "api" / "index.html").read_text()
    assert RAW_ROLE.findall(html) == []
    assert len(re.findall(r'class="autorefs autorefs-internal"', html)) >= 50
    headings = re.findall(r'<h[23] id="([^"]+)"', html)
    first = ["the-estimator", "nestmix.NestedGaussianMixture", "sweeps", "nestmix.run_sweep"]
    assert headings[:4] == first
    order = [headings.index(h) for h in ("nestmix.open_sweep", "the-report", "internals")]
    assert order == sorted(order)
    assert headings.index("internals") > headings.index("nestmix.NestmixError")
    run_manifest = html.index('id="nestmix.sweep.plan.SweepPlan.run_manifest"')
    assert run_manifest > html.index('id="internals"')


REPORT = ('<html><body><main><h1>Sweep</h1><table><tr><td>data</td><td>82 points from '
          '{data}</td></tr><tr><td>files</td><td>{sweep}/evidence.csv</td></tr></table>'
          '<img src="data:image/png;base64,AAAA/tmp/x"><section id="priors"><h2>Priors</h2>'
          '{late}</section></main></body></html>')


def test_report_image_shows_no_machine_path(tmp_path):
    sweep = tmp_path / "runs" / "galaxies"
    sweep.mkdir(parents=True)
    data = "/usr/lib/python3/site-packages/nestmix/examples/galaxies_roeder1990.txt"
    (sweep / "report.html").write_text(REPORT.format(data=data, sweep=sweep.resolve(),
                                                     late="/home/someone/later.csv"))
    html = top_of_report(sweep)
    assert "from nestmix/examples/galaxies_roeder1990.txt" in html
    assert "<td>evidence.csv</td>" in html and "Priors" not in html and "/home" not in html
    (sweep / "report.html").write_text(REPORT.format(data="/home/someone/galaxies.txt",
                                                     sweep=sweep, late=""))
    with pytest.raises(SystemExit, match=r"/home/someone/galaxies\.txt"):
        top_of_report(sweep)
