"""Carry a kernel's TCP connections over a container's standard input and output.

Docker Desktop and ``podman machine`` (macOS, Windows) run containers in a Linux
VM whose file sharing does not pass Unix sockets on, and a grading container has
no network. So in the container mode's *relay* form the kernel listens on TCP
ports of the container's own loopback interface, and two relays join it to the
grader:

- the *host* relay (:func:`serve_host`, run by the container supervisor) listens
  on the same port numbers on the grader's 127.0.0.1 and starts the container
  (``ENGINE run --interactive ...``) with pipes on its standard input and output;
- the *inside* relay (:func:`serve_inside`, the container's first process) starts
  the kernel, and for every connection the grader opens, opens the same port on
  the container's loopback.

Both sides speak one framing over the pipe pair: a header :data:`HEADER` (kind,
stream number, port, payload length) followed by the payload. ``OPEN`` starts a
stream to a port, ``DATA`` carries its bytes, ``CLOSE`` ends it. The bytes are
ZeroMQ's, passed on untouched: the kernel's messages stay signed with the
connection file's key.

This file uses the standard library only: the inside relay is this very file,
run by the container's Python (``python -c SOURCE inside -- KERNEL...``), so that
the grading image and a host's root file system need nothing more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import subprocess
import sys
from pathlib import Path

OPEN, DATA, CLOSE = 1, 2, 3
#: kind (1 byte), stream number (4), port (2), payload length (4); big-endian.
HEADER = struct.Struct(">BIHI")
#: Largest payload of one frame (bytes).
CHUNK = 64 * 1024
#: Seconds the inside relay keeps trying to reach a port the kernel has not opened yet.
CONNECT_SECONDS = 60.0
CHANNELS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def frame(kind: int, stream: int, port: int = 0, payload: bytes = b"") -> bytes:
    """One frame: :data:`HEADER` then ``payload``."""
    return HEADER.pack(kind, stream, port, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, int, int, bytes] | None:
    """The next frame as (kind, stream, port, payload), or None at the end of the pipe."""
    try:
        kind, stream, port, length = HEADER.unpack(await reader.readexactly(HEADER.size))
        return kind, stream, port, await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        return None


def connection_ports(connection_file: str | Path) -> list[int]:
    """The five TCP ports of a Jupyter connection file."""
    info = json.loads(Path(connection_file).read_text())
    if info.get("transport") != "tcp":
        raise ValueError(f"{connection_file} uses transport {info.get('transport')!r}; the relay carries only 'tcp'.")
    return [int(info[channel]) for channel in CHANNELS]


class _Pipe:
    """The framed pipe between the relays: each write is a whole frame, so streams interleave safely."""

    def __init__(self, writer) -> None:
        self.writer = writer

    async def send(self, kind: int, stream: int, port: int = 0, payload: bytes = b"") -> None:
        self.writer.write(frame(kind, stream, port, payload))
        if isinstance(self.writer, asyncio.StreamWriter):
            await self.writer.drain()


async def _join(stream: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, incoming: asyncio.Queue,
                pipe: _Pipe) -> None:
    """Carry one connection both ways: its bytes out as DATA frames, the frames queued for it in."""

    async def outward() -> None:
        try:
            while data := await reader.read(CHUNK):
                await pipe.send(DATA, stream, payload=data)
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                await pipe.send(CLOSE, stream)
            except (ConnectionError, OSError, RuntimeError):
                pass

    sending = asyncio.ensure_future(outward())
    try:
        while (data := await incoming.get()) is not None:
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        await sending


async def _dispatch(reader: asyncio.StreamReader, queues: dict[int, asyncio.Queue], on_open=None) -> None:
    """Queue each frame's payload for its stream until the pipe ends (None ends a stream); ``on_open`` handles OPEN."""
    while (received := await read_frame(reader)) is not None:
        kind, stream, port, payload = received
        if kind == OPEN and on_open is not None:
            on_open(stream, port)
        elif kind == DATA and stream in queues:
            queues[stream].put_nowait(payload)
        elif kind == CLOSE and stream in queues:
            queues.pop(stream).put_nowait(None)
    for queue in queues.values():
        queue.put_nowait(None)


