"""Find a TODO's answer re-written where students can read it, even under other names.

The line check in :func:`autograder.build.student_version_problems` catches a
solution line copied verbatim. A reference implementation in a check cell, or in
the public ``labs`` package, rarely copies lines: it renames the variables and
reflows the code. This module compares code structurally instead: every
expression of a solution that is big enough to be an idea (at least
``MINIMUM_NODES`` syntax-tree nodes) is reduced to a canonical form, with local
names erased but modules, attributes, keywords and constants kept, and looked
for among the canonical forms of the code students can read.

So ``tf.reduce_mean(tf.square(x - y), axis=1)`` in a solution matches
``tf.reduce_mean(tf.square(a - b), axis=1)`` in a check cell, while a check that
only calls the student's function on fixed arrays matches nothing.
"""

from __future__ import annotations

import ast
import copy
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.notebooks import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    SOLUTION_BEGIN,
    SOLUTION_END,
    is_answer,
    nbgrader_metadata,
    read_notebook,
    split_marked_lines,
)

#: Syntax-tree nodes (contexts not counted) an expression needs before it counts as an idea worth hiding.
MINIMUM_NODES = 7
#: A visible cell making this share of a TODO's library calls (and the TODO makes at least MINIMUM_CALLS) repeats its recipe.
MINIMUM_CALLS = 4
SHARED_CALLS = 0.8
#: Names kept in the canonical form: the modules the labs use. Every other name becomes ``_``.
KEPT_NAMES = frozenset({"tf", "np", "keras", "labs", "math", "random", "gym", "gymnasium"})
#: Array libraries whose functions mean the same: ``tf.reduce_sum`` and ``np.sum`` are one idea.
ARRAY_NAMESPACES = frozenset({"tf", "np", "math", "tf.math", "keras.ops", "ops", "tf.linalg", "np.linalg"})
SYNONYMS = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max", "reduce_min": "min",
            "reduce_prod": "prod", "reduce_std": "std", "concat": "concatenate", "pow": "power"}
#: Calls that only change an array's type; the canonical form keeps their first argument.
CONVERSIONS = frozenset({"asarray", "array", "convert_to_tensor", "constant", "cast", "float32", "float64", "float",
                         "int", "Variable"})
METHOD_CONVERSIONS = frozenset({"numpy", "astype", "item"})
OPERATORS = {"add": ast.Add, "subtract": ast.Sub, "multiply": ast.Mult, "divide": ast.Div, "matmul": ast.MatMult,
             "dot": ast.MatMult, "power": ast.Pow}


@dataclass(frozen=True)
class Leak:
    """A solution expression found in code students can read."""

    grade_id: str
    where: str
    text: str

    def sentence(self) -> str:
        """One line for ``labs build``'s error list."""
        return f"{self.where} re-implements the answer to {self.grade_id}: {self.text!r}"


def _dotted(node: ast.AST) -> str | None:
    """``tf.math`` for the expression ``tf.math``; None for anything that is not a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class Canonical(ast.NodeTransformer):
    """Erase what a re-implementation changes: local names, the array library, conversions, spellings."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(id=node.id if node.id in KEPT_NAMES else "_", ctx=ast.Load())

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg(arg="_")

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return ast.Constant(value=float(node.value))
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if _dotted(node.value) in ARRAY_NAMESPACES:
            return ast.Attribute(value=ast.Name(id="ARRAY", ctx=ast.Load()), attr=SYNONYMS.get(node.attr, node.attr),
                                 ctx=ast.Load())
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        plain_name = node.func.id if isinstance(node.func, ast.Name) else None  # before names are erased
        node = self.generic_visit(node)
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else plain_name
        array_call = isinstance(function, ast.Attribute) and _dotted(function.value) == "ARRAY"
        if (array_call or isinstance(function, ast.Name)) and name in CONVERSIONS and node.args:
            return node.args[0]
        if isinstance(function, ast.Attribute) and not array_call and name in METHOD_CONVERSIONS:
            return function.value
        if array_call and name in OPERATORS and len(node.args) == 2 and not node.keywords:
            return ast.BinOp(left=node.args[0], op=OPERATORS[name](), right=node.args[1])
        if array_call and name == "square" and len(node.args) == 1 and not node.keywords:
            return ast.BinOp(left=node.args[0], op=ast.Pow(), right=ast.Constant(value=2.0))
        return node


def _size(node: ast.AST) -> int:
    return sum(1 for child in ast.walk(node) if not isinstance(child, (ast.expr_context, ast.operator,
                                                                        ast.unaryop, ast.cmpop, ast.boolop)))


def _computes(node: ast.AST) -> bool:
    """Whether an expression does arithmetic or slicing (an idea), rather than only calling an API with names."""
    return any(isinstance(child, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Slice)) for child in ast.walk(node))


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None


