"""The course on a JupyterHub: a local recipe, and the settings a real deployment takes from it.

    python -m dgm_staff.hub install-proxy       # configurable-http-proxy from npm, into a cache
    python -m dgm_staff.hub serve --state hub-state --instructor teacher --student alice
    python -m dgm_staff.hub serve --state hub-state --instructor teacher --roster roster.csv

``serve`` writes ``STATE/jupyterhub_config.py`` (five lines calling :func:`configure`) and runs
JupyterHub with it on 127.0.0.1: one single-user JupyterLab per person, started as a local process
(``SimpleLocalProcessSpawner``: every user runs as the account that started the hub, with a home
folder ``STATE/home/NAME``), behind configurable-http-proxy. Logging in takes a shared password,
one for students and another for instructors (instructors are the hub's admins and must use
theirs, so a student cannot log in under an instructor's name). Each user's Jupyter reads a
configuration folder of its own (``STATE/config/NAME``, set as ``JUPYTER_CONFIG_PATH``):

* students: the course id and the shared exchange folder ``STATE/exchange``; nbgrader's Assignment
  List and Validate, without the formgrader and the assignment-creation toolbar;
* instructors: the same, plus the course folder ``STATE/home/NAME/course`` (gradebook, release,
  submissions, feedback) with the course's own nbgrader configuration
  (:func:`dgm_staff.course_folder.nbgrader_config`: sources read from ``solutions/``, the autograde
  pipeline with the judge, the sandbox and the hidden tests kept out of the release and the
  feedback), so the formgrader grades exactly as ``nbgrader autograde`` and the course commands do.

The README's "On a JupyterHub" section says how this maps to Zero to JupyterHub on Kubernetes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from dgm.runtime import CI_CACHE_ENV, KNOWN_ENV, repo_root
from dgm_staff import exchange as shared_exchange

#: The configurable-http-proxy release the recipe installs from npm (it runs on Node >= 10).
PROXY_VERSION = "4.6.3"
PROXY = "configurable-http-proxy"
#: nbgrader's JupyterLab plugins a student does not get (the assignment list, the course list and
#: Validate stay).
STUDENT_HIDDEN_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")
#: nbgrader's server extensions a student's server does not load (the formgrader's pages and API).
STUDENT_HIDDEN_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader",)


def cache_dir() -> Path:
    """Where the course keeps installed tools outside the repository (``$DGM_CI_CACHE`` or
    ``~/.cache/dgm-course``)."""
    return Path(os.environ.get(CI_CACHE_ENV) or Path.home() / ".cache" / "dgm-course")


def node_prefix() -> Path:
    return cache_dir() / "node"


def find_proxy() -> Path | None:
    """configurable-http-proxy from the course's npm cache, else from ``PATH``; None if neither."""
    local = node_prefix() / "node_modules" / ".bin" / PROXY
    if local.exists():
        return local
    found = shutil.which(PROXY)
    return Path(found) if found else None


def install_proxy(prefix: Path | None = None) -> Path:
    """``npm install --prefix PREFIX configurable-http-proxy@PROXY_VERSION`` (once; later calls
    find it). Raises RuntimeError saying what to do when npm is missing or the install fails."""
    prefix = Path(prefix or node_prefix())
    binary = prefix / "node_modules" / ".bin" / PROXY
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not installed: install Node.js (Debian: apt-get install npm), "
                           f"or put {PROXY} on PATH (npm install -g {PROXY})")
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                           "--loglevel=error", f"{PROXY}@{PROXY_VERSION}"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode or not binary.exists():
        raise RuntimeError(f"npm could not install {PROXY}@{PROXY_VERSION} into {prefix}:\n"
                           f"{done.stderr.strip()[-2000:]}")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------- per-user configuration -
def home_dir(state: Path, user: str) -> Path:
    return Path(state) / "home" / user


def course_root(state: Path, user: str) -> Path:
    """An instructor's course folder: inside their home, as the formgrader requires."""
    return home_dir(state, user) / "course"


def exchange_root(state: Path) -> Path:
    return Path(state) / "exchange"


