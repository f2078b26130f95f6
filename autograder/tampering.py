"""Which student cells reach for the grading machinery: a check of the code, made outside the kernel.

The guard cells (:mod:`autograder.guard`) undo what ordinary code changes before
each test and notice what changes while it runs, but they run in the same
process as the student's code, so code written to find and subvert them
(walking ``globals()`` or closures, the kernel's session, the shell's
transformers) could still forge a pass. Code like that cannot hide from its own
text: :func:`cell_uses` parses every cell the student wrote (cells equal to a
cell of the released notebook are the course's, not the student's) and names
each use of something a lab answer never needs: the IPython shell and kernel
objects, introspection of frames, closures and globals, dynamic code (``exec``,
``eval``, ``compile``, ``__import__``, magics such as ``%run``, Python files
the notebook writes), assignments to attributes of imported modules, threads
and signal handlers (which run while a test runs), NumPy's override protocols
(``__array_function__``), and modules that reach below Python (``ctypes``).

Two kinds of use are told apart. A use that can only *read* what a test runs
(printing the call stack, ``inspect``, ``traceback``) is named for a person and
changes no score. A use that can *change* what a later test reports makes every
test after that cell count as not passed until a person has looked: the row
says which tests are withheld, and the gradebook marks them for manual grading.
The check cannot be forged by the student's code because it never runs it.
Code hidden in a string and run through one of the flagged calls is itself
flagged. It is a list of known routes, not a proof: the README says so.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

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
    "format_stack", "extract_stack", "print_stack", "walk_stack", "stack_info", "currentframe", "f_builtins",
    "f_trace", "tb_next", "cr_frame", "ag_frame", "gi_code", "getclosurevars", "getgeneratorlocals",
    "getcoroutinelocals", "addaudithook", "setswitchinterval", "_ip", "_current_frames",
})
#: Dunder attributes that ordinary answers use (defining classes, calling super()).
ALLOWED_DUNDERS = frozenset({
    "__init__", "__call__", "__name__", "__len__", "__getitem__", "__iter__", "__next__", "__repr__", "__str__",
    "__eq__", "__hash__", "__enter__", "__exit__", "__doc__", "__version__", "__file__", "__main__",
})
#: Modules that reach below Python or into the interpreter's bookkeeping, run code from text or data, or run
#: code while a test runs (threads, signal handlers, finalizers).
FLAGGED_MODULES = frozenset({
    "ctypes", "inspect", "importlib", "builtins", "ipykernel", "jupyter_client", "zmq", "signal", "autograder",
    "traceback", "linecache", "pdb", "bdb", "faulthandler", "threading", "_thread", "multiprocessing", "concurrent",
    "asyncio", "code", "codeop", "runpy", "pkgutil", "pickle", "marshal", "shelve", "dill", "cloudpickle", "weakref",
    "__main__",
})
#: What of ``gc`` an answer may use (freeing memory); the rest (``get_referrers``, ``callbacks``) finds the guard.
GC_ALLOWED = frozenset({"collect", "disable", "enable", "isenabled"})
#: Special methods an answer may define; others (``__array_function__``, ``__eq__``, ``__del__``) change what
#: a comparison in a test computes, or run code when the test is not looking.
ALLOWED_DEFINED_DUNDERS = frozenset({
    "__init__", "__call__", "__len__", "__getitem__", "__iter__", "__next__", "__repr__", "__str__", "__enter__",
    "__exit__", "__post_init__",
})
#: Magics (``%name`` or ``%%name``) an answer may use; others (``%run``, ``%load``, ``%autoreload``) run code this
#: check cannot read.
ALLOWED_MAGICS = frozenset({
    "matplotlib", "pip", "conda", "time", "timeit", "capture", "load_ext", "tensorboard", "env", "config", "who",
    "whos", "ls", "pwd", "writefile",
})
#: Uses that can only read what a test runs (the call stack, the source): named for a person, no score changes.
READING_USES = frozenset({
    ".format_stack", ".extract_stack", ".print_stack", ".walk_stack", ".stack_info", "stack_info=", ".co_consts",
    "import traceback", "import linecache", "import inspect", "import faulthandler",
})
#: Ends a use naming an import the grader's Python cannot find: a package it lacks (the import fails in the
#: kernel too) or a module the notebook wrote, whose writing (a ``.py`` file name) is itself a use that withholds.
NOT_INSTALLED = " (not an installed package)"
#: Names the grader itself uses in the kernel.
GRADER_PREFIX = "_grader"

_MAGIC_LINE = re.compile(r"^\s*[%!]")
_MAGIC_NAME = re.compile(r"^\s*%%?([A-Za-z_]\w*)")
_PYTHON_FILE = re.compile(r"\.py\b")


def _code_lines(source: str) -> str:
    """The cell's Python, with IPython magics and shell escapes blanked (they are not Python)."""
    return "\n".join("" if _MAGIC_LINE.match(line) else line for line in source.splitlines())


def _magic_uses(source: str) -> set[str]:
    """Magics outside :data:`ALLOWED_MAGICS`, as ``%name``, and ``%%writefile`` of a Python file."""
    lines = source.splitlines()
    names = {match.group(1) for match in map(_MAGIC_NAME.match, lines) if match}
    uses = {f"%{name}" for name in names - ALLOWED_MAGICS}
    if any(_MAGIC_NAME.match(line) and _PYTHON_FILE.search(line) for line in lines if "writefile" in line):
        uses.add("%%writefile *.py")
    return uses


