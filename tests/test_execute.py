"""The shared notebook plumbing: the atomic writer and the figures run the benchmarks use."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.execute import run_for_figures
from autograder.notebooks import read_notebook, replaced_atomically, write_text_atomically
from notebook_factory import tiny_source, write_tiny_lab


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path):
    target = tmp_path / "out" / "grades.csv"
    write_text_atomically(target, "old\n")
    write_text_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert [path.name for path in target.parent.iterdir()] == ["grades.csv"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_atomic_write_removes_its_temporary_file_and_keeps_the_old_file(tmp_path: Path, error: BaseException):
    target = tmp_path / "autograder.zip"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with replaced_atomically(target) as temporary:
            temporary.write_bytes(b"half of the new")
            raise error
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["autograder.zip"]


def test_a_failed_text_write_removes_its_temporary_file(tmp_path: Path):
    target = tmp_path / "feedback.html"
    with pytest.raises(UnicodeEncodeError):
        write_text_atomically(target, "unpaired surrogate \udc80")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.notebook
def test_a_figures_run_injects_values_runs_the_notebook_and_returns_what_it_computed(tiny_lab: Path, tmp_path: Path):
    source = write_tiny_lab(tiny_lab, tiny_source([nbformat.v4.new_code_cell("open('artifact.txt', 'w').write('x')")]),
                            name="Part5_Figures")
    figures, run = run_for_figures(source, "figures = {'total': int(total), 'scale': scale, 'offset': offset}",
                                   small=True, values={"scale": 7}, after_parameters=["offset = scale + 1"],
                                   save_to=tmp_path / "kept", label="seed1", show_progress=False)
    assert figures == {"total": 10, "scale": 7, "offset": 8}
    assert run.ok and run.output == tmp_path / "kept" / "seed1.ipynb"
    printed = "".join(output.get("text", "") for cell in read_notebook(run.output).cells for output in cell.get("outputs", []))
    assert "Small run (results are not meaningful): num_steps=5, scale=7" in printed
    assert not (source.parent / "artifact.txt").exists()


@pytest.mark.notebook
def test_a_failing_figures_run_names_the_cell_and_still_saves_the_notebook(tiny_lab: Path, tmp_path: Path):
    source = write_tiny_lab(tiny_lab, tiny_source([nbformat.v4.new_code_cell("raise ValueError('no tunes')")]),
                            name="Part6_Fails")
    with pytest.raises(RuntimeError, match="ValueError: no tunes"):
        run_for_figures(source, "figures = {}", small=True, save_to=tmp_path, show_progress=False)
    assert (tmp_path / "Part6_Fails.ipynb").is_file()
