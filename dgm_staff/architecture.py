"""The course's import graph, read from the source with :mod:`ast`, and its drawing in the README.

The code stands on floors, and imports point down only: a package imports from the floors below
it, never from its own or a higher one (:data:`FLOORS`). The student package (``dgm``, with its
visible checks ``dgm.checks``) imports nothing from the staff's packages, so that it can be given
to students alone.

``python -m dgm_staff.architecture`` writes the package-level graph as a Mermaid drawing between
the README's markers (:data:`BEGIN`, :data:`END`); ``--check`` only says whether the drawing there
is the one the code gives (``tests/test_architecture.py`` does the same).

Every import counts, one deferred into a function as much as one at the top of a module: a
deferred import hides a cycle from Python, not from a reader who has to understand one module
before the other.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The packages, floor by floor from the bottom, with whom each serves. A package may import from
#: the floors below its own only.
FLOORS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("dgm", "students: the course library every notebook imports"),
     ("derivations", "staff: the written answers, derived with sympy")),
    (("dgm.checks", "students: the visible checks of the notebooks' test cells"),),
    (("grader_tests", "staff: the hidden checks the autograder runs"),),
    (("dgm_staff", "staff: release, autograding and its judge, class grading, hub, bundle, "
                   "benchmark"),),
    (("tests", "developers and CI: the test suite"),),
)
#: The packages whose modules make up the graph (a sub-package's modules belong to it).
PACKAGES: tuple[str, ...] = tuple(name for floor in FLOORS for name, _ in floor)
#: The student package: it imports no package outside it.
STUDENT = ("dgm", "dgm.checks")

BEGIN = "<!-- architecture:begin (python -m dgm_staff.architecture writes this) -->"
END = "<!-- architecture:end -->"


def _modules(package: Path) -> list[Path]:
    """The modules of a package folder: its ``*.py`` files in it and in its sub-packages (folders
    with an ``__init__.py``; a folder without one holds data, such as ``tests/corpus``)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        folders = path.relative_to(package).parents
        if all((package / f / "__init__.py").exists() for f in folders):
            found.append(path)
    return found


def _parse(path: Path) -> ast.AST:
    with warnings.catch_warnings():              # a module's own invalid escapes are not ours
        warnings.simplefilter("ignore")
        return ast.parse(path.read_text(encoding="utf-8"), str(path))


def module_graph(root: Path = ROOT, packages: tuple[str, ...] = ("dgm", "dgm_staff",
                                                                 "grader_tests")
                 ) -> dict[str, set[str]]:
    """``{module: modules of ``packages`` it imports}``, ``dgm.checks`` for a package's
    ``__init__``. Every import counts, at the top of a module or inside a function."""
    files = {}
    for package in packages:
        for path in _modules(root / package):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(_parse(path)):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            for target in targets:
                while target and target not in files:      # a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than one module
    (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def package_of(module: str, packages: tuple[str, ...] = PACKAGES) -> str:
    """The innermost of ``packages`` that ``module`` belongs to."""
    owners = [p for p in packages if module == p or module.startswith(p + ".")]
    if not owners:
        raise ValueError(f"{module} is in none of the packages {', '.join(packages)}: add its "
                         "package to FLOORS in dgm_staff/architecture.py")
    return max(owners, key=len)


def package_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES
                  ) -> dict[str, set[str]]:
    """``{package: the other packages its modules import}``, from :func:`module_graph`."""
    tops = tuple(sorted({p.split(".")[0] for p in packages}))
    graph: dict[str, set[str]] = {p: set() for p in packages}
    for module, imported in module_graph(root, tops).items():
        source = package_of(module, packages)
        graph[source] |= {package_of(m, packages) for m in imported} - {source}
    return graph


def _imported_by_name(tree: ast.AST) -> list[str]:
    """The module names, or their leading literal part, that ``importlib.import_module`` is given
    in ``tree`` (``f"grader_tests.{name}"`` gives ``grader_tests.``)."""
    names = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and getattr(
                node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.append(arg.value)
        elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0],
                                                                         ast.Constant):
            names.append(str(arg.values[0].value))
    return names


