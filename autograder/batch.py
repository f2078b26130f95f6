"""Grade a folder or zip of submissions into ``OUT``: the trusted coordinator.

Workers (local processes or Dask) only run :func:`autograder.grading.grade_job`
and return results; this process alone writes ``OUT``: the nbgrader gradebook,
autograded notebooks, feedback, Gradescope results, ``grades.csv`` and the
ledger ``OUT/.grading/ledger.jsonl``.

The ledger is append-only: one JSON line per graded notebook with the content
hash of what was graded (submission bytes, source, grading settings). A line is
written, flushed and fsynced after the gradebook and feedback of that notebook;
``grades.csv`` is then rewritten from the ledger atomically. A run killed at
any moment therefore leaves at worst one notebook graded but unrecorded, which
the next run grades again (overwriting, not duplicating, its gradebook entry);
a torn last ledger line is ignored. Notebooks whose hash is in the ledger are
not graded again unless ``force``.
"""

from __future__ import annotations

import csv
import ctypes
import dataclasses
import fcntl
import hashlib
import hmac
import io
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import feedback, gradebook, integrity, lms, report
from autograder.grading import (
    GradeJob,
    GradeOutcome,
    GradeResult,
    grade_job,
    max_points,
)
from autograder.notebooks import (
    manual_grading_note,
    parse_notebook,
    read_notebook,
    replaced_atomically,
    write_text_atomically,
)
from autograder.restore import grade_ids
from autograder.sandbox import choose_isolation
from autograder.settings import Settings
from autograder.submissions import (
    Course,
    canonical_notebook_name,
    Submitted,
    extract_zip,
    find_submitted,
    link_or_folder_reason,
    match,
    read_submitted,
)

#: Said in the detail of every row graded with ``--sandbox none`` (graded again once isolation is available).
UNISOLATED_NOTE = "graded without isolation (--sandbox none)"
#: ``manual_grading`` says what awaits a person: written answers (in neither score nor max_score) and
#: code that reaches for the grading machinery (:mod:`autograder.tampering`).
CSV_HEADER = ["student_id", "assignment", "notebook", "score", "max_score", "status", "detail", "manual_grading"]


@dataclass
class Summary:
    """What a batch did."""

    graded: int = 0
    skipped: int = 0
    rows: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    #: Pairs flagged by the similarity check (None when it did not run).
    similar_pairs: int | None = None
    #: Sentences about the records themselves (a damaged gradebook rebuilt, ledger lines ignored).
    notes: list[str] = field(default_factory=list)


#: Bytes of the per-output-folder key that signs ledger lines.
LEDGER_KEY_BYTES = 32


