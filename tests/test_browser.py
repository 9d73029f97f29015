"""The course as people meet it: JupyterLab with nbgrader's extension, driven in a real browser.

Student: open notebook 01 (every answer filled except one), type that answer in the browser, run
all cells at the smoke budget, check that figures, rendered maths and progress bars are shown, and
press nbgrader's Validate. Instructor: open the formgrader of a course with an autograded
submission and find the assignment and the score. Screenshots go to ``build/screenshots/``.

Needs Debian's Chromium (``/usr/bin/chromium``) and the ``playwright`` package; ``.ci/run``
installs Chromium, and this test tries ``apt-get install chromium`` itself when it runs as root.
It skips, saying why, only where the browser cannot be had.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from dgm import lab
from dgm_staff import class_records, course_folder, example_students, formgrader
from tests.helpers import SHOTS, launched_chromium, write_course_config

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"
pytestmark = [pytest.mark.slow, pytest.mark.nbgrader]


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as b:
        yield b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server started as ``python -m dgm.lab`` (``role`` "student") or
    ``python -m dgm_staff.formgrader`` (``"instructor"``) would, on a free port."""

    def __init__(self, role: str, root: Path, env: dict):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        launcher = formgrader if role == "instructor" else lab
        cmd, self.folder = launcher.command(self.port, self.token, open_browser=False, root=root)
        bindir = str(Path(sys.executable).parent)
        full_env = {**os.environ, **env,
                    "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")])}
        self.log = open(root / f"jupyter-{role}.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=self.folder, env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url('/api/status')}", timeout=2)
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"JupyterLab did not start: see {self.log.name}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def _student_root(tmp: Path) -> Path:
    """A course folder whose release holds notebook 01 with every answer filled but (b)."""
    root = tmp / "student_course"
    release_nb = nbformat.read(ROOT / "notebooks" / NAME / f"{NAME}.ipynb", 4)
    solutions = course_folder.solution_sources(NAME)[f"{NAME}.ipynb"]
    filled = example_students.filled_submission(release_nb, {k: v for k, v in solutions.items()
                                                             if k != "answer_b"})
    target = root / "notebooks" / NAME / f"{NAME}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(filled, target)
    return root


