"""Shared fixtures: the repository root and a tiny lab that follows every convention."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Tests never use the network: loaders (and the notebook kernels the tests start,
# which inherit this environment) use cached or packaged data only.
os.environ["LABS_OFFLINE"] = "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every notebook run is slow: ``pytest -m "not slow"`` is the fast tier."""
    for item in items:
        if item.get_closest_marker("notebook"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def repository_root() -> Path:
    return ROOT


@pytest.fixture
def tiny_lab(tmp_path: Path) -> Path:
    """A scratch repository root holding one tiny lab source (not yet built)."""
    from notebook_factory import write_tiny_lab

    (tmp_path / "README.md").write_text("# Labs\n\n<!-- notebook-badges:start -->\n<!-- notebook-badges:end -->\n")
    write_tiny_lab(tmp_path)
    return tmp_path
