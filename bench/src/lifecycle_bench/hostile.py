"""Hostile HTTP clients: what issue 13 measured event-to-action latency under.

Each client loops, on a raw socket, over the requests that once stalled the orchestrator: a
1 MiB path, a 1 MiB header, a 60 KB customer key without a key (the old quadratic mask), a
1 MiB body, and a head sent slowly (slowloris); every answer's status is counted. Loops are
bounded by the context (stopped when it exits) and each socket by a timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

MIB = 1024 * 1024
SOCKET_TIMEOUT_S = 15.0


def hostile_requests(host: str) -> list[list[bytes]]:
    """The requests, each as the chunks it is sent in (a pause between chunks)."""
    head = f"Host: {host}\r\n".encode()
    return [
        [b"GET /v1/customers/" + b"A" * MIB + b" HTTP/1.1\r\n" + head + b"\r\n"],
        [b"GET /v1/segments HTTP/1.1\r\n" + head + b"X-Pad: " + b"B" * MIB + b"\r\n\r\n"],
        [b"GET /v1/customers/" + b"A" * 60_000 + b" HTTP/1.1\r\n" + head + b"\r\n"],
        [
            b"POST /v1/session HTTP/1.1\r\n" + head
            + f"Content-Length: {MIB}\r\n\r\n".encode() + b"C" * MIB
        ],
        [b"GET /v1/segments HTTP/1.1\r\n", head, b"X-Slow: 1\r\n", b"X-Slow: 2\r\n"],
    ]  # fmt: skip


def send(host: str, port: int, chunks: list[bytes], pause_s: float) -> int | None:
    """Send one request; the status it was answered with (None: no answer, connection gone)."""
    try:
        with socket.create_connection((host, port), timeout=SOCKET_TIMEOUT_S) as connection:
            for index, chunk in enumerate(chunks):
                if index:
                    time.sleep(pause_s)  # slowloris: the head arrives a piece at a time
                connection.sendall(chunk)
            answer = connection.recv(64)
    except OSError:
        return None
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@contextmanager
def hostile_clients(url: str, count: int, pause_s: float = 1.0) -> Iterator[Counter[int | None]]:
    """``count`` threads sending hostile requests to ``url`` until the block ends; the answers
    by status (filled in as they come)."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    requests = hostile_requests(f"{host}:{port}")
    answers: Counter[int | None] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def run(offset: int) -> None:
        sent = offset
        while not stop.is_set():
            status = send(host, port, requests[sent % len(requests)], pause_s)
            sent += 1
            with lock:
                answers[status] += 1

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=SOCKET_TIMEOUT_S + 5)
