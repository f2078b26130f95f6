"""Executed notebooks read as their final screen: redraws and progress widgets settled."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.notebooks import WIDGET_VIEW, settle_outputs, terminal_text


@pytest.mark.parametrize(
    "text, shown",
    [
        ("plain\ntext\n", "plain\ntext\n"),
        ("10%\r50%\r100%\n", "100%\n"),
        ("loss: 0.9\b\b\b0.5\n", "loss: 0.5\n"),
        ("1/5 ━━\x08\x08\x08\x08\x08\x08\r2/5 ━━━━\n", "2/5 ━━━━\n"),
        ("\b\bstart", "start"),
    ],
)
def test_terminal_text_applies_carriage_returns_and_backspaces(text: str, shown: str):
    assert terminal_text(text) == shown


def _bar_state(model_id: str, label: str, value: float, maximum: float, statistics: str, hidden: bool = False) -> dict:
    return {
        model_id: {"_model_name": "HBoxModel", "layout": f"IPY_MODEL_{model_id}-layout",
                   "children": [f"IPY_MODEL_{model_id}-{part}" for part in ("label", "bar", "statistics")]},
        f"{model_id}-layout": {"_model_name": "LayoutModel", "visibility": "hidden" if hidden else None},
        f"{model_id}-label": {"_model_name": "HTMLModel", "value": label},
        f"{model_id}-bar": {"_model_name": "FloatProgressModel", "value": value, "max": maximum},
        f"{model_id}-statistics": {"_model_name": "HTMLModel", "value": statistics},
    }


def _widget_output(model_id: str, start_text: str) -> nbformat.NotebookNode:
    view = {"model_id": model_id, "version_major": 2, "version_minor": 0}
    return nbformat.NotebookNode(output_type="display_data", metadata={}, data={"text/plain": start_text, WIDGET_VIEW: view})


def test_a_finished_bar_shows_its_final_state_and_a_closed_one_disappears():
    cell = nbformat.v4.new_code_cell("...", outputs=[
        _widget_output("done", "training:   0%|          | 0/20"),
        _widget_output("closed", "playing:   0%|          | 0/40"),
        _widget_output("not-a-bar", "Button()"),
        nbformat.v4.new_output("stream", name="stdout", text="epoch 1/2"),
        nbformat.v4.new_output("stream", name="stdout", text="\b\b\b2/2\n"),
    ])
    notebook = nbformat.v4.new_notebook(cells=[cell])
    state = {**_bar_state("done", "training:\u2007100%", 20, 20, "\u200720/20\u2007[00:03&lt;00:00]"),
             **_bar_state("closed", "playing:\u2007\u2007\u20070%", 40, 40, "\u20070/40", hidden=True),
             "not-a-bar": {"_model_name": "ButtonModel"}}
    settle_outputs(notebook, state)
    outputs = notebook.cells[0].outputs
    assert outputs[0].data == {"text/plain": "training: 100%|██████████| 20/20 [00:03<00:00]"}
    assert WIDGET_VIEW in outputs[1].data and outputs[1].data["text/plain"] == "Button()"
    assert outputs[2].text == "epoch 2/2\n"
    assert len(outputs) == 3


@pytest.mark.notebook
def test_an_executed_notebook_has_no_control_characters_and_no_bar_left_at_zero(tmp_path: Path):
    from autograder.execute import execute

    code = (
        "from tqdm.auto import tqdm\n"
        "for step in tqdm(range(5), desc='training'): pass\n"
        "for step in tqdm(range(5), desc='hidden when done', leave=False): pass\n"
        "print('1/2 [==  ]\\b\\b\\b\\b\\b\\b\\b\\b\\r2/2 [====]')"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    executed, errors = execute(notebook, tmp_path, "progress", show_progress=False)
    assert errors == []
    texts = [output.get("text") or output.data["text/plain"] for output in executed.cells[0].outputs]
    assert texts[0].startswith("training: 100%|██████████| 5/5")
    assert texts[1:] == ["2/2 [====]\n"]
