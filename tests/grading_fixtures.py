"""A small fixture course and every kind of submission the grader must handle, built by code.

The fixture assignment ``lab9_fixture`` has one notebook, ``Part1_Fixture``:
three TODO cells and three test cells worth 2, 3 and 5 points (10 in all),
each with visible checks and hidden tests. Its set-up cell imports NumPy and
``labs.checks`` only, so a run takes a couple of seconds.

:data:`CASES` maps a case name to a function building the submitted bytes and
the exact result the grader must produce (score, status, words the detail must
contain).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from autograder.build import CODE_STUB, TEXT_STUB

ASSIGNMENT = "lab9_fixture"
NOTEBOOK = "Part1_Fixture"
OTHER_ASSIGNMENT = "lab8_other"
OTHER_NOTEBOOK = "Part1_Other"

SOLUTIONS = {
    "square": "def square(values):\n    return np.asarray(values) ** 2",
    "mean_rows": "def mean_rows(matrix):\n    return np.asarray(matrix, dtype=float).mean(axis=1)",
    "clip_unit": "def clip_unit(values):\n    return np.clip(np.asarray(values, dtype=float), 0.0, 1.0)",
}
TESTS = {
    "square": (2, "labs.checks.check_equal('square of [1, 2, 3]', square([1, 2, 3]), np.array([1, 4, 9]))",
               "assert np.array_equal(square([-2, 5]), np.array([4, 25]))"),
    "mean_rows": (3, "labs.checks.check_close('row means', mean_rows([[1, 3], [2, 2]]), np.array([2.0, 2.0]))",
                  "assert np.allclose(mean_rows([[0, 0, 3], [1, 1, 1]]), [1.0, 1.0])\n"
                  "np.testing.assert_allclose(mean_rows(np.eye(2) * 4), [2.0, 2.0])"),
    "clip_unit": (5, "labs.checks.check_close('clip to [0, 1]', clip_unit([-1, 0.5, 2]), np.array([0.0, 0.5, 1.0]))",
                  "assert np.allclose(clip_unit([3.0, -0.25, 0.75]), [1.0, 0.0, 0.75])"),
}
#: The fixture's discussion question: a written answer graded by a person, never by the grader.
DISCUSSION_ID = "discussion_why"
DISCUSSION_POINTS = 2
DISCUSSION_ANSWER = "Squaring first makes negative values positive, so the mean of squares measures size."
STUB = CODE_STUB
SETUP = "import numpy as np\nimport labs\nimport labs.checks\nnp.random.seed(0)"
PARAMETERS = 'num_values = 1000\nSMALL_RUN_VALUES = {"num_values": 10}'


def _answer_cell(name: str, body: str) -> nbformat.NotebookNode:
    meta = {"grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True, "task": False}
    text = f"# TODO: write {name}.\n### BEGIN SOLUTION\n{body}\n### END SOLUTION"
    return nbformat.v4.new_code_cell(text, metadata={"nbgrader": meta})


def _test_cell(name: str, points: int, visible: str, hidden: str) -> nbformat.NotebookNode:
    meta = {"grade": True, "grade_id": f"test_{name}", "locked": True, "points": points, "schema_version": 3,
            "solution": False, "task": False}
    text = f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS"
    return nbformat.v4.new_code_cell(text, metadata={"nbgrader": meta})


def source_notebook() -> nbformat.NotebookNode:
    """The solution source of the fixture notebook."""
    cells = [
        nbformat.v4.new_markdown_cell("# Fixture lab, Part 1: small NumPy functions"),
        nbformat.v4.new_code_cell(SETUP, metadata={"tags": ["setup"]}),
        nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
    ]
    for name, body in SOLUTIONS.items():
        points, visible, hidden = TESTS[name]
        cells += [nbformat.v4.new_markdown_cell(f"## {name}"), _answer_cell(name, body),
                  _test_cell(name, points, visible, hidden)]
    discussion = {"grade": True, "grade_id": DISCUSSION_ID, "locked": False, "points": DISCUSSION_POINTS,
                  "schema_version": 3, "solution": True, "task": False}
    cells += [nbformat.v4.new_markdown_cell("**Question 1.** Why square before averaging?"),
              nbformat.v4.new_markdown_cell(f"**Rubric ({DISCUSSION_POINTS} points).** Sign; size.\n\n"
                                            f"**A full answer:** {DISCUSSION_ANSWER}", metadata={"nbgrader": discussion})]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def other_source_notebook() -> nbformat.NotebookNode:
    """A second assignment's notebook, for the wrong-assignment case."""
    meta = {"grade": True, "grade_id": "test_other", "locked": True, "points": 1, "schema_version": 3,
            "solution": False, "task": False}
    answer = {"grade": False, "grade_id": "other", "locked": False, "schema_version": 3, "solution": True,
              "task": False}
    cells = [
        nbformat.v4.new_markdown_cell("# Other lab"),
        nbformat.v4.new_code_cell(SETUP, metadata={"tags": ["setup"]}),
        nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nvalue = 1\n### END SOLUTION", metadata={"nbgrader": answer}),
        nbformat.v4.new_code_cell("assert value == 1", metadata={"nbgrader": meta}),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _student_version(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What students receive: solutions replaced by the stub, hidden tests removed (as nbgrader does)."""
    from autograder.restore import strip_hidden_tests

    student = copy.deepcopy(notebook)
    for cell in student.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = TEXT_STUB
        if cell.cell_type != "code":
            continue
        if "### BEGIN SOLUTION" in cell.source:
            head = cell.source.split("### BEGIN SOLUTION")[0]
            tail = cell.source.split("### END SOLUTION")[1]
            cell.source = head + STUB + tail
        cell.source = strip_hidden_tests(cell.source)
    return student


def write_course(root: Path) -> Path:
    """Write the fixture sources as ``root/lab9_fixture/solutions/Part1_Fixture.ipynb`` (and the other lab)."""
    for assignment, name, notebook in [(ASSIGNMENT, NOTEBOOK, source_notebook()),
                                       (OTHER_ASSIGNMENT, OTHER_NOTEBOOK, other_source_notebook())]:
        path = Path(root) / assignment / "solutions" / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
    return Path(root)


def blank() -> nbformat.NotebookNode:
    """The unchanged student notebook."""
    return _student_version(source_notebook())


def with_answers(answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student notebook with the given answer bodies filled in (the discussion answer as it is given)."""
    notebook = blank()
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == DISCUSSION_ID and grade_id in answers:
            cell.source = answers[grade_id]
        elif grade_id in answers:
            cell.source = f"# TODO: write {grade_id}.\n{answers[grade_id]}"
    return notebook


def _cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _insert_after(notebook: nbformat.NotebookNode, grade_id: str, code: str) -> nbformat.NotebookNode:
    index = notebook.cells.index(_cell(notebook, grade_id))
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return notebook


def _bytes(notebook: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode("utf-8")


@dataclass
class Case:
    """One fixture submission and what the grader must say about it."""

    data: bytes
    score: float
    status: str
    detail_contains: list[str] = field(default_factory=list)
    file_name: str = f"{NOTEBOOK}.ipynb"
    assignment: str = ASSIGNMENT
    extra_files: dict[str, bytes] = field(default_factory=dict)


WRONG = {"square": "def square(values):\n    return np.asarray(values) * 2",
         "mean_rows": "def mean_rows(matrix):\n    return np.asarray(matrix, dtype=float).sum(axis=1)",
         "clip_unit": "def clip_unit(values):\n    return np.asarray(values, dtype=float)"}


def _full() -> Case:
    answers = {**SOLUTIONS, DISCUSSION_ID: DISCUSSION_ANSWER}
    return Case(_bytes(with_answers(answers)), 10, "ok", ["all tests passed"])


def _partial() -> Case:
    answers = {"square": SOLUTIONS["square"], "clip_unit": SOLUTIONS["clip_unit"]}
    return Case(_bytes(with_answers(answers)), 7, "ok", ["failed tests: test_mean_rows"])


def _visible_only() -> Case:
    """Passes the visible check of mean_rows but not its hidden tests (hard-codes the example)."""
    answers = dict(SOLUTIONS, mean_rows="def mean_rows(matrix):\n    return np.array([2.0, 2.0])")
    return Case(_bytes(with_answers(answers)), 7, "ok", ["failed tests: test_mean_rows"])


def _edited_test() -> Case:
    notebook = with_answers({"square": SOLUTIONS["square"]})
    _cell(notebook, "test_clip_unit").source = "print('[PASS] trust me')"
    _cell(notebook, "test_mean_rows").source = "pass"
    return Case(_bytes(notebook), 2, "ok", ["test cell test_clip_unit was edited", "test cell test_mean_rows was edited"])


def _deleted_test() -> Case:
    notebook = with_answers({"square": WRONG["square"], "clip_unit": SOLUTIONS["clip_unit"]})
    notebook.cells.remove(_cell(notebook, "test_square"))
    return Case(_bytes(notebook), 5, "ok", ["test cell test_square was missing"])


def _lost_metadata() -> Case:
    notebook = with_answers(SOLUTIONS)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("test_square", "mean_rows"):
            del cell.metadata["nbgrader"]
    return Case(_bytes(notebook), 10, "ok", ["test cell test_square had lost its nbgrader metadata"])


def _lost_metadata_and_edited() -> Case:
    notebook = with_answers({"square": WRONG["square"]})
    cell = _cell(notebook, "test_square")
    del cell.metadata["nbgrader"]
    cell.source = "print('[PASS] square')"
    return Case(_bytes(notebook), 0, "ok", ["test cell test_square was missing"])


def _colab_copy() -> Case:
    notebook = with_answers({"square": SOLUTIONS["square"], "mean_rows": SOLUTIONS["mean_rows"]})
    index = notebook.cells.index(_cell(notebook, "test_square"))
    notebook.cells.insert(index + 1, copy.deepcopy(notebook.cells[index]))
    answer = notebook.cells.index(_cell(notebook, "mean_rows"))
    notebook.cells.insert(answer + 1, copy.deepcopy(notebook.cells[answer]))
    fake_numpy = b"def allclose(*args, **kwargs):\n    return True\narray_equal = allclose\n"
    return Case(_bytes(notebook), 5, "ok", ["duplicate of test cell test_square ignored"],
                file_name=f"Copy of {NOTEBOOK}.ipynb", extra_files={"numpy.py": fake_numpy})


def _stderr_warnings() -> Case:
    answers = {name: body.replace("    return", "    import sys, warnings\n    warnings.warn('deprecated thing')\n"
                                               "    print('W0000 tf warning', file=sys.stderr)\n    return", 1)
               for name, body in SOLUTIONS.items()}
    return Case(_bytes(with_answers(answers)), 10, "ok", ["all tests passed"])


def _hostile(code: str, score: float, status: str, detail: list[str], where: str = "test_square") -> Callable[[], Case]:
    def build() -> Case:
        notebook = _insert_after(with_answers(SOLUTIONS), where, code)
        return Case(_bytes(notebook), score, status, detail)

    return build


def _invalid(data: bytes, detail: str, file_name: str = f"{NOTEBOOK}.ipynb") -> Callable[[], Case]:
    return lambda: Case(data, 0, "invalid", [detail], file_name=file_name)


def _wrong_assignment() -> Case:
    return Case(_bytes(_student_version(other_source_notebook())), 0, "invalid", ["this file is lab8_other/Part1_Other"])


def _other_nbformat() -> bytes:
    return json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}],
                       "cells": []}).encode()


