"""Real HTTPS servers on loopback for the probe: nginx, Apache httpd, uvicorn, hypercorn, gunicorn.

Each server runs from a configuration written into a temporary directory, listens on 127.0.0.1
only, and is stopped (its whole process group) when the :class:`RealServers` context ends.
The Python servers get a socket this process bound to port 0 (``--fd`` / ``fd://``), so their
port is never raced; nginx and Apache get a free port and are restarted on another one if it was
taken meanwhile. Every certificate and key is generated here, at run time.

Used by ``tests/integration/test_probe_real_servers.py`` (the verdicts) and
``scripts/probe_wire_matrix.py`` (what each server does on the wire).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.emulator import pki
from rotator.steps import pkcs12

REPO = Path(__file__).resolve().parents[2]
APP = "tests.integration.real_server_app"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
BASIC_USER = "api-user"
BASIC_PASSWORD = "right-horse-battery"  # a throwaway test password, hashed into htpasswd
APACHE_MODULES = Path("/usr/lib/apache2/modules")

# The families a test can ask for, and the servers (name → what it is) each family starts.
FAMILIES: dict[str, dict[str, str]] = {
    "nginx": {
        "nginx-on": "nginx ssl_verify_client on",
        "nginx-optional-if": "nginx optional + if ($ssl_client_verify != SUCCESS) {return 403;}",
        "nginx-no-ca-map": "nginx optional_no_ca + map $ssl_client_fingerprint",
        "nginx-error-page": "nginx on + error_page 495 496 =403",
        "nginx-basic-api": "nginx auth_basic + proxy_pass to an API",
        "nginx-basic-static": "nginx auth_basic + a static file",
        "nginx-arr": "nginx optional_no_ca forwarding X-ARR-ClientCert to an API (App Service)",
        "nginx-no-client-auth": "nginx asking for no client certificate: 200 to everyone",
        "nginx-validation-error": "nginx optional_no_ca: B2C's 400 ValidationError to everyone",
        "nginx-outage": "nginx optional_no_ca: 503 to everyone",
    },
    "apache": {
        "apache-tls13": "Apache SSLVerifyClient require, TLS 1.3",
        "apache-tls12": "Apache SSLVerifyClient require, TLS 1.2 only",
    },
    "uvicorn": {"uvicorn": "uvicorn --ssl-cert-reqs 2"},
    "hypercorn": {"hypercorn": "hypercorn --verify-mode CERT_REQUIRED"},
    "gunicorn": {"gunicorn": "gunicorn (sync) --cert-reqs 2"},
}
BASIC_SERVERS = frozenset({"nginx-basic-api", "nginx-basic-static"})
PATHS = {"nginx-basic-static": "/static/probe.json", "nginx-arr": "/arr"}


class ServerUnavailable(RuntimeError):
    """A server could not be installed or started here (the message says which and why)."""


# -- certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """The CA the servers trust, their own certificate's CA, and the client certificates:
    ``trusted`` (and pinned), ``untrusted`` (another CA), ``not-pinned`` (trusted CA, not in the
    pin lists), ``expired`` and ``not-yet-valid`` (trusted CA, pinned)."""

    server_ca: pki.Issued
    client_ca: pki.Issued
    other_ca: pki.Issued
    server: pki.Issued
    clients: dict[str, pki.Issued] = field(repr=False)

    @classmethod
    def make(cls) -> Certificates:
        """Fresh CAs, a server certificate for 127.0.0.1 / localhost and the five clients."""
        now = pki.utcnow()
        day = dt.timedelta(days=1)
        server_ca = pki.make_ca("probe servers: server CA")
        client_ca = pki.make_ca("probe servers: client CA")
        other_ca = pki.make_ca("probe servers: another CA")
        clients = {
            "trusted": pki.make_leaf("trusted client", issuer=client_ca),
            "untrusted": pki.make_leaf("client of another CA", issuer=other_ca),
            "not-pinned": pki.make_leaf("not pinned client", issuer=client_ca),
            "expired": pki.make_leaf(
                "expired client", issuer=client_ca, not_before=now - 60 * day, not_after=now - day
            ),
            "not-yet-valid": pki.make_leaf(
                "future client", issuer=client_ca, not_before=now + day, not_after=now + 400 * day
            ),
        }
        server = pki.make_server_certificate(server_ca, ("localhost", "127.0.0.1"))
        return cls(server_ca, client_ca, other_ca, server, clients)

    @property
    def pinned(self) -> list[str]:
        """Thumbprints the pinning servers accept (upper-case SHA-1)."""
        return [self.clients[n].thumbprint for n in ("trusted", "expired", "not-yet-valid")]

    def bundle(self, name: str) -> pkcs12.CertificateBundle:
        """Client ``name`` as the probe presents it: leaf, key and its CA as the chain."""
        issued = self.clients[name]
        issuer = self.other_ca if name == "untrusted" else self.client_ca
        key = issued.key
        assert isinstance(key, rsa.RSAPrivateKey)
        return pkcs12.CertificateBundle(issued.certificate, key, (issuer.certificate,))


def _pem(certificate: pki.Issued) -> bytes:
    return certificate.certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(certificate: pki.Issued) -> bytes:
    return certificate.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def htpasswd_ssha(user: str, password: str) -> str:
    """One htpasswd line in the ``{SSHA}`` scheme nginx reads."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port free right now (nginx and Apache bind it themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bound_socket() -> socket.socket:
    """A listening loopback socket on a port the kernel chose, inheritable by a child."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM to the process group, then SIGKILL after a bound."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(STOP_TIMEOUT)
        # a daemonized child left in the group (none expected) is ended with it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self) -> str:
        """The end of the server's log, for a message."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-4:])