def canonical_expressions(code: str, minimum_nodes: int | None = None) -> dict[str, str]:
    """Canonical form -> source text of every expression in ``code`` with at least ``minimum_nodes`` nodes.

    Code that does not parse (a fragment) gives an empty dict.
    """
    tree = _parse(code)
    if tree is None:
        return {}
    minimum_nodes = MINIMUM_NODES if minimum_nodes is None else minimum_nodes
    dedented = textwrap.dedent(code)
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr):
            continue
        canonical = Canonical().visit(copy.deepcopy(node))
        if _size(canonical) >= minimum_nodes and _computes(canonical):
            found.setdefault(ast.dump(canonical), ast.get_source_segment(dedented, node) or ast.unparse(node))
    return found


def api_calls(code: str) -> set[str]:
    """The library calls ``code`` makes, canonical: ``ARRAY.mean``, ``keras.layers.Dense``, ``.apply_gradients``.

    Calls of plain names (builtins, the student's own functions) are left out: they say nothing about how.
    """
    tree = _parse(code)
    if tree is None:
        return set()
    calls = set()
    for node in ast.walk(Canonical().visit(tree)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            dotted = _dotted(node.func)
            calls.add(dotted if dotted and not dotted.startswith("_.") else f".{node.func.attr}")
    return calls


def solution_expressions(source: nbformat.NotebookNode) -> dict[str, tuple[str, str]]:
    """Canonical form -> (grade id, text) for every large expression inside the source's solution regions."""
    found: dict[str, tuple[str, str]] = {}
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        solution, _ = split_marked_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
        grade_id = nbgrader_metadata(cell).get("grade_id", "a TODO")
        for canonical, text in canonical_expressions("\n".join(solution)).items():
            found.setdefault(canonical, (grade_id, text))
    return found


def _visible_code(cell: nbformat.NotebookNode) -> str:
    _, rest = split_marked_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
    _, visible = split_marked_lines("\n".join(rest), HIDDEN_BEGIN, HIDDEN_END)
    return "\n".join(visible)


def _matches(answers: dict[str, tuple[str, str]], code: str, where: str) -> list[Leak]:
    """The largest expression of ``code`` per TODO that is also in its solution (its parts would repeat it)."""
    largest: dict[str, str] = {}
    for canonical, text in canonical_expressions(code).items():
        if canonical in answers and len(text) > len(largest.get(answers[canonical][0], "")):
            largest[answers[canonical][0]] = text
    return [Leak(grade_id, where, text) for grade_id, text in largest.items()]


def solution_calls(source: nbformat.NotebookNode) -> dict[str, set[str]]:
    """Grade id -> the library calls its solution region makes."""
    calls = {}
    for cell in source.cells:
        solution, _ = split_marked_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
        if cell.cell_type == "code" and solution:
            calls[nbgrader_metadata(cell).get("grade_id", "a TODO")] = api_calls("\n".join(solution))
    return calls


def _same_recipe(answer_calls: dict[str, set[str]], code: str, where: str) -> list[Leak]:
    """A TODO whose library calls (at least MINIMUM_CALLS of them) nearly all reappear in ``code``."""
    used = api_calls(code)
    return [Leak(grade_id, where, "calls " + ", ".join(sorted(calls & used)))
            for grade_id, calls in answer_calls.items()
            if len(calls) >= MINIMUM_CALLS and len(calls & used) >= SHARED_CALLS * len(calls)]


def notebook_leaks(source: nbformat.NotebookNode, student: nbformat.NotebookNode, name: str) -> list[Leak]:
    """Solution expressions of ``source``, or most of a solution's library calls, in its student version's code cells.

    Answer cells are left out of the recipe check: a student version's answer cell holds the TODO's own
    signature and prompt, which may name the calls to use.
    """
    answers, calls = solution_expressions(source), solution_calls(source)
    leaks = []
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "code":
            where = f"{name} cell {index}"
            leaks += _matches(answers, _visible_code(cell), where)
            if not is_answer(cell):
                leaks += _same_recipe(calls, _visible_code(cell), where)
    return leaks


def package_leaks(sources: list[Path], package: Path) -> list[Leak]:
    """Solution expressions of any source that reappear in the Python files of ``package`` (the public ``labs``)."""
    answers: dict[str, tuple[str, str]] = {}
    for source in sources:
        for canonical, (grade_id, text) in solution_expressions(read_notebook(source)).items():
            answers.setdefault(canonical, (f"{source.stem}/{grade_id}", text))
    leaks = []
    for path in sorted(Path(package).rglob("*.py")):
        leaks += _matches(answers, path.read_text(encoding="utf-8"), f"{package.name}/{path.relative_to(package)}")
    return leaks
