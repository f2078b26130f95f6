"""Put back what student code changed when it ran as the instructor (``--sandbox none``, not root).

Every isolation mode keeps kernels away from ``OUT``, the sources and the other
submissions, and graded as root even ``--sandbox none`` runs them as a throw-away
user that can write none of it. Graded as any other user with ``--sandbox none``,
a kernel runs as that user and can write whatever the grader can: the batch is
then *exposed* (:func:`exposed`). No check inside the grader can stop that, so
the coordinator keeps the truth where a kernel cannot reach it, in its own
memory, and repairs the files once the kernels are gone (none outlives its
notebook):

- the ledger and its key are rewritten from what the coordinator read and
  appended (:meth:`autograder.batch.Ledger.put_back`);
- submissions and sources are rewritten from the bytes read before any kernel
  ran (:class:`Originals`);
- a gradebook that differs from what the coordinator last wrote is kept aside
  and rebuilt from the ledger;
- each ledger entry records the SHA-256 of the feedback page and autograded
  notebook it wrote (:func:`changed_records`); a notebook whose files differ is
  graded again, and Gradescope's results are rewritten from the ledger.

What it cannot repair is said in the batch's notes; files outside the grader's
records (your home folder, the Python installation) are not watched at all: use
an isolation mode for anything but your own test submissions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from autograder.sandbox import throwaway_user_problem
from autograder.settings import Settings


def exposed(settings: Settings) -> bool:
    """Whether kernels graded with ``settings`` run as the grader's own user, able to write its files."""
    return settings.sandbox == "none" and throwaway_user_problem() is not None


def digest(data: bytes) -> str:
    """SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 of the file at ``path``, or None when it cannot be read."""
    try:
        return digest(Path(path).read_bytes())
    except OSError:
        return None


def changed_records(out: Path, entries: dict[tuple[str, str, str], dict]) -> list[tuple[str, str, str]]:
    """Keys of ledger entries whose recorded files (``entry["files"]``: path in ``out`` -> SHA-256) now differ."""
    return [key for key, entry in entries.items()
            if any(file_digest(out / name) != expected for name, expected in (entry.get("files") or {}).items())]


class Originals:
    """Bytes of files read before any kernel ran, to write back over whatever changed them."""

    def __init__(self) -> None:
        self._files: dict[Path, bytes] = {}
        #: SHA-256 of ``OUT/gradebook.db`` right after the grader last wrote it (None before it has).
        self.gradebook_digest: str | None = None

    def keep(self, path: Path, data: bytes) -> None:
        """Remember ``data`` as the content of ``path``."""
        self._files[Path(path)] = data

    def put_back(self, only: Iterable[Path] | None = None) -> list[Path]:
        """Rewrite every kept file (or those of ``only``) whose content differs or that is gone; return those paths."""
        restored = []
        for path, data in self._files.items() if only is None else ((Path(p), self._files[Path(p)]) for p in only):
            try:
                unchanged = path.read_bytes() == data
            except OSError:
                unchanged = False
            if not unchanged:
                path.unlink(missing_ok=True)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                restored.append(path)
        return restored
