"""Gradescope's autograder format: ``labs gradescope LAB`` packs one; its ``run_autograder`` grades with it.

Gradescope unpacks ``autograder.zip`` into ``/autograder/source``, runs
``setup.sh`` once (as root, on its Ubuntu base image) to build an image, then
for every submission copies the student's files to ``/autograder/submission``,
runs ``run_autograder`` and reads ``/autograder/results/results.json``. The zip
holds:

- ``setup.sh``: installs Python 3 and a virtual environment in ``ROOT/venv``,
  then this package with its ``grading`` extra from the source archive in
  ``dist/`` (built here from the checkout, so Gradescope never needs our
  repository), and checks that the installed version is the one that built it;
- ``run_autograder``: runs ``python -m autograder.gradescope run``;
- ``labs_gradescope.json``: the assignment, the package version and the time limits;
- ``course/<LAB>/solutions/*.ipynb``: the sources, hidden tests included (the
  autograder is private to the course's instructors on Gradescope).

``run`` grades every ``.ipynb`` under ``ROOT/submission`` whatever its name: a
file is matched to a notebook of the lab by its name (Colab's ``Copy of ...``
and ``(1)`` suffixes undone) or by its nbgrader grade ids, exactly as
``labs grade`` plans a student's folder (:func:`autograder.batch.plan`), and
each is graded by :func:`autograder.grading.grade_job`: the same restore,
guards and scoring. Gradescope's container, one per submission, is the
isolation; inside it student code runs with the strongest sandbox that works
(:func:`autograder.sandbox.choose_isolation`), else with none, which is said on
the autograder's stdout (instructors only); with none, the sources are deleted
from the container before student code runs.

``ROOT`` is ``/autograder`` unless ``--root`` or ``$LABS_GRADESCOPE_ROOT`` says
otherwise (a test unpacks the zip into a temporary root); ``run_autograder``
runs ``$LABS_GRADESCOPE_PYTHON`` instead of ``ROOT/venv/bin/python`` when set.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

from autograder.feedback import CellReport, gradescope_results, scrub_text
from autograder.notebooks import HIDDEN_BEGIN, HIDDEN_END, is_graded, nbgrader_metadata, read_notebook, replaced_atomically
from autograder.restore import hidden_test_lines
from autograder.submissions import Course, course_from_sources

DEFAULT_ROOT = "/autograder"
ROOT_VARIABLE = "LABS_GRADESCOPE_ROOT"
PYTHON_VARIABLE = "LABS_GRADESCOPE_PYTHON"
CONFIG_NAME = "labs_gradescope.json"
PACKAGE_NAME = "intro-deep-learning-labs"
#: What the source archive holds: enough for pip to build and install the package.
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE")
PACKAGE_FOLDERS = ("labs", "autograder")
#: The staging folder's student id: one Gradescope submission is one student.
STUDENT = "student"
#: Characters of a test cell's printed text kept in its Gradescope entry.
OUTPUT_CHARACTERS = 3000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")

SETUP_SCRIPT = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
# It installs Python and {package} {version} with its grading extra from the
# source archive shipped in this zip (Gradescope needs no access to the repository).
set -euo pipefail
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="${{{root_variable}:-{default_root}}}"
if command -v apt-get >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {{
    echo "setup.sh: Python 3.10 or later is needed; choose Gradescope's Ubuntu 22.04 base image or a later one." >&2
    exit 1
}}
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$SOURCE/dist/{archive}[grading]"
"$ROOT/venv/bin/python" -m autograder.gradescope check --root "$ROOT"
"""

