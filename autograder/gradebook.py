"""The grading folder as an nbgrader course, and the only code that writes its gradebook.

``OUT`` becomes an nbgrader course: ``nbgrader_config.py`` (copied from
``autograder/course/``), ``source/<assignment>/`` (the solution sources),
``release/`` (nbgrader's generate_assignment output), ``gradebook.db``,
``autograded/<student>/<assignment>/`` and ``feedback/<student>/<assignment>/``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import nbformat

from autograder.submissions import Course

CONFIG_TEMPLATE = Path(__file__).parent / "course" / "nbgrader_config.py"


def _ensure_alembic_on_path() -> None:
    """nbgrader creates the gradebook by running ``alembic`` from PATH: put this Python's bin first."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def load_config(out: Path):
    """The nbgrader configuration of the course in ``out`` (nbgrader's API does not load it by itself)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(out)).load_config()


def db_url(out: Path) -> str:
    """The gradebook's SQLAlchemy URL."""
    return "sqlite:///" + str(Path(out).resolve() / "gradebook.db")


def course_id(out: Path) -> str:
    """The nbgrader course id from the course's configuration."""
    return str(load_config(out).CourseDirectory.course_id)


def damage(out: Path) -> str | None:
    """Why ``out/gradebook.db`` cannot be used (one phrase), or None when it is sound or absent."""
    import sqlite3

    path = Path(out) / "gradebook.db"
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            result = connection.execute("PRAGMA quick_check").fetchone()
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as error:
        return str(error)
    if result is None or result[0] != "ok":
        return f"sqlite reports {result[0] if result else 'nothing'}"
    if "assignment" not in tables:
        return "it holds no nbgrader tables"
    return None


def prepare_course(out: Path, course: Course, assignments: list[str], force: bool = False) -> None:
    """Write the config and sources into ``out`` and (re)generate ``assignments`` when a source changed.

    Generating the assignment with nbgrader records its notebooks, grade cells
    and points in the gradebook, which scoring and feedback need; ``force``
    generates them even when nothing changed (a new gradebook).
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    _ensure_alembic_on_path()
    out.mkdir(parents=True, exist_ok=True)
    # The sources hold the solutions and hidden tests: only the instructor may enter this folder.
    (out / "source").mkdir(exist_ok=True)
    os.chmod(out / "source", 0o700)
    shutil.copyfile(CONFIG_TEMPLATE, out / "nbgrader_config.py")
    config = load_config(out)
    for assignment in assignments:
        changed = False
        for name in course.notebooks(assignment):
            target = out / "source" / assignment / f"{name}.ipynb"
            text = course.sources[(assignment, name)].read_text(encoding="utf-8")
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                changed = True
        if changed or force or not (out / "release" / assignment).exists():
            api = NbGraderAPI(CourseDirectory(config=config), config=config)
            api.log.setLevel(logging.WARNING)
            result = api.generate_assignment(assignment, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(f"nbgrader could not generate {assignment}: {result.get('error', '')[-500:]}")


def record_scores(out: Path, student: str, assignment: str, notebook: str,
                  tests: dict[str, tuple[float, float]], manual: dict[str, float] | None = None,
                  withheld: Sequence[str] = ()) -> None:
    """Store one notebook's auto scores in the gradebook (every grade cell; absent tests score 0).

    The grade ids in ``manual`` are written answers awaiting a person: no auto score,
    flagged for manual grading (nbgrader's formgrader lists them); unanswered ones score 0.
    The tests in ``withheld`` (passed after code that can forge a pass) score 0 and are
    flagged for manual grading too, so a person who finds the code honest gives the points.
    """
    manual = manual or {}
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    # nbgrader's submission helpers trip SQLAlchemy's autoflush warning on every new student; the rows are right.
    with warnings.catch_warnings(), Gradebook(db_url(out), course_id(out)) as gradebook:
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment, student)
        try:
            submitted = gradebook.find_submission_notebook(notebook, assignment, student)
        except MissingEntry:
            return
        for grade in submitted.grades:
            if grade.name in manual:
                grade.auto_score = None
                grade.needs_manual_grade = True
                continue
            grade.auto_score = tests.get(grade.name, (0.0, grade.max_score))[0]
            grade.needs_manual_grade = grade.name in withheld
        gradebook.db.commit()


@functools.cache
def _feedback_exporter():
    """nbconvert's HTML exporter with nbgrader's feedback template, built once per process.

    Building one compiles the Jinja templates (about half a second); reusing it makes
    each feedback page cost only its rendering.
    """
    from nbconvert import HTMLExporter
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    import nbgrader

    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(formgrader / "templates")]
    # Where nbgrader 0.9.6 and later ship bootstrap.min.css (0.9.5 has it elsewhere: hence the floor 0.9.6).
    config.HTMLExporter.extra_template_paths = [str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    exporter = HTMLExporter(config=config)
    exporter.register_preprocessor(GetGrades(), enabled=True)
    exporter.register_preprocessor(_without_pending_answers, enabled=True)
    return exporter


#: Said under a written answer that awaits a person, in the student's feedback.
PENDING_NOTE = "*This answer ({points:g} points) is graded by a person later; it is not in the score above.*"


def _without_pending_answers(notebook: nbformat.NotebookNode, resources: dict):
    """Feedback preprocessor: answers awaiting a person show no score (nbgrader would show 0) and say why.

    ``resources["nbgrader"]["pending"]`` maps their grade ids to points; the page's total
    leaves those points out of its maximum.
    """
    pending = resources["nbgrader"].get("pending", {})
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in pending:
            cell.metadata.nbgrader["grade"] = False
            cells.append(nbformat.v4.new_markdown_cell(PENDING_NOTE.format(points=pending[grade_id])))
    notebook.cells = cells
    if "max_score" in resources["nbgrader"]:
        resources["nbgrader"]["max_score"] -= sum(pending.values())
    return notebook, resources


def feedback_html(out: Path, student: str, assignment: str, notebook_name: str,
                  notebook: nbformat.NotebookNode, pending: dict[str, float] | None = None) -> str:
    """nbgrader's feedback page for an autograded notebook, scores read from the gradebook.

    ``pending`` maps the grade ids of written answers awaiting a person to their points.
    """
    resources = {"nbgrader": {"notebook": notebook_name, "assignment": assignment, "student": student,
                              "db_url": db_url(out), "pending": dict(pending or {})}}
    body, _ = _feedback_exporter().from_notebook_node(notebook, resources=resources)
    return body


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """``value`` as CSV cell text that no spreadsheet runs as a formula (a leading quote disarms it)."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_nbgrader_csv(out: Path) -> Path:
    """nbgrader's own CSV export of the whole gradebook, written to ``out/nbgrader_export.csv``.

    Every cell is made :func:`spreadsheet_safe` (nbgrader writes student ids as they are).
    """
    import csv
    import io

    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    destination = Path(out) / "nbgrader_export.csv"
    plugin = CsvExportPlugin(to=str(destination))
    with Gradebook(db_url(out), course_id(out)) as gradebook:
        plugin.export(gradebook)
    rows = list(csv.reader(io.StringIO(destination.read_text(encoding="utf-8"))))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[spreadsheet_safe(cell) for cell in row] for row in rows])
    destination.write_text(buffer.getvalue(), encoding="utf-8")
    return destination
