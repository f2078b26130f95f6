"""Download-once dataset files: progress bar, sha256 check, per-user cache.

Each domain module describes its files with a :class:`RemoteFile` and calls
:func:`fetch`. Nothing is downloaded at import time. The cache lives in
``$LABS_DATA_DIR`` if set, else ``~/.cache/intro-deep-learning-labs``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class DatasetUnavailable(RuntimeError):
    """A dataset file could not be downloaded and has no valid cached copy."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file.

    Attributes:
        name: short identifier, also the cache file name (e.g. ``"mnist.npz"``).
        url: where to download it from (``https://`` or ``file://``).
        sha256: hex digest the downloaded bytes must have.
        licence: licence and source, one line, shown in data/README.md.
    """

    name: str
    url: str
    sha256: str
    licence: str = ""


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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, destination: Path) -> None:
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(destination, "wb") as handle, tqdm(
            total=total, unit="B", unit_scale=True, desc=f"Downloading {destination.name}"
        ) as progress:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                handle.write(chunk)
                progress.update(len(chunk))


def fetch(remote: RemoteFile, directory: Path | None = None, url: str | None = None) -> Path:
    """Return a local path to ``remote``, downloading and verifying it if needed.

    A cached copy with the wrong checksum is deleted and downloaded again; a
    download with the wrong checksum is deleted and reported, never used.

    Args:
        remote: the file to fetch.
        directory: cache directory (default :func:`cache_dir`).
        url: override ``remote.url`` (a mirror or a ``file://`` path).

    Raises:
        DatasetUnavailable: no network (or ``LABS_OFFLINE``) and no valid cached
            copy, or a corrupt download.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / remote.name
    source = url or remote.url
    if target.exists():
        if sha256_of(target) == remote.sha256:
            return target
        print(f"Cached {target} has the wrong sha256 (corrupt or partial); deleting it and downloading again.")
        target.unlink()
    if offline_mode() and not source.startswith("file:"):
        raise DatasetUnavailable(
            f"LABS_OFFLINE is set and there is no valid copy of {remote.name} at {target}, so it was not "
            f"downloaded from {source}; save the file there (sha256 {remote.sha256}) or unset LABS_OFFLINE."
        )
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{remote.name}.", delete=False) as handle:
        partial = Path(handle.name)
    try:
        _download(source, partial)
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        raise DatasetUnavailable(
            f"Could not download {remote.name} from {source} ({error}) and there is no cached copy; "
            f"download the file by hand and save it as {target}, or set LABS_DATA_DIR to a folder that holds it."
        ) from None
    digest = sha256_of(partial)
    if digest != remote.sha256:
        partial.unlink(missing_ok=True)
        raise DatasetUnavailable(
            f"The download of {remote.name} from {source} is corrupt (sha256 {digest[:12]}..., "
            f"expected {remote.sha256[:12]}...) and was deleted; try again or fetch the file by hand into {target}."
        )
    shutil.move(str(partial), target)
    return target
