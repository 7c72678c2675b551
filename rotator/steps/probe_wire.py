"""One probe request on the wire: TCP to a checked address, TLS through memory buffers (so every
byte the server sends is seen and counted), the request, and the response head, all before one
deadline.

TLS 1.3 servers refuse a client certificate with an alert sent after the client's Finished; a
client that writes its request first can have that alert lost in a reset. So after a TLS 1.3
handshake the probe listens first, until the server's session ticket (it let the certificate
through) or an alert, EOF or reset (it did not), for at most :data:`LISTEN_FIRST` seconds. The
response head may be at most 64 KiB; of a 400's body at most 4 KiB is read, only to recognise
nginx's certificate-error page, and it is dropped right after.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import serialization

from rotator.errors import ProbeError
from rotator.hints import PROBE_TLS, PROBE_TLS_FIX
from rotator.steps import pkcs12
from rotator.steps.probe_verdict import MAX_BODY_READ, Answer, Reach, nginx_certificate_error

CONNECT_TIMEOUT = 10.0  # each address, within the attempt's deadline
LISTEN_FIRST = 1.0  # after a TLS 1.3 handshake: wait this long for a ticket or an alert
MAX_HEAD = 64 * 1024
# TLS alerts a server sends when it refuses the client certificate (OpenSSL's reason names).
CLIENT_CERT_ALERTS = (
    "ALERT_BAD_CERTIFICATE",
    "ALERT_UNKNOWN_CA",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_CERTIFICATE_REQUIRED",
    "ALERT_CERTIFICATE_EXPIRED",
    "ALERT_CERTIFICATE_REVOKED",
    "ALERT_UNSUPPORTED_CERTIFICATE",
    "ALERT_ACCESS_DENIED",
)  # not HANDSHAKE_FAILURE: a cipher or protocol mismatch sends it too (then: unknown)
_CLOSED = (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionError, EOFError)


class _Timeout(Exception):
    """The attempt's deadline passed."""


class _Conversation:
    """A TLS client over one socket, through memory buffers, against a deadline."""

    def __init__(
        self,
        sock: socket.socket,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        deadline: float,
        clock: Callable[[], float],
    ) -> None:
        self.sock, self.tls, self.incoming, self.outgoing = sock, tls, incoming, outgoing
        self.deadline, self.clock = deadline, clock
        self.received = 0  # bytes from the server, TLS records included

    def _left(self) -> float:
        left = self.deadline - self.clock()
        if left <= 0:
            raise _Timeout
        return left

    def flush(self) -> None:
        """Send what TLS has queued."""
        data = self.outgoing.read()
        if data:
            self.sock.settimeout(self._left())
            try:
                self.sock.sendall(data)
            except TimeoutError as exc:
                raise _Timeout from exc

    def fill(self, *, until: float | None = None) -> None:
        """Feed TLS the next bytes from the server (EOF included)."""
        left = self._left() if until is None else min(self._left(), until - self.clock())
        if left <= 0:
            raise _Timeout
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(16384)
        except TimeoutError as exc:
            raise _Timeout from exc
        self.received += len(chunk)
        if chunk:
            self.incoming.write(chunk)
        else:
            self.incoming.write_eof()

    def handshake(self) -> None:
        """Complete the TLS handshake."""
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
            else:
                self.flush()
                return

    def listen_first(self) -> bytes:
        """TLS 1.3: wait for a session ticket or a refusal before writing (what came is kept)."""
        until = min(self.deadline, self.clock() + LISTEN_FIRST)
        while True:
            try:
                early = self.tls.read(MAX_HEAD)  # application data before a request: kept
            except ssl.SSLWantReadError:
                session = self.tls.session
                if session is not None and session.has_ticket:
                    return b""  # the server let the certificate through
                try:
                    self.fill(until=until)
                except _Timeout:
                    if self.clock() >= self.deadline:
                        raise
                    return b""  # no ticket from this server: write now
                continue
            if not early:
                raise ConnectionResetError("closed before any status")
            return early

    def send(self, data: bytes) -> None:
        """Write ``data`` through TLS."""
        self.tls.write(data)
        self.flush()

    def read(self) -> bytes:
        """The next application bytes (b"" at a clean end)."""
        while True:
            try:
                return self.tls.read(16384)
            except ssl.SSLWantReadError:
                self.fill()
            except ssl.SSLZeroReturnError:
                return b""


def tls_context(
    cafile: str | None, extra: str | None, bundle: pkcs12.CertificateBundle | None
) -> ssl.SSLContext:
    """TLS that verifies the API's certificate (against ``cafile`` or the system's trust, and
    ``extra``) and, for a certificate probe, presents ``bundle``.

    Raises:
        ProbeError: this platform has no ``os.memfd_create`` (the key would need a file).
    """
    context = ssl.create_default_context(cafile=cafile)  # ROTATOR_CA_BUNDLE, else the system's
    if extra:  # ROTATOR_PROBE_CA_BUNDLE: trusted in addition
        context.load_verify_locations(cafile=extra)
    if bundle is not None:
        _load_client_certificate(context, bundle)
    return context


