"""The code check that names student cells reaching for the grading machinery (autograder.tampering)."""

from __future__ import annotations

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder.tampering import code_uses, machinery_uses


@pytest.mark.parametrize("code, uses", [
    ("get_ipython().kernel.session.send = print", [".session", "get_ipython"]),
    ("import IPython\nIPython.get_ipython().events.register('pre_run_cell', print)", [".events", ".get_ipython"]),
    ("for name, value in globals().items():\n    print(value.__closure__)", [".__closure__", "globals"]),
    ("restore = getattr(f, '__closure__')", [".__closure__"]),
    ("exec('x = 1')", ["exec"]),
    ("import ctypes, gc", ["import ctypes", "import gc"]),
    ("from inspect import currentframe\nprint(currentframe().f_back.f_code.co_consts)",
     [".co_consts", ".f_back", ".f_code", "import inspect"]),
    ("import sys\nsys._getframe(1)", ["._getframe"]),
    ("_grader_abc_restore('token')", ["_grader_abc_restore"]),
    ("import traceback\nprint(traceback.format_stack())", [".format_stack", "import traceback"]),
    ("logging.warning('x', stack_info=True)", ["stack_info="]),
])
def test_code_that_reaches_for_the_kernel_or_the_guard_is_named(code: str, uses: list[str]):
    assert code_uses(code) == uses


@pytest.mark.parametrize("code", [
    "weights = model.layers[-1].kernel.numpy()",
    "class Model(tf.keras.Model):\n    def __init__(self):\n        super().__init__()\n    def call(self, x):\n"
    "        return x",
    "import sys\nprint(sys.version)\nfrom IPython.display import Audio",
    "%matplotlib inline\n!ls\nvalues = np.asarray(values) ** 2",
    "def broken(:\n    pass",
])
def test_ordinary_answers_are_not_flagged(code: str):
    assert code_uses(code) == []


def test_only_the_students_own_cells_are_checked_and_answers_are_named_by_grade_id():
    source = fixtures.source_notebook()
    student = fixtures.with_answers({"square": "def square(values):\n    return eval('values') ** 2"})
    student.cells.insert(3, nbformat.v4.new_code_cell("get_ipython()"))
    # The course's own set-up cell is not the student's, whatever it imports.
    assert machinery_uses(student, source) == ["cell 4 uses get_ipython", "answer square uses eval"]
    assert machinery_uses(source, source) == []
