"""Opens the built site in headless Chromium: the home page, a guide and an API page.

``python docs/_tools/screenshots.py [docs/_build/html] [--require]``: for each page,
Chromium renders it (``--dump-dom``) and the rendered DOM must hold the site's
navigation (the sidebar tree) and code blocks; then a screenshot goes to
``docs/_build/screenshots/<page>.png``. Without a Chromium (Debian's package:
``apt-get install -y chromium``) it says so and exits 0, or 1 with ``--require``.
"""

import os
import shutil
import subprocess
import sys

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(DOCS, "_build", "screenshots")
PAGES = {
    "home": "index.html",
    "guide-pax-style": "pax-style.html",
    "api-pax-nn": "api/pax.nn.html",
}
# what every rendered page must show: furo's navigation tree and highlighted code
MUST_RENDER = {"navigation": 'class="sidebar-tree"', "code blocks": 'class="highlight'}


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser: str, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [browser, *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    site = os.path.abspath(args[0] if args else os.path.join(DOCS, "_build", "html"))
    browser = chromium()
    if browser is None:
        print("screenshots: skipped, no Chromium (apt-get install -y chromium)")
        return 1 if "--require" in sys.argv else 0
    os.makedirs(OUT, exist_ok=True)
    failures = []
    for name, page in PAGES.items():
        url = "file://" + os.path.join(site, page)
        dom = run(browser, "--dump-dom", url).stdout
        missing = [what for what, marker in MUST_RENDER.items() if marker not in dom]
        if missing:
            failures.append(f"{page} rendered without its {', '.join(missing)}")
        png = os.path.join(OUT, f"{name}.png")
        run(browser, f"--screenshot={png}", "--window-size=1280,1000", url)
        size = os.path.getsize(png) if os.path.exists(png) else 0
        if size == 0:
            failures.append(f"{page}: no screenshot written")
        print(f"screenshot of {page}: {os.path.relpath(png)} ({size} bytes)")
    for failure in failures:
        print("screenshots:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
