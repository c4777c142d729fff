"""unresolved(): a host name that does not resolve is told apart from other connection failures."""

from __future__ import annotations

import socket
import ssl

import requests

from adapter.transfer.errors import unresolved


def test_a_gaierror_inside_requests_wrapping_is_unresolved():
    inner = socket.gaierror(-2, "Name or service not known")
    wrapped = requests.ConnectionError(OSError("connect failed"))
    wrapped.__context__ = inner
    assert unresolved(wrapped)
    assert unresolved(requests.ConnectionError(inner))


def test_an_ssl_error_whose_reason_is_a_string_is_not_unresolved():
    # ssl.SSLError carries `reason` as a string; looking into it must not fail.
    err = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    err.reason = "WRONG_VERSION_NUMBER"
    assert not unresolved(requests.ConnectionError(err))
    assert not unresolved(requests.ConnectionError(ConnectionRefusedError(111, "refused")))
