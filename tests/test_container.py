"""The ``container`` isolation mode: the exact engine command, its refusals, the image build, and real Podman kernels."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder import container, sandbox
from autograder.grading import GradeJob, grade_job
from autograder.settings import Settings
from labs_cli.cli import main as labs_main

ROOT = Path(__file__).resolve().parent.parent
CONTAINER = Settings(cell_timeout=20, notebook_timeout=90, sandbox="container")
#: A stand-in engine: logs each call's arguments to $FAKE_ENGINE_LOG, answers as $FAKE_ENGINE_MODE says.
#: Its one container exists until it has been removed $FAKE_ENGINE_REMOVALS times (default once).
FAKE_ENGINE = """#!/bin/sh
echo "$@" >> "$FAKE_ENGINE_LOG"
removals=$(grep -c '^rm ' "$FAKE_ENGINE_LOG")
case "$1:$FAKE_ENGINE_MODE" in
  info:no-daemon) echo "Cannot connect to the Docker daemon. Is the docker daemon running?" >&2; exit 1;;
  info:desktop) echo " Operating System: Docker Desktop";;
  image:no-image) echo "Error: no such image" >&2; exit 1;;
  run:*) exec sleep 300;;
  container:*) [ "$removals" -ge "${FAKE_ENGINE_REMOVALS:-1}" ] && { echo "Error: no such container" >&2; exit 1; };;
esac
exit 0
"""


def _fake_engine(tmp_path: Path, monkeypatch, mode: str, name: str = "podman") -> Path:
    """Put a fake engine called ``name`` first on PATH; returns the file its calls are logged to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    engine = bin_dir / name
    engine.write_text(FAKE_ENGINE)
    engine.chmod(0o755)
    log = tmp_path / "engine.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    monkeypatch.setenv("FAKE_ENGINE_MODE", mode)
    monkeypatch.delenv(container.ENGINE_VARIABLE, raising=False)
    monkeypatch.delenv(container.ROOTFS_VARIABLE, raising=False)
    return log


def _option_values(command: list[str], option: str) -> list[str]:
    return [command[index + 1] for index, word in enumerate(command) if word == option]


# --- the command line, built without any engine --------------------------------------------------

def test_the_kernel_container_has_no_network_a_read_only_root_limits_and_is_removed(tmp_path):
    limits = sandbox.Limits(memory_bytes=2 * 1024**3, max_processes=64, max_file_bytes=10**6, cpus=1.5)
    command = container.run_command("/usr/bin/podman", "labs-grade-x", tmp_path, {"HOME": str(tmp_path)}, limits, None)
    assert command[:3] == ["/usr/bin/podman", "run", "--rm"]
    assert _option_values(command, "--network") == ["none"] and "--read-only" in command
    assert _option_values(command, "--cap-drop") == ["ALL"]
    assert _option_values(command, "--memory") == [str(2 * 1024**3)] == _option_values(command, "--memory-swap")
    assert _option_values(command, "--pids-limit") == ["64"] and _option_values(command, "--cpus") == ["1.5"]
    assert {"fsize=1000000:1000000", "core=0:0"} <= set(_option_values(command, "--ulimit"))
    assert _option_values(command, "--name") == ["labs-grade-x"]


def test_only_the_kernels_folder_is_mounted_and_the_image_is_never_pulled(tmp_path):
    environment = sandbox.kernel_environment(tmp_path)
    command = container.run_command("/usr/bin/docker", "labs-grade-x", tmp_path, environment, sandbox.Limits(), 200_123)
    assert _option_values(command, "--mount") == [f"type=bind,source={tmp_path},target={tmp_path}"]
    assert _option_values(command, "--workdir") == [str(tmp_path)]
    assert "--volume" not in command and "--tmpfs" not in command
    assert command[-3:] == ["--pull", "never", container.image_tag()]
    passed = dict(value.split("=", 1) for value in _option_values(command, "--env"))
    assert passed == {**environment, "PATH": container.IMAGE_PATH}
    assert _option_values(command, "--user") == ["200123:200123"] and "nproc=256:256" in _option_values(command, "--ulimit")


