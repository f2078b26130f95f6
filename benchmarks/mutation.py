"""Mutation score: what share of the declared wrong answers the graded tests catch, per notebook.

For each chosen solution source, ``labs mutate`` runs from scratch (a fresh
output folder, so nothing comes from its cache): every mutant of the notebook's
catalogue ``<Stem>.mutants.json`` is graded with the real grader, beside the
unmutated solution and the blank student version. Prints one table: mutants,
caught, the mutation score, the wall time, and the seconds one graded notebook
costs (wall time x workers / notebooks graded). Exits 1 when a mutant survives
or a baseline misbehaves.

Run with ``python benchmarks/mutation.py [NOTEBOOK ...] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from labs_cli.cli import project_root

ROOT = project_root(Path(__file__).parent)


def main(argv: list[str] | None = None) -> int:
    from autograder.build import solution_sources
    from autograder.demo import format_table
    from autograder.mutate import mutate
    from autograder.sandbox import isolation_available

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="solution stems (default: every notebook)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    sandbox = "auto" if isolation_available() else "none"
    stems = args.notebooks or [source.stem for source in solution_sources(ROOT)]
    rows, problems, total, caught_total = [], [], 0, 0
    for stem in stems:
        with tempfile.TemporaryDirectory(prefix="labs-mutation-") as out:
            started = time.monotonic()
            (report,) = mutate(ROOT, [stem], Path(out), workers=args.workers, sandbox=sandbox)
            seconds = time.monotonic() - started
        mutants = sum(todo.mutants for todo in report.todos)
        caught = sum(len(todo.caught) for todo in report.todos)
        total, caught_total = total + mutants, caught_total + caught
        problems += report.problems
        rows.append((stem, str(mutants), str(caught), f"{caught / mutants:.1%}" if mutants else "-",
                     f"{seconds:.0f}", f"{seconds * args.workers / (mutants + 2):.1f}"))
    rows.append(("all", str(total), str(caught_total), f"{caught_total / total:.1%}" if total else "-", "", ""))
    print(format_table(rows, ("notebook", "mutants", "caught", "score", "wall s",
                              f"s per graded notebook ({args.workers} workers)")))
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
