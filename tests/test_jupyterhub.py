"""The course on a JupyterHub (``dgm_staff.hub``), end to end in Chromium, on 127.0.0.1.

One instructor and one student log in through the hub's login page. The instructor generates and
releases notebook 01 in the formgrader; the student sees it in nbgrader's Assignment List, fetches
it, fills it and submits it; the instructor collects, autogrades, generates and releases the
feedback in the formgrader; the student fetches the feedback in the Assignment List, opens it and
the test reads the score in it. Every step is a click in the browser except one: the student's
answers are written into the fetched notebook through the Jupyter contents API, as that student
(typing a whole notebook's answers is what ``test_browser`` already does for one cell).

Needs configurable-http-proxy (``python -m dgm_staff.hub install-proxy``: npm, into the course's
cache; ``tasks.py test`` does it when npm is there) or one on PATH, Debian's Chromium and the
``playwright`` package; it skips, saying which is missing, without them. Screenshots go to
``build/screenshots/hub_*.png``. Bounded: every wait has a time limit and a watchdog stops the
hub and its servers after :data:`DEADLINE_S`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from dgm import manifest
from dgm_staff import class_records, course_folder, example_students, hub
from tests.helpers import SHOTS, launched_chromium

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_vae"
STUDENT, INSTRUCTOR = "alice", "teacher"
NAMES = ("Alice", "Liddell")         # the student's names on the roster the hub is given
DEADLINE_S = 420


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"hub_{name}.png"), full_page=False)


class Hub:
    """``python -m dgm_staff.hub serve`` on free ports; :meth:`stop` ends it and every process
    it started (proxy, single-user servers, kernels)."""

    def __init__(self, state: Path, env: dict):
        import psutil

        self.psutil = psutil
        self.port = hub.free_port()
        self.state = state
        state.mkdir(parents=True)
        self.passwords = {STUDENT: "student-" + os.urandom(8).hex(),
                          INSTRUCTOR: "instructor-" + os.urandom(16).hex()}
        (state / "sp").write_text(self.passwords[STUDENT])
        (state / "ip").write_text(self.passwords[INSTRUCTOR])
        self.log = open(state / "hub.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dgm_staff.hub", "serve", "--state", str(state / "hub"),
             "--port", str(self.port), "--instructor", INSTRUCTOR,
             "--roster", str(class_records.write_roster(state / "roster.csv", {STUDENT: NAMES})),
             "--student-password-file", str(state / "sp"),
             "--instructor-password-file", str(state / "ip")],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.known: set = set()
        self.stopping = threading.Lock()
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.url("/hub/health"), timeout=2)
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(1)
        log = self.text_log()
        self.stop()
        raise RuntimeError(f"JupyterHub did not start:\n{log[-3000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def text_log(self) -> str:
        self.log.flush()
        return (self.state / "hub.log").read_text(errors="replace")

    def processes(self) -> list:
        """The hub's process tree now, plus any seen before (servers start their own sessions)."""
        try:
            found = {self.psutil.Process(self.proc.pid), *self.psutil.Process(
                self.proc.pid).children(recursive=True)}
        except self.psutil.NoSuchProcess:
            found = set()
        self.known |= found
        return list(self.known)

    def listening(self) -> set[str]:
        """The addresses the hub, the proxy and the users' servers listen on."""
        found = set()
        for p in self.processes():
            try:
                found |= {c.laddr.ip for c in p.net_connections(kind="inet")
                          if c.status == self.psutil.CONN_LISTEN}
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                pass
        return found

    def stop(self):
        with self.stopping:
            if self.log.closed:
                return
            self._stop()

    def _stop(self):
        procs = self.processes()
        if self.proc.poll() is None:
            self.proc.terminate()           # the hub stops its proxy and the users' servers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            try:
                p.kill()
            except self.psutil.NoSuchProcess:
                pass
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def browser():
    with launched_chromium() as b:
        yield b


def _login(browser, the_hub: Hub, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(the_hub.url("/hub/login"))
    page.fill("#username_input", user)
    page.fill("#password_input", the_hub.passwords[user])
    _shot(page, f"{user}_0_login")
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=150_000)
    page.wait_for_selector(".jp-LabShell", timeout=120_000)
    return page


