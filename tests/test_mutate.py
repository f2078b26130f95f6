"""The mistake catalogue and ``labs mutate``: every declared wrong answer must lose points."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder.build import solution_sources, student_path
from autograder.mutate import (
    BLANK_STUDENT,
    SOLUTION_STUDENT,
    Mutant,
    apply_mutant,
    catalogue_path,
    catalogue_problems,
    load_catalogue,
    mutate,
    mutate_command,
    spread_sample,
)
from autograder.sandbox import isolation_available
from autograder.notebooks import read_notebook

ROOT = Path(__file__).resolve().parent.parent
SOURCES = solution_sources(ROOT)
IDS = [source.stem for source in SOURCES]
SANDBOX = "auto" if isolation_available() else "none"
#: Mutants per notebook graded by the suite (the whole catalogue takes too long for CI; see benchmarks/mutation.py).
SAMPLE_PER_NOTEBOOK = 1

#: For the fixture notebook: two real mistakes per TODO, one that changes nothing a test can see.
FIXTURE_MUTANTS = [
    ("square", "cube", "raises to the third power", "** 2", "** 3"),
    ("square", "doubled", "doubles instead of squaring", "np.asarray(values) ** 2", "np.asarray(values) * 2"),
    ("square", "same-square", "squares by multiplying (not a mistake: survives)", "np.asarray(values) ** 2",
     "np.asarray(values) * np.asarray(values)"),
    ("mean_rows", "columns", "averages columns", "axis=1", "axis=0"),
    ("mean_rows", "sums", "sums the rows", ".mean(axis=1)", ".sum(axis=1)"),
    ("mean_rows", "integer", "integer division of the sum", ".mean(axis=1)", ".sum(axis=1) // matrix.shape[1]"),
    ("clip_unit", "upper-only", "clips only from above", "np.clip(np.asarray(values, dtype=float), 0.0, 1.0)",
     "np.minimum(np.asarray(values, dtype=float), 1.0)"),
    ("clip_unit", "lower-only", "clips only from below", "np.clip(np.asarray(values, dtype=float), 0.0, 1.0)",
     "np.maximum(np.asarray(values, dtype=float), 0.0)"),
    ("clip_unit", "minus-one", "clips to [-1, 1]", "0.0, 1.0", "-1.0, 1.0"),
]


def _write_catalogue(source: Path, entries: list) -> None:
    mutants = [dict(zip(("grade_id", "name", "description", "find", "replace"), entry)) for entry in entries]
    catalogue_path(source).write_text(json.dumps({"mutants": mutants}, indent=2), encoding="utf-8")


def _fixture_course(root: Path, entries: list = FIXTURE_MUTANTS) -> Path:
    fixtures.write_course(root)
    source = root / fixtures.ASSIGNMENT / "solutions" / f"{fixtures.NOTEBOOK}.ipynb"
    nbformat.write(fixtures.blank(), student_path(source))
    _write_catalogue(source, entries)
    return source


def test_a_mutant_replaces_its_text_in_its_own_answer_cell_only():
    source = fixtures.source_notebook()
    mutated = apply_mutant(source, Mutant("square", "cube", "cubes", "** 2", "** 3"))
    changed = [index for index, (old, new) in enumerate(zip(source.cells, mutated.cells)) if old.source != new.source]
    assert len(changed) == 1
    assert "np.asarray(values) ** 3" in mutated.cells[changed[0]].source
    assert "** 3" not in nbformat.writes(source), "the source must not change"


@pytest.mark.parametrize("mutant, words", [
    (Mutant("square", "x", "d", "** 7", "** 3"), "occurs 0 times"),
    (Mutant("mean_rows", "x", "d", "a", "b"), "occurs"),
    (Mutant("test_square", "x", "d", "square", "cube"), "no answer cell"),
    (Mutant("square", "x", "d", "** 2", "** 2"), "changes nothing"),
])
def test_a_mutant_that_does_not_apply_exactly_once_is_refused_with_a_reason(mutant, words):
    with pytest.raises(ValueError, match=words):
        apply_mutant(fixtures.source_notebook(), mutant)


def test_catalogue_problems_name_each_broken_entry_and_each_todo_with_too_few(tmp_path):
    source = _fixture_course(tmp_path, FIXTURE_MUTANTS[:3] + [
        ("mean_rows", "Bad Name", "d", "axis=1", "axis=0"),
        ("mean_rows", "cube", "duplicate name", "axis=1", "axis=0"),
        ("clip_unit", "stale", "no longer matches", "np.clip(values)", "values"),
    ])
    problems = "\n".join(catalogue_problems(source))
    assert "'Bad Name' must be lowercase" in problems
    assert "two mutants are named 'cube'" in problems
    assert "mutant stale: its find text occurs 0 times in clip_unit" in problems
    assert "the TODO mean_rows has 2 mutant(s); declare at least 3" in problems
    assert "square" not in problems.replace("'cube'", "")


@pytest.mark.parametrize("text, words", [
    ("{not json", "not valid JSON"),
    ('{"mutants": {}}', "a list under"),
    ('{"mutants": [{"grade_id": "square", "name": "x"}]}', "exactly the text fields"),
])
def test_a_broken_catalogue_file_is_one_sentence(tmp_path, text, words):
    source = _fixture_course(tmp_path)
    catalogue_path(source).write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=words):
        load_catalogue(source)


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_every_lab_catalogue_applies_and_declares_three_mistakes_per_todo(source: Path):
    assert catalogue_path(source).exists(), f"{source.stem} has no mistake catalogue {catalogue_path(source).name}"
    assert catalogue_problems(source) == []


def test_the_course_declares_at_least_eighty_mistakes():
    assert sum(len(load_catalogue(source)) for source in SOURCES) >= 80


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_no_mistake_reaches_a_student_notebook(source: Path):
    student_text = student_path(source).read_text(encoding="utf-8")
    assert "mutant" not in student_text.lower()
    for mutant in load_catalogue(source):
        assert mutant.description not in student_text, f"{mutant.name}'s description is in the student version"
    assert not list(source.parent.parent.glob("*.mutants.json")), "a catalogue sits beside the student versions"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_every_notebook_says_its_visible_checks_are_a_subset_of_the_grading(source: Path):
    overview = " ".join(cell.source for cell in read_notebook(student_path(source)).cells[:4]
                        if cell.cell_type == "markdown")
    assert "is a subset of what is graded" in " ".join(overview.split())


@pytest.mark.notebook
def test_mutate_grades_every_mutant_and_both_baselines_and_names_the_survivor(tmp_path, capsys):
    _fixture_course(tmp_path / "course")
    reports = mutate(tmp_path / "course", [fixtures.NOTEBOOK], tmp_path / "out", workers=2, sandbox=SANDBOX,
                     show_progress=False)
    (report,) = reports
    assert (report.solution, report.blank) == ("", "")
    by_todo = {todo.grade_id: todo for todo in report.todos}
    assert sorted(by_todo["square"].caught) == ["cube", "doubled"]
    assert by_todo["square"].survivors == ["same-square"]
    assert by_todo["square"].score == pytest.approx(2 / 3)
    assert len(by_todo["mean_rows"].caught) == len(by_todo["clip_unit"].caught) == 3
    assert report.caught_by["columns"] == ["test_mean_rows"]
    assert report.problems == [f"{fixtures.NOTEBOOK}: same-square (square) survives: it scores full marks"]

    # The command prints the table, exits 1 for the survivor, and grades nothing again (the ledger caches).
    ledger = tmp_path / "out" / fixtures.NOTEBOOK / "graded" / ".grading" / "ledger.jsonl"
    lines = ledger.read_text().count("\n")
    code = mutate_command(tmp_path / "course", [fixtures.NOTEBOOK], tmp_path / "out", workers=2, sandbox=SANDBOX,
                          only=[], force=False, as_json=True)
    assert code == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["problems"] == report.problems
    assert ledger.read_text().count("\n") == lines, "unchanged mutants were graded again"


@pytest.mark.notebook
def test_mutate_flags_a_solution_below_full_marks_and_a_blank_that_earns_points(tmp_path):
    source = _fixture_course(tmp_path / "course")
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "clip_unit":
            cell.source = cell.source.replace("0.0, 1.0)", "0.0, 2.0)")
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_square":
            # A test that passes whatever the student wrote: the blank version earns its points.
            cell.source = "print('[PASS] square')"
    nbformat.write(notebook, source)
    _write_catalogue(source, [entry for entry in FIXTURE_MUTANTS if entry[0] != "clip_unit"] + [
        ("clip_unit", name, "d", "0.0, 2.0", replace) for name, replace in
        [("a", "0.0, 3.0"), ("b", "1.0, 2.0"), ("c", "-1.0, 2.0")]])
    (report,) = mutate(tmp_path / "course", [fixtures.NOTEBOOK], tmp_path / "out", workers=2, sandbox=SANDBOX, only=["a"],
                       show_progress=False)
    assert report.solution.startswith("scores 5/10"), report.solution
    assert report.blank == "earns points for test_square (2)"
    assert [todo.grade_id for todo in report.todos] == ["clip_unit"], "--mutant keeps only that mutant's TODO"
    assert {SOLUTION_STUDENT, BLANK_STUDENT, "a"} == {
        path.name for path in (tmp_path / "out" / fixtures.NOTEBOOK / "submissions").iterdir()}


def test_mutate_refuses_an_unknown_notebook_or_mutant_in_one_sentence(tmp_path, capsys):
    _fixture_course(tmp_path / "course")
    assert mutate_command(tmp_path / "course", ["Part9_Nothing"], tmp_path / "out", workers=1, sandbox=SANDBOX,
                          only=[], force=False, as_json=False) == 2
    assert "no solution source is called 'Part9_Nothing'; choose among" in capsys.readouterr().err
    assert mutate_command(tmp_path / "course", [fixtures.NOTEBOOK], tmp_path / "out", workers=1, sandbox=SANDBOX,
                          only=["zzz"], force=False, as_json=False) == 2
    assert f"no mutant is called zzz in {fixtures.NOTEBOOK}" in capsys.readouterr().err


def test_a_spread_sample_takes_the_same_evenly_spaced_mutants_every_time():
    mutants = [Mutant("g", f"m{index}", "d", "a", "b") for index in range(10)]
    assert [m.name for m in spread_sample(mutants, 3)] == ["m1", "m5", "m8"]
    assert spread_sample(mutants, None) == spread_sample(mutants, 12) == mutants


@pytest.mark.notebook
def test_labs_mutate_catches_a_sample_of_every_notebooks_mistakes_and_checks_both_baselines(tmp_path):
    reports = mutate(ROOT, [], tmp_path, workers=2, sandbox=SANDBOX, sample=SAMPLE_PER_NOTEBOOK, show_progress=False)
    assert [report.notebook for report in reports] == IDS
    assert [sum(todo.mutants for todo in report.todos) for report in reports] == [SAMPLE_PER_NOTEBOOK] * len(IDS)
    problems = [problem for report in reports for problem in report.problems]
    assert not problems, "\n".join(problems)
