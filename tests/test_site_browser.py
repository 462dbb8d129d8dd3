"""The built site as a reader sees it: headless Chromium, no network but the site.

Builds the site, serves it from 127.0.0.1 and checks that the math is typeset
(also after material's instant navigation) and that no request leaves the
machine. Screenshots of the derivation pages go to /tmp/derive-site-*.png.
"""

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e .[docs]")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

# Pages with derivations: screenshot each, and check every one of them typesets.
MATH_PAGES = ["linear/", "batch/", "numeric-checks/", "tutorial-notes/", "nn-sigmoid/", "nn-tanh/",
              "nn-relu/", "nn-msecriterion/", "sequential/", "regression/", "nn-batchnormalization/",
              "nn-spatialconvolution/", "layer/", "nn-softmax/", "nn-logsoftmax/", "nn-classnllcriterion/",
              "nn-crossentropycriterion/", "catalogue/"]
# The smallest scale javascripts/mathjax.js gives a formula to fit; a wider one scrolls, with a cue.
MIN_SCALE = 0.8


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    handler = functools.partial(QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    # Instant navigation follows only the links listed in sitemap.xml, whose
    # URLs come from site_url: build for the address we serve from.
    env = dict(os.environ, SITE_URL=url, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    context.close()


def wait_for_math(page):
    """Wait until MathJax has loaded and finished every typeset it has queued."""
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0")
    page.evaluate("() => MathJax.startup.promise")


def assert_math_rendered(page):
    arithmatex = page.locator(".arithmatex").count()
    assert arithmatex > 0, "no math on the page"
    assert page.locator("mjx-container").count() >= arithmatex
    assert page.locator("mjx-merror").count() == 0
    # Nothing left as raw TeX: every arithmatex element holds typeset math.
    raw = page.evaluate(
        "() => [...document.querySelectorAll('.arithmatex')]"
        ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent)"
    )
    assert raw == []


def math_widths(page) -> list[dict]:
    """Each typeset formula against the content column (under the sidebar) it stands in."""
    return page.evaluate(
        """() => {
            const column = document.querySelector('.md-content__inner').getBoundingClientRect();
            return [...document.querySelectorAll('.arithmatex')].map(e => {
                const box = e.getBoundingClientRect();
                const math = e.querySelector('mjx-math').getBoundingClientRect();
                const cue = e.previousElementSibling;
                return {
                    display: e.tagName === 'DIV',
                    ratio: math.width / column.width,
                    fits: math.left >= column.left - 1 && math.right <= column.right + 1,
                    scale: parseFloat(e.style.fontSize || '100') / 100,
                    inside: box.left >= column.left - 1 && box.right <= column.right + 1,
                    scrolls: ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
                             && e.scrollWidth > e.clientWidth && e.scrollWidth >= math.width,
                    marked: e.classList.contains('derive-wide') && getComputedStyle(e).boxShadow !== 'none',
                    cue: !!cue && cue.classList.contains('derive-scroll-cue') && cue.textContent.includes('scroll')
                         && cue.getBoundingClientRect().height > 0 && getComputedStyle(cue).visibility === 'visible',
                };
            });
        }"""
    )


def assert_math_fits(page):
    """No formula is cut off without a cue: each fits its column (a display formula scaled
    down at most to MIN_SCALE), or it scrolls sideways in a box inside the column, marked
    (a shadow at the cut edge) under a visible line that says to scroll."""
    for formula in math_widths(page):
        assert formula["scale"] >= MIN_SCALE, formula
        if not formula["fits"]:
            assert formula["display"] and formula["inside"] and formula["scrolls"], formula
            assert formula["marked"] and formula["cue"], formula


def test_wide_formulas_of_your_own_layer_scale_or_scroll_with_a_cue(page, site_url):
    page.goto(site_url + "layer/")
    wait_for_math(page)
    formulas = math_widths(page)
    assert_math_fits(page)
    wide = [f for f in formulas if not f["fits"]]
    scaled = [f for f in formulas if f["fits"] and f["scale"] < 1]
    assert wide and max(f["ratio"] for f in wide) > 2  # the gated unit's Jacobians, 3x the column
    assert scaled  # those a little wider than the column fit at a smaller size
    # Scrolled to its end, a wide formula's right edge shows: nothing is out of reach.
    reached = page.evaluate(
        """() => [...document.querySelectorAll('div.derive-wide')].map(e => {
            e.scrollLeft = e.scrollWidth;
            const math = e.querySelector('mjx-math').getBoundingClientRect();
            return math.right <= e.getBoundingClientRect().right + 1;
        })"""
    )
    assert reached and all(reached)
    page.screenshot(path="/tmp/derive-site-layer-scrolled.png", full_page=False)


def assert_only_local_requests(page, site_url):
    here = urlsplit(site_url).netloc
    away = [url for url in page.requests if urlsplit(url).netloc != here]
    assert away == []


@pytest.mark.parametrize("path", MATH_PAGES)
def test_math_renders_offline(page, site_url, path):
    page.goto(site_url + path)
    wait_for_math(page)
    assert_math_rendered(page)
    assert_math_fits(page)
    name = path.strip("/").replace("/", "-") or "home"
    page.screenshot(path=f"/tmp/derive-site-{name}.png", full_page=True)
    assert_only_local_requests(page, site_url)


def test_an_old_module_address_opens_its_catalogue_page(page, site_url):
    page.goto(site_url + "batchnorm/")
    page.wait_for_url(site_url + "nn-batchnormalization/")
    assert page.locator("h1").first.text_content().strip().rstrip("¶") == "nn.BatchNormalization"


def test_instant_navigation_typesets_the_new_page(page, site_url):
    page.goto(site_url)
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    # A full page load would drop this; instant navigation keeps the window.
    page.evaluate("() => { window.derivePageLoads = 1 }")
    target = MATH_PAGES[0]
    page.click(f"nav.md-nav--primary a[href='{site_url}{target}']")
    page.wait_for_url(site_url + target)
    assert page.evaluate("() => window.derivePageLoads") == 1, "navigation was not instant"
    wait_for_math(page)
    assert_math_rendered(page)
    # ... and back to a page typeset by the first re-typeset, then forward again.
    page.go_back()
    page.go_forward()
    page.wait_for_url(site_url + target)
    wait_for_math(page)
    assert_math_rendered(page)
    assert page.evaluate("() => window.derivePageLoads") == 1
    assert_only_local_requests(page, site_url)


def test_the_regression_plots_load(page, site_url):
    page.goto(site_url + "regression/")
    page.wait_for_load_state("load")
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('article img')]"
        ".map(img => [img.getAttribute('src'), img.complete, img.naturalWidth])"
    )
    assert [src.rsplit("/", 1)[-1] for src, _, _ in sizes] == ["regression-loss.svg",
                                                               "regression-parameters.svg"]
    assert all(complete and width > 300 for _, complete, width in sizes), sizes
    page.screenshot(path="/tmp/derive-site-regression-plots.png", full_page=True)
    assert_only_local_requests(page, site_url)
