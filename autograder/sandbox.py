"""Where a student's kernel runs and what it may touch: the isolation modes of ``labs grade --sandbox``.

``bwrap`` (bubblewrap, the strongest; as root or, where user namespaces are
allowed, as any user), each kernel runs:

- in new PID, network, IPC and UTS namespaces: no network at all (the kernel
  talks to the trusted grader over Unix sockets in its own directory), and
  every process it starts dies with the sandbox;
- as a throw-away unprivileged user id, so that the process limit counts only
  this submission's processes and nothing outside its directory is writable;
- with a read-only view of the system, an empty ``/tmp``, ``/root``, ``/home``
  and ``/work`` except the Python installation and the ``labs`` package, and
  the caller's secret paths (sources, the checkout's ``.git``, the grading
  output, the submissions, whether folders or archives) replaced by empty
  folders or files, wherever they are;
- under resource limits (:class:`Limits`): address space, processes, file
  size, no core files.

As an unprivileged user, bwrap runs the kernel in a new user namespace as
the grading user instead of a throw-away one; everything else is the same.

``landlock`` (any user, Linux 5.13 or later): :mod:`autograder.landlock`
lets the kernel read only the system, the Python installation and ``labs``,
write only its own folder, open no TCP connection and signal no process
outside itself; it shares the machine's process table.

``container`` (any user with Podman or Docker and the grading image):
:mod:`autograder.container` runs each kernel in its own container with no
network, a read-only root file system, only its folder mounted, and CPU,
memory and process limits. The grader reaches the kernel over Unix sockets in
its folder or, where the engine runs containers in a VM (Docker Desktop on macOS
and Windows), over the container's standard input and output
(:mod:`autograder.relay`).

``none`` (only when asked for): the kernel runs with the resource limits
alone. Graded as root, it runs as a throw-away user (``setpriv``) that keeps
only the right to read any file, so it can write nothing of the grader's: not
``OUT``, the sources or the other submissions (see :func:`throwaway_user_problem`).
Otherwise it can read and write what the grading user can.

``auto`` picks the strongest that works here (in that order: bwrap,
landlock, container) and refuses to grade when none
does. Whatever the mode, every process the kernel started is killed when its
notebook is done (:func:`kill_new_descendants`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from autograder import container, landlock

FIRST_SANDBOX_UID = 200_000
SANDBOX_UID_RANGE = 100_000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student kernel (``cpus`` is enforced by the ``container`` mode only)."""

    memory_bytes: int = 6 * 1024**3
    max_processes: int = 256
    max_file_bytes: int = 200 * 1024**2
    cpus: float = 1.0

    def prlimit_arguments(self) -> list[str]:
        """The ``prlimit`` options that apply these limits (core files off)."""
        return [
            f"--as={self.memory_bytes}",
            f"--nproc={self.max_processes}",
            f"--fsize={self.max_file_bytes}",
            "--core=0",
        ]


MODES = ("auto", "bwrap", "landlock", "container", "none")
#: The order in which ``auto`` tries the isolation modes, strongest first.
AUTO_ORDER = ("bwrap", "landlock", "container")
#: Landlock ABI from which TCP and signals are confined too (Linux 6.12).
FULL_LANDLOCK_ABI = 6


class SandboxUnavailable(ValueError):
    """The requested isolation cannot work on this machine; the message says what is missing."""