def _formgrader_modal(page, what: str, timeout: float = 120_000) -> str:
    """Wait for the formgrader's success modal after ``what``, close it, return its text."""
    modal = page.locator("#success-modal, #error-modal").first
    modal.wait_for(state="visible", timeout=timeout)
    text = modal.text_content()
    assert page.locator("#success-modal").count(), f"{what} failed in the formgrader:\n{text}"
    modal.locator("button.close").first.click()
    modal.wait_for(state="hidden")
    page.locator(".modal-backdrop").wait_for(state="detached", timeout=15_000)
    return text


def _assignment_row(page):
    return page.locator("#main_table tbody tr, table tbody tr").filter(has_text=NAME).first


def _open_assignment_list(page):
    page.click("div.lm-MenuBar-itemLabel:text('Nbgrader')")
    menu = page.locator(".lm-Menu-content").first
    menu.locator("li.lm-Menu-item", has_text="Assignment List").wait_for()
    assert menu.locator("li.lm-Menu-item", has_text="Formgrader").count() == 0, \
        f"a student's Nbgrader menu offers the formgrader: {menu.text_content()}"
    menu.locator("li.lm-Menu-item", has_text="Assignment List").click()
    page.wait_for_selector("#released_assignments_list", timeout=60_000)


def _lab_fetch(page, user: str, method: str, path: str, body: dict | None = None) -> dict:
    """A contents API call from the user's own JupyterLab page (their cookie and XSRF token)."""
    return page.evaluate(
        """async ([url, method, body]) => {
            const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
            const r = await fetch(url, {method, headers: {'X-XSRFToken': decodeURIComponent(xsrf),
                                 'Content-Type': 'application/json'},
                                 body: body ? JSON.stringify(body) : undefined});
            if (!r.ok) { throw new Error(method + ' ' + url + ': ' + r.status); }
            return await r.json();
        }""", [f"/user/{user}/api/contents/{path}", method, body])


def _load(path: Path):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(path.name, str(path.parent)).load_config()


