"""The two JupyterLab launchers, as command lines (``tests/test_browser.py`` starts them): the
students' :mod:`dgm.lab`, in the student package, and the instructors' formgrader,
:mod:`dgm_staff.formgrader`."""

from __future__ import annotations

import json

import pytest

from dgm import lab
from dgm_staff import formgrader
from dgm_staff.architecture import module_graph


@pytest.fixture
def course(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(lab, "quiet_lab_settings", lambda: calls.append("quiet"))
    (tmp_path / "notebooks" / "01_vae").mkdir(parents=True)
    (tmp_path / "notebooks" / "01_vae" / "01_vae.ipynb").write_text("release")
    return tmp_path, calls


def test_the_student_lab_serves_their_own_copy_on_loopback(course):
    root, calls = course
    cmd, folder = lab.command(port=9123, token="t0k", open_browser=False, root=root)
    assert folder == root / "work"
    assert (folder / "01_vae" / "01_vae.ipynb").read_text() == "release"
    assert {"--ServerApp.ip=127.0.0.1", "--ServerApp.port=9123", f"--ServerApp.root_dir={folder}",
            "--ServerApp.default_url=/lab", "--IdentityProvider.token=t0k",
            "--no-browser"} <= set(cmd)
    assert calls == ["quiet"]
    (folder / "01_vae" / "01_vae.ipynb").write_text("my answers")
    (root / "notebooks" / "01_vae" / "01_vae.ipynb").write_text("a newer release")
    lab.command(root=root)
    assert (folder / "01_vae" / "01_vae.ipynb").read_text() == "my answers"   # never overwritten


def test_the_instructors_lab_opens_the_formgrader_on_the_course_folder(course):
    root, _ = course
    cmd, folder = formgrader.command(port=9124, root=root)
    assert folder == root and (root / "exchange").is_dir()
    assert "--ServerApp.default_url=/formgrader" in cmd and "--ServerApp.ip=127.0.0.1" in cmd
    assert "--no-browser" not in cmd and not (root / "work").exists()


def test_the_quiet_settings_keep_the_environments_other_overrides(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    key = "@jupyterlab/apputils-extension:notification"
    path.write_text(json.dumps({"other": {"a": 1}, key: {"doNotDisturbMode": True}}))
    assert lab.quiet_lab_settings(tmp_path) == path
    assert json.loads(path.read_text()) == {
        "other": {"a": 1},
        key: {"doNotDisturbMode": True, "fetchNews": "false", "checkForUpdates": False}}


def test_the_student_launcher_imports_no_staff_code():
    assert module_graph()["dgm.lab"] == {"dgm.runtime"}
    assert "dgm.lab" in module_graph()["dgm_staff.formgrader"]
