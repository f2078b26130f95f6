"""Time limits, defined once: every command, the nbgrader configuration and the help texts use these."""

#: Seconds one cell, and one whole notebook, may run when graded (``labs grade``, ``release``,
#: ``gradescope`` and the grading step of ``labs demo``).
DEFAULT_CELL_TIMEOUT = 120.0
DEFAULT_NOTEBOOK_TIMEOUT = 600.0
#: Seconds one cell may run when ``labs demo`` executes a solution with its small values.
DEMO_CELL_TIMEOUT = 900.0
