"""Find submitted notebooks in a folder or zip laid out ``<student_id>/<assignment>/<Notebook>.ipynb``."""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_UNZIPPED_BYTES = 2 * 1024**3
_COPY_PREFIX = re.compile(r"^(copy of\s+)+", re.IGNORECASE)
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|-copy\d*|\s+copy\d*)$", re.IGNORECASE)


def canonical_notebook_name(file_name: str) -> str:
    """Undo the renames Colab and Jupyter make: ``Copy of X (1).ipynb`` -> ``X``."""
    stem = file_name[:-6] if file_name.lower().endswith(".ipynb") else file_name
    stem = _COPY_PREFIX.sub("", stem.strip())
    return _COPY_SUFFIX.sub("", stem).strip()


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


def _copy_member(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> str | None:
    """Copy one archive member to ``target``; return why it was refused, or None.

    An entry that holds more bytes than its header declares, or whose checksum does
    not match, is refused (and nothing of it kept): such headers are how zip bombs lie.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with bundle.open(member) as stream, open(target, "wb") as out:
            copied = 0
            while chunk := stream.read(1024**2):
                copied += len(chunk)
                if copied > member.file_size:
                    raise zipfile.BadZipFile("it unpacks to more bytes than its header declares")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        target.unlink(missing_ok=True)
        return f"the archive entry is damaged or lies about its size ({error}); submit it again"
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        return "the archive holds a file and a folder of the same name; submit it again with distinct names"
    return None


def extract_zip(archive: Path, destination: Path) -> tuple[Path, dict[str, str]]:
    """Unpack ``archive`` into ``destination`` safely; return the submissions folder and the refused entries.

    Absolute and ``..`` paths and links are skipped; the declared total size is
    bounded, and every entry is checked against its declared size and checksum.
    Refused entries map their path in the archive to a one-line reason.
    """
    refused: dict[str, str] = {}
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
            raise ValueError(f"{archive} unpacks to more than 2 GB; grade it as a folder instead.")
        if destination.exists():
            shutil.rmtree(destination)
        destination.mkdir(parents=True)
        for member in members:
            parts = PurePosixPath(member.filename).parts
            if member.filename.startswith("/") or ".." in parts:
                continue
            if stat.S_ISLNK(member.external_attr >> 16):
                refused[member.filename] = "the archive entry is a symbolic link, not a notebook file"
                continue
            reason = _copy_member(bundle, member, destination.joinpath(*parts))
            if reason:
                refused[member.filename] = reason
    entries = [p for p in destination.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir() and not any(p.suffix == ".ipynb" for p in entries[0].rglob("*")
                                                             if p.parent.parent == entries[0]):
        prefix = entries[0].name + "/"
        return entries[0], {name.removeprefix(prefix): reason for name, reason in refused.items()}
    return destination, refused


def _is_junk(relative: Path) -> bool:
    """macOS archive leftovers: the ``__MACOSX`` folder and ``._`` AppleDouble files."""
    return relative.parts[0] == "__MACOSX" or relative.name.startswith("._")


def find_submitted(folder: Path) -> list[Submitted]:
    """Every ``<student>/<assignment>/*.ipynb`` entry under ``folder``: files, but also links and folders so named.

    Links are listed, never followed (see :func:`link_or_folder_reason`); other files are ignored.
    """
    folder = Path(folder)
    found = []
    for student in sorted(folder.iterdir()):
        if not student.is_dir() or student.is_symlink() or _is_junk(student.relative_to(folder)):
            continue
        for assignment in sorted(student.iterdir()):
            if not assignment.is_dir() or assignment.is_symlink():
                continue
            for path in sorted(assignment.iterdir()):
                if path.suffix == ".ipynb" and not _is_junk(path.relative_to(folder)):
                    found.append(Submitted(student.name, assignment.name, path.name, path))
    return found


def link_or_folder_reason(path: Path) -> str | None:
    """Why ``path`` is not a plain notebook file (a link, a folder), or None. Never follows a link."""
    if path.is_symlink():
        return "the submission is a symbolic link; submit the notebook file itself"
    if path.is_dir():
        return "this is a folder named like a notebook, not a notebook file"
    return None


def read_submitted(path: Path) -> bytes:
    """The bytes of a submitted file, refusing to follow a link that appeared since it was listed."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as stream:
        return stream.read()


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
