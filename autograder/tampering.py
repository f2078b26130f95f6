"""Which student cells reach for the grading machinery: a check of the code, made outside the kernel.

The guard cells (:mod:`autograder.guard`) undo what ordinary code changes before
each test, but they run in the same process as the student's code, so code
written to find and subvert them (walking ``globals()`` or closures, the
kernel's session, the shell's transformers) can still forge a pass. Code like
that cannot hide from its own text: :func:`machinery_uses` parses every cell
the student wrote (cells equal to a cell of the released notebook are the
course's, not the student's) and names each use of something a lab answer never
needs: the IPython shell and kernel objects, introspection of frames, closures
and globals, dynamic code (``exec``, ``eval``, ``compile``, ``__import__``), and
modules that reach below Python (``ctypes``, ``gc``, ``inspect``).

A hit does not change a score; the row's ``manual_grading`` column says
"needs review" with the cell and the names, so a person looks before the grade
stands. The check cannot be forged by the student's code because it never
runs it. Code hidden in a string and run through one of the flagged calls is
itself flagged.
"""

from __future__ import annotations

import ast
import re

import nbformat

#: Callables whose only use in a lab answer would be to reach the grader.
FLAGGED_NAMES = frozenset({
    "get_ipython", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr",
    "breakpoint",
})
#: Attributes of the shell, kernel, interpreter and frames.
FLAGGED_ATTRIBUTES = frozenset({
    "get_ipython", "session", "iopub_socket", "shell_handlers", "control_handlers", "do_execute", "run_cell",
    "input_transformers_cleanup", "input_transformers_post", "input_transformer_manager", "ast_transformers",
    "set_custom_exc", "custom_exceptions", "events", "user_ns", "user_global_ns", "displayhook", "excepthook",
    "display_pub", "settrace", "setprofile", "_getframe", "f_back", "f_globals", "f_locals", "f_code",
    "tb_frame", "gi_frame", "co_consts", "modules", "meta_path", "path_hooks",
    "format_stack", "extract_stack", "print_stack", "walk_stack", "stack_info", "currentframe",
})
#: Dunder attributes that ordinary answers use (defining classes, calling super()).
ALLOWED_DUNDERS = frozenset({
    "__init__", "__call__", "__name__", "__len__", "__getitem__", "__iter__", "__next__", "__repr__", "__str__",
    "__eq__", "__hash__", "__enter__", "__exit__", "__doc__", "__version__", "__file__", "__main__",
})
#: Modules that reach below Python or into the interpreter's bookkeeping.
FLAGGED_MODULES = frozenset({
    "ctypes", "gc", "inspect", "importlib", "builtins", "ipykernel", "jupyter_client", "zmq", "signal", "autograder",
    "traceback", "linecache", "pdb", "bdb", "faulthandler",
})
#: Names the grader itself uses in the kernel.
GRADER_PREFIX = "_grader"

_MAGIC_LINE = re.compile(r"^\s*[%!]")


def _code_lines(source: str) -> str:
    """The cell's Python, with IPython magics and shell escapes blanked (they are not Python)."""
    return "\n".join("" if _MAGIC_LINE.match(line) else line for line in source.splitlines())


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module.split(".")[0]]
    return []


def _flagged_attribute(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name in FLAGGED_ATTRIBUTES or name.startswith(GRADER_PREFIX) or (dunder and name not in ALLOWED_DUNDERS)


def code_uses(source: str) -> list[str]:
    """Sorted flagged names in one cell's code (none when it does not parse: such a cell cannot run either)."""
    try:
        tree = ast.parse(_code_lines(source))
    except (SyntaxError, ValueError):
        return []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and (node.id in FLAGGED_NAMES or node.id.startswith(GRADER_PREFIX)):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and _flagged_attribute(node.attr):
            found.add(f".{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and _flagged_attribute(node.args[1].value)):
            found.add(f".{node.args[1].value}")
        elif isinstance(node, ast.keyword) and node.arg in FLAGGED_ATTRIBUTES:
            found.add(f"{node.arg}=")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and GRADER_PREFIX in node.value:
            found.add(repr(GRADER_PREFIX))
        for module in _imported(node):
            if module in FLAGGED_MODULES:
                found.add(f"import {module}")
    return sorted(found)


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


def machinery_uses(student: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """One sentence per student code cell that uses the grading machinery, e.g. ``cell 7 uses get_ipython, .kernel``.

    ``released`` is the notebook as students received it (or its solution source):
    cells whose text equals one of its cells are the course's and are not checked.
    An answer cell is named by its grade id, any other cell by its position (from 1).
    """
    course_cells = {_normalise(cell.source) for cell in released.cells if cell.cell_type == "code"}
    sentences = []
    for number, cell in enumerate(student.cells, 1):
        if cell.cell_type != "code" or _normalise(cell.source) in course_cells:
            continue
        uses = code_uses(cell.source)
        if uses:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            where = f"answer {grade_id}" if grade_id else f"cell {number}"
            sentences.append(f"{where} uses {', '.join(uses)}")
    return sentences
