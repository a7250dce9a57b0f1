"""Make ``docs/images/report.png``: the top of the galaxies example's report, as a browser shows it.

Runs ``nestmix sweep --example galaxies`` in a new temporary directory (or takes a finished
sweep: ``--sweep runs/galaxies``), keeps the report from its top to the end of the "Evidence"
section, replaces the machine's paths by where the files are in the package or the sweep (the
bundled data shows as ``nestmix/examples/…``), and screenshots it with headless Chromium
(Debian's ``chromium`` package) 1280 px wide, cropped below the last drawn row::

    python docs/images/make_report_image.py                      # about 3 minutes on 2 cores
    python docs/images/make_report_image.py --sweep runs/galaxies --out /tmp/report.png
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
WIDTH = 1280
CHROMIUM = "chromium"
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:tmp|home|root|work|usr|opt|var|Users)/[^\s<\"']*")


def run_example(workdir: Path) -> Path:
    """Run the bundled galaxies example in ``workdir``; its sweep directory."""
    subprocess.run([sys.executable, "-m", "nestmix", "sweep", "--example", "galaxies",
                    "--out", "runs/galaxies", "--quiet"], cwd=workdir, check=True)
    return workdir / "runs" / "galaxies"


def top_of_report(sweep: Path) -> str:
    """The report's HTML up to the end of its "Evidence" section, without machine paths."""
    html = (sweep / "report.html").read_text(encoding="utf-8")
    cut = html.index('<section id="priors">')
    html = html[:cut] + "</main>\n</body>\n</html>\n"
    html = html.replace(str(sweep.resolve()) + "/", "")
    # the bundled data, wherever nestmix was installed when the sweep ran
    html = re.sub(r"/[^\s<\"']*/nestmix/examples/", "nestmix/examples/", html)
    left = MACHINE_PATH.findall(re.sub(r'src="data:[^"]*"', "", html))
    if left:
        raise SystemExit(f"machine paths left in the report: {sorted(set(left))}")
    return html


def screenshot(page: Path, out: Path, height: int = 2400) -> None:
    """Chromium's screenshot of ``page``, ``WIDTH`` wide, cropped below the last drawn row."""
    chromium = shutil.which(CHROMIUM)
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install chromium (Debian)")
    with tempfile.TemporaryDirectory() as profile:
        shot = Path(profile) / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--disable-extensions",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={WIDTH},{height}", f"--screenshot={shot}",
                        page.as_uri()], check=True, capture_output=True, timeout=120)
        with Image.open(shot) as image:
            rgb = image.convert("RGB")
    drawn = np.flatnonzero((np.asarray(rgb) < 250).any(axis=(1, 2)))
    if drawn.size == 0 or drawn[-1] >= height - 1:
        raise SystemExit(f"the report's top did not fit in {height} px, or nothing was drawn")
    cropped = rgb.crop((0, 0, WIDTH, int(drawn[-1]) + 24))
    cropped.quantize(colors=256, dither=Image.Dither.NONE).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, help="a finished galaxies sweep (default: run one)")
    parser.add_argument("--out", type=Path, default=HERE / "report.png")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        sweep = args.sweep or run_example(Path(work))
        page = Path(work) / "report-top.html"
        page.write_text(top_of_report(sweep), encoding="utf-8")
        screenshot(page, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
