"""Grade one submitted notebook: a pure function from notebook bytes and its source to a result.

:func:`grade_job` is what a worker process (or a Dask worker) runs. It parses
the submission, rebuilds it from the source (:mod:`autograder.restore`), adds
the guard cells (:mod:`autograder.guard`) and the small run values, executes
it with a sandboxed kernel (:mod:`autograder.sandbox`) under per-cell and
per-notebook time limits and an output cap in bytes, and scores every test cell
by nbgrader's rule, except that text on stderr does not cost points. It
writes nothing but its own scratch directory, which it removes.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import guard
from autograder.build import TEXT_STUB
from autograder.execute import Stop, run_code_cells
from autograder.notebooks import (
    INJECTED_TAG,
    SETUP_TAG,
    inject_small_values,
    is_graded,
    is_manual,
    manual_points,
    nbgrader_metadata,
    parse_notebook,
    settle_outputs,
)
from autograder.restore import grade_ids, restore
from autograder.sandbox import (
    Isolation,
    Limits,
    StderrTail,
    adopt_orphans,
    choose_isolation,
    descendants,
    kernel_environment,
    kill_new_descendants,
    make_kernel_manager,
)
from autograder.settings import Settings
from autograder.tampering import CellUses, machinery_uses

#: Row statuses; "error" means the grader failed (not the student), and such a row is graded again next run.
STATUSES = ("ok", "timeout", "crashed", "invalid", "missing", "error")
TOKEN_PREFIX = "grader-guard-ok:"
#: Kernels started for one notebook before a kernel that dies before answering (no student code ran) is an "error".
KERNEL_START_ATTEMPTS = 2
OUTPUT_CAP_BYTES = 2 * 1024**2


@dataclass(frozen=True)
class GradeResult:
    """The outcome of grading one notebook (one row of grades.csv)."""

    score: float
    max_score: float
    status: str
    detail: str
    #: Points per grade id of written answers that await a person (discussion questions).
    manual: dict[str, float] = field(default_factory=dict)
    #: Student cells that reach for the grading machinery (:mod:`autograder.tampering`): a person should look.
    review: tuple[str, ...] = ()
    #: Tests that passed after a cell whose code can change what tests report: 0 points until a person looks.
    withheld: tuple[str, ...] = ()


@dataclass(kw_only=True)
class GradeJob:
    """Everything one worker needs; picklable, so it can go to another process or machine."""

    submission: bytes
    source_text: str
    notebook_name: str
    other_notebooks: dict[str, list[str]] = field(default_factory=dict)
    settings: Settings = Settings()
    limits: Limits = Limits()
    secret_paths: list[str] = field(default_factory=list)
    scratch_root: str | None = None


@dataclass
class GradeOutcome:
    """A :class:`GradeResult` plus per-test points and the executed notebook (guard cells removed)."""

    result: GradeResult
    tests: dict[str, tuple[float, float]] = field(default_factory=dict)
    notebook_json: str | None = None


def max_points(source: nbformat.NotebookNode) -> float:
    """Total points of the source's test cells."""
    return float(sum(float(nbgrader_metadata(cell).get("points", 0)) for cell in source.cells if is_graded(cell)))


def answered_manual_points(submission: nbformat.NotebookNode, source: nbformat.NotebookNode) -> dict[str, float]:
    """Points per grade id of the manually graded answers the student wrote (a blank or stub answer is 0, not pending)."""
    written = {nbgrader_metadata(cell).get("grade_id") for cell in submission.cells
               if is_manual(cell) and cell.source.strip() not in ("", TEXT_STUB)}
    return {grade_id: points for grade_id, points in manual_points(source).items() if grade_id in written}


def parse_submission(data: bytes) -> nbformat.NotebookNode:
    """Parse submitted bytes as a version-4 notebook; raise ValueError (a NotebookError) with a one-line reason."""
    return parse_notebook(data.decode("utf-8", errors="replace"))


def wrong_notebook_reason(submission: nbformat.NotebookNode, source: nbformat.NotebookNode,
                          notebook_name: str, other_notebooks: dict[str, list[str]]) -> str | None:
    """Why ``submission`` is some other notebook than ``notebook_name``, or None when it may be this one."""
    found = grade_ids(submission)
    if not found or found & grade_ids(source):
        return None
    for other, ids in other_notebooks.items():
        if found <= set(ids):
            return f"this file is {other}, not {notebook_name}; submit it under its own assignment and name"
    return None


def _guard_cell(code: str, token: str | None = None, key: str = guard.TOKEN_KEYS[0]) -> nbformat.NotebookNode:
    metadata = {"tags": [guard.GUARD_TAG]}
    if token is not None:
        metadata[key] = token
    return nbformat.v4.new_code_cell(code, metadata=metadata)