def _ledger_key(path: Path) -> bytes:
    """The output folder's ledger key (made on first use, readable by its owner only)."""
    try:
        key = path.read_bytes()
        if len(key) == LEDGER_KEY_BYTES:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(LEDGER_KEY_BYTES)
    _write_private(path, key)
    return key


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` readable by its owner only (an old file or link is removed first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)


class Ledger:
    """Append-only record of graded notebooks; the latest line for a key wins.

    Every line is signed (HMAC-SHA256) with a key kept beside it in ``.grading/``,
    which no sandboxed kernel can read (the output folder is hidden from them). A
    line that is not valid JSON or not signed with this key (a torn write, an
    edit, a line added by anything but the grader) is ignored and counted in
    :attr:`rejected`; its notebook is graded again.
    """

    def __init__(self, path: Path):
        self.path = path
        self.key = _ledger_key(path.with_name("ledger.key"))
        self.latest: dict[tuple[str, str, str], dict] = {}
        self.rejected = 0
        #: What the file holds as far as this grader knows: what it read, then each line it appended.
        self._expected = path.read_bytes() if path.exists() else b""
        if path.exists():
            for line in self._expected.decode("utf-8", errors="replace").splitlines():
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    entry = None
                if not isinstance(entry, dict) or not hmac.compare_digest(str(entry.get("signature", "")),
                                                                           self._signature(entry)):
                    self.rejected += 1
                    continue
                self.latest[(entry["student_id"], entry["assignment"], entry["notebook"])] = entry

    def _signature(self, entry: dict) -> str:
        unsigned = {key: value for key, value in entry.items() if key != "signature"}
        return hmac.new(self.key, json.dumps(unsigned, sort_keys=True).encode(), hashlib.sha256).hexdigest()

    def append(self, entry: dict) -> None:
        """Sign and write one entry durably (flush and fsync)."""
        entry = json.loads(json.dumps(entry))
        entry["signature"] = self._signature(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as stream:
            if stream.tell() > 0 and not self._ends_with_newline():
                stream.write("\n")
            stream.write(line)
            stream.flush()
            os.fsync(stream.fileno())
        if self._expected and not self._expected.endswith(b"\n"):
            self._expected += b"\n"
        self._expected += line.encode("utf-8")
        self.latest[(entry["student_id"], entry["assignment"], entry["notebook"])] = entry

    def put_back(self) -> bool:
        """Rewrite the file and its key from what this grader read and appended if either changed; say whether."""
        key_path = self.path.with_name("ledger.key")
        changed = False
        if integrity.file_digest(key_path) != integrity.digest(self.key):
            _write_private(key_path, self.key)
            changed = True
        if integrity.file_digest(self.path) != integrity.digest(self._expected):
            with replaced_atomically(self.path) as temporary:
                Path(temporary).write_bytes(self._expected)
            changed = True
        return changed

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as stream:
            stream.seek(-1, os.SEEK_END)
            return stream.read(1) == b"\n"


def person_note(entry: dict) -> str:
    """The ``manual_grading`` cell of a ledger entry: written answers awaiting a person, code a person should review."""
    parts = [manual_grading_note(entry.get("manual") or {})]
    if entry.get("review"):
        parts.append("needs review: " + "; ".join(entry["review"]))
    if entry.get("withheld"):
        parts.append("withheld until reviewed (0 points until then): " + ", ".join(entry["withheld"]))
    return "; ".join(part for part in parts if part)


def write_csv(out: Path, ledger: Ledger) -> int:
    """Rewrite ``OUT/grades.csv`` from the ledger (sorted by student, assignment, notebook); return the row count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for key in sorted(ledger.latest):
        entry = ledger.latest[key]
        writer.writerow([gradebook.spreadsheet_safe(cell) for cell in (
            entry["student_id"], entry["assignment"], entry["notebook"], f"{entry['score']:g}",
            f"{entry['max_score']:g}", entry["status"], entry["detail"], person_note(entry))])
    write_text_atomically(out / "grades.csv", buffer.getvalue())
    return len(ledger.latest)


def content_hash(data: bytes, source_text: str, settings: Settings) -> str:
    """sha256 of what decides a grade: the submission, its source and the settings."""
    digest = hashlib.sha256()
    for part in (data, source_text.encode("utf-8"), settings.fingerprint().encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


@dataclass
class _Task:
    student: str
    assignment: str
    notebook: str
    digest: str
    job: GradeJob | None = None
    result: GradeResult | None = None
    note: str = ""
    #: The submitted file graded (None for a missing or refused one).
    path: Path | None = None


def _recognised(data: bytes, assignment: str, course: Course, ids: dict[str, list[str]]) -> str | None:
    """The notebook of ``assignment`` that a wrongly named file is, by its grade ids; None when not exactly one."""
    try:
        found = grade_ids(parse_notebook(data.decode("utf-8", errors="replace")))
    except Exception:  # not a notebook at all: the caller records it as invalid
        return None
    candidates = [name for name in course.notebooks(assignment) if found & set(ids[f"{assignment}/{name}"])]
    return candidates[0] if len(candidates) == 1 else None


def _choose(files: list[Submitted], notebook: str) -> tuple[Submitted, str]:
    """Pick one file when several map to the same notebook: the exact name, else the newest."""
    exact = [f for f in files if f.file_name == f"{notebook}.ipynb"]
    chosen = exact[0] if exact else max(files, key=lambda f: f.path.stat().st_mtime)
    others = [f.file_name for f in files if f is not chosen]
    note = f"also submitted {', '.join(others)}; graded {chosen.file_name}" if others else ""
    if canonical_notebook_name(chosen.file_name).lower() != notebook.lower():
        note = "; ".join(part for part in (f"submitted as {chosen.file_name}, recognised as {notebook}.ipynb by its "
                                           "cells; name it so next time", note) if part)
    return chosen, note


def _invalid(student: str, assignment: str, entry: str, identity: bytes, reason: str, settings: Settings) -> _Task:
    """A final 'invalid' row for one submitted entry; ``identity`` (its bytes, or a link's target) keys re-runs."""
    return _Task(student, assignment, entry, content_hash(identity, reason, settings),
                 result=GradeResult(0.0, 0.0, "invalid", reason))


def plan(folder: Path, course: Course, settings: Settings, secret_paths: list[str], scratch: Path,
         refused: dict[str, str] | None = None) -> list[_Task]:
    """One task per (student, assignment, notebook): a job to run, or a final invalid/missing result.

    ``refused`` maps archive entries that could not be unpacked (``student/assignment/file``) to the reason.
    """
    tasks: list[_Task] = []
    grouped: dict[tuple[str, str, str], list[Submitted]] = {}
    attempted: set[tuple[str, str]] = set()
    ids = {f"{a}/{n}": sorted(grade_ids(read_notebook(p))) for (a, n), p in course.sources.items()}
    for name, reason in sorted((refused or {}).items()):
        student, assignment, entry = (["(archive)", ""] + name.split("/", 2))[-3:]
        tasks.append(_invalid(student, assignment, entry, name.encode(), reason, settings))
    for submitted in find_submitted(folder):
        reason = link_or_folder_reason(submitted.path)
        if reason:
            identity = os.readlink(submitted.path).encode() if submitted.path.is_symlink() else b"folder"
            tasks.append(_invalid(submitted.student, submitted.assignment, submitted.file_name, identity, reason,
                                  settings))
            continue
        notebook, reason = match(submitted, course)
        data = read_submitted(submitted.path)
        if reason:
            notebook = _recognised(data, submitted.assignment, course, ids)
        if notebook is None:
            tasks.append(_invalid(submitted.student, submitted.assignment, submitted.file_name, data, reason, settings))
            if submitted.assignment in course.assignments():
                attempted.add((submitted.student, submitted.assignment))
            continue
        grouped.setdefault((submitted.student, submitted.assignment, notebook), []).append(submitted)
    pairs = {(s, a) for s, a, _ in grouped} | attempted
    for student, assignment in sorted(pairs):
        for notebook in course.notebooks(assignment):
            source_text = course.sources[(assignment, notebook)].read_text(encoding="utf-8")
            files = grouped.get((student, assignment, notebook))
            if not files:
                total = max_points(parse_notebook(source_text))
                reason = f"{notebook}.ipynb was not submitted"
                tasks.append(_Task(student, assignment, notebook, content_hash(b"", source_text, settings),
                                   result=GradeResult(0.0, total, "missing", reason)))
                continue
            chosen, note = _choose(files, notebook)
            if settings.sandbox == "none":
                note = "; ".join(part for part in (note, UNISOLATED_NOTE) if part)
            data = read_submitted(chosen.path)
            others = {key: value for key, value in ids.items() if key != f"{assignment}/{notebook}"}
            job = GradeJob(submission=data, source_text=source_text, notebook_name=notebook, other_notebooks=others,
                           settings=settings, secret_paths=secret_paths, scratch_root=str(scratch))
            tasks.append(_Task(student, assignment, notebook, content_hash(data, source_text, settings), job=job,
                               note=note, path=chosen.path))
    return tasks


def _record(out: Path, course: Course, ledger: Ledger, task: _Task, outcome: GradeOutcome,
            seconds: float | None = None, notes: list[str] | None = None) -> dict:
    """Write one result everywhere (gradebook, autograded notebook, feedback, Gradescope) then the ledger.

    ``seconds`` is how long the worker took to grade the notebook (None when no notebook ran).
    A gradebook found damaged is rebuilt from the ledger, with a sentence added to ``notes``.
    """
    result = outcome.result
    again = "run labs grade again" if result.status == "error" else ""
    detail = "; ".join(part for part in (task.note, result.detail, again) if part)
    feedback_path = out / "feedback" / task.student / task.assignment / f"{task.notebook}.html"
    known = (task.assignment, task.notebook) in course.sources
    notebook = None
    files: dict[str, str] = {}
    if outcome.notebook_json is not None:
        # The source as read before any kernel ran: it says which hidden tests to scrub from the feedback.
        source = parse_notebook(task.job.source_text)
        notebook = feedback.scrub_hidden_tests(nbformat.reads(outcome.notebook_json, as_version=4), source)
        autograded = out / "autograded" / task.student / task.assignment / f"{task.notebook}.ipynb"
        autograded_text = nbformat.writes(notebook)
        write_text_atomically(autograded, autograded_text)
        files[str(autograded.relative_to(out))] = integrity.digest(autograded_text.encode("utf-8"))

    def record_in_gradebook() -> str:
        if known:
            gradebook.record_scores(out, task.student, task.assignment, task.notebook, outcome.tests, result.manual,
                                    result.withheld)
        if notebook is None:
            return feedback.invalid_feedback_html(task.student, task.notebook, result.status, detail)
        return gradebook.feedback_html(out, task.student, task.assignment, task.notebook, notebook, result.manual)

    try:
        page = record_in_gradebook()
    except Exception:
        damaged = gradebook.damage(out)
        if damaged is None:
            raise
        # Something overwrote the gradebook while this batch ran: keep it aside and rebuild it from the ledger.
        kept = out / f"gradebook.db.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        (out / "gradebook.db").rename(kept)
        _rebuild_gradebook(out, course, ledger)
        if notes is not None:
            notes.append(f"OUT/gradebook.db was damaged during the run ({damaged}); it is kept as {kept.name} "
                         "and was rebuilt from the ledger.")
        page = record_in_gradebook()
    write_text_atomically(feedback_path, page)
    files[str(feedback_path.relative_to(out))] = integrity.digest(page.encode("utf-8"))
    entry = {"student_id": task.student, "assignment": task.assignment, "notebook": task.notebook,
             "score": result.score, "max_score": result.max_score, "status": result.status, "detail": detail,
             "hash": task.digest if result.status != "error" else "", "tests": outcome.tests,
             "manual": result.manual, "review": list(result.review), "withheld": list(result.withheld), "files": files}
    if seconds is not None:
        entry["seconds"] = round(seconds, 3)
    ledger.append(entry)
    _write_gradescope(out, ledger, task.student, task.assignment)
    return entry


def _write_gradescope(out: Path, ledger: Ledger, student: str, assignment: str) -> None:
    """Rewrite one student's Gradescope ``results.json`` for ``assignment`` from the ledger."""
    rows = [e for (s, a, _), e in ledger.latest.items() if s == student and a == assignment]
    write_text_atomically(out / "gradescope" / student / assignment / "results.json", feedback.gradescope_results(rows))


def _originals(course: Course, tasks: list[_Task]) -> integrity.Originals:
    """The submissions and sources as read before any kernel ran (an exposed batch puts them back afterwards)."""
    originals = integrity.Originals()
    for path in course.sources.values():
        originals.keep(path, Path(path).read_bytes())
    for task in tasks:
        if task.path is not None and task.job is not None:
            originals.keep(task.path, task.job.submission)
    return originals


def _repair(out: Path, course: Course, ledger: Ledger, tasks: list[_Task], originals: integrity.Originals,
            restored: list[Path], notes: list[str], run) -> None:
    """After an exposed batch's last kernel: put back what kernels changed (see :mod:`autograder.integrity`).

    ``restored`` are files already put back during the batch. ``run`` grades a list of tasks
    again (as the batch did) for notebooks whose feedback or autograded copy changed; each
    repair is one sentence in ``notes``.
    """
    restored = list(dict.fromkeys(restored + originals.put_back()))
    if restored:
        names = ", ".join(str(path) for path in restored[:3]) + (" ..." if len(restored) > 3 else "")
        notes.append(f"Student code changed {len(restored)} submitted or source file(s) ({names}); "
                     "they were put back as read before any kernel ran.")
    if ledger.put_back():
        notes.append("Student code changed OUT/.grading/ledger.jsonl or its key; both were rewritten from the grader's "
                     "memory.")
    found = integrity.file_digest(out / "gradebook.db")
    if originals.gradebook_digest is not None and found != originals.gradebook_digest:
        kept = out / f"gradebook.db.changed-{time.strftime('%Y%m%d-%H%M%S')}"
        if found is not None:
            (out / "gradebook.db").rename(kept)
        _rebuild_gradebook(out, course, ledger)
        notes.append(f"Student code changed OUT/gradebook.db; it is kept as {kept.name} and was rebuilt from the ledger.")
    victims = set(integrity.changed_records(out, ledger.latest))
    if victims:
        again = [task for task in tasks if (task.student, task.assignment, task.notebook) in victims]
        for task, outcome, seconds in run([task for task in again if task.job is not None]):
            _record(out, course, ledger, task, outcome, seconds, notes)
        for task in (task for task in again if task.job is None):
            _record(out, course, ledger, task, GradeOutcome(task.result), notes=notes)
        originals.put_back()
        ledger.put_back()
        left = set(integrity.changed_records(out, ledger.latest))
        notes.append(f"Student code changed the feedback or autograded notebook of {len(victims)} notebook(s); "
                     f"they were graded again{f', except {len(left)} still changed: run labs grade again' if left else ''}.")
    for student, assignment in sorted({(key[0], key[1]) for key in ledger.latest}):
        _write_gradescope(out, ledger, student, assignment)


def _rebuild_gradebook(out: Path, course: Course, ledger: Ledger) -> None:
    """Record every ledger entry of a course notebook in a new gradebook (the old one was damaged)."""
    known = [entry for entry in ledger.latest.values() if (entry["assignment"], entry["notebook"]) in course.sources]
    gradebook.prepare_course(out, course, sorted({entry["assignment"] for entry in known}), force=True)
    for entry in known:
        tests = {grade_id: tuple(points) for grade_id, points in (entry.get("tests") or {}).items()}
        gradebook.record_scores(out, entry["student_id"], entry["assignment"], entry["notebook"], tests,
                                entry.get("manual") or {}, entry.get("withheld") or ())


def _die_with_parent() -> None:
    """Worker initializer: the worker (and so its sandboxed kernel) dies when the coordinator does."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


#: Times a notebook is graded again, alone in a fresh worker, after its worker died before returning a result.
WORKER_RETRIES = 2


def timed_grade_job(job: GradeJob) -> tuple[GradeOutcome, float]:
    """:func:`grade_job` and the seconds it took, measured in the worker (queueing not included)."""
    started = time.perf_counter()
    outcome = grade_job(job)
    return outcome, time.perf_counter() - started


def _run_local(jobs: list[_Task], workers: int):
    """Yield ``(task, outcome, seconds)`` as local worker processes finish them.

    A worker that dies (killed, out of memory, or by the kernel it ran) breaks the pool
    and fails every notebook still queued on it. Those notebooks are not the students'
    fault: each is graded again alone in a fresh worker, up to :data:`WORKER_RETRIES`
    times, and only then recorded as an infrastructure ``error``.
    """
    context = multiprocessing.get_context("spawn")
    retry: list[_Task] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent) as pool:
        futures = {pool.submit(timed_grade_job, task.job): task for task in jobs}
        for future in as_completed(futures):
            try:
                yield futures[future], *future.result()
            except Exception:
                retry.append(futures[future])
    for task in retry:
        for attempt in range(1, WORKER_RETRIES + 1):
            with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_die_with_parent) as pool:
                future = pool.submit(timed_grade_job, task.job)
                try:
                    outcome, seconds = future.result()
                    break
                except Exception as error:
                    outcome, seconds = _worker_error(task, error, attempt + 1), None
        yield task, outcome, seconds


def _run_dask(jobs: list[_Task], scheduler: str):
    """Yield ``(task, outcome, seconds)`` as a Dask cluster finishes them (Dask retries a lost worker's tasks)."""
    try:
        from dask.distributed import Client, as_completed as dask_completed
    except ImportError:
        raise ValueError("--scheduler needs Dask: pip install 'intro-deep-learning-labs[cluster]'.") from None
    with Client(scheduler, timeout="30s") as client:
        futures = {client.submit(timed_grade_job, task.job, pure=False, retries=WORKER_RETRIES): task for task in jobs}
        for future in dask_completed(list(futures)):
            task = futures[future]
            try:
                yield task, *future.result()
            except Exception as error:
                yield task, _worker_error(task, error, WORKER_RETRIES + 1), None


def _worker_error(task: _Task, error: BaseException, attempts: int) -> GradeOutcome:
    """The 'error' result of a notebook whose grading worker failed ``attempts`` times: not a grade.

    It is recorded so that the row says what happened, but never cached: the next run grades it again.
    """
    total = max_points(parse_notebook(task.job.source_text))
    reason = f"the grader failed, not the notebook ({type(error).__name__}: {str(error)[:200]}), {attempts} times"
    return GradeOutcome(GradeResult(0.0, total, "error", reason))


SCRATCH_PREFIX = "labs-grade-"
_SCRATCH_LOCK = ".lock"


def secret_paths(course: Course, batch_paths: list[Path]) -> list[str]:
    """What student kernels must not see: the batch's own folders and files, the solution sources
    and the git history of every checkout holding them (which holds the solutions too)."""
    hidden = {Path(path).resolve() for path in batch_paths}
    for source in course.sources.values():
        folder = Path(source).resolve().parent
        hidden.add(folder)
        for parent in folder.parents:
            if (parent / ".git").exists():
                hidden.add(parent / ".git")
                break
    return sorted(str(path) for path in hidden)


def _remove_stale_scratch() -> None:
    """Delete scratch folders of earlier batches whose grader is gone (killed, say): nobody holds their lock.

    A folder without a lock file (a grader killed while creating it) goes once it is an hour old.
    """
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            descriptor = os.open(folder / _SCRATCH_LOCK, os.O_RDWR)
        except FileNotFoundError:
            if time.time() - folder.stat().st_mtime > 3600:
                shutil.rmtree(folder, ignore_errors=True)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        finally:
            os.close(descriptor)
        shutil.rmtree(folder, ignore_errors=True)


def _new_scratch_root() -> tuple[Path, int]:
    """A scratch folder for this batch and the open descriptor of its lock, held until the batch ends."""
    _remove_stale_scratch()
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    descriptor = os.open(folder / _SCRATCH_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return folder, descriptor


def grade_batch(submissions: Path, out: Path, course: Course, workers: int | None = None,
                settings: Settings | None = None, force: bool = False, scheduler: str | None = None,
                show_progress: bool = True, similarity_threshold: float | None = None,
                lms_id_column: str = lms.DEFAULT_ID_COLUMN) -> Summary:
    """Grade every notebook under ``submissions`` (folder or .zip) into ``out``; see the module docstring.

    Then write the class report ``report.html`` (with the similarity check when ``similarity_threshold``
    is given, see :mod:`autograder.report`) and ``lms.csv`` (:mod:`autograder.lms`) from the whole ledger.
    """
    from tqdm.auto import tqdm

    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    settings = settings or Settings()
    settings = dataclasses.replace(settings, sandbox=choose_isolation(settings.sandbox).mode)
    if not submissions.exists():
        raise ValueError(f"{submissions} does not exist; pass a folder or .zip of <student>/<assignment>/<Notebook>.ipynb.")
    work = out / ".grading"
    work.mkdir(parents=True, exist_ok=True)
    folder, refused = submissions, {}
    if submissions.is_file():
        import zipfile

        if not zipfile.is_zipfile(submissions):
            raise ValueError(f"{submissions} is neither a folder nor a zip archive; pass one of them.")
        folder, refused = extract_zip(submissions, work / "unzipped")
    scratch, scratch_lock = _new_scratch_root()
    hidden = secret_paths(course, [out, submissions, folder, scratch])
    ledger = Ledger(work / "ledger.jsonl")
    summary = Summary()
    if ledger.rejected:
        summary.notes.append(f"{ledger.rejected} line(s) of the ledger were damaged or not written by this grader "
                             "and were ignored; their notebooks are graded again.")
    damaged = gradebook.damage(out)
    if damaged:
        kept = out / f"gradebook.db.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        (out / "gradebook.db").rename(kept)
        summary.notes.append(f"OUT/gradebook.db was damaged ({damaged}); it is kept as {kept.name} and was "
                             "rebuilt from the ledger.")
    tasks = plan(folder, course, settings, hidden, scratch, refused)
    originals = _originals(course, tasks) if integrity.exposed(settings) else None
    restored_sources: list[Path] = []
    todo = [t for t in tasks if force or ledger.latest.get((t.student, t.assignment, t.notebook), {}).get("hash") != t.digest]
    summary.skipped = len(tasks) - len(todo)
    assignments = sorted({t.assignment for t in todo if t.assignment in course.assignments()})
    if damaged:
        _rebuild_gradebook(out, course, ledger)
    jobs = [t for t in todo if t.job is not None]
    workers = max(1, workers or os.cpu_count() or 1)
    progress = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not show_progress)
    # Generating the assignments into the gradebook takes seconds (nbgrader runs alembic in a
    # subprocess); it overlaps with the workers' first notebooks, and nothing is recorded before it ends.
    with ThreadPoolExecutor(max_workers=1) as preparer:
        preparing = preparer.submit(gradebook.prepare_course, out, course, assignments) if assignments else None
        try:
            results = _run_dask(jobs, scheduler) if scheduler else _run_local(jobs, workers) if jobs else []
            for task, outcome, seconds in results:
                if preparing is not None:
                    preparing.result()
                if originals is not None:
                    # A gradebook rebuilt while recording reads the sources: put them back first.
                    restored_sources += originals.put_back(course.sources.values())
                _record(out, course, ledger, task, outcome, seconds, summary.notes)
                summary.graded += 1
                progress.update()
                write_csv(out, ledger)
                if originals is not None:
                    originals.gradebook_digest = integrity.file_digest(out / "gradebook.db")
            if preparing is not None:
                preparing.result()
            for task in (t for t in todo if t.job is None):
                _record(out, course, ledger, task, GradeOutcome(task.result), notes=summary.notes)
                progress.update()
            if originals is not None:
                _repair(out, course, ledger, tasks, originals, restored_sources, summary.notes,
                        lambda again: _run_dask(again, scheduler) if scheduler else _run_local(again, workers))
        finally:
            progress.close()
            shutil.rmtree(scratch, ignore_errors=True)
            os.close(scratch_lock)
    summary.rows = write_csv(out, ledger)
    if assignments or not (out / "nbgrader_export.csv").exists():
        if (out / "gradebook.db").exists():
            gradebook.export_nbgrader_csv(out)
    for entry in ledger.latest.values():
        summary.by_status[entry["status"]] = summary.by_status.get(entry["status"], 0) + 1
    entries = list(ledger.latest.values())
    graded = {entry["assignment"] for entry in entries}
    lms.write_lms_csv(out, entries, {assignment: course.notebooks(assignment) for assignment in course.assignments()
                                     if assignment in graded}, lms_id_column)
    summary.similar_pairs = report.write_report(out, course, entries, similarity_threshold).similar_pairs
    return summary
