"""Feedback pages that need no network: MathJax inline, from the jupyter-server-mathjax package.

nbgrader's feedback template loads MathJax from a CDN (nbconvert's ``mathjax.html.j2`` macro,
called with no URL, so ``HTMLExporter.mathjax_url`` does not reach it), and a student reading
the page offline, or behind a firewall that blocks the CDN, sees raw ``$\\frac{...}{...}$``.
nbgrader's ``release_feedback`` copies the ``.html`` files only, so whatever the page needs must
be inside it. The course's templates (``dgm_staff/templates``) come before nbgrader's:
``feedback/mathjax.html.j2`` replaces the macro of nbgrader's ``feedback`` template, so the page
carries MathJax 2.7 as inline scripts, read from the ``jupyter-server-mathjax`` package when the
feedback is generated; ``feedback/base.html.j2`` leaves out JavaScript and widget outputs (a
tqdm progress bar), whose scripts need jQuery and a widget manager that the page does not have.
nbgrader's ``index.html.j2`` is used as it is. (The folder keeps nbgrader's template name
``feedback``: ``NbGraderAPI.generate_feedback`` sets that name itself.)

Output: MathJax turns the TeX into MathML, which the browser typesets with its own fonts
(MathML Core: Chromium and Edge 109 and later, Firefox, Safari); letters in ``\\mathbb``,
``\\mathcal``, ``\\mathbf``, ... become Unicode's mathematical letters, since Chromium ignores
MathML's ``mathvariant``. Why not MathJax's own typesetting: the package's HTML-CSS output needs
its STIX-Web fonts (0.9 MB of web fonts, 1.2 MB as base64, and 0.7 MB of font metrics, all of
which a page would have to carry, since it cannot know beforehand which glyphs it needs), and
the package has no SVG or CommonHTML output (``jax/output/SVG`` holds the SVG fonts' glyph data
but not the SVG output's ``jax.js``, and its only combined configuration,
``TeX-AMS-MML_HTMLorMML-full``, has HTML-CSS, NativeMML and PreviewHTML). The inline MathJax
adds about 0.5 MB to a page (notebook 03's feedback for the reference solution: 426 KB with
nbgrader's template, 929 KB with the course's).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

#: The course's nbconvert templates, searched before nbgrader's: ``feedback/mathjax.html.j2``
#: and ``feedback/base.html.j2``.
TEMPLATES = Path(__file__).resolve().parent / "templates"

#: The MathJax files the page inlines, relative to the package's ``static/`` folder, in three
#: scripts: the loader; the combined configuration, which carries the TeX input, the MathML
#: element jax, the NativeMML output and the extensions it preloads; and the files MathJax would
#: otherwise fetch while it typesets: the operator dictionaries (``\|``, arrows, ...) and the TeX
#: extensions that load themselves on first use of their macros (``\boldsymbol``, ``\color``,
#: ``\cancel``, ``\newcommand``, ...). Left out: ``mhchem`` (chemistry) and the extensions
#: that only load others.
MATHJAX_FILES = {
    "loader": ("MathJax.js",),
    "config": ("config/TeX-AMS-MML_HTMLorMML-full.js",),
    "on-demand": ("jax/element/mml/optable/*.js",
                  *(f"extensions/TeX/{name}.js" for name in (
                      "AMScd", "HTML", "action", "bbox", "begingroup", "boldsymbol", "cancel",
                      "color", "enclose", "extpfeil", "mathchoice", "newcommand", "unicode",
                      "verb"))),
}


def mathjax_static() -> Path:
    """The ``static/`` folder of the installed ``jupyter-server-mathjax`` package."""
    try:
        import jupyter_server_mathjax
    except ImportError as exc:
        raise RuntimeError("offline feedback needs the jupyter-server-mathjax package (it ships "
                           "MathJax): pip install -c constraints.txt jupyter-server-mathjax"
                           ) from exc
    return Path(jupyter_server_mathjax.__file__).resolve().parent / "static"


@lru_cache(maxsize=None)
def mathjax_asset(group: str) -> str:
    """The text of the files of one of :data:`MATHJAX_FILES`' groups, safe to put inside
    ``<script>…</script>`` (a Jinja filter of the course's ``feedback/mathjax.html.j2``)."""
    if group not in MATHJAX_FILES:
        raise ValueError(f"{group!r} is not one of the inlined MathJax groups "
                         f"{sorted(MATHJAX_FILES)}")
    static = mathjax_static()
    texts = []
    for pattern in MATHJAX_FILES[group]:
        paths = sorted(static.glob(pattern))
        if not paths:
            raise RuntimeError(f"{static / pattern} is missing: the jupyter-server-mathjax "
                               "package is not the pinned one (constraints.txt); reinstall it")
        texts += [path.read_text(encoding="utf-8") for path in paths]
    text = "\n".join(texts)
    # "</script" inside a script element would end it, "<!--" changes how it is parsed; MathJax
    # has neither today, and the escaped forms mean the same in a JavaScript string or regex.
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def configure(c) -> None:
    """Make nbgrader's ``generate_feedback`` find the course's ``mathjax.html.j2`` first.

    ``GenerateFeedback`` sets ``HTMLExporter.extra_template_basedirs`` to nbgrader's own
    templates only when the configuration has none, so the course names both folders (the
    formgrader sets its own and is not affected)."""
    import nbgrader

    nbgrader_templates = (Path(nbgrader.__file__).resolve().parent / "server_extensions"
                          / "formgrader" / "templates")
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
    c.HTMLExporter.filters = {"mathjax_asset": f"{__name__}.mathjax_asset"}