def write_user_config(state: Path, user: str, instructor: bool) -> Path:
    """Write ``STATE/config/USER`` (nbgrader, server and lab settings for that user) and return it.

    Rewritten at every spawn, so a change of the recipe reaches a user at their next start."""
    state = Path(state).resolve()
    folder = state / "config" / user
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    exchange = exchange_root(state)
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)               # nbgrader's shared exchange: everyone writes inbound/
    header = "# written by dgm_staff.hub at every start of this user's server\n"
    if instructor:
        root = course_root(state, user)
        root.mkdir(parents=True, exist_ok=True)
        text = (header + "import sys\nfrom pathlib import Path\n"
                f"sys.path.insert(0, {str(repo_root())!r})\n"
                "from dgm_staff.course_folder import nbgrader_config\n"
                "c = get_config()  # noqa: F821\n"
                f"c.merge(nbgrader_config(Path({str(root)!r}), exchange={str(exchange)!r}, "
                f"course_id={shared_exchange.course_id()!r}))\n")
    else:
        # nbgrader files a submission under the server's account name (unless that is jovyan,
        # Docker's and Zero to JupyterHub's, when it takes $JUPYTERHUB_USER); here every server
        # runs under the hub's account, so each student's id is set explicitly.
        text = header + shared_exchange.student_config(exchange, student=user)
    (folder / "nbgrader_config.py").write_text(text)
    hidden_lab = [] if instructor else list(STUDENT_HIDDEN_LAB_PLUGINS)
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {name: True for name in hidden_lab}}, indent=1))
    hidden_server = [] if instructor else list(STUDENT_HIDDEN_SERVER_EXTENSIONS)
    (folder / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {name: False for name in hidden_server}}},
        indent=1))
    return folder


# ------------------------------------------------------------------------------- the hub itself -
def configure(c, state: Path | str, *, port: int = 8000, instructors: list[str],
              students: list[str], student_password: str, instructor_password: str,
              hub_port: int | None = None, proxy_api_port: int | None = None,
              proxy: Path | str | None = None, roster: Path | str | None = None) -> None:
    """Fill JupyterHub's config ``c`` with the course's recipe (see the module's docstring).

    ``roster``: a roster CSV (``id,first_name,last_name,email``, as ``grade_class --roster``
    reads): its ids are students too, and each instructor's gradebook gets their names at every
    start of the instructor's server (the formgrader lists students by name)."""
    from jupyterhub.spawner import SimpleLocalProcessSpawner

    from dgm.lab import quiet_lab_settings

    state = Path(state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    instructors, students = list(instructors), list(students)
    if roster is not None:
        from dgm_staff.class_records import read_roster

        roster = Path(roster).resolve()
        students += [s for s in read_roster(roster)[0] if s not in students]
    if not instructors or set(instructors) & set(students):
        raise ValueError("give at least one instructor, and no name both as a student and as an "
                         "instructor")
    for name in instructors + students:
        if not name or name != name.lower() or not all(ch.isalnum() or ch in "._-" for ch in name):
            raise ValueError(f"user name {name!r}: use lower-case letters, digits, '.', '_' and "
                             "'-' only (JupyterHub lower-cases names at log-in, and nbgrader "
                             "files submissions under the name, split at '+')")
    proxy = Path(proxy) if proxy else find_proxy()
    if proxy is None:
        raise RuntimeError(f"{PROXY} was not found: run `python -m dgm_staff.hub install-proxy` "
                           f"(npm), or put it on PATH")
    quiet_lab_settings()
    # Everything on this machine only.
    c.JupyterHub.bind_url = f"http://127.0.0.1:{port}"
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub_port or free_port()
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port or free_port()}"
    c.ConfigurableHTTPProxy.command = [str(proxy)]
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    # Log-in: a shared password; instructors are the admins and log in with their own password.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = student_password
    c.SharedPasswordAuthenticator.admin_password = instructor_password
    c.Authenticator.allowed_users = set(students) | set(instructors)
    c.Authenticator.admin_users = set(instructors)
    # One JupyterLab per user, a local process in STATE/home/NAME, with nbgrader's extensions.
    c.JupyterHub.spawner_class = SimpleLocalProcessSpawner
    home = str(state / "home" / "{username}")
    c.SimpleLocalProcessSpawner.home_dir_template = home
    c.Spawner.notebook_dir = home
    c.Spawner.default_url = "/lab"
    c.Spawner.ip = "127.0.0.1"
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.args = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    c.Spawner.start_timeout = c.Spawner.http_timeout = 120
    c.Spawner.env_keep = ["PATH", "PYTHONPATH", "LANG", "LC_ALL", "VIRTUAL_ENV", *KNOWN_ENV]
    bindir = str(Path(sys.executable).parent)              # nbgrader runs its tools by name
    c.Spawner.environment = {
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
        "JUPYTER_CONFIG_PATH": lambda spawner: str(state / "config" / spawner.user.name)}
    instructor_set = set(instructors)

    def pre_spawn_hook(spawner):
        name = spawner.user.name
        write_user_config(state, name, name in instructor_set)
        if roster is not None and name in instructor_set:
            from dgm_staff.class_records import import_roster

            import_roster(course_root(state, name), roster)

    c.Spawner.pre_spawn_hook = pre_spawn_hook


