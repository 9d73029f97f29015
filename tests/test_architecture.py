"""The import graph of the course's code, read from the source with :mod:`ast`
(:mod:`dgm_staff.architecture`): no import cycle, imports pointing down the floors only, a student
package that imports no staff code, the README's drawing of the graph up to date, and test files
that share code through ``tests.helpers`` only.

Every import counts, one deferred into a function as much as one at the top of a module: a deferred
import hides a cycle from Python, not from a reader who has to understand one module before the
other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dgm_staff import architecture
from dgm_staff.architecture import cycles, module_graph

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dgm", "dgm_staff", "grader_tests")

def test_the_student_package_has_no_import_cycle():
    graph = module_graph(packages=("dgm",))
    assert "dgm.gan_training" in graph and "dgm.artifacts" in graph
    assert cycles(graph) == [], cycles(graph)


def test_no_import_cycle_in_any_package():
    graph = module_graph()
    assert "dgm_staff.cluster" in graph and "grader_tests.randomised" in graph
    found = [sorted(c) for c in cycles(graph)]
    assert not found, (f"import cycles: {found}; split a module by job, or pass what the lower "
                       "module needs as a value, so that imports go one way")


def test_a_cycle_through_a_deferred_import_is_found(tmp_path):
    # dgm's old cycle: artifacts read a generator's provenance with an import inside a function
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "artifacts.py").write_text("def read(path):\n    from pkg.gan import info\n"
                                          "    return info(path)\n")
    (package / "gan.py").write_text("from pkg.artifacts import read\n\ninfo = read\n")
    (package / "data.py").write_text("from . import artifacts\n")
    graph = module_graph(tmp_path, ("pkg",))
    assert graph["pkg.data"] == {"pkg.artifacts"}            # a relative import counts
    assert cycles(graph) == [["pkg.artifacts", "pkg.gan"]]
    (package / "artifacts.py").write_text("def read(path):\n    return path\n")
    assert cycles(module_graph(tmp_path, ("pkg",))) == []


# ------------------------------------------------------------------------ floors and drawing --
def _both_graphs(root: Path = ROOT) -> dict[str, set[str]]:
    by_name = architecture.by_name_graph(root)
    return {p: imported | by_name[p] for p, imported in architecture.package_graph(root).items()}


def test_imports_point_down_the_floors():
    graph = _both_graphs()
    assert graph["grader_tests"] >= {"dgm", "dgm.checks", "derivations"}
    assert "grader_tests" in graph["dgm_staff"]                   # the judge, by name
    up = architecture.upward_imports(graph)
    assert not up, (f"imports from the same or a higher floor: {up}; move the code it needs to a "
                    "lower floor, or the importing code up (FLOORS in dgm_staff/architecture.py)")


def test_the_student_package_imports_no_staff_code():
    staff = {p for p in architecture.PACKAGES if p not in architecture.STUDENT}
    graph = _both_graphs()
    wrong = {p: sorted(graph[p] & staff) for p in architecture.STUDENT if graph[p] & staff}
    assert not wrong, (f"the student package imports staff code: {wrong}; students receive dgm "
                       "alone, so move what it needs into dgm")


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in architecture.PACKAGES:
        folder = tmp_path.joinpath(*package.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").touch()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_student_module_that_uses_staff_code_is_found(tmp_path):
    root = _plant(tmp_path, {
        "dgm/plots.py": "def f():\n    from dgm_staff.course import api\n",          # deferred
        "dgm/checks/vae.py": "import importlib\n"
                             "M = importlib.import_module(f'grader_tests.{1}')\n",  # by name
        "grader_tests/vae.py": "from dgm.checks import vae\nfrom derivations import vae as d\n"})
    graph = {p: imported | architecture.by_name_graph(root)[p]
             for p, imported in architecture.package_graph(root).items()}
    assert graph["dgm"] == {"dgm_staff"} and graph["dgm.checks"] == {"grader_tests"}
    assert architecture.upward_imports(graph) == ["dgm -> dgm_staff",
                                                  "dgm.checks -> grader_tests"]
    (root / "dgm/plots.py").write_text("import torch\n")
    (root / "dgm/checks/vae.py").write_text("from dgm import plots\n")
    graph = architecture.package_graph(root)
    assert graph["dgm.checks"] == {"dgm"} and architecture.upward_imports(graph) == []


def test_the_readme_drawing_is_the_one_the_code_gives():
    assert architecture.readme_drawing(ROOT / "README.md") == architecture.drawing(ROOT), (
        "README.md's architecture drawing is out of date: run python -m dgm_staff.architecture")


def test_a_stale_drawing_is_found_and_rewritten(tmp_path, capsys):
    root = _plant(tmp_path, {"dgm/data.py": "import torch\n",
                             "grader_tests/vae.py": "from dgm import data\n"})
    readme = tmp_path / "README.md"
    readme.write_text(f"# Course\n\n{architecture.BEGIN}\nold drawing\n{architecture.END}\n\nEnd.\n")
    drawn = architecture.drawing(root)
    assert "grader_tests --> dgm" in drawn and "dgm_checks --> dgm" not in drawn
    assert architecture.readme_drawing(readme) != drawn
    assert architecture.write_readme(readme, drawn)
    assert architecture.readme_drawing(readme) == drawn
    assert readme.read_text().startswith("# Course\n\n") and readme.read_text().endswith("\n\nEnd.\n")
    assert not architecture.write_readme(readme, drawn)                     # nothing to change
    readme.write_text("# Course without markers\n")
    with pytest.raises(ValueError, match="architecture:begin"):
        architecture.readme_drawing(readme)


def test_check_option_says_whether_the_readme_is_up_to_date(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"{architecture.BEGIN}\nold\n{architecture.END}\n")
    assert architecture.main(["--readme", str(readme), "--check"]) == 1
    assert "out of date; run python -m dgm_staff.architecture" in capsys.readouterr().err
    assert architecture.main(["--readme", str(readme)]) == 0
    assert architecture.main(["--readme", str(readme), "--check"]) == 0


def _test_modules_imported(source: str) -> set[str]:
    """The ``tests.test_*`` modules a test file imports (shared code belongs in tests.helpers)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found |= {n for n in names if n.startswith("tests.test_")}
    return found


def test_test_files_share_code_through_the_helpers_module_only():
    wrong = {p.name: sorted(_test_modules_imported(p.read_text()))
             for p in sorted((ROOT / "tests").glob("*.py"))
             if _test_modules_imported(p.read_text())}
    assert not wrong, (f"test files that import another test file: {wrong}; move what they share "
                       "to tests/helpers.py")


def test_an_import_from_another_test_file_is_found():
    source = "import os\nfrom tests.helpers import fails\nfrom tests.test_release import x\n" \
             "def f():\n    import tests.test_browser\n"
    assert _test_modules_imported(source) == {"tests.test_release", "tests.test_browser"}