# -- the servers ----------------------------------------------------------------------------


class RealServers:
    """Starts the requested server families; ``urls[name]`` is each server's probe URL."""

    def __init__(self, certificates: Certificates, families: Sequence[str] = tuple(FAMILIES)):
        """Nothing runs until the context is entered."""
        self.certificates = certificates
        self.families = tuple(families)
        self.urls: dict[str, str] = {}
        self.unavailable: dict[str, str] = {}  # family → why
        self._processes: list[_Process] = []
        self._dir: Path | None = None

    # lifecycle

    def __enter__(self) -> RealServers:
        """Write the files, start every family (in parallel), wait until each answers."""
        # 0755 under /tmp: nginx and Apache workers may run as another user than this one.
        self._dir = Path(tempfile.mkdtemp(prefix="rotator-real-servers-"))
        self._dir.chmod(0o755)
        try:
            self._write_files()
            pending: list[tuple[str, _Process, list[str]]] = []
            for family in self.families:
                try:
                    process, names = self._start(family)
                except ServerUnavailable as exc:
                    self.unavailable[family] = str(exc)
                    continue
                pending.append((family, process, names))
            for family, process, names in pending:
                try:
                    self._wait_ready(process, names)
                except ServerUnavailable as exc:
                    self.unavailable[family] = str(exc)
                    for name in names:
                        self.urls.pop(name, None)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        """Stop every process (process group, bounded) and remove the directory."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def workdir(self) -> Path:
        """The temporary directory of configurations, certificates and logs."""
        if self._dir is None:
            raise RuntimeError("the servers are not started")
        return self._dir

    def context(self, credential: str | None) -> ssl.SSLContext:
        """A client context trusting the servers and presenting client ``credential``."""
        client = self.certificates.clients[credential] if credential else None
        return client_context(
            self.workdir / "server-ca.pem", client, self.workdir, credential or ""
        )

    # files

    def _write_files(self) -> None:
        d, certs = self.workdir, self.certificates
        _write(d / "server.pem", _pem(certs.server) + _pem(certs.server_ca))
        _write(d / "server.key", _key_pem(certs.server), 0o600)
        _write(d / "client-ca.pem", _pem(certs.client_ca))
        _write(d / "server-ca.pem", _pem(certs.server_ca))
        _write(d / "htpasswd", htpasswd_ssha(BASIC_USER, BASIC_PASSWORD).encode())
        (d / "static").mkdir(mode=0o755)
        _write(d / "static" / "probe.json", b'{"version": "1.0.0", "action": "Continue"}\n')
        (d / "nginx-temp").mkdir(mode=0o755)
        (d / "apache-run").mkdir(mode=0o755)

    def _spawn(
        self,
        name: str,
        argv: list[str],
        *,
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
    ) -> _Process:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, **(env or {})},
                pass_fds=tuple(pass_fds),
                start_new_session=True,  # its own process group, stopped whole
            )
        process = _Process(name, popen, log)
        self._processes.append(process)
        return process

    def _start(self, family: str) -> tuple[_Process, list[str]]:
        starters = {
            "nginx": self._start_nginx,
            "apache": self._start_apache,
            "uvicorn": self._start_uvicorn,
            "hypercorn": self._start_hypercorn,
            "gunicorn": self._start_gunicorn,
        }
        return starters[family]()

    def _upstream(self) -> Path:
        """The plain-HTTP API behind nginx and Apache: uvicorn on a unix socket (started once)."""
        sock = self.workdir / "upstream.sock"
        if any(p.name == "upstream" for p in self._processes):
            return sock
        process = self._spawn(
            "upstream",
            [sys.executable, "-m", "uvicorn", f"{APP}:app", "--uds", str(sock)],
            env={"PROBE_APP_PINNED": ",".join(self.certificates.pinned)},
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not sock.exists():
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise ServerUnavailable(f"the upstream API did not start: {process.tail()}")
            time.sleep(0.05)
        sock.chmod(0o666)  # Apache's workers run as www-data
        return sock

    def _start_nginx(self) -> tuple[_Process, list[str]]:
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if binary is None:
            raise ServerUnavailable("nginx is not installed (apt-get install nginx)")
        upstream = self._upstream()
        for _ in range(3):
            ports = {name: free_port() for name in FAMILIES["nginx"]}
            conf = self.workdir / "nginx.conf"
            conf.write_text(self._nginx_conf(ports, upstream))
            process = self._spawn("nginx", [binary, "-c", str(conf), "-p", str(self.workdir)])
            if not self._lost_port_race(process):
                names = list(ports)
                for name, port in ports.items():
                    self.urls[name] = f"https://127.0.0.1:{port}{PATHS.get(name, '/validate')}"
                return process, names
        raise ServerUnavailable(f"nginx did not start: {process.tail()}")

    def _nginx_conf(self, ports: dict[str, int], upstream: Path) -> str:
        d = self.workdir
        pins = "\n".join(f"        {t.lower()} 1;" for t in self.certificates.pinned)
        continue_body = '\'{"version":"1.0.0","action":"Continue"}\''
        ok = f"default_type application/json; return 200 {continue_body};"
        validation = (
            '\'{"version":"1.0.0","action":"ValidationError","status":400,'
            '"userMessage":"Please check your input."}\''
        )
        tls = (
            f"ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key; "
            f"ssl_client_certificate {d}/client-ca.pem; ssl_verify_depth 2;"
        )
        user = "user root;" if os.geteuid() == 0 else ""
        temp = " ".join(
            f"{kind}_temp_path {d}/nginx-temp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        up = f"http://unix:{upstream}:"
        return f"""
{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    {temp}
    map $ssl_client_fingerprint $pinned {{
        default 0;
{pins}
    }}
    server {{ listen 127.0.0.1:{ports["nginx-on"]} ssl; {tls}
        ssl_verify_client on;
        location / {{ {ok} }} }}
    server {{ listen 127.0.0.1:{ports["nginx-optional-if"]} ssl; {tls}
        ssl_verify_client optional;
        location / {{ if ($ssl_client_verify != SUCCESS) {{ return 403; }} {ok} }} }}
    server {{ listen 127.0.0.1:{ports["nginx-no-ca-map"]} ssl; {tls}
        ssl_verify_client optional_no_ca;
        location / {{ if ($pinned = 0) {{ return 403; }} {ok} }} }}
    server {{ listen 127.0.0.1:{ports["nginx-error-page"]} ssl; {tls}
        ssl_verify_client on;
        error_page 495 496 =403 @certificate;
        location @certificate {{ default_type application/json; return 403 '{{"error":"client certificate"}}'; }}
        location / {{ {ok} }} }}
    server {{ listen 127.0.0.1:{ports["nginx-basic-api"]} ssl; {tls}
        location / {{ auth_basic "api"; auth_basic_user_file {d}/htpasswd; proxy_pass {up}; }} }}
    server {{ listen 127.0.0.1:{ports["nginx-basic-static"]} ssl; {tls}
        location /static/ {{ auth_basic "api"; auth_basic_user_file {d}/htpasswd; alias {d}/static/; }} }}
    server {{ listen 127.0.0.1:{ports["nginx-arr"]} ssl; {tls}
        ssl_verify_client optional_no_ca;
        location / {{ proxy_set_header X-ARR-ClientCert $ssl_client_escaped_cert; proxy_pass {up}; }} }}
    server {{ listen 127.0.0.1:{ports["nginx-no-client-auth"]} ssl; {tls}
        location / {{ {ok} }} }}
    server {{ listen 127.0.0.1:{ports["nginx-validation-error"]} ssl; {tls}
        ssl_verify_client optional_no_ca;
        location / {{ default_type application/json; return 400 {validation}; }} }}
    server {{ listen 127.0.0.1:{ports["nginx-outage"]} ssl; {tls}
        ssl_verify_client optional_no_ca;
        location / {{ return 503; }} }}
}}
"""

    def _start_apache(self) -> tuple[_Process, list[str]]:
        binary = shutil.which("apache2") or (
            "/usr/sbin/apache2" if Path("/usr/sbin/apache2").exists() else None
        )
        if binary is None or not APACHE_MODULES.is_dir():
            raise ServerUnavailable("Apache httpd is not installed (apt-get install apache2)")
        upstream = self._upstream()
        for _ in range(3):
            ports = {name: free_port() for name in FAMILIES["apache"]}
            conf = self.workdir / "apache.conf"
            conf.write_text(self._apache_conf(ports, upstream))
            process = self._spawn(
                "apache", [binary, "-f", str(conf), "-d", str(self.workdir), "-D", "FOREGROUND"]
            )
            if not self._lost_port_race(process):
                for name, port in ports.items():
                    self.urls[name] = f"https://127.0.0.1:{port}/validate"
                return process, list(ports)
        raise ServerUnavailable(f"Apache did not start: {process.tail()}")

    def _apache_conf(self, ports: dict[str, int], upstream: Path) -> str:
        d, m = self.workdir, APACHE_MODULES
        modules = "\n".join(
            f"LoadModule {name}_module {m}/mod_{name}.so"
            for name in ("mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http")
        )
        user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
        hosts = []
        for name, protocol in (
            ("apache-tls13", "-all +TLSv1.3"),
            ("apache-tls12", "-all +TLSv1.2"),
        ):
            hosts.append(f"""