@dataclass(frozen=True)
class Isolation:
    """How student kernels are isolated: ``mode`` is "bwrap", "landlock", "container" or "none"."""

    mode: str

    def describe(self) -> str:
        """One sentence for the instructor: what the kernel can and cannot do."""
        if self.mode == "bwrap":
            user = "a throw-away user" if os.geteuid() == 0 else "you, in its own user namespace"
            return (f"bubblewrap sandbox: no network, own PID namespace, runs as {user}, read-only system, "
                    "sources, submissions and grading output hidden, resource limits")
        if self.mode == "landlock":
            confined = ("no TCP connections, no signals to other processes"
                        if landlock.abi_version() >= FULL_LANDLOCK_ABI else "network and signals NOT confined (old kernel)")
            return (f"Landlock: reads only the system, Python and labs, writes only its folder, {confined}, "
                    "resource limits")
        if self.mode == "container":
            engine = Path(container.find_engine() or "container").name
            directory = container.rootfs()
            system = f"read-only root file system {directory}" if directory else f"read-only image {container.image_tag()}"
            return (f"{engine} container: no network, {system}, only its folder mounted, "
                    "CPU, memory and process limits, removed afterwards")
        if throwaway_user_problem() is None:
            return ("no sandbox (--sandbox none): resource limits, and student code runs as a throw-away user, so it "
                    "cannot write your files, but it can read them and use the network")
        return ("no sandbox (--sandbox none): resource limits only; student code runs as you, "
                "can read and write your files and use the network (afterwards the grader puts back its records, "
                "the submissions and the sources, but nothing else of yours)")


