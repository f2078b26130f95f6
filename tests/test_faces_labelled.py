"""Tests for labs.faces' real labelled faces (FairFace's layout), on folders and zips made by the tests."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labs import faces
from labs.data import DatasetUnavailable

LAYOUT_WORDS = "expected a folder (or a zip of one) holding fairface_label_val.csv"
# (file, race, gender, colour of the image): two JPEGs and two PNGs, one of them not square.
ROWS = [
    ("val/1.jpg", "Black", "Female", (40, 30, 20)),
    ("val/2.jpg", "White", "Male", (220, 200, 180)),
    ("val/3.png", "Black", "Male", (60, 40, 30)),
    ("val/4.png", "East Asian", "Female", (200, 170, 140)),
]


def _write_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (96, 96)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _make_folder(root: Path) -> Path:
    """A FairFace-like folder: labels CSV, val/ images (one of them 120x80)."""
    for index, (name, _, _, colour) in enumerate(ROWS):
        _write_image(root / name, colour, size=(120, 80) if index == 1 else (96, 96))
    _write_csv(root / faces.FAIRFACE_LABELS_CSV, ["file", "age", "gender", "race", "service_test"],
               [[name, "20-29", gender, race, "True"] for name, race, gender, _ in ROWS])
    return root


def _zip_folder(folder: Path, archive: Path, top: str = "fairface") -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
    return archive


def test_a_folder_loads_as_64x64_faces_with_their_groups(tmp_path):
    labelled = faces.load_labelled_faces(_make_folder(tmp_path / "fairface"))
    assert labelled.images.shape == (4, 64, 64, 3) and labelled.images.dtype == np.uint8
    assert labelled.groups.tolist() == ["Black", "White", "Black", "East Asian"]
    assert labelled.attributes["gender"].tolist() == ["Female", "Male", "Male", "Female"]
    assert labelled.labels.tolist() == [[1.0]] * 4
    assert labelled.group_counts() == {"Black": 2, "East Asian": 1, "White": 1}
    for image, (_, _, _, colour) in zip(labelled.images, ROWS):
        assert np.abs(image.reshape(-1, 3).astype(int) - colour).max() <= 2  # JPEG rounding


def test_a_zip_with_a_top_level_folder_loads_like_the_folder(tmp_path):
    folder = _make_folder(tmp_path / "fairface")
    archive = _zip_folder(folder, tmp_path / "fairface.zip")
    from_zip, from_folder = faces.load_labelled_faces(archive), faces.load_labelled_faces(folder)
    assert np.array_equal(from_zip.images, from_folder.images)
    assert from_zip.groups.tolist() == from_folder.groups.tolist()


def test_limit_and_another_group_column(tmp_path):
    labelled = faces.load_labelled_faces(_make_folder(tmp_path / "fairface"), group_column="gender", limit=3)
    assert len(labelled) == 3 and labelled.groups.tolist() == ["Female", "Male", "Male"]
    assert labelled.group_column == "gender"


def test_fairface_faces_downloads_a_zip_url_once_and_checks_it(tmp_path, monkeypatch):
    archive = _zip_folder(_make_folder(tmp_path / "fairface"), tmp_path / "served.zip")
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    labelled = faces.fairface_faces(archive.as_uri())
    assert len(labelled) == 4
    assert (tmp_path / "cache" / "fairface.zip").is_file()


def test_fairface_faces_finds_the_folder_named_by_the_variable_or_in_the_cache(tmp_path, monkeypatch):
    folder = _make_folder(tmp_path / "mine")
    monkeypatch.setenv(faces.FAIRFACE_SOURCE_VARIABLE, str(folder))
    assert len(faces.fairface_faces()) == 4
    monkeypatch.delenv(faces.FAIRFACE_SOURCE_VARIABLE)
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    _make_folder(tmp_path / "cache" / "fairface")
    assert faces.fairface_faces(limit=2).groups.tolist() == ["Black", "White"]


def test_fairface_faces_without_data_names_the_page_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(faces.FAIRFACE_SOURCE_VARIABLE, raising=False)
    monkeypatch.setenv("LABS_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetUnavailable, match="github.com/joojs/fairface") as caught:
        faces.fairface_faces()
    assert str(tmp_path / "cache" / "fairface") in str(caught.value)


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".")
    assert LAYOUT_WORDS in message


def test_a_missing_image_is_named_with_the_expected_layout(tmp_path):
    folder = _make_folder(tmp_path / "fairface")
    (folder / "val" / "3.png").unlink()
    with pytest.raises(ValueError, match=r"1 of the 4 images .* missing .*first: val/3.png") as caught:
        faces.load_labelled_faces(folder)
    _one_sentence(str(caught.value))


def test_wrong_columns_are_named_with_the_columns_found(tmp_path):
    folder = _make_folder(tmp_path / "fairface")
    _write_csv(folder / faces.FAIRFACE_LABELS_CSV, ["path", "ethnicity"], [["val/1.jpg", "Black"]])
    with pytest.raises(ValueError, match=r"no column 'file' or 'race' \(its columns: \['path', 'ethnicity'\]\)") as caught:
        faces.load_labelled_faces(folder)
    _one_sentence(str(caught.value))


def test_an_unreadable_image_is_named_and_nothing_is_returned(tmp_path):
    folder = _make_folder(tmp_path / "fairface")
    (folder / "val" / "2.jpg").write_bytes(b"not a JPEG at all")
    with pytest.raises(ValueError, match="val/2.jpg is not a readable JPEG or PNG image") as caught:
        faces.load_labelled_faces(folder)
    _one_sentence(str(caught.value))


@pytest.mark.parametrize(
    "rows, message",
    [
        ([["../outside.jpg", "Black"]], "not a JPEG or PNG path inside the folder"),
        ([["val/1.txt", "Black"]], "not a JPEG or PNG path inside the folder"),
        ([["val/1.jpg", ""]], "has an empty 'race'"),
        ([], "names no images"),
    ],
)
def test_bad_rows_are_reported_in_one_sentence(tmp_path, rows, message):
    folder = _make_folder(tmp_path / "fairface")
    _write_csv(folder / faces.FAIRFACE_LABELS_CSV, ["file", "race"], rows)
    with pytest.raises(ValueError, match=message) as caught:
        faces.load_labelled_faces(folder)
    _one_sentence(str(caught.value))


def test_a_folder_without_the_csv_and_a_missing_folder_are_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no fairface_label_val.csv") as caught:
        faces.load_labelled_faces(tmp_path / "empty")
    _one_sentence(str(caught.value))
    with pytest.raises(FileNotFoundError, match="no folder or zip file"):
        faces.load_labelled_faces(tmp_path / "absent")


def test_a_truncated_zip_is_not_read(tmp_path):
    archive = _zip_folder(_make_folder(tmp_path / "fairface"), tmp_path / "fairface.zip")
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(ValueError, match="neither a folder nor a readable zip archive"):
        faces.load_labelled_faces(archive)


def test_a_downloaded_zip_with_missing_images_is_deleted_and_the_rest_of_the_cache_kept(tmp_path, monkeypatch):
    folder = _make_folder(tmp_path / "fairface")
    (folder / "val" / "4.png").unlink()
    archive = _zip_folder(folder, tmp_path / "served.zip")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "other.npz").write_bytes(b"someone else's file")
    monkeypatch.setenv("LABS_DATA_DIR", str(cache))
    with pytest.raises(DatasetUnavailable, match="missing"):
        faces.fairface_faces(archive.as_uri())
    assert sorted(path.name for path in cache.iterdir()) == ["other.npz"]


def test_a_zip_whose_member_is_corrupt_fails_the_check(tmp_path):
    archive = _zip_folder(_make_folder(tmp_path / "fairface"), tmp_path / "fairface.zip", top="x")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as handle:
        member = handle.getinfo("x/val/1.jpg")
    offset = member.header_offset + 30 + len(member.filename) + 10  # inside the stored JPEG bytes
    data[offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="fails its CRC check"):
        faces.check_labelled_archive(archive)


def test_evaluate_labelled_groups_gives_each_groups_detection_rate_and_the_gap(tmp_path):
    labelled = faces.load_labelled_faces(_make_folder(tmp_path / "fairface"))
    result = faces.evaluate_labelled_groups(np.array([1.0, 2.0, -1.0, 0.5]), labelled)
    assert result == pytest.approx({"overall": 0.75, "Black": 0.5, "East Asian": 1.0, "White": 1.0,
                                    "worst group": 0.5, "gap": 0.5})
    with pytest.raises(ValueError, match="one logit per image"):
        faces.evaluate_labelled_groups(np.zeros(3), labelled)
