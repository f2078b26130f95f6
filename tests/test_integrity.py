"""autograder.integrity and Ledger.put_back: what student code changed as the grader's own user is put back."""

from __future__ import annotations

from autograder.batch import Ledger
from autograder.integrity import Originals, changed_records, digest


def test_originals_put_back_changed_missing_and_relinked_files_and_leave_the_rest(tmp_path):
    kept = {name: f"{name} as read".encode() for name in ["changed", "deleted", "linked", "untouched"]}
    for name, data in kept.items():
        (tmp_path / name).write_bytes(data)
    originals = Originals()
    for name, data in kept.items():
        originals.keep(tmp_path / name, data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not the grader's")
    (tmp_path / "changed").write_bytes(b"owned")
    (tmp_path / "deleted").unlink()
    (tmp_path / "linked").unlink()
    (tmp_path / "linked").symlink_to(elsewhere)

    restored = originals.put_back()

    assert sorted(path.name for path in restored) == ["changed", "deleted", "linked"]
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept
    assert not (tmp_path / "linked").is_symlink() and elsewhere.read_bytes() == b"not the grader's"
    assert originals.put_back() == []
    assert originals.put_back([tmp_path / "untouched"]) == []


def test_a_ledger_and_key_changed_on_disk_are_rewritten_from_what_the_grader_read_and_appended(tmp_path):
    path = tmp_path / ".grading" / "ledger.jsonl"
    entry = {"student_id": "a", "assignment": "x", "notebook": "n", "score": 3.0}
    Ledger(path).append(entry)
    ledger = Ledger(path)
    ledger.append(dict(entry, student_id="b"))
    assert ledger.put_back() is False
    path.write_text('{"student_id": "a", "score": 10}\n')
    path.with_name("ledger.key").write_bytes(b"guessed")

    assert ledger.put_back() is True

    again = Ledger(path)
    assert again.rejected == 0 and {key[0]: e["score"] for key, e in again.latest.items()} == {"a": 3.0, "b": 3.0}
    assert path.with_name("ledger.key").stat().st_mode & 0o077 == 0


def test_records_whose_feedback_or_autograded_notebook_changed_are_found(tmp_path):
    (tmp_path / "feedback.html").write_text("page")
    (tmp_path / "other.html").write_text("page")
    entries = {("a", "x", "n"): {"files": {"feedback.html": digest(b"page")}},
               ("b", "x", "n"): {"files": {"other.html": digest(b"page")}},
               ("c", "x", "n"): {"files": {"gone.html": digest(b"page")}},
               ("d", "x", "n"): {}}
    (tmp_path / "other.html").write_text("owned")

    assert changed_records(tmp_path, entries) == [("b", "x", "n"), ("c", "x", "n")]
