"""Dataset download: checksums, mirrors, resumed transfers, bad files and the offline switch.

The HTTP tests run against a server on 127.0.0.1 that each test starts in a thread,
serving small files the test makes; nothing is fetched from the internet.
"""

from __future__ import annotations

import hashlib
import threading
import zipfile
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from labs import vision
from labs.data import DatasetUnavailable, RemoteFile, fetch, npz_check, npz_layout, verify

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes: several read chunks
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Sorry, this file is not available</h1></body></html>"


@pytest.fixture(autouse=True)
def online(monkeypatch):
    """These tests exercise downloads (from 127.0.0.1 and file:// URLs), so lift the offline switch."""
    monkeypatch.delenv("LABS_OFFLINE", raising=False)
    monkeypatch.delenv("LABS_DATA_MIRROR", raising=False)


@dataclass
class Route:
    """What the local server answers for one path."""

    payload: bytes
    status: int = 200
    content_type: str = "application/octet-stream"
    honour_range: bool = True
    cut_after: int | None = None  # stop that many bytes into the body, then close the connection
    cuts_left: int = 0  # how many responses are cut short


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        route = server.routes.get(self.path)
        if route is None or route.status != 200:
            body = HTML_PAGE
            self.send_response(404 if route is None else route.status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        requested = self.headers.get("Range")
        if requested and route.honour_range:
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            if start >= len(route.payload):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(route.payload) - 1}/{len(route.payload)}")
        else:
            self.send_response(200)
        body = route.payload[start:]
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if route.cuts_left > 0 and route.cut_after is not None:
            route.cuts_left -= 1
            self.wfile.write(body[: route.cut_after])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """Keep the test output clean."""


class LocalServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 with per-path routes and a log of (path, Range header)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server():
    local = LocalServer()
    thread = threading.Thread(target=local.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield local
    local.shutdown()
    thread.join()
    local.server_close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache that already holds other files, which no bad download may touch."""
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "neighbour.npz").write_bytes(b"another data set")
    (directory / "neighbour.npz.partial").write_bytes(b"another half")
    return directory


def _others(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.name.startswith("neighbour")}


def _assert_neighbours_untouched(directory: Path) -> None:
    assert _others(directory) == {"neighbour.npz": b"another data set", "neighbour.npz.partial": b"another half"}


def _remote(url: str, payload: bytes = PAYLOAD, **fields) -> RemoteFile:
    return RemoteFile("digits.bin", url, hashlib.sha256(payload).hexdigest(), "test data", **fields)


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


def test_fetch_over_http_shows_progress_and_then_uses_the_cache(server, cache, capsys):
    server.routes["/digits.bin"] = Route(PAYLOAD)
    remote = _remote(server.url("/digits.bin"), size=len(PAYLOAD))
    path = fetch(remote, cache)
    assert path == cache / "digits.bin" and path.read_bytes() == PAYLOAD
    progress = capsys.readouterr().err
    assert "Downloading digits.bin" in progress and "100%" in progress and "100k" in progress
    assert fetch(remote, cache) == path
    assert len(server.requests) == 1
    assert not (cache / "digits.bin.partial").exists()
    _assert_neighbours_untouched(cache)


def test_fetch_resumes_an_interrupted_transfer_with_a_range_request(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD, cut_after=30_000, cuts_left=1)
    path = fetch(_remote(server.url("/digits.bin")), cache)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [("/digits.bin", None), ("/digits.bin", "bytes=30000-")]
    _assert_neighbours_untouched(cache)


def test_fetch_resumes_a_partial_file_left_by_an_earlier_session(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD, cut_after=40_000, cuts_left=1)
    remote = _remote(server.url("/digits.bin"))
    with pytest.raises(DatasetUnavailable, match="stopped after 40,000 of 102,400 bytes"):
        fetch(remote, cache, attempts=1)
    assert (cache / "digits.bin.partial").read_bytes() == PAYLOAD[:40_000]
    assert not (cache / "digits.bin").exists()
    assert fetch(remote, cache).read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/digits.bin", "bytes=40000-")
    assert not (cache / "digits.bin.partial").exists()
    _assert_neighbours_untouched(cache)


def test_a_source_that_fails_keeps_the_partial_file_for_the_next_source(server, cache, monkeypatch):
    server.routes["/digits.bin"] = Route(PAYLOAD)
    (cache / "digits.bin.partial").write_bytes(PAYLOAD[:20_000])
    monkeypatch.setenv("LABS_DATA_MIRROR", server.url("/course"))
    assert fetch(_remote(server.url("/digits.bin")), cache).read_bytes() == PAYLOAD
    assert server.requests == [("/course/digits.bin", "bytes=20000-"), ("/digits.bin", "bytes=20000-")]


def test_fetch_starts_again_when_the_server_ignores_the_range(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD, honour_range=False)
    (cache / "digits.bin.partial").write_bytes(b"x" * 500)
    assert fetch(_remote(server.url("/digits.bin")), cache).read_bytes() == PAYLOAD
    assert server.requests == [("/digits.bin", "bytes=500-")]


def test_fetch_downloads_again_from_the_start_when_a_resumed_file_is_corrupt(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD)
    (cache / "digits.bin.partial").write_bytes(b"y" * 500)  # a bad start from some earlier transfer
    assert fetch(_remote(server.url("/digits.bin")), cache).read_bytes() == PAYLOAD
    assert server.requests == [("/digits.bin", "bytes=500-"), ("/digits.bin", None)]


def test_a_corrupt_http_download_is_deleted_and_nothing_else_is_touched(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD[:-1] + b"!")
    with pytest.raises(DatasetUnavailable, match=r"corrupt or a different file \(sha256 .*deleted"):
        fetch(_remote(server.url("/digits.bin")), cache)
    assert sorted(path.name for path in cache.iterdir()) == ["neighbour.npz", "neighbour.npz.partial"]
    _assert_neighbours_untouched(cache)


def test_fetch_reports_a_404_and_names_the_manual_route(server, cache):
    remote = _remote(server.url("/gone.bin"), manual="https://example.org/where-to-get-digits")
    with pytest.raises(DatasetUnavailable) as error:
        fetch(remote, cache)
    message = str(error.value)
    assert f"from {server.url('/gone.bin')}: HTTP 404" in message
    assert "download it by hand from https://example.org/where-to-get-digits" in message
    assert f"save it as {cache / 'digits.bin'}" in message
    assert "\n" not in message
    _assert_neighbours_untouched(cache)
    assert sorted(path.name for path in cache.iterdir()) == ["neighbour.npz", "neighbour.npz.partial"]


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_fetch_rejects_an_html_page_served_instead_of_the_file(server, cache, content_type):
    server.routes["/digits.bin"] = Route(HTML_PAGE, content_type=content_type)
    with pytest.raises(DatasetUnavailable, match="sent a web page"):
        fetch(_remote(server.url("/digits.bin")), cache)
    assert sorted(path.name for path in cache.iterdir()) == ["neighbour.npz", "neighbour.npz.partial"]
    _assert_neighbours_untouched(cache)


def test_fetch_rejects_a_file_of_another_size_before_downloading_it(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD * 3)
    with pytest.raises(DatasetUnavailable, match="announces 307,200 bytes, expected 102,400"):
        fetch(_remote(server.url("/digits.bin"), size=len(PAYLOAD)), cache)
    assert not (cache / "digits.bin.partial").exists()


def _digit_arrays(path: Path, num_images: int, image_dtype: type = np.uint8) -> bytes:
    np.savez(
        path,
        images=np.zeros((num_images, 28, 28), dtype=image_dtype),
        labels=np.arange(num_images, dtype=np.int64) % 10,
    )
    return path.read_bytes()


def test_fetch_without_a_published_checksum_checks_size_and_structure(server, cache, tmp_path):
    good = _digit_arrays(tmp_path / "good.npz", 12)
    wrong_type = _digit_arrays(tmp_path / "wrong.npz", 12, image_dtype=np.int8)
    assert len(wrong_type) == len(good)  # so that only the structural check can tell them apart
    layout = {"images": ((12, 28, 28), "uint8"), "labels": ((12,), "integer")}
    server.routes["/wrong.npz"] = Route(wrong_type)
    server.routes["/good.npz"] = Route(good)
    remote = RemoteFile("digits.npz", server.url("/wrong.npz"), size=len(good), check=npz_check(layout))
    with pytest.raises(DatasetUnavailable) as error:
        fetch(remote, cache)
    assert "does not have the expected layout: 'images' has dtype int8" in str(error.value)
    assert "expected images (12, 28, 28) uint8, labels (12,) integer" in str(error.value)
    assert not (cache / "digits.npz").exists() and not (cache / "digits.npz.partial").exists()
    _assert_neighbours_untouched(cache)
    assert fetch(replace(remote, url=server.url("/good.npz")), cache).read_bytes() == good


def test_fetch_tries_mirrors_in_order_until_one_delivers(server, cache):
    server.routes["/html.bin"] = Route(HTML_PAGE, content_type="text/html")
    server.routes["/digits.bin"] = Route(PAYLOAD)
    server.routes["/unused.bin"] = Route(PAYLOAD)
    remote = _remote(
        server.url("/missing.bin"),
        mirrors=(server.url("/html.bin"), server.url("/digits.bin"), server.url("/unused.bin")),
    )
    assert fetch(remote, cache).read_bytes() == PAYLOAD
    assert [path for path, _ in server.requests] == ["/missing.bin", "/html.bin", "/digits.bin"]


def test_fetch_tries_the_course_mirror_first(server, cache, monkeypatch):
    server.routes["/course/digits.bin"] = Route(PAYLOAD)
    monkeypatch.setenv("LABS_DATA_MIRROR", server.url("/course/"))
    assert fetch(_remote(server.url("/elsewhere.bin")), cache).read_bytes() == PAYLOAD
    assert [path for path, _ in server.requests] == ["/course/digits.bin"]


def test_offline_fetch_sends_no_request_but_reads_a_local_mirror(server, cache, tmp_path, monkeypatch):
    server.routes["/digits.bin"] = Route(PAYLOAD)
    local = tmp_path / "usb-stick" / "digits.bin"
    local.parent.mkdir()
    local.write_bytes(PAYLOAD)
    monkeypatch.setenv("LABS_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match="LABS_OFFLINE is set"):
        fetch(_remote(server.url("/digits.bin")), cache)
    assert fetch(_remote(server.url("/digits.bin"), mirrors=(local.as_uri(),)), cache).read_bytes() == PAYLOAD
    assert server.requests == []
    _assert_neighbours_untouched(cache)


def test_fetch_checks_the_md5_when_that_is_all_the_publisher_gives(server, cache):
    server.routes["/digits.bin"] = Route(PAYLOAD)
    good = RemoteFile("digits.bin", server.url("/digits.bin"), md5=hashlib.md5(PAYLOAD).hexdigest())
    bad = replace(good, md5="0" * 32)
    with pytest.raises(DatasetUnavailable, match=r"md5 .*expected 000000000000"):
        fetch(bad, cache)
    assert fetch(good, cache).read_bytes() == PAYLOAD


def test_a_remote_file_must_be_verifiable():
    with pytest.raises(ValueError, match="cannot be verified"):
        RemoteFile("digits.bin", "https://example.org/digits.bin")
    with pytest.raises(ValueError, match="64 hex digits"):
        RemoteFile("digits.bin", "https://example.org/digits.bin", sha256="abc")
    with pytest.raises(ValueError, match="plain file name"):
        RemoteFile("../digits.bin", "https://example.org/digits.bin", md5="0" * 32)
    with pytest.raises(TypeError, match="tuple of URLs"):
        RemoteFile("digits.bin", "https://example.org/a", md5="0" * 32, mirrors="https://example.org/b")


def test_verify_names_the_problem_with_a_file_given_by_hand(tmp_path: Path):
    path = tmp_path / "digits.npz"
    good = _digit_arrays(path, 5)
    remote = RemoteFile("digits.npz", "https://example.org/digits.npz", size=len(good),
                        check=npz_check({"images": ((None, 28, 28), "uint8")}))
    verify(remote, path)
    path.write_bytes(good[:100])
    with pytest.raises(ValueError, match="has 100 bytes, expected"):
        verify(remote, path)
    with pytest.raises(ValueError, match="not a readable .npz archive"):
        npz_layout(path)


def _write_fake_pneumonia(path: Path, num_train: int = 12, num_val: int = 3, num_test: int = 4) -> None:
    generator = np.random.default_rng(1)
    arrays = {}
    for split, count in (("train", num_train), ("val", num_val), ("test", num_test)):
        arrays[f"{split}_images"] = generator.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count, dtype=np.uint8) % 2).reshape(-1, 1)
    np.savez_compressed(path, **arrays)


def test_load_pneumonia_mnist_needs_no_argument_and_checks_the_md5(server, cache, tmp_path):
    source = tmp_path / "pneumoniamnist.npz"
    _write_fake_pneumonia(source)
    server.routes["/records/pneumoniamnist.npz"] = Route(source.read_bytes())
    remote = replace(
        vision.PNEUMONIA_MNIST,
        url=server.url("/records/gone.npz"),
        mirrors=(server.url("/records/pneumoniamnist.npz"),),
        md5=hashlib.md5(source.read_bytes()).hexdigest(),
        check=None,
    )
    dataset = vision.load_pneumonia_mnist(directory=cache, remote=remote)
    assert dataset.train_images.shape == (12, 28, 28, 1) and dataset.test_labels.tolist() == [0, 1, 0, 1]
    assert dataset.class_names == ("normal", "pneumonia")
    with pytest.raises(DatasetUnavailable, match="corrupt or a different file"):
        vision.load_pneumonia_mnist(directory=tmp_path / "other", remote=replace(remote, md5="1" * 32))
    with pytest.raises(ValueError, match="64 hex digits"):
        vision.load_pneumonia_mnist("not-a-digest", directory=cache, remote=remote)


def _write_array_headers(path: Path, layout: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """An .npz whose members hold only .npy headers: enough for a structural check, a few hundred bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, (shape, dtype) in layout.items():
            with archive.open(f"{key}.npy", "w") as member:
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(member, header)


def test_the_registered_pneumonia_file_is_checked_by_the_published_md5_and_layout(tmp_path):
    assert vision.PNEUMONIA_MNIST.md5 == "28209eda62fecd6e6a2d98b1501bb15f" and not vision.PNEUMONIA_MNIST.sha256
    assert len(vision.PNEUMONIA_MNIST.mirrors) >= 1
    real_layout = tmp_path / "real.npz"
    _write_array_headers(real_layout, {
        f"{split}_{kind}": ((count, *shape), "uint8")
        for split, count in (("train", 4_708), ("val", 524), ("test", 624))
        for kind, shape in (("images", (28, 28)), ("labels", (1,)))
    })
    vision.PNEUMONIA_MNIST.check(real_layout)
    too_small = tmp_path / "small.npz"
    _write_fake_pneumonia(too_small)
    with pytest.raises(ValueError, match="'train_images' has shape \\(12, 28, 28\\); expected train_images \\(4708"):
        vision.PNEUMONIA_MNIST.check(too_small)


def test_the_registered_mnist_file_has_a_size_a_mirror_and_a_layout(tmp_path):
    assert vision.MNIST.size == 11_490_434 and vision.MNIST.mirrors
    path = tmp_path / "mnist.npz"
    real_layout = {
        "x_train": ((60_000, 28, 28), "uint8"), "y_train": ((60_000,), "uint8"),
        "x_test": ((10_000, 28, 28), "uint8"), "y_test": ((10_000,), "uint8"),
    }
    _write_array_headers(path, real_layout)
    vision.MNIST.check(path)
    _write_array_headers(path, {**real_layout, "x_train": ((60_000, 28, 28), "float32")})
    with pytest.raises(ValueError, match="'x_train' has dtype float32"):
        vision.MNIST.check(path)


def test_load_mnist_falls_back_to_a_mirror_over_http(server, cache, tmp_path):
    source = tmp_path / "mnist.npz"
    generator = np.random.default_rng(0)
    np.savez(
        source,
        x_train=generator.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        y_train=generator.integers(0, 10, size=20, dtype=np.uint8),
        x_test=generator.integers(0, 256, size=(5, 28, 28), dtype=np.uint8),
        y_test=generator.integers(0, 10, size=5, dtype=np.uint8),
    )
    server.routes["/mirror/mnist.npz"] = Route(source.read_bytes())
    remote = RemoteFile(
        "mnist.npz", server.url("/gone/mnist.npz"), hashlib.sha256(source.read_bytes()).hexdigest(),
        mirrors=(server.url("/mirror/mnist.npz"),),
    )
    dataset = vision.load_mnist(fallback=False, directory=cache, remote=remote)
    assert dataset.name == "MNIST" and dataset.train_images.shape == (20, 28, 28, 1)
