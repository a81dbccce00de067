"""Checks of the built documentation in a real (headless) browser.

The HTML site is built separately (``bash docs/build.sh``); these tests open
it in headless Chromium, driven by Playwright, over a local HTTP server and
check that

* no page references or requests anything outside the site (the docs must work
  offline: MathJax, fonts and scripts are all local);
* the math was typeset by MathJax, without errors and without raw TeX
  delimiters left in the visible text;
* every image in the gallery loads;
* no page logs a console error or throws;
* the search page finds results.

They also run the doctest examples of the narrative pages.

When the built site, Playwright or Chromium is missing the browser tests are
skipped with the reason, unless ``GNLL_REQUIRE_DOCS_TEST=1`` is set (CI sets
it): then they fail.  ``GNLL_DOCS_HTML`` overrides the location of the built
site and ``GNLL_CHROMIUM`` the browser executable.
"""

from __future__ import annotations

import doctest
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS_SRC = REPO / "docs"
SITE = Path(os.environ.get("GNLL_DOCS_HTML", DOCS_SRC / "_build" / "html"))
REQUIRE = os.environ.get("GNLL_REQUIRE_DOCS_TEST", "") == "1"

# Directories of the built site that hold assets, not pages.
_ASSET_DIRS = {"_static", "_sources", "_downloads", "_images", "_modules", ".doctrees"}


def _unavailable(reason: str):
    """Skip, or fail when the docs test is required (CI)."""
    if REQUIRE:
        pytest.fail(f"GNLL_REQUIRE_DOCS_TEST=1 but {reason}")
    pytest.skip(reason)


def _pages() -> list[str]:
    """Paths (relative to the site root) of every HTML page of the site."""
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE)
        if rel.parts[0] in _ASSET_DIRS:
            continue
        pages.append(rel.as_posix())
    return pages


def _find_chromium() -> str | None:
    explicit = os.environ.get("GNLL_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        _unavailable(
            f"the built docs are missing ({SITE}/index.html); build them with 'bash docs/build.sh'"
        )
    return SITE


@pytest.fixture(scope="module")
def server(site):
    """Serve the site on 127.0.0.1 on an ephemeral port (search needs http://)."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser_context(site):
    """One headless Chromium context for all pages (each page gets its own tab)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install playwright)")
    executable = _find_chromium()
    if executable is None:
        _unavailable("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()
            browser.close()


class PageVisit:
    """One page load with its console errors and off-site requests recorded."""

    def __init__(self, context, base: str, path: str):
        self.base = base
        self.path = path
        self.errors: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []
        self.page = context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on(
            "requestfailed",
            lambda req: self.failed.append(f"{req.url} ({req.failure})"),
        )
        self.page.on(
            "response",
            lambda resp: resp.status >= 400 and self.failed.append(f"{resp.url} (HTTP {resp.status})"),
        )
        # Anything not served by our server (or inline data) is an external
        # request: record it and block it, so the test also passes offline.
        self.page.route("**/*", self._route)

    def _on_console(self, msg):
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or urlparse(url).scheme in ("data", "blob", "about"):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, query: str = ""):
        self.page.goto(f"{self.base}/{self.path}{query}", wait_until="load", timeout=60_000)
        # Wait for MathJax (if the page loads it) to finish typesetting.
        self.page.evaluate(
            """async () => {
                if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
                    await MathJax.startup.promise;
                }
            }"""
        )
        return self.page

    def close(self):
        self.page.close()


@pytest.fixture(scope="module")
def visits(browser_context, server, site):
    """Load every page once; the tests below inspect the recorded results."""
    results = {}
    for path in _pages():
        visit = PageVisit(browser_context, server, path)
        try:
            info = visit.open().evaluate(_INSPECT_JS)
        finally:
            visit.close()
        results[path] = (visit, info)
    return results