CONFIG_TEMPLATE = """\
# JupyterHub for the course (written by `python -m dgm_staff.hub serve`): see dgm_staff/hub.py.
import sys
sys.path.insert(0, {repo!r})
from dgm_staff.hub import configure
configure(get_config(), {state!r}, **{settings!r})  # noqa: F821
"""


def _password(path: str | None, state: Path, role: str) -> str:
    if path:
        text = Path(path).read_text().strip()
        if not text:
            raise SystemExit(f"the {role} password file {path} is empty")
        return text
    keep = state / f"{role}-password"
    if not keep.exists():
        keep.write_text(secrets.token_urlsafe(32))
        keep.chmod(0o600)
    return keep.read_text().strip()


def serve(args) -> int:
    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    proxy = find_proxy()
    if proxy is None:
        print(f"{PROXY} not found: installing it with npm into {node_prefix()} ...", flush=True)
        try:
            proxy = install_proxy()
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
    settings = dict(port=args.port, instructors=args.instructor, students=args.student or [],
                    roster=str(Path(args.roster).resolve()) if args.roster else None,
                    student_password=_password(args.student_password_file, state, "student"),
                    instructor_password=_password(args.instructor_password_file, state,
                                                  "instructor"),
                    hub_port=args.hub_port, proxy_api_port=args.proxy_api_port,
                    proxy=str(proxy))
    config = state / "jupyterhub_config.py"
    config.write_text(CONFIG_TEMPLATE.format(repo=str(repo_root()), state=str(state),
                                             settings=settings))
    config.chmod(0o600)                                    # it holds the passwords
    print(f"JupyterHub on http://127.0.0.1:{args.port} (Ctrl-C to stop); passwords: "
          f"{'the files given' if args.student_password_file else state / '*-password'}",
          flush=True)
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")])}
    return subprocess.call([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=state,
                           env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install-proxy", help=f"npm install {PROXY}@{PROXY_VERSION} into the cache")
    s = sub.add_parser("serve", help="run JupyterHub with the course's recipe on 127.0.0.1")
    s.add_argument("--state", required=True, help="folder for the hub's database, homes, "
                   "exchange and per-user configuration")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--hub-port", type=int, default=None, help="the hub's internal API port "
                   "(default: a free one)")
    s.add_argument("--proxy-api-port", type=int, default=None)
    s.add_argument("--instructor", action="append", required=True, help="repeat for several")
    s.add_argument("--student", action="append", help="repeat for several")
    s.add_argument("--roster", help="a roster CSV (id,first_name,last_name,email): its ids are "
                   "students, and the instructors' gradebooks get their names")
    s.add_argument("--student-password-file", help="default: STATE/student-password, made once")
    s.add_argument("--instructor-password-file",
                   help="at least 32 characters; default: STATE/instructor-password, made once")
    args = parser.parse_args(argv)
    if args.command == "install-proxy":
        try:
            print(install_proxy())
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
