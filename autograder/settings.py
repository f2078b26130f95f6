"""How submissions are run, defined once: the time limits and the isolation mode.

Every command, the nbgrader configuration and the help texts use these limits;
:class:`Settings` carries them from ``labs grade`` (or ``release``, ``demo``,
``gradescope``, ``mutate``) to the worker that runs one notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Seconds one cell, and one whole notebook, may run when graded (``labs grade``, ``release``,
#: ``gradescope`` and the grading step of ``labs demo``).
DEFAULT_CELL_TIMEOUT = 120.0
DEFAULT_NOTEBOOK_TIMEOUT = 600.0
#: Seconds one cell may run when ``labs demo`` executes a solution with its small values.
DEMO_CELL_TIMEOUT = 900.0
#: Part of every content hash: raising it re-grades every notebook graded before.
GRADER_VERSION = "1"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How submissions are run; part of every content hash, so changing them re-grades.

    ``cell_timeout`` and ``notebook_timeout`` are seconds for one cell and for all
    cells of a notebook together. ``sandbox`` is a mode of
    :func:`autograder.sandbox.choose_isolation`; a batch replaces ``auto`` by the
    mode it resolves to, so that notebooks graded with weaker isolation are graded
    again once stronger isolation is available.
    """

    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT
    sandbox: str = "auto"

    def fingerprint(self) -> str:
        """A stable text form of the settings."""
        return f"v{GRADER_VERSION}|{self.notebook_timeout:g}|{self.cell_timeout:g}|{self.sandbox}"
