"""The code check that names student cells reaching for the grading machinery (autograder.tampering)."""

from __future__ import annotations

import nbformat
import pytest

import grading_fixtures as fixtures
from autograder.tampering import code_uses, imported_names, machinery_uses, reaches


@pytest.mark.parametrize("code, uses", [
    ("get_ipython().kernel.session.send = print", [".session", "get_ipython"]),
    ("import IPython\nIPython.get_ipython().events.register('pre_run_cell', print)", [".events", ".get_ipython"]),
    ("for name, value in globals().items():\n    print(value.__closure__)", [".__closure__", "globals"]),
    ("restore = getattr(f, '__closure__')", [".__closure__"]),
    ("exec('x = 1')", ["exec"]),
    ("import ctypes, gc", ["import ctypes"]),
    ("import gc\ngc.collect()", []),
    ("import gc\ngc.get_referrers(check)", ["gc.get_referrers"]),
    ("from gc import get_objects", ["gc.get_objects"]),
    ("from IPython import get_ipython as shell", ["get_ipython"]),
    ("quit._ip.kernel.do_execute = run", ["._ip", ".do_execute"]),
    ("part = getattr(check, name)", ["getattr with a computed name"]),
    ("import threading\nthreading.Thread(target=patch).start()", ["import threading"]),
    ("import pickle\npickle.loads(payload)", ["import pickle"]),
    ("%run helper.py\n%matplotlib inline\n%%time", ["%run"]),
    ("import my_helpers_written_by_the_notebook", ["import my_helpers_written_by_the_notebook (not an installed package)"]),
    ("%%writefile helpers.py\ndef square(values):\n    return values", ["%%writefile *.py"]),
    ("open('helpers.py', 'w').write(code)", ["'*.py'"]),
    ("class Answer:\n    __array_priority__ = 100\n    def __array_function__(self, *args):\n        return True",
     ["def __array_function__", "def __array_priority__"]),
    ("class Sneaky:\n    def __del__(self):\n        patch()", ["def __del__"]),
    ("memory = open('/proc/self/mem', 'r+b')", ["'/proc/'"]),
    ("from inspect import currentframe\nprint(currentframe().f_back.f_code.co_consts)",
     [".co_consts", ".f_back", ".f_code", "currentframe", "import inspect"]),
    ("import sys\nsys._getframe(1)", ["._getframe"]),
    ("_grader_abc_restore('token')", ["_grader_abc_restore"]),
    ("import traceback\nprint(traceback.format_stack())", [".format_stack", "import traceback"]),
    ("logging.warning('x', stack_info=True)", ["stack_info="]),
])
def test_code_that_reaches_for_the_kernel_or_the_guard_is_named(code: str, uses: list[str]):
    assert code_uses(code) == uses


def test_assigning_an_attribute_of_an_imported_module_or_its_alias_is_named():
    imported = imported_names(["import numpy as np\nimport labs.checks", "testing = np.testing"])
    assert code_uses("np.allclose = lambda *a, **k: True", imported) == ["np.allclose = ..."]
    assert code_uses("testing.assert_allclose = print", imported) == ["testing.assert_allclose = ..."]
    assert code_uses("del labs.checks.fail", imported) == ["labs.checks.fail = ..."]
    assert code_uses("self.units = 4\nmodel.trainable = False\nplt_settings = np.zeros(3)", imported) == []


@pytest.mark.parametrize("use, can_change_scores", [
    (".format_stack", False), ("import traceback", False), ("import inspect", False), (".co_consts", False),
    ("globals", True), (".__closure__", True), ("np.allclose = ...", True), ("import threading", True),
    ("%run", True), ("def __array_function__", True), ("getattr with a computed name", True),
    ("import pandas (not an installed package)", False), ("'*.py'", True), ("%%writefile *.py", True),
])
def test_only_uses_that_can_change_what_a_test_reports_withhold_points(use: str, can_change_scores: bool):
    assert reaches(use) is can_change_scores


@pytest.mark.parametrize("code", [
    "weights = model.layers[-1].kernel.numpy()",
    "class Model(tf.keras.Model):\n    def __init__(self):\n        super().__init__()\n    def call(self, x):\n"
    "        return x",
    "import sys\nprint(sys.version)\nfrom IPython.display import Audio",
    "%matplotlib inline\n!ls\nvalues = np.asarray(values) ** 2",
    "import gc\ntf.keras.backend.clear_session()\ngc.collect()",
    "from google.colab import drive\ndrive.mount('/content/drive')",
    "history = model.fit(images, labels, callbacks=[early_stopping], verbose=0)",
    "class Encoder(tf.keras.layers.Layer):\n    def __call__(self, x):\n        return x\n    def __repr__(self):\n"
    "        return 'Encoder'",
    "def broken(:\n    pass",
])
def test_ordinary_answers_are_not_flagged(code: str):
    assert code_uses(code) == []


def test_only_the_students_own_cells_are_checked_and_answers_are_named_by_grade_id():
    source = fixtures.source_notebook()
    student = fixtures.with_answers({"square": "def square(values):\n    return eval('values') ** 2"})
    student.cells.insert(3, nbformat.v4.new_code_cell("get_ipython()"))
    # The course's own set-up cell is not the student's, whatever it imports.
    found = machinery_uses(student, source)
    assert [uses.sentence for uses in found] == ["cell 4 uses get_ipython", "answer square uses eval"]
    assert [uses.index for uses in found] == [3, 5] and all(uses.reaches for uses in found)
    assert machinery_uses(source, source) == []