def test_student_fills_runs_and_validates(browser, tmp_path):
    """Also times a student's first steps (``build/screenshots/first-hour.json``): the server's
    start, opening the notebook, running it at the smoke budget, and Validate."""
    root = _student_root(tmp_path)
    times, start = {}, time.perf_counter()
    server = Lab("student", root, {"DGM_BUDGET": "smoke", "DGM_OUTPUT": str(tmp_path / "out")})
    times["jupyterlab_start_s"] = time.perf_counter() - start
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        start = time.perf_counter()
        page.goto(server.url(f"/lab/tree/{NAME}/{NAME}.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=120_000)
        times["open_notebook_to_idle_kernel_s"] = time.perf_counter() - start
        _shot(page, "student-01-opened")
        # Type the one missing answer, as a student would.
        cell = page.locator(".jp-CodeCell", has_text="encoder_outputs = None").first
        cell.scroll_into_view_if_needed()
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.type("encoder_outputs = 4")
        page.keyboard.press("Escape")
        # Run everything at the smoke budget.
        page.click("div.lm-MenuBar-itemLabel:text('Run')")
        page.click("li.lm-Menu-item:has-text('Run All Cells')")
        start = time.perf_counter()
        page.wait_for_function(
            "() => !Array.from(document.querySelectorAll('.jp-InputPrompt'))"
            ".some(p => p.textContent.includes('*'))", timeout=600_000, polling=2000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        times["run_all_smoke_s"] = time.perf_counter() - start
        assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']"
                            ).count() == 0, "a cell raised an error"
        figures = page.locator(".jp-RenderedImage img")
        maths = page.locator(".jp-RenderedMarkdown mjx-container, .jp-RenderedMarkdown .MathJax")
        page.locator(".jp-RenderedImage").first.scroll_into_view_if_needed()
        _shot(page, "student-02-figure")
        assert figures.count() >= 3, "figures are not shown"
        assert maths.count() >= 10, "the derivation cells' maths is not rendered"
        progress = page.locator(".widget-progress, .jp-OutputArea-output:has-text('it/s'), "
                                ".jp-OutputArea-output:has-text('epoch')")
        assert progress.count() >= 1, "no progress bar or per-epoch progress is shown"
        # nbgrader's Validate button, and its verdict.
        page.locator(".jp-Toolbar").get_by_text("Validate", exact=True).first.click()
        start = time.perf_counter()
        dialog = page.wait_for_selector(".jp-Dialog", timeout=600_000)
        page.wait_for_function(
            "() => { const d = document.querySelector('.jp-Dialog');"
            " return d && /passes|fail|error/i.test(d.textContent) }", timeout=600_000)
        times["validate_s"] = time.perf_counter() - start
        _shot(page, "student-03-validate")
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "first-hour.json").write_text(json.dumps(
            {k: round(v, 1) for k, v in times.items()}, indent=1))
        text = dialog.text_content()
        assert "Success" in text or "passes" in text, text[:500]
    finally:
        server.stop()


def test_instructor_sees_assignments_and_an_autograded_score(browser, tmp_path):
    root = tmp_path / "instructor_course"
    root.mkdir()
    course_folder.generate_release(root / "release", names=[NAME], course=root)
    example_students.write_example_submissions(root, [NAME])
    class_records.grade_course(root, [NAME], ["reference"])
    write_course_config(root, "release=here / 'release'")
    server = Lab("instructor", root, {})
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(server.url("/formgrader"))
        page.wait_for_selector(f"text={NAME}", timeout=120_000)
        _shot(page, "instructor-01-assignments")
        page.goto(server.url(f"/formgrader/manage_submissions/{NAME}"))
        page.wait_for_selector("text=reference", timeout=120_000)
        _shot(page, "instructor-02-submissions")
        row = page.locator("tr", has_text="reference").first
        auto_max = sum(float(c.metadata["nbgrader"]["points"]) for c in nbformat.read(
            ROOT / "solutions" / NAME / f"{NAME}.ipynb", 4).cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
        assert f"{auto_max:g}" in row.text_content(), row.text_content()
    finally:
        server.stop()


FIRST_SCREENS = ("02_beta_vae", "03_echo", "04_gan", "05_wgan", "06_inversion")


def test_first_screens_of_notebooks_02_to_06(browser, tmp_path):
    """Each release notebook opens on its header (title, goals, what the budgets cost) and the
    course's shared "Running these notebooks" cell just below it (budget, device), no error."""
    root = tmp_path / "student_course"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    server = Lab("student", root, {"DGM_BUDGET": "smoke", "DGM_OUTPUT": str(tmp_path / "out")})
    try:
        for name in FIRST_SCREENS:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(server.url(f"/lab/workspaces/first-{name}/tree/{name}/{name}.ipynb"))
            panel = page.locator(".jp-NotebookPanel:visible")
            panel.locator(".jp-RenderedMarkdown h1").first.wait_for(timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=120_000)
            _shot(page, f"student-first-screen-{name}")
            header = panel.locator(".jp-RenderedMarkdown").first.text_content()
            assert name[:2] in header and "budget" in header and \
                "Running these notebooks" in header, header
            running = panel.locator(".jp-RenderedMarkdown").nth(1).text_content()
            assert running.startswith("Running these notebooks") and "Budget:" in running \
                and "Device:" in running, running
            assert "cfg = ..." not in header      # no instruction to edit a locked cell
            page.close()
    finally:
        server.stop()


def test_a_graded_failure_reads_right_on_its_feedback_page(browser, tmp_path):
    """The feedback a student gets back for a wrong function: the check's message, no hidden
    test code, no traceback of the grader's files, no mark scheme."""
    root = tmp_path / "instructor_course"
    root.mkdir()
    course_folder.generate_release(root / "release", names=[NAME], course=root)
    example_students.write_example_submissions(root, [NAME])
    class_records.grade_course(root, [NAME], ["buggy"])
    html = next((root / "feedback" / "buggy" / NAME).glob("*.html"))
    text = html.read_text()
    assert "BEGIN HIDDEN TESTS" not in text and "MARK SCHEME" not in text
    assert "grader_tests" not in text and "dgm_staff" not in text
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(html.as_uri())
    failure = page.locator(".output_error, .jp-RenderedText[data-mime-type*='error'], "
                           "pre:has-text('CheckFailed')").first
    failure.scroll_into_view_if_needed()
    _shot(page, "feedback-graded-failure")
    assert "CheckFailed" in failure.text_content()
