"""Screenshots of a run's report.html (and of any page) with headless Chromium, for the docs.

    python scripts/screenshot_report.py runs/demo                  # -> docs/images/demo-report*.png
    python scripts/screenshot_report.py --page docs/_build/html/getting-started.html --out shot.png

For a run folder it copies ``pareto.png`` to ``docs/images/demo-pareto.png`` and takes
``docs/images/demo-report.png`` (the top of the report: the summary, the plot and the
front) and ``docs/images/demo-report-pick.png`` (the pick's per-layer table, further down).
Needs a Chromium on the PATH (Debian: ``apt-get install chromium``); not run by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("screenshot_report: no Chromium on the PATH (Debian: apt-get install chromium)")


def screenshot(url: str, out: Path, width: int = 1280, height: int = 1600) -> Path:
    """A PNG of ``url`` at ``width`` x ``height`` CSS pixels."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--window-size={width},{height}", "--force-device-scale-factor=1",
               f"--screenshot={out}", url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not out.exists():
        sys.exit(f"screenshot_report: chromium failed ({proc.returncode}): {proc.stderr[-500:]}")
    return out


def part_of_report(report: Path, anchor: str, tmp: Path) -> str:
    """A copy of ``report`` that starts at the element with id ``anchor`` (Chromium's
    ``--screenshot`` always takes the top of the page)."""
    html = report.read_text()
    start = html.find(f'id="{anchor}"')
    if start < 0:
        return report.resolve().as_uri()
    heading = html.rfind("<h2", 0, start)
    body = html.find("<body>") + len("<body>")
    page = tmp / f"{anchor}.html"
    page.write_text(html[:body] + html[heading:])
    return page.resolve().as_uri()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", nargs="?", type=Path, help="a finished run folder (report.html, pareto.png)")
    p.add_argument("--page", type=Path, help="screenshot this HTML file instead")
    p.add_argument("--out", type=Path, help="with --page: the PNG to write")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=1600)
    args = p.parse_args(argv)
    if args.page:
        print(screenshot(args.page.resolve().as_uri(), args.out or Path("page.png"), args.width, args.height))
        return 0
    if args.run_dir is None:
        p.error("give a run folder or --page")
    report = args.run_dir / "report.html"
    if not report.is_file():
        sys.exit(f"screenshot_report: {report} not found (run the campaign first: make demo)")
    IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.run_dir / "pareto.png", IMAGES / "demo-pareto.png")
    print(IMAGES / "demo-pareto.png")
    print(screenshot(report.resolve().as_uri(), IMAGES / "demo-report.png", 1100, 1500))
    with tempfile.TemporaryDirectory() as tmp:
        print(screenshot(part_of_report(report, "layers-table", Path(tmp)), IMAGES / "demo-report-pick.png", 1100, 1100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
