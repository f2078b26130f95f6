"""Reading, writing and inspecting notebooks, and the small-run parameters.

Every notebook has one code cell tagged ``parameters`` holding the full-run
values and a ``SMALL_RUN_VALUES`` dict literal; a small run injects those
values in a new cell (tagged ``injected-parameters``) right after it, the
convention papermill uses.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import html
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

#: Tag of the cell that installs and imports (:func:`autograder.build.setup_prelude`).
SETUP_TAG = "setup"
PARAMETERS_TAG = "parameters"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
INJECTED_TAG = "injected-parameters"
SMALL_VALUES_NAME = "SMALL_RUN_VALUES"


class NotebookError(ValueError):
    """A notebook file that cannot be used; the message is one sentence."""


def split_marked_lines(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """Split a cell's lines into those inside ``begin``/``end`` marker blocks and
    those outside them (nbgrader's solution or hidden-test markers); the marker
    lines themselves are in neither list."""
    inside, outside, within = [], [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == begin:
            within = True
        elif marker == end:
            within = False
        else:
            (inside if within else outside).append(line)
    return inside, outside


def parse_notebook(text: str, where: str | None = None) -> nbformat.NotebookNode:
    """Parse and validate a version-4 notebook from its JSON text.

    Raises :class:`NotebookError` with one sentence; ``where`` (a path), when given, starts it.
    """
    def problem(reason: str) -> NotebookError:
        return NotebookError(f"{where}: {reason}." if where else reason)

    if not text.strip():
        raise problem("the file is empty, not a notebook")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise problem(f"not valid JSON ({error.msg} at line {error.lineno}); re-download the notebook") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise problem("JSON but not a notebook (no 'cells' list)")
    if raw.get("nbformat") != 4:
        raise problem(f"notebook format {raw.get('nbformat')} is not supported; save it as nbformat 4")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise problem(f"invalid notebook ({str(error).strip().splitlines()[0]})") from None
    return notebook


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a version-4 notebook file, raising :class:`NotebookError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such notebook file; check the path.")
    return parse_notebook(path.read_text(encoding="utf-8", errors="replace"), str(path))


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    """The canonical on-disk text of a notebook: nbformat's JSON with a final newline."""
    return nbformat.writes(notebook, version=4).rstrip("\n") + "\n"


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends, rename it to ``path``.

    Readers of ``path`` see the old file or the whole new one, never a part. If
    the block raises (Ctrl-C included), the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`replaced_atomically`."""
    with replaced_atomically(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write ``notebook`` atomically in its canonical form (:func:`notebook_text`)."""
    write_text_atomically(Path(path), notebook_text(notebook))


def clear_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs and execution counts in place (keeps all cell metadata); return the notebook."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return notebook


def cell_tags(cell: nbformat.NotebookNode) -> list[str]:
    """The cell's tags (empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def cells_with_tag(notebook: nbformat.NotebookNode, tag: str) -> list[int]:
    """Indices of the cells carrying ``tag``."""
    return [index for index, cell in enumerate(notebook.cells) if tag in cell_tags(cell)]


def nbgrader_metadata(cell: nbformat.NotebookNode) -> dict[str, Any]:
    """The cell's nbgrader metadata (empty dict when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_graded(cell: nbformat.NotebookNode) -> bool:
    """True for autograder test cells (nbgrader ``grade`` without ``solution``)."""
    meta = nbgrader_metadata(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_answer(cell: nbformat.NotebookNode) -> bool:
    """True for cells the student writes (nbgrader ``solution``)."""
    return bool(nbgrader_metadata(cell).get("solution"))


def is_manual(cell: nbformat.NotebookNode) -> bool:
    """True for answers a person grades (nbgrader ``grade`` and ``solution``: the discussion questions)."""
    meta = nbgrader_metadata(cell)
    return bool(meta.get("grade")) and bool(meta.get("solution"))


def manual_points(source: nbformat.NotebookNode) -> dict[str, float]:
    """Points per grade id of the answers in ``source`` that a person grades."""
    return {nbgrader_metadata(cell)["grade_id"]: float(nbgrader_metadata(cell).get("points", 0))
            for cell in source.cells if is_manual(cell)}


def manual_grading_note(points: dict[str, float]) -> str:
    """The grades.csv text for answers awaiting a person ('' when there are none)."""
    if not points:
        return ""
    return f"needs manual grading: {sum(points.values()):g} points ({', '.join(points)})"


def parameters_cell_index(notebook: nbformat.NotebookNode, name: str = "notebook") -> int:
    """Index of the single code cell tagged ``parameters``."""
    found = [i for i in cells_with_tag(notebook, PARAMETERS_TAG) if notebook.cells[i].cell_type == "code"]
    if len(found) != 1:
        problem = "has no code cell tagged 'parameters'" if not found else f"has {len(found)} cells tagged 'parameters'"
        raise NotebookError(
            f"{name} {problem}; tag exactly one code cell 'parameters' holding the run-size values and {SMALL_VALUES_NAME}."
        )
    return found[0]


def small_run_values(notebook: nbformat.NotebookNode, name: str = "notebook") -> dict[str, Any]:
    """The ``SMALL_RUN_VALUES`` dict literal of the parameters cell.

    Every key must also be assigned in the parameters cell, so that a small run
    replaces values rather than inventing new ones.
    """
    index = parameters_cell_index(notebook, name)
    source = notebook.cells[index].source
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise NotebookError(f"{name}: the parameters cell does not parse ({error.msg}, line {error.lineno}).") from None
    assigned: set[str] = set()
    values: dict[str, Any] | None = None
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            target = statement.targets[0].id
            if target == SMALL_VALUES_NAME:
                try:
                    values = ast.literal_eval(statement.value)
                except ValueError:
                    raise NotebookError(f"{name}: {SMALL_VALUES_NAME} must be a dict of literal values.") from None
            else:
                assigned.add(target)
    if not isinstance(values, dict):
        raise NotebookError(f"{name}: the parameters cell has no {SMALL_VALUES_NAME} = {{...}} dict literal.")
    unknown = sorted(set(values) - assigned)
    if unknown:
        raise NotebookError(
            f"{name}: {SMALL_VALUES_NAME} sets {', '.join(unknown)}, which the parameters cell does not assign."
        )
    return values


def inject_values(
    notebook: nbformat.NotebookNode, values: dict[str, Any], note: str, name: str = "notebook"
) -> nbformat.NotebookNode:
    """Return a copy of ``notebook`` with a cell assigning ``values`` right after the parameters cell.

    The injected cell is tagged ``injected-parameters`` and prints ``note`` followed by the values,
    so that the executed notebook says which run it is.
    """
    injected = copy.deepcopy(notebook)
    index = parameters_cell_index(injected, name)
    lines = [f"# Injected: {note}"]
    lines += [f"{key} = {value!r}" for key, value in values.items()]
    summary = ", ".join(f"{key}={value!r}" for key, value in values.items())
    lines.append(f"print({(note + ': ' + summary)!r})")
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
    injected.cells.insert(index + 1, cell)
    return injected


def inject_small_values(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return a copy of ``notebook`` with the small values injected after the parameters cell."""
    return inject_values(notebook, small_run_values(notebook, name), "Small run (results are not meaningful)", name)


def run_solution_cells(
    path: Path, grade_ids: set[str], namespace: dict[str, Any] | None = None, with_parameters: bool = False
) -> dict[str, Any]:
    """Execute a solution notebook's cells with these nbgrader grade ids, in order, in this process.

    Tests and benchmarks use it to call the notebook's own solution code.
    ``namespace`` holds what those cells expect from earlier cells (imports);
    ``with_parameters`` also runs the ``parameters`` cell first. Returns the namespace.

    Raises:
        NotebookError: a grade id is not in the notebook.
    """
    notebook = read_notebook(path)
    namespace = dict(namespace or {})
    found: set[str] = set()
    for cell in notebook.cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in grade_ids or (with_parameters and PARAMETERS_TAG in cell_tags(cell)):
            exec(compile(cell.source, f"{Path(path).name}:{grade_id or PARAMETERS_TAG}", "exec"), namespace)
            found.add(grade_id)
    missing = sorted(grade_ids - found)
    if missing:
        raise NotebookError(f"{path} has no cells with grade ids {missing}; update the caller's grade ids.")
    return namespace


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def terminal_text(text: str) -> str:
    """What a terminal would show for ``text``: carriage returns and backspaces applied.

    Keras and tqdm redraw a progress line with ``\\r`` and ``\\b``; a static page
    (nbconvert HTML, the grader's feedback) would show every redraw and the
    control characters. Each line keeps only what its last redraw left.
    """
    lines = []
    for line in text.split("\n"):
        shown: list[str] = []
        cursor = 0
        for character in line:
            if character == "\r":
                cursor = 0
            elif character == "\b":
                cursor = max(0, cursor - 1)
            else:
                if cursor < len(shown):
                    shown[cursor] = character
                else:
                    shown.append(character)
                cursor += 1
        lines.append("".join(shown))
    return "\n".join(lines)


def _widget(reference: str, widget_state: dict[str, dict]) -> dict:
    """The state of the widget that ``IPY_MODEL_<id>`` (or a bare id) names; empty if unknown."""
    return widget_state.get(reference.removeprefix("IPY_MODEL_"), {})


def _progress_bar_text(model_id: str, widget_state: dict[str, dict]) -> str | None:
    """The final text of a tqdm notebook bar, '' for a bar hidden when it closed, None for other widgets.

    tqdm draws a bar as an HBox of three widgets: a label ending with the percentage,
    the bar itself and the statistics (``5/5 [00:01<00:00, 4.1it/s]``).
    """
    box = _widget(model_id, widget_state)
    children = [_widget(child, widget_state) for child in box.get("children", [])]
    if len(children) != 3 or children[1].get("_model_name") not in ("FloatProgressModel", "IntProgressModel"):
        return None
    if _widget(box.get("layout", ""), widget_state).get("visibility") == "hidden":
        return ""
    label, progress, statistics = children
    maximum, value = progress.get("max") or 0, progress.get("value") or 0
    filled = min(10, round(10 * value / maximum)) if maximum else 0
    text = f"{label.get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{statistics.get('value', '')}"
    return html.unescape(text).replace("\u2007", " ").strip()


def settle_outputs(notebook: nbformat.NotebookNode, widget_state: dict[str, dict]) -> nbformat.NotebookNode:
    """Make an executed notebook read as its final screen, in place; return it.

    Consecutive outputs of one stream are joined and keep only what their last
    redraw left (:func:`terminal_text`).
    A progress-bar widget's output becomes the text of its final state (a saved
    page has no widget to update, so it would show the bar as it started at 0%);
    a bar that was closed while running (``leave=False``) is dropped, as it
    disappeared on screen. ``widget_state`` maps model ids to widget states, as
    nbclient's ``NotebookClient.widget_state`` holds them after a run.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs: list[nbformat.NotebookNode] = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                previous = outputs[-1] if outputs else None
                if previous is not None and previous.get("output_type") == "stream" and previous.name == output.name:
                    previous["text"] = terminal_text(previous["text"] + output["text"])
                    continue
                output["text"] = terminal_text(output["text"])
            elif WIDGET_VIEW in output.get("data", {}):
                model_id = output["data"][WIDGET_VIEW].get("model_id", "")
                if model_id not in widget_state:
                    continue
                text = _progress_bar_text(model_id, widget_state)
                if text == "":
                    continue
                if text is not None:
                    output["data"] = {"text/plain": text}
            outputs.append(output)
        cell["outputs"] = outputs
    return notebook
