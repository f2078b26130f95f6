"""Real faces with per-person demographic labels, for measuring a detector's bias on real people.

The layout is FairFace's (Karkkainen and Joo, WACV 2021, CC BY 4.0): a folder (or a
zip archive of it) holding a labels CSV and the images it names, e.g.::

    fairface/
        fairface_label_val.csv     file,age,gender,race,service_test
        val/1.jpg                  one face per image, any size (FairFace: 224x224)
        val/2.jpg
        ...

The ``file`` column holds each image's path relative to the CSV's folder; the group
column (``race`` for FairFace) holds each face's group. Every image is cropped to its
central square and resized to 64x64 RGB, the detectors' input. Every face is a face:
a group's accuracy is the fraction of its faces that a detector calls a face.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from labs.faces.dataset import IMAGE_SIZE

FAIRFACE_PAGE = "https://github.com/joojs/fairface"
FAIRFACE_LICENCE = "FairFace (Karkkainen and Joo, WACV 2021), CC BY 4.0"
FAIRFACE_LABELS_CSV = "fairface_label_val.csv"
FAIRFACE_GROUP_COLUMN = "race"
# Where fairface_faces() looks when it is given no source: this variable (a folder, a
# zip file or a URL of a zip), else the folder or the zip of this name in the data cache.
FAIRFACE_SOURCE_VARIABLE = "LABS_FAIRFACE"
FAIRFACE_CACHE_NAME = "fairface"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _expected_layout(labels_csv: str, file_column: str, group_column: str) -> str:
    return (
        f"expected a folder (or a zip of one) holding {labels_csv} with columns {file_column!r} and "
        f"{group_column!r}, and every image it names at that path relative to the CSV's folder"
    )


@dataclass
class LabelledFaces:
    """Real faces, each with the labels of its row in the CSV.

    Attributes:
        images: (N, 64, 64, 3) uint8, RGB.
        groups: (N,) str, each face's value of ``group_column``.
        attributes: every CSV column (``file`` included), each an (N,) str array.
        group_column: the column the groups come from (``"race"`` for FairFace).
        name: what the set is called in printed lines and titles.
    """

    images: np.ndarray
    groups: np.ndarray
    attributes: dict[str, np.ndarray]
    group_column: str
    name: str = "labelled faces"

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> np.ndarray:
        """(N, 1) float32 ones: every image is a face."""
        return np.ones((len(self.images), 1), dtype=np.float32)

    def group_counts(self) -> dict[str, int]:
        """Number of faces in each group, groups in alphabetical order."""
        names, counts = np.unique(self.groups, return_counts=True)
        return {str(name): int(count) for name, count in zip(names, counts)}


class _Folder:
    """Read access to the files of a folder, by paths relative to ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def find(self, file_name: str) -> str | None:
        return file_name if (self.root / file_name).is_file() else None

    def exists(self, relative: str) -> bool:
        return (self.root / relative).is_file()

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()


class _Zip:
    """Read access to the members of a zip archive; the CSV may sit in a top-level folder."""

    def __init__(self, path: Path, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.description = str(path)
        self.members = {name for name in archive.namelist() if not name.endswith("/")}

    def find(self, file_name: str) -> str | None:
        matches = sorted((name for name in self.members if PurePosixPath(name).name == file_name),
                         key=lambda name: (name.count("/"), name))
        return matches[0] if matches else None

    def exists(self, relative: str) -> bool:
        return relative in self.members

    def read(self, relative: str) -> bytes:
        return self.archive.read(relative)


def _read_rows(
    source: _Folder | _Zip, labels_csv: str, file_column: str, group_column: str
) -> tuple[str, list[dict[str, str]]]:
    """The CSV's folder (as a prefix for the image paths) and its rows, checked."""
    layout = _expected_layout(labels_csv, file_column, group_column)
    found = source.find(labels_csv)
    if found is None:
        raise FileNotFoundError(f"{source.description} has no {labels_csv}; {layout}.")
    prefix = str(PurePosixPath(found).parent)
    prefix = "" if prefix == "." else prefix + "/"
    try:
        text = source.read(found).decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error, zipfile.BadZipFile, OSError):
        raise ValueError(f"{found} in {source.description} is not a readable CSV file; {layout}.") from None
    missing = [column for column in (file_column, group_column) if column not in columns]
    if missing:
        raise ValueError(
            f"{labels_csv} in {source.description} has no column {' or '.join(map(repr, missing))} "
            f"(its columns: {columns}); {layout}."
        )
    if not rows:
        raise ValueError(f"{labels_csv} in {source.description} names no images; {layout}.")
    for number, row in enumerate(rows, start=2):
        relative = (row.get(file_column) or "").strip()
        path = PurePosixPath(relative)
        if not relative or path.is_absolute() or ".." in path.parts or path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(
                f"line {number} of {labels_csv} names {relative!r}, not a JPEG or PNG path inside the folder; {layout}."
            )
        if not (row.get(group_column) or "").strip():
            raise ValueError(f"line {number} of {labels_csv} ({relative}) has an empty {group_column!r}; {layout}.")
    absent = [row[file_column].strip() for row in rows if not source.exists(prefix + row[file_column].strip())]
    if absent:
        raise ValueError(
            f"{len(absent)} of the {len(rows)} images named in {labels_csv} are missing from "
            f"{source.description} (first: {absent[0]}); {layout}."
        )
    return prefix, rows


