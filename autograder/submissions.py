"""Find submitted notebooks in a folder or zip laid out ``<student_id>/<assignment>/<Notebook>.ipynb``."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.restore import canonical_notebook_name

MAX_UNZIPPED_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Submitted:
    """One submitted notebook file."""

    student: str
    assignment: str
    file_name: str
    path: Path


@dataclass(frozen=True)
class Course:
    """The notebooks that can be graded: ``(assignment, notebook) -> source path``."""

    sources: dict[tuple[str, str], Path]

    def notebooks(self, assignment: str) -> list[str]:
        """Names (no ``.ipynb``) of the notebooks of ``assignment``, sorted."""
        return sorted(name for a, name in self.sources if a == assignment)

    def assignments(self) -> list[str]:
        """Every assignment, sorted."""
        return sorted({a for a, _ in self.sources})


def course_from_sources(paths: list[Path]) -> Course:
    """A course whose assignments are the lab folders of ``lab*/solutions/*.ipynb`` paths."""
    return Course({(Path(p).parent.parent.name, Path(p).stem): Path(p) for p in paths})


def extract_zip(archive: Path, destination: Path) -> Path:
    """Unpack ``archive`` into ``destination`` safely (no absolute or ``..`` paths, bounded size)."""
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
            raise ValueError(f"{archive} unpacks to more than 2 GB; grade it as a folder instead.")
        if destination.exists():
            shutil.rmtree(destination)
        for member in members:
            parts = PurePosixPath(member.filename).parts
            if member.filename.startswith("/") or ".." in parts:
                continue
            target = destination.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as stream, open(target, "wb") as out:
                shutil.copyfileobj(stream, out)
    entries = [p for p in destination.iterdir() if not p.name.startswith(("__MACOSX", "."))] if destination.exists() else []
    if len(entries) == 1 and entries[0].is_dir() and not any(p.suffix == ".ipynb" for p in entries[0].rglob("*")
                                                             if p.parent.parent == entries[0]):
        return entries[0]
    return destination


def find_submitted(folder: Path) -> list[Submitted]:
    """Every ``<student>/<assignment>/*.ipynb`` file under ``folder`` (other files are ignored)."""
    found = []
    for path in sorted(Path(folder).glob("*/*/*.ipynb")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        found.append(Submitted(path.parent.parent.name, path.parent.name, path.name, path))
    return found


def match(submitted: Submitted, course: Course) -> tuple[str | None, str | None]:
    """``(notebook name, None)`` for a file the course knows, else ``(None, one-line reason)``."""
    if submitted.assignment not in course.assignments():
        known = ", ".join(course.assignments())
        return None, f"unknown assignment folder '{submitted.assignment}'; expected one of {known}"
    wanted = canonical_notebook_name(submitted.file_name)
    names = {name.lower(): name for name in course.notebooks(submitted.assignment)}
    if wanted.lower() in names:
        return names[wanted.lower()], None
    for assignment, name in course.sources:
        if name.lower() == wanted.lower():
            return None, f"{submitted.file_name} belongs to {assignment}, not {submitted.assignment}"
    expected = ", ".join(f"{n}.ipynb" for n in course.notebooks(submitted.assignment))
    return None, f"'{submitted.file_name}' is not a notebook of {submitted.assignment} (expected {expected})"
