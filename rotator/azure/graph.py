"""The Microsoft Graph API-connector client on httpx: get, patch, upload, retries, error translation.

The only module that talks to Graph. Request bodies (which carry the new credential) are never
logged or put into an exception; errors carry Graph's status, code and ``request-id``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from rotator.azure.graph_answers import (
    RETRY_STATUSES,
    graph_error,
    header,
    parse_connector,
    parse_retry_after,
    request_secrets,
    response_detail,
    response_json,
)
from rotator.azure.refused import is_refused
from rotator.azure.token_claims import decode_claims
from rotator.config.settings import ENV_GRAPH_ENDPOINT
from rotator.errors import GraphError, one_line
from rotator.events import emit
from rotator.hints import fix_for, not_listening
from rotator.model import ConnectorState
from rotator.text import truncate

log = logging.getLogger("rotator.graph")

ErrorFactory = Callable[..., GraphError]  # (response, subject, *, attempts, secrets) → GraphError
_TOKEN_REFRESH_MARGIN = 300  # seconds before expiry at which a cached token is renewed


class GraphConnectorClient:
    """Reads and writes ``identityApiConnector`` objects under ``{endpoint}/{version}/identity``."""

    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential,
        *,
        api_version: str = "beta",
        scope: str | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 4,
        max_retry_after: float = 60.0,
        deadline: float = 90.0,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.scope = scope or f"{self.endpoint}/.default"
        self._base = f"{self.endpoint}/{api_version}/identity/apiConnectors"
        self._credential = credential
        self._token: AccessToken | None = None
        self._max_attempts = max(1, max_attempts)
        self._max_retry_after = max_retry_after
        self._deadline = deadline
        self._backoff_base = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            verify=verify,
            timeout=timeout or httpx.Timeout(30.0, connect=10.0),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "rotator/0.1"},
        )

    def get_connector(self, connector_id: str, *, within: float | None = None) -> ConnectorState:
        """What Graph holds for ``connector_id``; ``within`` bounds the call (retries included)
        tighter than the client's own deadline, in seconds.

        Raises:
            GraphError: not found, access denied, throttled past the retries, or unreachable.
        """
        response = self._request("GET", connector_id, idempotent=True, within=within)
        return parse_connector(response_json(response, f"connector {connector_id}"), connector_id)

    def update_authentication(self, connector_id: str, configuration: Mapping[str, str]) -> None:
        """PATCH the connector's ``authenticationConfiguration`` (Graph answers 204, no body).

        Raises:
            GraphError: Graph refused the configuration or the call failed.
        """
        self._request(
            "PATCH",
            connector_id,
            body={"authenticationConfiguration": dict(configuration)},
            idempotent=True,  # the same PATCH twice ends in the same state
        )

    def upload_client_certificate(
        self, connector_id: str, pkcs12_value: str, password: str, *, thumbprint: str
    ) -> ConnectorState:
        """POST ``uploadClientCertificate``: add a certificate beside the ones already there.

        Never repeated blindly (it would add the certificate twice): after an ambiguous failure
        (timeout, dropped connection, 5xx) the connector is re-read; if ``thumbprint`` is there the
        upload landed. If not, this run does not upload again (Graph reads can lag writes): it
        raises with ``may_have_landed`` and the next run uploads only if it is still missing.

        Raises:
            GraphError: Graph refused the certificate, or the outcome is unknown.
        """
        try:
            response = self._request(
                "POST",
                connector_id,
                action="uploadClientCertificate",
                body={"pkcs12Value": pkcs12_value, "password": password},
                idempotent=False,
            )
        except GraphError as exc:
            if not exc.may_have_landed:
                raise
            try:
                state = self.get_connector(connector_id)
            except GraphError as reread:
                reread.may_have_landed = True
                raise reread from exc
            if thumbprint.upper() in state.thumbprints:
                return state  # the ambiguous upload did land
            raise
        return parse_connector(response_json(response, f"connector {connector_id}"), connector_id)

    def application_action(
        self, object_id: str, action: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``POST {endpoint}/v1.0/applications/{object_id}/{action}`` as this client's identity
        (``addKey``, ``removeKey``: an application rolls its own keys without a permission). Sent
        once: a caller that loses the answer finds out on its next run. The answer's JSON object,
        or None for 204.

        Raises:
            GraphError: Graph refused it (status, code, message, request-id), or no answer, or a
                success whose body is not a JSON object (``may_have_landed`` for both: the
                action may have been done).
        """
        subject = f"application {truncate(object_id, 60)}"
        response = self._application_call("POST", object_id, f"/{action}", subject, body)
        if not response.content:
            return None
        try:
            return response_json(response, subject)
        except GraphError as exc:
            exc.may_have_landed = True  # Graph said it succeeded: the action was done
            raise

    def get_application(self, object_id: str) -> dict[str, Any]:
        """``GET {endpoint}/v1.0/applications/{object_id}`` (its id and key credentials) as this
        client's identity. Real Graph answers this only to an identity with
        ``Application.Read.All`` or that owns the application: a 403 is an answer to expect.

        Raises:
            GraphError: Graph refused it, gave no answer, or answered no JSON object.
        """
        subject = f"application {truncate(object_id, 60)}"
        response = self._application_call(
            "GET", object_id, "?$select=id,keyCredentials", subject, None
        )
        return response_json(response, subject)

    def _application_call(
        self, method: str, object_id: str, suffix: str, subject: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        """One call under ``/applications/{object_id}``, never repeated; a success or a raise."""
        url = f"{self.endpoint}/v1.0/applications/{connector_path(object_id)}{suffix}"
        what = suffix.lstrip("/?") if method == "POST" else "a read of the application"
        headers = {
            "Authorization": f"Bearer {self._bearer()}",
            "client-request-id": str(uuid.uuid4()),
        }
        try:
            response = self._http.request(method, url, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise GraphError(
                f"{subject}: no answer from Microsoft Graph to {what} ({type(exc).__name__})",
                may_have_landed=method == "POST",
            ) from exc
        if response.is_success:
            return response
        error = graph_error(response, "-", attempts=1)
        raise GraphError(
            f"{subject}: Microsoft Graph refused {what} ({response_detail(response)})",
            status=error.status,
            code=error.code,
            request_id=error.request_id,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        errors: ErrorFactory,
        body: dict[str, Any] | None = None,
        idempotent: bool,
        within: float | None = None,
    ) -> httpx.Response:
        """``{endpoint}/beta/{path}`` on this client's token, retries and deadline (``errors``).

        Raises:
            GraphError: Graph refused the call or gave no answer (``may_have_landed`` set).
        """
        return self._request(
            method,
            subject,
            body=body,
            idempotent=idempotent,
            within=within,
            url=f"{self.endpoint}/beta/{path}",
            errors=errors,
        )

    def held_token_claims(self) -> dict[str, Any]:
        """The claims of the token this client holds ({} before its first call): never asks for
        one; decoded for display only (unverified, never logged, the token itself not kept)."""
        token = self._token
        return decode_claims(token.token) if token is not None else {}

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> GraphConnectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _bearer(self, *, renew: bool = False) -> str:
        now = time.time()
        if renew or self._token is None or self._token.expires_on - now < _TOKEN_REFRESH_MARGIN:
            try:
                self._token = self._credential.get_token(self.scope)
            except ClientAuthenticationError as exc:
                raise GraphError(
                    f"cannot get a Microsoft Graph token for {self.scope}: {one_line(exc.message)}"
                ) from exc
        return self._token.token

    def _request(
        self,
        method: str,
        connector_id: str,
        *,
        action: str | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool,
        within: float | None = None,
        url: str | None = None,  # another Graph resource (``call``): ``connector_id`` names it
        errors: ErrorFactory | None = None,
    ) -> httpx.Response:
        path = connector_path(connector_id) + (f"/{action}" if action else "") if not url else ""
        shown = f"/identity/apiConnectors/{path}" if not url else urlsplit(url).path
        subject = f"connector {connector_id}" if not url else connector_id
        url = url or f"{self._base}/{path}"
        give_up_at = time.monotonic() + min(self._deadline, within or self._deadline)
        renewed = False
        ambiguous = False  # a write attempt whose fate is unknown: stays so for the whole call
        attempt = 0
        while True:
            attempt += 1
            client_request_id = str(uuid.uuid4())
            try:
                headers = {
                    "Authorization": f"Bearer {self._bearer()}",
                    "client-request-id": client_request_id,
                }
            except GraphError as exc:
                exc.may_have_landed = ambiguous
                raise
            try:
                # no attempt may outlive the call's deadline (connect is bounded separately)
                left = max(1.0, give_up_at - time.monotonic())
                timeout = self._http.timeout
                response = self._http.request(
                    method,
                    url,
                    json=body,
                    headers=headers,
                    timeout=httpx.Timeout(
                        min(timeout.read or left, left),
                        connect=min(timeout.connect or left, left),
                    ),
                )
            except httpx.TransportError as exc:
                delay = self._backoff(attempt)
                retry = (
                    idempotent
                    and attempt < self._max_attempts
                    and time.monotonic() + delay < give_up_at
                    and not is_refused(exc)  # nothing listens: an answer (refused.py)
                )
                emit(
                    log,
                    logging.DEBUG,
                    "graph.transport_error",
                    method=method,
                    attempt=attempt,
                    error=type(exc).__name__,
                    retry=retry,
                )
                # a refused connection carried no request: a write cannot have landed
                ambiguous = ambiguous or (method != "GET" and not is_refused(exc))
                if retry:
                    self._sleep(delay)
                    continue
                detail = truncate(one_line(exc)) if str(exc) else ""
                if is_refused(exc):
                    detail = not_listening(self.endpoint, ENV_GRAPH_ENDPOINT)
                fix = fix_for(detail)
                raise GraphError(
                    f"{subject}: no answer from Microsoft Graph at {self.endpoint} "
                    f"after {attempt} attempt(s) ({type(exc).__name__}"
                    f"{': ' + detail if detail else ''})" + (f"; {fix}" if fix else ""),
                    may_have_landed=ambiguous,
                ) from exc
            request_id = header(response, "request-id")
            emit(
                log,
                logging.DEBUG,
                "graph.response",
                method=method,
                path=truncate(shown),
                status=response.status_code,
                attempt=attempt,
                requestId=request_id,
                clientRequestId=client_request_id,
            )
            if response.is_success:
                return response
            ambiguous = ambiguous or (method != "GET" and response.status_code >= 500)
            if response.status_code == 401 and not renewed:
                renewed = True
                try:
                    self._bearer(renew=True)
                except GraphError as exc:
                    exc.may_have_landed = ambiguous
                    raise
                continue
            retryable = response.status_code in RETRY_STATUSES and (
                idempotent or response.status_code == 429
            )
            delay, asked = self._retry_delay(response, attempt)
            fits = time.monotonic() + delay < give_up_at and delay <= self._max_retry_after
            if retryable and attempt < self._max_attempts and fits:
                self._sleep(delay)
                continue
            error = (errors or graph_error)(
                response, connector_id, attempts=attempt, secrets=request_secrets(body)
            )
            if retryable and asked and not fits:
                error.args = (
                    f"{error}; Graph asked to wait {delay:.0f} s, longer than this run waits",
                )
            error.may_have_landed = ambiguous
            raise error

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: about 0.5, 1, 2, 4 ... seconds (by default), capped at 8."""
        base: float = min(8.0, self._backoff_base * 2.0 ** (attempt - 1))
        return base * random.uniform(0.8, 1.2)  # noqa: S311

    def _retry_delay(self, response: httpx.Response, attempt: int) -> tuple[float, bool]:
        """How long to wait before the next attempt, and whether Graph said so (Retry-After).

        Graph's Retry-After is honoured in full, never shortened; when it is longer than this
        run can wait, the call gives up instead of calling early.
        """
        header = response.headers.get("Retry-After")
        if header:
            seconds = parse_retry_after(header, dt.datetime.now(dt.UTC))
            if seconds is not None:
                return max(seconds, 0.0), True
        return self._backoff(attempt), False


def connector_path(connector_id: str) -> str:
    """``connector_id`` as one URL path segment: percent-encoded, so ``/``, ``?``, ``#`` and ``%``
    stay inside it, and ``.`` / ``..`` (which a client would resolve) refused.

    Raises:
        GraphError: the id is empty, ``.`` or ``..`` (configured ids never are).
    """
    if connector_id in ("", ".", ".."):
        raise GraphError(f"connector id {connector_id!r} cannot be put into a Graph URL")
    return quote(connector_id, safe="")
