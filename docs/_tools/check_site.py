"""Checks of the built site that Sphinx does not make: runs the guides' code and checks
every internal link and anchor of the HTML, offline.

``python docs/_tools/check_site.py [docs/_build/html] [--skip-readme-blocks]``:

- every ```` ```python ```` block of every page under ``docs/`` (with the README
  sections the page includes, expanded as MyST expands ``{include}``) and every ``>>>``
  example written in a page runs: the blocks of one page in order in one fresh
  interpreter (8 host CPU devices, warnings as errors), two pages at a time;
- every ``href``/``src`` of the built HTML that points into the site names a file that
  exists and, with a ``#fragment``, an ``id`` in that file.

With ``--skip-readme-blocks`` the python blocks that pages include from the README are
not run again (CI's ``example`` phase runs them). Exits with status 1 and a list of what
failed.
"""

import ast
import doctest
import glob
import html.parser
import os
import re
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(DOCS)
SKIP_DIRS = ("_build", "_generated", "_tools", "_ext", "_static")

FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
INCLUDE = re.compile(r"^```\{include\}\s+(\S+)\n((?::[\w-]+:.*\n)*)```", re.M)


def _option(value: str) -> str:
    value = value.strip()
    return ast.literal_eval(value) if value[:1] in "\"'" else value


def expand_includes(path: str, run_included: bool = True) -> str:
    """The page's text with its ``{include}`` directives replaced by what they include
    (without the included python blocks unless ``run_included``)."""
    text = open(path, encoding="utf-8").read()

    def include(match: re.Match) -> str:
        target = os.path.normpath(os.path.join(os.path.dirname(path), match.group(1)))
        included = open(target, encoding="utf-8").read()
        options = dict(re.findall(r"^:([\w-]+):(.*)$", match.group(2), re.M))
        if "start-after" in options:
            marker = _option(options["start-after"])
            if marker not in included:
                raise ValueError(f"{path}: {target} has no start-after {marker!r}")
            included = included.split(marker, 1)[1]
        if "end-before" in options:
            marker = _option(options["end-before"])
            if marker not in included:
                raise ValueError(f"{path}: {target} has no end-before {marker!r}")
            included = included.split(marker, 1)[0]
        if not run_included:
            included = FENCE.sub(lambda m: "" if m.group(1) == "python" else m.group(0), included)
        return included

    return INCLUDE.sub(include, text)


def page_code(path: str, run_included: bool = True) -> str:
    """The Python code of a page: its python blocks, then its ``>>>`` examples."""
    text = expand_includes(path, run_included)
    blocks = [code for lang, code in FENCE.findall(text) if lang == "python"]
    parser = doctest.DocTestParser()
    examples = [e for e in parser.get_examples(text) if not path.endswith(".md")]
    if examples:
        # the examples of a reST page run as a doctest (their output is compared)
        blocks.append(
            "import doctest, sys\n"
            f"_text = {text!r}\n"
            "_test = doctest.DocTestParser().get_doctest(_text, {}, 'page', None, 0)\n"
            "_result = doctest.DocTestRunner().run(_test)\n"
            "sys.exit(1 if _result.failed else 0)\n"
        )
    return "\n\n".join(blocks)


def pages() -> list[str]:
    found = []
    for path in sorted(glob.glob(os.path.join(DOCS, "**", "*.*"), recursive=True)):
        rel = os.path.relpath(path, DOCS)
        if rel.split(os.sep)[0] in SKIP_DIRS or not rel.endswith((".md", ".rst")):
            continue
        found.append(path)
    return found


def run_page(path: str, run_included: bool = True) -> tuple[str, int, str]:
    code = page_code(path, run_included)
    rel = os.path.relpath(path, ROOT)
    if not code.strip():
        return rel, 0, ""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    return rel, done.returncode, (done.stdout + done.stderr)[-3000:]


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name == "name" and tag == "a":
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append(value)


def check_links(site: str) -> list[str]:
    """Broken internal links of the built site: ``file: link (why)``."""
    parsed: dict[str, _Links] = {}

    def parse(path: str) -> _Links:
        if path not in parsed:
            links = _Links()
            links.feed(open(path, encoding="utf-8").read())
            parsed[path] = links
        return parsed[path]

    broken = []
    html_files = sorted(glob.glob(os.path.join(site, "**", "*.html"), recursive=True))
    for page in html_files:
        for link in parse(page).links:
            url = urllib.parse.urlparse(link)
            if url.scheme or url.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = page
            if url.path:
                target = os.path.normpath(
                    os.path.join(os.path.dirname(page), urllib.parse.unquote(url.path))
                )
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
            rel = os.path.relpath(page, site)
            if not os.path.exists(target):
                broken.append(f"{rel}: {link} (no file {os.path.relpath(target, site)})")
            elif url.fragment and target.endswith(".html"):
                if urllib.parse.unquote(url.fragment) not in parse(target).ids:
                    broken.append(f"{rel}: {link} (no id {url.fragment!r})")
    return broken


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    # CI runs the README's python blocks in its `example` phase already
    run_included = "--skip-readme-blocks" not in sys.argv
    site = args[0] if args else os.path.join(DOCS, "_build", "html")
    if not os.path.exists(os.path.join(site, "index.html")):
        print(f"no built site at {site}: build it first", file=sys.stderr)
        return 1
    failures = []
    broken = check_links(site)
    n_html = len(glob.glob(os.path.join(site, "**", "*.html"), recursive=True))
    print(f"links: {n_html} HTML files, {len(broken)} broken internal link(s)")
    failures += [f"broken link: {b}" for b in broken]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = pool.map(lambda page: run_page(page, run_included), pages())
        for rel, rc, output in runs:
            print(f"code of {rel}: {'ok' if rc == 0 else f'FAILED (exit {rc})'}")
            if rc != 0:
                failures.append(f"code of {rel} failed:\n{output}")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
