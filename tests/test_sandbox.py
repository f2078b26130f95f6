"""The isolation modes of ``labs grade --sandbox``: choosing one, refusing without one, and what each confines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder import landlock, sandbox
from labs_cli.cli import main as labs_main

NO_LANDLOCK = landlock.abi_version() < 1


def _under_landlock(probe: str, writable: Path) -> subprocess.CompletedProcess:
    """Run Python code ``probe`` confined as a grading kernel is, with ``writable`` as its folder."""
    read_paths = [Path(path) for path in landlock.SYSTEM_READ_PATHS] + sandbox._visible_paths()
    command = landlock.command_prefix(read_paths, [writable]) + [sys.executable, "-c", probe]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _without(monkeypatch, *modes: str) -> None:
    """Pretend that these isolation modes are missing on this machine."""
    if "bwrap" in modes:
        monkeypatch.setattr(sandbox, "bubblewrap_problem", lambda: "bubblewrap is not installed (apt-get install bubblewrap)")
    if "landlock" in modes:
        monkeypatch.setattr(sandbox, "landlock_problem", lambda: "Landlock is not available (it needs Linux 5.13)")


def test_auto_prefers_bubblewrap_then_landlock(monkeypatch):
    monkeypatch.setattr(sandbox, "bubblewrap_problem", lambda: None)
    assert sandbox.choose_isolation("auto").mode == "bwrap"
    _without(monkeypatch, "bwrap")
    monkeypatch.setattr(sandbox, "landlock_problem", lambda: None)
    assert sandbox.choose_isolation("auto").mode == "landlock"


def test_auto_refuses_when_nothing_isolates_and_names_both_ways_out(monkeypatch):
    _without(monkeypatch, "bwrap", "landlock")
    with pytest.raises(sandbox.SandboxUnavailable) as raised:
        sandbox.choose_isolation("auto")
    message = str(raised.value)
    assert "apt-get install bubblewrap" in message and "--sandbox none" in message and "\n" not in message
    assert sandbox.choose_isolation("none").mode == "none"


def test_an_explicit_mode_that_cannot_work_says_what_is_missing(monkeypatch):
    _without(monkeypatch, "bwrap")
    with pytest.raises(sandbox.SandboxUnavailable, match=r"--sandbox bwrap cannot work here: bubblewrap is not installed"):
        sandbox.choose_isolation("bwrap")


def test_labs_grade_without_isolation_exits_2_with_one_sentence_and_writes_nothing(monkeypatch, tmp_path, capsys):
    _without(monkeypatch, "bwrap", "landlock")
    (tmp_path / "submissions").mkdir()
    code = labs_main(["grade", str(tmp_path / "submissions"), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.count("\n") == 0 and "--sandbox none" in error
    assert not (tmp_path / "out").exists()


def test_unprivileged_bubblewrap_uses_a_user_namespace_and_no_setpriv(tmp_path):
    command = sandbox.bubblewrap_command(tmp_path, None, [], sandbox.Limits())
    assert "--unshare-user" in command and "setpriv" not in command
    as_root = sandbox.bubblewrap_command(tmp_path, 200_123, [], sandbox.Limits())
    assert "--unshare-user" not in as_root and "--reuid=200123" in as_root


def test_the_sandbox_mode_is_part_of_the_settings_fingerprint():
    from autograder.settings import Settings

    assert Settings(sandbox="none").fingerprint() != Settings(sandbox="landlock").fingerprint()


@pytest.mark.skipif(NO_LANDLOCK, reason="Landlock is not available in this kernel")
def test_landlock_confines_reads_writes_and_connections(tmp_path):
    workdir, secret = tmp_path / "work", tmp_path / "secret"
    workdir.mkdir()
    secret.mkdir()
    (secret / "answers.txt").write_text("the solution")
    probe = (
        "import os, socket\n"
        f"open({str(workdir / 'mine.txt')!r}, 'w').write('ok')\n"
        "results = []\n"
        f"for action in (lambda: open({str(secret / 'answers.txt')!r}).read(), lambda: os.listdir({str(secret)!r}),\n"
        f"               lambda: open({str(secret / 'forged.txt')!r}, 'w')):\n"
        "    try:\n        action(); results.append('allowed')\n"
        "    except PermissionError:\n        results.append('denied')\n"
        "print(' '.join(results))\n"
    )
    completed = _under_landlock(probe, workdir)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["denied", "denied", "denied"]
    assert (workdir / "mine.txt").read_text() == "ok" and not (secret / "forged.txt").exists()


@pytest.mark.skipif(landlock.abi_version() < sandbox.FULL_LANDLOCK_ABI, reason="needs Landlock ABI 6 (Linux 6.12)")
def test_landlock_forbids_tcp_connections_and_signals_to_the_grader(tmp_path):
    probe = (
        "import os, socket\n"
        "results = []\n"
        "for action in (lambda: socket.create_connection(('127.0.0.1', 9), timeout=2), lambda: os.kill(os.getppid(), 0)):\n"
        "    try:\n        action(); results.append('allowed')\n"
        "    except PermissionError:\n        results.append('denied')\n"
        "    except OSError as error:\n        results.append(type(error).__name__)\n"
        "print(' '.join(results))\n"
    )
    completed = _under_landlock(probe, tmp_path)
    assert completed.stdout.split() == ["denied", "denied"], completed.stderr


def test_bubblewrap_hides_secret_files_as_well_as_folders(tmp_path):
    archive, folder = tmp_path / "class.zip", tmp_path / "out"
    archive.write_bytes(b"PK")
    folder.mkdir()
    command = sandbox.bubblewrap_command(tmp_path / "work", None, [archive, folder], sandbox.Limits())
    joined = " ".join(command)
    assert f"--ro-bind /dev/null {archive}" in joined and f"--tmpfs {folder}" in joined


def test_the_checkouts_git_history_is_a_secret_wherever_the_checkout_is(tmp_path):
    from autograder.batch import secret_paths
    from autograder.submissions import course_from_sources

    checkout = tmp_path / "srv" / "course"
    source = checkout / "lab9_fixture" / "solutions" / "Part1_Fixture.ipynb"
    source.parent.mkdir(parents=True)
    source.write_text("{}")
    (checkout / ".git").mkdir()
    hidden = secret_paths(course_from_sources([source]), [tmp_path / "out"])
    assert str(checkout / ".git") in hidden and str(source.parent) in hidden and str(tmp_path / "out") in hidden


def test_auto_tries_containers_only_after_bubblewrap_and_landlock(monkeypatch):
    _without(monkeypatch, "bwrap", "landlock")
    monkeypatch.setattr(sandbox, "container_problem", lambda: None)
    assert sandbox.choose_isolation("auto").mode == "container"
    monkeypatch.setattr(sandbox, "landlock_problem", lambda: None)
    monkeypatch.setattr(sandbox, "container_problem", lambda: pytest.fail("containers probed although Landlock works"))
    assert sandbox.choose_isolation("auto").mode == "landlock"


def test_the_refusal_names_the_container_way_out_and_why_it_is_closed(monkeypatch):
    _without(monkeypatch, "bwrap", "landlock")
    monkeypatch.setattr(sandbox, "container_problem", lambda: "neither podman nor docker is installed")
    with pytest.raises(sandbox.SandboxUnavailable) as raised:
        sandbox.choose_isolation("auto")
    message = str(raised.value)
    assert "neither podman nor docker is installed" in message and "labs grade --build-image" in message
    assert "\n" not in message
    with pytest.raises(sandbox.SandboxUnavailable, match=r"--sandbox container cannot work here: neither podman"):
        sandbox.choose_isolation("container")


def test_the_container_mode_says_what_the_kernel_cannot_do(monkeypatch):
    monkeypatch.delenv("LABS_CONTAINER_ROOTFS", raising=False)
    sentence = sandbox.Isolation("container").describe()
    assert "no network" in sentence and "read-only image intro-deep-learning-labs-grader:" in sentence
    assert "container" in sandbox.MODES and sandbox.AUTO_ORDER == ("bwrap", "landlock", "container")


def test_the_stderr_tail_keeps_only_the_last_line_of_a_flood_within_its_limit():
    tail = sandbox.StderrTail(limit=1024)
    writer = subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('x' * 2_000_000 + '\\nError: no runc\\n\\n')"],
                            stderr=tail.write_end, check=False)
    assert writer.returncode == 0
    assert tail.last_line() == "Error: no runc"
    assert len(tail._kept) <= 1024
