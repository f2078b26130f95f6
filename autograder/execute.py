"""Run a notebook headless, cell by cell, with a progress bar.

:func:`run_code_cells` is the one loop that executes a notebook's cells, with
its time limits and the ways a run ends early; :func:`execute` (``labs run``,
``labs demo``, the benchmarks) and grading (:mod:`autograder.grading`, in a
sandboxed kernel) both drive it and differ only in how they start the kernel
and word the outcome.

The executed copy and every file the notebook writes land in
``OUT/<notebook name>/``. The run happens in a scratch folder beside it that is
renamed into place only when the run succeeds. A run that fails or is
interrupted keeps what it did, under names that cannot be mistaken for a
finished run: ``OUT/<notebook name>.incomplete/<notebook name>.incomplete.ipynb``
holds the cells executed so far, the error included.

Benchmarks run a notebook through :func:`run_for_figures`: the same reader,
parameter injection and executor, with one appended cell that prints the
figures the notebook computed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.notebooks import (
    inject_small_values,
    inject_values,
    nbgrader_metadata,
    parameters_cell_index,
    read_notebook,
    settle_outputs,
    small_run_values,
    write_notebook,
)

#: Starts the line that :func:`run_for_figures`' appended cell prints, followed by the figures as JSON.
FIGURES_MARKER = "NOTEBOOK_FIGURES "


@dataclass
class CellError:
    """An exception raised by one cell."""

    index: int
    name: str
    value: str
    grade_id: str | None = None
    is_answer: bool = False

    def describe(self) -> str:
        """One line: which cell (counted from 1, as in the file) and what it raised."""
        where = f"cell {self.index + 1}" + (f" ({self.grade_id})" if self.grade_id else "")
        value = self.value.strip().splitlines()[0] if self.value.strip() else ""
        return f"{where} raised {self.name}" + (f": {value[:200]}" if value else "")


@dataclass
class RunResult:
    """The outcome of one headless run."""

    notebook: str
    seconds: float
    errors: list[CellError] = field(default_factory=list)
    output: Path | None = None
    executed: nbformat.NotebookNode | None = None
    complete: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    def first_error(self) -> str:
        """``notebook: cell N (...) raised Error: message``, or an empty string."""
        return f"{self.notebook}: {self.errors[0].describe()}" if self.errors else ""


def _cell_error(cell: nbformat.NotebookNode, index: int) -> CellError | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            meta = nbgrader_metadata(cell)
            return CellError(index, output.get("ename", "Error"), output.get("evalue", ""),
                             meta.get("grade_id"), bool(meta.get("solution")))
    return None


#: Why :func:`run_code_cells` ended before the last code cell (``None`` when it ran them all).
STOP_REASONS = ("deadline", "cell_timeout", "notebook_timeout", "dead_kernel", "interrupted", "stopped")


@dataclass(frozen=True)
class Stop:
    """Where and why a run ended early: ``reason`` is one of :data:`STOP_REASONS`.

    ``deadline``: the notebook's time was used up before cell ``index`` started;
    ``cell_timeout`` / ``notebook_timeout``: cell ``index`` ran out of its own or
    the notebook's time; ``dead_kernel``; ``interrupted`` (Ctrl-C); ``stopped``:
    the caller's ``stop_after`` said so after cell ``index``.
    """

    index: int
    reason: str


async def run_code_cells(
    client: Any,
    notebook: nbformat.NotebookNode,
    *,
    cell_timeout: float | None,
    notebook_timeout: float | None = None,
    private: Callable[[nbformat.NotebookNode], bool] | None = None,
    stop_after: Callable[[int, nbformat.NotebookNode], bool] | None = None,
    on_cell_done: Callable[[], Any] | None = None,
) -> tuple[set[int], Stop | None]:
    """Run the code cells of ``notebook`` in order on ``client``'s started kernel: the one executor loop.

    Every notebook run (``labs run``, benchmarks, grading) goes through here; callers
    start the kernel their way (plain, or sandboxed) and turn the :class:`Stop` into
    their own words. A cell gets ``cell_timeout`` seconds, less if the notebook's
    ``notebook_timeout`` (seconds, for all cells together) runs out first; ``None``
    means no limit. Cells for which ``private`` is true stay out of the kernel's
    input history. Returns the indices of the cells that finished and why the run
    ended early, or None.
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    deadline = None if notebook_timeout is None else time.monotonic() + notebook_timeout
    finished: set[int] = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return finished, Stop(index, "deadline")
        limits = [limit for limit in (cell_timeout, remaining) if limit is not None]
        client.timeout = max(1, int(min(limits))) if limits else None
        try:
            await client.async_execute_cell(cell, index, store_history=not (private and private(cell)))
        except CellTimeoutError:
            own_limit = remaining is None or (cell_timeout is not None and cell_timeout <= remaining)
            return finished, Stop(index, "cell_timeout" if own_limit else "notebook_timeout")
        except DeadKernelError:
            return finished, Stop(index, "dead_kernel")
        except (KeyboardInterrupt, asyncio.CancelledError):
            return finished, Stop(index, "interrupted")
        finished.add(index)
        if on_cell_done is not None:
            on_cell_done()
        if stop_after is not None and stop_after(index, cell):
            return finished, Stop(index, "stopped")
    return finished, None


