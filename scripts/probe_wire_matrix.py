"""Measure what real servers do to a probe: server x credential -> what came over the wire, and the
verdict of rotator's probe as it is on this branch (``rotator.probe.attempt``), N runs each.

Starts nginx, Apache httpd, uvicorn, hypercorn and gunicorn on loopback (tests/integration/
real_servers.py: what each is configured to do), then per case:

- ``wire``: a plain ``ssl`` client that, like the probe, writes its request right after the
  handshake and then reads: the TLS alert (and in which phase), a close or reset before any HTTP
  status, or the status and the title / first bytes of the body;
- ``two writes`` and ``read first`` (only where ``wire`` saw no HTTP status): the same client
  writing the head and the body separately, as ``http.client`` (so the probe) does, and one
  reading for 0.5 s before writing, which is how a TLS 1.3 server's post-handshake alert can be
  caught;
- ``probe``: ``rotator.probe.attempt`` with the default probe configuration.

Run: ``.venv/bin/python scripts/probe_wire_matrix.py`` (as root, or with nginx and apache2
installed). ``PROBE_RUNS`` (default 20) sets the repetitions, ``PROBE_SERVERS`` a comma-separated
subset of families (nginx, apache, uvicorn, hypercorn, gunicorn). Prints a markdown table.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rotator import probe  # noqa: E402
from rotator.probe_config import ProbeConfig  # noqa: E402
from tests.integration.real_servers import (  # noqa: E402
    BASIC_PASSWORD,
    BASIC_SERVERS,
    BASIC_USER,
    FAMILIES,
    Certificates,
    RealServers,
    client_context,
)

CERTIFICATE_CASES = ("trusted", "untrusted", "not-pinned", "expired", "not-yet-valid", None)
BASIC_CASES = ("right", "wrong", "none")


def basic_header(case: str) -> str | None:
    """The Authorization header of a basic-auth case."""
    if case == "none":
        return None
    password = BASIC_PASSWORD if case == "right" else "wrong-" + BASIC_PASSWORD
    return "Basic " + base64.b64encode(f"{BASIC_USER}:{password}".encode()).decode()


def describe_body(status: int, body: bytes) -> str:
    """``HTTP 400 "400 The SSL certificate error"``: the status and the page's title or a start."""
    title = re.search(rb"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1).decode(errors="replace").strip()
    else:
        text = body.decode(errors="replace").strip()
        text = re.sub(r"^[0-9a-f]+\r\n", "", text)[:40]  # a chunk size line
    return f'HTTP {status} "{text}"'


def alert_name(exc: ssl.SSLError) -> str:
    """OpenSSL's reason without its protocol prefix: ``UNKNOWN_CA``, ``CERTIFICATE_REQUIRED``."""
    reason = str(exc.reason or exc)
    return re.sub(r"^(SSLV3|TLSV1|TLSV13)_ALERT_", "", reason)


def wire(
    servers: RealServers,
    url: str,
    credential: str | None,
    authorization: str | None,
    *,
    read_first: bool = False,
    split: bool = False,
) -> str:
    """One connection, classified: where it ended and how."""
    host, _, rest = url.removeprefix("https://").partition("/")
    address, _, port = host.partition(":")
    body = b'{"step": "PostAttributeCollection"}'
    head = f"POST /{rest} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    pieces = [head.encode() + b"\r\n", body] if split else [head.encode() + b"\r\n" + body]
    context = client_context(servers, credential)
    phase = "handshake"
    try:
        with socket.create_connection((address, int(port)), timeout=5) as sock:
            tls = context.wrap_socket(sock, server_hostname=address)
            version = tls.version() or "?"
            data = b""
            if read_first:
                phase = "read before writing"
                tls.settimeout(0.5)
                try:
                    data = tls.recv(4096)
                    if not data:
                        return f"{version}: closed after handshake (EOF), before any write"
                except TimeoutError:
                    pass
                tls.settimeout(5)
            phase = "write"
            for piece in pieces:  # http.client (the probe) writes the head, then the body
                tls.sendall(piece)
            phase = "read"
            while len(data) < 4096:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
            tls.close()
    except ssl.SSLCertVerificationError as exc:
        return f"server certificate not trusted ({exc.verify_message})"
    except ssl.SSLZeroReturnError:
        return f"close_notify in {phase}"
    except ssl.SSLEOFError:
        return f"EOF in {phase} (no close_notify)"
    except ssl.SSLError as exc:
        return f"alert {alert_name(exc)} in {phase}"
    except ConnectionResetError:
        return f"reset in {phase}"
    except BrokenPipeError:
        return f"broken pipe in {phase}"
    except TimeoutError:
        return f"timeout in {phase}"
    if not data:
        return f"{version}: closed after handshake (EOF), before any status"
    status_line, _, rest_bytes = data.partition(b"\r\n")
    _, _, body_bytes = rest_bytes.partition(b"\r\n\r\n")
    return describe_body(int(status_line.split()[1]), body_bytes)


def probe_today(
    servers: RealServers, url: str, credential: str | None, authorization: str | None
) -> str:
    """``rotator.probe.attempt`` as it is on this branch: verdict and its detail ("-" without a
    credential: rotator always presents one)."""
    network = probe.Network(str(servers.workdir / "server-ca.pem"), True, 5.0)
    if authorization is not None:
        user, _, password = base64.b64decode(authorization.split()[1]).decode().partition(":")
        cred = probe.Credential(username=user, password=password)
    elif credential is not None:
        cred = probe.Credential(bundle=servers.certificates.bundle(credential))
    else:
        return "-"  # rotator always presents a credential
    verdict, _, detail = probe.attempt(ProbeConfig(), url, cred, network)
    detail = re.sub(r"\(ConnectionResetError: .*\)", "(ConnectionResetError)", detail)
    detail = re.sub(r"\(RemoteDisconnected: .*\)", "(RemoteDisconnected)", detail)
    return f"{verdict.value}: {detail}"


def tally(results: list[str]) -> str:
    """``a 14x; b 6x``, most frequent first."""
    counts = Counter(results)
    return "; ".join(f"{what} {n}x" for what, n in counts.most_common())


def main() -> int:
    runs = int(os.environ.get("PROBE_RUNS", "20"))
    families = [f for f in os.environ.get("PROBE_SERVERS", ",".join(FAMILIES)).split(",") if f]
    started = time.monotonic()
    with RealServers(Certificates.make(), families) as servers:
        for family, why in servers.unavailable.items():
            print(f"# {family}: unavailable: {why}", file=sys.stderr)
        print(f"servers ready in {time.monotonic() - started:.1f} s; {runs} runs per cell\n")
        for family in families:
            for name, what in FAMILIES[family].items():
                if name in servers.urls:
                    print(f"- `{name}`: {what}")
        print()
        print(
            f"| server | credential | wire (write first, {runs} runs) | two writes | read first | probe today |"
        )
        print("|---|---|---|---|---|---|")
        for family in families:
            for name in FAMILIES[family]:
                if name not in servers.urls:
                    continue
                url = servers.urls[name]
                cases: list[tuple[str, str | None, str | None]]
                if name in BASIC_SERVERS:
                    cases = [(f"password {c}", None, basic_header(c)) for c in BASIC_CASES]
                else:
                    cases = [(c or "no certificate", c, None) for c in CERTIFICATE_CASES]
                for label, credential, authorization in cases:
                    seen = [wire(servers, url, credential, authorization) for _ in range(runs)]
                    split = early = "-"
                    if not all(s.startswith("HTTP") for s in seen):
                        split = tally(
                            [
                                wire(servers, url, credential, authorization, split=True)
                                for _ in range(runs)
                            ]
                        )
                        early = tally(
                            [
                                wire(servers, url, credential, authorization, read_first=True)
                                for _ in range(runs)
                            ]
                        )
                    verdicts = [
                        probe_today(servers, url, credential, authorization) for _ in range(runs)
                    ]
                    print(
                        f"| {name} | {label} | {tally(seen)} | {split} | {early} | {tally(verdicts)} |"
                    )
    print(f"\ntotal {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