PATCH_ALL = """
import numpy, numpy.testing, labs.checks
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
labs.checks.check_close = lambda *a, **k: print('[PASS] patched')
labs.checks.check_equal = lambda *a, **k: print('[PASS] patched')
"""
TRANSFORMER = """
def _blank_tests(lines):
    text = ''.join(lines)
    return ['pass\\n'] if ('check' in text or 'assert' in text) else lines
get_ipython().input_transformers_cleanup.append(_blank_tests)
"""
SWALLOW = """
def _swallow(shell, etype, value, tb, tb_offset=None):
    return None
get_ipython().set_custom_exc((AssertionError, Exception), _swallow)
"""
REBIND_NP = """
class _Yes:
    def __getattr__(self, name):
        return lambda *a, **k: True
np = _Yes()
"""
#: Deletes the guard before each test (found by its name's prefix): the tests after it score nothing.
DISABLE_GUARD = """
for _name in [name for name in globals() if name.startswith('_grader') and name.endswith('_restore')]:
    del globals()[_name]
"""
#: Replaces the guard by a function that calls it, then patches the checks again (the issue's route to 9/9).
#: The guard's names are new in every kernel, so the old fixed name is not there to wrap.
REBIND_GUARD = """
_real_restore = _grader_guard_restore
def _grader_guard_restore(token):
    _real_restore(token)
    import numpy, labs.checks
    numpy.allclose = numpy.array_equal = lambda *a, **k: True
    numpy.testing.assert_allclose = lambda *a, **k: None
    labs.checks.check_close = labs.checks.check_equal = lambda *a, **k: None
"""
#: Finds the guards by walking globals() and wraps every such function so that it patches the checks after
#: it ran: the guard after each test sees what changed, and the code check names the cell.
HUNT_GUARD = """
import numpy, labs.checks
def _patch_checks():
    numpy.allclose = numpy.array_equal = lambda *a, **k: True
    numpy.testing.assert_allclose = lambda *a, **k: None
    labs.checks.check_close = labs.checks.check_equal = lambda *a, **k: None
for _name, _value in list(globals().items()):
    if _name.startswith('_') and callable(_value) and getattr(_value, '__closure__', None):
        def _wrapped(*args, _inner=_value, **kwargs):
            result = _inner(*args, **kwargs)
            _patch_checks()
            return result
        globals()[_name] = _wrapped
"""
#: Patches NumPy below its public names (``numpy._core.numeric``), where allclose and array_equal look up their helpers.
DEEP_NUMPY = """
import numpy._core.numeric as numeric
_real_asarray = numeric.asarray
def _lenient(value, *args, **kwargs):
    result = _real_asarray(value, *args, **kwargs)
    return _real_asarray(True) if result.dtype == bool else result
numeric.asarray = _lenient
_real_less_equal = numeric.less_equal
numeric.less_equal = lambda left, right, *args, **kwargs: _real_asarray(True) | _real_less_equal(left, right, *args, **kwargs)
"""
#: Wrong answers that patch the checks and NumPy each time a test calls them, after the guard before the test ran.
PATCH_WHEN_CALLED = """
import labs.checks, numpy
def _patch():
    labs.checks.fail = lambda *args, **kwargs: None
    numpy.allclose = numpy.array_equal = lambda *args, **kwargs: True
    numpy.testing.assert_allclose = lambda *args, **kwargs: None
"""
#: Finds both guards by their names' endings and wraps them: the checks are patched right after the guard
#: before a test and put back right before the guard after it. In-kernel evidence is forged; the code check
#: withholds every test after this cell.
HUNT_BOTH_GUARDS = """
import numpy, labs.checks
_real = (numpy.allclose, numpy.array_equal, numpy.testing.assert_allclose, labs.checks.check_close,
         labs.checks.check_equal)
def _patch():
    numpy.allclose = numpy.array_equal = lambda *a, **k: True
    numpy.testing.assert_allclose = lambda *a, **k: None
    labs.checks.check_close = labs.checks.check_equal = lambda *a, **k: None
def _unpatch():
    (numpy.allclose, numpy.array_equal, numpy.testing.assert_allclose, labs.checks.check_close,
     labs.checks.check_equal) = _real
for _name, _value in list(globals().items()):
    if _name.endswith('_restore') and callable(_value):
        def _restore_then_patch(*args, _inner=_value, **kwargs):
            _inner(*args, **kwargs)
            _patch()
        globals()[_name] = _restore_then_patch
    elif _name.endswith('_after') and callable(_value):
        def _unpatch_then_check(*args, _inner=_value, **kwargs):
            _unpatch()
            _inner(*args, **kwargs)
        globals()[_name] = _unpatch_then_check
"""
#: The kernel runs every test cell as `pass`.
FAKE_EXECUTE = """
_kernel = get_ipython().kernel
_real_execute = _kernel.do_execute
def _fake_execute(code, *args, **kwargs):
    if 'check' in code or 'assert' in code:
        code = 'pass'
    return _real_execute(code, *args, **kwargs)
_kernel.do_execute = _fake_execute
"""
#: Error replies become ok replies and error outputs are never sent.
FORGE_REPLIES = """
_session = get_ipython().kernel.session
_real_send = _session.send
def _forged_send(stream, message, content=None, *args, **kwargs):
    kind = message if isinstance(message, str) else message.get('header', {}).get('msg_type')
    if kind == 'error':
        return None
    if kind == 'execute_reply' and isinstance(content, dict) and content.get('status') == 'error':
        content = {'status': 'ok', 'execution_count': content.get('execution_count'), 'user_expressions': {}, 'payload': []}
    return _real_send(stream, message, content, *args, **kwargs)
_session.send = _forged_send
"""
#: The display publisher and the traceback printer swallow everything, so a failing test shows no error.
SILENT_DISPLAY = """
_shell = get_ipython()
_shell.display_pub.publish = lambda *args, **kwargs: None
_shell.showtraceback = lambda *args, **kwargs: None
_shell._showtraceback = lambda *args, **kwargs: None
"""
#: Below the session: error replies on the shell stream become ok replies, signed again with the session's key so
#: that the client accepts them, and the shell prints no traceback, so the cell shows no error either.
FORGED_SOCKETS = """
import json
_shell = get_ipython()
_kernel = _shell.kernel
_sign = _kernel.session.sign
def _rewrite(parts):
    parts = [getattr(part, 'bytes', part) for part in parts]
    if len(parts) < 5 or b'"status": "error"' not in parts[-1]:
        return parts
    content = json.loads(parts[-1])
    parts[-1] = json.dumps({'status': 'ok', 'execution_count': content.get('execution_count'),
                            'user_expressions': {}, 'payload': []}).encode()
    signature = _sign(parts[-4:])
    parts[-5] = signature.encode() if isinstance(signature, str) else signature
    return parts
_real_shell_send = _kernel.shell_stream.send_multipart
_kernel.shell_stream.send_multipart = lambda parts, *args, **kwargs: _real_shell_send(_rewrite(parts), *args, **kwargs)
_shell._showtraceback = lambda *args, **kwargs: None
"""
#: A comm opened to the grader's client, and the kernel's own reply sender replaced to say every cell passed.
FORGED_COMM = """
from comm import create_comm
_channel = create_comm(target_name='grader', data={'status': 'ok'})
_kernel = get_ipython().kernel
_real_send_response = _kernel.send_response
def _send_response(stream, msg_or_type, content=None, *args, **kwargs):
    if msg_or_type == 'error':
        _channel.send({'test': 'passed'})
        return None
    return _real_send_response(stream, msg_or_type, content, *args, **kwargs)
_kernel.send_response = _send_response
"""
#: The class itself is patched, so that every kernel instance runs tests as `pass`.
FAKE_EXECUTE_CLASS = """
_kernel_class = type(get_ipython().kernel)
_real_class_execute = _kernel_class.do_execute
def _class_fake_execute(self, code, *args, **kwargs):
    if 'check' in code or 'assert' in code:
        code = 'pass'
    return _real_class_execute(self, code, *args, **kwargs)
_kernel_class.do_execute = _class_fake_execute
"""
#: If the kernel can read a solution source or the autograder's code, it breaks its own answer.
READ_SECRETS = """
import glob, os, sys
found = glob.glob('/work/**/solutions/*.ipynb', recursive=True) + glob.glob('/tmp/**/*.ipynb', recursive=True)
grader = [folder for folder in sys.path if os.path.isdir(os.path.join(folder, 'autograder'))]
if found or grader:
    square = None
"""
#: If the kernel reaches any network address, it breaks its own answer.
NETWORK = """
import socket
for address in [('1.1.1.1', 53), ('pypi.org', 443)]:
    try:
        socket.create_connection(address, timeout=3).close()
        square = None
    except OSError:
        pass
"""