def bubblewrap_problem() -> str | None:
    """Why bubblewrap cannot isolate kernels here, or None when it can."""
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (apt-get install bubblewrap, dnf install bubblewrap)"
    if os.geteuid() == 0:
        return None if shutil.which("setpriv") else "setpriv (util-linux) is missing, which drops the kernel to a throw-away user"
    probe = subprocess.run(["bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit code {probe.returncode}"
        return (f"bwrap is installed but cannot create a user namespace as an unprivileged user ({reason}); "
                "allow them (sysctl kernel.unprivileged_userns_clone=1 or an AppArmor profile for bwrap) or grade as root")
    return None


def throwaway_user_problem() -> str | None:
    """Why ``--sandbox none`` cannot run kernels as a throw-away user here, or None when it can (root, setpriv, unshare)."""
    if os.geteuid() != 0:
        return "you are not root, so the kernel runs as you"
    missing = [program for program in ("setpriv", "unshare") if not shutil.which(program)]
    if missing:
        return f"{' and '.join(missing)} (util-linux) is missing"
    return None


def landlock_problem() -> str | None:
    """Why Landlock cannot isolate kernels here, or None when it can."""
    if landlock.abi_version() < 1:
        return "Landlock is not available (it needs Linux 5.13 or later with Landlock enabled; macOS and WSL 1 lack it)"
    return None


def container_problem() -> str | None:
    """Why containers cannot isolate kernels here, or None when they can (see :mod:`autograder.container`)."""
    return container.container_problem()


def _problem(mode: str) -> str | None:
    """Why isolation ``mode`` cannot work here, or None when it can."""
    return {"bwrap": bubblewrap_problem, "landlock": landlock_problem, "container": container_problem}[mode]()


def choose_isolation(requested: str = "auto") -> Isolation:
    """The isolation for ``requested`` (one of :data:`MODES`); raises SandboxUnavailable with one sentence."""
    if requested not in MODES:
        raise SandboxUnavailable(f"--sandbox must be one of {', '.join(MODES)}, not {requested!r}.")
    if requested == "none":
        return Isolation("none")
    if requested != "auto":
        problem = _problem(requested)
        if problem:
            raise SandboxUnavailable(f"--sandbox {requested} cannot work here: {problem}.")
        return Isolation(requested)
    problems = []
    for mode in AUTO_ORDER:
        problem = _problem(mode)
        if problem is None:
            return Isolation(mode)
        problems.append(problem)
    raise SandboxUnavailable(
        "No isolation for student code is available here: " + "; ".join(problems) +
        ". Install bubblewrap, or Podman or Docker and run labs grade --build-image, or pass --sandbox none to "
        "grade without isolation (student code can then read your files and use the network)."
    )


def isolation_available() -> bool:
    """True when ``auto`` finds an isolation mode on this machine."""
    try:
        choose_isolation("auto")
    except SandboxUnavailable:
        return False
    return True


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


def bubblewrap_command(workdir: Path, uid: int | None, secret_paths: list[Path], limits: Limits) -> list[str]:
    """The command prefix that runs a program in the bubblewrap sandbox of this module's docstring.

    With ``uid`` (root only) the program runs as that throw-away user; without, in a new
    user namespace as the calling user.
    """
    command = [
        "bwrap",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    if uid is None:
        command.insert(1, "--unshare-user")
    for directory in _hidden_parents():
        if Path(directory).exists():
            command += ["--tmpfs", directory]
    for path in _visible_paths():
        command += _mkdirs(path) + ["--ro-bind", str(path), str(path)]
    for path in secret_paths:
        if path.is_dir():
            command += ["--tmpfs", str(path)]
        elif path.exists():
            command += ["--ro-bind", "/dev/null", str(path)]
    command += _mkdirs(workdir) + ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    if uid is not None:
        command += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
        command += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
    return command + ["prlimit", *limits.prlimit_arguments(), "--", "env", "JPY_PARENT_PID=0"]


def landlock_command(workdir: Path, limits: Limits) -> list[str]:
    """The command prefix that runs a program under Landlock, reading the system and writing ``workdir``."""
    read_paths = [Path(path) for path in landlock.SYSTEM_READ_PATHS] + _visible_paths()
    write_paths = [workdir] + [Path(path) for path in landlock.SYSTEM_WRITE_PATHS]
    return (landlock.command_prefix(read_paths, write_paths)
            + ["prlimit", *limits.prlimit_arguments(), "--", "env", "JPY_PARENT_PID=0"])


def plain_command(limits: Limits, uid: int | None = None) -> list[str]:
    """The command prefix of ``--sandbox none``: resource limits and death with the grading worker.

    With ``uid`` (root only, see :func:`throwaway_user_problem`) the kernel also runs as
    that throw-away user, as the first process of its own PID namespace: when the
    worker dies, ``unshare`` dies with it, the kernel with ``unshare``, and with the
    kernel every process it started, daemons included.
    """
    dies_with_parent = landlock.command_prefix([], [], confine=False)
    limited = ["prlimit", *limits.prlimit_arguments(), "--", "env", "JPY_PARENT_PID=0"]
    if uid is None:
        return dies_with_parent + limited
    # The one capability kept, DAC_READ_SEARCH, lets the kernel read Python wherever it is installed (/root, say)
    # but write only what its throw-away user owns. A change of user clears the death-with-the-parent setting,
    # so the kernel asks for it again after the switch.
    switch = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
              "--inh-caps=-all,+dac_read_search", "--ambient-caps=-all,+dac_read_search"]
    return dies_with_parent + ["unshare", "--pid", "--fork", "--kill-child"] + switch + dies_with_parent + limited


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


def container_command(engine: str, name: str, workdir: Path, environment: dict[str, str], uid: int | None,
                      secret_paths: list[Path], limits: Limits, relay_connection: Path | None = None) -> list[str]:
    """The command prefix that runs a program in container ``name`` (see :mod:`autograder.container`).

    The prefix ends with the container's image; the program's own command follows, as
    :func:`autograder.container.kernel_command` gives it. With ``LABS_CONTAINER_ROOTFS``
    the same folders as in the bubblewrap sandbox are hidden, and the secret paths. With
    ``relay_connection`` (a TCP connection file) the kernel's ports are relayed over the
    engine's pipes (:mod:`autograder.relay`).
    """
    root = container.rootfs()
    hidden = [Path(path) for path in _hidden_parents() if path != "/dev/shm" and Path(path).exists()] + secret_paths
    return container.supervisor_command(engine, name, relay_connection) + container.run_command(
        engine, name, workdir, environment, limits, uid, hidden=hidden if root else (),
        visible=_visible_paths() if root else (), root=root, relay=relay_connection is not None)


def make_kernel_manager(workdir: Path, secret_paths: list[Path], limits: Limits, isolation: Isolation):
    """A jupyter_client AsyncKernelManager whose kernel runs isolated in ``workdir`` over Unix sockets."""
    from jupyter_client import AsyncKernelManager

    own_user = os.geteuid() == 0 and (isolation.mode == "bwrap" or (isolation.mode == "container" and container.rootfs() is None)
                                      or (isolation.mode == "none" and throwaway_user_problem() is None))
    uid = new_sandbox_uid() if own_user else None
    engine = container.find_engine() if isolation.mode == "container" else None
    relay = engine is not None and container.uses_relay(engine)
    name = container.new_container_name()

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts the usual ipykernel command behind the isolation's command prefix."""

        def format_kernel_cmd(self, extra_arguments=None):
            command = super().format_kernel_cmd(extra_arguments)
            if uid is not None:
                os.chown(self.connection_file, uid, uid)
            if isolation.mode == "bwrap":
                return bubblewrap_command(workdir, uid, secret_paths, limits) + command
            if isolation.mode == "landlock":
                return landlock_command(workdir, limits) + command
            if isolation.mode == "container":
                return command
            return plain_command(limits, uid) + command

        async def _async_launch_kernel(self, kernel_cmd, **options):
            """In the container mode the kernel's environment goes into the container; the engine gets the grader's."""
            if isolation.mode == "container":
                # As in the other modes, the kernel watches no parent: the container's removal ends it.
                environment = {**(options.get("env") or kernel_environment(workdir)), "JPY_PARENT_PID": "0"}
                kernel_cmd = (container_command(engine, name, workdir, environment, uid, secret_paths, limits,
                                                Path(self.connection_file) if relay else None)
                              + container.kernel_command(kernel_cmd, container.rootfs(), relay))
                options["env"] = dict(os.environ)
            return await super()._async_launch_kernel(kernel_cmd, **options)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            """Also remove the kernel's container (its processes are the engine's, not the grader's children)."""
            if isolation.mode == "container":
                container.remove(engine, name)
            await super()._async_cleanup_resources(restart=restart)

    if uid is not None:
        os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)
    if relay:
        # TCP on the container's own loopback, relayed to the same ports of this machine's (autograder.relay).
        manager = SandboxedKernelManager(kernel_name="python3", transport="tcp", ip="127.0.0.1")
    else:
        manager = SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(workdir / "k"))
    manager.connection_file = str(workdir / "kernel.json")
    return manager