# Collects, for one loaded page: MathJax output and errors, math elements that
# were not typeset, the visible text outside code, and the state of every image
# (after forcing lazy images to load).
_INSPECT_JS = """async () => {
    for (const img of document.images) { img.loading = "eager"; }
    await Promise.all([...document.images].map(img => img.complete ? null :
        new Promise(resolve => {
            img.addEventListener("load", resolve);
            img.addEventListener("error", resolve);
            setTimeout(resolve, 15000);
        })));
    const mathNodes = [...document.querySelectorAll("span.math, div.math")];
    const untypeset = mathNodes.filter(n => !n.querySelector("mjx-container"))
        .map(n => n.textContent.slice(0, 80));
    const clone = document.body.cloneNode(true);
    clone.querySelectorAll("pre, code, script, style, mjx-container, textarea")
        .forEach(n => n.remove());
    return {
        hasMath: mathNodes.length > 0,
        mjx: document.querySelectorAll("mjx-container").length,
        merror: document.querySelectorAll("mjx-merror").length,
        untypeset: untypeset,
        text: clone.textContent,
        images: [...document.images].map(img => ({
            src: img.currentSrc || img.src, complete: img.complete,
            width: img.naturalWidth,
            gallery: !!img.closest(".sphx-glr-thumbcontainer, .sphx-glr-single-img, "
                + ".sphx-glr-multi-img, .sphx-glr-thumbnail") ||
                /sphx_glr_/.test(img.src),
        })),
    };
}"""


# ---------------------------------------------------------------------------
# Static checks of the HTML files (no browser needed)
# ---------------------------------------------------------------------------

