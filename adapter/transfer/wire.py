"""HTTP/1.1 on one kept-alive connection: a request written, its answer read whole (the lean transport's wire).

http.client opens the connection (TCP, TLS with SNI and verification) and this module speaks on it.
http.client's own exchange parsed every answer's headers with the email package and made a file
object per answer: together more CPU than the rest of a registry call. Answers are read into one
buffer per connection; what is left over after an answer (nothing, from a well-behaved server) makes
the connection unfit for reuse. Failures are http.client's exception types, so callers map them as before.
"""

from __future__ import annotations

import http.client
import re

MAX_HEAD = 64 * 1024  # status line and headers of one answer
MAX_HEADERS = 100  # as http.client allows
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")  # what http.client refuses in a request target
_RECV = 64 * 1024
_STATUS = re.compile(r"[0-9]{3}")  # str.isdigit would take other scripts' digits


class Answer:
    """A whole answer: status, reason, headers in order (repeats kept), body, and whether the server closes."""

    __slots__ = ("status", "reason", "headers", "body", "will_close")

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, will_close: bool):
        self.status, self.reason, self.headers, self.body, self.will_close = status, reason, headers, body, will_close

    def header(self, name: str) -> str | None:
        """The first value of a header, by case-insensitive name."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def message(self) -> http.client.HTTPMessage:
        """The headers as http.client gives them (for requests' cookie handling)."""
        msg = http.client.HTTPMessage()
        for name, value in self.headers:
            msg[name] = value
        return msg


class Connection:
    """One connection to a host: `link` (an http.client connection) opens and closes it."""

    def __init__(self, link: http.client.HTTPConnection, host_header: str):
        self.link, self.host_header = link, host_header
        self.buf = bytearray()

    @property
    def sock(self):
        return self.link.sock

    def connect(self) -> None:
        self.link.connect()

    def close(self) -> None:
        self.link.close()
        self.buf.clear()

    # --- the request ----------------------------------------------------------------------------
    def exchange(self, method: str, target: str, headers, body, chunked: bool) -> Answer:
        """Sends the request (body: None, bytes or an iterable of bytes) and reads its answer whole."""
        if _NOT_IN_TARGET.search(target):
            raise http.client.InvalidURL(f"URL can't contain control characters or spaces: {target!r}")
        lines = [f"{method} {target} HTTP/1.1"]
        if not any(name.lower() == "host" for name, _ in headers):
            lines.append(f"Host: {self.host_header}")
        lines += [f"{name}: {value}" for name, value in headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock, cut = self.link.sock, False
        if body is None or isinstance(body, bytes):
            sock.sendall(head + body if body and len(body) < _RECV else head)
            if body and len(body) >= _RECV:
                sock.sendall(body)
        else:
            sock.sendall(head)
            try:
                self._send_pieces(body, chunked)
            except (BrokenPipeError, ConnectionResetError):
                cut = True  # the server answered before taking the whole body (a refusal): that answer counts
        answer = self._answer(method)
        answer.will_close = answer.will_close or cut or bool(self.buf)
        return answer

    def _send_pieces(self, body, chunked: bool) -> None:
        sock = self.link.sock
        for piece in body:
            if not chunked:
                sock.sendall(piece)
            elif len(piece):  # an empty chunk would end the body
                sock.sendall(f"{len(piece):X}\r\n".encode("ascii"))
                sock.sendall(piece)
                sock.sendall(b"\r\n")
        if chunked:
            sock.sendall(b"0\r\n\r\n")

    # --- the answer -----------------------------------------------------------------------------
    def _answer(self, method: str) -> Answer:
        while True:
            version, status, reason, headers = self._head()
            if not 100 <= status < 200 or status == 101:
                break  # interim answers (100 Continue, 103 Early Hints) are skipped
        fields = {}
        for name, value in headers:
            fields.setdefault(name.lower(), value)
        connection = fields.get("connection", "").lower()
        will_close = "close" in connection or (version != "HTTP/1.1" and "keep-alive" not in connection)
        if method == "HEAD" or status in (204, 304) or status < 200:
            return Answer(status, reason, headers, b"", will_close)
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return Answer(status, reason, headers, self._chunked(), will_close)
        length = _length(fields.get("content-length"))
        if length is None:
            return Answer(status, reason, headers, self._to_end(), True)
        return Answer(status, reason, headers, self._exactly(length), will_close)

    def _head(self) -> tuple[str, int, str, list[tuple[str, str]]]:
        while self.buf[:2] == b"\r\n" or self.buf[:1] == b"\n":  # stray line ends before an answer
            del self.buf[:2 if self.buf[:1] == b"\r" else 1]
        searched = 0
        while (end := _HEAD_END.search(self.buf, max(0, searched - 3))) is None:
            if len(self.buf) > MAX_HEAD:
                raise http.client.LineTooLong("answer head")
            searched = len(self.buf)
            if not self._fill():
                if not self.buf:
                    raise http.client.RemoteDisconnected("Remote end closed connection without response")
                raise http.client.IncompleteRead(bytes(self.buf))
        lines = bytes(self.buf[:end.start()]).decode("iso-8859-1").splitlines()
        del self.buf[:end.end()]
        version, status, reason = _status_line(lines[0])
        return version, status, reason, _headers(lines[1:])

    def _fill(self) -> bool:
        data = self.link.sock.recv(_RECV)
        self.buf += data
        return bool(data)

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise http.client.IncompleteRead(bytes(self.buf), n - len(self.buf))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise http.client.LineTooLong("chunk size")
            if not self._fill():
                raise http.client.IncompleteRead(bytes(self.buf))
        line = bytes(self.buf[:end + 1])
        del self.buf[:end + 1]
        return line

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise http.client.IncompleteRead(b"".join(parts)) from None
            if size == 0:
                break
            parts.append(self._exactly(size))
            self._line()  # the CRLF after the chunk
        while self._line().strip():  # trailer fields, up to the blank line
            pass
        return b"".join(parts)

    def _to_end(self) -> bytes:
        while self._fill():
            if len(self.buf) > 64 * 1024 * 1024:
                raise http.client.HTTPException("answer without a length is over 64 MiB")
        data = bytes(self.buf)
        self.buf.clear()
        return data


def _status_line(line: str) -> tuple[str, int, str]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not _STATUS.fullmatch(parts[1]):
        raise http.client.BadStatusLine(line)
    return parts[0], int(parts[1]), parts[2].strip() if len(parts) > 2 else ""


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and headers:  # an obsolete folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep and name and name == name.strip():
            headers.append((name, value.strip()))
    if len(headers) > MAX_HEADERS:
        raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
    return headers


def _length(value: str | None) -> int | None:
    """Content-Length as a number; None when absent or not one (then the body runs to the end)."""
    if value is None:
        return None
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not re.fullmatch(r"[0-9]+", next(iter(values))):
        return None
    return int(values.pop())
