"""The ``labs`` command: one command layer above the student package (``labs``) and the grader (``autograder``).

Student commands (``build``, ``run``) and instructor commands (``release``, ``grade``,
``mutate``, ``gradescope``) are parsed here; each imports the package that does the work
only when it runs, so ``labs --help`` is instant and a missing extra is named in one line.
"""
