"""Student self-checks: pass lines, failure sentences, and resistance to patching."""

from __future__ import annotations

import numpy as np
import pytest

from labs import checks


def test_a_passing_check_prints_pass(capsys):
    checks.check_equal("sum", 3, 3)
    assert capsys.readouterr().out == "[PASS] sum\n"


def test_a_failing_check_says_expected_and_got():
    with pytest.raises(AssertionError, match=r"\[FAIL\] rank: expected 2, got 3\. Hint: count the axes"):
        checks.check_equal("rank", 3, 2, hint="count the axes")


def test_check_shape_accepts_none_as_any_size(capsys):
    checks.check_shape("batch", np.zeros((4, 10)), (None, 10))
    with pytest.raises(AssertionError, match=r"expected shape \(None, 11\), got shape \(4, 10\)"):
        checks.check_shape("batch", np.zeros((4, 10)), (None, 11))


def test_check_close_rejects_wrong_shape_and_nan():
    with pytest.raises(AssertionError, match="shape"):
        checks.check_close("values", np.zeros(3), np.zeros(4))
    with pytest.raises(AssertionError, match="NaN"):
        checks.check_close("values", np.array([np.nan]), np.array([0.0]))


def test_check_close_accepts_tensors():
    tf = pytest.importorskip("tensorflow")
    checks.check_close("tensor", tf.constant([1.0, 2.0]), [1.0, 2.0 + 1e-9])


def test_check_type_names_both_types():
    with pytest.raises(AssertionError, match="expected a ndarray, got a list"):
        checks.check_type("inputs", [1, 2], np.ndarray)


def test_patching_numpy_comparisons_does_not_change_a_check(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *args, **kwargs: True)
    monkeypatch.setattr(np, "isclose", lambda *args, **kwargs: np.array(True))
    monkeypatch.setattr(np, "array_equal", lambda *args, **kwargs: True)
    with pytest.raises(AssertionError):
        checks.check_close("values", [1.0], [2.0])
    with pytest.raises(AssertionError):
        checks.check_equal("values", np.array([1]), np.array([2]))


def test_check_requires_a_true_boolean_not_a_truthy_object():
    with pytest.raises(AssertionError):
        checks.check("non-empty list is not True", [1], "the condition to hold")


def test_check_equal_is_not_fooled_by_an_object_that_equals_everything():
    class AgreesWithEverything:
        def __eq__(self, other):
            return True

    class StrThatAgrees(str):
        def __eq__(self, other):
            return True

    with pytest.raises(AssertionError, match="expected a str"):
        checks.check_equal("name", AgreesWithEverything(), "Tennis")
    with pytest.raises(AssertionError, match="expected a str"):
        checks.check_equal("name", StrThatAgrees("Golf"), "Tennis")


def test_check_equal_compares_numbers_across_numeric_types(capsys):
    checks.check_equal("count", np.int64(3), 3)
    checks.check_equal("ratio", 0.5, np.float32(0.5))
    assert capsys.readouterr().out.count("[PASS]") == 2


def test_check_equal_on_a_long_array_names_the_first_differing_index_and_count():
    expected = np.arange(20)
    got = expected.copy()
    got[7], got[12] = 70, 120
    with pytest.raises(AssertionError) as failure:
        checks.check_equal("tokens", got, expected)
    message = str(failure.value)
    assert "2 of 20 elements differ" in message
    assert "index (7,)" in message and "expected 7" in message and "got 70" in message


def test_check_close_on_a_long_array_names_the_first_differing_index():
    expected = np.zeros((3, 4))
    got = expected.copy()
    got[1, 2] = 0.5
    with pytest.raises(AssertionError) as failure:
        checks.check_close("logits", got, expected)
    assert "1 of 12 elements differ; first at index (1, 2)" in str(failure.value)


def test_check_equal_reports_a_shape_mismatch_as_shapes():
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got shape \(2,\)"):
        checks.check_equal("vector", np.zeros(2), np.zeros(3))


def test_checking_turns_a_crash_into_a_fail_line_without_the_original_traceback():
    with pytest.raises(AssertionError) as failure, checks.checking("get_batch on a 10-character text"):
        int("ten")
    message = str(failure.value)
    assert message.startswith("[FAIL] get_batch on a 10-character text:")
    assert "ValueError: invalid literal for int()" in message
    assert failure.value.__suppress_context__


def test_checking_keeps_a_failed_check_message_unchanged():
    with pytest.raises(AssertionError, match=r"^\[FAIL\] inner: expected 1, got 2\.$"), checks.checking("outer"):
        checks.fail("inner", 1, 2)


def test_checking_lets_a_passing_block_through(capsys):
    with checks.checking("block"):
        checks.check(True, "inside")
    assert capsys.readouterr().out == "[PASS] inside\n"


def test_checking_lets_an_unwritten_todo_say_so_itself():
    with pytest.raises(NotImplementedError, match="write get_batch"), checks.checking("get_batch"):
        raise NotImplementedError("write get_batch")