def test_the_kernel_runs_the_images_python_with_the_same_arguments():
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "/w/kernel.json"]
    assert container.kernel_command(kernel, None) == ["python", "-m", "ipykernel_launcher", "-f", "/w/kernel.json"]
    assert container.kernel_command(kernel, Path("/")) == kernel


def test_rootless_podman_keeps_the_callers_ids_and_docker_is_given_them(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    monkeypatch.setattr(os, "getgid", lambda: 1000)
    podman = container.run_command("podman", "n", tmp_path, {}, sandbox.Limits(), None)
    docker = container.run_command("docker", "n", tmp_path, {}, sandbox.Limits(), None)
    assert _option_values(podman, "--userns") == ["keep-id"] and _option_values(podman, "--user") == ["1000:1000"]
    assert "--userns" not in docker and _option_values(docker, "--user") == ["1000:1000"]


def test_a_root_directory_replaces_the_image_with_secrets_hidden_and_python_visible(tmp_path):
    secret_folder, secret_file = tmp_path / "source", tmp_path / "class.zip"
    secret_folder.mkdir()
    secret_file.write_bytes(b"PK")
    command = container.run_command("podman", "n", tmp_path / "work", {"PATH": "/venv/bin"}, sandbox.Limits(), None,
                                    hidden=[secret_folder, secret_file], visible=[Path(sys.prefix)], root=Path("/"))
    assert command[-2:] == ["--rootfs", "/:O"] and "--pull" not in command
    assert _option_values(command, "--tmpfs") == [f"{secret_folder}:notmpcopyup,mode=0755"]
    mounts = _option_values(command, "--mount")
    assert f"type=bind,source=/dev/null,target={secret_file},readonly" in mounts
    assert f"type=bind,source={sys.prefix},target={sys.prefix},readonly" in mounts
    assert "--read-only-tmpfs=false" in command and _option_values(command, "--env") == ["PATH=/venv/bin"]


def test_the_sandbox_hides_the_bubblewrap_folders_only_when_a_root_directory_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv(container.ROOTFS_VARIABLE, raising=False)
    from_image = sandbox.container_command("podman", "n", tmp_path, {}, None, [tmp_path / "out"], sandbox.Limits())
    assert "--tmpfs" not in from_image and from_image[:3] == [sys.executable, "-m", "autograder.container"]
    monkeypatch.setenv(container.ROOTFS_VARIABLE, "/")
    (tmp_path / "out").mkdir()
    from_root = sandbox.container_command("podman", "n", tmp_path / "work", {}, None, [tmp_path / "out"],
                                          sandbox.Limits())
    hidden = [value.split(":")[0] for value in _option_values(from_root, "--tmpfs")]
    assert "/tmp" in hidden and str(tmp_path / "out") in hidden


def test_removing_a_container_kills_it_at_once_with_either_engine():
    assert container.remove_command("/usr/bin/podman", "n") == ["/usr/bin/podman", "rm", "--force", "--time", "0", "n"]
    assert container.remove_command("docker", "n") == ["docker", "rm", "--force", "n"]


# --- refusals and the image build, with a fake engine --------------------------------------------

def test_podman_is_preferred_and_the_environment_variable_names_the_engine(tmp_path, monkeypatch):
    _fake_engine(tmp_path, monkeypatch, "ok", "docker")
    _fake_engine(tmp_path, monkeypatch, "ok", "podman")
    assert Path(container.find_engine()).name == "podman"
    monkeypatch.setenv(container.ENGINE_VARIABLE, "docker")
    assert Path(container.find_engine()).name == "docker"
    monkeypatch.setenv(container.ENGINE_VARIABLE, "no-such-engine")
    assert container.container_problem() == f"{container.ENGINE_VARIABLE} names 'no-such-engine', which is not on PATH"


def test_each_missing_piece_is_named_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.delenv(container.ENGINE_VARIABLE, raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "neither podman nor docker is installed" in container.container_problem()
    monkeypatch.undo()
    _fake_engine(tmp_path, monkeypatch, "no-daemon", "docker")
    monkeypatch.setenv(container.ENGINE_VARIABLE, "docker")
    assert "docker is installed but cannot run containers (Cannot connect" in container.container_problem()
    monkeypatch.setenv("FAKE_ENGINE_MODE", "no-image")
    assert container.container_problem().endswith("is missing; build it once with labs grade --build-image")
    monkeypatch.setenv(container.ROOTFS_VARIABLE, "/")
    assert container.container_problem() == f"{container.ROOTFS_VARIABLE} needs Podman, not docker"


def test_an_engine_in_a_virtual_machine_is_used_through_the_relay(tmp_path, monkeypatch):
    _fake_engine(tmp_path, monkeypatch, "desktop", "docker")
    monkeypatch.setenv(container.ENGINE_VARIABLE, "docker")
    engine = container.find_engine()
    assert container.container_problem() is None
    assert container.uses_relay(engine)
    monkeypatch.setenv("FAKE_ENGINE_MODE", "ok")
    assert container.uses_relay(engine) == (sys.platform != "linux")
    monkeypatch.setenv(container.RELAY_VARIABLE, "1")
    assert container.uses_relay(engine)


def test_the_relay_keeps_the_containers_input_open_and_starts_the_kernel_behind_the_inside_relay(tmp_path):
    connection = tmp_path / "kernel.json"
    command = sandbox.container_command("/usr/bin/docker", "labs-grade-x", tmp_path, {"HOME": str(tmp_path)}, None,
                                        [], sandbox.Limits(), connection)
    kernel = container.kernel_command([sys.executable, "-m", "ipykernel_launcher", "-f", str(connection)], None, relay=True)
    assert command[command.index("--relay") + 1] == str(connection)
    assert "--interactive" in command and _option_values(command, "--network") == ["none"]
    assert kernel[:2] == ["python", "-c"] and "def serve_inside" in kernel[2]
    assert kernel[3:] == ["inside", "--", "python", "-m", "ipykernel_launcher", "-f", str(connection)]


def test_labs_grade_with_no_image_exits_2_with_one_sentence_and_writes_nothing(tmp_path, monkeypatch, capsys):
    _fake_engine(tmp_path, monkeypatch, "no-image")
    (tmp_path / "submissions").mkdir()
    code = labs_main(["grade", str(tmp_path / "submissions"), "--out", str(tmp_path / "out"), "--sandbox", "container"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.count("\n") == 0 and "labs grade --build-image" in error
    assert not (tmp_path / "out").exists()


def test_build_image_builds_the_repository_dockerfile_under_the_versioned_tag(tmp_path, monkeypatch, capsys):
    log = _fake_engine(tmp_path, monkeypatch, "ok")
    assert labs_main(["--course", str(ROOT), "grade", "--build-image"]) == 0
    build = [line for line in log.read_text().splitlines() if line.startswith("build")]
    assert build == [f"build --tag {container.image_tag()} --file {ROOT / 'Dockerfile'} {ROOT}"]
    assert container.image_tag() == f"intro-deep-learning-labs-grader:{__import__('labs').__version__}"
    monkeypatch.setenv("FAKE_ENGINE_MODE", "no-daemon")
    capsys.readouterr()
    assert labs_main(["--course", str(ROOT), "grade", "--build-image"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_the_dockerfile_installs_the_package_and_ipykernel_on_python_slim_from_the_sources_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM docker.io/library/python:3.11-slim" in dockerfile
    assert 'pip install . "ipykernel' in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "*" and "!autograder/" in ignored and not any(".venv" in line and "!" in line for line in ignored)


def _engine_calls_after_killing_the_grader(engine: str, name: str, log: Path) -> list[str]:
    """Start a stand-in grader whose supervisor runs container ``name``, kill the grader once the engine's
    ``run`` is logged, wait for the supervisor to end; return the engine's calls from ``log``."""
    grader = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         "from autograder import container\n"
         f"command = container.supervisor_command({engine!r}, {name!r}) + [{engine!r}, 'run', '--rm', 'image']\n"
         "print(subprocess.Popen(command).pid, flush=True)\ntime.sleep(300)"], stdout=subprocess.PIPE, text=True)
    try:
        supervisor = int(grader.stdout.readline())
        _wait_until(lambda: "run --rm image" in (log.read_text() if log.exists() else ""), 60, "the engine's run")
        grader.kill()
        grader.wait()
        _wait_for_exit(supervisor, 60)
        return log.read_text().splitlines()
    finally:
        grader.kill()
        grader.wait()


def _wait_for_exit(pid: int, seconds: float) -> None:
    """Wait until process ``pid`` (not this process's child) has ended, or fail the test."""
    def ended() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
        except FileNotFoundError:
            return True
    _wait_until(ended, seconds, f"process {pid} ending")


def test_the_supervisor_removes_its_container_when_the_grader_dies(tmp_path, monkeypatch):
    log = _fake_engine(tmp_path, monkeypatch, "ok")
    calls = _engine_calls_after_killing_the_grader(shutil.which("podman"), "labs-grade-orphan", log)
    assert "rm --force --time 0 labs-grade-orphan" in calls


def test_a_container_that_refuses_its_first_removal_is_removed_again_until_gone(tmp_path, monkeypatch):
    log = _fake_engine(tmp_path, monkeypatch, "ok")
    monkeypatch.setenv("FAKE_ENGINE_REMOVALS", "3")
    calls = _engine_calls_after_killing_the_grader(shutil.which("podman"), "labs-grade-busy", log)
    assert [call.split()[0] for call in calls[calls.index("run --rm image") + 1:]] == ["rm", "container"] * 3


def test_removal_gives_up_after_its_time_and_says_the_container_is_still_there(tmp_path, monkeypatch):
    log = _fake_engine(tmp_path, monkeypatch, "ok")
    monkeypatch.setenv("FAKE_ENGINE_REMOVALS", "1000")
    assert container.remove(shutil.which("podman"), "labs-grade-stuck", seconds=0) is False
    assert [call.split()[0] for call in log.read_text().splitlines()] == ["rm", "container"]
    monkeypatch.setenv("FAKE_ENGINE_REMOVALS", "1")
    assert container.remove(shutil.which("podman"), "labs-grade-stuck", seconds=0) is True


def test_a_supervisor_whose_grader_is_already_gone_never_starts_the_container(tmp_path, monkeypatch):
    log = _fake_engine(tmp_path, monkeypatch, "ok")
    engine = shutil.which("podman")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    command = container.supervisor_command(engine, "labs-grade-late") + [engine, "run", "--rm", "image"]
    command[command.index("--parent") + 1] = str(ended.pid)
    completed = subprocess.run(command, timeout=120)
    verbs = [call.split()[0] for call in log.read_text().splitlines()]
    assert completed.returncode == 128 + signal.SIGTERM
    assert "run" not in verbs and verbs[:2] == ["rm", "container"]


# --- real kernels in Podman, with the host's root file system ------------------------------------

def _podman_setup(directory: Path) -> tuple[dict[str, str] | None, str]:
    """Environment variables under which Podman runs the grader's exact command here, or None and why not.

    Podman keeps its containers, database and run-time state under ``directory``, so a container
    left behind on this machine (one stuck in "Removing" after a killed run, say) or an
    instructor's own containers can neither fail these tests nor be touched by them.
    """
    engine = shutil.which("podman")
    if engine is None:
        return None, "podman is not installed (apt-get install podman)"
    storage_conf = directory / "storage.conf"
    storage_conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{directory / "storage"}"\n'
                            f'runroot = "{directory / "run"}"\n')
    reason = ""
    # crun refuses hosts whose cgroup v2 hierarchy has controllers beside v1 ones (this VM); runc copes.
    for runtime in ("", 'runtime = "runc"\n'):
        containers_conf = directory / "containers.conf"
        containers_conf.write_text(f'[engine]\ntmp_dir = "{directory / "libpod"}"\n{runtime}')
        extra = {"CONTAINERS_CONF": str(containers_conf), "CONTAINERS_STORAGE_CONF": str(storage_conf),
                 container.ROOTFS_VARIABLE: "/"}
        work = directory / "probe"
        work.mkdir(exist_ok=True)
        command = container.run_command(engine, container.new_container_name(), work, {}, sandbox.Limits(), None,
                                        visible=[], root=Path("/")) + [sys.executable, "-c", "import ipykernel"]
        probe = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **extra}, timeout=300)
        if probe.returncode == 0:
            return extra, ""
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit code {probe.returncode}"
    return None, f"podman cannot run a container from the host's root file system here ({reason})"


@pytest.fixture(scope="module")
def podman_environment(tmp_path_factory) -> dict[str, str]:
    environment, reason = _podman_setup(tmp_path_factory.mktemp("podman"))
    if environment is None:
        pytest.skip(reason)
    return environment


def _grade_in_container(case: fixtures.Case, scratch: Path, secret: Path):
    job = GradeJob(submission=case.data, source_text=nbformat.writes(fixtures.source_notebook()),
                   notebook_name=fixtures.NOTEBOOK, scratch_root=str(scratch), secret_paths=[str(secret)],
                   settings=CONTAINER)
    return grade_job(job).result


def _leftover_containers(podman_environment: dict[str, str]) -> list[str]:
    """IDs of the grading containers in the tests' own Podman storage."""
    listed = subprocess.run(["podman", "ps", "--all", "--quiet", "--filter", f"label={container.LABEL}"],
                            capture_output=True, text=True, check=True, env={**os.environ, **podman_environment},
                            timeout=120)
    return listed.stdout.split()


def _wait_until(condition, seconds: float, what: str) -> None:
    """Poll ``condition`` every half second; fail the test naming ``what`` if it is still false after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds:.0f} s"
        time.sleep(0.5)


@pytest.mark.notebook
@pytest.mark.parametrize("relay", [False, True], ids=["unix_sockets", "relay"])
@pytest.mark.parametrize("name", ["full", "partial", "reads_secrets", "network"])
def test_a_real_kernel_in_a_podman_container_earns_its_exact_score(name, relay, podman_environment, tmp_path, monkeypatch):
    for key, value in podman_environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(container.RELAY_VARIABLE, "1" if relay else "0")
    secret = tmp_path / "course"
    fixtures.write_course(secret)
    case = fixtures.CASES[name]()
    result = _grade_in_container(case, tmp_path / "scratch", secret)
    assert (result.score, result.status) == (case.score, case.status), result.detail
    assert _leftover_containers(podman_environment) == []


@pytest.mark.notebook
def test_killing_the_grader_removes_its_running_container(podman_environment, tmp_path):
    script = tmp_path / "grade.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import grading_fixtures as fixtures\nfrom test_container import _grade_in_container\n"
        f"_grade_in_container(fixtures.CASES['infinite_loop'](), Path({str(tmp_path / 'scratch')!r}), "
        f"Path({str(tmp_path)!r}))\n")
    grader = subprocess.Popen([sys.executable, str(script)], env={**os.environ, **podman_environment})
    try:
        def started() -> bool:
            assert grader.poll() is None, "the grader ended before its container started"
            return bool(_leftover_containers(podman_environment))
        _wait_until(started, 300, "the grading container starting")
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        _wait_until(lambda: not _leftover_containers(podman_environment), 120,
                    "the supervisor removing the container of a killed grader")
    finally:
        grader.kill()
        grader.wait()
