"""Feedback reads offline: a real feedback page, rendered in Chromium with every request refused.

The page is made as the course makes it (notebook 03, the smallest, autograded at the smoke
budget, then ``generate_feedback``); a second copy of the same submission's page is rendered with
nbgrader's stock template, which must fail the same checks. Statically, neither script nor
stylesheet may come from the network. In Chromium, with every request aborted and recorded, the
page may load nothing but itself (``release_feedback`` hands students the ``.html`` file only),
MathJax must typeset every formula, and no raw TeX may be left in the text. Screenshots go to
``build/screenshots/feedback_offline.png`` (and ``feedback_stock_offline.png``: the stock page).

Needs Debian's Chromium (``/usr/bin/chromium``) and the ``playwright`` package; skips, saying why,
only where the browser cannot be had (as ``test_browser``).
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from dgm_staff import class_records, course_folder, example_students
from tests.helpers import SHOTS, launched_chromium

NAME = "03_echo"
STUDENT = "reference"
pytestmark = [pytest.mark.slow, pytest.mark.nbgrader]

#: An address on the network: http(s), or protocol-relative (``//cdn.example/x.js``).
REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
#: CSS that makes the browser fetch: ``url(...)`` and ``@import "..."``.
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", re.IGNORECASE)
#: Raw TeX in the text a student reads: a ``$...$`` formula or a TeX command.
RAW_TEX = re.compile(r"\$[^$\n]+\$|\\[A-Za-z]+")
#: What MathJax leaves where it typeset a formula (any of its outputs).
MATH_OUTPUT = ".MathJax_MathML, .MathJax, .MathJax_Display, .MathJax_SVG, mjx-container"


def _remote(url: str) -> bool:
    return bool(REMOTE.match(url)) and not url.strip().lower().startswith(LOCAL_SCHEMES)


class _Resources(HTMLParser):
    """Every address a page makes the browser load: script, stylesheet, image, frame, and the
    ``url()``/``@import`` of its style sheets and style attributes."""

    ATTRS = {"script": "src", "link": "href", "img": "src", "iframe": "src", "embed": "src",
             "source": "src", "audio": "src", "video": "src", "object": "data"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []     # (where, address)
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = self.ATTRS.get(tag)
        if name and attrs.get(name):
            self.found.append((f"<{tag} {name}>", attrs[name]))
        for url in _css_urls(attrs.get("style") or ""):
            self.found.append((f"<{tag} style>", url))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += [("<style>", url) for url in _css_urls(data)]


def _css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css)]


def remote_resources(page: str) -> list[str]:
    """The page's scripts, stylesheets, images, frames and CSS imports/fonts on the network."""
    parser = _Resources()
    parser.feed(page)
    return [f"{where} {url}" for where, url in parser.found if _remote(url)]


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """Notebook 03's feedback for the reference submission, as the course makes it and as
    nbgrader's stock template makes it from the same gradebook."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    root = tmp_path_factory.mktemp("offline_feedback")
    course_folder.generate_release(root / "release", names=[NAME], course=root)
    released = nbformat.read(root / "release" / NAME / f"{NAME}.ipynb", 4)
    solutions = course_folder.solution_sources(NAME)[f"{NAME}.ipynb"]
    target = root / "submitted" / STUDENT / NAME / f"{NAME}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(example_students.example_submission(NAME, released, STUDENT, solutions), target)
    class_records.grade_course(root, [NAME], [STUDENT])
    feedback = root / "feedback" / STUDENT / NAME / f"{NAME}.html"
    out = {"course": root / "course.html", "stock": root / "stock.html"}
    shutil.copy(feedback, out["course"])

    config = course_folder.nbgrader_config(root)
    del config["HTMLExporter"]        # what the course sets for its template: nbgrader's own
    nb_api = NbGraderAPI(CourseDirectory(config=config), config=config)
    with course_folder.nbgrader_submission_warnings_off():
        result = nb_api.generate_feedback(NAME, force=True)
    assert result["success"], result.get("error") or result.get("log")
    shutil.copy(feedback, out["stock"])
    return out


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as b:
        yield b


#: Resolves once MathJax has typeset the page (its start-up's last signal), at once where the page
#: has no MathJax, and after 60 s in any case.
MATHJAX_DONE = """() => new Promise(resolve => {
    if (!window.MathJax || !window.MathJax.Hub) { resolve("no MathJax"); return; }
    setTimeout(() => resolve("timed out"), 60000);
    MathJax.Hub.Register.StartupHook("End", () => resolve("typeset"));
})"""

#: The text of the markdown cells, without code, scripts and typeset formulas.
PROSE = """() => Array.from(document.querySelectorAll(".text_cell_render")).map(cell => {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll("code, pre, script, math, %s").forEach(n => n.remove());
    return copy.textContent;
}).join("\\n")""" % MATH_OUTPUT


#: Letters left in a MathML ``mathvariant`` (``\mathcal{N}``: script), which Chromium does not
#: apply: it would draw an italic N.
VARIANT_LETTERS = """() => Array.from(document.querySelectorAll("math [mathvariant]"))
    .filter(n => !n.children.length && n.getAttribute("mathvariant") !== "normal"
                 && /[A-Za-z0-9]/.test(n.textContent))
    .map(n => n.getAttribute("mathvariant") + " " + n.textContent)"""


def offline_problems(browser, page: Path, shot: str) -> list[str]:
    """What goes wrong when ``page`` is opened with no network: each request it attempts (all
    are aborted), script errors, formulas left untypeset or failed, letters in an ignored
    ``mathvariant``, raw TeX in the text. Saves a
    screenshot of its first displayed formula to ``build/screenshots/<shot>.png``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    tab = context.new_page()
    requests: list[str] = []

    def refuse(route):
        if route.request.url == page.as_uri():
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.route("**/*", refuse)
        tab.goto(page.as_uri(), wait_until="load", timeout=60_000)
        state = tab.evaluate(MATHJAX_DONE)
        problems = [f"requested {url}" for url in requests]
        problems += [f"script error: {e}" for e in errors]
        found = tab.locator('script[type^="math/tex"]').count()
        typeset = tab.locator(MATH_OUTPUT).count()
        if state != "typeset":
            problems.append(f"MathJax did not typeset the page ({state})")
        if not typeset or typeset < found:
            problems.append(f"{typeset} typeset formulas of {found} that MathJax found")
        failed = tab.locator("math merror, .MathJax_Error, .merror").count()
        if failed:
            problems.append(f"{failed} formulas failed to typeset")
        ignored = tab.evaluate(VARIANT_LETTERS)
        if ignored:
            problems.append(f"letters in a mathvariant that Chromium ignores: {ignored[:8]}")
        raw = sorted(set(RAW_TEX.findall(tab.evaluate(PROSE))))
        if raw:
            problems.append(f"raw TeX in the text ({len(raw)} kinds): {raw[:8]}")
        first = _first_display_formula(page.read_text())
        tab.locator(".text_cell_render").nth(first).scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"{shot}.png"))
        return problems
    finally:
        context.close()


