"""nbgrader's exchange: the folder through which the course is released, submitted, collected and
its feedback returned, shared by the instructor and every student.

nbgrader moves the work through one folder, the *exchange*: ``release_assignment`` puts the
release into ``<exchange>/<course id>/outbound/``, each student's ``fetch_assignment`` copies it
into their own folder, ``submit`` puts their work into ``inbound/``, ``collect`` brings it into
the course's ``submitted/``, and ``release_feedback`` puts the HTML feedback into ``feedback/``,
named by a hash of a secret that only the student's own submission holds, so that each
student's ``fetch_feedback`` finds only their own.

By default the course keeps a private exchange inside its folder (``exchange/``, git-ignored),
enough for one machine. For a class, the instructor and the students must name the same folder
(on a JupyterHub, a volume every user can write; nbgrader's default is
``/usr/local/share/nbgrader/exchange``) and the same course id:

* the instructor sets ``DGM_EXCHANGE`` (and, for a course id other than
  :data:`COURSE_ID`, ``DGM_COURSE_ID``) before running nbgrader in the course folder, the
  formgrader included; the course's ``nbgrader_config.py`` reads them
  (:func:`dgm_staff.pipeline.configure`). The course commands take the same as arguments
  (:func:`dgm_staff.course_folder.nbgrader_config`);
* the students' nbgrader reads the two settings from its own configuration,
  ``/etc/jupyter/nbgrader_config.py`` in a hub's image or ``~/.jupyter/nbgrader_config.py``:
  ``python -m dgm_staff.exchange student-config --exchange PATH`` prints that file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dgm.runtime import COURSE_ID_ENV, EXCHANGE_ENV

#: The course id nbgrader files the course under in the exchange (``CourseDirectory.course_id``).
COURSE_ID = "deep-generative-models"


def exchange_root(course_root: Path | str, exchange: Path | str | None = None) -> str:
    """The exchange folder of the course in ``course_root``: ``exchange`` if given, else
    ``$DGM_EXCHANGE``, else the course's private ``exchange/``. ``~`` is expanded, and a relative
    path is taken relative to ``course_root`` (nbgrader itself would read it relative to whatever
    folder it was started in, which differs between the instructor and the students)."""
    value = exchange if exchange is not None else os.environ.get(EXCHANGE_ENV, "")
    if not str(value).strip():
        return str(Path(course_root) / "exchange")
    path = Path(str(value).strip()).expanduser()
    return str(path if path.is_absolute() else (Path(course_root) / path).resolve())


def course_id(value: str | None = None) -> str:
    """The course id: ``value`` if given, else ``$DGM_COURSE_ID``, else :data:`COURSE_ID`.

    nbgrader uses it as a folder name in the exchange and splits file names there at ``+``, so
    only letters, digits, ``.``, ``_`` and ``-`` are accepted."""
    chosen = value if value is not None else (os.environ.get(COURSE_ID_ENV, "").strip()
                                              or COURSE_ID)
    if not chosen or not all(ch.isalnum() or ch in "._-" for ch in chosen):
        where = "course_id" if value is not None else COURSE_ID_ENV
        raise ValueError(f"{where}={chosen!r} is not a usable nbgrader course id: use letters, "
                         "digits, '.', '_' and '-' only (e.g. dgm-2026)")
    return chosen


def student_config(exchange: Path | str, course: str | None = None,
                   student: str | None = None) -> str:
    """The text of the ``nbgrader_config.py`` a student's nbgrader needs to fetch and submit
    through the shared ``exchange`` (an absolute path, as every student sees it).

    nbgrader files a submission under the name of the OS account that runs it (``pwd``, not
    ``$USER``), or under ``$JUPYTERHUB_USER`` when that account is ``jovyan``, as in Docker's
    Jupyter images and Zero to JupyterHub. Where students do not each have an account of their
    own (a hub whose servers all run as one account), ``student`` names the one this file is
    for (``CourseDirectory.student_id``): then it is a file per student."""
    path = Path(str(exchange)).expanduser()
    if not path.is_absolute():
        raise ValueError(f"the exchange {str(exchange)!r} must be an absolute path, the same "
                         "for every student (e.g. /srv/nbgrader/exchange)")
    text = ("# nbgrader configuration for the students of the course: the shared exchange and\n"
            "# the course id (the same two settings as the instructor's DGM_EXCHANGE and\n"
            "# DGM_COURSE_ID). Put it in /etc/jupyter/ or ~/.jupyter/ as nbgrader_config.py.\n"
            "c = get_config()  # noqa: F821 - provided by nbgrader\n"
            f"c.Exchange.root = {str(path)!r}\n"
            f"c.CourseDirectory.course_id = {course_id(course)!r}\n")
    if student is not None:
        if not student or any(ch in student for ch in "*+/") or student != student.strip():
            raise ValueError(f"student {student!r} is not a usable nbgrader student id: no "
                             "'*', '+', '/' or surrounding spaces (use the roster's id)")
        text += ("# this student's id (their servers share one OS account, whose name nbgrader\n"
                 "# would otherwise file every submission under)\n"
                 f"c.CourseDirectory.student_id = {student!r}\n")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cfg = sub.add_parser("student-config",
                         help="print the nbgrader_config.py the students' nbgrader needs")
    cfg.add_argument("--exchange", default=os.environ.get(EXCHANGE_ENV, ""),
                     help=f"the shared exchange folder (default: ${EXCHANGE_ENV})")
    cfg.add_argument("--course-id", default=None,
                     help=f"the course id (default: ${COURSE_ID_ENV}, else {COURSE_ID})")
    cfg.add_argument("--student", default=None,
                     help="the student this file is for, where students share one OS account "
                          "(default: nbgrader takes the account's name)")
    args = parser.parse_args(argv)
    if not args.exchange:
        parser.error(f"name the shared exchange: --exchange /srv/nbgrader/exchange (or set "
                     f"{EXCHANGE_ENV})")
    try:
        print(student_config(args.exchange, args.course_id, args.student), end="")
    except ValueError as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