class StderrTail:
    """The last bytes a kernel writes to its standard error, read from a pipe by a daemon thread.

    Pass :attr:`write_end` as the kernel's ``stderr``. At most ``limit`` bytes are kept,
    so a kernel that writes gigabytes costs nothing; :meth:`last_line` says why a kernel
    (or the container engine in front of it) failed to start.
    """

    def __init__(self, limit: int = 4096):
        read_end, self.write_end = os.pipe()
        self._limit = limit
        self._kept = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._read, args=(read_end,), daemon=True)
        self._reader.start()

    def _read(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(4096):
                with self._lock:
                    self._kept += chunk
                    del self._kept[:-self._limit]

    def close(self) -> None:
        """Close this process's copy of the write end (the reader ends once the kernel's copies are gone too)."""
        if not self._closed:
            self._closed = True
            os.close(self.write_end)

    def last_line(self, wait: float = 1.0) -> str:
        """The last non-empty line written so far (at most 200 characters), after up to ``wait`` s for the rest."""
        self.close()
        self._reader.join(wait)
        with self._lock:
            text = bytes(self._kept).decode("utf-8", errors="replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1][:200] if lines else ""


_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Make this process the parent of every orphan among its descendants (Linux ``PR_SET_CHILD_SUBREAPER``).

    A kernel's daemon (double fork, ``setsid``) then stays in this process's tree,
    where :func:`kill_new_descendants` finds it, instead of moving to PID 1.
    """
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(pid: int | None = None) -> set[int]:
    """Process ids of every live descendant of ``pid`` (default: this process), read from /proc."""
    pid = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def kill_new_descendants(existing: set[int], rounds: int = 20) -> int:
    """SIGKILL every descendant of this process not in ``existing`` until none is left; return how many died.

    Killed direct children (adopted orphans among them) are reaped, so no zombie stays.
    """
    killed: set[int] = set()
    for _ in range(rounds):
        alive = descendants() - existing
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        for pid in alive:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return len(killed)
