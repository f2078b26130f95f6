"""labs_cli: a light start-up, the grading extra named when missing, and --course finding the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_help_starts_without_tensorflow_or_nbgrader():
    code = (
        "import sys, contextlib, io\n"
        "from labs_cli.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "heavy = [name for name in ('tensorflow', 'nbgrader', 'nbclient', 'music21', 'gymnasium') if name in sys.modules]\n"
        "print(heavy)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_importing_labs_has_no_side_effects():
    code = "import sys, labs\nprint(sorted(m for m in ('tensorflow', 'nbgrader', 'matplotlib') if m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]" and completed.stderr == ""


def _without_the_grading_extra(folder: Path) -> dict[str, str]:
    """An environment whose Python cannot import what only the grading extra installs."""
    blocker = folder / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('nbgrader', 'nbconvert'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    return dict(os.environ, PYTHONPATH=str(folder))


@pytest.mark.notebook
def test_labs_run_needs_only_the_base_install(tiny_lab: Path, tmp_path: Path):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    source = tiny_lab / "lab9_tiny" / "solutions" / "Part1_Tiny.ipynb"
    completed = subprocess.run([sys.executable, "-m", "labs_cli", "run", str(source), "--small", "--out",
                                str(tmp_path / "runs")], capture_output=True, text=True,
                               env=_without_the_grading_extra(blocked))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert list((tmp_path / "runs").rglob("*.ipynb")), completed.stdout[-2000:]


@pytest.mark.parametrize("command", [["build"], ["release", "--out", "OUT"], ["grade", "SUBMISSIONS", "--out", "OUT"],
                                     ["mutate", "--out", "OUT"], ["demo", "--out", "OUT"]])
def test_an_instructor_command_without_the_grading_extra_names_the_extra_in_one_line_before_any_work(
        tmp_path: Path, command: list[str]):
    env = _without_the_grading_extra(tmp_path)
    (tmp_path / "SUBMISSIONS").mkdir()
    arguments = [str(tmp_path / word) if word in ("OUT", "SUBMISSIONS") else word for word in command]
    completed = subprocess.run([sys.executable, "-m", "labs_cli", *arguments], capture_output=True, text=True,
                               env=env, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0
    assert "grading extra" in completed.stderr and "pip install 'intro-deep-learning-labs[grading]'" in completed.stderr
    assert not (tmp_path / "OUT").exists()


def test_course_option_points_every_command_at_a_checkout_from_anywhere(tiny_lab: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tiny_lab / "pyproject.toml").write_text("")
    (tiny_lab / "labs").mkdir(exist_ok=True)
    built = subprocess.run([sys.executable, "-m", "labs_cli", "--course", str(tiny_lab), "build"],
                           capture_output=True, text=True, cwd=elsewhere)
    assert built.returncode == 0, built.stderr
    assert "built lab" in built.stdout and next(tiny_lab.glob("lab*/Part1_Tiny.ipynb")).exists()
    wrong = subprocess.run([sys.executable, "-m", "labs_cli", "--course", str(elsewhere), "build"],
                           capture_output=True, text=True, cwd=elsewhere)
    assert wrong.returncode != 0 and "--course" in wrong.stderr and wrong.stderr.strip().count("\n") == 0


def test_the_course_is_the_checkout_around_the_current_folder_not_where_the_package_is_installed(tmp_path: Path):
    from labs_cli.cli import project_root

    checkout = tmp_path / "my-course"
    (checkout / "labs").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    inside = checkout / "lab1_music" / "solutions"
    inside.mkdir(parents=True)
    assert project_root(start=inside) == checkout.resolve()
    assert project_root(start=tmp_path, course=str(checkout)) == checkout.resolve()
    with pytest.raises(SystemExit, match="--course DIR"):
        project_root(start=tmp_path)  # outside any checkout, even though this package is installed from one


def test_labs_grade_refuses_a_bad_threshold_or_id_column_before_grading(tmp_path, capsys):
    from autograder.cli import grade_command

    common = dict(root=tmp_path, workers=None, cell_timeout=None, notebook_timeout=None, force=False, scheduler=None,
                  sandbox="none")
    assert grade_command(tmp_path, tmp_path / "out", similarity_threshold=1.5, **common) == 2
    assert "--similarity-threshold must be between 0 and 1" in capsys.readouterr().err
    assert grade_command(tmp_path, tmp_path / "out", lms_id_column="Final Points", **common) == 2
    assert "cannot hold the student id" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
