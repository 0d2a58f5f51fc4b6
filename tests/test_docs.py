"""The course website in a real browser (`pytest -m docs`, after `python -m common.docs --smoke`).

Headless Chromium (Debian's `chromium` package, driven by Playwright) opens every page of the
built site from a local web server on 127.0.0.1 and checks what a student sees: the page
loads with no console error and no failed request; every figure has loaded; the formulas are
typeset (no raw `$...$` or `\\frac` left in the visible text); every internal link resolves; each
script page offers the script and its notebook for download; every script has its page.
Screenshots of the landing page and a lecture page are saved next to the site.

The browser opens every page once, in one test process, and all tests read what it saw: run the
tier without test workers (`pytest -m docs -n 0`); under several workers each would open every
page again, so the fixture refuses to.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlparse

from common.run import script_title

import pytest

from .conftest import ROOT, SCRIPTS, script_id

pytestmark = pytest.mark.docs

SITE = ROOT / "docs" / "_build" / "html"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
SCREENSHOT_PAGES = {
    "landing.png": "index.html",
    "lecture.png": "lectures/03_overfitting/index.html",
}
# Pages open at the same time in the one browser: enough to keep two cores busy while a page
# waits for its figures and MathJax.
PAGES_AT_ONCE = 4
RAW_MATH = ("\\frac", "\\mathbb", "\\sum_", "\\left(", "$$", "\\(", "\\[")


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no site in {SITE}: build it first with `python -m common.docs --smoke`")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def chromium_path() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` (Debian) gives it")
    return chromium


def site_pages() -> list[str]:
    pages = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html"))
    return [p for p in pages if not p.startswith(("_", "genindex", "search"))]


async def visit(context, url: str, screenshot: Path | None = None) -> dict:
    """Open `url` in a new tab of the browser `context`; return what a student would see and
    what went wrong on the way."""
    page = await context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    response = await page.goto(url, wait_until="load")
    # MathJax typesets after the page has loaded; wait for it where the page uses it.
    await page.evaluate(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        " ? MathJax.startup.promise : null"
    )
    seen = {
        "status": response.status if response else None,
        "problems": problems,
        "text": await page.evaluate("() => document.body.innerText"),
        # The prose a student reads: the page without its code cells and code spans.
        "prose": await page.evaluate(
            "() => { const body = document.body.cloneNode(true);"
            " body.querySelectorAll('pre, code, .highlight').forEach(e => e.remove());"
            " return body.innerText; }"
        ),
        "images": await page.evaluate(
            "() => Array.from(document.images).map(i => [i.currentSrc, i.naturalWidth])"
        ),
        "math": await page.evaluate("() => document.querySelectorAll('mjx-container').length"),
        "links": await page.evaluate("() => Array.from(document.links).map(a => a.href)"),
        "title": await page.title(),
        "h1": await page.evaluate(
            "() => Array.from(document.querySelectorAll('h1')).map(h => h.innerText)"
        ),
    }
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(screenshot), full_page=False)
    await page.close()
    return seen


async def visit_all(chromium: str, site_url: str, screenshots: dict[str, str]) -> dict:
    """Every page of the site, opened once, a few at a time in one browser; the pages named in
    `screenshots` (file name -> page) are also photographed."""
    from playwright.async_api import async_playwright

    limit = asyncio.Semaphore(PAGES_AT_ONCE)

    async def one(page: str, screenshot: Path | None = None) -> dict:
        async with limit:
            return await visit(context, urljoin(site_url, page), screenshot)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        # One context for every tab, as one student's browser: the theme, MathJax and its fonts
        # are fetched once and then come from the cache.
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        pages = site_pages()
        seen = await asyncio.gather(*(one(page) for page in pages))
        shots = await asyncio.gather(
            *(one(page, SCREENSHOTS / name) for name, page in screenshots.items())
        )
        await browser.close()
    return {
        "pages": dict(zip(pages, seen, strict=True)),
        "screenshots": dict(zip(screenshots, shots, strict=True)),
    }


@pytest.fixture(scope="module")
def site(site_url):
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    if workers != "1":
        pytest.fail(
            f"the browser test runs in one process, not in {workers} test workers that would each"
            " open every page: run `pytest -m docs -n 0`"
        )
    return asyncio.run(visit_all(chromium_path(), site_url, SCREENSHOT_PAGES))


@pytest.fixture(scope="module")
def visited(site):
    return site["pages"]


def test_every_page_loads_without_errors(visited):
    assert visited, "the site has no pages"
    failures = {page: seen["problems"] for page, seen in visited.items() if seen["problems"]}
    assert not failures, failures
    assert all(seen["status"] == 200 for seen in visited.values())
    # Only the generated sources are pages: no configuration file rendered as one.
    assert not [page for page in visited if Path(page).stem in {"conf", "README"}]


def test_every_figure_has_loaded(visited):
    missing = {
        page: [src for src, width in seen["images"] if width == 0] for page, seen in visited.items()
    }
    assert not {page: srcs for page, srcs in missing.items() if srcs}, missing


def test_formulas_are_typeset(visited):
    for page, seen in visited.items():
        raw = [marker for marker in RAW_MATH if marker in seen["prose"]]
        assert not raw, f"{page} shows raw LaTeX {raw}"
    # The lecture pages carry formulas: MathJax must have typeset them.
    lectures = [p for p in visited if p.startswith("lectures/") and p.endswith("/index.html")]
    assert lectures and all(visited[p]["math"] > 0 for p in lectures)


def test_every_internal_link_resolves(visited, site_url):
    targets = {
        link.split("#")[0]
        for seen in visited.values()
        for link in seen["links"]
        if link.startswith(site_url)
    }

    def resolves(target: str) -> bool:
        request = urllib.request.Request(target, method="HEAD")  # the status, not the file
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status == 200
        except urllib.error.URLError:
            return False

    with ThreadPoolExecutor(max_workers=PAGES_AT_ONCE) as pool:
        found = dict(zip(sorted(targets), pool.map(resolves, sorted(targets)), strict=True))
    assert found, "no internal link at all"
    broken = [target for target, ok in found.items() if not ok]
    assert not broken, broken


@pytest.mark.parametrize("path", SCRIPTS, ids=script_id)
def test_every_script_has_a_page_with_its_figures_and_downloads(path, visited, site_url):
    page = path.relative_to(ROOT).with_suffix(".html").as_posix()
    assert page in visited, f"{script_id(path)} has no page in the site"
    seen = visited[page]
    # The docstring's title is the page's one heading of level 1, not a string in a code cell.
    # (Markdown renders the title's `code` spans as code: compare without the backticks.)
    assert [h.strip("#¶ \n") for h in seen["h1"]] == [script_title(path).replace("`", "")]
    assert f'"""\n{script_title(path)}' not in seen["text"], "the docstring is shown as code"
    assert any(width > 0 for _, width in seen["images"]), "the page shows no figure"
    downloads = [urlparse(link).path for link in seen["links"] if "/_downloads/" in link]
    assert any(d.endswith(f"/{path.name}") for d in downloads), "no download of the script"
    assert any(d.endswith(f"/{path.stem}.ipynb") for d in downloads), "no notebook download"


def test_screenshots_of_the_landing_and_a_lecture_page(site):
    for name, seen in site["screenshots"].items():
        assert not seen["problems"], seen["problems"]
        assert (SCREENSHOTS / name).stat().st_size > 10_000
