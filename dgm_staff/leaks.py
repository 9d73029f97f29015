"""Does a student bundle hold an answer? Graded code compared by normalised syntax tree.

    python -m dgm_staff.leaks [BUNDLE]     # default build/student-bundle; prints what it found

*Graded definitions* are the functions and classes of ``solutions/`` whose solution-cell source
differs from what the release gives students (the stubs they fill in). Every definition in the
bundle (``.py`` files and notebook code cells, nested ones included) is compared with them after
normalisation: docstrings dropped, the definition's own name and every variable, argument and
imported alias renamed by order of first use (attribute names and constants kept, since renaming
those changes what the code computes). A renamed copy of an answer therefore normalises to the same
tree. Statements of an answer with at least :data:`MIN_STATEMENT_NODES` nodes are also looked for
on their own anywhere in the bundle, which catches an answer pasted into a longer function.

Syntax catches copies, not re-implementations. :func:`drop_in_answers` therefore also runs the
*hidden grading check* of every graded function and class on every public callable of the student
package whose signature fits: one that passes is a drop-in answer, whatever its source looks like.

Written answers: the right-hand sides of the answer cells' formulas (sympy expressions with at
least :data:`MIN_FORMULA_NODES` nodes) are looked for in the bundle's code the same way, and the
answer cells' variable names must not occur in the bundle's Python files or recorded values (the
student package's format checks never need them).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dgm.manifest import BEGIN_SOLUTION, END_SOLUTION, NOTEBOOKS
from dgm.runtime import OUTPUT_ENV, environ

ROOT = Path(__file__).resolve().parent.parent
MIN_STATEMENT_NODES = 18
MIN_FORMULA_NODES = 6


@dataclass(frozen=True)
class Leak:
    kind: str        # "definition", "statement", "formula", "answer name"
    answer: str      # notebook/grade id/name of the graded thing
    where: str       # file (and cell) in the bundle

    def __str__(self) -> str:
        return f"{self.kind} {self.answer} found in {self.where}"


# ------------------------------------------------------------------------ normalisation -------
class _Canon(ast.NodeTransformer):
    """Renames names by order of first use; drops docstrings, type comments and decorators'
    argument names stay as names (renamed too)."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _n(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _strip_doc(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    def visit_FunctionDef(self, node):
        node.name = self._n(node.name)
        node.returns = None
        self._strip_doc(node)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node.name = self._n(node.name)
        self._strip_doc(node)
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg = self._n(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        node.id = self._n(node.id)
        return node

    def visit_alias(self, node):
        node.asname = self._n(node.asname or node.name.split(".")[0])
        return node

    def visit_Global(self, node):
        node.names = [self._n(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global


def canonical(node: ast.AST) -> str:
    """The normalised dump of a definition, statement or expression."""
    import copy

    return ast.dump(_Canon().visit(copy.deepcopy(node)), annotate_fields=False,
                    include_attributes=False)


def size(node: ast.AST) -> int:
    return sum(1 for _ in ast.walk(node))


def _parse(source: str) -> ast.Module | None:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def definitions(tree: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def statements(tree: ast.AST) -> list[ast.stmt]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.stmt)
            and not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def expressions(tree: ast.AST) -> list[ast.expr]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.expr)]


# ------------------------------------------------------------------------ the answers ---------
def _solution_cells(solutions: Path):
    for path in sorted(solutions.glob("*/*.ipynb")):
        nb = nbformat.read(path, 4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("solution"):
                yield path.parent.name, meta["grade_id"], cell.source


def _student_version(source: str) -> str:
    """The cell as released: each solution region replaced by the stub nbgrader writes."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_SOLUTION:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError()")
        elif line.strip() == END_SOLUTION:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


@dataclass
class Answers:
    definitions: dict[str, str]          # canonical -> "notebook/grade_id/name"
    statements: dict[str, str]
    formulas: dict[str, str]
    names: dict[str, str]                # written-answer variable -> "notebook/grade_id"


def answers(solutions: Path = ROOT / "solutions") -> Answers:
    found = Answers({}, {}, {}, {})
    cells = list(_solution_cells(solutions))
    given_statements = set()           # code every student gets with the task (helpers, stubs)
    for _, _, source in cells:
        stub = _parse(_student_version(source))
        given_statements |= {canonical(s) for s in statements(stub)} if stub else set()
    for notebook, grade_id, source in cells:
        solved, stub = _parse(source), _parse(_student_version(source))
        if solved is None:
            continue
        given = {canonical(d) for d in definitions(stub)} if stub is not None else set()
        graded = [d for d in definitions(solved) if canonical(d) not in given]
        for d in graded:
            label = f"{notebook}/{grade_id}/{d.name}"
            found.definitions[canonical(d)] = label
            for s in statements(d):
                if size(s) >= MIN_STATEMENT_NODES and canonical(s) not in given_statements:
                    found.statements.setdefault(canonical(s), label)
        if not graded and not definitions(solved):       # a written-answer cell
            stub_names = {t.id for t in ast.walk(stub) if isinstance(t, ast.Name)} if stub \
                else set()
            for node in solved.body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name) and target.id in stub_names:
                            found.names[target.id] = f"{notebook}/{grade_id}"
                    if size(node.value) >= MIN_FORMULA_NODES:
                        found.formulas.setdefault(canonical(node.value),
                                                  f"{notebook}/{grade_id}")
    return found


# ------------------------------------------------------------------------ the bundle ----------
def bundle_sources(bundle: Path):
    """(where, source) for every Python file and notebook code cell of the bundle."""
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle)
        if path.suffix == ".py":
            yield str(rel), path.read_text(errors="replace")
        elif path.suffix == ".ipynb":
            nb = nbformat.read(path, 4)
            for k, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    yield f"{rel} cell {k}", cell.source


def _recorded_text(bundle: Path) -> str:
    """Keys and strings of the recorded values the bundle ships (``*.pt`` files)."""
    import torch

    parts = []
    for path in sorted(bundle.rglob("*.pt")):
        try:
            data = torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # noqa: BLE001 - not a mapping of recorded values
            continue
        parts.append(json.dumps(data, default=lambda o: "", sort_keys=True))
    return "\n".join(parts)


def find_leaks(bundle: Path, solutions: Path = ROOT / "solutions") -> list[Leak]:
    known = answers(solutions)
    leaks: list[Leak] = []
    for where, source in bundle_sources(bundle):
        tree = _parse(source)
        if tree is None:
            continue
        for d in definitions(tree):
            hit = known.definitions.get(canonical(d))
            if hit:
                leaks.append(Leak("definition", hit, where))
        for s in statements(tree):
            if size(s) >= MIN_STATEMENT_NODES and canonical(s) in known.statements:
                leaks.append(Leak("statement", known.statements[canonical(s)], where))
        for e in expressions(tree):
            if size(e) >= MIN_FORMULA_NODES and canonical(e) in known.formulas:
                leaks.append(Leak("formula", known.formulas[canonical(e)], where))
        if where.endswith(".py"):
            words = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
                n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                and isinstance(n.value, str)}
            for name in sorted(set(known.names) & words):
                leaks.append(Leak("answer name", f"{known.names[name]}/{name}", where))
    recorded = _recorded_text(bundle)
    for name, label in sorted(known.names.items()):
        if f'"{name}"' in recorded:
            leaks.append(Leak("answer name", f"{label}/{name}", "recorded values"))
    return sorted(set(leaks), key=str)


# ------------------------------------------------------------------------ behaviour -----------
def _public_callables(package: str):
    """(qualified name, object) for every function and class defined in the student package,
    its visible checks left out (they take a student's function, not inputs)."""
    import importlib
    import inspect
    import pkgutil

    pkg = importlib.import_module(package)
    names = [package] + [f"{package}.{m.name}" for m in pkgutil.walk_packages(pkg.__path__)
                         if not m.name.startswith(("checks", "_"))]
    seen = set()
    for modname in names:
        module = importlib.import_module(modname)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", "") != modname or id(obj) in seen:
                continue
            seen.add(id(obj))
            yield f"{modname}.{name}", obj


def _fits(candidate, n_args: int) -> bool:
    """Whether ``candidate`` can be called with ``n_args`` positional arguments."""
    import inspect

    try:
        params = list(inspect.signature(candidate).parameters.values())
    except (TypeError, ValueError):
        return False
    if params and params[0].name == "self":
        params = params[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    other_required = [p for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    return not other_required and len(required) <= n_args and (varargs or
                                                                len(positional) >= n_args)


def _graded_signatures(solutions: Path) -> dict[tuple[str, str], int]:
    """(notebook, graded name) -> how many positional arguments students' code is called with."""
    out = {}
    for notebook, _, source in _solution_cells(solutions):
        solved, stub = _parse(source), _parse(_student_version(source))
        given = {canonical(d) for d in definitions(stub)} if stub is not None else set()
        for d in definitions(solved) if solved else []:
            if canonical(d) in given or d not in solved.body:
                continue
            if isinstance(d, ast.ClassDef):
                init = next((f for f in d.body if isinstance(f, ast.FunctionDef)
                             and f.name == "__init__"), None)
                out[notebook, d.name] = len(init.args.args) - 1 if init else 0
            else:
                out[notebook, d.name] = len(d.args.args)
    return out


#: Notebook folder -> staff checks module.
CHECK_MODULES = {nb.id: nb.checks for nb in NOTEBOOKS}


class _ProcessStarted(RuntimeError):
    """A candidate tried to start a process (a launcher such as ``dgm.lab``): not an answer."""


@contextlib.contextmanager
def _no_processes():
    """While a candidate runs, starting a process raises instead: the student package's launcher
    (``dgm.lab``) would otherwise start a real JupyterLab and wait for it forever."""
    import subprocess

    def refuse(*args, **kwargs):
        raise _ProcessStarted("a candidate tried to start a process")

    saved = subprocess.Popen, os.system
    subprocess.Popen, os.system = refuse, refuse
    try:
        yield
    finally:
        subprocess.Popen, os.system = saved


def drop_in_answers(package: str = "dgm", solutions: Path = ROOT / "solutions") -> list[Leak]:
    """Public callables of ``package`` that pass the hidden grading check of a graded function or
    class (run in this process, outputs silenced, in a scratch working directory, with no process
    allowed to start)."""
    import importlib
    import io
    import tempfile
    import warnings

    leaks = []
    candidates = list(_public_callables(package))
    for (notebook, name), n_args in sorted(_graded_signatures(solutions).items()):
        staff = importlib.import_module(f"grader_tests.{CHECK_MODULES[notebook]}")
        check = getattr(staff, f"check_{name.lower()}", None)
        if check is None:
            continue
        for qualname, candidate in candidates:
            if not _fits(candidate, n_args):
                continue
            with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch), \
                    contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings(), \
                    _no_processes(), environ(**{OUTPUT_ENV: scratch}):
                warnings.simplefilter("ignore")
                try:
                    check(candidate, level="hidden")
                except BaseException as e:  # noqa: BLE001 - any failure: not an answer
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    continue
            leaks.append(Leak("drop-in", f"{notebook}/{name}", qualname))
    return leaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path,
                        default=ROOT / "build" / "student-bundle")
    args = parser.parse_args(argv)
    known = answers()
    leaks = find_leaks(args.bundle)
    if (args.bundle / "dgm").is_dir():
        sys.path.insert(0, str(args.bundle))
        leaks += drop_in_answers()
    print(f"graded definitions {len(known.definitions)}, statements {len(known.statements)}, "
          f"formulas {len(known.formulas)}, written-answer names {len(known.names)}")
    for leak in leaks:
        print(leak)
    print(f"{len(leaks)} leak(s) in {args.bundle}")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
