"""What real servers do, on the wire, to a client certificate or password they refuse: the facts
the probe's verdicts and the emulator's API side rest on (measured by
``scripts/probe_wire_matrix.py``; here each case once, the racing ones read before writing).

The servers run on loopback (tests/integration/real_servers.py); on CI a server that cannot start
fails its tests, elsewhere they skip and say why.
"""

from __future__ import annotations

import base64
import re

import pytest

from .real_servers import BASIC_PASSWORD, BASIC_USER, RealServers, not_here, url_of, wire_outcome

CERTIFICATES = ("trusted", "untrusted", "not-pinned", "expired", "not-yet-valid", None)
OK = "HTTP 200"
BAD = "nginx 400 certificate error"
NONE = "nginx 400 no certificate"
CLOSED = "closed after handshake"

# server → what it does with each of CERTIFICATES, in that order
EXPECTED: dict[str, tuple[str, ...]] = {
    "nginx-on": (OK, BAD, OK, BAD, BAD, NONE),
    "nginx-optional-if": (OK, BAD, OK, BAD, BAD, "HTTP 403"),
    "nginx-no-ca-map": (OK, "HTTP 403", "HTTP 403", BAD, BAD, "HTTP 403"),
    "nginx-error-page": (OK, "HTTP 403", OK, "HTTP 403", "HTTP 403", "HTTP 403"),
    "nginx-arr": (OK, "HTTP 403", "HTTP 403", BAD, BAD, "HTTP 403"),
    "nginx-no-client-auth": (OK, OK, OK, OK, OK, OK),
    "nginx-validation-error": ("HTTP 400", "HTTP 400", "HTTP 400", BAD, BAD, "HTTP 400"),
    "nginx-outage": ("HTTP 503", "HTTP 503", "HTTP 503", BAD, BAD, "HTTP 503"),
    "apache-tls13": (
        OK,
        "alert UNKNOWN_CA",
        OK,
        "alert CERTIFICATE_EXPIRED",
        "alert BAD_CERTIFICATE",
        "alert CERTIFICATE_REQUIRED",
    ),
    "apache-tls12": (
        OK,
        "alert UNKNOWN_CA",
        OK,
        "alert CERTIFICATE_EXPIRED",
        "alert BAD_CERTIFICATE",
        "alert HANDSHAKE_FAILURE",
    ),
    "uvicorn": (OK, CLOSED, OK, CLOSED, CLOSED, CLOSED),
    "hypercorn": (OK, CLOSED, OK, CLOSED, CLOSED, CLOSED),
    "gunicorn": (
        OK,
        "alert UNKNOWN_CA",
        OK,
        "alert CERTIFICATE_EXPIRED",
        "alert BAD_CERTIFICATE",
        "alert CERTIFICATE_REQUIRED",
    ),
}
CASES = [
    pytest.param(server, credential, expected, id=f"{server}-{credential or 'none'}")
    for server, outcomes in EXPECTED.items()
    for credential, expected in zip(CERTIFICATES, outcomes, strict=True)
]


def token(outcome: str) -> str:
    """A wire outcome in the words of EXPECTED: nginx's two 400 pages named, the phase dropped."""
    if outcome.startswith('HTTP 400 "400 The SSL certificate error"'):
        return BAD
    if outcome.startswith('HTTP 400 "400 No required SSL certificate was sent"'):
        return NONE
    if outcome.startswith("HTTP"):
        return outcome.split('"')[0].strip()
    if outcome.startswith("alert"):
        return re.sub(r" in .*$", "", outcome)
    if outcome == CLOSED or outcome.startswith("EOF in read before writing"):
        return CLOSED
    return outcome


def basic(password: str | None) -> str | None:
    """An ``Authorization: Basic`` value for BASIC_USER, or None."""
    if password is None:
        return None
    return "Basic " + base64.b64encode(f"{BASIC_USER}:{password}".encode()).decode()


@pytest.mark.parametrize(("server", "credential", "expected"), CASES)
def test_a_real_server_answers_a_client_certificate_as_measured(
    real_servers: RealServers, server: str, credential: str | None, expected: str
) -> None:
    """Each server refuses (or lets through) each kind of client certificate the way the table
    says: nginx with its 400 pages after the handshake, Apache and gunicorn with a TLS alert,
    uvicorn and hypercorn by closing the connection without one."""
    url = url_of(real_servers, server)
    refusal_without_status = not expected.startswith("HTTP") and not expected.startswith("nginx")
    seen = wire_outcome(url, real_servers.context(credential), read_first=refusal_without_status)
    assert token(seen) == expected, seen


@pytest.mark.parametrize(
    ("server", "password", "expected"),
    [
        ("nginx-basic-api", BASIC_PASSWORD, "HTTP 200"),
        ("nginx-basic-api", "wrong", "HTTP 401"),
        ("nginx-basic-api", None, "HTTP 401"),
        ("nginx-basic-static", BASIC_PASSWORD, "HTTP 405"),
        ("nginx-basic-static", "wrong", "HTTP 401"),
        ("nginx-basic-static", None, "HTTP 401"),
    ],
)
def test_nginx_basic_auth_answers_401_to_a_wrong_password(
    real_servers: RealServers, server: str, password: str | None, expected: str
) -> None:
    """auth_basic answers 401 to a wrong or missing password; the right one reaches the API
    (200), or a static file that does not take a POST (405)."""
    url = url_of(real_servers, server)
    seen = wire_outcome(url, real_servers.context(None), authorization=basic(password))
    assert token(seen) == expected, seen


def test_a_tls13_refusal_can_hide_from_a_client_that_writes_twice(
    real_servers: RealServers,
) -> None:
    """Apache over TLS 1.3 sends its alert after the handshake: reading first sees it every
    time, while writing head and body separately (as http.client does) may end on a reset or
    EOF instead: why a probe must read for the alert before it writes."""
    url = url_of(real_servers, "apache-tls13")
    context = real_servers.context("untrusted")
    read_first = {token(wire_outcome(url, context, read_first=True)) for _ in range(5)}
    assert read_first == {"alert UNKNOWN_CA"}
    split = {token(wire_outcome(url, context, split=True)) for _ in range(10)}
    assert split <= {"alert UNKNOWN_CA", "EOF in write", "reset in write", "EOF in read"}


def test_a_missing_server_fails_on_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CI a real server that could not start fails its test with one line saying why;
    on a developer's machine the test is skipped with that line."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^nginx is not installed$"):
        not_here("nginx is not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"^nginx is not installed$"):
        not_here("nginx is not installed")
