"""The course folder as nbgrader sees it: its configuration (sources read from ``solutions/`` in
place, the course's pipeline, the exchange), nbgrader's API on it, and the student release
(``generate_assignment`` of every notebook into ``notebooks/`` or another folder).

``python -m dgm_staff.course release`` is the command; the example students
(:mod:`dgm_staff.example_students`), the gradebook's records (:mod:`dgm_staff.class_records`) and
the student bundle (:mod:`dgm_staff.student_bundle`) build on this module.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import warnings
from pathlib import Path

import nbformat
from traitlets.config import Config

from dgm_staff import exchange as shared_exchange
from dgm_staff.pipeline import configure
from dgm.runtime import repo_root


def solutions_dir() -> Path:
    return repo_root() / "solutions"


def release_dir() -> Path:
    return repo_root() / "notebooks"


def assignments() -> list[str]:
    """The course's notebooks in course order (``01_vae``, ``02_…``), as the manifest lists them
    (:mod:`dgm.manifest`; ``tests/test_manifest.py`` checks it against ``solutions/``)."""
    from dgm.manifest import IDS

    return list(IDS)


def nbgrader_config(root: Path, *, release: Path | None = None,
                    cell_timeout: int | None = None, exchange: Path | str | None = None,
                    course_id: str | None = None) -> Config:
    """nbgrader configuration for a course folder ``root`` that reads ``solutions/`` in place.

    ``exchange`` and ``course_id`` name the exchange the course releases into and collects from,
    shared with the students (default: ``$DGM_EXCHANGE`` and ``$DGM_COURSE_ID``, else the
    course's own ``exchange/`` folder and :data:`dgm_staff.exchange.COURSE_ID`)."""
    c = Config()
    configure(c, root)
    if cell_timeout is not None:
        c.Execute.timeout = c.RobustExecute.timeout = cell_timeout
    c.CourseDirectory.source_directory = str(solutions_dir())
    if release is not None:
        c.CourseDirectory.release_directory = str(release)
    else:
        c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    c.Exchange.root = shared_exchange.exchange_root(root, exchange)
    c.CourseDirectory.course_id = shared_exchange.course_id(course_id)
    c.Application.log_level = "WARN"
    return c


def tools_on_path() -> None:
    """Make nbgrader's new gradebooks work, and quick. nbgrader runs ``alembic`` (its gradebook
    migrations) by name: make it findable even when this environment was not activated. And a
    new gradebook asks a subprocess ``alembic heads`` for the revision to stamp it with, about
    2.4 s per gradebook on 2 cores: read the same head from nbgrader's migration scripts in this
    process instead (``tests/test_course_folder.py`` checks both give the same revision)."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head


@functools.cache
def alembic_head() -> str:
    """The head revision of nbgrader's gradebook migrations, the one a new gradebook is stamped
    with (what ``alembic heads`` prints for nbgrader's ``alembic.ini``)."""
    import nbgrader
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's gradebook migrations have {len(heads)} heads ({heads}); "
                           "install the nbgrader version pyproject.toml pins")
    return heads[0]


def api(root: Path, **kwargs):
    tools_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(root, **kwargs)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


@contextlib.contextmanager
def nbgrader_submission_warnings_off():
    """Silence one harmless SQLAlchemy warning that nbgrader's own apps raise while they record a
    submission (autograde): ``Gradebook.add_submission`` builds the submission and its rows
    before it adds them to the session, and under SQLAlchemy 2 (whose backrefs no longer cascade
    new objects into the session) the autoflush in between warns "Object of type
    <SubmittedAssignment> not in session"; nbgrader adds and commits them right after. Where the
    course calls the gradebook itself it avoids the warning instead (``no_autoflush`` in
    :mod:`dgm_staff.grade_class`)."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session",
                                category=SAWarning)
        yield


def check_result(result: dict, what: str) -> None:
    if not result.get("success", False):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('error') or result.get('log')}")


def generate_release(dest: Path | None = None, names: list[str] | None = None,
                     course: Path | None = None) -> Path:
    """Run ``generate_assignment`` for every assignment into ``dest`` (default ``notebooks/``).

    With ``course``, the assignments are recorded in that course's gradebook (as autograde
    needs); without, a throw-away gradebook is used. Either way each assignment's folder gets
    the page its *Running these notebooks* cell links to, beside the notebook
    (:mod:`dgm_staff.running_page`), so that ``release_assignment`` sends it with the notebook.
    (nbgrader's own ``generate_assignment --force`` rebuilds the folder from ``solutions/``
    alone: run this after it.)
    """
    from dgm_staff import running_page

    dest = Path(dest or release_dir())
    names = list(names or assignments())
    with tempfile.TemporaryDirectory() as tmp:
        nb_api = api(Path(course or tmp), release=dest)
        for name in names:
            check_result(nb_api.generate_assignment(name, force=True, create=True),
                   f"generate_assignment {name}")
    running_page.write_pages(dest, names)
    return dest


def solution_sources(assignment: str) -> dict[str, dict[str, str]]:
    """Per notebook, the source of every solution cell, by cell id."""
    out = {}
    for path in sorted((solutions_dir() / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        out[path.name] = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                          if c.metadata.get("nbgrader", {}).get("solution")}
    return out