RUN_SCRIPT = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission into
# /autograder/results/results.json with the labs autograder (see its README).
set -euo pipefail
ROOT="${{{root_variable}:-{default_root}}}"
PYTHON="${{{python_variable}:-$ROOT/venv/bin/python}}"
exec "$PYTHON" -m autograder.gradescope run --root "$ROOT"
"""


def package_version(root: Path) -> str:
    """The ``version`` of ``[project]`` in ``root/pyproject.toml``."""
    text = (Path(root) / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.MULTILINE | re.DOTALL)
    if not found:
        raise ValueError(f"{root}/pyproject.toml has no [project] version; add one (version = \"X.Y.Z\").")
    return found.group(1)


def _without_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if "__pycache__" in parts or info.name.endswith((".pyc", ".pyo")) or any(p.startswith(".") for p in parts):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_sdist(root: Path, destination: Path) -> Path:
    """Write the package's source archive (``<name>-<version>.tar.gz``) into ``destination``; return its path.

    It holds ``pyproject.toml``, the README, the licence and the ``labs`` and
    ``autograder`` packages, which is what ``pip install`` needs to build it.
    """
    root = Path(root)
    version = package_version(root)
    base = f"{PACKAGE_NAME.replace('-', '_')}-{version}"
    destination.mkdir(parents=True, exist_ok=True)
    archive = destination / f"{base}.tar.gz"
    info = f"Metadata-Version: 2.1\nName: {PACKAGE_NAME}\nVersion: {version}\n".encode()
    with tarfile.open(archive, "w:gz") as bundle:
        header = tarfile.TarInfo(f"{base}/PKG-INFO")
        header.size, header.mtime = len(info), int(time.time())
        bundle.addfile(header, io.BytesIO(info))
        for name in PACKAGE_FILES + PACKAGE_FOLDERS:
            if (root / name).exists():
                bundle.add(root / name, arcname=f"{base}/{name}", filter=_without_caches)
    return archive


def find_assignment(course: Course, lab: str) -> str:
    """The assignment ``lab`` names: its folder (``lab1_music``) or a unique start of it (``lab1``)."""
    assignments = course.assignments()
    if lab in assignments:
        return lab
    matches = [name for name in assignments if name.startswith(lab)]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"no single lab matches {lab!r}; name one of {', '.join(assignments) or '(none found)'}.")


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    entry = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = (0o100755 if executable else 0o100644) << 16
    bundle.writestr(entry, data)


def build_autograder(root: Path, course: Course, lab: str, out: Path, *, cell_timeout: float | None = None,
                     notebook_timeout: float | None = None) -> Path:
    """Write ``out/autograder.zip`` for the assignment ``lab`` of ``course`` (see the module docstring); return it.

    ``root`` is the checkout whose package goes into the zip; the time limits are
    in seconds (default: those of ``labs grade``).
    """
    from autograder.settings import DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_TIMEOUT

    assignment = find_assignment(course, lab)
    version = package_version(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"assignment": assignment, "package": PACKAGE_NAME, "version": version,
              "cell_timeout": cell_timeout or DEFAULT_CELL_TIMEOUT,
              "notebook_timeout": notebook_timeout or DEFAULT_NOTEBOOK_TIMEOUT}
    names = {"root_variable": ROOT_VARIABLE, "default_root": DEFAULT_ROOT, "python_variable": PYTHON_VARIABLE}
    with tempfile.TemporaryDirectory() as scratch:
        archive = build_sdist(root, Path(scratch))
        target = out / "autograder.zip"
        with replaced_atomically(target) as partial, zipfile.ZipFile(partial, "w") as bundle:
            setup = SETUP_SCRIPT.format(package=PACKAGE_NAME, version=version, archive=archive.name, **names)
            _add(bundle, "setup.sh", setup.encode(), executable=True)
            _add(bundle, "run_autograder", RUN_SCRIPT.format(**names).encode(), executable=True)
            _add(bundle, CONFIG_NAME, (json.dumps(config, indent=2) + "\n").encode())
            _add(bundle, f"dist/{archive.name}", archive.read_bytes())
            for notebook in course.notebooks(assignment):
                source = course.sources[(assignment, notebook)]
                _add(bundle, f"course/{assignment}/solutions/{notebook}.ipynb", Path(source).read_bytes())
    return target


def _root(root: str | None) -> Path:
    return Path(root or os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT).resolve()


def _config(root: Path) -> dict:
    path = root / "source" / CONFIG_NAME
    if not path.is_file():
        raise ValueError(f"{path} is missing; upload the autograder.zip that labs gradescope wrote.")
    return json.loads(path.read_text(encoding="utf-8"))


def check_installation(root: Path) -> str:
    """Why the installed package is not the version that built this autograder, or "" when it is."""
    from importlib.metadata import PackageNotFoundError, version

    wanted = _config(root)["version"]
    try:
        installed = version(PACKAGE_NAME)
    except PackageNotFoundError:
        installed = "none"
    if installed != wanted:
        return f"{PACKAGE_NAME} {installed} is installed but this autograder was built with {wanted}; run setup.sh again."
    return ""


def _is_junk(path: Path, folder: Path) -> bool:
    parts = path.relative_to(folder).parts
    return any(p == "__MACOSX" or p == ".ipynb_checkpoints" or p.startswith("._") for p in parts)


def stage_submission(submission: Path, staging: Path, assignment: str) -> Path:
    """Copy every ``.ipynb`` under ``submission`` (any depth) into ``staging/<student>/<assignment>/``.

    That is the layout :func:`autograder.batch.plan` reads; two files of the same
    name from different folders are kept as ``Name (2).ipynb``, as a browser would.
    Links are not followed. Returns ``staging``.
    """
    from autograder.submissions import read_submitted

    target = staging / STUDENT / assignment
    target.mkdir(parents=True, exist_ok=True)
    if not submission.is_dir():
        return staging
    for path in sorted(submission.rglob("*")):
        if path.suffix.lower() != ".ipynb" or path.is_symlink() or not path.is_file() or _is_junk(path, submission):
            continue
        name, copy = path.name, 1
        while (target / name).exists():
            copy += 1
            name = f"{path.stem} ({copy}){path.suffix}"
        (target / name).write_bytes(read_submitted(path))
    return staging


def _hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines of a cell inside hidden-test blocks, the markers included."""
    numbers, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == HIDDEN_BEGIN:
            inside = True
        if inside:
            numbers.add(number)
        if line.strip() == HIDDEN_END:
            inside = False
    return numbers


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _error_in_hidden_part(error: nbformat.NotebookNode, source: str) -> bool:
    """True when the error was raised on a hidden line of the test cell (or where it was raised is unknown)."""
    hidden = _hidden_line_numbers(source)
    found = _CELL_LINE.search(_plain("\n".join(error.get("traceback", []))))
    return bool(hidden) and (found is None or int(found.group(1)) in hidden)


