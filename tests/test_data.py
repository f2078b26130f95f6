"""Dataset download: checksum, cache, corrupt files, and the offline message."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from labs.data import DatasetUnavailable, RemoteFile, fetch


@pytest.fixture(autouse=True)
def online(monkeypatch):
    """These tests exercise downloads (from local file:// URLs), so lift the offline switch."""
    monkeypatch.delenv("LABS_OFFLINE", raising=False)


@pytest.fixture
def served_file(tmp_path: Path) -> tuple[Path, RemoteFile]:
    payload = b"digits " * 1000
    origin = tmp_path / "origin" / "digits.bin"
    origin.parent.mkdir()
    origin.write_bytes(payload)
    remote = RemoteFile("digits.bin", origin.as_uri(), hashlib.sha256(payload).hexdigest(), "test data")
    return origin, remote


def test_fetch_downloads_once_and_reuses_the_cache(tmp_path: Path, served_file):
    origin, remote = served_file
    path = fetch(remote, tmp_path / "cache")
    assert path.read_bytes() == origin.read_bytes()
    origin.unlink()  # a second fetch must not need the source any more
    assert fetch(remote, tmp_path / "cache") == path


def test_a_corrupt_download_is_deleted_and_reported(tmp_path: Path, served_file):
    origin, remote = served_file
    origin.write_bytes(b"truncated")
    with pytest.raises(DatasetUnavailable, match="corrupt .* deleted"):
        fetch(remote, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_corrupt_cached_copy_is_replaced(tmp_path: Path, served_file):
    _, remote = served_file
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / remote.name).write_bytes(b"half a file")
    path = fetch(remote, cache)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == remote.sha256


def test_no_network_and_no_cache_says_what_to_do(tmp_path: Path, served_file):
    origin, remote = served_file
    origin.unlink()
    with pytest.raises(DatasetUnavailable) as error:
        fetch(remote, tmp_path / "cache")
    message = str(error.value)
    assert "Could not download digits.bin" in message and "save it as" in message and "LABS_DATA_DIR" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_mirror_url_overrides_the_registered_one(tmp_path: Path, served_file):
    origin, remote = served_file
    broken = RemoteFile(remote.name, "file:///nonexistent/digits.bin", remote.sha256)
    assert fetch(broken, tmp_path / "cache", url=origin.as_uri()).exists()


def test_offline_mode_uses_the_cache_and_never_downloads(tmp_path: Path, served_file, monkeypatch):
    origin, local = served_file
    remote = RemoteFile(local.name, "https://example.invalid/digits.bin", local.sha256)
    monkeypatch.setenv("LABS_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match="LABS_OFFLINE is set"):
        fetch(remote, tmp_path / "cache")
    path = fetch(remote, tmp_path / "cache", url=origin.as_uri())  # a local file is not a download
    assert fetch(remote, tmp_path / "cache") == path
