"""Open every page of the smoke-profile book in headless Chromium (Debian's, driven by Selenium
with the system chromedriver: no browser download) and check what a reader would see.

Per page: every image loads (non-zero natural size), no broken internal link, no JavaScript
console error, math is typeset by the vendored MathJax, widgets render where there are any.
A screenshot of each page is kept in ``_build/screenshots/`` (a CI artifact).

The book is built by this test (``flowstage book --profile smoke``) unless
``FLOWSTAGE_BROWSER_HTML`` names an already built HTML folder.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from flowstage_lib.tooling import cli

pytestmark = pytest.mark.slow  # builds / executes the book: part of make test, not of -m "not slow"

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = cli.BUILD_DIR / "screenshots"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("FLOWSTAGE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(
            "FLOWSTAGE_REQUIRE_BROWSER=1 but chromium/chromedriver are missing: "
            "apt-get install -y chromium chromium-driver"
        )
    pytest.skip(
        "Debian chromium + chromium-driver not installed (apt-get install -y chromium "
        "chromium-driver)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def html_root() -> Path:
    given = os.environ.get("FLOWSTAGE_BROWSER_HTML")
    if given:
        return Path(given)
    index = cli.build_book("smoke")
    return index.parent


@pytest.fixture(scope="module")
def server(html_root):
    handler = functools.partial(_QuietHandler, directory=str(html_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def driver():
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _pages(root: Path) -> list[str]:
    skip = ("_static", "_sources", "mathjax", "_images")
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.html")
        if not any(part in skip for part in p.relative_to(root).parts)
    )


_WAIT_MATH = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done("ok"), (e) => done("error: " + e));
  } else if (Date.now() - t0 > 20000) { done("no-mathjax"); }
  else { setTimeout(poll, 100); }
})();
"""

_INSPECT = """
return {
  images: Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  mathSource: document.querySelectorAll('.math, span.math, div.math').length,
  mathTypeset: document.querySelectorAll('mjx-container').length,
  widgetOutputs: document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]').length,
  widgetsRendered: document.querySelectorAll(
    '.jupyter-widgets, .widget-box, .widget-slider').length,
  height: document.documentElement.scrollHeight,
  title: document.title,
};
"""


_VISIBLE_WIDGET_IMAGES = """
return Array.from(document.querySelectorAll('.jupyter-widgets img, .widget-image'))
  .filter(i => i.offsetParent !== null).map(i => i.src.slice(-64)).join('|');
"""


def test_explorer_sliders_switch_precomputed_frames(html_root, server, driver):
    """In the static book, moving a slider of the explorer shows another precomputed figure
    (jslink runs in the browser: no kernel needed)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page = html_root / "book" / "explorer.html"
    if not page.exists():
        pytest.fail("the book has no explorer page")
    driver.get(f"{server}/book/explorer.html")
    driver.implicitly_wait(10)
    handles = driver.find_elements(By.CSS_SELECTOR, ".noUi-handle")
    assert handles, "the explorer's sliders did not render"
    before = driver.execute_script(_VISIBLE_WIDGET_IMAGES)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handles[0])
    handles[0].click()
    handles[0].send_keys(Keys.ARROW_RIGHT)
    driver.implicitly_wait(0)
    for _ in range(20):
        if driver.execute_script(_VISIBLE_WIDGET_IMAGES) != before:
            break
        time.sleep(0.25)
    assert driver.execute_script(_VISIBLE_WIDGET_IMAGES) != before, "slider did not switch frames"


def test_every_page_renders(html_root, server, driver):
    pages = _pages(html_root)
    assert pages, f"no HTML pages under {html_root}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in pages:
        text = (html_root / page).read_text(errors="replace")
        if 'http-equiv="Refresh"' in text:  # the root redirect: check its target only
            target = text.split("url=", 1)[1].split('"', 1)[0]
            if not (html_root / page).parent.joinpath(target).exists():
                problems.append(f"{page}: redirect to a missing page {target}")
            continue
        driver.get_log("browser")  # drop earlier entries
        driver.get(f"{server}/{page}")
        driver.set_script_timeout(30)
        math = "none"
        # Decide from the static HTML too: the live DOM can be inspected before the
        # math spans exist (a race seen once in CI on analyze_your_data.html).
        if "mathjax" in text.lower() or driver.execute_script(_INSPECT)["mathSource"]:
            math = driver.execute_async_script(_WAIT_MATH)
        info = driver.execute_script(_INSPECT)
        for src, complete, width in info["images"]:
            if not complete or width == 0:
                problems.append(f"{page}: image does not load: {src}")
        for href in info["links"]:
            url = urlparse(href)
            if url.scheme == "http" and f"http://{url.netloc}" == server:
                target = html_root / unquote(url.path).lstrip("/")
                if target.is_dir():
                    target = target / "index.html"
                if not target.exists():
                    problems.append(f"{page}: broken internal link {href}")
        if info["mathSource"] and (math != "ok" or info["mathTypeset"] == 0):
            problems.append(f"{page}: math not typeset ({math}, {info['mathTypeset']} rendered)")
        if info["widgetOutputs"] and not info["widgetsRendered"]:
            problems.append(f"{page}: {info['widgetOutputs']} widget views did not render")
        for entry in driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                problems.append(f"{page}: console error: {entry['message']}")
        driver.set_window_size(1280, min(max(info["height"], 800), 12000))
        driver.save_screenshot(str(SHOTS / (page.replace("/", "__")[:-5] + ".png")))
        driver.set_window_size(1280, 1600)
    assert not problems, "\n".join(problems)
