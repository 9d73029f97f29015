"""No written answer's value is given away in what students receive: the release's markdown and
the bundle's code (``dgm/``).

The key is read from the solution notebooks' answer cells (the values the hidden checks of
``grader_tests`` accept, and ``derivations`` verifies); each numeric value is searched in its
usual spellings (``sp.log(2)``, ``log 2``, ``ln 2``, ``0.693``, ``0.6931``, ``sp.Rational(1, 2)``,
``1/2``, ``0.5``, ``sp.oo``, ``+\\infty``, ...). Small integers (0 to 10) are not searched: they
are shapes, counts and indices all over the text, and no spelling of them is specific.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import sympy as sp

from dgm.manifest import BEGIN_SOLUTION, END_SOLUTION

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())

#: Text that legitimately holds a spelling of some answer, blanked out before the search:
#: (where, exact text, why).
ALLOWED = [
    ("05_wgan", "U[0.5, 1.5]", "the definition of P2 in the question, not an answer"),
    ("05_wgan", "U(0,1)", "notation"),
    ("04_gan", r"2\,\mathrm{JSD}(p_{\text{data}}\,\|\,p_G) - \log 4",
     "(c) asks the student to show this identity (the assignment's own wording); the graded "
     "value is its minimum, which the text does not state"),
    ("01_vae", r"\log p_\theta(x)", "notation"),
    ("05_wgan", "(0.5, 0.9)", "Adam's betas of the assignment's settings"),
    ("05_wgan", "the supremum is $+\\infty$",
     "(c) option A: the unconstrained Kantorovich-Rubinstein supremum, not a KL"),
]
#: Bundle modules that name infinity because they read what students type (every spelling of +oo
#: a check accepts); they name no answer.
INFINITY_READERS = {"dgm/checks/written_answers.py", "dgm/checks/common.py"}
INFINITY = {"sp.oo", "+\\infty", "=\\infty", "+∞", "=∞", "float('inf')", "math.inf", "np.inf"}


def _short(spelling: str) -> bool:
    """1/2, 0.5, 0.25: constants of ordinary code (a half, a probability); in the bundle's code
    only the longer spellings (0.693, sp.log(2), sp.Rational(1, 2)) are searched."""
    return bool(re.fullmatch(r"-?\d+/\d+|-?\d+\.\d{1,2}", spelling))


def _symbols(setup: str) -> dict:
    """The sympy symbols the set-up cell defines (its other lines are not run)."""
    env = {"sp": sp}
    for node in ast.parse(setup).body:
        if isinstance(node, ast.Assign) and "sp." in ast.unparse(node.value):
            exec(compile(ast.Module([node], []), "<setup>", "exec"), env)
    return env


def answer_key(name: str) -> dict[str, object]:
    """``{variable: value}`` of the notebook's written answers (its answer cells' solutions)."""
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    setup = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    env = _symbols(setup[0].source)
    key = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution") or "def " in cell.source \
                or "class " in cell.source or BEGIN_SOLUTION not in cell.source:
            continue
        body = cell.source.split(BEGIN_SOLUTION)[1].split(END_SOLUTION)[0]
        for node in ast.parse(body).body:
            if isinstance(node, ast.Assign):
                value = eval(compile(ast.Expression(node.value), "<answer>", "eval"), env)
                key[node.targets[0].id] = value
    return key


def _decimals(v: float) -> list[str]:
    out = {repr(round(v, 4))}
    for n in (2, 3, 4):
        out.add(f"{v:.{n}f}")
        out.add(f"{int(v * 10 ** n) / 10 ** n:.{n}f}")             # truncated
    return sorted(s for s in out if s.lstrip("-") not in ("0.00", "1.00"))


def spellings(value) -> list[str]:
    """Usual spellings of a numeric answer, normalised like :func:`normalise`; [] when it is not
    searched (choices, formulas with symbols, small integers)."""
    if isinstance(value, (str, set, frozenset)):
        return []
    expr = sp.sympify(value)
    if expr.free_symbols:
        return []
    if expr in (sp.oo, -sp.oo, sp.zoo):
        return ["sp.oo", "+\\infty", "=\\infty", "+∞", "=∞", "float('inf')", "math.inf",
                "np.inf"]
    if expr.is_integer and abs(int(expr)) <= 10:
        return []
    out = {str(expr), "sp." + str(expr)}
    if expr.is_Rational:
        p, q = expr.p, expr.q
        out |= {f"sp.Rational({p}, {q})", f"{p}/{q}", f"\\frac{{{p}}}{{{q}}}",
                f"\\tfrac{{{p}}}{{{q}}}", f"\\frac{p}{q}", f"\\tfrac{p}{q}"}
    for a in sp.preorder_traversal(expr):                 # log(2) -> "log 2", "ln 2"
        if isinstance(a, sp.log):
            arg = str(a.args[0])
            sign = "-" if expr.could_extract_minus_sign() else ""
            out |= {f"{sign}log {arg}", f"{sign}log({arg})", f"{sign}log{{{arg}}}",
                    f"{sign}log{arg}"}
    out |= set(_decimals(float(expr)))
    return sorted(normalise(s) for s in out if s)


def normalise(text: str) -> str:
    text = text.replace("−", "-").replace("\\left", "").replace("\\right", "")
    text = re.sub(r"\\[,;!]", "", text)
    text = re.sub(r"\\?\bln\b|\\log", "log", text)
    text = re.sub(r"\s*([^\w\s])\s*", r"\1", text)       # no space next to a sign or bracket
    return re.sub(r"\s+", " ", text)


def _pattern(spelling: str) -> re.Pattern:
    # a number must not continue another (0.5 is not in 10.5 or 0.55, log2 not in log2N)
    before = r"(?<![\w.])" if spelling[0].isalnum() else ""
    after = r"(?![\w])" if spelling[-1].isalnum() else ""
    return re.compile(before + re.escape(spelling) + after)


def received_texts():
    """(where, text) of everything students receive that could state an answer: each release
    notebook's markdown and code cells, and every module of the bundle's package dgm/."""
    for name in NAMES:
        nb = nbformat.read(ROOT / "notebooks" / name / f"{name}.ipynb", as_version=4)
        for i, cell in enumerate(nb.cells):
            yield name, f"notebooks/{name} cell {i}", cell.source
    for path in sorted((ROOT / "dgm").rglob("*.py")):
        yield "dgm", str(path.relative_to(ROOT)), path.read_text()


def give_aways(texts, keys) -> list[str]:
    found = []
    for where, label, text in texts:
        for place, allowed, _why in ALLOWED:
            if place == where:
                text = text.replace(allowed, " ")
        flat = normalise(text)
        for name, key in keys.items():
            # A notebook's answers are searched in its own release and in the bundle's code:
            # other notebooks use 1/2 or log 2 for other quantities (a variance, an entropy).
            if where not in (name, "dgm"):
                continue
            for var, value in key.items():
                for s in spellings(value):
                    if where == "dgm" and (_short(s) or (label in INFINITY_READERS
                                                         and s in INFINITY)):
                        continue
                    if _pattern(s).search(flat):
                        found.append(f"{label}: {s!r} is the answer {name} {var}")
    return found


@pytest.fixture(scope="module")
def keys():
    return {name: answer_key(name) for name in NAMES}


def test_the_key_is_read_and_spelled(keys):
    assert keys["05_wgan"]["kl_12"] == sp.oo and keys["05_wgan"]["jsd_13"] == sp.log(2)
    assert "0.6931" in spellings(sp.log(2)) and "log 2" in spellings(sp.log(2))
    assert "sp.rational(1,2)" not in spellings(sp.Rational(1, 2))      # normalised, not lowered
    assert {"0.5", "1/2", "sp.Rational(1,2)"} <= set(spellings(sp.Rational(1, 2)))
    assert "-1.3863" in spellings(-sp.log(4)) and spellings(4) == [] and spellings("A") == []


def test_no_written_answer_is_given_away(keys):
    assert give_aways(received_texts(), keys) == []


@pytest.mark.parametrize("planted", [
    "Enter numbers as sympy values (`sp.oo` for $+\\infty$, `sp.log(2)` or `0.5`).",
    "The JSD is $\\ln 2$ here.",
    "# the expected value is 0.6931",
    "the minimum is −1.3863",
    "w = sp.Rational(1, 2)",
])
def test_a_planted_give_away_is_found(keys, planted):
    texts = [("05_wgan", "planted", planted), ("dgm", "planted", planted)]
    assert give_aways(texts, keys), planted


def test_a_neutral_example_is_not_flagged(keys):
    neutral = "Enter values as `sp.Rational(3, 7)`, `sp.pi / 4` or `0.25`; U[0.5, 1.5] is P2."
    assert give_aways([("05_wgan", "neutral", neutral)], keys) == []