def _load_client_certificate(context: ssl.SSLContext, bundle: pkcs12.CertificateBundle) -> None:
    """Load key + chain through an anonymous in-memory file, closed (and zeroed) right after."""
    if not hasattr(os, "memfd_create"):
        raise ProbeError(
            "the certificate probe needs Linux (os.memfd_create), so that the private key never "
            "reaches a file; set the connector's probe to false on this platform"
        )
    pem = bytearray(
        bundle.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for cert in (bundle.leaf, *bundle.chain):
        pem += cert.public_bytes(serialization.Encoding.PEM)
    fd = os.memfd_create("rotator-probe", os.MFD_CLOEXEC)
    try:
        view = memoryview(pem)
        while view:
            view = view[os.write(fd, view) :]
        view.release()
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
        pem[:] = bytes(len(pem))


def exchange(
    addresses: Sequence[str],
    host: str,
    port: int,
    context: ssl.SSLContext,
    request: bytes,
    deadline: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Answer:
    """Send ``request`` to the first address that takes the connection; what came back."""
    sock, failure = None, "no address to connect to"
    for address in addresses:
        left = deadline - clock()
        if left <= 0:
            break
        try:
            sock = socket.create_connection((address, port), min(CONNECT_TIMEOUT, left))
            break
        except OSError as exc:
            failure = f"{type(exc).__name__}: {exc}"
    if sock is None:
        return Answer(Reach.UNREACHABLE, detail=f"no answer ({failure})")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host)
    talk = _Conversation(sock, tls, incoming, outgoing, deadline, clock)
    try:
        return _converse(talk, request)
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _converse(talk: _Conversation, request: bytes) -> Answer:
    """Handshake, listen, send, read: the answer, whatever goes wrong on the way."""
    stage = "during the TLS handshake"
    try:
        talk.handshake()
        stage = "after the TLS handshake"
        early = talk.listen_first() if talk.tls.version() == "TLSv1.3" else b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            talk.send(request)  # if the server is gone, read what it said first (an alert?)
        return _answer(talk, early)
    except _Timeout:
        if talk.received == 0:
            return Answer(Reach.UNREACHABLE, detail=f"no answer (timed out {stage})")
        return Answer(Reach.NO_STATUS, detail=f"no complete answer in time (timed out {stage})")
    except ssl.SSLCertVerificationError as exc:
        detail = f"{PROBE_TLS} ({exc.verify_message}); {PROBE_TLS_FIX}"
        return Answer(Reach.TLS_FAILED, detail=detail)
    except _CLOSED as exc:
        if talk.received == 0:
            return Answer(Reach.NO_STATUS, detail=f"the connection closed ({type(exc).__name__})")
        return Answer(
            Reach.CLOSED,
            detail=f"the server closed the connection {stage}, before any HTTP status",
        )
    except ssl.SSLError as exc:
        alert = str(exc.reason or exc)
        if alert.endswith(CLIENT_CERT_ALERTS):
            detail = f"TLS: the handshake refused the client certificate ({alert})"
            return Answer(Reach.TLS_ALERT, detail=detail)
        return Answer(Reach.NO_STATUS, detail=f"TLS failed ({alert})")
    except OSError as exc:
        return Answer(Reach.NO_STATUS, detail=f"no answer ({type(exc).__name__})")


def _answer(talk: _Conversation, head: bytes) -> Answer:
    """Read the response head (and of a 400, up to 4 KiB of body); closed before it: CLOSED."""
    while b"\r\n\r\n" not in head:
        if len(head) > MAX_HEAD:
            return Answer(Reach.NO_STATUS, detail="the answer's head is over 64 KiB")
        chunk = talk.read()
        if not chunk:
            if head:
                return Answer(Reach.NO_STATUS, detail="the answer ended before its head did")
            raise ConnectionResetError("closed before any status")
        head += chunk
    raw, _, body = head.partition(b"\r\n\r\n")
    if len(raw) > MAX_HEAD:
        return Answer(Reach.NO_STATUS, detail="the answer's head is over 64 KiB")
    status = _status(raw.split(b"\r\n", 1)[0])
    if status is None:
        return Answer(Reach.NO_STATUS, detail="the answer is not HTTP")
    if status == 400:
        wanted = min(MAX_BODY_READ, _content_length(raw))
        with contextlib.suppress(_Timeout, OSError, ssl.SSLError, EOFError):
            while len(body) < wanted:
                chunk = talk.read()
                if not chunk:
                    break
                body += chunk
        page = nginx_certificate_error(status, body)
        del body
        if page:
            return Answer(Reach.STATUS, 400, True, "HTTP 400: nginx's certificate-error page")
    if 300 <= status < 400:
        return Answer(Reach.STATUS, status, detail=f"HTTP {status}: a redirect, not followed")
    return Answer(Reach.STATUS, status, detail=f"HTTP {status}")


def _status(line: bytes) -> int | None:
    """The status of ``HTTP/1.x NNN reason``, or None."""
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
        return None
    return int(parts[1]) if parts[1].isdigit() else None


def _content_length(raw: bytes) -> int:
    """The head's Content-Length, or a large number when it has none (read to the end)."""
    for line in raw.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return MAX_BODY_READ
