"""Download-once dataset files: mirrors, resumed transfers, checks, per-user cache.

Each domain module describes its files with a :class:`RemoteFile` and calls
:func:`fetch`. Nothing is downloaded at import time. The cache lives in
``$LABS_DATA_DIR`` if set, else ``~/.cache/intro-deep-learning-labs``.

A file is trusted only after :func:`verify` accepts it: its published checksum
(sha256, or MD5 when that is what the publisher gives), its recorded size and a
structural check of its contents (keys, shapes, dtypes, counts), whichever of
these the :class:`RemoteFile` records. Sources are tried in order: the
``$LABS_DATA_MIRROR`` folder if set (a course's own copy, ``<mirror>/<name>``),
the file's URL, then its mirrors. A transfer goes to ``<name>.partial`` in the
cache and an interrupted one is resumed with an HTTP ``Range`` request. With
``LABS_OFFLINE`` set only ``file://`` sources are read. Nothing in the cache but
``<name>`` and ``<name>.partial`` is ever written or deleted for a file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import numpy as np

NETWORK_TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 16
USER_AGENT = "intro-deep-learning-labs (Python urllib)"
_NETWORK_SCHEMES = ("http:", "https:", "ftp:")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


class DatasetUnavailable(RuntimeError):
    """A dataset file could not be downloaded and has no valid cached copy."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file and how to recognise it.

    Attributes:
        name: short identifier, also the cache file name (e.g. ``"mnist.npz"``).
        url: where to download it from first (``https://``, ``http://`` or ``file://``).
        sha256: hex sha256 digest the bytes must have, ``""`` when none is published.
        licence: licence and source, one line, shown in data/README.md.
        md5: hex MD5 digest, for publishers who give only that; ``""`` when none.
        size: exact size in bytes, when recorded.
        mirrors: further URLs with the same file, tried in order after ``url``.
        check: structural check ``check(path)`` that raises ValueError with one
            sentence naming the problem and the expected layout.
        manual: a web page where a person can get the file by hand, named when
            every source fails (``url`` is named when empty).
    """

    name: str
    url: str
    sha256: str = ""
    licence: str = ""
    md5: str = ""
    size: int | None = None
    mirrors: tuple[str, ...] = ()
    check: Callable[[Path], None] | None = field(default=None, compare=False)
    manual: str = ""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name must be a plain file name such as 'mnist.npz', got {self.name!r}.")
        for label, digest, length in (("sha256", self.sha256, 64), ("md5", self.md5, 32)):
            if digest and not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", digest):
                raise ValueError(f"{label} of {self.name} must be {length} hex digits, got {digest!r}.")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"size of {self.name} must be a positive number of bytes, got {self.size!r}.")
        if isinstance(self.mirrors, str):
            raise TypeError(f"mirrors of {self.name} must be a tuple of URLs, not one string.")
        if not (self.sha256 or self.md5 or self.check):
            raise ValueError(
                f"{self.name} cannot be verified: give its published sha256 or md5, or else its size and a check."
            )


def cache_dir() -> Path:
    """Return the directory where downloaded datasets are kept (created on demand)."""
    root = os.environ.get("LABS_DATA_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "intro-deep-learning-labs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline_mode() -> bool:
    """True when ``LABS_OFFLINE`` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get("LABS_OFFLINE", "") not in ("", "0")


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks of ``chunk_bytes``."""
    return _digests(path, chunk_bytes)[0]


def _digests(path: Path, chunk_bytes: int = 1 << 20) -> tuple[str, str]:
    """Hex (sha256, md5) digests of a file, read once in chunks of ``chunk_bytes``."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def verify(remote: RemoteFile, path: Path) -> None:
    """Check that the file at ``path`` is ``remote``: size, checksums, then structure.

    Raises:
        ValueError: one sentence naming what is wrong (the file must not be used).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file; expected {remote.name}.")
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise ValueError(f"{path.name} has {size:,} bytes, expected {remote.size:,} (truncated or a different file).")
    if remote.sha256 or remote.md5:
        sha256, md5 = _digests(path)
        for label, expected, actual in (("sha256", remote.sha256, sha256), ("md5", remote.md5, md5)):
            if expected and actual != expected.lower():
                raise ValueError(
                    f"{path.name} is corrupt or a different file ({label} {actual[:12]}..., "
                    f"expected {expected.lower()[:12]}...)."
                )
    if remote.check is not None:
        remote.check(path)


def npz_layout(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an ``.npz`` file, read from the headers only.

    Raises:
        ValueError: the file is not a readable ``.npz`` archive of ``.npy`` arrays.
    """
    import numpy as np

    layout = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    raise ValueError(f"{Path(path).name} holds {member!r}, which is not a NumPy array.")
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = (
                        np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(handle)
                layout[member[: -len(".npy")]] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{Path(path).name} is not a readable .npz archive ({error}).") from None
    return layout


def _describe_layout(layout: dict[str, tuple[tuple[int | None, ...], str]]) -> str:
    parts = []
    for key, (shape, dtype) in layout.items():
        dims = ", ".join("N" if dim is None else str(dim) for dim in shape)
        parts.append(f"{key} ({dims}{',' if len(shape) == 1 else ''}) {dtype}")
    return ", ".join(parts)


def npz_check(layout: dict[str, tuple[tuple[int | None, ...], str]]) -> Callable[[Path], None]:
    """A structural check for :attr:`RemoteFile.check` that compares an ``.npz`` file with ``layout``.

    Args:
        layout: for each array the file must hold, its shape (``None`` for a
            dimension of any length) and dtype: a NumPy name such as
            ``"uint8"`` or ``"integer"`` for any integer type. Extra arrays are
            allowed.

    Returns:
        ``check(path)``, which raises ValueError with one sentence naming the
        first difference and the expected layout; it reads headers, not data.
    """
    import numpy as np

    for key, (shape, dtype) in layout.items():
        if dtype != "integer":
            try:
                np.dtype(dtype)
            except TypeError:
                raise ValueError(f"the dtype of {key!r} must be a NumPy type name or 'integer', got {dtype!r}.") from None
        if not all(dim is None or (isinstance(dim, int) and dim >= 0) for dim in shape):
            raise ValueError(f"the shape of {key!r} must hold lengths or None, got {shape!r}.")
    expected = _describe_layout(layout)

    def check(path: Path) -> None:
        found = npz_layout(path)
        for key, (shape, dtype) in layout.items():
            if key not in found:
                problem = f"it has no array {key!r} (it has {sorted(found)})"
            elif len(found[key][0]) != len(shape) or any(
                want is not None and want != have for want, have in zip(shape, found[key][0])
            ):
                problem = f"{key!r} has shape {found[key][0]}"
            elif (dtype == "integer" and found[key][1].kind not in "iu") or (
                dtype != "integer" and found[key][1] != np.dtype(dtype)
            ):
                problem = f"{key!r} has dtype {found[key][1]}"
            else:
                continue
            raise ValueError(f"{Path(path).name} does not have the expected layout: {problem}; expected {expected}.")

    return check


class _SourceFailed(Exception):
    """One source cannot deliver the file; the message says why, in a few words."""


class _Interrupted(Exception):
    """The transfer stopped early; what arrived is kept in the partial file."""


def _looks_like_html(first_bytes: bytes) -> bool:
    return first_bytes.lstrip().lower().startswith(_HTML_STARTS)


def _transfer(remote: RemoteFile, source: str, partial: Path) -> None:
    """Download ``source`` into ``partial``, resuming from the bytes already there.

    Raises:
        _Interrupted: the connection ended before the announced length; what
            arrived stays in ``partial``.
        _SourceFailed: the source answered with an error or with something else
            than the file (an HTML page, a different size); ``partial`` is
            deleted if this answer wrote to it, and kept otherwise.
    """
    from tqdm.auto import tqdm

    offset = partial.stat().st_size if partial.exists() else 0
    if remote.size is not None and offset > remote.size:
        partial.unlink()
        offset = 0
    request = urllib.request.Request(source, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=NETWORK_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            partial.unlink()
            raise _Interrupted("the server refused to resume; starting again") from None
        raise _SourceFailed(f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise _SourceFailed(f"{getattr(error, 'reason', error)}") from None
    with response:
        content_type = (response.headers.get("Content-Type") or "").lower()
        if content_type.startswith("text/html") and not remote.name.endswith((".html", ".htm")):
            raise _SourceFailed("the server sent a web page (text/html), not the file; it may be an error or login page")
        resumed = offset > 0 and getattr(response, "status", None) == 206 and (
            (response.headers.get("Content-Range") or "").startswith(f"bytes {offset}-")
        )
        if not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        expected_total = offset + int(length) if length and length.isdigit() else remote.size
        if remote.size is not None and expected_total is not None and expected_total != remote.size:
            raise _SourceFailed(f"the server announces {expected_total:,} bytes, expected {remote.size:,}")
        received = 0
        with open(partial, "ab" if resumed else "wb") as handle, tqdm(
            total=expected_total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=f"Downloading {remote.name}",
        ) as progress:
            try:
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    if offset + received == 0 and _looks_like_html(chunk[:64]):
                        raise _SourceFailed("the server sent a web page (HTML), not the file")
                    handle.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
                    if remote.size is not None and offset + received > remote.size:
                        raise _SourceFailed(f"the server sends more than the expected {remote.size:,} bytes")
            except (http.client.HTTPException, OSError) as error:
                raise _Interrupted(f"the transfer stopped after {offset + received:,} bytes ({error})") from None
            except _SourceFailed:
                handle.close()
                partial.unlink()
                raise
    if expected_total is not None and offset + received < expected_total:
        raise _Interrupted(f"the transfer stopped after {offset + received:,} of {expected_total:,} bytes")


def _download_from(remote: RemoteFile, source: str, partial: Path, target: Path, attempts: int) -> None:
    """Fetch ``source`` into ``partial``, verify it and move it to ``target``.

    Interrupted transfers are resumed up to ``attempts`` times in all; a file
    that fails :func:`verify` after a resumed transfer is downloaded once more
    from the start, in case the kept part was bad.

    Raises:
        _SourceFailed: this source could not deliver a valid file.
    """
    reason = "no attempt made"
    for _ in range(attempts):
        resumed = partial.exists() and partial.stat().st_size > 0
        try:
            _transfer(remote, source, partial)
        except _Interrupted as error:
            reason = str(error)
            continue
        try:
            verify(remote, partial)
        except ValueError as error:
            partial.unlink(missing_ok=True)
            if resumed:
                reason = f"{str(error).rstrip('.')}, and the download was deleted"
                continue
            raise _SourceFailed(f"{str(error).rstrip('.')}, and the download was deleted") from None
        os.replace(partial, target)
        return
    raise _SourceFailed(reason)


def _sources(remote: RemoteFile, url: str | None) -> list[str]:
    if url:
        return [url]
    mirror = os.environ.get("LABS_DATA_MIRROR", "").strip()
    sources = [f"{mirror.rstrip('/')}/{remote.name}"] if mirror else []
    sources += [remote.url, *remote.mirrors]
    return list(dict.fromkeys(sources))


def fetch(remote: RemoteFile, directory: Path | None = None, url: str | None = None, *, attempts: int = 3) -> Path:
    """Return a local path to ``remote``, downloading and verifying it if needed.

    A cached copy that fails :func:`verify` is deleted and downloaded again; a
    download that fails it is deleted, never used, and the next source is tried.

    Args:
        remote: the file to fetch.
        directory: cache directory (default :func:`cache_dir`).
        url: the only source to try (a mirror or a ``file://`` path) instead of
            ``$LABS_DATA_MIRROR``, ``remote.url`` and ``remote.mirrors``.
        attempts: transfers per source when a connection breaks off (each one
            resumes where the last stopped).

    Raises:
        DatasetUnavailable: no source delivered a valid file and there is no
            valid cached copy; the message names each source's problem and where
            to save the file by hand.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}.")
    directory = Path(directory) if directory is not None else cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / remote.name
    partial = directory / f"{remote.name}.partial"
    if target.exists():
        try:
            verify(remote, target)
            return target
        except ValueError as error:
            print(f"Cached {target} is not usable ({error}); deleting it and downloading again.")
            target.unlink()
    sources = _sources(remote, url)
    usable = [source for source in sources if not (offline_mode() and source.lower().startswith(_NETWORK_SCHEMES))]
    if not usable:
        raise DatasetUnavailable(
            f"LABS_OFFLINE is set and there is no valid copy of {remote.name} at {target}, so it was not "
            f"downloaded from {sources[0]}; save the file there (see data/README.md) or unset LABS_OFFLINE."
        )
    failures = []
    for source in usable:
        try:
            _download_from(remote, source, partial, target, attempts)
            return target
        except _SourceFailed as error:
            failures.append(f"from {source}: {error}")
    raise DatasetUnavailable(
        f"Could not download {remote.name} ({'; '.join(failures)}), so download it by hand from "
        f"{remote.manual or sources[0]} and save it as {target}, or set LABS_DATA_DIR to a folder that holds it."
    )
