"""Mutation test of the graders (staff only).

For every graded function of a notebook, the reference solution cell is parsed with :mod:`ast`,
one standard mutation is applied at one site, and the mutant is executed in a namespace that holds
the reference of the notebook's other functions. The hidden check (which includes the visible one)
is then run on it: a mutant is *killed* when the check raises (CheckFailed or any other
exception, a timeout included), and *survives* when the check accepts it.

Mutation kinds (one site per mutant):

``sign``          flip one binary ``+``/``-``, or drop one unary minus
``sum_mean``      ``.sum(`` <-> ``.mean(``
``detach``        drop one ``.detach()`` call
``off_by_one``    one integer constant ``c`` -> ``c + 1``
``const_return``  a return value -> ``torch.zeros(())``
``nan_return``    a return value -> ``value * float('nan')``
``dropped_term``  one operand of a top-level ``+``/``-`` of a return expression -> ``0``

Usage::

    python -m dgm_staff.mutants [--notebook 01_vae ...] [--function NAME ...] [--out FILE.md]

Surviving mutants are listed with their diff so that a person can say whether they are
equivalent (e.g. a sign flip inside a square) or reveal a weak check.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import importlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dgm.runtime import BUDGET_ENV

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault(BUDGET_ENV, "smoke")

KINDS = ("sign", "sum_mean", "detach", "off_by_one", "const_return", "nan_return", "dropped_term")
CHECK_LIMIT_S = 20.0


@dataclass(frozen=True)
class Notebook:
    grader: str                      # module of grader_tests
    cells: tuple[str, ...]           # solution cells executed for the reference namespace
    functions: tuple[str, ...]       # graded functions that are mutated
    cell_of: dict = field(default_factory=dict)   # function -> grade id, where they differ
    torch_distributions: tuple[str, ...] = ()      # names of torch.distributions to provide


NOTEBOOKS: dict[str, Notebook] = {
    "01_vae": Notebook("vae", ("decoder", "logpdf_diagonal_gaussian", "logpdf_bernoulli",
                               "sample_diagonal_gaussian", "sample_bernoulli", "elbo_loss",
                               "sample_data_space", "encode_means", "interpolation_path"),
                       ("logpdf_diagonal_gaussian", "logpdf_bernoulli", "sample_diagonal_gaussian",
                        "sample_bernoulli", "elbo_loss", "sample_data_space", "encode_means",
                        "interpolation_path")),
    "02_beta_vae": Notebook("beta_vae", ("kl_diagonal_gaussian", "beta_vae_loss",
                                         "log_aggregate_posterior"),
                            ("kl_diagonal_gaussian", "beta_vae_loss", "log_aggregate_posterior"),
                            torch_distributions=("Normal",)),
    "03_echo": Notebook("echo", ("echo_sample", "echo_rate"), ("echo_sample", "echo_rate")),
    "04_gan": Notebook("gan", ("sample_z", "DNet", "GNet", "d_loss", "g_loss"),
                       ("sample_z", "d_loss", "g_loss")),
    "05_wgan": Notebook("wgan", ("critic_loss", "generator_loss", "gradient_penalty"),
                        ("critic_loss", "generator_loss", "gradient_penalty")),
    "06_inversion": Notebook("inversion", ("invert", "path_energy", "find_path"),
                             ("invert", "path_energy", "find_path")),
}


# ------------------------------------------------------------------------ reference -----------
def solution_cells(assignment: str) -> dict[str, str]:
    """Source of every nbgrader solution cell of a solution notebook, by grade id."""
    import nbformat
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def reference_namespace(assignment: str) -> dict:
    import torch
    from torch import nn
    spec = NOTEBOOKS[assignment]
    ns = {"torch": torch, "nn": nn}
    for name in spec.torch_distributions:
        ns[name] = getattr(torch.distributions, name)
    for gid, source in solution_cells(assignment).items():
        if gid in spec.cells:
            exec(compile(source, f"<{assignment}:{gid}>", "exec"), ns)  # noqa: S102
    return ns


def function_def(assignment: str, name: str) -> ast.FunctionDef:
    spec = NOTEBOOKS[assignment]
    source = solution_cells(assignment)[spec.cell_of.get(name, name)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise LookupError(f"{assignment}: no definition of {name}")


# ------------------------------------------------------------------------ mutations -----------
def _zero() -> ast.expr:
    return ast.Constant(0)


def _torch_zeros() -> ast.expr:
    return ast.parse("torch.zeros(())", mode="eval").body


def _times_nan(value: ast.expr) -> ast.expr:
    return ast.BinOp(value, ast.Mult(), ast.parse("float('nan')", mode="eval").body)


def _additive_operands(expr: ast.expr):
    """(BinOp, side) for each operand of a top-level +/- of a return expression: descends
    through +/- chains, method-call receivers ``(a + b).mean()`` and tuple elements."""
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Sub)):
        for side in ("left", "right"):
            yield expr, side
            yield from _additive_operands(getattr(expr, side))
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        yield from _additive_operands(expr.func.value)
    elif isinstance(expr, ast.Tuple):
        for elt in expr.elts:
            yield from _additive_operands(elt)


def _body_nodes(fn: ast.FunctionDef):
    """Nodes of the body, without the docstring and without nested function definitions."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _parents(fn: ast.FunctionDef) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(fn) for child in ast.iter_child_nodes(node)}


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise LookupError("node not found in its parent")


