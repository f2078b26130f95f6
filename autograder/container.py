"""The ``container`` isolation of ``labs grade --sandbox``: each student kernel in its own Docker or Podman container.

The engine is the first of ``podman`` and ``docker`` found on PATH, or the one
named by ``LABS_CONTAINER_ENGINE``. Each kernel runs in a fresh container
(:func:`run_command`):

- from the grading image built from the repository's ``Dockerfile``
  (``labs grade --build-image``, tag :func:`image_tag`), never pulled from a
  registry; with ``LABS_CONTAINER_ROOTFS=DIR`` (Podman only) from the
  directory ``DIR`` as a read-only root file system instead, with the same
  folders hidden as in the ``bwrap`` mode;
- with no network at all: the grader talks to the kernel over Unix sockets in
  the kernel's folder, the one folder mounted, read-write; where the engine runs
  containers in a VM that does not pass Unix sockets on (Docker Desktop, macOS,
  Windows), over the container's standard input and output instead
  (:mod:`autograder.relay`, :func:`uses_relay`);
- with a read-only root file system, no capabilities, no privilege gain, and
  CPU, memory, process, file-size and open-file limits from
  :class:`autograder.sandbox.Limits`;
- as a throw-away user when the grader runs as root, else as the grading user
  (with ``LABS_CONTAINER_ROOTFS``, always as the grading user: the host's
  Python may sit in a folder only its owner may enter, such as ``/root``);
- removed when the kernel ends (``--rm``) or the grader removes it, and, since
  the engine's own processes are not the grader's children, also when the
  grading worker dies: the kernel is started by this module's supervisor
  (``python -m autograder.container``), which removes its container when its
  parent process ends.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.sandbox import Limits

IMAGE_NAME = "intro-deep-learning-labs-grader"
ENGINES = ("podman", "docker")
ENGINE_VARIABLE = "LABS_CONTAINER_ENGINE"
ROOTFS_VARIABLE = "LABS_CONTAINER_ROOTFS"
#: Set to 1 to carry the kernel's connections over the engine's pipes even where Unix sockets would do.
RELAY_VARIABLE = "LABS_CONTAINER_RELAY"
#: Label on every grading container: ``podman ps --all --filter label=intro-deep-learning-labs-grader`` lists them.
LABEL = IMAGE_NAME
#: Open files a kernel may hold (low enough that no engine needs to raise the grader's own limit).
OPEN_FILES = 4096
#: RLIMIT_NPROC of a kernel running as the calling user: a ceiling on all that user's processes, not the
#: kernel's limit (``--pids-limit`` is); Podman's own default for root.
CALLER_PROCESSES = 32768
#: PATH inside the grading image, where the image's Python lives.
IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Seconds an engine may take to answer ``info`` or ``image inspect``.
PROBE_SECONDS = 60
#: Seconds a grader or a supervisor keeps trying to remove a kernel's container (:func:`remove`).
REMOVAL_SECONDS = 180
_PR_SET_PDEATHSIG = 1


def image_tag() -> str:
    """The grading image's tag: ``intro-deep-learning-labs-grader:<package version>``."""
    import labs

    return f"{IMAGE_NAME}:{labs.__version__}"


def find_engine() -> str | None:
    """The path of the container engine to use, or None when there is none on PATH."""
    named = os.environ.get(ENGINE_VARIABLE)
    if named:
        return shutil.which(named)
    for name in ENGINES:
        path = shutil.which(name)
        if path:
            return path
    return None


def is_podman(engine: str) -> bool:
    """True when ``engine`` is Podman (its options differ from Docker's in a few places)."""
    return "podman" in Path(engine).name


def rootfs() -> Path | None:
    """The root file system directory named by ``LABS_CONTAINER_ROOTFS``, or None to use the grading image."""
    named = os.environ.get(ROOTFS_VARIABLE)
    return Path(named) if named else None


def _last_line(completed: subprocess.CompletedProcess) -> str:
    text = (completed.stderr or completed.stdout or "").strip()
    return text.splitlines()[-1] if text else f"exit code {completed.returncode}"


def _probe(command: list[str]) -> subprocess.CompletedProcess:
    """Run an engine command, output captured; an engine with no answer in time gives returncode None."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, None, "", f"no answer within {PROBE_SECONDS} s")


def container_problem() -> str | None:
    """Why containers cannot isolate kernels here (no engine, no daemon, no image), or None when they can."""
    engine = find_engine()
    if engine is None:
        named = os.environ.get(ENGINE_VARIABLE)
        if named:
            return f"{ENGINE_VARIABLE} names {named!r}, which is not on PATH"
        return "neither podman nor docker is installed (apt-get install podman, dnf install podman)"
    name = Path(engine).name
    info = _probe([engine, "info"])
    if info.returncode != 0:
        return (f"{name} is installed but cannot run containers ({_last_line(info)}); "
                "start the Docker service, or use Podman")
    directory = rootfs()
    if directory is not None:
        if not is_podman(engine):
            return f"{ROOTFS_VARIABLE} needs Podman, not {name}"
        if not directory.is_dir():
            return f"{ROOTFS_VARIABLE} names {str(directory)!r}, which is not a directory"
        return None
    if _probe([engine, "image", "inspect", image_tag()]).returncode != 0:
        return f"the grading image {image_tag()} is missing; build it once with labs grade --build-image"
    return None


def uses_relay(engine: str) -> bool:
    """True when the kernel's connections must go over the engine's pipes (:mod:`autograder.relay`).

    That is where the engine runs containers in a virtual machine (macOS, Windows,
    Docker Desktop on Linux), whose file sharing does not pass on Unix sockets, or
    when ``LABS_CONTAINER_RELAY=1`` asks for it.
    """
    if os.environ.get(RELAY_VARIABLE) == "1" or sys.platform != "linux":
        return True
    return "Docker Desktop" in _probe([engine, "info"]).stdout


def new_container_name() -> str:
    """A fresh name for one kernel's container."""
    return f"labs-grade-{secrets.token_hex(6)}"


