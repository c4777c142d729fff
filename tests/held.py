"""Blob PATCHes held open mid-body on raw sockets, for the tests of how many uploads run at once."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

# Over the sandbox server's 1 MiB read-ahead, so each PATCH reaches its app with the body still open.
SIZE = 2 * 1024 * 1024
FIRST = 256 * 1024  # past the endpoint worker's 64 KiB prefetch: each upload holds a thread from here on


class HeldPatch:
    """A PATCH of SIZE bytes to `location` (absolute or a path) whose head and first `first` bytes are sent."""

    def __init__(self, base_url: str, location: str, token: str, first: int = FIRST, size: int = SIZE):
        parts, target = urlsplit(base_url), urlsplit(location)
        path = target.path + (f"?{target.query}" if target.query else "")
        self.size, self.sent = size, first
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.sock.sendall(f"PATCH {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
                          f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n".encode()
                          + bytes(first))

    def finish(self) -> str:
        """Sends the rest of the body; returns the status line."""
        self.sock.sendall(bytes(self.size - self.sent))
        self.sent = self.size
        return self.status()

    def status(self) -> str:
        """The status line of the answer (upper case), waiting for it."""
        head = b""
        while b"\r\n" not in head:
            data = self.sock.recv(4096)
            if not data:
                break
            head += data
        return head.split(b"\r\n")[0].decode().upper()

    def close(self) -> None:
        self.sock.close()


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Polls until `predicate()` is true; False when `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