def by_name_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES
                  ) -> dict[str, set[str]]:
    """``{package: the other packages its modules load by name}``: with
    ``importlib.import_module`` and a name whose package is written out (the judge's
    ``grader_tests.<notebook>``), which no import statement shows."""
    graph: dict[str, set[str]] = {p: set() for p in packages}
    for package in {p.split(".")[0] for p in packages}:
        for path in _modules(root / package):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            source = package_of(module, packages)
            for name in _imported_by_name(_parse(path)):
                owners = [p for p in packages if name.rstrip(".") == p
                          or name.startswith(p + ".")]
                if owners:
                    graph[source] |= {max(owners, key=len)} - {source}
    return graph


def upward_imports(graph: dict[str, set[str]],
                   floors: tuple[tuple[tuple[str, str], ...], ...] = FLOORS) -> list[str]:
    """``"a -> b"`` for every import of a package from its own floor or a higher one."""
    level = {name: k for k, floor in enumerate(floors) for name, _ in floor}
    return [f"{a} -> {b}" for a in sorted(graph) for b in sorted(graph[a])
            if level[b] >= level[a]]


def _node(name: str) -> str:
    return name.replace(".", "_")


def mermaid(graph: dict[str, set[str]], by_name: dict[str, set[str]] | None = None,
            floors: tuple[tuple[tuple[str, str], ...], ...] = FLOORS) -> str:
    """The package graph as a Mermaid flowchart, top floor first, one box per floor; a package
    loaded by name only (``by_name``) gets a dashed arrow."""
    lines = ["```mermaid", "flowchart TD"]
    for k in reversed(range(len(floors))):
        lines.append(f'    subgraph floor{k + 1}["floor {k + 1}"]')
        for name, serves in floors[k]:
            lines.append(f'        {_node(name)}["<b>{name}</b><br/>{serves}"]')
        lines.append("    end")
    for a in sorted(graph):
        for b in sorted(graph[a]):
            lines.append(f"    {_node(a)} --> {_node(b)}")
    for a in sorted(by_name or {}):
        for b in sorted(by_name[a] - graph.get(a, set())):
            lines.append(f"    {_node(a)} -. by name .-> {_node(b)}")
    lines.append("```")
    return "\n".join(lines)


def drawing(root: Path = ROOT) -> str:
    """What stands between the README's markers: a line saying where it comes from, and the
    drawing."""
    return ("The import graph of the packages, generated from the code by "
            "`python -m dgm_staff.architecture`. An arrow: some module of one package imports "
            "from the other; dashed: it loads the other's modules by name "
            "(`importlib.import_module`), as the judge loads a notebook's hidden checks.\n\n"
            + mermaid(package_graph(root), by_name_graph(root)))


_BLOCK = re.compile(re.escape(BEGIN) + r"\n(.*?)\n?" + re.escape(END), re.S)


def readme_drawing(readme: Path) -> str:
    """The drawing now in ``readme``, between the markers."""
    found = _BLOCK.search(readme.read_text(encoding="utf-8"))
    if not found:
        raise ValueError(f"{readme} has no {BEGIN} … {END} markers: add them, on lines of "
                         "their own, where the architecture drawing should go")
    return found.group(1)


def write_readme(readme: Path, text: str) -> bool:
    """Put ``text`` between the markers of ``readme``; whether anything changed."""
    old = readme.read_text(encoding="utf-8")
    readme_drawing(readme)                                  # the markers are there
    new = _BLOCK.sub(lambda _: f"{BEGIN}\n{text}\n{END}", old)
    if new != old:
        readme.write_text(new, encoding="utf-8")
    return new != old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm_staff.architecture",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the README's drawing is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    text = drawing(ROOT)
    if args.check:
        if readme_drawing(args.readme) != text:
            print(f"{args.readme}: the architecture drawing is out of date; run "
                  "python -m dgm_staff.architecture", file=sys.stderr)
            return 1
        print(f"{args.readme}: the architecture drawing is up to date")
        return 0
    changed = write_readme(args.readme, text)
    print(f"{args.readme}: architecture drawing {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
