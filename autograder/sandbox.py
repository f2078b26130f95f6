"""Where a student's kernel runs and what it may touch.

With bubblewrap (``bwrap``) and root (the grading machine here), each kernel runs:

- in new PID, network, IPC and UTS namespaces: no network at all (the kernel
  talks to the trusted grader over Unix sockets in its own directory), and
  every process it starts dies with the sandbox;
- as a throw-away unprivileged user id, so that the process limit counts only
  this submission's processes and nothing outside its directory is writable;
- with a read-only view of the system, an empty ``/tmp``, ``/root``, ``/home``
  and ``/work`` except the Python installation and the ``labs`` package, and
  the caller's secret paths (sources, the grading output, other submissions)
  replaced by empty directories;
- under resource limits (:class:`Limits`): address space, processes, file
  size, no core files.

Without bubblewrap (or without root) the kernel still gets its own working
directory, its own session (the whole process group is killed afterwards) and
the same resource limits, but it can read what the grading user can read and
use the network: :func:`protection` says which applies.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

FIRST_SANDBOX_UID = 200_000
SANDBOX_UID_RANGE = 100_000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student kernel."""

    memory_bytes: int = 6 * 1024**3
    max_processes: int = 256
    max_file_bytes: int = 200 * 1024**2

    def prlimit_arguments(self) -> list[str]:
        """The ``prlimit`` options that apply these limits (core files off)."""
        return [
            f"--as={self.memory_bytes}",
            f"--nproc={self.max_processes}",
            f"--fsize={self.max_file_bytes}",
            "--core=0",
        ]


def bubblewrap_available() -> bool:
    """True when kernels can be isolated with bubblewrap (needs ``bwrap``, ``setpriv`` and root)."""
    return bool(shutil.which("bwrap")) and bool(shutil.which("setpriv")) and os.geteuid() == 0


def protection() -> str:
    """One sentence saying which isolation student kernels get on this machine."""
    if bubblewrap_available():
        return (
            "bubblewrap sandbox: no network, own PID namespace, unprivileged user, read-only system, "
            "sources and grading output hidden, resource limits"
        )
    return (
        "no bubblewrap (install it and grade as root for full isolation): own working directory and "
        "process group, resource limits only; the kernel can read files and use the network"
    )


def _hidden_parents() -> list[str]:
    """Directories emptied in the sandbox before the allowed parts are mounted back."""
    return ["/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/work", "/run"]


def _visible_paths() -> list[Path]:
    """Paths the kernel needs to read: the Python installation and the ``labs`` package."""
    import labs

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(labs.__file__).resolve().parent}
    return sorted(paths)


def _mkdirs(path: Path) -> list[str]:
    """bwrap options creating every parent of ``path`` traversable (0755)."""
    options: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) != "/":
            options += ["--perms", "0755", "--dir", str(parent)]
    return options


def bubblewrap_command(workdir: Path, uid: int, secret_paths: list[Path], limits: Limits) -> list[str]:
    """The command prefix that runs a program in the sandbox described in this module's docstring."""
    command = [
        "bwrap",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    for directory in _hidden_parents():
        if Path(directory).exists():
            command += ["--tmpfs", directory]
    for path in _visible_paths():
        command += _mkdirs(path) + ["--ro-bind", str(path), str(path)]
    for path in secret_paths:
        if path.exists() and path.is_dir():
            command += ["--tmpfs", str(path)]
    command += _mkdirs(workdir) + ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    command += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
    command += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
    return command + ["prlimit", *limits.prlimit_arguments(), "--", "env", "JPY_PARENT_PID=0"]


def plain_command(limits: Limits) -> list[str]:
    """The command prefix used without bubblewrap: resource limits only."""
    return ["prlimit", *limits.prlimit_arguments(), "--", "env", "JPY_PARENT_PID=0"]


def new_sandbox_uid() -> int:
    """A fresh unprivileged user id for one kernel (not in /etc/passwd; owns only its directory)."""
    return FIRST_SANDBOX_UID + secrets.randbelow(SANDBOX_UID_RANGE)


def kernel_environment(workdir: Path) -> dict[str, str]:
    """The whole environment of a student kernel: nothing inherited from the grader."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(workdir / ".matplotlib"),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }


def make_kernel_manager(workdir: Path, secret_paths: list[Path], limits: Limits, use_bubblewrap: bool):
    """A jupyter_client AsyncKernelManager whose kernel runs sandboxed in ``workdir`` over Unix sockets."""
    from jupyter_client import AsyncKernelManager

    uid = new_sandbox_uid() if use_bubblewrap else None

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts the usual ipykernel command inside the sandbox prefix."""

        def format_kernel_cmd(self, extra_arguments=None):
            command = super().format_kernel_cmd(extra_arguments)
            if uid is None:
                return plain_command(limits) + command
            os.chown(self.connection_file, uid, uid)
            return bubblewrap_command(workdir, uid, secret_paths, limits) + command

    if uid is not None:
        os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)
    manager = SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(workdir / "k"))
    manager.connection_file = str(workdir / "kernel.json")
    return manager
