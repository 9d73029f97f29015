"""The kernel that runs a submission sees none of the grader's files.

:class:`SandboxedKernelManager` starts each grading kernel through this module: before the kernel
starts, a new Linux user and mount namespace (no privileges needed) covers each *hidden root*
(the course folder, the course's repository) with an empty in-memory file system and puts back
only what the kernel needs:

* read-only: the student package ``dgm``, the MNIST folder and the Python environment when they
  lie inside a hidden root;
* read-write: the submission's own working folder.

So ``solutions/``, ``grader_tests/``, ``derivations/``, ``dgm_staff/``, the gradebook, other
students' submissions and the repository's history cannot be imported or read, and what a kernel
writes outside its folder vanishes with it. Where namespaces are not available (macOS, Windows,
a container that forbids them) the kernel starts unconfined and grading still works: the judge
keeps scores out of the submission's reach (:mod:`dgm_staff.judge`), but a submission could then
read the grader's files; :func:`available` tells, and the class report says so.

    python dgm_staff/sandbox.py --hide DIR [--hide DIR ...] --keep-ro DIR ... --cwd DIR -- CMD...
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import subprocess
import sys
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = \
    1, 2, 4, 32, 4096, 16384, 1 << 18

# DGM_SANDBOX=0 starts grading kernels without the sandbox (say, to debug a kernel);
# DGM_SANDBOX_HIDE names more folders to hide. Both names are defined in dgm.runtime, imported
# where they are read: this file also runs as the kernel's launcher, which must not import torch.


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_char_p]
    return libc


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = (lambda v: None if v is None else str(v).encode())
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def enter(hide: list[Path], keep_ro: list[Path], keep_rw: list[Path]) -> None:
    """Unshare user and mount namespaces, then cover each ``hide`` root with an empty tmpfs and
    bind back the kept paths inside it."""
    uid, gid = os.getuid(), os.getgid()
    libc = _libc()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    hide = sorted({p.resolve() for p in hide}, key=lambda p: len(p.parts))
    hide = [p for p in hide if not any(q != p and q in p.parents for q in hide)]
    kept = [(p.resolve(), True) for p in keep_ro] + [(p.resolve(), False) for p in keep_rw]
    kept = [(p, ro) for p, ro in kept if p.exists() and any(h == p or h in p.parents
                                                              for h in hide)]
    fds = [(os.open(p, os.O_RDONLY | getattr(os, "O_PATH", 0)), p, ro) for p, ro in kept]
    for root in hide:
        _mount(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1g")
    for fd, path, ro in sorted(fds, key=lambda f: len(f[1].parts)):
        if path.is_dir() or not os.path.exists(path):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if ro:
            _mount(libc, None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
    for fd, _, _ in fds:
        os.close(fd)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether this machine lets an unprivileged process enter the sandbox (tried once)."""
    from dgm.runtime import SANDBOX_ENV

    if sys.platform != "linux" or os.environ.get(SANDBOX_ENV, "1").strip() == "0":
        return False
    probe = "import sys; from dgm_staff.sandbox import enter; enter([], [], []); print('ok')"
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=30, cwd=Path(__file__).resolve().parents[1])
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "ok"


def hidden_roots(cwd: Path) -> list[Path]:
    """What a grading kernel must not see: the course's repository and the course folder that
    holds the submission (the folder above ``autograded/`` or ``submitted/``)."""
    import dgm

    roots = {Path(dgm.__file__).resolve().parents[1]}
    for parent in Path(cwd).resolve().parents:
        if parent.name in ("autograded", "submitted"):
            roots.add(parent.parent)
            break
    from dgm.runtime import SANDBOX_HIDE_ENV

    extra = os.environ.get(SANDBOX_HIDE_ENV, "")
    roots |= {Path(p) for p in extra.split(os.pathsep) if p}
    return sorted(roots)


def kept_readonly() -> list[Path]:
    import dgm
    from dgm.data import data_root

    return [Path(dgm.__file__).resolve().parent, Path(sys.prefix), Path(data_root())]


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through :mod:`dgm_staff.sandbox` when the machine allows it."""

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if not available():
            return cmd
        cwd = Path(os.getcwd())
        # the connection file must stay readable; it lies outside the hidden roots normally
        args = [sys.executable, str(Path(__file__).resolve())]
        for root in hidden_roots(cwd):
            args += ["--hide", str(root)]
        for path in kept_readonly():
            args += ["--keep-ro", str(path)]
        return args + ["--", *cmd]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        cwd = kw.get("cwd")
        if cwd and kernel_cmd[:2] == [sys.executable, str(Path(__file__).resolve())]:
            sep = kernel_cmd.index("--")
            kernel_cmd = kernel_cmd[:sep] + ["--cwd", str(cwd)] + kernel_cmd[sep:]
            # hide the course folder of this submission too
            for root in hidden_roots(Path(cwd)):
                if str(root) not in kernel_cmd[:sep]:
                    kernel_cmd = kernel_cmd[:2] + ["--hide", str(root)] + kernel_cmd[2:]
        return await super()._async_launch_kernel(kernel_cmd, **kw)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sep = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hide", action="append", default=[], type=Path)
    parser.add_argument("--keep-ro", action="append", default=[], type=Path)
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    args = parser.parse_args(argv[:sep])
    cmd = argv[sep + 1:]
    cwd = args.cwd.resolve()
    enter(args.hide, args.keep_ro, [cwd])
    os.chdir(cwd)                    # the bind-mounted folder, not the covered one
    os.execvp(cmd[0], cmd)
    return 1


if __name__ == "__main__":
    sys.exit(main())