def reaches(use: str) -> bool:
    """Whether a use named by :func:`code_uses` can change what a later test reports (not only read it)."""
    return use not in READING_USES and not use.endswith(NOT_INSTALLED)


def _root_name(node: ast.AST) -> str | None:
    """``np`` for ``np.testing.assert_allclose``; None when the chain does not start at a plain name."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _bound_by_import(node: ast.AST) -> list[tuple[str, str]]:
    """(name bound, module it comes from) for an import statement."""
    if isinstance(node, ast.Import):
        return [(alias.asname or alias.name.split(".")[0], alias.name) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [(alias.asname or alias.name, node.module) for alias in node.names]
    return []


def imported_names(sources: list[str]) -> frozenset[str]:
    """Names that refer to an imported module or one of its members in any of ``sources`` (and names assigned from them)."""
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(_code_lines(source)))
        except (SyntaxError, ValueError):
            continue
    names: set[str] = set()
    for _ in range(2):
        for tree in trees:
            for node in ast.walk(tree):
                names.update(name for name, _ in _bound_by_import(node))
                if isinstance(node, ast.Assign) and _root_name(node.value) in names:
                    names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return frozenset(names)


def _installed(module: str) -> bool:
    """Whether ``module`` (top-level name) is a package the grader's Python can import, not a file a notebook wrote."""
    import importlib.util
    import sys

    if module in sys.builtin_module_names or module in sys.stdlib_module_names:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module.split(".")[0]]
    return []


def _flagged_attribute(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name in FLAGGED_ATTRIBUTES or name.startswith(GRADER_PREFIX) or (dunder and name not in ALLOWED_DUNDERS)


def _assigned_attributes(node: ast.AST, imported: frozenset[str]) -> list[str]:
    """``numpy.allclose`` for ``numpy.allclose = ...`` (or ``del``) when ``numpy`` names an import."""
    if isinstance(node, (ast.Assign, ast.Delete)):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return []
    flat = []
    for target in targets:
        flat += target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
    return [ast.unparse(target) for target in flat
            if isinstance(target, ast.Attribute) and _root_name(target) in imported]


def _defined_dunders(node: ast.AST) -> list[str]:
    """Special methods a function or class body defines beyond :data:`ALLOWED_DEFINED_DUNDERS`."""
    names = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        names = [node.name]
    elif isinstance(node, ast.ClassDef):
        names = [target.id for statement in node.body if isinstance(statement, ast.Assign)
                 for target in statement.targets if isinstance(target, ast.Name)]
    return [name for name in names
            if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DEFINED_DUNDERS]


def _gc_uses(node: ast.AST, gc_names: set[str]) -> list[str]:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in gc_names:
        return [f"gc.{node.attr}"] if node.attr not in GC_ALLOWED else []
    if isinstance(node, ast.ImportFrom) and node.module == "gc":
        return [f"gc.{alias.name}" for alias in node.names if alias.name not in GC_ALLOWED]
    return []


def code_uses(source: str, imported: frozenset[str] = frozenset()) -> list[str]:
    """Sorted flagged uses in one cell's code (none when it does not parse: such a cell cannot run either).

    ``imported`` are the names the notebook binds by imports (:func:`imported_names`);
    assigning an attribute of one of them is a use.
    """
    try:
        tree = ast.parse(_code_lines(source))
    except (SyntaxError, ValueError):
        return []
    found: set[str] = _magic_uses(source)
    gc_names = {name for node in ast.walk(tree) for name, module in _bound_by_import(node)
                if module == "gc" and isinstance(node, ast.Import)}
    for node in ast.walk(tree):
        found.update(f"{target} = ..." for target in _assigned_attributes(node, imported))
        found.update(f"def {name}" for name in _defined_dunders(node))
        found.update(_gc_uses(node, gc_names))
        if isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names
                         if alias.name in FLAGGED_NAMES or _flagged_attribute(alias.name))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
            found.update(f"import {module}{NOT_INSTALLED}" for _, module in _bound_by_import(node)
                         if not _installed(module.split(".")[0]))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant)):
            found.add(f"{node.func.id} with a computed name")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc/" in node.value:
            found.add("'/proc/'")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _PYTHON_FILE.search(node.value):
            found.add("'*.py'")
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


@dataclass(frozen=True)
class CellUses:
    """The flagged uses in one student cell."""

    #: Position of the cell in the notebook (from 0).
    index: int
    #: ``answer square`` for an answer cell (its grade id), else ``cell 4`` (position from 1).
    where: str
    uses: tuple[str, ...]

    @property
    def sentence(self) -> str:
        """E.g. ``cell 7 uses get_ipython, .kernel``."""
        return f"{self.where} uses {', '.join(self.uses)}"

    @property
    def reaches(self) -> bool:
        """Whether some use can change what a later test reports."""
        return any(reaches(use) for use in self.uses)


def machinery_uses(student: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[CellUses]:
    """The student's code cells that use the grading machinery, in notebook order.

    ``released`` is the notebook as students received it (or its solution source):
    cells whose text equals one of its cells are the course's and are not checked.
    """
    course_cells = {_normalise(cell.source) for cell in released.cells if cell.cell_type == "code"}
    imported = imported_names([cell.source for cell in student.cells if cell.cell_type == "code"])
    found = []
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code" or _normalise(cell.source) in course_cells:
            continue
        uses = code_uses(cell.source, imported)
        if uses:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            found.append(CellUses(index, f"answer {grade_id}" if grade_id else f"cell {index + 1}", tuple(uses)))
    return found
