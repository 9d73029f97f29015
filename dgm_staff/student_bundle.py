"""The student bundle: the release notebooks, the student package and the files that install it,
as a folder and a ``.zip`` (``python -m dgm_staff.course bundle``), optionally with an
"Open in Colab" link per notebook in its README.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from dgm_staff.course_folder import generate_release
from dgm.runtime import repo_root


#: What the student bundle holds, relative to the repository: the release notebooks, the student
#: package (helpers, visible contract checks, the metric's classifier and the fallback generator),
#: and the files that install it. Nothing else: no solutions/, grader_tests/, derivations/,
#: dgm_staff/, scripts/, tests/ or benchmarks/.
BUNDLE_CONTENTS = ("notebooks", "dgm", "environment.yml", "constraints.txt", "LICENSE")
BUNDLE_README = """# Deep generative models: student notebooks

    python -m venv .venv && . .venv/bin/activate      # Windows: .venv\\Scripts\\activate
    pip install -c constraints.txt -e ".[local]"      # or: conda env create -f environment.yml
    python -m dgm.data                                # MNIST into data/ (no download needed)
    jupyter lab notebooks                             # then open 01_vae/01_vae.ipynb

Fill in the cells marked `YOUR CODE HERE` and the *Written answer* cells, run the notebook from
top to bottom, and use *Validate* before you hand it in. Set `DGM_BUDGET=smoke` before starting
Jupyter for a quick end-to-end run; the default trains at the assignments' full budgets.

**Where PyTorch is already installed** (Colab, a JupyterHub image, a conda environment):
`pip install -e .` without the constraints file. The package needs `torch>=2.4` and
`torchvision>=0.19` and keeps the copies it finds; JupyterLab and nbgrader's *Validate* are only
in the `[local]` extra, for your own machine.
"""

#: Colab's address of a notebook on GitHub: owner/repository, branch, path in the repository.
COLAB_URL = "https://colab.research.google.com/github/{repo}/blob/{branch}/{path}"


def colab_links(repo_url: str, notebooks: list[str]) -> str:
    """The README section with an "Open in Colab" link per notebook of a bundle published at
    ``repo_url`` (``https://github.com/OWNER/REPO``, optionally ``/tree/BRANCH``; default branch
    ``main``); ``notebooks`` are paths in that repository."""

    m = re.fullmatch(r"(?:https?://)?github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?"
                      r"(?:/tree/([\w./-]+))?/?", repo_url.strip())
    if not m:
        raise ValueError(f"{repo_url!r} is not a GitHub repository address: Colab opens notebooks "
                         "from https://github.com/OWNER/REPO (or .../tree/BRANCH)")
    repo, branch = m.group(1), m.group(2) or "main"
    lines = ["", "## Open in Colab", "",
             ("Each link opens the notebook in Google Colab; run "
              f"`!git clone https://github.com/{repo} course && pip install -e course` in its "
              "first cell (Colab's own PyTorch is kept)."), ""]
    for path in notebooks:
        url = COLAB_URL.format(repo=repo, branch=branch, path=path)
        lines.append(f"* [{Path(path).stem}]({url}) "
                     f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                     f"({url})")
    return "\n".join(lines) + "\n"


#: Dependencies the student package does not need on a machine that has Jupyter (Colab, a hub):
#: the notebook server and nbgrader's Validate go to the ``[local]`` extra; the staff tools
#: (cluster grading, randomised checks, offline feedback) are left out.
LOCAL_EXTRA = ("jupyterlab", "nbgrader")
STAFF_ONLY_DEPENDENCIES = ("distributed", "hypothesis", "jupyter-server-mathjax")


def _student_pyproject(text: str) -> str:
    """The course's pyproject.toml for the bundle: the same package; its dependencies without the
    staff tools, JupyterLab and nbgrader moved to the ``[local]`` extra (so that the bundle
    installs over an existing PyTorch and Jupyter, as on Colab); test extras left out."""

    out, skip, local = [], False, []
    in_deps = False
    for line in text.splitlines():
        if line.startswith("[project.optional-dependencies]") or line.startswith("[tool.pytest"):
            skip = True
        elif line.startswith("[") and skip:
            skip = False
        if skip:
            continue
        if line.startswith("dependencies = ["):
            in_deps = True
        elif in_deps and line.strip() == "]":
            in_deps = False
        elif in_deps:
            name = re.match(r'\s*"([A-Za-z0-9_.-]+)', line)
            if name and name.group(1).lower() in STAFF_ONLY_DEPENDENCIES:
                continue
            if name and name.group(1).lower() in LOCAL_EXTRA:
                local.append(line.strip().rstrip(","))
                continue
        out.append(line)
    text = "\n".join(out) + "\n"
    extra = "[project.optional-dependencies]\nlocal = [" + ", ".join(local) + "]\n\n"
    anchor = "[tool.setuptools.packages.find]"
    return text.replace(anchor, extra + anchor)


def build_bundle(dest: Path | None = None, release: bool = True,
                 colab_repo: str | None = None) -> tuple[Path, Path]:
    """The folder and ``.zip`` archive to hand to students (``build/student-bundle``). With
    ``colab_repo`` (the GitHub address where the bundle is published) its README gets an
    "Open in Colab" link per notebook."""

    root = repo_root()
    dest = Path(dest or root / "build" / "student-bundle")
    if release:
        generate_release()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
    for name in BUNDLE_CONTENTS:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / "pyproject.toml").write_text(_student_pyproject((root / "pyproject.toml").read_text()))
    readme = BUNDLE_README
    if colab_repo:
        readme += colab_links(colab_repo, sorted(p.relative_to(dest).as_posix()
                                                 for p in (dest / "notebooks").glob("*/*.ipynb")))
    (dest / "README.md").write_text(readme)
    archive = dest.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(dest.rglob("*")):
            if path.is_file():
                zf.write(path, Path(dest.name) / path.relative_to(dest))
    return dest, archive
