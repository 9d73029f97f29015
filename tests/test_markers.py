"""nbgrader's markers (solution, hidden tests, mark scheme) are spelled out in one place,
:mod:`dgm.manifest`; every other module and test reads them from there."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dgm import manifest

ROOT = Path(__file__).resolve().parent.parent
MARKERS = (manifest.BEGIN_SOLUTION, manifest.END_SOLUTION, manifest.BEGIN_HIDDEN,
           manifest.END_HIDDEN, manifest.BEGIN_MARK_SCHEME, manifest.END_MARK_SCHEME)
#: Where the markers are defined; everywhere else imports them.
HOME = "dgm/manifest.py"
#: Folders that hold no course code (generated, downloaded, or a student's own copies).
NOT_CODE = {".git", ".venv", "build", "outputs", "work", "data", "node_modules", "__pycache__"}


def python_files(root: Path) -> list[str]:
    """The repository's Python files, relative to ``root``: the ones git tracks or would track
    (ignored files left out), else every ``*.py`` outside the folders that hold no course code."""
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", "*.py"],
                                cwd=root, capture_output=True, text=True, timeout=60, check=True)
        names = listed.stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if not NOT_CODE & set(p.relative_to(root).parts)]
    return sorted(n for n in names if (root / n).is_file())


def spelled_out(root: Path) -> list[str]:
    """``path:line: marker`` for every marker written out in a Python file other than
    :data:`HOME`."""
    found = []
    for name in python_files(root):
        if Path(name).as_posix() == HOME:
            continue
        text = (root / name).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{name}:{number}: {m!r}" for m in MARKERS if m in line]
    return found


def test_the_markers_are_spelled_out_only_in_the_manifest():
    found = spelled_out(ROOT)
    assert not found, ("nbgrader's markers are written out here; import them from dgm.manifest "
                       "instead (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN, "
                       "BEGIN_MARK_SCHEME, END_MARK_SCHEME):\n  " + "\n  ".join(found))


def test_the_search_finds_a_marker_written_out(tmp_path):
    """The search above can fail: a copy of a marker in a module, a test or a string built
    line by line is found; the manifest itself, names of the markers and non-Python files are
    not."""
    (tmp_path / "dgm").mkdir()
    (tmp_path / HOME).write_text(f"BEGIN_SOLUTION = {manifest.BEGIN_SOLUTION!r}\n")
    (tmp_path / "copy.py").write_text(f"MARK = {manifest.BEGIN_SOLUTION!r}\n")
    (tmp_path / "test_cell.py").write_text(f'SOURCE = """x = 1\n{manifest.END_HIDDEN}\n"""\n')
    (tmp_path / "reads.py").write_text("from dgm.manifest import BEGIN_SOLUTION\n")
    (tmp_path / "notes.md").write_text(manifest.BEGIN_MARK_SCHEME + "\n")
    found = spelled_out(tmp_path)
    assert found == [f"copy.py:1: {manifest.BEGIN_SOLUTION!r}",
                     f"test_cell.py:2: {manifest.END_HIDDEN!r}"], found