async def serve_host(ports: list[int], pipe_reader: asyncio.StreamReader, pipe_writer,
                     host: str = "127.0.0.1") -> None:
    """Listen on ``host``'s ``ports``; carry every connection over the pipe pair until the pipe ends."""
    pipe = _Pipe(pipe_writer)
    queues: dict[int, asyncio.Queue] = {}
    numbers = iter(range(1, 2**32))

    def listener(port: int):
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            stream = next(numbers)
            queues[stream] = asyncio.Queue()
            await pipe.send(OPEN, stream, port)
            await _join(stream, reader, writer, queues[stream], pipe)
        return accepted

    servers = [await asyncio.start_server(listener(port), host, port) for port in ports]
    try:
        await _dispatch(pipe_reader, queues)
    finally:
        for server in servers:
            server.close()


async def serve_inside(pipe_reader: asyncio.StreamReader, pipe_writer, host: str = "127.0.0.1") -> None:
    """Open ``host``'s port for every OPEN frame and carry the stream over the pipe pair until the pipe ends.

    The kernel may not listen yet when the first connection arrives: the relay tries
    again for :data:`CONNECT_SECONDS`, keeping what arrives meanwhile.
    """
    pipe = _Pipe(pipe_writer)
    queues: dict[int, asyncio.Queue] = {}
    tasks: set[asyncio.Task] = set()

    async def connect(stream: int, port: int, incoming: asyncio.Queue) -> None:
        deadline = asyncio.get_running_loop().time() + CONNECT_SECONDS
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    queues.pop(stream, None)
                    await pipe.send(CLOSE, stream)
                    return
                await asyncio.sleep(0.1)
        await _join(stream, reader, writer, incoming, pipe)

    def on_open(stream: int, port: int) -> None:
        queues[stream] = asyncio.Queue()
        task = asyncio.ensure_future(connect(stream, port, queues[stream]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await _dispatch(pipe_reader, queues, on_open)
    for task in list(tasks):
        task.cancel()


async def _stdio() -> tuple[asyncio.StreamReader, asyncio.WriteTransport]:
    """This process's standard input as a stream reader and standard output as a write transport."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 * CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout.buffer)
    return reader, transport


def run_inside(kernel_command: list[str]) -> int:
    """The container's first process: start the kernel, relay until the grader closes the pipe; the kernel's exit code.

    The kernel's own output goes to standard error, never into the relay's pipe;
    SIGINT (a kernel interrupt passed on by the engine) is passed on to the kernel.
    """
    kernel = subprocess.Popen(kernel_command, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(),
                              stderr=sys.stderr.fileno())
    signal.signal(signal.SIGINT, lambda signum, frame: kernel.send_signal(signal.SIGINT))

    async def relay() -> None:
        reader, transport = await _stdio()
        relaying = asyncio.ensure_future(serve_inside(reader, transport))
        while not relaying.done() and kernel.poll() is None:
            await asyncio.sleep(0.2)
        relaying.cancel()

    try:
        asyncio.run(relay())
    finally:
        if kernel.poll() is None:
            kernel.kill()
    return kernel.wait()


async def run_host(process: subprocess.Popen, ports: list[int], host: str = "127.0.0.1") -> int:
    """Relay ``ports`` over the piped standard input and output of ``process`` (the container) until it ends.

    Returns the process's exit code.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2 * CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), process.stdout)
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, process.stdin)
    try:
        await serve_host(ports, reader, transport, host)
    finally:
        transport.close()
    return await loop.run_in_executor(None, process.wait)


def source() -> str:
    """This module's source: what the container runs as ``python -c SOURCE inside -- KERNEL...``."""
    return Path(__file__).read_text()


def inside_command(python: str, kernel_command: list[str]) -> list[str]:
    """The container's command: the inside relay, run by ``python``, starting ``kernel_command``."""
    return [python, "-c", source(), "inside", "--", *kernel_command]


def main(argv: list[str] | None = None) -> int:
    """``python relay.py inside -- KERNEL...``: see :func:`run_inside`."""
    parser = argparse.ArgumentParser(prog="relay", description="Relay a kernel's TCP ports over stdin and stdout.")
    parser.add_argument("side", choices=["inside"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the kernel's command after --")
    return run_inside(command)


if __name__ == "__main__":
    sys.exit(main())
