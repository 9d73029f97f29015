"""nbgrader's exchange cycle, end to end, with two students in homes of their own.

The instructor releases notebook 03 into a shared exchange; each student, a process with their
own ``HOME`` (so their own nbgrader cache, which keeps the secret of each submission), user name
and working folder, and only the students' ``nbgrader_config.py``
(:func:`dgm_staff.exchange.student_config`; it names the student, since nbgrader takes the name
of the OS account and all run under one here), fetches it, works and submits; the instructor collects, grades the collected ``submitted/`` with
``grade_class`` and with plain ``nbgrader autograde``, generates and releases the feedback, and
each student fetches their own. alice hands in the reference solution, bob the course's realistic
bugs of this notebook (:data:`dgm_staff.example_students.EXAMPLE_BUGS`).
"""

from __future__ import annotations

import csv
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbgrader.api import Gradebook
from traitlets.config.loader import PyFileConfigLoader

from dgm import manifest
from dgm_staff import class_records, course_folder, example_students, exchange
from dgm_staff.grade_class import grade_class
from tests.helpers import write_course_config

ROOT = Path(__file__).resolve().parent.parent
NAME = "03_echo"                 # the cheapest notebook to grade at the smoke budget
NOTEBOOK = f"{NAME}.ipynb"
STUDENTS = ("alice", "bob")      # alice: the reference solution; bob: the realistic bugs
STEP_TIMEOUT = 300               # seconds, any one nbgrader command
#: nbgrader 0.9.6's release_feedback passes its authenticator as ``authentictor=`` (a typo),
#: which traitlets warns about on every call.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Passing unrecognized arguments to super\(ExchangeReleaseFeedback\)")
#: What a student must not see: in the release, any; in feedback, all but their own solutions.
KINDS = ("solution", "hidden test", "mark scheme")


# ------------------------------------------------------------------------ what must not leak --
def _regions(source: str, begin: str, end: str) -> list[str]:
    """The lines inside every ``begin``…``end`` region of ``source`` (comments and blanks left
    out), stripped."""
    lines, inside = [], False
    for line in source.splitlines():
        s = line.strip()
        if s.startswith(begin):
            inside = True
        elif s.startswith(end):
            inside = False
        elif inside and s and not s.startswith("#"):
            lines.append(s)
    return lines


def _secret_lines() -> dict[str, list[str]]:
    """From the solution notebook: the lines of its solutions, hidden tests and mark schemes."""
    nb = nbformat.read(ROOT / "solutions" / NAME / NOTEBOOK, 4)
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for cell in nb.cells:
        found["solution"] += _regions(cell.source, manifest.BEGIN_SOLUTION, manifest.END_SOLUTION)
        found["hidden test"] += _regions(cell.source, manifest.BEGIN_HIDDEN, manifest.END_HIDDEN)
        found["mark scheme"] += _regions(cell.source, manifest.BEGIN_MARK_SCHEME,
                                         manifest.END_MARK_SCHEME)
    # a line whose words the release has as well (a stub, a phrase of a question) proves
    # nothing either way, nor does one that is only the end of a string (a check's message may
    # show it)
    release = _squeezed(_sources(nbformat.read(ROOT / "notebooks" / NAME / NOTEBOOK, 4)))
    return {kind: sorted({s for s in lines if _squeezed(s) not in release
                          and len(_squeezed(s)) > 12 and s[0] not in "\"'"})
            for kind, lines in found.items()}


