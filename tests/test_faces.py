"""Tests for labs.faces: the generated face set, the loader, the HDF5 reader and the bias measures."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from labs import faces

IMAGE_PIXELS = faces.IMAGE_SIZE * faces.IMAGE_SIZE


@pytest.fixture(scope="module")
def small_set() -> faces.FaceImages:
    return faces.generate_faces(60, 40, dark_fraction=0.1, long_hair_fraction=0.5, seed=3)


def _write_h5(path, **datasets):
    with h5py.File(path, "w") as handle:
        for key, value in datasets.items():
            handle.create_dataset(key, data=value)
    return path


def test_generated_images_have_the_documented_layout(small_set):
    assert small_set.images.shape == (100, 64, 64, 3)
    assert small_set.images.dtype == np.uint8
    assert small_set.labels.shape == (100, 1)
    assert set(np.unique(small_set.labels)) == {0.0, 1.0}


def test_generated_attribute_counts_are_exact(small_set):
    is_face = small_set.labels[:, 0] == 1
    assert is_face.sum() == 60
    assert (small_set.tone[is_face] == 1).sum() == 6
    assert (small_set.hair[is_face] == 1).sum() == 30
    assert (small_set.tone[~is_face] == 1).sum() == 20


def test_same_seed_gives_same_images_and_other_seed_differs():
    first = faces.generate_faces(10, 10, seed=7)
    again = faces.generate_faces(10, 10, seed=7)
    other = faces.generate_faces(10, 10, seed=8)
    assert np.array_equal(first.images, again.images)
    assert np.array_equal(first.tone, again.tone)
    assert not np.array_equal(first.images, other.images)


def test_chunk_size_does_not_change_which_attributes_are_drawn():
    small_chunks = faces.generate_faces(30, 30, seed=1, chunk_size=7)
    one_chunk = faces.generate_faces(30, 30, seed=1, chunk_size=1000)
    assert np.array_equal(small_chunks.labels, one_chunk.labels)
    assert np.array_equal(small_chunks.tone, one_chunk.tone)


def test_dark_faces_are_darker_than_light_faces_inside_the_head():
    data = faces.generate_faces(100, 0, dark_fraction=0.5, seed=2)
    centre = data.images[:, 30:38, 26:38].reshape(len(data), -1).mean(axis=1)
    assert centre[data.tone == 1].mean() < centre[data.tone == 0].mean() - 60


def test_facial_features_stand_out_by_the_same_amount_on_light_and_dark_skin():
    differences = {}
    for tone, palette in (("light", faces.generated._LIGHT_SKIN), ("dark", faces.generated._DARK_SKIN)):
        # The palette's colours at the lightest and darkest of the per-face jitter.
        skin = np.concatenate([palette * 0.92, palette * 1.08])
        eye, mouth = faces.feature_colours(skin, np.random.default_rng(0))
        assert eye.min() >= 0 and mouth.min() >= 0, f"a {tone} face's features would be clipped at 0"
        differences[tone] = (skin - eye, skin - mouth)
    np.testing.assert_allclose(differences["light"], differences["dark"])
    assert differences["dark"][0].min() > 40  # and they do stand out


def test_colour_alone_cannot_tell_faces_from_non_faces():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    data = faces.generate_faces(300, 300, dark_fraction=0.5, non_face_dark_fraction=0.5, seed=4)
    mean_colour = data.images.reshape(len(data), -1, 3).mean(axis=1)
    histograms = np.stack([
        np.concatenate([np.histogram(image[..., channel], bins=8, range=(0, 256))[0] for channel in range(3)])
        for image in data.images
    ]) / IMAGE_PIXELS
    for name, features in (("mean colour", mean_colour), ("colour histogram", histograms)):
        accuracy = cross_val_score(LogisticRegression(max_iter=2000), features, data.labels[:, 0], cv=5).mean()
        assert accuracy < 0.6, f"a classifier on the {name} reaches {accuracy:.0%}"


def test_generator_rejects_bad_fractions_and_counts():
    with pytest.raises(ValueError, match="dark_fraction"):
        faces.generate_faces(10, 10, dark_fraction=1.5)
    with pytest.raises(ValueError, match="num_faces"):
        faces.generate_faces(-1, 10)


def test_generated_face_sets_have_balanced_test_groups():
    train, test = faces.generated_face_sets(num_train_faces=40, num_test_faces_per_group=5, dark_fraction=0.1, seed=0)
    counts = faces.group_counts(test)
    assert [counts[group] for group in faces.GROUPS] == [5, 5, 5, 5]
    assert counts["non-faces"] == 20
    assert train.num_faces == 40
    assert (train.face_tone == 1).sum() == 4


def test_get_batch_is_half_faces_with_float_images(small_set):
    dataset = faces.FaceDataset(small_set, seed=0)
    images, labels = dataset.get_batch(10)
    assert images.shape == (10, 64, 64, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.shape == (10, 1) and labels.sum() == 5


def test_get_batch_only_faces_returns_faces(small_set):
    dataset = faces.FaceDataset(small_set, seed=0)
    _, labels = dataset.get_batch(12, only_faces=True)
    assert labels.sum() == 12


def test_p_pos_concentrated_on_one_face_always_draws_that_face(small_set):
    dataset = faces.FaceDataset(small_set, seed=0)
    p_pos = np.zeros(dataset.num_faces)
    p_pos[5] = 3.0
    images, _ = dataset.get_batch(8, only_faces=True, p_pos=p_pos)
    expected = dataset.faces([5])[0]
    assert all(np.array_equal(image, expected) for image in images)


def test_p_pos_of_the_wrong_length_is_rejected(small_set):
    dataset = faces.FaceDataset(small_set, seed=0)
    with pytest.raises(ValueError, match="one probability per face"):
        dataset.get_batch(4, p_pos=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        dataset.get_batch(4, p_pos=-np.ones(dataset.num_faces))


def _find_move(original: np.ndarray, moved: np.ndarray, max_shift: int) -> tuple[bool, int, int] | None:
    """The (mirrored, down, across) move that turns ``original`` (H, W, C) into ``moved``, or None."""
    height, width = original.shape[:2]
    inner = moved[max_shift : height - max_shift, max_shift : width - max_shift]
    for mirrored, source in ((False, original), (True, original[:, ::-1])):
        for down in range(-max_shift, max_shift + 1):
            for across in range(-max_shift, max_shift + 1):
                window = source[max_shift - down : height - max_shift - down, max_shift - across : width - max_shift - across]
                if np.array_equal(window, inner):
                    return mirrored, down, across
    return None


def test_augmented_images_are_the_originals_mirrored_or_moved_by_at_most_max_shift():
    originals = np.random.default_rng(0).integers(0, 256, size=(200, 12, 12, 3), dtype=np.uint8)
    moved = faces.augment_images(originals, np.random.default_rng(1), max_shift=2)
    assert moved.shape == originals.shape and moved.dtype == originals.dtype
    moves = [_find_move(original, image, 2) for original, image in zip(originals, moved)]
    assert None not in moves
    assert {mirrored for mirrored, _, _ in moves} == {False, True}
    assert {(down, across) for _, down, across in moves} == {(d, a) for d in range(-2, 3) for a in range(-2, 3)}


def test_augment_with_no_shift_keeps_or_mirrors_each_image(small_set):
    originals = small_set.images[:20]
    augmented = faces.augment_images(originals, np.random.default_rng(2), max_shift=0)
    kept = [np.array_equal(a, b) for a, b in zip(augmented, originals)]
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(augmented, originals)]
    assert all(k or m for k, m in zip(kept, mirrored)) and any(kept) and any(mirrored)


def test_augment_rejects_a_negative_shift_and_a_single_image():
    with pytest.raises(ValueError, match="max_shift"):
        faces.augment_images(np.zeros((2, 8, 8, 3)), np.random.default_rng(0), max_shift=-1)
    with pytest.raises(ValueError, match="shape"):
        faces.augment_images(np.zeros((8, 8, 3)), np.random.default_rng(0))


def test_get_batch_with_augment_moves_the_drawn_face(small_set):
    dataset = faces.FaceDataset(small_set, seed=0)
    p_pos = np.zeros(dataset.num_faces)
    p_pos[5] = 1.0
    images, labels = dataset.get_batch(16, only_faces=True, p_pos=p_pos, augment=True)
    original = dataset.faces([5])[0]
    assert labels.sum() == 16 and images.dtype == np.float32
    assert all(_find_move(original, image, faces.MAX_SHIFT) is not None for image in images)
    assert len({image.tobytes() for image in images}) > 1


def test_iterate_faces_covers_every_face_in_order(small_set):
    dataset = faces.FaceDataset(small_set, seed=0)
    batches = list(dataset.iterate_faces(batch_size=16))
    assert [len(batch) for batch in batches] == [16, 16, 16, 12]
    assert np.array_equal(np.concatenate(batches), dataset.faces())


def test_dataset_without_non_faces_is_rejected():
    only_faces = faces.generate_faces(5, 0, seed=0)
    with pytest.raises(ValueError, match="non-faces"):
        faces.FaceDataset(only_faces)


def test_hdf5_round_trip_flips_bgr_to_rgb(tmp_path):
    images = np.zeros((4, 64, 64, 3), np.uint8)
    images[..., 0] = 200  # blue in BGR order
    labels = np.array([[1], [0], [1], [0]], np.uint8)
    path = _write_h5(tmp_path / "faces.h5", images=images, labels=labels)
    loaded = faces.load_face_hdf5(path)
    assert loaded.images.shape == (4, 64, 64, 3)
    assert loaded.images[0, 0, 0].tolist() == [0, 0, 200]
    assert loaded.labels.dtype == np.float32 and loaded.labels[:, 0].tolist() == [1, 0, 1, 0]
    assert faces.load_face_hdf5(path, channel_order="rgb").images[0, 0, 0].tolist() == [200, 0, 0]
    assert (loaded.tone == -1).all()


def test_real_training_set_reads_a_given_path_without_network(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    path = _write_h5(tmp_path / "faces.h5", images=images, labels=np.array([1, 0, 1, 0, 1, 0])[:, None])
    dataset = faces.real_training_set(path=path, seed=0)
    assert dataset.num_faces == 3
    batch, labels = dataset.get_batch(4)
    assert batch.shape == (4, 64, 64, 3) and labels.sum() == 2


@pytest.mark.parametrize(
    "datasets, message",
    [
        ({"pictures": np.zeros((2, 64, 64, 3), np.uint8), "labels": np.zeros((2, 1))}, "no 'images' dataset"),
        ({"images": np.zeros((2, 32, 32, 3), np.uint8), "labels": np.zeros((2, 1))}, "'images' has shape"),
        ({"images": np.zeros((2, 64, 64, 3), np.float32), "labels": np.zeros((2, 1))}, "dtype float32"),
        ({"images": np.zeros((2, 64, 64, 3), np.uint8), "labels": np.zeros((3, 1))}, "'labels' has shape"),
        ({"images": np.zeros((2, 64, 64, 3), np.uint8), "labels": np.array([[0], [2]])}, "other than 0 and 1"),
    ],
)
def test_bad_hdf5_layouts_give_one_sentence_with_the_expected_layout(tmp_path, datasets, message):
    path = _write_h5(tmp_path / "bad.h5", **datasets)
    with pytest.raises(ValueError, match=message) as caught:
        faces.load_face_hdf5(path)
    assert "expected an HDF5 file with datasets 'images'" in str(caught.value)
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_a_file_that_is_not_hdf5_is_reported_as_such(tmp_path):
    path = tmp_path / "truncated.h5"
    path.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file") as caught:
        faces.load_face_hdf5(path)
    assert caught.value.__suppress_context__


def test_a_missing_file_names_the_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected an HDF5 file"):
        faces.load_face_hdf5(tmp_path / "absent.h5")


def test_real_training_set_downloads_with_no_checksum_verified_by_its_structure(tmp_path, monkeypatch):
    monkeypatch.delenv("LABS_FACES_SHA256", raising=False)
    source = _write_h5(tmp_path / "source.h5", images=np.zeros((2, 64, 64, 3), np.uint8), labels=np.array([[1], [0]]))
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    dataset = faces.real_training_set(url=source.as_uri())
    assert dataset.num_faces == 1
    assert (tmp_path / "cache" / "train_face.h5").is_file()


def test_real_training_set_rejects_a_downloaded_file_of_the_wrong_layout_and_keeps_the_cache(tmp_path, monkeypatch):
    from labs.data import DatasetUnavailable

    source = _write_h5(tmp_path / "source.h5", images=np.zeros((2, 32, 32, 3), np.uint8), labels=np.array([[1], [0]]))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist.npz").write_bytes(b"another data set")
    monkeypatch.setenv("LABS_DATA_DIR", str(cache))
    with pytest.raises(DatasetUnavailable, match="'images' has shape"):
        faces.real_training_set(url=source.as_uri())
    assert sorted(path.name for path in cache.iterdir()) == ["mnist.npz"]


def test_check_face_hdf5_accepts_the_layout_without_reading_the_images(tmp_path):
    path = _write_h5(tmp_path / "faces.h5", images=np.zeros((3, 64, 64, 3), np.uint8), labels=np.ones((3, 1)))
    assert faces.check_face_hdf5(path) is None
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        faces.check_face_hdf5(_write_bytes(tmp_path / "html.h5", b"<html>not found</html>"))


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def test_real_training_set_downloads_through_fetch_and_checks_sha256(tmp_path, monkeypatch):
    from labs.data import sha256_of

    source = _write_h5(tmp_path / "source.h5", images=np.zeros((2, 64, 64, 3), np.uint8), labels=np.array([[1], [0]]))
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    dataset = faces.real_training_set(url=source.as_uri(), sha256=sha256_of(source))
    assert dataset.num_faces == 1
    assert (tmp_path / "cache" / "train_face.h5").is_file()


def test_evaluate_groups_measures_each_group_and_the_gap():
    data = faces.generate_faces(8, 4, dark_fraction=0.5, long_hair_fraction=0.5, seed=0)
    is_face = data.labels[:, 0] == 1
    logits = np.where(is_face, 1.0, -1.0)
    missed = np.flatnonzero(is_face & (data.group == 2))[0]  # one dark, short-haired face missed
    logits[missed] = -1.0
    result = faces.evaluate_groups(logits, data)
    assert result["dark skin, short hair"] == 0.5
    assert result["light skin, short hair"] == 1.0
    assert result["non-faces"] == 1.0
    assert result["worst group"] == 0.5 and result["gap"] == 0.5
    assert result["overall"] == pytest.approx(11 / 12)


def test_evaluate_groups_rejects_a_wrong_number_of_logits(small_set):
    with pytest.raises(ValueError, match="one logit per image"):
        faces.evaluate_groups(np.zeros(3), small_set)


def test_predict_logits_scales_uint8_and_batches():
    images = np.full((5, 64, 64, 3), 255, np.uint8)
    seen = []

    def predict(batch):
        seen.append(len(batch))
        return batch.reshape(len(batch), -1).max(axis=1, keepdims=True)

    assert faces.predict_logits(predict, images, batch_size=2).tolist() == [1.0] * 5
    assert seen == [2, 2, 1]


def test_share_by_tone_sums_probability_per_tone():
    shares = faces.share_by_tone(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 1, 0]))
    assert shares == pytest.approx({"light": 0.5, "dark": 0.5})


def test_plots_return_figures(small_set):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = faces.generate_faces(8, 4, dark_fraction=0.5, seed=1)
    result = faces.evaluate_groups(np.ones(len(test)), test)
    figures = [
        faces.plot_examples(small_set, per_row=4),
        faces.plot_group_accuracy({"a": result, "b": result}),
        faces.plot_ranked_faces(small_set.images[:10], np.arange(10.0), small_set.tone[:10], small_set.hair[:10], count=3),
        faces.plot_reconstructions(small_set.images[:3] / 255.0, small_set.images[:3] / 255.0),
        faces.plot_latent_traversal(lambda z: np.zeros((len(z), 64, 64, 3)), np.zeros(4), [0, 2], [-1.0, 0.0, 1.0]),
    ]
    assert all(isinstance(figure, plt.Figure) for figure in figures)
    assert len(figures[4].axes) == 6
    for figure in figures:
        plt.close(figure)


def test_group_accuracy_chart_starts_at_zero_and_its_legend_covers_no_bar():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = faces.generate_faces(8, 4, dark_fraction=0.5, seed=1)
    logits = np.where(test.labels[:, 0] == 1, 1.0, -1.0)
    perfect = faces.evaluate_groups(logits, test)
    logits[np.flatnonzero(test.group == 3)[0]] = -1.0  # one miss, so the bars differ
    results = {"standard CNN": faces.evaluate_groups(logits, test), "DB-VAE": perfect}
    figure = faces.plot_group_accuracy(results)
    figure.canvas.draw()
    axis = figure.axes[0]
    assert axis.get_ylim()[0] == 0
    legend_box = figure.legends[0].get_window_extent()
    bars = axis.patches
    assert len(bars) == 2 * 5  # four groups and the non-faces, per model
    assert not any(legend_box.overlaps(bar.get_window_extent()) for bar in bars)
    assert [label.get_text() for label in figure.legends[0].get_texts()][0].startswith("standard CNN (gap")
    plt.close(figure)


def test_group_accuracy_chart_takes_the_groups_of_a_labelled_real_set():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = {"overall": 0.9, "Black": 0.8, "White": 1.0, "worst group": 0.8, "gap": 0.2}
    figure = faces.plot_group_accuracy({"standard CNN": result, "DB-VAE": result})
    assert [tick.get_text() for tick in figure.axes[0].get_xticklabels()] == ["Black", "White"]
    plt.close(figure)