def cell_reports(notebook_json: str, source: nbformat.NotebookNode, notebook: str,
                 tests: dict[str, tuple[float, float]]) -> dict:
    """A :class:`autograder.feedback.CellReport` per test of a graded notebook, keyed ``(notebook, grade id)``.

    A test cell with hidden tests is reported as one entry shown once grades are
    published; what its visible checks did (they run first) is told at once, in
    the submission's output. An error raised by a hidden line is reported as "hidden
    tests failed", never with its code or message.
    """
    executed = nbformat.reads(notebook_json, as_version=4)
    hidden_text = [line for cell in source.cells if is_graded(cell) for line in hidden_test_lines(cell.source)]
    reports = {}
    for cell in executed.cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if not is_graded(cell) or grade_id not in tests:
            continue
        points, available = tests[grade_id]
        has_hidden = bool(_hidden_line_numbers(cell.source))
        printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
        printed = scrub_text(_plain(printed), hidden_text)[:OUTPUT_CHARACTERS].strip()
        error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
        if points >= available:
            visible, outcome = "passed", "passed" + (" (visible checks and hidden tests)" if has_hidden else "")
        elif error is not None and _error_in_hidden_part(error, cell.source):
            visible, outcome = "passed", "failed: hidden tests failed (their code and messages are not shown)"
        elif error is not None:
            message = scrub_text(_plain(f"{error.get('ename', 'Error')}: {error.get('evalue', '')}"), hidden_text)
            visible = f"failed: {message.strip()[:OUTPUT_CHARACTERS]}"
            outcome = visible + ("; the hidden tests did not run" if has_hidden else "")
        elif cell.get("execution_count") is None:
            visible = outcome = "not run (see the notes in the submission's output)"
        else:
            visible, outcome = "passed", "no points (see the notes in the submission's output)"
        text = "\n".join(part for part in (printed, outcome) if part)
        reports[(notebook, grade_id)] = CellReport(hidden=has_hidden, visible_result=visible, output=text)
    return reports


def grading_isolation() -> tuple[str, str]:
    """The strongest sandbox mode that works here, else "none"; and one sentence saying which."""
    from autograder.sandbox import Isolation, SandboxUnavailable, choose_isolation

    try:
        isolation = choose_isolation("auto")
        return isolation.mode, f"Student code runs with: {isolation.describe()}."
    except SandboxUnavailable as error:
        reason = str(error).split(". ")[0]
        return "none", (f"Student code runs without a sandbox inside Gradescope's container ({reason}); "
                        f"{Isolation('none').describe()}.")


