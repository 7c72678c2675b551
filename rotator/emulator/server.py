"""HTTP(S) plumbing shared by the emulated services: threaded TLS servers, faults and the journal."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger("rotator.emulator")

ServiceName = Literal["graph", "vault", "identity", "entra", "api"]
FaultService = Literal["graph", "vault", "identity", "entra", "api", "*"]
SERVICES: tuple[str, ...] = ("graph", "vault", "identity", "entra", "api")
MAX_BODY_BYTES = 16 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 120.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request as a service sees it (header names lower-case)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    client_certificate: bytes | None = field(default=None, repr=False)  # DER, when presented

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        return self.headers.get(name.lower())

    def params(self) -> dict[str, str]:
        """Query parameters, first value wins, blank values kept."""
        result: dict[str, str] = {}
        for key, value in parse_qsl(self.query, keep_blank_values=True):
            result.setdefault(key, value)
        return result


@dataclass
class Response:
    """What a service answers; ``authorized`` records whether a valid bearer came with it."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    authorized: bool = False


def json_body(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as the real services send it."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


class Service(Protocol):
    """An emulated service: answers requests and builds its own error for an injected status."""

    name: str

    def handle(self, request: Request) -> Response:
        """Answer one request."""
        ...

    def fault(self, request: Request, status: int) -> Response:
        """Answer with ``status`` in this service's own error shape (fault injection, crashes)."""
        ...

    def authorized(self, request: Request) -> bool:
        """True when the request carries a valid credential for this service."""
        ...

    def tenant_of(self, request: Request) -> str | None:
        """The tenant the request acts in (lower-case), or None when the service cannot tell.

        Graph and Key Vault read it from a valid bearer token's ``tid``, the Entra token endpoint
        from its path; faults with a ``tenant`` match on it and the journal records it.
        """
        ...


@dataclass(frozen=True)
class JournalEntry:
    """One request a service received; never holds a body or a header value.

    ``tenant`` is the tenant the request acted in (see :meth:`Service.tenant_of`), None where
    the service cannot tell.
    """

    service: str
    method: str
    path: str
    query: str
    status: int
    authorized: bool
    started: float
    duration: float
    tenant: str | None = None


class Journal:
    """Thread-safe, append-only list of journal entries."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._entries: list[JournalEntry] = []

    def record(self, entry: JournalEntry) -> None:
        """Append one entry."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[JournalEntry]:
        """A copy of every entry, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


@dataclass
class Fault:
    """One injected fault; ``remaining`` counts down when ``times`` was given."""

    service: str
    method: str | None
    path: str
    status: int | None
    retry_after: str | None
    delay: float
    drop: bool
    remaining: int | None
    pattern: re.Pattern[str] = field(repr=False)
    after: int = 0  # let this many matching requests through untouched first
    lose_response: bool = False  # handle the request (a write lands), then drop the connection
    body: str | None = field(default=None, repr=False)  # answer this body instead (a bad answer)
    content_type: str = "application/json"
    tenant: str | None = None  # only requests acting in this tenant (lower-case)
    handled: bool = False  # with body: the service handles the request first (a write lands)
    every: int = 1  # applies to every n-th matching request (3: a third of them)
    seen: int = 0

    @property
    def terminal(self) -> bool:
        """True when the fault replaces the answer (a status, a body or a dropped connection)."""
        return self.drop or self.status is not None or self.lose_response or self.body is not None

    def matches(self, service: str, method: str, path: str, tenant: str | None = None) -> bool:
        """True when the fault applies to this request (acting in ``tenant``, if known)."""
        if self.service not in ("*", service):
            return False
        if self.tenant is not None and self.tenant != (tenant or "").lower():
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.pattern.search(path) is not None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (for the control surface)."""
        return {
            "service": self.service,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "drop": self.drop,
            "remaining": self.remaining,
            "after": self.after,
            "loseResponse": self.lose_response,
            "body": None if self.body is None else f"<{len(self.body)} characters>",
            "handled": self.handled,
            "contentType": self.content_type,
            "tenant": self.tenant,
        }


@dataclass(frozen=True)
class FaultDecision:
    """What the faults say about one request: wait, then answer normally, with a status, or drop."""

    delay: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    drop: bool = False
    lose_response: bool = False
    body: str | None = None
    content_type: str = "application/json"
    handled: bool = False


class Faults:
    """Injected faults for every service.

    For one request, every matching delay-only fault adds its delay; the first matching fault
    with a status or ``drop`` decides the answer. A fault with ``times`` is used up by the
    requests it applied to; unused terminal faults wait for later requests, so faults added in
    a row play out in that order.
    """

    def __init__(self) -> None:
        """Start with no fault."""
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        *,
        service: FaultService | str,
        method: str | None = None,
        path: str = ".*",
        status: int | None = None,
        retry_after: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = None,
        after: int = 0,
        lose_response: bool = False,
        body: str | None = None,
        content_type: str = "application/json",
        tenant: str | None = None,
        every: int = 1,
        handled: bool = False,
    ) -> None:
        """Inject a fault on the requests of ``service`` whose path matches ``path`` (re.search).

        ``every`` applies it to every n-th matching request only (3: a third of the calls).

        ``tenant`` limits the fault to requests acting in that tenant: on Graph and Key Vault
        the ``tid`` of a valid bearer token, on the Entra token endpoint the tenant of the path
        (a request whose tenant is unknown never matches).

        ``after`` lets that many matching requests through first (e.g. fault only the GET that
        verifies a write). ``lose_response`` handles the request (so a write lands) and then
        drops the connection without an answer: the ambiguous failure a client must survive.
        ``body`` answers that text (as ``content_type``, with ``status`` or 200) instead of the
        service: an answer of the wrong shape, type or size, as a hostile service might send.
        ``handled`` (with ``body``) lets the service handle the request first, so a write lands
        and only its answer is replaced: a success whose body the client cannot use.

        Raises:
            ValueError: unknown service, bad regex, status out of range, both status and drop,
                a negative delay, ``times`` below 1, or a fault that would do nothing.
        """
        if service not in (*SERVICES, "*"):
            raise ValueError(f"unknown service {service!r}: use graph, vault, identity, entra or *")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status")
        if status is not None and drop:
            raise ValueError("a fault either answers with a status or drops the connection")
        if delay < 0:
            raise ValueError("delay must not be negative")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for forever)")
        if after < 0:
            raise ValueError("after must not be negative")
        if lose_response and (drop or status is not None):
            raise ValueError("lose_response goes without status and drop")
        if body is not None and (drop or lose_response):
            raise ValueError("body goes without drop and lose_response")
        if handled and body is None:
            raise ValueError("handled goes with body")
        if status is None and body is None and not drop and not lose_response and delay == 0:
            raise ValueError("the fault does nothing: give status, body, delay or drop")
        if retry_after is not None and status is None:
            raise ValueError("retry_after needs a status")
        try:
            pattern = re.compile(path)
        except re.error as exc:
            raise ValueError(f"path is not a valid regular expression: {exc}") from exc
        fault = Fault(
            service=service,
            method=method.upper() if method else None,
            path=path,
            status=status,
            retry_after=retry_after,
            delay=float(delay),
            drop=drop,
            remaining=times,
            pattern=pattern,
            after=after,
            lose_response=lose_response,
            body=body,
            content_type=content_type,
            tenant=tenant.lower() if tenant else None,
            every=every,
            handled=handled,
        )
        if every < 1:
            raise ValueError("every must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The active faults, JSON-ready."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def decide(
        self, service: str, method: str, path: str, tenant: str | None = None
    ) -> FaultDecision:
        """Apply the faults to one request (acting in ``tenant``, if known) and use up the ones
        that applied."""
        with self._lock:
            delay = 0.0
            terminal: Fault | None = None
            applied: list[Fault] = []
            for fault in self._faults:
                if not fault.matches(service, method, path, tenant):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.seen += 1
                if fault.seen % fault.every:
                    continue
                if fault.terminal:
                    if terminal is not None:
                        continue
                    terminal = fault
                delay += fault.delay
                applied.append(fault)
            for fault in applied:
                if fault.remaining is not None:
                    fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        if terminal is None:
            return FaultDecision(delay=delay)
        return FaultDecision(
            delay=delay,
            status=terminal.status,
            retry_after=terminal.retry_after,
            drop=terminal.drop,
            lose_response=terminal.lose_response,
            body=terminal.body,
            content_type=terminal.content_type,
            handled=terminal.handled,
        )


class _Handler(BaseHTTPRequestHandler):
    """Turns one HTTP exchange into a :class:`Request`, applies faults, answers, journals."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    server_version = "rotator-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the emulator never writes request logs."""

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._dispatch()

    do_POST = do_GET
    do_PATCH = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET
    do_HEAD = do_GET
    do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        server: EmulatorHTTPServer = self.server  # type: ignore[assignment]
        service = server.service
        started = time.time()
        clock = time.perf_counter()
        target = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Response(400, b""))
            return
        request = Request(
            method=self.command.upper(),
            path=target.path or "/",
            query=target.query,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            client_certificate=(
                self.connection.getpeercert(binary_form=True)
                if isinstance(self.connection, ssl.SSLSocket)
                else None
            ),
        )
        tenant = service.tenant_of(request) if server.journal is not None else None
        decision = FaultDecision()
        if server.faults is not None:
            decision = server.faults.decide(service.name, request.method, request.path, tenant)
        if decision.delay:
            time.sleep(decision.delay)
        if decision.drop:
            authorized = service.authorized(request)
            self._record(server, request, 0, authorized, started, clock, tenant)
            self._drop()
            return
        if decision.body is not None:
            if decision.handled:  # the write lands; only its answer is replaced
                try:
                    service.handle(request)
                except Exception:
                    logger.exception(
                        "emulator.internal_error", extra={"emulator.service": service.name}
                    )
            # "{request}" in a body fault echoes the request's own body (JSON-escaped), as a
            # careless service may do in an error message
            echoed = json.dumps(request.body.decode("utf-8", "replace"))[1:-1]
            response = Response(
                decision.status or 200,
                decision.body.replace("{request}", echoed).encode("utf-8", "surrogatepass"),
                [("Content-Type", decision.content_type)],
            )
        elif decision.status is not None:
            response = service.fault(request, decision.status)
            if decision.retry_after is not None:
                response.headers.append(("Retry-After", decision.retry_after))
        else:
            try:
                response = service.handle(request)
            except Exception:
                logger.exception(
                    "emulator.internal_error", extra={"emulator.service": service.name}
                )
                response = service.fault(request, 500)
        if decision.lose_response:  # the request was handled; the answer never arrives
            self._record(server, request, 0, response.authorized, started, clock, tenant)
            self._drop()
            return
        # Journal first: a client that has its answer must find the request in the journal.
        self._record(server, request, response.status, response.authorized, started, clock, tenant)
        self._send(response, head=request.method == "HEAD")

    def _record(
        self,
        server: EmulatorHTTPServer,
        request: Request,
        status: int,
        authorized: bool,
        started: float,
        clock: float,
        tenant: str | None,
    ) -> None:
        if server.journal is None:
            return
        server.journal.record(
            JournalEntry(
                service=server.service.name,
                method=request.method,
                path=request.path,
                query=request.query,
                status=status,
                authorized=authorized,
                started=started,
                duration=time.perf_counter() - clock,
                tenant=tenant,
            )
        )

    def _send(self, response: Response, *, head: bool = False) -> None:
        status = response.status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"{self.protocol_version} {status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
        ]
        for name, value in response.headers:
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True
            else:
                lines.append(f"{name}: {value}")
        no_body = status in (204, 304) or status < 200
        if not no_body:
            lines.append(f"Content-Length: {len(response.body)}")
        lines.append(f"Connection: {'close' if self.close_connection else 'keep-alive'}")
        payload = b"" if no_body or head else response.body
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write for head and body: two small TLS records in a row stall on Nagle's algorithm.
        self.wfile.write(head_bytes + payload)
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1, TLS optional, that tracks and closes connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        port: int,
        *,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext] | None,
        faults: Faults | None,
        journal: Journal | None,
    ) -> None:
        """Bind to 127.0.0.1:``port`` (0 picks a free port); set :attr:`service` before serving.

        ``ssl_context`` may be a function: it is asked for the context of each new connection.
        """
        self.ssl_context = ssl_context
        self.faults = faults
        self.journal = journal
        self._service: Service | None = None
        # after a handshake: whether the connection goes on (given the client certificate, DER)
        self.admit: Callable[[bytes | None], bool] | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` does."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def service(self) -> Service:
        """The service this server answers for."""
        if self._service is None:
            raise RuntimeError("no service attached")
        return self._service

    @service.setter
    def service(self, value: Service) -> None:
        """Attach the service (once, before :meth:`start`)."""
        self._service = value

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Do the TLS handshake in the connection's own thread, then serve it."""
        connection: socket.socket = request
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            try:
                request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
                context = self.ssl_context
                if callable(context):
                    context = context()
                connection = context.wrap_socket(
                    request, server_side=True, do_handshake_on_connect=False
                )
            except OSError:
                request.close()
                return
            try:
                connection.do_handshake()
            except OSError:
                _lingering_close(connection)
                return
            if self.admit is not None and not self.admit(connection.getpeercert(binary_form=True)):
                _close_without_alert(connection)
                return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            _Handler(connection, client_address, self)
        except OSError:
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet on stderr; keep the traceback at debug level."""
        logger.debug("emulator.connection_error", exc_info=sys.exc_info())

    def start(self, name: str) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _lingering_close(sock: socket.socket) -> None:
    """Close after a failed handshake without resetting the connection: read what the client
    still sends (with TLS 1.3 its first request follows a client certificate the server refused)
    for up to a second, so the TLS alert already sent reaches it instead of a reset, as nginx's
    lingering close does."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    with contextlib.suppress(OSError):
        sock.close()


def _close_without_alert(sock: ssl.SSLSocket) -> None:
    """End a connection right after its handshake with no TLS alert and no close_notify, as
    uvicorn and hypercorn do with a client certificate they refuse."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # the TCP socket's: SSLSocket.shutdown sends no alert
    with contextlib.suppress(OSError):
        sock.close()


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2+) with the emulator's certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