def _first_display_formula(page: str) -> int:
    """The index of the first markdown cell of ``page`` with a displayed formula (``$$``)."""
    cells = page.split('class="text_cell_render')[1:]
    return next(i for i, cell in enumerate(cells) if "$$" in cell.split("</div>", 1)[0])


def test_no_script_or_stylesheet_from_the_network(pages):
    assert remote_resources(pages["course"].read_text()) == []


def test_stock_template_loads_mathjax_from_a_cdn(pages):
    found = remote_resources(pages["stock"].read_text())
    assert found and all("cdnjs.cloudflare.com" in f for f in found), found


def test_formulas_render_with_the_network_off(pages, browser):
    assert offline_problems(browser, pages["course"], "feedback_offline") == []


def test_stock_template_fails_with_the_network_off(pages, browser):
    problems = offline_problems(browser, pages["stock"], "feedback_stock_offline")
    assert any(p.startswith("requested https://cdnjs.cloudflare.com/") for p in problems), problems
    assert "MathJax did not typeset the page (no MathJax)" in problems, problems
    assert any(p.startswith("raw TeX in the text") for p in problems), problems


def test_inline_mathjax_costs_about_half_a_megabyte(pages):
    course_kb, stock_kb = (pages[k].stat().st_size / 1000 for k in ("course", "stock"))
    assert course_kb - stock_kb < 600, (f"the course's feedback page is {course_kb:.0f} KB, "
                                        f"{stock_kb:.0f} KB with nbgrader's template")
