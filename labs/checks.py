"""Student self-checks: each prints ``[PASS] what`` or raises ``AssertionError``
with a sentence saying what was expected and what was found.

The NumPy functions used for comparisons are bound when this module is imported,
so a notebook that later replaces ``np.allclose`` does not change what a check
decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_asarray = np.asarray
_isclose = np.isclose
_array_equal = np.array_equal
_all = np.all
_isfinite = np.isfinite
_NUMBERS = (int, float, complex, np.number, np.bool_)


def _as_numpy(value: Any) -> np.ndarray:
    """Convert tensors (anything with ``.numpy()``) and sequences to a NumPy array."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    return _asarray(value)


def _summarise(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if isinstance(value, np.ndarray) or hasattr(value, "numpy"):
        array = _as_numpy(value)
        text = f"array of shape {array.shape}, dtype {array.dtype}"
        if array.size <= 8:
            text += f": {array.tolist()}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_difference(got: np.ndarray, want: np.ndarray, differs: np.ndarray) -> str:
    """Describe where two same-shape arrays disagree: first index, both values there, how many."""
    indices = np.argwhere(differs)
    first = tuple(int(i) for i in indices[0]) if indices.size else ()
    return (
        f"an array where {len(indices)} of {differs.size} elements differ; first at index {first}: "
        f"expected {want[first].tolist()!r}, got {got[first].tolist()!r}"
    )


def passed(what: str) -> None:
    """Print the pass line for one check."""
    print(f"[PASS] {what}")


def fail(what: str, expected: Any, got: Any, hint: str = "") -> None:
    """Raise the standard failure for one check."""
    raise AssertionError(_failure_message(what, expected, got, hint))


def _failure_message(what: str, expected: Any, got: Any, hint: str) -> str:
    message = f"[FAIL] {what}: expected {expected}, got {got}."
    if hint:
        message += f" Hint: {hint}"
    return message


def check(condition: bool, what: str, expected: Any = "True", got: Any = "False", hint: str = "") -> None:
    """Pass when ``condition`` is true; otherwise fail with expected/got."""
    if condition is True or (isinstance(condition, (np.bool_,)) and bool(condition)):
        passed(what)
    else:
        fail(what, expected, got, hint)


def check_type(what: str, value: Any, expected_type: type | tuple[type, ...], hint: str = "") -> None:
    """Check ``isinstance(value, expected_type)``."""
    if isinstance(value, expected_type):
        passed(what)
    else:
        names = (
            " or ".join(t.__name__ for t in expected_type)
            if isinstance(expected_type, tuple)
            else expected_type.__name__
        )
        fail(what, f"a {names}", f"a {type(value).__name__}", hint)


def check_shape(what: str, value: Any, expected_shape: tuple[int | None, ...], hint: str = "") -> None:
    """Check a shape; ``None`` in ``expected_shape`` matches any size."""
    shape = tuple(_as_numpy(value).shape) if not hasattr(value, "shape") else tuple(value.shape)
    matches = len(shape) == len(expected_shape) and all(
        want is None or want == have for want, have in zip(expected_shape, shape)
    )
    if matches:
        passed(what)
    else:
        fail(what, f"shape {tuple(expected_shape)}", f"shape {shape}", hint)


def check_equal(what: str, value: Any, expected: Any, hint: str = "") -> None:
    """Check exact equality (element-wise for arrays and tensors)."""
    if hasattr(value, "numpy") or isinstance(value, np.ndarray) or isinstance(expected, np.ndarray):
        got_array, want_array = _as_numpy(value), _as_numpy(expected)
        if got_array.shape != want_array.shape:
            fail(what, f"shape {want_array.shape}", f"shape {got_array.shape}", hint)
        equal = bool(_array_equal(got_array, want_array))
        if not equal and want_array.ndim > 0:
            fail(what, _summarise(expected), _first_difference(got_array, want_array, got_array != want_array), hint)
    elif isinstance(value, _NUMBERS) and isinstance(expected, _NUMBERS):
        equal = bool(expected == value)
    elif not (isinstance(value, type(expected)) and type(value).__eq__ is type(expected).__eq__):
        # An object of another type, or a subclass with its own __eq__, could agree with anything.
        fail(what, f"a {type(expected).__name__} equal to {_summarise(expected)}", f"a {type(value).__name__}", hint)
    else:
        try:
            equal = bool(expected == value)
        except (TypeError, ValueError):
            equal = False
    if equal:
        passed(what)
    else:
        fail(what, _summarise(expected), _summarise(value), hint)


def check_close(
    what: str, value: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-6, hint: str = ""
) -> None:
    """Check that numbers, arrays or tensors agree within tolerance and have the same shape."""
    got_array = _as_numpy(value).astype(float)
    want_array = _as_numpy(expected).astype(float)
    if got_array.shape != want_array.shape:
        fail(what, f"shape {want_array.shape}", f"shape {got_array.shape}", hint)
    if not bool(_all(_isfinite(got_array))):
        fail(what, "finite numbers", "NaN or infinity", hint)
    close = _isclose(got_array, want_array, rtol=rtol, atol=atol)
    if bool(_all(close)):
        passed(what)
    elif want_array.ndim > 0:
        fail(what, _summarise(expected), _first_difference(got_array, want_array, ~close), hint)
    else:
        fail(what, _summarise(expected), _summarise(value), hint)


@contextmanager
def checking(what: str, expected: str = "the code to run without an error", hint: str = "") -> Iterator[None]:
    """Turn an exception raised inside the block into a ``[FAIL] what`` line naming the error.

    ``AssertionError`` from a check inside the block passes through unchanged, so its own
    expected/got sentence is kept; so does ``NotImplementedError``, which says that a TODO
    this check needs is not written yet.
    """
    try:
        yield
    except (AssertionError, NotImplementedError):
        raise
    except Exception as error:  # noqa: BLE001 - any crash in student code becomes a failed check
        crash = f"{type(error).__name__}: {error}"
        raise AssertionError(_failure_message(what, expected, crash, hint)) from None
