"""The structural leak check: an answer re-written under other names, in a check cell or in ``labs``."""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.build import solution_sources
from autograder.leaks import api_calls, canonical_expressions, notebook_leaks, package_leaks

ROOT = Path(__file__).resolve().parent.parent

SOLUTION = '''def vae_loss(x, x_recon, mu, logsigma):
    # TODO: the KL term plus the mean absolute error, per image.
    ### BEGIN SOLUTION
    latent = 0.5 * tf.reduce_sum(tf.exp(logsigma) + tf.square(mu) - 1.0 - logsigma, axis=1)
    return latent + tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))
    ### END SOLUTION'''

TRAIN_STEP = '''def train_step(model, optimizer, images, labels):
    ### BEGIN SOLUTION
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, model(images)))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss
    ### END SOLUTION'''


def _notebook(*cells: tuple[str, str | None]) -> nbformat.NotebookNode:
    made = []
    for source, grade_id in cells:
        metadata = {}
        if grade_id:
            metadata = {"nbgrader": {"grade_id": grade_id, "solution": not grade_id.startswith("test_"),
                                     "grade": grade_id.startswith("test_"), "locked": False, "schema_version": 3}}
        made.append(nbformat.v4.new_code_cell(source, metadata=metadata))
    return nbformat.v4.new_notebook(cells=made)


def _student(check: str) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    source = _notebook((SOLUTION, "vae_loss"), (TRAIN_STEP, "train_step"), (check, "test_vae_loss"))
    stub = 'def vae_loss(x, x_recon, mu, logsigma):\n    raise NotImplementedError("write it")'
    return source, _notebook((stub, "vae_loss"), ("raise NotImplementedError", "train_step"), (check, "test_vae_loss"))


def test_a_numpy_reference_of_a_tensorflow_answer_is_found_under_other_names():
    check = ("def expected(a, b, m, s):\n"
             "    kl = 0.5 * np.sum(np.exp(s) + m ** 2 - 1 - s, axis=1)\n"
             "    return kl + np.mean(np.abs(a - b), axis=(1, 2, 3))\n"
             "labs.checks.check_close('loss', vae_loss(a, b, m, s), expected(a, b, m, s))")
    leaks = notebook_leaks(*_student(check), "Part9")
    assert {leak.grade_id for leak in leaks} == {"vae_loss"}
    texts = " ".join(leak.text for leak in leaks)
    assert "0.5 * np.sum(np.exp(s) + m ** 2 - 1 - s, axis=1)" in texts
    assert all(leak.where == "Part9 cell 2" for leak in leaks)
    assert "re-implements the answer to vae_loss" in leaks[0].sentence()


def test_a_check_against_fixed_values_and_properties_is_no_leak():
    check = ("zeros = np.zeros((3, 4), np.float32)\n"
             "labs.checks.check_close('no loss for a perfect copy', vae_loss(x, x, zeros, zeros), np.zeros(3))\n"
             "labs.checks.check_close('fixed case', vae_loss(x[:, :2], x_recon[:, :2], mu, logsigma), "
             "np.array([0.4121, 0.3719, 0.4455]), atol=1e-4)\n"
             "labs.checks.check('positive', bool(np.all(vae_loss(x, x_recon, mu, logsigma) >= 0)))")
    assert notebook_leaks(*_student(check), "Part9") == []


def test_a_check_that_retrains_by_hand_repeats_the_recipe_of_the_answer():
    check = ("with tf.GradientTape() as reference_tape:\n"
             "    reference_loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, net(images)))\n"
             "grads = reference_tape.gradient(reference_loss, net.trainable_variables)\n"
             "expected = [w - 0.5 * g for w, g in zip(net.trainable_variables, grads)]")
    leaks = notebook_leaks(*_student(check), "Part9")
    assert [leak.grade_id for leak in leaks] == ["train_step"]
    assert "ARRAY.GradientTape" in leaks[0].text and ".gradient" in leaks[0].text


def test_conversions_and_library_spellings_do_not_hide_an_expression():
    solution = canonical_expressions("np.asarray(f, dtype=np.float32) @ np.asarray(w, dtype=np.float32)[:, c]")
    rewritten = canonical_expressions("tf.matmul(features, weights.astype(float)[:, index])")
    assert set(solution) == set(rewritten) != set()
    assert api_calls("tf.reduce_mean(x)\nnp.mean(y)\nmodel.fit(x)") == {"ARRAY.mean", ".fit"}


def test_a_package_function_holding_an_answer_is_found(tmp_path):
    source = tmp_path / "lab9_x" / "solutions" / "Part1_X.ipynb"
    source.parent.mkdir(parents=True)
    cam = ("def compute_cam(features, weights, class_index):\n    ### BEGIN SOLUTION\n"
           "    return np.asarray(features, dtype=np.float32) @ np.asarray(weights, dtype=np.float32)[:, class_index]\n"
           "    ### END SOLUTION")
    nbformat.write(_notebook((cam, "compute_cam")), source)
    package = tmp_path / "labs"
    package.mkdir()
    (package / "vision.py").write_text("def reference_map(maps, kernel, k):\n    return maps @ kernel[:, k]\n")
    (package / "plots.py").write_text("def scale(values):\n    return (values - values.min()) / values.ptp()\n")
    leaks = package_leaks([source], package)
    assert [(leak.grade_id, leak.where) for leak in leaks] == [("Part1_X/compute_cam", "labs/vision.py")]


def test_the_public_package_holds_no_answer():
    leaks = package_leaks(solution_sources(ROOT), ROOT / "labs")
    assert not leaks, "\n".join(leak.sentence() for leak in leaks)