#: What :func:`execute` records as the error of the cell a run ended on.
_STOP_ERRORS = {
    "cell_timeout": ("CellTimeoutError", "the cell ran longer than {limit} s"),
    "dead_kernel": ("DeadKernelError", "the kernel died (crash or out of memory)"),
    "interrupted": ("KeyboardInterrupt", "the run was interrupted (Ctrl-C)"),
}


def _cancel_on_ctrl_c(pressed: list[bool]) -> None:
    """Make Ctrl-C cancel the running cell and note it in ``pressed`` (nbclient then reports a dead kernel).

    nbclient's own handler, installed when the kernel starts, only shuts the kernel down and
    leaves the run waiting for the cell until its time limit.
    """
    task = asyncio.current_task()

    def interrupt() -> None:
        pressed.append(True)
        task.cancel()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError):  # Windows, or not the main thread: Ctrl-C raises as usual
        pass


def execute(
    notebook: nbformat.NotebookNode,
    workdir: Path,
    name: str,
    cell_timeout: float | None = None,
    stop_on_error: bool = True,
    show_progress: bool = True,
) -> tuple[nbformat.NotebookNode, list[CellError]]:
    """Execute ``notebook`` in ``workdir`` with a fresh kernel; return it and the cell errors.

    With ``stop_on_error`` the run ends at the first cell that raises; otherwise
    every cell runs and every error is collected. A cell that exceeds
    ``cell_timeout`` seconds (``None``: no limit), a kernel that dies, or Ctrl-C
    counts as that cell's error and ends the run.
    """
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    client = NotebookClient(
        notebook, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    errors: list[CellError] = []

    def record_error(index: int, cell: nbformat.NotebookNode) -> bool:
        error = _cell_error(cell, index)
        if error is not None:
            errors.append(error)
        return error is not None and stop_on_error

    # The kernel's own stderr (TensorFlow's C++ start-up logs) is not part of the
    # notebook; errors reach us through the messaging protocol.
    kernel_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore::DeprecationWarning")
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    pressed: list[bool] = []
    with tqdm(total=code_cells, desc=name, unit="cell", disable=not show_progress, leave=False) as progress:

        async def run() -> Stop | None:
            async with client.async_setup_kernel(cwd=str(workdir), env=kernel_env, stderr=subprocess.DEVNULL):
                _cancel_on_ctrl_c(pressed)
                return (await run_code_cells(client, notebook, cell_timeout=cell_timeout, stop_after=record_error,
                                             on_cell_done=progress.update))[1]

        stop = asyncio.run(run())
    if stop is not None and pressed:
        stop = Stop(stop.index, "interrupted")
    if stop is not None and stop.reason in _STOP_ERRORS:
        ename, text = _STOP_ERRORS[stop.reason]
        limit = f"{cell_timeout:.0f}" if cell_timeout is not None else "?"
        errors.append(CellError(stop.index, ename, text.format(limit=limit),
                                nbgrader_metadata(notebook.cells[stop.index]).get("grade_id")))
    return settle_outputs(notebook, client.widget_state), errors


def run_notebook(
    path: Path,
    out_dir: Path,
    small: bool = False,
    cell_timeout: float | None = None,
    stop_on_error: bool = True,
    show_progress: bool = True,
    keep_on_error: bool = False,
) -> RunResult:
    """Run the notebook at ``path``; save the executed copy and artifacts in ``out_dir/<stem>/``.

    Args:
        small: inject the parameters cell's ``SMALL_RUN_VALUES`` first.
        cell_timeout: seconds any one cell may take (``None``: no limit).
        stop_on_error: end at the first failing cell (else run every cell).
        keep_on_error: save the output in ``out_dir/<stem>/`` even when a cell
            failed (used by tests that expect errors, such as the student
            versions). Otherwise a failed run is kept in
            ``out_dir/<stem>.incomplete/`` and ``complete`` is False.

    Raises:
        NotebookError: the path is not a readable notebook, or it has no
            ``parameters`` cell.
    """
    path, out_dir = Path(path), Path(out_dir)
    notebook = read_notebook(path)
    name = str(path)
    parameters_cell_index(notebook, name)
    if small:
        notebook = inject_small_values(notebook, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / path.stem
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", suffix=".partial", dir=out_dir))
    start = time.perf_counter()
    try:
        executed, errors = execute(notebook, scratch, path.name, cell_timeout, stop_on_error, show_progress)
        if small:  # report cell positions as they are in the file, without the injected cell
            injected_at = parameters_cell_index(notebook, name) + 1
            for error in errors:
                error.index -= error.index > injected_at
        seconds = time.perf_counter() - start
        result = RunResult(name, seconds, errors, executed=executed)
        if errors and not keep_on_error:
            final = out_dir / f"{path.stem}.incomplete"
            result.complete = False
        notebook_name = path.name if result.complete else f"{path.stem}.incomplete{path.suffix}"
        write_notebook(executed, scratch / notebook_name)
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
        result.output = final / notebook_name
        return result
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def run_for_figures(
    path: Path,
    figures: str,
    *,
    small: bool = False,
    values: dict[str, Any] | None = None,
    after_parameters: Sequence[str] = (),
    cell_timeout: float | None = None,
    save_to: Path | None = None,
    label: str | None = None,
    show_progress: bool = True,
) -> tuple[dict[str, Any], RunResult]:
    """Run the notebook at ``path`` top to bottom and return the figures it computed, with the run.

    The notebook runs as written (:func:`read_notebook`, :func:`execute`) except for:
    its ``SMALL_RUN_VALUES`` if ``small``, then ``values``, injected in one cell after
    the parameters cell (:func:`inject_values`); the code cells ``after_parameters``
    right after that one; and a last cell that runs ``figures``, code over the
    notebook's variables that binds ``figures`` to a dict JSON can encode, and
    prints it. Files the notebook writes go to a temporary folder, removed after
    the run; with ``save_to`` (a folder) the executed notebook is written there
    as ``<label or stem>.ipynb``.

    Raises:
        NotebookError: the notebook cannot be read or has no parameters cell.
        RuntimeError: a cell raised, or the figures cell printed no figures.
    """
    path = Path(path)
    label = label or path.stem
    notebook = read_notebook(path)
    overrides = dict(small_run_values(notebook, str(path))) if small else {}
    overrides.update(values or {})
    if overrides:
        note = "Small run (results are not meaningful)" if small else "Values for this run"
        notebook = inject_values(notebook, overrides, note, str(path))
    position = parameters_cell_index(notebook, str(path)) + 1 + bool(overrides)
    notebook.cells[position:position] = [nbformat.v4.new_code_cell(code) for code in after_parameters]
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"{figures}\nimport json as _json\nprint({FIGURES_MARKER!r} + _json.dumps(figures))"))
    with tempfile.TemporaryDirectory(prefix=f"{path.stem}.") as workdir:
        start = time.perf_counter()
        executed, errors = execute(notebook, Path(workdir), label, cell_timeout, show_progress=show_progress)
        result = RunResult(str(path), time.perf_counter() - start, errors, executed=executed, complete=not errors)
    if save_to is not None:
        result.output = Path(save_to) / f"{label}.ipynb"
        write_notebook(executed, result.output)
    if errors:
        raise RuntimeError(f"{result.first_error()} (the cell numbers count the cells the run added)")
    for output in executed.cells[-1].get("outputs", []):
        for line in str(output.get("text", "")).splitlines():
            if line.startswith(FIGURES_MARKER):
                return json.loads(line[len(FIGURES_MARKER):]), result
    raise RuntimeError(f"{path}: the figures cell printed nothing; check the figures code.")
