"""The tiny API behind the real servers of the probe tests: B2C's ``Continue`` answer for every call,
except under ``/arr``, where it checks the client certificate a TLS-terminating proxy forwarded in
``X-ARR-ClientCert`` against the thumbprints in ``PROBE_APP_PINNED`` (as an API on App Service with
client certificates does), answering 403 for a missing, unreadable or not pinned certificate.

Served as ASGI (``app``: uvicorn, hypercorn) and as WSGI (``wsgi_app``: gunicorn).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote

CONTINUE = json.dumps({"version": "1.0.0", "action": "Continue"}).encode()
DENIED = json.dumps({"error": "client certificate not accepted"}).encode()


def forwarded_thumbprint(header: str | None) -> str | None:
    """SHA-1 of the certificate in ``X-ARR-ClientCert`` (App Service: base64 DER; nginx's
    ``$ssl_client_escaped_cert``: URL-escaped PEM), upper-case hex; None when absent or unreadable."""
    if not header:
        return None
    text = unquote(header)
    lines = [line for line in text.splitlines() if line and not line.startswith("-----")]
    try:
        der = base64.b64decode("".join(lines).strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper() if der else None


def answer(path: str, arr_header: str | None) -> tuple[int, bytes]:
    """The status and body for a call to ``path``."""
    if path.rstrip("/") == "/arr":
        pinned = {p.strip().upper() for p in os.environ.get("PROBE_APP_PINNED", "").split(",")}
        thumbprint = forwarded_thumbprint(arr_header)
        if thumbprint is None or thumbprint not in pinned:
            return 403, DENIED
    return 200, CONTINUE


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """ASGI: read the whole body, then answer."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    status, body = answer(scope["path"], headers.get("x-arr-clientcert"))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi_app(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> Iterable[bytes]:
    """WSGI: the same answer."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    status, body = answer(environ.get("PATH_INFO", "/"), environ.get("HTTP_X_ARR_CLIENTCERT"))
    start_response(
        f"{status} {'OK' if status == 200 else 'Forbidden'}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