def _decode(data: bytes, name: str, layout: str) -> np.ndarray:
    """One image file's bytes as (64, 64, 3) uint8 RGB: its central square, resized."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("RGB")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            square = image.crop((left, top, left + side, top + side))
            return np.asarray(square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValueError(f"{name} is not a readable JPEG or PNG image; {layout}.") from None


def _open(path: Path) -> tuple[_Folder | _Zip, zipfile.ZipFile | None]:
    if path.is_dir():
        return _Folder(path), None
    if not path.is_file():
        raise FileNotFoundError(f"There is no folder or zip file at {path}.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ValueError(f"{path} is neither a folder nor a readable zip archive (truncated download?).") from None
    return _Zip(path, archive), archive


def check_labelled_archive(
    path: Path,
    labels_csv: str = FAIRFACE_LABELS_CSV,
    file_column: str = "file",
    group_column: str = FAIRFACE_GROUP_COLUMN,
) -> None:
    """Structural check of a folder or zip of labelled faces, without decoding the images.

    Checks that the CSV is there with its columns, that every image it names is present,
    and, for a zip, that no member is corrupt (its CRC). Used to verify a download.

    Raises:
        FileNotFoundError, ValueError: one sentence naming the problem and the expected layout.
    """
    source, archive = _open(Path(path))
    try:
        _read_rows(source, labels_csv, file_column, group_column)
        if archive is not None:
            try:
                broken = archive.testzip()
            except (zipfile.BadZipFile, OSError, EOFError):
                broken = "its data"
            if broken is not None:
                raise ValueError(
                    f"{Path(path).name} is corrupt ({broken} fails its CRC check); "
                    f"{_expected_layout(labels_csv, file_column, group_column)}."
                )
    finally:
        if archive is not None:
            archive.close()


def load_labelled_faces(
    path: str | os.PathLike,
    labels_csv: str = FAIRFACE_LABELS_CSV,
    group_column: str = FAIRFACE_GROUP_COLUMN,
    file_column: str = "file",
    limit: int | None = None,
    name: str = "FairFace",
) -> LabelledFaces:
    """Read a folder (or zip) of face images plus a labels CSV, in FairFace's layout.

    Args:
        path: the folder holding ``labels_csv``, or a zip archive of it.
        labels_csv: the CSV's file name (found anywhere in a zip).
        group_column: the column holding each face's group.
        file_column: the column holding each image's path relative to the CSV's folder.
        limit: read only the first ``limit`` rows (None: all).
        name: what the set is called.

    Returns:
        A :class:`LabelledFaces` with (N, 64, 64, 3) uint8 images in the CSV's order.

    Raises:
        FileNotFoundError, ValueError: one sentence naming the problem (no CSV, a missing
            column, images named but missing, an unreadable image) and the expected
            layout; nothing is returned from a source with any such problem.
    """
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a positive number of rows or None, got {limit!r}.")
    from tqdm.auto import tqdm

    layout = _expected_layout(labels_csv, file_column, group_column)
    source, archive = _open(Path(path))
    try:
        prefix, rows = _read_rows(source, labels_csv, file_column, group_column)
        rows = rows[:limit] if limit is not None else rows
        images = np.empty((len(rows), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        for index, row in enumerate(tqdm(rows, desc=f"Reading {name}", unit="image", disable=len(rows) < 500)):
            relative = prefix + row[file_column].strip()
            try:
                data = source.read(relative)
            except (zipfile.BadZipFile, OSError, EOFError):
                raise ValueError(f"{relative} in {source.description} could not be read (corrupt?); {layout}.") from None
            images[index] = _decode(data, relative, layout)
    finally:
        if archive is not None:
            archive.close()
    columns = list(rows[0].keys())
    attributes = {column: np.array([(row.get(column) or "").strip() for row in rows]) for column in columns}
    return LabelledFaces(images, attributes[group_column], attributes, group_column, name)


def fairface_faces(
    source: str | os.PathLike | None = None,
    labels_csv: str = FAIRFACE_LABELS_CSV,
    group_column: str = FAIRFACE_GROUP_COLUMN,
    limit: int | None = None,
) -> LabelledFaces:
    """FairFace's validation faces (or any set in its layout) from a folder, a zip or a URL.

    ``source`` is a folder, a zip file, or the URL of a zip (downloaded once with
    :func:`labs.data.fetch` as ``fairface.zip``, checked with
    :func:`check_labelled_archive`). Without it: ``$LABS_FAIRFACE`` (any of the three),
    else ``fairface/`` or ``fairface.zip`` in the data cache (``$LABS_DATA_DIR`` or
    ``~/.cache/intro-deep-learning-labs``).

    Raises:
        labs.data.DatasetUnavailable: nothing found or downloadable; the message says
            where to get the data (FairFace's page) and where to put it.
        FileNotFoundError, ValueError: the data found has the wrong layout.
    """
    from labs.data import DatasetUnavailable, RemoteFile, cache_dir, fetch

    source = source if source is not None else os.environ.get(FAIRFACE_SOURCE_VARIABLE) or None
    if source is None:
        folder, archive = cache_dir() / FAIRFACE_CACHE_NAME, cache_dir() / f"{FAIRFACE_CACHE_NAME}.zip"
        if not (folder.is_dir() or archive.is_file()):
            raise DatasetUnavailable(
                f"No FairFace data found: download the validation images and {labels_csv} from "
                f"{FAIRFACE_PAGE} and put them in {folder} (or a zip of that folder at {archive}), or set "
                f"{FAIRFACE_SOURCE_VARIABLE} to such a folder, zip file or zip URL."
            )
        source = folder if folder.is_dir() else archive
    text = str(source)
    if text.lower().startswith(("http://", "https://", "file://")):
        remote = RemoteFile(
            f"{FAIRFACE_CACHE_NAME}.zip", text, licence=FAIRFACE_LICENCE, manual=FAIRFACE_PAGE,
            check=lambda path: check_labelled_archive(path, labels_csv, group_column=group_column),
        )
        source = fetch(remote)
    return load_labelled_faces(source, labels_csv, group_column, limit=limit)
