"""autograder.relay: TCP connections carried over one pipe pair, byte for byte, in both directions."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from autograder import relay


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _relayed_echo(messages: list[bytes], server_delay: float = 0.0) -> list[bytes]:
    """Send each message on its own connection through host and inside relays to an echo server; the replies."""
    port = _free_port()
    host_end, inside_end = socket.socketpair()
    host_reader, host_writer = await asyncio.open_connection(sock=host_end)
    inside_reader, inside_writer = await asyncio.open_connection(sock=inside_end)
    # The "container" side reaches the echo server on another loopback address, as a container reaches its own.
    host = asyncio.ensure_future(relay.serve_host([port], host_reader, host_writer))
    inside = asyncio.ensure_future(relay.serve_inside(inside_reader, inside_writer, host="127.0.0.2"))
    await asyncio.sleep(0.1)
    clients = [await asyncio.open_connection("127.0.0.1", port) for _ in messages]
    for (_, writer), message in zip(clients, messages):
        writer.write(message)
        await writer.drain()
    await asyncio.sleep(server_delay)
    server = await asyncio.start_server(_echo, "127.0.0.2", port)
    replies = []
    for (reader, writer), message in zip(clients, messages):
        received = b""
        while len(received) < len(message):
            received += await asyncio.wait_for(reader.read(1 << 20), 10)
        replies.append(received)
        writer.close()
    server.close()
    host_writer.close()
    await asyncio.wait_for(asyncio.gather(host, inside, return_exceptions=True), 10)
    return replies


def test_each_connection_gets_its_own_bytes_back_in_order():
    messages = [b"hello", bytes(range(256)) * 4000, b"third connection"]
    assert asyncio.run(_relayed_echo(messages)) == messages


def test_bytes_sent_before_the_kernel_listens_are_delivered_when_it_does():
    assert asyncio.run(_relayed_echo([b"early bytes"], server_delay=0.5)) == [b"early bytes"]


def test_a_frame_is_its_header_then_its_payload():
    data = relay.frame(relay.DATA, 7, 0, b"abc")
    assert relay.HEADER.unpack(data[:relay.HEADER.size]) == (relay.DATA, 7, 0, 3) and data[relay.HEADER.size:] == b"abc"


def test_connection_ports_reads_the_five_channels_and_refuses_unix_sockets(tmp_path):
    path = tmp_path / "kernel.json"
    ports = dict(zip(relay.CHANNELS, range(50001, 50006)))
    path.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", **ports}))
    assert relay.connection_ports(path) == list(range(50001, 50006))
    path.write_text(json.dumps({"transport": "ipc", "ip": "k", **ports}))
    with pytest.raises(ValueError, match="only 'tcp'"):
        relay.connection_ports(path)
