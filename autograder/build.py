"""Generate the student notebooks from their solution sources.

``labs build`` does, for every ``lab*/solutions/*.ipynb``:

1. stamp the source: Colab badge under the title, install block of the set-up
   cell with :data:`REPOSITORY_URL`, outputs cleared;
2. run nbgrader's generate_assignment on it (solutions become
   ``raise NotImplementedError(...)`` stubs, hidden tests are removed, cells are
   locked and checksummed);
3. stamp the student version with its own badge and write it beside ``solutions/``;
4. check the pair (:func:`student_version_problems`).

It also refreshes the badge table in README.md between the badge markers.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder.leaks import notebook_leaks, package_leaks
from autograder.notebooks import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    NotebookError,
    SETUP_TAG,
    SOLUTION_BEGIN,
    SOLUTION_END,
    cells_with_tag,
    clear_outputs,
    is_answer,
    is_manual,
    nbgrader_metadata,
    notebook_text,
    parameters_cell_index,
    read_notebook,
    small_run_values,
    split_marked_lines,
    write_notebook,
)

#: The project's public repository: the one place the URL lives.
REPOSITORY_URL = "https://github.com/intro-deep-learning-labs/intro-deep-learning-labs"
BRANCH = "main"

SETUP_END_LINE = "labs.report_device()"
CODE_STUB = 'raise NotImplementedError("Replace this line with your code (see the TODO above), then run the cell.")'
TEXT_STUB = "YOUR ANSWER HERE"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
README_START = "<!-- notebook-badges:start -->"
README_END = "<!-- notebook-badges:end -->"


def setup_prelude() -> str:
    """The install block every set-up cell starts with (ends with ``labs.report_device()``).

    Where ``labs`` is missing (Colab), it installs the course helpers and prints one
    line saying so and naming any package that was already installed and is now
    another version. If such a package was already imported, the running kernel
    still holds the old one: in Colab the block restarts the runtime itself (the
    student runs the cell again); elsewhere it asks for a restart.
    """
    return "\n".join(
        [
            "# Set-up: in Colab this installs the course helpers (`labs`); locally it does nothing.",
            "import importlib, importlib.metadata, importlib.util, os, subprocess, sys",
            f'LABS_REPOSITORY = "{REPOSITORY_URL}"',
            'if importlib.util.find_spec("labs") is None:',
            "    def installed_versions():",
            '        return {(d.metadata["Name"] or "").lower(): d.version for d in importlib.metadata.distributions()}',
            "    before = installed_versions()",
            '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"git+{LABS_REPOSITORY}"], check=True)',
            "    importlib.invalidate_caches()",
            "    changed = sorted(name for name, version in installed_versions().items() if before.get(name, version) != version)",
            "    imported = {name.lower() for module, names in importlib.metadata.packages_distributions().items()",
            "                if module in sys.modules for name in names}",
            "    stale = [name for name in changed if name in imported]",
            '    print("Installed the course helpers (labs); " + (f"changed the version of {\', \'.join(changed)}."',
            '          if changed else "nothing already installed was changed."))',
            '    if stale and "google.colab" in sys.modules:',
            '        print(f"Restarting the runtime to load the new {\', \'.join(stale)}: run this cell again.")',
            "        os.kill(os.getpid(), 9)",
            "    elif stale:",
            '        print(f"Restart the kernel to load the new {\', \'.join(stale)}, then run this cell again.")',
            "import labs",
            SETUP_END_LINE,
        ]
    )


def colab_url(relative_path: str) -> str:
    """The Colab address that opens ``relative_path`` (POSIX, from the repository root)."""
    owner_repo = REPOSITORY_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{relative_path}"


def badge_markdown(relative_path: str) -> str:
    """Markdown for an "Open in Colab" badge linking to ``relative_path``."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(relative_path)})"


def solution_sources(root: Path) -> list[Path]:
    """Every solution source under ``root``: ``lab*/solutions/*.ipynb``, sorted."""
    return sorted(Path(root).glob("lab*/solutions/*.ipynb"))


def student_path(source: Path) -> Path:
    """Where the student version of ``source`` lives: beside ``solutions/``."""
    return source.parent.parent / source.name


