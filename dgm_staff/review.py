"""A static review of a submission: constructs a person may want to look at.

Grading does not depend on it. Every graded test cell is decided by the judge
(:mod:`dgm_staff.judge`) in the grader's own process, so nothing a submission changes in its kernel
(checks, ``torch``, builtins, the names the tests use) can change a score, and the kernel runs in a
sandbox that hides the grader's files (:mod:`dgm_staff.sandbox`). This scan only *reports* what no
exercise needs (changing attributes of the course's or the libraries' modules, ``setattr``/``exec``
and friends, interpreter internals, processes) in the class report, for academic-integrity review.
No points are lost for a finding. Writing files is not reported: the sandboxed kernel can only
write to its own folder, and saving a checkpoint or a figure is ordinary.

Ordinary habits are not reported: IPython magics and ``!`` shell lines, ``import os``/``sys``/
``pathlib``, ``plt.rcParams[...] = ...``, ``os.environ[...]``, extra cells and helpers.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nbgrader import utils

#: Modules and helpers a submission must not modify (attribute assignment or deletion).
PROTECTED_ROOTS = frozenset({
    "checks", "grader_tests", "dgm_staff", "torch", "np", "numpy", "nn", "F", "sp", "sympy",
    "builtins", "math", "dgm", "nbgrader", "importlib", "random", "warnings",
})
#: Calls that reach around Python's normal name binding, evaluate code, or change attributes.
FORBIDDEN_CALLS = frozenset({"setattr", "delattr", "exec", "eval", "compile", "__import__",
                             "globals", "vars", "locals", "get_ipython", "breakpoint"})
#: Modules a solution has no reason to import (file system, processes, interpreter internals).
FORBIDDEN_MODULES = frozenset({"subprocess", "builtins", "ctypes", "gc", "importlib", "inspect",
                               "signal", "socket", "multiprocessing", "marshal", "unittest",
                               "pytest", "grader_tests", "dgm_staff", "derivations", "nbgrader",
                               "atexit"})
#: Dunder attributes ordinary code uses; every other ``__x__`` attribute is reported.
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__", "__len__", "__getitem__",
                             "__call__", "__repr__", "__iter__", "__next__", "__enter__",
                             "__exit__", "__version__", "__new__"})
#: Libraries whose names a solution may import again (``from torch import nn`` rebinds ``nn`` to
#: the real module, which changes nothing).
SAFE_LIBRARIES = frozenset({"torch", "numpy", "sympy", "math", "matplotlib", "dgm", "scipy",
                            "tqdm", "functools", "itertools", "collections", "dataclasses",
                            "typing", "IPython"})

@dataclass(frozen=True)
class Finding:
    cell: str      # grade id, or "cell N" for a cell without nbgrader metadata
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.cell}, line {self.line}: {self.what}"


def _source(cell) -> str:
    """The cell as Python, with IPython syntax (magics, ``!shell``, ``%%cell`` magics) left out:
    they are ordinary notebook habits, not something to review."""
    text = cell.source
    if text.lstrip().startswith("%%"):
        return ""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or re.match(r"^[\w.]+\s*=\s*[!%]", stripped):
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _target_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _target_names(t)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


class _Scanner(ast.NodeVisitor):
    def __init__(self, protected_names: set[str]):
        self.protected_names = protected_names
        self.roots = set(PROTECTED_ROOTS)   # grows with aliases: `t = torch`, `import torch as t`
        self.found: list[tuple[int, str]] = []
        self.depth = 0            # > 0 inside a function or class body
        self.called: set[int] = set()   # Name nodes that are the function of a call

    def report(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    # -- bindings --------------------------------------------------------------------------
    def _check_targets(self, node, targets):
        for target in targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                root = _root(target)
                if root in self.roots:
                    self.report(node, f"modifies `{ast.unparse(target)}` (part of {root})")
            elif self.depth == 0:
                for name in _target_names(target):
                    if name in self.protected_names:
                        self.report(node, f"rebinds `{name}`, which the tests use")

    def visit_Assign(self, node):
        self._check_targets(node, node.targets)
        if isinstance(node.value, (ast.Name, ast.Attribute)) and _root(node.value) in self.roots:
            for target in node.targets:              # an alias of a protected module
                self.roots |= set(_target_names(target))
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node):
        self._check_targets(node, node.targets)
        self.generic_visit(node)

    def visit_For(self, node):
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_With(self, node):
        self._check_targets(node, [i.optional_vars for i in node.items if i.optional_vars])
        self.generic_visit(node)

    def visit_Global(self, node):
        self.report(node, "declares `global` names")

    def _scope(self, node):
        if self.depth == 0 and node.name in self.protected_names:
            self.report(node, f"redefines `{node.name}`, which the tests use")
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        self.depth += 1
        for child in node.body:
            self.visit(child)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    # -- imports ---------------------------------------------------------------------------
    def visit_Import(self, node):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top in FORBIDDEN_MODULES:
                self.report(node, f"imports `{alias.name}`")
            if top in self.roots:
                self.roots.add(alias.asname or top)
            bound = alias.asname or top
            if self.depth == 0 and bound in self.protected_names and top not in SAFE_LIBRARIES:
                self.report(node, f"rebinds `{bound}`, which the tests use")

    def visit_ImportFrom(self, node):
        top = (node.module or "").split(".")[0]
        if top in FORBIDDEN_MODULES or node.level:
            self.report(node, f"imports from `{node.module or '.'}`")
        if top in self.roots:
            self.roots |= {alias.asname or alias.name for alias in node.names}
        for alias in node.names:
            bound = alias.asname or alias.name
            if self.depth == 0 and bound in self.protected_names and top not in SAFE_LIBRARIES:
                self.report(node, f"rebinds `{bound}`, which the tests use")

    # -- calls and attributes --------------------------------------------------------------
    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
            self.report(node, f"calls `{func.id}`")
            self.called.add(id(func))
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(arg, ast.Name) and arg.id in ("checks", "grader_tests", "dgm_staff"):
                self.report(node, f"passes `{arg.id}` to `{ast.unparse(func)}`")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr.startswith("__") and node.attr.endswith("__") and \
                node.attr not in ALLOWED_DUNDERS:
            self.report(node, f"uses the attribute `{node.attr}`")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in ("__builtins__", "__import__", "__loader__", "__spec__"):
            self.report(node, f"uses `{node.id}`")
        elif node.id in FORBIDDEN_CALLS and isinstance(node.ctx, ast.Load) and \
                id(node) not in self.called:
            self.report(node, f"uses `{node.id}` (an alias of it can do what it does)")


def _names(source: str, ctx) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _symbol_names(tree: ast.AST) -> set[str]:
    """Names bound to ``sp.symbols(...)`` / ``sp.Symbol(...)``: rebinding one cannot change a
    check (answers are compared with the derivations' own symbols, matched by name)."""
    def is_symbol_call(value) -> bool:
        if not isinstance(value, ast.Call):
            return False
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("symbols", "Symbol")

    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and (
                is_symbol_call(node.value) or (isinstance(node.value, ast.Tuple) and all(
                    is_symbol_call(v) for v in node.value.elts))):
            for target in node.targets:
                out |= set(_target_names(target))
    return out


def protected_names(nb) -> set[str]:
    """Names the test cells read that locked (instructor) cells define: ``checks``, ``sp``,
    ``cfg``... A student cell that rebinds one changes what a test sees. Sympy symbols are left
    out (see :func:`_symbol_names`)."""
    used, defined, symbols = set(), set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        src = _source(cell)
        if utils.is_grade(cell) and not utils.is_solution(cell):
            used |= _names(src, ast.Load)
        elif utils.is_locked(cell) and not utils.is_solution(cell):
            defined |= _names(src, ast.Store)
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            symbols |= _symbol_names(tree)
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    defined |= {(a.asname or a.name.split(".")[0]) for a in node.names}
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    defined.add(node.name)
    return ((used & defined) - symbols) | {"checks"}


def student_cells(nb):
    """Code cells a student may edit: everything except locked or test cells that carry a grade
    id. (nbgrader's sanitising step removes the grade id of a cell unknown to the gradebook, so a
    cell a student marked "locked" by hand is still scanned, and restores the source of every
    known locked cell.)"""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        instructor = bool(meta.get("grade_id")) and not meta.get("solution") and bool(
            meta.get("locked") or meta.get("grade"))
        if not instructor:
            yield meta.get("grade_id") or f"cell {index + 1}", cell


def scan(nb, names: set[str] | None = None) -> list[Finding]:
    """Every tampering construct in the cells a student can edit (see the module docstring).

    ``names``: the protected names (default: computed from ``nb``, whose locked cells the grader
    restores before this scan runs).
    """
    names = protected_names(nb) if names is None else names
    findings = []
    scanner = _Scanner(names)            # one scanner: an alias made in one cell is seen later
    for gid, cell in student_cells(nb):
        src = _source(cell)
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue                   # it will fail when executed; nothing to tamper with
        scanner.found = []
        scanner.visit(tree)
        findings += [Finding(gid, line, what) for line, what in scanner.found]
    return findings
