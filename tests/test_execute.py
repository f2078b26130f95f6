"""The shared notebook plumbing: the atomic writer, the one executor loop, ``labs run`` and the figures run the benchmarks use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.execute import execute, run_for_figures, run_notebook
from autograder.notebooks import NotebookError, read_notebook, replaced_atomically, write_text_atomically
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


def _notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])


@pytest.mark.notebook
def test_every_error_is_collected_when_the_run_goes_on_and_only_the_first_when_it_stops(tmp_path: Path):
    cells = ("raise ValueError('first')", "x = 1", "raise KeyError('second')", "y = 2")
    executed, errors = execute(_notebook(*cells), tmp_path, "errors", stop_on_error=False, show_progress=False)
    assert [(error.index, error.name) for error in errors] == [(0, "ValueError"), (2, "KeyError")]
    assert executed.cells[3].execution_count is not None
    executed, errors = execute(_notebook(*cells), tmp_path, "errors", show_progress=False)
    assert [(error.index, error.name) for error in errors] == [(0, "ValueError")]
    assert executed.cells[1].execution_count is None


@pytest.mark.notebook
@pytest.mark.parametrize(("code", "name", "words"), [
    ("import time\ntime.sleep(60)", "CellTimeoutError", "longer than 2 s"),
    ("import os\nos._exit(1)", "DeadKernelError", "the kernel died"),
])
def test_a_cell_that_hangs_or_kills_its_kernel_is_that_cells_error_and_ends_the_run(tmp_path, code, name, words):
    executed, errors = execute(_notebook("a = 1", code, "b = 2"), tmp_path, "stops", cell_timeout=2,
                               show_progress=False)
    assert [(error.index, error.name) for error in errors] == [(1, name)]
    assert words in errors[0].value
    assert executed.cells[2].execution_count is None


INTERRUPTED_RUN = """
import json, sys
from pathlib import Path
import nbformat
from autograder.execute import execute
cells = ("open('started', 'w').close()", "import time\\ntime.sleep(120)", "c = 3")
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
executed, errors = execute(notebook, Path(sys.argv[1]), "interrupted", show_progress=False)
print(json.dumps([[error.index, error.name] for error in errors]))
"""


@pytest.mark.notebook
def test_ctrl_c_ends_the_run_as_the_running_cells_error_and_returns_what_ran(tmp_path: Path):
    script = tmp_path / "run.py"
    script.write_text(INTERRUPTED_RUN)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and process.poll() is None, "the notebook's first cell never ran"
        time.sleep(0.2)
    time.sleep(2)  # the second cell is sleeping now
    os.kill(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert output.strip().splitlines()[-1] == '[[1, "KeyboardInterrupt"]]'


@pytest.mark.notebook
def test_run_saves_the_executed_copy_and_artifacts(tiny_lab: Path, tmp_path: Path):
    notebook = tiny_source([nbformat.v4.new_code_cell("open('artifact.txt', 'w').write(str(total))")])
    source = write_tiny_lab(tiny_lab, notebook, name="Part3_Artifact")
    result = run_notebook(source, tmp_path / "out", small=True, show_progress=False)
    assert result.ok, result.first_error()
    assert (tmp_path / "out" / "Part3_Artifact" / "artifact.txt").read_text() == "10"
    executed = read_notebook(result.output)
    printed = "".join(output.get("text", "") for cell in executed.cells for output in cell.get("outputs", []))
    assert "Small run" in printed and "[PASS] double" in printed


@pytest.mark.notebook
def test_a_failing_run_names_the_cell_and_keeps_what_ran_under_an_incomplete_name(tiny_lab: Path, tmp_path: Path):
    notebook = tiny_source([
        nbformat.v4.new_code_cell("open('artifact.txt', 'w').write('half')"),
        nbformat.v4.new_code_cell("raise ValueError('the tune is empty')"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ])
    source = write_tiny_lab(tiny_lab, notebook, name="Part4_Fails")
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "labs_cli", "run", str(source), "--small", "--out", str(out)],
        capture_output=True, text=True, cwd=tiny_lab,
    )
    assert completed.returncode == 1
    last_line = completed.stderr.strip().splitlines()[-1]
    assert "Part4_Fails.ipynb" in last_line and "cell 9 " in last_line and "ValueError: the tune is empty" in last_line
    assert [path.name for path in out.iterdir()] == ["Part4_Fails.incomplete"]
    kept = out / "Part4_Fails.incomplete"
    assert str(kept / "Part4_Fails.incomplete.ipynb") in last_line
    assert (kept / "artifact.txt").read_text() == "half"
    executed = read_notebook(kept / "Part4_Fails.incomplete.ipynb")
    errors = [output for cell in executed.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert [error.evalue for error in errors] == ["the tune is empty"]
    assert not executed.cells[-1].get("outputs")


def test_run_with_a_wrong_path_exits_non_zero_with_one_line(tmp_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "labs_cli", "run", str(tmp_path / "nope.ipynb")], capture_output=True, text=True
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "no such notebook" in completed.stderr


def test_run_refuses_a_notebook_without_parameters_cell(tiny_lab: Path, tmp_path: Path):
    notebook = tiny_source()
    notebook.cells[2].metadata["tags"] = []
    source = write_tiny_lab(tiny_lab, notebook, name="Part5_NoParameters")
    with pytest.raises(NotebookError, match="no code cell tagged 'parameters'"):
        run_notebook(source, tmp_path / "out", small=True)
    assert not (tmp_path / "out").exists()