def run_command(engine: str, name: str, workdir: Path, environment: dict[str, str], limits: Limits, uid: int | None,
                hidden: Sequence[Path] = (), visible: Sequence[Path] = (), root: Path | None = None,
                relay: bool = False) -> list[str]:
    """The ``ENGINE run`` command, up to the kernel's own command, that starts one kernel's container.

    ``workdir`` is mounted read-write at the same path and is the working directory;
    ``environment`` is the kernel's whole environment (in the image, with the image's
    PATH). With ``uid`` the kernel runs as that user
    (the grader chowns ``workdir`` to it); without, as the calling user. With
    ``root`` (Podman) the directory is the read-only root file system instead of the
    grading image: the folders ``hidden`` are emptied there (tmpfs; a file becomes
    empty), then ``visible`` are mounted back read-only. With ``relay`` the container's
    standard input stays open: the kernel's connections travel over it and its output
    (:mod:`autograder.relay`).
    """
    podman = is_podman(engine)
    command = [
        engine, "run", "--rm", "--name", name, "--label", LABEL, *(["--interactive"] if relay else []),
        "--network", "none", "--read-only", "--cgroupns", "private",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--log-driver", "none",
        "--memory", str(limits.memory_bytes), "--memory-swap", str(limits.memory_bytes),
        "--pids-limit", str(limits.max_processes), "--cpus", f"{limits.cpus:g}",
        "--ulimit", f"fsize={limits.max_file_bytes}:{limits.max_file_bytes}",
        "--ulimit", "core=0:0",
        "--ulimit", f"nofile={OPEN_FILES}:{OPEN_FILES}",
    ]
    if uid is not None:
        command += ["--user", f"{uid}:{uid}", "--ulimit", f"nproc={limits.max_processes}:{limits.max_processes}"]
    else:
        # RLIMIT_NPROC counts all the caller's processes (--pids-limit counts the container's): a generous
        # limit, never above the caller's own, since an engine may not raise it (no CAP_SYS_RESOURCE).
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        processes = min(CALLER_PROCESSES, *(limit for limit in (soft, hard) if limit != resource.RLIM_INFINITY))
        command += ["--ulimit", f"nproc={processes}:{processes}"]
        if podman and os.geteuid() != 0:
            # Rootless Podman: the calling user is root in the container unless the ids are kept.
            command += ["--userns", "keep-id"]
        command += ["--user", f"{os.getuid()}:{os.getgid()}"]
    if root is not None:
        # A copy-up tmpfs would copy the host's folders into the container: these tmpfs start empty.
        command += ["--read-only-tmpfs=false"]
        for path in hidden:
            if path.is_dir():
                command += ["--tmpfs", f"{path}:notmpcopyup,mode=0755"]
            elif path.exists():
                command += ["--mount", f"type=bind,source=/dev/null,target={path},readonly"]
        for path in visible:
            command += ["--mount", f"type=bind,source={path},target={path},readonly"]
    command += ["--mount", f"type=bind,source={workdir},target={workdir}", "--workdir", str(workdir)]
    for key, value in environment.items():
        command += ["--env", f"{key}={IMAGE_PATH if key == 'PATH' and root is None else value}"]
    if root is not None:
        # The overlay (":O") gives Podman a mount point of its own even when the directory is "/".
        return command + ["--rootfs", f"{root}:O"]
    return command + ["--pull", "never", image_tag()]


def kernel_command(command: list[str], root: Path | None, relay: bool = False) -> list[str]:
    """The kernel's command inside the container: the image's own ``python`` unless a root directory is used;
    with ``relay``, started by the inside relay of :mod:`autograder.relay`."""
    from autograder import relay as relays

    command = command if root is not None else ["python", *command[1:]]
    return relays.inside_command(command[0], command) if relay else command


def remove_command(engine: str, name: str) -> list[str]:
    """The command that kills and removes the container ``name`` at once."""
    return [engine, "rm", "--force", *(["--time", "0"] if is_podman(engine) else []), name]


def exists_command(engine: str, name: str) -> list[str]:
    """The command that exits 0 when the container ``name`` exists (in any state), another code when it does not."""
    return [engine, "container", "inspect", "--format", "{{.Id}}", name]


