"""autograder.similarity: answer cells compared after names, comments and layout are normalised."""

from __future__ import annotations

import grading_fixtures as fixtures
import synthetic_class
from autograder.build import CODE_STUB
from autograder.report import answer_sources
from autograder.similarity import canonical_tokens, reference_of, similar_pairs, stub_of


def _fixture_cells() -> tuple[dict[str, str], dict[str, str]]:
    """Stub and reference of each code answer cell of the fixture notebook (written answers are not compared)."""
    answers = [c for c in fixtures.source_notebook().cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    ids = [c.metadata.nbgrader.grade_id for c in answers]
    return ({i: stub_of(c.source, CODE_STUB) for i, c in zip(ids, answers)},
            {i: reference_of(c.source) for i, c in zip(ids, answers)})


def test_canonical_tokens_ignore_names_comments_and_layout_but_not_structure():
    first = "def f(values):\n    # square them\n    result = values * values\n    return result"
    second = "def f( xs ):\n\n  out = xs*xs   # mine\n  return out"
    assert canonical_tokens(first) == canonical_tokens(second)
    assert canonical_tokens(first) != canonical_tokens("def f(values):\n    return values + values")


def test_a_disguised_copy_is_flagged_and_the_stub_the_reference_and_honest_work_are_not():
    stub, reference = _fixture_cells()
    honest = {name: synthetic_class.ALTERNATIVES[name][index] for index, name in enumerate(fixtures.SOLUTIONS)}
    other = {name: synthetic_class.ALTERNATIVES[name][(index + 1) % 3] for index, name in enumerate(fixtures.SOLUTIONS)}
    answers = {"blank1": answer_sources(fixtures.blank()), "blank2": answer_sources(fixtures.blank()),
               "reference1": answer_sources(fixtures.with_answers(fixtures.SOLUTIONS)),
               "reference2": answer_sources(fixtures.with_answers(fixtures.SOLUTIONS)),
               "honest": answer_sources(fixtures.with_answers(honest)),
               "other": answer_sources(fixtures.with_answers(other)),
               "copier": answer_sources(fixtures.with_answers({k: synthetic_class.disguise(v) for k, v in honest.items()}))}

    pairs = similar_pairs(answers, stub, reference, threshold=0.5)

    assert [(pair.first, pair.second) for pair in pairs] == [("copier", "honest")]
    assert pairs[0].score > 0.8
    assert [cell.grade_id for cell in pairs[0].cells] == list(fixtures.SOLUTIONS)
    assert "worked this out myself" in pairs[0].cells[0].first and "values" in pairs[0].cells[0].second