def _stamp(notebook: nbformat.NotebookNode, relative_path: str, name: str) -> None:
    """Put the badge into the title cell and the install block into the set-up cell, in place."""
    markdown = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
    if not markdown or not markdown[0].source.lstrip().startswith("#"):
        raise NotebookError(f"{name}: the first markdown cell must start with the '# Title' line.")
    title, *rest = markdown[0].source.splitlines()
    body = "\n".join(line for line in rest if BADGE_IMAGE not in line).strip("\n")
    markdown[0].source = "\n\n".join(part for part in (title, badge_markdown(relative_path), body) if part)
    setup = cells_with_tag(notebook, SETUP_TAG)
    if len(setup) != 1:
        raise NotebookError(f"{name}: needs exactly one code cell tagged '{SETUP_TAG}' (found {len(setup)}).")
    cell = notebook.cells[setup[0]]
    lines = cell.source.splitlines()
    if SETUP_END_LINE not in (line.strip() for line in lines):
        raise NotebookError(f"{name}: the set-up cell must contain the install block ending with '{SETUP_END_LINE}'.")
    end = [line.strip() for line in lines].index(SETUP_END_LINE)
    cell.source = "\n".join([setup_prelude()] + lines[end + 1 :])


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def _generate_with_nbgrader(source: Path, assignment: str) -> nbformat.NotebookNode:
    """Run nbgrader's GenerateAssignment on one notebook in a scratch course; return the release."""
    from nbgrader.apps import NbGraderAPI  # noqa: F401  (registers nbgrader's config classes)
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="labs-build-") as scratch:
        course = Path(scratch)
        (course / "source" / assignment).mkdir(parents=True)
        shutil.copy(source, course / "source" / assignment / source.name)
        config = Config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.assignment_id = assignment
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False
        config.GenerateAssignment.force = True
        config.ClearSolutions.code_stub = {"python": CODE_STUB}
        config.ClearSolutions.text_stub = TEXT_STUB
        coursedir = CourseDirectory(config=config)
        converter = GenerateAssignment(coursedir=coursedir, config=config)
        converter.log.setLevel(logging.WARNING)
        converter.start()
        released = course / "release" / assignment / source.name
        if not released.exists():
            raise NotebookError(f"{source}: nbgrader did not produce a student version; see the messages above.")
        return read_notebook(released)


def _secret_and_shared_lines(notebook: nbformat.NotebookNode) -> tuple[set[str], set[str]]:
    """Stripped, non-blank lines inside solution or hidden-test blocks, and those outside them."""
    secret: set[str] = set()
    shared: set[str] = set()
    for cell in notebook.cells:
        solution, rest = split_marked_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
        hidden, visible = split_marked_lines("\n".join(rest), HIDDEN_BEGIN, HIDDEN_END)
        secret |= {line.strip() for line in solution + hidden if line.strip()}
        shared |= {line.strip() for line in visible}
    return secret, shared


def student_version_problems(source: nbformat.NotebookNode, student: nbformat.NotebookNode, name: str) -> list[str]:
    """Everything wrong with a student version, one sentence each (empty when it is fine).

    Checks: valid nbformat; no outputs; no solution line or hidden-test line of the
    source (other than lines that also appear outside those regions); no answer
    re-implemented in a visible cell (:mod:`autograder.leaks`); every answer
    cell has a stub that raises NotImplementedError under a ``# TODO`` prompt; the
    parameters cell and its small values are present.
    """
    problems: list[str] = []
    try:
        nbformat.validate(student)
    except nbformat.ValidationError as error:
        problems.append(f"{name}: not a valid notebook ({str(error).splitlines()[0]}).")
    secret, shared = _secret_and_shared_lines(source)
    secret -= shared
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    for line in sorted(secret & student_lines):
        problems.append(f"{name}: leaks solution or hidden-test text: {line!r}.")
    for marker in (SOLUTION_BEGIN, HIDDEN_BEGIN):
        if marker in student_lines:
            problems.append(f"{name}: still contains the marker {marker!r}.")
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problems.append(f"{name}: cell {index} has outputs; committed notebooks have none.")
        if is_manual(cell) and cell.source.strip() != TEXT_STUB:
            problems.append(f"{name}: written answer {nbgrader_metadata(cell).get('grade_id')} should read {TEXT_STUB!r}.")
        if is_answer(cell) and cell.cell_type == "code":
            grade_id = nbgrader_metadata(cell).get("grade_id", f"cell {index}")
            if "raise NotImplementedError" not in cell.source:
                problems.append(f"{name}: answer cell {grade_id} has no NotImplementedError stub.")
            if "# TODO" not in cell.source:
                problems.append(f"{name}: answer cell {grade_id} has no '# TODO' prompt saying what to write.")
    problems += rubric_problems(source, name)
    problems += [leak.sentence() + "; check with fixed expected values or in hidden tests instead."
                 for leak in notebook_leaks(source, student, name)]
    try:
        parameters_cell_index(student, name)
        small_run_values(student, name)
    except NotebookError as error:
        problems.append(str(error))
    return problems