Listen 127.0.0.1:{ports[name]}
<VirtualHost 127.0.0.1:{ports[name]}>
    SSLEngine on
    SSLProtocol {protocol}
    SSLCertificateFile {d}/server.pem
    SSLCertificateKeyFile {d}/server.key
    SSLCACertificateFile {d}/client-ca.pem
    SSLVerifyClient require
    SSLVerifyDepth 2
    ProxyPass / unix:{upstream}|http://localhost/
</VirtualHost>""")
        return f"""
{modules}
ServerName localhost
ServerRoot {d}
PidFile {d}/apache.pid
DefaultRuntimeDir {d}/apache-run
Mutex file:{d}/apache-run default
ErrorLog {d}/apache-error.log
LogLevel warn
{user}
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
SSLSessionCache none
{"".join(hosts)}
"""

    def _lost_port_race(self, process: _Process) -> bool:
        """True when the server exited at once because its port was taken (start again)."""
        time.sleep(0.3)
        if process.popen.poll() is None:
            return False
        if "in use" in process.tail():
            self._processes.remove(process)
            return True
        return False

    def _python_server(self, name: str, argv: list[str]) -> tuple[_Process, list[str]]:
        sock = bound_socket()
        try:
            fd = sock.fileno()
            args = [a.replace("{fd}", str(fd)) for a in argv]
            process = self._spawn(name, [sys.executable, "-m", *args], pass_fds=[fd])
        finally:
            port = sock.getsockname()[1]
            sock.close()  # the child holds its own copy
        self.urls[name] = f"https://127.0.0.1:{port}/validate"
        return process, [name]

    def _tls_args(self) -> dict[str, str]:
        d = self.workdir
        return {"cert": f"{d}/server.pem", "key": f"{d}/server.key", "ca": f"{d}/client-ca.pem"}

    def _start_uvicorn(self) -> tuple[_Process, list[str]]:
        t = self._tls_args()
        return self._python_server(
            "uvicorn",
            ["uvicorn", f"{APP}:app", "--fd", "{fd}", "--ssl-certfile", t["cert"],
             "--ssl-keyfile", t["key"], "--ssl-ca-certs", t["ca"], "--ssl-cert-reqs", "2",
             "--log-level", "warning"],
        )  # fmt: skip

    def _start_hypercorn(self) -> tuple[_Process, list[str]]:
        t = self._tls_args()
        return self._python_server(
            "hypercorn",
            ["hypercorn", "--bind", "fd://{fd}", "--certfile", t["cert"], "--keyfile", t["key"],
             "--ca-certs", t["ca"], "--verify-mode", "CERT_REQUIRED", f"{APP}:app"],
        )  # fmt: skip

    def _start_gunicorn(self) -> tuple[_Process, list[str]]:
        t = self._tls_args()
        return self._python_server(
            "gunicorn",
            ["gunicorn", "--bind", "fd://{fd}", "--workers", "1", "--certfile", t["cert"],
             "--keyfile", t["key"], "--ca-certs", t["ca"], "--cert-reqs", "2",
             f"{APP}:wsgi_app"],
        )  # fmt: skip

    def _wait_ready(self, process: _Process, names: list[str]) -> None:
        """Until each server answers a trusted client over HTTPS (any status), bounded."""
        deadline = time.monotonic() + START_TIMEOUT
        for name in names:
            url = self.urls[name]
            while True:
                if process.popen.poll() is not None:
                    raise ServerUnavailable(f"{process.name} exited: {process.tail()}")
                seen = wire_outcome(url, self.context("trusted"), timeout=2.0)
                if seen.startswith("HTTP"):
                    break
                if time.monotonic() > deadline:
                    raise ServerUnavailable(
                        f"{process.name} did not answer within {START_TIMEOUT:.0f} s "
                        f"({seen}): {process.tail()}"
                    )
                time.sleep(0.1)


# -- a plain client, for readiness and the wire measurement ----------------------------------


def client_context(
    ca_file: Path, client: pki.Issued | None, workdir: Path, label: str = "client"
) -> ssl.SSLContext:
    """TLS trusting ``ca_file`` and presenting ``client`` (None: no certificate); the client's
    key goes to a 0600 file in ``workdir`` (a throwaway test key)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if client is not None:
        path = workdir / f"client-{label}-{client.thumbprint[:12]}.pem"
        if not path.exists():
            _write(path, _key_pem(client) + _pem(client), 0o600)
        context.load_cert_chain(str(path))
    return context