def _sites(fn: ast.FunctionDef):
    """(kind, apply) for every mutation site of fn; apply(node, parents) mutates a *copy*'s node
    found at the same position (nodes are addressed by their index in _body_nodes)."""
    nodes = list(_body_nodes(fn))
    for i, node in enumerate(nodes):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            yield "sign", i, None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield "sign", i, None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("sum", "mean"):
                yield "sum_mean", i, None
            if node.func.attr == "detach" and not node.args and not node.keywords:
                yield "detach", i, None
        if isinstance(node, ast.Constant) and type(node.value) is int:
            yield "off_by_one", i, None
        if isinstance(node, ast.Return) and node.value is not None:
            yield "const_return", i, None
            yield "nan_return", i, None
            for j, _ in enumerate(_additive_operands(node.value)):
                yield "dropped_term", i, j


def _apply(fn: ast.FunctionDef, kind: str, index: int, sub) -> ast.FunctionDef:
    fn = copy.deepcopy(fn)
    node = list(_body_nodes(fn))[index]
    parents = _parents(fn)
    if kind == "sign":
        if isinstance(node, ast.BinOp):
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        else:
            _replace(parents[id(node)], node, node.operand)
    elif kind == "sum_mean":
        node.func.attr = "mean" if node.func.attr == "sum" else "sum"
    elif kind == "detach":
        _replace(parents[id(node)], node, node.func.value)
    elif kind == "off_by_one":
        node.value += 1
    elif kind == "const_return":
        node.value = _torch_zeros()
    elif kind == "nan_return":
        node.value = _times_nan(node.value)
    elif kind == "dropped_term":
        binop, side = list(_additive_operands(node.value))[sub]
        setattr(binop, side, _zero())
    else:
        raise ValueError(kind)
    return ast.fix_missing_locations(fn)


@dataclass
class Mutant:
    notebook: str
    function: str
    kind: str
    site: int
    diff: str            # "old line  ->  new line"
    source: str          # the mutated function's source
    status: str = ""     # killed | survived | error
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{self.notebook}:{self.function}#{self.kind}{self.site}"


def _diff(old: str, new: str) -> str:
    lines = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                   lineterm="", n=0)
             if line[:1] in "-+" and not line.startswith(("---", "+++"))]
    old_lines = [line[1:].strip() for line in lines if line[0] == "-"]
    new_lines = [line[1:].strip() for line in lines if line[0] == "+"]
    return " | ".join(old_lines) + "  ->  " + " | ".join(new_lines)


def generate(notebook: str, function: str, kinds=KINDS) -> list[Mutant]:
    fn = function_def(notebook, function)
    original = ast.unparse(fn)
    mutants, seen, counter = [], {original}, {}
    for kind, index, sub in _sites(fn):
        if kind not in kinds:
            continue
        source = ast.unparse(_apply(fn, kind, index, sub))
        if source in seen:                     # e.g. two sites giving the same program
            continue
        seen.add(source)
        counter[kind] = counter.get(kind, 0) + 1
        mutants.append(Mutant(notebook, function, kind, counter[kind], _diff(original, source),
                              source))
    return mutants


# ------------------------------------------------------------------------ running -------------
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout("check exceeded its time limit")


def _run_check(check, fn, limit_s: float) -> tuple[bool, str, float]:
    """(passed, reason, seconds) of check(fn, level="hidden"), bounded by limit_s."""
    import torch
    torch.manual_seed(0)
    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limit_s)
    start = time.perf_counter()
    try:
        check(fn, level="hidden")
        return True, "", time.perf_counter() - start
    except _Timeout as error:
        return False, f"timeout: {error}", time.perf_counter() - start
    except Exception as error:  # noqa: BLE001 - any exception kills the mutant
        first = (str(error).strip().splitlines() or [""])[0]
        return False, f"{type(error).__name__}: {first[:120]}", time.perf_counter() - start
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _check_for(notebook: str, function: str):
    module = importlib.import_module(f"grader_tests.{NOTEBOOKS[notebook].grader}")
    return getattr(module, f"check_{function}")