RUBRIC = re.compile(r"\*\*Rubric \((\d+(?:\.\d+)?) points?\)\.\*\*")


def rubric_problems(source: nbformat.NotebookNode, name: str) -> list[str]:
    """Written answers of ``source`` whose text does not start with '**Rubric (P points).**' matching their points.

    The rubric (what a full answer contains, point by point) and a model answer are
    the solution of a discussion question; the student sees only the question.
    """
    problems = []
    for cell in source.cells:
        if not is_manual(cell):
            continue
        grade_id, points = nbgrader_metadata(cell).get("grade_id"), float(nbgrader_metadata(cell).get("points", 0))
        found = RUBRIC.match(cell.source.strip())
        if cell.cell_type != "markdown":
            problems.append(f"{name}: written answer {grade_id} must be a markdown cell.")
        elif found is None:
            problems.append(f"{name}: written answer {grade_id} must start with '**Rubric ({points:g} points).**' "
                            "followed by what a full answer contains and a model answer.")
        elif float(found.group(1)) != points or points <= 0:
            problems.append(f"{name}: written answer {grade_id} has a rubric for {found.group(1)} points "
                            f"but is worth {points:g}; make them agree (and above 0).")
    return problems


def build_notebook(source: Path, root: Path) -> Path:
    """Stamp ``source`` in place and write its student version beside ``solutions/``.

    Returns the student version's path. ``root`` is the repository root, from which
    the Colab badges' paths are taken.
    """
    source, root = Path(source), Path(root)
    name = _relative(source, root)
    notebook = read_notebook(source)
    clear_outputs(notebook)
    _stamp(notebook, name, name)
    small_run_values(notebook, name)
    new_text = notebook_text(notebook)
    if source.read_text(encoding="utf-8") != new_text:
        write_notebook(notebook, source)
    assignment = source.parent.parent.name
    student = _generate_with_nbgrader(source, assignment)
    target = student_path(source)
    clear_outputs(student)
    _stamp(student, _relative(target, root), name)
    problems = student_version_problems(notebook, student, _relative(target, root))
    if problems:
        raise NotebookError(" ".join(problems))
    write_notebook(student, target)
    return target


def readme_badge_table(root: Path) -> str:
    """The README's table of student notebooks with their Colab badges."""
    rows = ["| lab | notebook | open |", "|---|---|---|"]
    for source in solution_sources(root):
        target = _relative(student_path(source), root)
        rows.append(f"| `{source.parent.parent.name}` | [{source.stem}]({target}) | {badge_markdown(target)} |")
    if len(rows) == 2:
        rows.append("| | no lab notebooks yet | |")
    return "\n".join(rows)


def update_readme(root: Path) -> bool:
    """Rewrite the badge table between the README markers; return True if it changed."""
    readme = Path(root) / "README.md"
    if not readme.exists():
        return False
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    new_text = pattern.sub(lambda _: f"{README_START}\n{readme_badge_table(root)}\n{README_END}", text)
    if new_text != text:
        readme.write_text(new_text, encoding="utf-8")
        return True
    return False


def build(root: Path, show_progress: bool = True) -> tuple[list[Path], list[str]]:
    """Build every student notebook under ``root``; return (built paths, error sentences).

    One notebook that fails to build is reported and the others are still built.
    """
    import nbgrader  # noqa: F401  (a missing grading extra is reported before any progress bar)
    from tqdm.auto import tqdm

    built, errors = [], []
    sources = solution_sources(root)
    for source in tqdm(sources, desc="Building student notebooks", unit="notebook", disable=not show_progress):
        try:
            built.append(build_notebook(source, root))
        except NotebookError as error:
            errors.append(str(error))
        except ModuleNotFoundError:
            raise
        except Exception as error:  # nbgrader reports metadata problems with its own exception types
            errors.append(f"{_relative(source, root)}: nbgrader could not generate it: {error}")
    if (Path(root) / "labs").is_dir():
        errors += [leak.sentence() + "; the public package must not hold an answer."
                   for leak in package_leaks(sources, Path(root) / "labs")]
    update_readme(root)
    return built, errors