def add_guards(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Return a copy with small values injected and the guard cells in place (see :mod:`autograder.guard`)."""
    notebook = inject_small_values(notebook, name)
    prefix = guard.new_prefix()
    cells = [_guard_cell(guard.install_source(TOKEN_PREFIX, prefix))]
    for cell in notebook.cells:
        if is_graded(cell):
            token = secrets.token_hex(8)
            cells.append(_guard_cell(guard.restore_source(token, prefix), token))
        cells.append(cell)
        if is_graded(cell):
            token = secrets.token_hex(8)
            cells.append(_guard_cell(guard.after_source(token, prefix), token, guard.TOKEN_KEYS[1]))
        if SETUP_TAG in cell.metadata.get("tags", []):
            cells.append(_guard_cell(guard.bind_source(prefix)))
    notebook.cells = cells
    return notebook


def _cell_label(notebook: nbformat.NotebookNode, index: int) -> str:
    """'cell N' counted over the student's cells (no guard or injected cells), with its grade id."""
    visible = [i for i, c in enumerate(notebook.cells) if not _is_grader_cell(c)]
    number = visible.index(index) + 1 if index in visible else index + 1
    grade_id = nbgrader_metadata(notebook.cells[index]).get("grade_id")
    return f"cell {number} ({grade_id})" if grade_id else f"cell {number}"


def _is_grader_cell(cell: nbformat.NotebookNode) -> bool:
    tags = cell.metadata.get("tags", [])
    return guard.GUARD_TAG in tags or INJECTED_TAG in tags


def _capped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    return text if len(text) <= limit else text[:limit] + f" [grader: {len(text) - limit} more characters dropped]"


def _make_client_class():
    from nbclient import NotebookClient

    class GradingClient(NotebookClient):
        """nbclient that records each reply's status and caps the bytes of output it keeps."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.reply_status: dict[int, tuple[str, str]] = {}
            self.output_bytes = 0
            self.truncated: set[int] = set()

        async def _check_raise_for_error(self, cell, cell_index, exec_reply):
            if exec_reply is not None:
                content = exec_reply["content"]
                self.reply_status[cell_index] = (content.get("status", "error"), content.get("ename", ""))
            return await super()._check_raise_for_error(cell, cell_index, exec_reply)

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg["content"], default=str))
            if msg["msg_type"] == "error":
                content = msg["content"]
                content["ename"] = str(content.get("ename", ""))[:200]
                content["evalue"] = _capped(str(content.get("evalue", "")), 4000)
                content["traceback"] = [_capped(line, 4000) for line in content.get("traceback", [])[-40:]]
                return super().output(outs, msg, display_id, cell_index)
            if self.output_bytes + size > OUTPUT_CAP_BYTES:
                if cell_index not in self.truncated:
                    self.truncated.add(cell_index)
                    note = f"[grader] output beyond {OUTPUT_CAP_BYTES // 1024**2} MB was dropped\n"
                    outs.append(nbformat.v4.new_output("stream", name="stdout", text=note))
                return None
            self.output_bytes += size
            return super().output(outs, msg, display_id, cell_index)

    return GradingClient


@dataclass
class _Run:
    notebook: nbformat.NotebookNode
    executed: set[int]
    reply_status: dict[int, tuple[str, str]]
    status: str
    detail: str


def _stop_detail(notebook: nbformat.NotebookNode, stop: Stop, job: GradeJob) -> tuple[str, str]:
    """The row's ``(status, detail)`` for a run that ended early; an interrupted run is not a grade, so it raises."""
    where = _cell_label(notebook, stop.index)
    if stop.reason == "interrupted":
        raise KeyboardInterrupt(f"grading was interrupted at {where}")
    if stop.reason == "deadline":
        return "timeout", f"notebook time limit of {job.settings.notebook_timeout:g} s reached before {where}"
    if stop.reason in ("cell_timeout", "notebook_timeout"):
        return "timeout", f"{where} exceeded the {'cell' if stop.reason == 'cell_timeout' else 'notebook'} time limit"
    if stop.reason == "stopped":
        return "crashed", f"{where} called sys.exit()"
    return "crashed", f"the kernel died in {where}"


async def _execute(notebook, workdir: Path, job: GradeJob, isolation: Isolation) -> _Run:
    from nbclient.exceptions import DeadKernelError

    manager = make_kernel_manager(workdir, [Path(p) for p in job.secret_paths], job.limits, isolation)
    client = _make_client_class()(
        notebook, km=manager, timeout=job.settings.cell_timeout, allow_errors=True, interrupt_on_timeout=False,
        startup_timeout=120, shutdown_kernel="immediate", kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    executed: set[int] = set()
    status, detail = "ok", ""

    def called_exit(index: int, cell: nbformat.NotebookNode) -> bool:
        return client.reply_status.get(index, ("ok", ""))[1] == "SystemExit"

    stderr, started = StderrTail(), False
    try:
        async with client.async_setup_kernel(
            cwd=str(workdir), env=kernel_environment(workdir), stdout=subprocess.DEVNULL, stderr=stderr.write_end
        ):
            started = True
            # Test and guard cells stay out of the input history (In, _ih) that student code can read.
            executed, stop = await run_code_cells(
                client, notebook, cell_timeout=job.settings.cell_timeout, notebook_timeout=job.settings.notebook_timeout,
                private=lambda cell: is_graded(cell) or _is_grader_cell(cell), stop_after=called_exit)
            if stop is not None:
                status, detail = _stop_detail(notebook, stop, job)
    except (RuntimeError, DeadKernelError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not started:
            # No student code ran: the kernel or its engine failed (a broken image, an overloaded machine). Its
            # stderr holds no student output yet, only why it did not start.
            last_words = stderr.last_line()
            status, detail = "error", (f"the grader failed, not the notebook: the kernel did not start ({reason}"
                                       + (f"; its last line on stderr: {last_words}" if last_words else "") + ")")
        elif status == "ok":
            status, detail = "crashed", f"the kernel stopped: {reason}"
    finally:
        atexit.unregister(client._cleanup_kernel)
        await _shutdown(client, manager)
        stderr.close()
    return _Run(settle_outputs(notebook, client.widget_state), executed, dict(client.reply_status), status, detail)


async def _shutdown(client, manager) -> None:
    """Kill the kernel and everything it started, then close the client's channels."""
    _kill_leftovers(manager)
    if client.kc is not None:
        client.kc.stop_channels()
    await manager._async_cleanup_resources()


def _kill_leftovers(manager) -> None:
    """Make sure no process of the kernel survives (its process group, or its bubblewrap namespace)."""
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except Exception:
        pass


def _test_points(cell: nbformat.NotebookNode) -> float:
    """nbgrader's score for an executed test cell, ignoring stderr text (warnings are not failures)."""
    from nbgrader.utils import determine_grade

    scored = copy.deepcopy(cell)
    scored.outputs = [o for o in scored.outputs if not (o.output_type == "stream" and o.get("name") == "stderr")]
    points, _ = determine_grade(scored)
    return float(points or 0)


def _printed(run: _Run, index: int, token: str) -> bool:
    """Whether guard cell ``index`` ran and printed its token."""
    cell = run.notebook.cells[index]
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    return index in run.executed and f"{TOKEN_PREFIX}{token}" in text


def _changed_names(cell: nbformat.NotebookNode) -> str:
    """What the guard after a test found changed, as it printed it ('' when it printed no such line)."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    lines = [line for line in text.splitlines() if line.startswith(guard.CHANGED_PREFIX)]
    return lines[0][len(guard.CHANGED_PREFIX):] if lines else ""


def score(run: _Run) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Points per test grade id, and notes on tests voided because a guard around them did not vouch for them.

    A test counts only when the guard before it printed its token (the grading
    machinery was restored) and the guard after it printed its own (nothing the
    guard watches changed while the test ran).
    """
    tests: dict[str, tuple[float, float]] = {}
    notes: list[str] = []
    before_ok = False
    pending: tuple[str, float, float] | None = None
    for index, cell in enumerate(run.notebook.cells):
        token, after_token = (cell.metadata.get(key) for key in guard.TOKEN_KEYS)
        if token is not None:
            before_ok = _printed(run, index, token)
        elif after_token is not None and pending is not None:
            grade_id, points, available = pending
            if points and not _printed(run, index, after_token):
                changed = _changed_names(cell)
                notes.append(f"student code changed {changed} while {grade_id} ran; the test gets no points" if changed
                             else f"the grader's guard after {grade_id} did not run; the test gets no points")
                points = 0.0
            tests[grade_id] = (points, available)
            pending = None
        elif is_graded(cell):
            grade_id = nbgrader_metadata(cell)["grade_id"]
            available = float(nbgrader_metadata(cell).get("points", 0))
            passed = index in run.executed and run.reply_status.get(index, ("error", ""))[0] == "ok"
            if passed and not before_ok:
                notes.append(f"the grader's guard before {grade_id} was disabled; the test gets no points")
                passed = False
            tests[grade_id] = (_test_points(cell) if passed else 0.0, available)
            pending = (grade_id, tests[grade_id][0], available)
            before_ok = False
    return tests, notes


def strip_grader_cells(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without guard cells (the injected small values stay, so the feedback says it was a small run)."""
    cleaned = copy.deepcopy(notebook)
    cleaned.cells = [cell for cell in cleaned.cells if guard.GUARD_TAG not in cell.metadata.get("tags", [])]
    return cleaned


#: The kernel's Unix sockets live in the scratch folder, and a socket path may
#: not exceed 107 bytes: a deeper scratch root falls back to the system's temp folder.
_MAX_SCRATCH_ROOT = 70


def _scratch(job: GradeJob) -> Path:
    # Absolute: the sandbox binds this folder and changes into it by path.
    root = Path(job.scratch_root).resolve() if job.scratch_root else None
    if root is not None and len(str(root)) > _MAX_SCRATCH_ROOT:
        root = None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="g", dir=root))


def grade_job(job: GradeJob) -> GradeOutcome:
    """Grade one submission (see the module docstring); never raises for anything the student did."""
    source = parse_notebook(job.source_text)
    total = max_points(source)
    try:
        submission = parse_submission(job.submission)
    except ValueError as error:
        return GradeOutcome(GradeResult(0.0, total, "invalid", str(error)))
    reason = wrong_notebook_reason(submission, source, job.notebook_name, job.other_notebooks)
    if reason:
        return GradeOutcome(GradeResult(0.0, total, "invalid", reason))
    restored = restore(submission, source)
    prepared = add_guards(restored.notebook, job.notebook_name)
    isolation = choose_isolation(job.settings.sandbox)
    for _ in range(KERNEL_START_ATTEMPTS):
        workdir = _scratch(job)
        adopt_orphans()
        existing = descendants()
        try:
            run = asyncio.run(_execute(prepared, workdir, job, isolation))
        finally:
            kill_new_descendants(existing)
            shutil.rmtree(workdir, ignore_errors=True)
        if run.status != "error":
            break
    if run.status == "error":
        return GradeOutcome(GradeResult(0.0, total, "error", f"{run.detail}, {KERNEL_START_ATTEMPTS} times"))
    tests, guard_notes = score(run)
    flagged = machinery_uses(restored.notebook, source)
    withheld = _withhold(tests, restored.notebook, flagged)
    points = sum(points for points, _ in tests.values())
    failed = [grade_id for grade_id, (points, available) in tests.items()
              if points < available and grade_id not in withheld]
    details = restored.notes + guard_notes + ([run.detail] if run.detail else [])
    if failed or not withheld:
        details.append(f"failed tests: {', '.join(failed)}" if failed else "all tests passed")
    review = tuple(uses.sentence for uses in flagged)
    if review:
        details.append("needs review: " + "; ".join(review))
    if withheld:
        details.append(f"withheld until a person reviews that code: {', '.join(withheld)}")
    manual = answered_manual_points(restored.notebook, source)
    unanswered = sorted(set(manual_points(source)) - set(manual))
    if unanswered:
        details.append(f"not answered: {', '.join(unanswered)}")
    notebook = strip_grader_cells(run.notebook)
    return GradeOutcome(
        GradeResult(points, total, run.status, "; ".join(details), manual, review, withheld), tests,
        nbformat.writes(notebook),
    )


def _withhold(tests: dict[str, tuple[float, float]], notebook: nbformat.NotebookNode,
              flagged: list[CellUses]) -> tuple[str, ...]:
    """Set to 0 the passed tests that ran after the first cell whose code can change what tests report; their ids.

    In-kernel evidence of a pass can be forged by such code (see :mod:`autograder.guard`),
    so those tests count only once a person has looked at it.
    """
    first = min((uses.index for uses in flagged if uses.reaches), default=None)
    if first is None:
        return ()
    later = [nbgrader_metadata(cell)["grade_id"] for cell in notebook.cells[first + 1:] if is_graded(cell)]
    withheld = tuple(grade_id for grade_id in later if tests.get(grade_id, (0.0, 0.0))[0] > 0)
    for grade_id in withheld:
        tests[grade_id] = (0.0, tests[grade_id][1])
    return withheld


def grade_notebook(source: Path, submission: Path, workdir: Path, *, settings: Settings | None = None) -> GradeResult:
    """Grade one notebook file against its solution source (what ``labs release`` and ``labs demo`` use).

    ``workdir`` holds the scratch directory of the run; ``settings`` are the time
    limits and isolation mode (``None``: those of ``labs grade``).
    """
    job = GradeJob(
        submission=Path(submission).read_bytes(),
        source_text=Path(source).read_text(encoding="utf-8"),
        notebook_name=Path(source).stem,
        settings=settings or Settings(),
        secret_paths=[str(Path(source).resolve().parent)],
        scratch_root=str(workdir),
    )
    return grade_job(job).result