def grade_submission(root: Path, *, forget_sources: bool | None = None) -> dict:
    """Grade ``root/submission`` into ``root/results/results.json`` (see the module docstring); return the results.

    ``forget_sources`` deletes ``root/source/course`` once the sources are read,
    before any student code runs: by default only in Gradescope's own container
    (``root`` is ``/autograder``, thrown away after this submission) when no
    sandbox works there, so that unconfined student code cannot read the hidden tests.
    """
    from autograder.batch import plan
    from autograder.settings import Settings
    from autograder.grading import GradeOutcome, grade_job, max_points

    started = time.monotonic()
    config = _config(root)
    assignment = config["assignment"]
    course = course_from_sources(sorted((root / "source" / "course" / assignment / "solutions").glob("*.ipynb")))
    sources = {name: read_notebook(path) for (_, name), path in course.sources.items()}
    mode, sentence = grading_isolation()
    print(sentence, flush=True)
    settings = Settings(cell_timeout=config["cell_timeout"], notebook_timeout=config["notebook_timeout"], sandbox=mode)
    rows, reports = [], {}
    with tempfile.TemporaryDirectory(prefix="labs-gradescope-") as scratch:
        staging = stage_submission(root / "submission", Path(scratch) / "staging", assignment)
        secrets = [str(root / "source"), str(root / "submission"), str(root / "results"), str(staging)]
        tasks = plan(staging, course, settings, secrets, Path(scratch) / "kernels")
        if forget_sources if forget_sources is not None else (mode == "none" and root == Path(DEFAULT_ROOT)):
            shutil.rmtree(root / "source" / "course")
            print("The sources were deleted from this container before student code ran.", flush=True)
        for task in tasks:
            outcome = grade_job(task.job) if task.job is not None else GradeOutcome(task.result)
            result = outcome.result
            # grade_job already started a second kernel, and here there is no next run.
            again = "tell your instructor (your submission was kept)" if result.status == "error" else ""
            detail = "; ".join(part for part in (task.note, result.detail, again) if part)
            rows.append({"notebook": task.notebook, "score": result.score, "max_score": result.max_score,
                         "status": result.status, "detail": detail, "tests": outcome.tests, "manual": result.manual,
                         "withheld": list(result.withheld)})
            print(f"{task.notebook}: {result.score:g}/{result.max_score:g} ({result.status}) {detail}", flush=True)
            if outcome.notebook_json is not None:
                reports.update(cell_reports(outcome.notebook_json, sources[task.notebook], task.notebook, outcome.tests))
    graded = {row["notebook"] for row in rows}
    rows += [{"notebook": name, "score": 0.0, "max_score": max_points(source), "status": "missing",
              "detail": f"{name}.ipynb was not submitted", "tests": {}}
             for name, source in sorted(sources.items()) if name not in graded]
    results = json.loads(gradescope_results(rows, reports, execution_time=time.monotonic() - started))
    results["stdout_visibility"] = "hidden"
    results["extra_data"] = {"grader": f"{PACKAGE_NAME} {config['version']}", "sandbox": mode}
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def _failure_results(error: BaseException, started: float) -> dict:
    """What Gradescope shows when the grader itself failed: no score is invented."""
    return {"score": 0.0, "execution_time": round(time.monotonic() - started), "stdout_visibility": "hidden",
            "output": "The autograder failed, not your notebook; tell your instructor. Your submission was kept.",
            "tests": [], "extra_data": {"error": f"{type(error).__name__}: {str(error)[:500]}"}}


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.gradescope run|check [--root ROOT]``: what the zip's scripts call."""
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    parser.add_argument("action", choices=("run", "check"),
                        help="run: grade ROOT/submission; check: verify the installed version (setup.sh)")
    parser.add_argument("--root", default=None,
                        help=f"the autograder folder (default ${ROOT_VARIABLE}, else {DEFAULT_ROOT})")
    args = parser.parse_args(argv)
    root = _root(args.root)
    if args.action == "check":
        problem = check_installation(root)
        print(problem or f"{PACKAGE_NAME} {_config(root)['version']} is installed.", file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    started = time.monotonic()
    try:
        grade_submission(root)
    except Exception as error:
        (root / "results").mkdir(parents=True, exist_ok=True)
        (root / "results" / "results.json").write_text(json.dumps(_failure_results(error, started), indent=2) + "\n")
        raise
    return 0


def gradescope_command(root: Path, course: Course, lab: str, out: Path, *, cell_timeout: float | None,
                       notebook_timeout: float | None) -> int:
    """``labs gradescope LAB --out DIR``: write ``DIR/autograder.zip``; 0 on success, 2 for a usage error."""
    if not course.sources:
        print(f"labs gradescope: no lab*/solutions/*.ipynb under {root}; run it in the course's checkout or pass --course.",
              file=sys.stderr)
        return 2
    try:
        target = build_autograder(root, course, lab, out, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
    except ValueError as error:
        print(f"labs gradescope: {error}", file=sys.stderr)
        return 2
    assignment = find_assignment(course, lab)
    print(f"Wrote {target} ({assignment}: {', '.join(course.notebooks(assignment))}; {PACKAGE_NAME} "
          f"{package_version(root)}). Upload it as the autograder of a Gradescope programming assignment; "
          "it holds the solutions and hidden tests, so keep it private.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
