"""The ``labs`` command: build, run and demo the notebooks; release and grade.

Only argparse is imported at start-up so that ``labs --help`` is instant; each
subcommand imports what it needs (nbgrader, nbclient, TensorFlow in kernels).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.settings import DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_TIMEOUT, DEMO_CELL_TIMEOUT
from autograder.sandbox import MODES as SANDBOX_MODES


def project_root(start: Path | None = None, course: str | None = None) -> Path:
    """The course checkout every command works on (the one function that finds it).

    ``course`` (``--course DIR``) wins; otherwise the nearest folder, from ``start`` or
    the current directory upwards, holding ``pyproject.toml`` and ``labs/``. Where the
    package is installed plays no part: an instructor may grade from anywhere with
    ``--course DIR``.
    """
    def is_checkout(folder: Path) -> bool:
        return (folder / "pyproject.toml").is_file() and (folder / "labs").is_dir()

    if course is not None:
        folder = Path(course).resolve()
        if not is_checkout(folder):
            raise SystemExit(f"labs: --course {course} is not a checkout of the labs repository "
                             "(no pyproject.toml with labs/ there).")
        return folder
    start = Path(start or Path.cwd()).resolve()
    for folder in [start, *start.parents]:
        if is_checkout(folder):
            return folder
    raise SystemExit("labs: run this inside a checkout of the labs repository, or pass --course DIR "
                     "(no pyproject.toml with labs/ found).")


def _build(args: argparse.Namespace) -> int:
    from autograder.build import build

    root = project_root(course=args.course)
    built, errors = build(root)
    for path in built:
        print(f"built {path.relative_to(root)}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if not built and not errors:
        print("No lab notebooks yet (nothing under lab*/solutions/).")
    return 1 if errors else 0


def _run(args: argparse.Namespace) -> int:
    from autograder.execute import run_notebook
    from autograder.notebooks import NotebookError

    try:
        result = run_notebook(Path(args.notebook), Path(args.out), small=args.small, cell_timeout=args.cell_timeout)
    except NotebookError as error:
        print(f"labs run: {error}", file=sys.stderr)
        return 2
    if not result.ok:
        print(f"labs run: {result.first_error()}; the notebook as far as it ran, with the error, "
              f"is in {result.output}", file=sys.stderr)
        return 1
    print(f"{args.notebook}: ran in {result.seconds:.0f} s; executed copy and artifacts in {result.output.parent}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from autograder.demo import demo

    return demo(project_root(course=args.course), Path(args.out), grade=not args.no_grade, cell_timeout=args.cell_timeout)


def _release(args: argparse.Namespace) -> int:
    from autograder.cli import release_command

    return release_command(Path(args.out) if args.out else None, project_root(course=args.course))


def _grade(args: argparse.Namespace) -> int:
    from autograder.cli import grade_command

    root = project_root(course=args.course)
    if args.build_image:
        from autograder.container import build_image

        built = build_image(root)
        if built != 0 or args.submissions is None:
            return built
    if args.submissions is None or args.out is None:
        print("labs grade: give SUBMISSIONS and --out OUT (or only --build-image).", file=sys.stderr)
        return 2
    return grade_command(Path(args.submissions), Path(args.out), root=root,
                         workers=args.workers, cell_timeout=args.cell_timeout,
                         notebook_timeout=args.notebook_timeout, force=args.force, scheduler=args.scheduler,
                         sandbox=args.sandbox, similarity=args.similarity,
                         similarity_threshold=args.similarity_threshold, lms_id_column=args.lms_id_column)


def _mutate(args: argparse.Namespace) -> int:
    from autograder.mutate import mutate_command

    root = project_root(course=args.course)
    return mutate_command(root, args.notebooks, Path(args.out) if args.out else root / "build" / "mutation",
                          workers=args.workers, sandbox=args.sandbox, only=args.mutant, sample=args.sample,
                          force=args.force, as_json=args.json)


def _gradescope(args: argparse.Namespace) -> int:
    from autograder.cli import repository_course
    from autograder.gradescope import gradescope_command

    root = project_root(course=args.course)
    return gradescope_command(root, repository_course(root), args.lab, Path(args.out), cell_timeout=args.cell_timeout,
                              notebook_timeout=args.notebook_timeout)


def _positive_seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``labs`` command."""
    parser = argparse.ArgumentParser(
        prog="labs",
        description="Build, run, release and grade the deep-learning lab notebooks.",
    )
    parser.add_argument("--course", metavar="DIR", default=None,
                        help="the course checkout to work on (default: found from the current folder upwards)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="regenerate the student notebooks from their solution sources and check them")
    build.set_defaults(handler=_build)

    run = commands.add_parser("run", help="execute one notebook headless and save the executed copy")
    run.add_argument("notebook", help="path to a .ipynb file")
    run.add_argument("--small", action="store_true", help="inject the notebook's SMALL_RUN_VALUES (quick check)")
    run.add_argument("--out", default="runs", help="folder for the executed copy and artifacts (default: runs/)")
    run.add_argument("--cell-timeout", type=_positive_seconds, default=None,
                     help="seconds any one cell may take (default: no limit)")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="build, run every solution with small values, grade the runs, print a table")
    demo.add_argument("--out", default="runs/demo", help="folder for the executed notebooks (default: runs/demo)")
    demo.add_argument("--no-grade", action="store_true", help="skip grading the runs")
    demo.add_argument("--cell-timeout", type=_positive_seconds, default=DEMO_CELL_TIMEOUT,
                      help=f"seconds any one cell may take (default {DEMO_CELL_TIMEOUT:g})")
    demo.set_defaults(handler=_demo)

    release = commands.add_parser("release", help="generate the nbgrader assignments for students")
    release.add_argument("--out", help="course folder to write (default: release/)")
    release.set_defaults(handler=_release)

    grade = commands.add_parser("grade", help="grade a folder or .zip of submissions into a CSV and feedback")
    grade.add_argument("submissions", nargs="?", default=None,
                       help="folder <student>/<assignment>/<Notebook>.ipynb, or a .zip of it")
    grade.add_argument("--out", default=None, help="output folder: grades.csv, feedback/, gradebook (required to grade)")
    grade.add_argument("--workers", type=int, default=None, help="parallel graders (default: number of cores)")
    grade.add_argument("--cell-timeout", type=_positive_seconds, default=None,
                       help=f"seconds one cell may take (default {DEFAULT_CELL_TIMEOUT:g})")
    grade.add_argument("--notebook-timeout", type=_positive_seconds, default=None,
                       help=f"seconds one whole notebook may take (default {DEFAULT_NOTEBOOK_TIMEOUT:g})")
    grade.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto",
                       help="how student code is isolated (default auto: the strongest available of bwrap, landlock "
                            "and container; refuses to grade when there is none)")
    grade.add_argument("--build-image", action="store_true",
                       help="build the container image of --sandbox container from the repository's Dockerfile with "
                            "podman or docker (LABS_CONTAINER_ENGINE names another), then grade if SUBMISSIONS is given")
    grade.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    grade.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT (extra 'cluster')")
    grade.add_argument("--similarity", action="store_true",
                       help="also compare the answer cells of every pair of submissions and list similar pairs in "
                            "OUT/report.html (scores are unchanged)")
    grade.add_argument("--similarity-threshold", type=float, default=None, metavar="SHARE",
                       help="flag pairs at least this similar, between 0 and 1 (default 0.5; implies --similarity)")
    grade.add_argument("--lms-id-column", default="SIS User ID", metavar="NAME",
                       help="header of the student id column in OUT/lms.csv: 'SIS User ID' (default), 'SIS Login ID' "
                            "or 'ID' for Canvas, any name for Moodle")
    grade.set_defaults(handler=_grade)

    mutate = commands.add_parser("mutate", help="grade every declared wrong answer and report what the tests catch")
    mutate.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="solution sources (path or name such as Part1_MNIST; default: all)")
    mutate.add_argument("--workers", type=int, default=None, help="parallel graders (default: number of cores)")
    mutate.add_argument("--mutant", action="append", default=[], metavar="NAME",
                        help="grade only this mutant (repeatable); the baselines are always graded")
    mutate.add_argument("--sample", type=int, default=None, metavar="N",
                        help="grade only N mutants per notebook, evenly spread over its catalogue (a quick check)")
    mutate.add_argument("--out", default=None, help="folder for the batch and its cache (default: build/mutation)")
    mutate.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto", help="as for labs grade")
    mutate.add_argument("--force", action="store_true", help="grade again what the cache already holds")
    mutate.add_argument("--json", action="store_true", help="print the reports as JSON instead of a table")
    mutate.set_defaults(handler=_mutate)

    gradescope = commands.add_parser("gradescope", help="write a Gradescope autograder.zip that grades one lab")
    gradescope.add_argument("lab", help="the lab's folder, e.g. lab1_music (or a unique start of it, e.g. lab1)")
    gradescope.add_argument("--out", required=True, help="folder to write autograder.zip into")
    gradescope.add_argument("--cell-timeout", type=_positive_seconds, default=None,
                            help=f"seconds one cell may take on Gradescope (default {DEFAULT_CELL_TIMEOUT:g})")
    gradescope.add_argument("--notebook-timeout", type=_positive_seconds, default=None,
                            help=f"seconds one whole notebook may take on Gradescope (default {DEFAULT_NOTEBOOK_TIMEOUT:g})")
    gradescope.set_defaults(handler=_gradescope)
    return parser


#: Modules only the ``grading`` extra installs, which the instructor commands need (``labs run`` needs none).
GRADING_MODULES = {"nbgrader", "nbconvert"}


#: Commands that use nbgrader: they check for the grading extra before doing any work.
NEEDS_GRADING = {"build", "release", "grade", "mutate", "demo"}


def _missing_grading_module() -> str | None:
    """The first module of :data:`GRADING_MODULES` that cannot be imported here, or None."""
    import importlib.util

    for name in sorted(GRADING_MODULES):
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labs`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    missing = _missing_grading_module() if args.command in NEEDS_GRADING else None
    try:
        if missing is None:
            return args.handler(args)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in GRADING_MODULES:
            raise
        missing = error.name
    print(f"labs {args.command}: needs the grading extra ({missing} is missing); install it with "
          "pip install 'intro-deep-learning-labs[grading]'.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