def alert_name(exc: ssl.SSLError) -> str:
    """OpenSSL's reason without its protocol prefix: ``UNKNOWN_CA``, ``CERTIFICATE_REQUIRED``."""
    reason = str(exc.reason or exc)
    return re.sub(r"^(SSLV3|TLSV1|TLSV13)_ALERT_", "", reason)


def describe_answer(status: int, body: bytes) -> str:
    """``HTTP 400 "400 The SSL certificate error"``: the status and the page's title, or the
    first 40 characters of the body."""
    title = re.search(rb"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1).decode(errors="replace").strip()
    else:
        text = body.decode(errors="replace").strip()
        text = re.sub(r"^[0-9a-f]+\r\n", "", text)[:40]  # a chunk-size line
    return f'HTTP {status} "{text}"'


def wire_outcome(
    url: str,
    context: ssl.SSLContext,
    *,
    authorization: str | None = None,
    read_first: bool = False,
    split: bool = False,
    timeout: float = 5.0,
) -> str:
    """One POST over a fresh connection, classified: ``HTTP 400 "…"``, ``alert UNKNOWN_CA in
    read``, ``closed after handshake``, ``reset in write``...

    ``read_first`` reads for 0.5 s after the handshake before writing (a TLS 1.3 server's alert
    arrives then); ``split`` writes head and body separately, as ``http.client`` does.
    """
    host, _, rest = url.removeprefix("https://").partition("/")
    address, _, port = host.partition(":")
    body = b'{"step": "PostAttributeCollection"}'
    head = f"POST /{rest} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    whole = head.encode() + b"\r\n"
    pieces = [whole, body] if split else [whole + body]
    phase = "connect"
    data = b""
    try:
        with socket.create_connection((address, int(port)), timeout=timeout) as sock:
            phase = "handshake"
            with context.wrap_socket(sock, server_hostname=address) as tls:
                if read_first:
                    phase = "read before writing"
                    tls.settimeout(0.5)
                    try:
                        if not tls.recv(4096):
                            return "closed after handshake"
                    except TimeoutError:
                        pass
                    tls.settimeout(timeout)
                phase = "write"
                for piece in pieces:
                    tls.sendall(piece)
                phase = "read"
                while len(data) < 4096:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
    except ssl.SSLCertVerificationError as exc:
        return f"server certificate not trusted ({exc.verify_message})"
    except ssl.SSLZeroReturnError:
        return f"close_notify in {phase}"
    except ssl.SSLEOFError:
        return f"EOF in {phase}"
    except ssl.SSLError as exc:
        return f"alert {alert_name(exc)} in {phase}"
    except ConnectionResetError:
        return f"reset in {phase}"
    except OSError as exc:
        return f"{type(exc).__name__} in {phase}"
    if not data:
        return "closed after handshake"
    status_line, _, rest_bytes = data.partition(b"\r\n")
    _, _, body_bytes = rest_bytes.partition(b"\r\n\r\n")
    return describe_answer(int(status_line.split()[1]), body_bytes)


def url_of(servers: RealServers, name: str) -> str:
    """The URL of server ``name``, or :func:`not_here` with why its family is not running."""
    if name in servers.urls:
        return servers.urls[name]
    family = next(f for f, names in FAMILIES.items() if name in names)
    why = servers.unavailable.get(family, f"{family} was not started")
    not_here(f"real server {name} is not available here: {why}")


def not_here(message: str) -> NoReturn:
    """A real server the test needs is missing: on CI (``CI=true``) the test fails with that one
    line, elsewhere it is skipped with it.

    Raises:
        pytest.fail.Exception / pytest.skip.Exception: always.
    """
    import pytest  # only the tests need it; the measurement script runs without pytest

    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
