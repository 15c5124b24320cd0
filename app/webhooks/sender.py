"""One webhook HTTP attempt (DESIGN.md §12): the URL checked again, the connection made to the address that was
checked (never re-resolved), TLS verified against the URL's host, no redirect followed, a connect and a total
time limit, and at most 64 KiB of the reply read. No database here: the worker sends outside any transaction."""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from app.webhooks import ssrf

USER_AGENT = "Tillpoint-Webhooks/0.1"
CONNECT_SECONDS = 5.0
MAX_REPLY_BYTES = 64 * 1024
EXCERPT_BYTES = 1024


@dataclass(frozen=True)
class Limits:
    """How a delivery may reach its receiver."""

    total_seconds: float = 10.0
    connect_seconds: float = CONNECT_SECONDS
    allow_private: bool = False
    require_https: bool = True


@dataclass(frozen=True)
class Result:
    """What one attempt got: a status code, or the kind of error (timeout, connect, tls, network, dns,
    refused_address, redirect, status), the first 1 KiB of the reply, and Retry-After in seconds if given."""

    status_code: int | None
    error_kind: str | None
    excerpt: str | None
    duration_ms: int
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """Return True for a 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to one checked address, with the URL's host in the Host header and as the TLS server name."""

    def __init__(self, target: ssrf.Target, connect_seconds: float):
        super().__init__(target.host, target.port, timeout=connect_seconds)
        self.target = target
        if target.scheme == "https":
            self.default_port = 443  # so the Host header carries no :443

    def connect(self) -> None:
        sock = socket.create_connection((self.target.addresses[0], self.target.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.target.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.target.host)
        self.sock = sock


def send(url: str, body: bytes, headers: dict[str, str], limits: Limits) -> Result:
    """POST body to url after checking it again; return the Result (never raises for network trouble)."""
    started = time.monotonic()
    try:
        target = ssrf.check(url, limits.allow_private, limits.require_https)
    except ssrf.UnsafeUrl as exc:
        kind = "dns" if "does not resolve" in str(exc) else "refused_address"
        return Result(None, kind, str(exc)[:EXCERPT_BYTES], _ms_since(started))
    try:
        return _post(target, body, {**headers, "user-agent": USER_AGENT}, limits, started)
    except (UnicodeError, ValueError) as exc:  # a URL http.client cannot send: this endpoint's fault only
        return Result(None, "invalid_request", str(exc)[:EXCERPT_BYTES], _ms_since(started))


def _post(target: ssrf.Target, body: bytes, headers: dict[str, str], limits: Limits, started: float) -> Result:
    deadline = started + limits.total_seconds
    connection = _PinnedConnection(target, min(limits.connect_seconds, limits.total_seconds))
    # A receiver that trickles bytes could outlast every per-read timeout: shut the socket at the deadline.
    watchdog = threading.Timer(limits.total_seconds, _cut, args=(connection,))
    watchdog.start()
    try:
        connection.connect()
        connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        reply = response.read(MAX_REPLY_BYTES)
    except TimeoutError:
        return Result(None, "timeout", None, _ms_since(started))
    except ssl.SSLError as exc:
        return Result(None, "tls", str(exc)[:EXCERPT_BYTES], _ms_since(started))
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline - 0.01:  # the watchdog cut the socket
            return Result(None, "timeout", None, _ms_since(started))
        return Result(None, _network_kind(exc), str(exc)[:EXCERPT_BYTES] or type(exc).__name__, _ms_since(started))
    finally:
        watchdog.cancel()
        connection.close()
    status = response.status
    kind = None if 200 <= status < 300 else "redirect" if 300 <= status < 400 else "status"
    return Result(status, kind, reply[:EXCERPT_BYTES].decode("utf-8", "replace"), _ms_since(started),
                  retry_after(response.getheader("retry-after")) if status in (429, 503) else None)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return a Retry-After header (seconds or an HTTP date) as seconds from now, or None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment.timestamp() - (time.time() if now is None else now), 0.0)


def _cut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the attempt finished as the timer fired


def _network_kind(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    return "network"


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
