"""The README's figures table names commands that exist: every script (or ``labs`` command)
is there and accepts every flag the row passes it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def figure_commands() -> list[str]:
    """The command column of every row between the README's figures markers."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- figures:start -->")[1].split("<!-- figures:end -->")[0]
    return re.findall(r"`((?:python benchmarks/|labs )[^`]+)`\s*\|\s*$", table, flags=re.MULTILINE)


def test_the_figures_table_has_a_command_on_every_row():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- figures:start -->")[1].split("<!-- figures:end -->")[0]
    rows = [line for line in table.splitlines() if line.startswith("|") and not line.startswith("|---")][1:]
    assert rows, "the figures table is empty"
    assert len(figure_commands()) == len(rows)


@pytest.mark.parametrize("command", figure_commands())
def test_a_figures_command_names_a_script_that_accepts_its_flags(command: str):
    words = shlex.split(command)
    if words[0] == "labs":
        help_text = subprocess.run([sys.executable, "-m", "labs_cli", words[1], "--help"], capture_output=True,
                                   text=True, cwd=ROOT, timeout=120).stdout
        assert help_text.startswith(f"usage: labs {words[1]}"), f"labs has no command {words[1]}"
    else:
        script = ROOT / words[1]
        assert script.is_file(), f"{words[1]} does not exist"
        help_text = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                   cwd=ROOT, timeout=120).stdout
    for flag in [word for word in words[2:] if word.startswith("--")]:
        assert flag in help_text, f"{words[1]} has no option {flag}"
