"""Unprivileged isolation with Linux Landlock: a student kernel that can read only what it needs.

Landlock (Linux 5.13 and later, see https://docs.kernel.org/userspace-api/landlock.html)
lets any process, without root, give up rights for itself and everything it starts.
Run as a command prefix::

    python -m autograder.landlock --read DIR ... --write DIR ... -- COMMAND ...

it arranges to be killed when the process that started it (the grading
worker) ends, restricts itself, and then executes ``COMMAND``, which can then only

- read and execute under the ``--read`` paths, and read and write under the
  ``--write`` paths (everything else, such as the grading output, the solution
  sources and other submissions, cannot even be listed);
- not open or accept TCP connections (Landlock ABI 4 and later);
- not send signals to, or reach the abstract sockets of, processes outside its
  own domain, such as the grader (ABI 6 and later).

Landlock does not hide that a path exists (``stat`` still works) and does not
limit UDP; :func:`abi_version` tells which of the rights above the running
kernel enforces.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import signal
import sys
from pathlib import Path

_SYSCALLS = {"create_ruleset": 444, "add_rule": 445, "restrict_self": 446}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FILE_RIGHTS_V1 = EXECUTE | WRITE_FILE | READ_FILE
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

#: Paths every kernel reads: the system, devices, process information.
SYSTEM_READ_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev")
#: Paths a kernel may write besides its working folder: the null device and shared memory (semaphores).
SYSTEM_WRITE_PATHS = ("/dev/null", "/dev/shm")


class _RulesetAttributes(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttributes(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The Landlock ABI version the running kernel offers; 0 when Landlock is unavailable."""
    if platform.system() != "Linux":
        return 0
    libc = _libc()
    version = libc.syscall(_SYSCALLS["create_ruleset"], None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(0, int(version))


def _handled_fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def _file_rights(abi: int) -> int:
    """The rights that may be granted on a single file (not a folder)."""
    rights = _FILE_RIGHTS_V1
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"Landlock {what} failed: {os.strerror(error)}")
    return result


def restrict_self(read_paths: list[str], write_paths: list[str]) -> int:
    """Restrict this process and its future children as the module docstring describes; return the ABI used.

    Paths that do not exist are skipped. Raises OSError when Landlock is unavailable.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel (Linux 5.13 or later with Landlock enabled).")
    libc = _libc()
    handled = _handled_fs_rights(abi)
    attributes = _RulesetAttributes(handled, 0, 0)
    size = 8
    if abi >= 4:
        attributes.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attributes.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = _check(libc.syscall(_SYSCALLS["create_ruleset"], ctypes.byref(attributes), ctypes.c_size_t(size), 0),
                     "create_ruleset")
    read_rights = EXECUTE | READ_FILE | READ_DIR | (_IOCTL_DEV if abi >= 5 else 0)
    try:
        for paths, rights in ((read_paths, read_rights), (write_paths, handled)):
            for path in paths:
                if not os.path.exists(path):
                    continue
                allowed = rights if os.path.isdir(path) else rights & _file_rights(abi)
                descriptor = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    rule = _PathBeneathAttributes(allowed, descriptor)
                    _check(libc.syscall(_SYSCALLS["add_rule"], ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0),
                           f"add_rule for {path}")
                finally:
                    os.close(descriptor)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(libc.syscall(_SYSCALLS["restrict_self"], ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)
    return abi


def die_with_parent() -> None:
    """Have the kernel send this process SIGKILL when the process that started it ends (Linux)."""
    _check(_libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def command_prefix(read_paths: list[Path], write_paths: list[Path], confine: bool = True) -> list[str]:
    """The command prefix that runs a program that dies with its grader, confined by :func:`restrict_self`
    to these paths unless ``confine`` is False."""
    command = [sys.executable, "-m", "autograder.landlock"]
    if not confine:
        return command + ["--unconfined", "--"]
    for path in read_paths:
        command += ["--read", str(path)]
    for path in write_paths:
        command += ["--write", str(path)]
    return command + ["--"]


def main(argv: list[str] | None = None) -> int:
    """Tie this process to its parent's life, restrict it, then replace it with the command after ``--``."""
    parser = argparse.ArgumentParser(prog="python -m autograder.landlock", description=__doc__.splitlines()[0])
    parser.add_argument("--read", action="append", default=[], help="a path the command may read (repeatable)")
    parser.add_argument("--write", action="append", default=[], help="a path the command may write (repeatable)")
    parser.add_argument("--unconfined", action="store_true",
                        help="no Landlock rules: only die with the parent (the grader's --sandbox none)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGUMENTS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    die_with_parent()
    if not args.unconfined:
        restrict_self(args.read, args.write)
    os.execvp(command[0], command)
    return 1  # not reached: execvp replaces the process or raises


if __name__ == "__main__":
    sys.exit(main())