def test_each_user_gets_their_own_nbgrader_configuration(tmp_path):
    """A student: the shared exchange, the course id, their own student id, no formgrader. An
    instructor: the course's own grading configuration on their course folder."""
    from dgm_staff import exchange

    student = hub.write_user_config(tmp_path, STUDENT, instructor=False)
    c = _load(student / "nbgrader_config.py")
    assert c.Exchange.root == str(tmp_path / "exchange")
    assert c.CourseDirectory.course_id == exchange.course_id()
    assert c.CourseDirectory.student_id == STUDENT, "submissions would be filed under the " \
        "hub's account name, the same for every student"
    server = json.loads((student / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == {
        "nbgrader.server_extensions.formgrader": False}
    lab = json.loads((student / "labconfig" / "page_config.json").read_text())
    assert set(lab["disabledExtensions"]) == {"@jupyter/nbgrader:formgrader",
                                              "@jupyter/nbgrader:create-assignment"}

    teacher = hub.write_user_config(tmp_path, INSTRUCTOR, instructor=True)
    c = _load(teacher / "nbgrader_config.py")
    root = hub.course_root(tmp_path, INSTRUCTOR)
    expected = course_folder.nbgrader_config(root, exchange=tmp_path / "exchange")
    assert c.CourseDirectory.root == str(root) and root.is_dir()
    assert c.Exchange.root == str(tmp_path / "exchange")
    assert c.CourseDirectory.source_directory == str(ROOT / "solutions")
    assert "student_id" not in c.CourseDirectory
    for section in ("Autograde", "GenerateFeedback", "ClearSolutions"):
        assert c[section] == expected[section], section   # the course's own pipeline
    assert json.loads((teacher / "labconfig" / "page_config.json").read_text()) == {
        "disabledExtensions": {}}


def test_the_recipe_refuses_what_would_break_it(tmp_path, monkeypatch):
    from traitlets.config import Config

    common = dict(student_password="s" * 12, instructor_password="i" * 40,
                  proxy=tmp_path / "chp")
    with pytest.raises(ValueError, match="lower-case letters"):
        hub.configure(Config(), tmp_path, instructors=["teacher"], students=["bob+1"], **common)
    with pytest.raises(ValueError, match="both as a student and as an instructor"):
        hub.configure(Config(), tmp_path, instructors=["teacher"], students=["teacher"], **common)
    c = Config()
    hub.configure(c, tmp_path, instructors=["teacher"], students=["alice"],
                  roster=class_records.write_roster(tmp_path / "roster.csv",
                                                    {"bob": ("Bob", "B")}),
                  **common)
    assert c.Authenticator.allowed_users == {"alice", "bob", "teacher"}
    assert c.Authenticator.admin_users == {"teacher"}
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:") and c.Spawner.ip == "127.0.0.1"
    monkeypatch.setattr(hub, "find_proxy", lambda: None)
    with pytest.raises(RuntimeError, match="install-proxy"):
        hub.configure(Config(), tmp_path, instructors=["teacher"], students=["alice"],
                      student_password="s" * 12, instructor_password="i" * 40)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="npm is not installed"):
        hub.install_proxy(tmp_path / "node")


@pytest.mark.nbgrader
def test_student_and_instructor_through_a_jupyterhub(browser, tmp_path):
    if hub.find_proxy() is None:
        pytest.skip(f"{hub.PROXY} is missing: `python -m dgm_staff.hub install-proxy` installs "
                    f"it with npm (tasks.py test does it when npm is there), or put it on PATH")
    the_hub = Hub(tmp_path / "state", {"DGM_BUDGET": "smoke",
                                       "DGM_OUTPUT": str(tmp_path / "outputs")})
    watchdog = threading.Timer(DEADLINE_S, the_hub.stop)
    watchdog.daemon = True
    watchdog.start()
    try:
        state = the_hub.state / "hub"
        # --- the students' password does not open an instructor's account
        context = browser.new_context()
        intruder = context.new_page()
        intruder.goto(the_hub.url("/hub/login"))
        intruder.fill("#username_input", INSTRUCTOR)
        intruder.fill("#password_input", the_hub.passwords[STUDENT])
        with intruder.expect_navigation(timeout=60_000):
            intruder.click("#login_submit")
        intruder.wait_for_load_state()
        assert f"/user/{INSTRUCTOR}" not in intruder.url and intruder.locator(
            ".login_error").count(), f"the students' password logged in as {INSTRUCTOR}"
        context.close()
        # --- instructor: generate and release notebook 01 in the formgrader
        teacher = _login(browser, the_hub, INSTRUCTOR)
        the_hub.processes()
        teacher.goto(the_hub.url(f"/user/{INSTRUCTOR}/formgrader/manage_assignments"))
        row = _assignment_row(teacher)
        row.wait_for(timeout=60_000)
        _shot(teacher, "teacher_1_assignments")
        row.locator(".assign a").click()
        _formgrader_modal(teacher, "generating the student version")
        assert (hub.course_root(state, INSTRUCTOR) / "release" / NAME / f"{NAME}.ipynb").exists()
        _assignment_row(teacher).locator(".release a").click()
        _formgrader_modal(teacher, "releasing")
        _assignment_row(teacher).filter(has_text="released").wait_for()
        _shot(teacher, "teacher_2_released")

        # --- student: the Assignment List, fetch, fill, submit
        student = _login(browser, the_hub, STUDENT)
        assert the_hub.listening() == {"127.0.0.1"}, the_hub.listening()
        _open_assignment_list(student)
        released = student.locator("#released_assignments_list .list_item").filter(has_text=NAME)
        released.wait_for(timeout=60_000)
        _shot(student, "student_1_assignment_list")
        released.get_by_role("button", name="Fetch").click()
        fetched = student.locator("#fetched_assignments_list .list_item").filter(has_text=NAME)
        fetched.first.wait_for(timeout=60_000)
        _shot(student, "student_2_fetched")
        path = f"{NAME}/{NAME}.ipynb"
        model = _lab_fetch(student, STUDENT, "GET", path)
        release_nb = nbformat.from_dict(model["content"])
        assert manifest.BEGIN_HIDDEN not in json.dumps(model["content"]), \
            "the release a student fetches holds the hidden tests"
        filled = example_students.filled_submission(
            release_nb, course_folder.solution_sources(NAME)[f"{NAME}.ipynb"])
        _lab_fetch(student, STUDENT, "PUT", path, {"type": "notebook", "format": "json",
                                                   "content": filled})
        fetched.first.get_by_role("button", name="Submit").click()
        submitted = student.locator("#submitted_assignments_list .list_item").filter(
            has_text=NAME)
        submitted.first.wait_for(timeout=60_000)
        _shot(student, "student_3_submitted")
        # A student's server has no formgrader.
        status = student.request.get(the_hub.url(f"/user/{STUDENT}/formgrader")).status
        assert status == 404, f"the student's server serves the formgrader (HTTP {status})"

        # --- instructor: collect, autograde, feedback
        teacher.goto(the_hub.url(f"/user/{INSTRUCTOR}/formgrader/manage_assignments"))
        _assignment_row(teacher).locator(".collect a").click()
        _formgrader_modal(teacher, "collecting")
        teacher.goto(the_hub.url(f"/user/{INSTRUCTOR}/formgrader/manage_submissions/{NAME}"))
        sub_row = teacher.locator("tbody tr").filter(has_text=STUDENT).first
        sub_row.wait_for(timeout=60_000)
        sub_row.locator(".autograde a").click()
        start = time.perf_counter()
        _formgrader_modal(teacher, "autograding", timeout=300_000)
        teacher.wait_for_function(
            "() => Array.from(document.querySelectorAll('tbody tr .score'))"
            ".some(td => / \\/ /.test(td.textContent))", timeout=60_000, polling=1000)
        autograde_s = time.perf_counter() - start
        sub_row = teacher.locator("tbody tr").filter(has_text=STUDENT).first
        row_score = sub_row.locator(".score").text_content().strip()
        assert f"{NAMES[1]}, {NAMES[0]}" in sub_row.text_content(), \
            f"the formgrader does not name the student from the roster: {sub_row.text_content()}"
        _shot(teacher, "teacher_3_autograded")
        sub_row.locator(".generate-feedback a").click()
        _formgrader_modal(teacher, "generating feedback")
        teacher.locator("tbody tr").filter(has_text=STUDENT).first.locator(
            ".release-feedback a").click()
        _formgrader_modal(teacher, "releasing feedback")

        # --- student: fetch the feedback and read the score in it
        student.click("#refresh_assignments_list")
        submitted = student.locator("#submitted_assignments_list .list_item").filter(
            has_text=NAME).first
        submitted.get_by_role("button", name="Fetch Feedback").click()
        view = student.locator("#submitted_assignments_list a", has_text="view feedback").first
        view.wait_for(timeout=60_000)
        _shot(student, "student_4_feedback_fetched")
        view.click()
        html_item = student.locator(".jp-DirListing-item", has_text=f"{NAME}.html").first
        html_item.wait_for(timeout=30_000)
        html_item.dblclick()
        frame = student.frame_locator(".jp-HTMLViewer iframe")
        heading = frame.locator("text=/Score: *[0-9.]+ *\\/ *[0-9.]+/").first
        heading.wait_for(timeout=60_000)
        _shot(student, "student_5_feedback")
        read = re.search(r"Score: *([0-9.]+) */ *([0-9.]+)", heading.text_content())
        score, max_score = float(read.group(1)), float(read.group(2))

        # The score the student reads is the gradebook's, and the reference solution's.
        gradebook = course_folder.api(hub.course_root(state, INSTRUCTOR)).get_submission(NAME,
                                                                                     STUDENT)
        assert (score, max_score) == (pytest.approx(gradebook["score"]),
                                      pytest.approx(gradebook["max_score"])), (read.group(0),
                                                                               gradebook)
        assert row_score.startswith(f"{gradebook['score']:g}") or \
            float(row_score.split("/")[0]) == pytest.approx(score), row_score
        auto_max = sum(float(c.metadata["nbgrader"]["points"]) for c in nbformat.read(
            ROOT / "solutions" / NAME / f"{NAME}.ipynb", 4).cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
        assert score == pytest.approx(auto_max), (score, auto_max)
        (SHOTS / "hub_times.json").write_text(json.dumps({"autograde_s": round(autograde_s, 1)}))
    except Exception:
        print(the_hub.text_log()[-6000:])
        raise
    finally:
        watchdog.cancel()
        the_hub.stop()