def run_function(notebook: str, function: str, kinds=KINDS, limit_s: float = CHECK_LIMIT_S,
                 log=None) -> tuple[list[Mutant], str]:
    """Mutants of one function with their status, and '' or why the function was skipped."""
    check = _check_for(notebook, function)
    base = reference_namespace(notebook)
    passed, reason, seconds = _run_check(check, base[function], limit_s)
    if not passed:
        why = "reference check too slow" if reason.startswith("timeout") else "reference fails"
        return [], f"{why} ({reason}, {seconds:.1f} s)"
    mutant_limit = min(limit_s, max(5.0, 4 * seconds + 2))
    mutants = generate(notebook, function, kinds)
    for mutant in mutants:
        ns = dict(base)
        try:
            exec(compile(mutant.source, f"<mutant {mutant.label}>", "exec"), ns)  # noqa: S102
            fn = ns[function]
        except Exception as error:  # noqa: BLE001
            mutant.status, mutant.reason = "killed", f"does not load: {error}"
            continue
        passed, reason, _ = _run_check(check, fn, mutant_limit)
        mutant.status = "survived" if passed else "killed"
        mutant.reason = reason
        if log:
            log(f"  {mutant.status:8s} {mutant.label}: {mutant.diff}"
                + (f"\n           [{mutant.reason}]" if mutant.reason else ""))
    return mutants, ""


@dataclass
class Report:
    mutants: list[Mutant] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)

    def rows(self, notebooks):
        for nb in notebooks:
            ms = [m for m in self.mutants if m.notebook == nb]
            killed = sum(m.status == "killed" for m in ms)
            score = f"{100 * killed / len(ms):.0f}%" if ms else "-"
            yield nb, len(ms), killed, len(ms) - killed, score

    def markdown(self, notebooks) -> str:
        out = ["# Mutation test of the graders", "",
               "Generated by `python -m dgm_staff.mutants`: one `ast` mutation per mutant of each "
               "graded reference function, run against the hidden check.", "",
               "| notebook | mutants | killed | survived | score |",
               "|---|---|---|---|---|"]
        for nb, n, k, s, score in self.rows(notebooks):
            out.append(f"| {nb} | {n} | {k} | {s} | {score} |")
        out += ["", "## Survivors", ""]
        survivors = [m for m in self.mutants if m.status == "survived"]
        out += [f"- `{m.label}`: `{m.diff}`" for m in survivors] or ["(none)"]
        if self.skipped:
            out += ["", "## Skipped", ""]
            out += [f"- `{nb}:{fn}`: {why}" for nb, fn, why in self.skipped]
        return "\n".join(out) + "\n"


def run(notebooks, functions=None, kinds=KINDS, limit_s: float = CHECK_LIMIT_S, log=None) -> Report:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    report = Report()
    for nb in notebooks:
        for function in NOTEBOOKS[nb].functions:
            if functions and function not in functions:
                continue
            if log:
                log(f"{nb}:{function}")
            mutants, skipped = run_function(nb, function, kinds, limit_s, log)
            report.mutants += mutants
            if skipped:
                report.skipped.append((nb, function, skipped))
                if log:
                    log(f"  skipped: {skipped}")
    return report


#: The heading of the hand-written part of the report, kept when the table is written again.
DIAGNOSIS = "## Diagnosis of the survivors"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", nargs="+", choices=sorted(NOTEBOOKS), default=None)
    parser.add_argument("--function", nargs="+", default=None)
    parser.add_argument("--kind", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--limit", type=float, default=CHECK_LIMIT_S,
                        help="seconds allowed per check call (default 20)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as markdown")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    notebooks = args.notebook or list(NOTEBOOKS)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    report = run(notebooks, args.function, tuple(args.kind), args.limit, log)
    text = report.markdown(notebooks)
    print(text)
    if args.out:
        # keep the hand-written diagnosis of the survivors that follows the generated part
        kept = ""
        if args.out.exists() and DIAGNOSIS in args.out.read_text():
            kept = DIAGNOSIS + args.out.read_text().split(DIAGNOSIS, 1)[1]
        args.out.write_text(text + ("\n" + kept if kept else ""))
        from dgm_staff.bench.report import update_mutation_score
        update_mutation_score(args.out.parent / "REPORT.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