def remove(engine: str, name: str, seconds: float = REMOVAL_SECONDS) -> bool:
    """Kill and remove the container ``name``, trying again until it is gone; whether it is gone.

    One ``rm`` is not always enough: a container that its ``run`` is still creating or
    starting can refuse removal, and a loaded engine can hang. Gives up after ``seconds``
    (an engine that hangs keeps each attempt to :data:`PROBE_SECONDS`).
    """
    deadline = time.monotonic() + seconds
    while True:
        _probe(remove_command(engine, name))
        if _probe(exists_command(engine, name)).returncode not in (0, None):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)


def supervisor_command(engine: str, name: str, connection_file: Path | None = None) -> list[str]:
    """The command prefix that runs ``ENGINE run ...`` and removes container ``name`` when the grader dies.

    With ``connection_file`` (a TCP one) the supervisor also relays the kernel's
    ports over the engine's pipes (:func:`autograder.relay.run_host`).
    The supervisor is told this process's id: it must be started by this process, and
    ends at once, removing the container, when this process is already gone.
    """
    relay = ["--relay", str(connection_file)] if connection_file is not None else []
    return [sys.executable, "-m", "autograder.container", "--engine", engine, "--name", name,
            "--parent", str(os.getpid()), *relay, "--"]


def build_command(engine: str, root: Path) -> list[str]:
    """The command that builds the grading image from ``root/Dockerfile`` with ``root`` as context."""
    return [engine, "build", "--tag", image_tag(), "--file", str(root / "Dockerfile"), str(root)]


def build_image(root: Path) -> int:
    """``labs grade --build-image``: build the grading image; 0 when built, 2 (one sentence on stderr) when it cannot be."""
    engine = find_engine()
    if engine is None:
        print(f"labs grade: cannot build the grading image: {container_problem()}.", file=sys.stderr)
        return 2
    if not (root / "Dockerfile").is_file():
        print(f"labs grade: cannot build the grading image: no Dockerfile in {root}.", file=sys.stderr)
        return 2
    info = _probe([engine, "info"])
    if info.returncode != 0:
        print(f"labs grade: cannot build the grading image: {Path(engine).name} cannot run containers "
              f"({_last_line(info)}).", file=sys.stderr)
        return 2
    print(f"Building {image_tag()} with {Path(engine).name} from {root / 'Dockerfile'}.")
    if subprocess.run(build_command(engine, root), check=False).returncode != 0:
        print(f"labs grade: building the grading image {image_tag()} failed (see the output above).", file=sys.stderr)
        return 2
    print(f"Built {image_tag()}; grade with --sandbox container.")
    return 0


class _Stopped(Exception):
    """The supervisor received SIGTERM or SIGHUP (its parent died, or someone stops it)."""


def _raise_stopped(signum, frame) -> None:
    raise _Stopped(signum)


def _stop_when_parent_dies(parent: int) -> None:
    """Have SIGTERM sent to this process when ``parent`` ends: ``PR_SET_PDEATHSIG`` on Linux, a watcher elsewhere."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def supervise(engine: str, name: str, command: list[str], connection_file: Path | None = None,
              parent: int | None = None) -> int:
    """Run ``command`` (an ``ENGINE run``); remove container ``name`` when this process's parent dies or stops it.

    ``parent`` is the process id of the grader that started this one (default: the
    current parent): when it has already ended, ``command`` never runs. The parent's
    later death arrives as SIGTERM (:func:`_stop_when_parent_dies`). SIGINT is left
    to the engine, which passes it on to the kernel (an interrupt). With
    ``connection_file`` the kernel's ports are relayed over the engine's pipes. Returns the
    engine's exit code, or 128 plus the signal's number once the container is removed.
    """
    from autograder import relay

    parent = os.getppid() if parent is None else parent
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    child = None
    try:
        _stop_when_parent_dies(parent)
        if os.getppid() != parent:
            raise _Stopped(signal.SIGTERM)
        if connection_file is None:
            child = subprocess.Popen(command)
            return child.wait()
        ports = relay.connection_ports(connection_file)
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return asyncio.run(relay.run_host(child, ports))
    except _Stopped as stopped:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        remove(engine, name, seconds=0)
        if child is not None:
            child.kill()
            child.wait()
        remove(engine, name)   # again, until gone: the engine may have been creating the container
        return 128 + stopped.args[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.container --engine ENGINE --name NAME -- ENGINE run ...``: see :func:`supervise`."""
    parser = argparse.ArgumentParser(prog="python -m autograder.container", description=supervise.__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, help="the container engine's path")
    parser.add_argument("--name", required=True, help="the container's name")
    parser.add_argument("--parent", type=int, default=None, metavar="PID",
                        help="the grader's process id (default: this process's parent)")
    parser.add_argument("--relay", type=Path, default=None, metavar="CONNECTION_FILE",
                        help="relay the TCP ports of this kernel connection file over the engine's pipes")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- ENGINE run ARGUMENTS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the engine's run command after --")
    return supervise(args.engine, args.name, command, args.relay, args.parent)


if __name__ == "__main__":
    sys.exit(main())