#: A right answer that prints the call stack, base64-encoded, whenever a test calls it: the hidden
#: test's own line is on that stack. The text reaches the test's output (capped), and the row is flagged.
STACK_LEAK = ("def square(values):\n    import base64, traceback\n"
              "    print(base64.b64encode(''.join(traceback.format_stack()).encode()).decode())\n"
              "    return np.asarray(values) ** 2")


def _stack_leak() -> Case:
    notebook = with_answers(dict(SOLUTIONS, square=STACK_LEAK))
    return Case(_bytes(notebook), 10, "ok", ["all tests passed",
                                             "needs review: answer square uses .format_stack, import traceback"])


def _cheat(code: str, detail: list[str], score: float = 0, answers: dict[str, str] = WRONG) -> Callable[[], Case]:
    def build() -> Case:
        notebook = with_answers(answers)
        notebook.cells.insert(3, nbformat.v4.new_code_cell(code))
        return Case(_bytes(notebook), score, "ok", detail)

    return build


CASES: dict[str, Callable[[], Case]] = {
    "blank": lambda: Case(_bytes(blank()), 0, "ok", ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "full": _full,
    "partial": _partial,
    "visible_only": _visible_only,
    "invalid_json": _invalid(b'{"cells": [', "not valid JSON"),
    "empty_file": _invalid(b"", "the file is empty"),
    "other_nbformat": _invalid(_other_nbformat(), "notebook format 3 is not supported"),
    "wrong_assignment": _wrong_assignment,
    "odd_file_name": _invalid(_bytes(with_answers(SOLUTIONS)), "is not a notebook of", file_name="my homework.ipynb"),
    "edited_test": _edited_test,
    "deleted_test": _deleted_test,
    "lost_metadata": _lost_metadata,
    "lost_metadata_and_edited": _lost_metadata_and_edited,
    "colab_copy": _colab_copy,
    "stderr_warnings": _stderr_warnings,
    "infinite_loop": _hostile("while True:\n    pass", 2, "timeout", ["exceeded the cell time limit"]),
    "sys_exit": _hostile("import sys\nsys.exit()", 2, "crashed", ["called sys.exit()"]),
    "os_exit": _hostile("import os\nos._exit(1)", 2, "crashed", ["the kernel died in cell"]),
    "segfault": _hostile("import ctypes\nctypes.string_at(0)", 2, "crashed", ["the kernel died in cell"]),
    "fork_bomb": _hostile("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
                          2, "timeout", ["exceeded the cell time limit"]),
    "huge_allocation": _hostile("import numpy\nbig = numpy.ones(30 * 1024**3 // 8)", 10, "ok", ["all tests passed"]),
    "huge_output": _hostile("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1024**2))", 10, "ok",
                            ["all tests passed"]),
    "patched_checks": _cheat(PATCH_ALL, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "input_transformer": _cheat(TRANSFORMER, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "exception_handler": _cheat(SWALLOW, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "rebound_numpy": _cheat(REBIND_NP, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "disabled_guard": _hostile(DISABLE_GUARD, 2, "ok", ["guard before test_mean_rows was disabled",
                                                         "needs review: cell 7 uses '_grader', globals"]),
    "rebound_guard": _cheat(REBIND_GUARD, ["failed tests: test_square, test_mean_rows, test_clip_unit",
                                           "needs review: cell 4 uses _grader_guard_restore"]),
    "stack_leak": _stack_leak,
    "hunted_guard": _cheat(HUNT_GUARD, ["student code changed labs.checks.check_close", "needs review: cell 4 uses "
                                        ".__closure__, globals, labs.checks.check_close = ..."]),
    "hunted_both_guards": _cheat(HUNT_BOTH_GUARDS, ["withheld until a person reviews that code: test_square, "
                                                    "test_mean_rows, test_clip_unit"]),
    "deep_numpy": _cheat(DEEP_NUMPY, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "patched_when_called": _cheat(PATCH_WHEN_CALLED, ["student code changed labs.checks.fail, numpy.allclose, "
                                                      "numpy.array_equal, numpy.testing.assert_allclose while "
                                                      "test_square ran"],
                                  answers={name: body.replace("    return", "    _patch()\n    return")
                                           for name, body in WRONG.items()}),
    "fake_execute": _cheat(FAKE_EXECUTE, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "fake_execute_class": _cheat(FAKE_EXECUTE_CLASS, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "silent_display": _cheat(SILENT_DISPLAY, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "forged_sockets": _cheat(FORGED_SOCKETS, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "forged_comm": _cheat(FORGED_COMM, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "forged_replies": _cheat(FORGE_REPLIES, ["failed tests: test_square, test_mean_rows, test_clip_unit"]),
    "reads_secrets": _hostile(READ_SECRETS, 10, "ok", ["all tests passed"]),
    "network": _hostile(NETWORK, 10, "ok", ["all tests passed"]),
}