_EXTERNAL_REF = re.compile(
    r"""<(?:script|link|img|iframe|source|video|audio|embed|object)\b[^>]*?"""
    r"""\b(?:src|href|data)\s*=\s*["']\s*(?:https?:)?//""",
    re.IGNORECASE,
)
_CSS_EXTERNAL_URL = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_IMPORT_EXTERNAL = re.compile(r"""@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_html_has_no_external_resources(site):
    offenders = []
    for path in _pages():
        text = (site / path).read_text(encoding="utf-8")
        for rx in (_EXTERNAL_REF, _CSS_EXTERNAL_URL, _IMPORT_EXTERNAL):
            for match in rx.finditer(text):
                offenders.append(f"{path}: {text[match.start():match.end() + 60]!r}")
    for css in (site / "_static").rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        for rx in (_CSS_EXTERNAL_URL, _IMPORT_EXTERNAL):
            for match in rx.finditer(text):
                offenders.append(f"{css.relative_to(site)}: {text[match.start():match.end() + 60]!r}")
    assert not offenders, "external resources referenced:\n" + "\n".join(offenders[:20])


def test_mathjax_is_bundled(site):
    pages_with_math = [
        p for p in _pages() if 'class="math notranslate' in (site / p).read_text(encoding="utf-8")
    ]
    assert pages_with_math, "no page contains math; the theory pages should"
    for path in pages_with_math:
        text = (site / path).read_text(encoding="utf-8")
        assert re.search(r'<script[^>]+src="[^"]*_static/mathjax/tex-chtml\.js', text), path
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_gallery_examples_are_downloadable(site):
    """Every example page links an existing .py and .ipynb (and no binder)."""
    pages = sorted((site / "auto_examples").glob("plot_*.html"))
    assert pages, "the gallery has no example pages"
    missing = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "mybinder.org" not in text, f"{page.name} links to Binder"
        for ext in (".py", ".ipynb"):
            links = re.findall(r'href="([^"]+\.%s)"' % ext.lstrip("."), text)
            mine = [href for href in links if href.endswith("/" + page.stem + ext)]
            if not mine or not (page.parent / mine[0]).resolve().is_file():
                missing.append(f"{page.name}: {ext}")
    assert not missing, f"missing downloads: {missing}"


# ---------------------------------------------------------------------------
# Browser checks
# ---------------------------------------------------------------------------


def test_pages_make_no_external_requests(visits):
    bad = {p: v.external for p, (v, _) in visits.items() if v.external}
    assert not bad, f"pages requested resources outside the site: {bad}"


def test_no_console_errors_or_failed_loads(visits):
    bad = {p: v.errors + v.failed for p, (v, _) in visits.items() if v.errors or v.failed}
    assert not bad, f"console errors or failed loads: {bad}"


def test_math_is_typeset(visits):
    math_pages = [p for p, (_, info) in visits.items() if info["hasMath"]]
    assert "theory/derivation.html" in math_pages
    problems = {}
    for path in math_pages:
        info = visits[path][1]
        issues = []
        if info["mjx"] == 0:
            issues.append("no MathJax output")
        if info["merror"]:
            issues.append(f"{info['merror']} MathJax errors")
        if info["untypeset"]:
            issues.append(f"untypeset math: {info['untypeset'][:3]}")
        for delim in ("\\(", "\\)", "\\[", "\\]", "$$"):
            if delim in info["text"]:
                i = info["text"].index(delim)
                issues.append(f"raw TeX delimiter {delim!r}: ...{info['text'][max(0, i - 40):i + 40]!r}")
        if issues:
            problems[path] = issues
    assert not problems, f"math not rendered: {problems}"


_TEX_COMMAND = re.compile(r"\\[A-Za-z]{2,}")


def test_no_raw_tex_in_visible_text(visits):
    # Math that never reached MathJax (e.g. a role stripped to its TeX source
    # in a gallery thumbnail title) shows up as bare control sequences.
    found = {}
    for path, (_, info) in visits.items():
        hits = sorted(set(_TEX_COMMAND.findall(info["text"])))
        if hits:
            i = _TEX_COMMAND.search(info["text"]).start()
            found[path] = (hits, info["text"][max(0, i - 60):i + 40])
    assert not found, f"raw TeX commands in the visible text: {found}"


def test_gallery_images_load(visits):
    gallery = {p: info for p, (_, info) in visits.items() if p.startswith("auto_examples/")}
    assert "auto_examples/index.html" in gallery, "the gallery was not built"
    examples = [p for p in gallery if Path(p).name.startswith("plot_")]
    assert examples, "the gallery has no example pages"
    broken, counted = [], 0
    for path, info in gallery.items():
        for img in info["images"]:
            counted += img["gallery"]
            if not img["complete"] or img["width"] == 0:
                broken.append(f"{path}: {img['src']}")
    assert counted > 0, "no gallery figures or thumbnails found"
    assert not broken, f"images that did not load: {broken}"
    # Thumbnails also appear outside the gallery (API pages' mini-galleries),
    # and the performance page may show the benchmark chart.
    elsewhere = [
        f"{p}: {img['src']}"
        for p, (_, info) in visits.items() if not p.startswith("auto_examples/")
        for img in info["images"] if not img["complete"] or img["width"] == 0
    ]
    assert not elsewhere, f"images that did not load: {elsewhere}"
    for path in examples:
        assert any(img["gallery"] for img in gallery[path]["images"]), f"{path} has no figure"


def test_search_returns_results(browser_context, server):
    visit = PageVisit(browser_context, server, "search.html")
    try:
        page = visit.open("?q=variance")
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        hits = page.locator("#search-results ul.search li").count()
        assert hits > 0
        assert not visit.errors, visit.errors
        assert not visit.external, visit.external
    finally:
        visit.close()


# ---------------------------------------------------------------------------
# The doctest examples of the narrative pages (no built site needed)
# ---------------------------------------------------------------------------

_RST_WITH_EXAMPLES = sorted(
    p for p in DOCS_SRC.rglob("*.rst")
    if "_build" not in p.parts and "generated" not in p.parts and "auto_examples" not in p.parts
    and ">>> " in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    "path", _RST_WITH_EXAMPLES, ids=[p.relative_to(DOCS_SRC).as_posix() for p in _RST_WITH_EXAMPLES]
)
def test_narrative_doctests(path):
    pytest.importorskip("numpy")
    import gnll  # noqa: F401  (the examples need the installed package)

    result = doctest.testfile(
        str(path),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {path.name} (see output)"
