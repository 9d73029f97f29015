"""The course folder's set-up of nbgrader: a new gradebook is stamped with the revision nbgrader's
own ``alembic heads`` gives, read in this process instead of a subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from dgm_staff import course_folder


def test_the_head_read_here_is_the_one_alembic_prints():
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini("sqlite:////nonexistent/gradebook.db") as ini:
        printed = subprocess.check_output(
            [str(Path(sys.executable).parent / "alembic"), "-c", ini, "heads"], text=True)
    assert printed.split()[0] == course_folder.alembic_head()


def test_a_new_gradebook_is_stamped_with_the_head_without_a_subprocess(tmp_path, monkeypatch):
    course_folder.tools_on_path()

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a new gradebook started a subprocess: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    from nbgrader.api import Gradebook

    db = tmp_path / "gradebook.db"
    with Gradebook(f"sqlite:///{db}"):
        pass
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == \
            [(course_folder.alembic_head(),)]