def _page_text(page: str) -> str:
    """The text an HTML page shows: scripts, styles and tags dropped (highlighted code is one
    span per token), entities decoded."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _squeezed(text: str) -> str:
    """Letters and digits only: what survives highlighting, Markdown rendering (a heading's
    ``###``, emphasis, list marks) and HTML escapes."""
    return re.sub(r"[^A-Za-z0-9]+", "", text)


def _leaks(text: str, secret: dict[str, list[str]], kinds=KINDS) -> list[str]:
    """What of ``secret`` is in ``text`` (a notebook's sources or a page's text), or the
    markers of solutions, hidden tests and mark schemes; only letters and digits are compared."""
    flat = _squeezed(text)
    markers = (manifest.BEGIN_HIDDEN, manifest.BEGIN_SOLUTION, manifest.BEGIN_MARK_SCHEME)
    found = [m for m in markers if _squeezed(m) in flat]
    for kind in kinds:
        found += [f"{kind}: {line}" for line in secret[kind] if _squeezed(line) in flat]
    return found


def _sources(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_the_leak_detector_finds_what_it_looks_for():
    """The checks below can fail: the solution notebook, and a reference submission, are full
    of what the release and the feedback must not hold."""
    secret = _secret_lines()
    assert all(len(secret[kind]) >= 5 for kind in KINDS), secret
    solution_nb = nbformat.read(ROOT / "solutions" / NAME / NOTEBOOK, 4)
    leaks = _leaks(_sources(solution_nb), secret)
    assert manifest.BEGIN_HIDDEN in leaks
    assert sum(x.startswith("hidden test:") for x in leaks) == len(secret["hidden test"])
    released = nbformat.read(ROOT / "notebooks" / NAME / NOTEBOOK, 4)
    filled = example_students.filled_submission(released,
                                                course_folder.solution_sources(NAME)[NOTEBOOK])
    assert [x for x in _leaks(_sources(filled), secret) if x.startswith("solution:")]
    assert _leaks(_sources(released), secret) == []
    # on a page: highlighted code is split into spans, entities escape quotes
    page = ('<pre><span class="n">checks</span><span class="o">.</span>'
            + html.escape(secret["hidden test"][0][len("checks."):]) + "</pre>")
    if secret["hidden test"][0].startswith("checks."):
        assert _leaks(_page_text(page), secret) == [f"hidden test: {secret['hidden test'][0]}"]


# ------------------------------------------------------------------------ the shared exchange --
def test_course_config_points_at_a_shared_exchange(tmp_path, monkeypatch):
    """The course's own ``nbgrader_config.py`` (what ``nbgrader`` and the formgrader read in the
    course folder) takes the exchange and the course id from DGM_EXCHANGE and DGM_COURSE_ID."""
    def load() -> dict:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
        return {"root": config.Exchange.root, "course": config.CourseDirectory.course_id}

    monkeypatch.delenv(exchange.EXCHANGE_ENV, raising=False)
    monkeypatch.delenv(exchange.COURSE_ID_ENV, raising=False)
    assert load() == {"root": str(ROOT / "exchange"), "course": exchange.COURSE_ID}
    monkeypatch.setenv(exchange.EXCHANGE_ENV, str(tmp_path / "srv"))
    monkeypatch.setenv(exchange.COURSE_ID_ENV, "dgm-2026")
    assert load() == {"root": str(tmp_path / "srv"), "course": "dgm-2026"}
    monkeypatch.setenv(exchange.EXCHANGE_ENV, "shared/exchange")      # relative: to the course
    assert load()["root"] == str(ROOT / "shared" / "exchange")
    # the course commands: arguments win over the environment
    c = course_folder.nbgrader_config(tmp_path / "c", exchange=tmp_path / "x", course_id="dgm-x")
    assert (c.Exchange.root, c.CourseDirectory.course_id) == (str(tmp_path / "x"), "dgm-x")


def test_bad_exchange_settings_are_refused_with_what_to_do(monkeypatch, capsys):
    monkeypatch.setenv(exchange.COURSE_ID_ENV, "dgm+2026")
    with pytest.raises(ValueError, match=r"DGM_COURSE_ID='dgm\+2026'.*letters, digits"):
        exchange.course_id()
    monkeypatch.delenv(exchange.COURSE_ID_ENV)
    with pytest.raises(ValueError, match="absolute path, the same for every student"):
        exchange.student_config("exchange", "dgm-2026")
    monkeypatch.delenv(exchange.EXCHANGE_ENV, raising=False)
    with pytest.raises(SystemExit):
        exchange.main(["student-config"])
    assert "--exchange /srv/nbgrader/exchange" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a usable nbgrader student id"):
        exchange.student_config("/srv/ex", student="alice+bob")
    assert "student_id" not in exchange.student_config("/srv/ex")
    assert exchange.main(["student-config", "--exchange", "/srv/ex", "--course-id", "c1",
                          "--student", "alice"]) == 0
    text = capsys.readouterr().out
    namespace = {"get_config": lambda: namespace["c"]}
    from traitlets.config import Config

    namespace["c"] = Config()
    exec(text, namespace)  # noqa: S102 - the text the command prints, run as nbgrader would
    assert namespace["c"].Exchange.root == "/srv/ex"
    assert namespace["c"].CourseDirectory.course_id == "c1"
    assert namespace["c"].CourseDirectory.student_id == "alice"


# ------------------------------------------------------------------------ the cycle ----------
def _student_env(home: Path, user: str) -> dict[str, str]:
    """A student's environment: their own home and user name, nothing of the instructor's
    (no Jupyter or XDG folders, no course settings)."""
    return {"HOME": str(home), "USER": user, "LOGNAME": user, "PATH": os.environ.get("PATH", ""),
            "LANG": os.environ.get("LANG", "C.UTF-8")}


def _nbgrader(args: list[str], cwd: Path, env: dict[str, str] | None = None,
              ok: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=STEP_TIMEOUT)
    if ok and run.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} in {cwd} failed ({run.returncode}):\n"
                             f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def _checked(result: dict, what: str) -> None:
    assert result.get("success"), f"{what} failed:\n{result.get('error') or result.get('log')}"


def _html_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.html"))


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """The whole cycle, once: what every step left behind."""
    base = tmp_path_factory.mktemp("exchange-cycle")
    shared = base / "srv" / "exchange"          # the folder every user can write (a hub volume)
    root = base / "course"                      # the instructor's course folder
    root.mkdir()
    homes = {s: base / "home" / s for s in (*STUDENTS, "mallory")}
    for home in homes.values():
        (home / ".jupyter").mkdir(parents=True)
        # one OS account for all here, so each student's file names them (as on a hub whose
        # servers share an account; with an account each, nbgrader takes its name)
        (home / ".jupyter" / "nbgrader_config.py").write_text(
            exchange.student_config(shared, student=home.name))
    instructor = course_folder.api(root, exchange=shared)

    # 1. release_assignment
    course_folder.generate_release(root / "release", names=[NAME], course=root)
    _checked(instructor.release_assignment(NAME), "release_assignment")
    # 2. each student's fetch_assignment; 3. work, then submit
    solutions = course_folder.solution_sources(NAME)[NOTEBOOK]
    fetched = {}
    for student in STUDENTS:
        env = _student_env(homes[student], student)
        _nbgrader(["fetch_assignment", NAME], homes[student], env)
        path = homes[student] / NAME / NOTEBOOK
        fetched[student] = nbformat.read(path, 4)
        bugs = example_students.EXAMPLE_BUGS[NAME] if student == "bob" else None
        nbformat.write(example_students.filled_submission(fetched[student], solutions, bugs), path)
        _nbgrader(["submit", NAME], homes[student], env)
    # 4. collect
    _checked(instructor.collect(NAME), "collect")
    # 5. grading: grade_class on the collected submitted/, and plain `nbgrader autograde`
    grade_class(root / "submitted", base / "grading", workers=2, assignments=[NAME],
                progress=False)
    write_course_config(root, f"exchange={str(shared)!r}")
    _nbgrader(["autograde", NAME], root)
    # 6. generate_feedback; 7. release_feedback
    with course_folder.nbgrader_submission_warnings_off():
        _checked(instructor.generate_feedback(NAME), "generate_feedback")
    _checked(instructor.release_feedback(NAME), "release_feedback")
    # 8. each student's fetch_feedback; then bob asks for alice's, and mallory, who handed in
    # nothing, for anybody's
    for student in STUDENTS:
        _nbgrader(["fetch_feedback", NAME], homes[student], _student_env(homes[student], student))
    asks = {"bob as alice": _nbgrader(["fetch_feedback", NAME, "--student", "alice"],
                                      homes["bob"], _student_env(homes["bob"], "bob"), ok=False),
            "mallory": _nbgrader(["fetch_feedback", NAME], homes["mallory"],
                                 _student_env(homes["mallory"], "mallory"), ok=False)}
    return {"base": base, "shared": shared, "root": root, "homes": homes, "fetched": fetched,
            "asks": asks}


def _scores(db: Path) -> dict[tuple[str, str], float]:
    """(student, grade cell) -> autograded score, of every code cell in the gradebook."""
    with Gradebook(f"sqlite:///{db}") as gb:
        sub = {s.id: gb.find_submission(NAME, s.id) for s in gb.students}
        return {(student, g.name): g.auto_score for student, s in sub.items()
                for nb in s.notebooks for g in nb.grades if g.cell.cell_type == "code"}


def _notebook_score(db: Path, student: str) -> tuple[float, float]:
    with Gradebook(f"sqlite:///{db}") as gb:
        nb = gb.find_submission_notebook(NAME, NAME, student)
        return nb.score, nb.max_score


@pytest.mark.slow
@pytest.mark.nbgrader
def test_each_student_fetches_the_release_without_solutions_or_hidden_tests(cycle):
    secret = _secret_lines()
    release = nbformat.read(ROOT / "notebooks" / NAME / NOTEBOOK, 4)
    for student in STUDENTS:
        nb = cycle["fetched"][student]
        assert [c.source for c in nb.cells] == [c.source for c in release.cells], \
            f"{student}'s fetched notebook is not the course's release notebooks/{NAME}"
        assert _leaks(_sources(nb), secret) == [], student
    # fetched into the student's own home, nowhere else
    assert not (cycle["homes"]["mallory"] / NAME).exists()


@pytest.mark.slow
@pytest.mark.nbgrader
def test_collect_brings_both_submissions_as_the_students_wrote_them(cycle):
    submitted = cycle["root"] / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == list(STUDENTS)
    solutions = course_folder.solution_sources(NAME)[NOTEBOOK]
    for student in STUDENTS:
        folder = submitted / student / NAME
        assert (folder / "timestamp.txt").read_text().strip(), student
        assert (folder / "submission_secret.txt").is_file(), student
        got = nbformat.read(folder / NOTEBOOK, 4)
        bugs = example_students.EXAMPLE_BUGS[NAME] if student == "bob" else None
        want = example_students.filled_submission(cycle["fetched"][student], solutions, bugs)
        assert [c.source for c in got.cells] == [c.source for c in want.cells], student


@pytest.mark.slow
@pytest.mark.nbgrader
def test_grade_class_and_plain_autograde_agree_reference_full_bugs_less(cycle):
    plain = _scores(cycle["root"] / "gradebook.db")
    by_class = _scores(cycle["base"] / "grading" / "course" / "gradebook.db")
    assert plain == by_class, {k: (plain.get(k), by_class.get(k))
                               for k in set(plain) | set(by_class) if plain.get(k) != by_class.get(k)}
    with open(cycle["base"] / "grading" / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == list(STUDENTS)
    plain_rows = {r.student: r for r in class_records.grade_rows(cycle["root"])}
    for student in STUDENTS:
        assert float(rows[student]["autograded_score"]) == plain_rows[student].auto_score
    alice, bob = plain_rows["alice"], plain_rows["bob"]
    assert alice.auto_score == alice.auto_max > 0
    assert bob.auto_score < bob.auto_max
    with Gradebook(f"sqlite:///{cycle['root'] / 'gradebook.db'}") as gb:
        maxima = {g.name: g.max_score for g in gb.find_submission_notebook(NAME, NAME, "bob").grades}
    lost = {cell for (student, cell), score in plain.items()
            if student == "bob" and score < maxima[cell]}
    # bob's two bugs are in echo_sample and echo_rate: only their checks cost him points
    assert lost and lost <= {"test_sample_contract", "test_sample_hidden", "test_rate_contract",
                             "test_rate_hidden"}, lost


@pytest.mark.slow
@pytest.mark.nbgrader
def test_each_student_fetches_their_own_feedback_with_their_score_and_no_hidden_tests(cycle):
    secret = _secret_lines()
    root = cycle["root"]
    shown = {}
    for student in STUDENTS:
        home = cycle["homes"][student]
        pages = _html_files(home)
        timestamp = (root / "submitted" / student / NAME / "timestamp.txt").read_text().strip()
        assert [p.relative_to(home).parts[:2] for p in pages] == [(NAME, "feedback")], pages
        assert pages[0].parent.name == timestamp and pages[0].name == f"{NAME}.html", pages
        page = pages[0].read_text()
        assert page == (root / "feedback" / student / NAME / f"{NAME}.html").read_text(), \
            f"{student} fetched a page that is not their own feedback"
        assert _leaks(_page_text(page), secret, kinds=("hidden test", "mark scheme")) == [], \
            f"{student}'s feedback shows hidden tests or mark schemes"
        score, max_score = _notebook_score(root / "gradebook.db", student)
        header = re.search(r"\(Score: ([\d.]+) / ([\d.]+)\)", page)
        assert header, f"no score in {student}'s feedback"
        assert (float(header[1]), float(header[2])) == (round(score, 2), round(max_score, 2))
        shown[student] = float(header[1])
    assert shown["alice"] > shown["bob"]
    # the autograded notebook the feedback comes from holds the hidden tests, and a page of it
    # rendered without the course's feedback preprocessors shows them: the check would see it
    autograded = nbformat.read(root / "autograded" / "bob" / NAME / NOTEBOOK, 4)
    stock, _ = HTMLExporter().from_notebook_node(autograded)
    stock_leaks = _leaks(_page_text(stock), secret, kinds=("hidden test", "mark scheme"))
    assert manifest.BEGIN_HIDDEN in stock_leaks and manifest.BEGIN_MARK_SCHEME in stock_leaks
    for kind in ("hidden test", "mark scheme"):
        assert sum(x.startswith(f"{kind}:") for x in stock_leaks) > len(secret[kind]) // 2, kind


@pytest.mark.slow
@pytest.mark.nbgrader
def test_no_student_can_fetch_another_students_feedback(cycle):
    root, homes = cycle["root"], cycle["homes"]
    # in the exchange, a page is named by a hash of a secret only that student's submission holds
    released = sorted(p.name for p in (cycle["shared"] / exchange.course_id() / "feedback").iterdir())
    assert len(released) == 2 and not any(s in name for name in released for s in STUDENTS)
    # bob asking for alice's feedback gets his own again, and nothing of hers
    assert cycle["asks"]["bob as alice"].returncode == 0
    bob_pages = _html_files(homes["bob"])
    assert len(bob_pages) == 1
    assert bob_pages[0].read_text() == (root / "feedback" / "bob" / NAME / f"{NAME}.html").read_text()
    # mallory, who submitted nothing, finds none at all
    assert _html_files(homes["mallory"]) == [], cycle["asks"]["mallory"].stderr[-2000:]


@pytest.mark.slow
@pytest.mark.nbgrader
def test_grade_class_keeps_the_submission_time_and_a_releasable_feedback(cycle):
    """collect puts timestamp.txt and submission_secret.txt beside each submission: grade_class
    records the time (late penalties) and keeps both beside its feedback, which release_feedback
    reads."""
    def times(db: Path) -> dict[str, object]:
        with Gradebook(f"sqlite:///{db}") as gb:
            return {s: gb.find_submission(NAME, s).timestamp for s in STUDENTS}

    plain = times(cycle["root"] / "gradebook.db")
    assert all(plain.values()), plain
    assert times(cycle["base"] / "grading" / "course" / "gradebook.db") == plain
    for student in STUDENTS:
        kept = cycle["base"] / "grading" / "course" / "feedback" / student / NAME
        for name in ("timestamp.txt", "submission_secret.txt"):
            assert (kept / name).read_text() == \
                (cycle["root"] / "submitted" / student / NAME / name).read_text(), \
                f"{student}: {name} beside grade_class's feedback is not the submission's"
    # and its feedback goes through the exchange as well (no student fetches it here)
    (cycle["base"] / "other").mkdir()
    graded = course_folder.api(cycle["base"] / "grading" / "course",
                               exchange=cycle["base"] / "other")
    _checked(graded.release_feedback(NAME), "release_feedback of grade_class's feedback")
    assert len(_html_files(cycle["base"] / "other")) == len(STUDENTS)
