"""The Graph client's retry, token and error rules, through httpx's transport seam (no sockets)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from rotator.azure.graph import GraphConnectorClient
from rotator.azure.graph_answers import parse_connector
from rotator.errors import GraphError

BASE = "https://graph.test"
THUMBPRINT = "AB12" * 10  # a SHA-1 thumbprint: 40 hexadecimal digits
CONNECTOR = {
    "id": "c1",
    "displayName": "API",
    "authenticationConfiguration": {
        "@odata.type": "#microsoft.graph.clientCertificateAuthentication",
        "certificateList": [
            {
                "thumbprint": THUMBPRINT.lower(),
                "notBefore": 1700000000,
                "notAfter": 1800000000,
                "isActive": True,
            }
        ],
    },
}


class Tokens:
    """A credential that hands out numbered tokens and counts the calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.calls.append(scopes)
        if self.fail:
            raise ClientAuthenticationError(message="no identity here")
        return AccessToken(f"token-{len(self.calls)}", int(time.time()) + 3600)


def client(
    handler: Callable[[httpx.Request], httpx.Response], tokens: Tokens | None = None
) -> tuple[GraphConnectorClient, list[float]]:
    sleeps: list[float] = []
    graph = GraphConnectorClient(
        BASE,
        tokens or Tokens(),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )
    return graph, sleeps


def recording_client() -> tuple[GraphConnectorClient, list[httpx.Request]]:
    """A client whose Graph answers every request with CONNECTOR, and the requests it sent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=CONNECTOR)

    graph, _ = client(handler)
    return graph, seen


def error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {
        "error": {
            "code": code,
            "message": f"{code} happened",
            "innerError": {"request-id": "rid-body"},
        }
    }
    return httpx.Response(status, json=body, headers=headers)


def test_get_parses_the_certificate_list() -> None:
    """GET turns certificateList into upper-case thumbprints and UTC datetimes."""
    graph, seen = recording_client()
    state = graph.get_connector("c1")
    assert state.thumbprints == (THUMBPRINT,)
    assert state.certificates[0].not_after.year == 2027
    assert seen[0].url == f"{BASE}/beta/identity/apiConnectors/c1"
    assert seen[0].headers["Authorization"] == "Bearer token-1"
    assert seen[0].headers["client-request-id"]


def test_token_is_requested_for_the_endpoint_scope_and_cached() -> None:
    """One token per client, for <endpoint>/.default."""
    tokens = Tokens()
    graph, _ = client(lambda r: httpx.Response(200, json=CONNECTOR), tokens)
    graph.get_connector("c1")
    graph.get_connector("c1")
    assert tokens.calls == [(f"{BASE}/.default",)]


def test_patch_sends_the_configuration_and_accepts_204() -> None:
    """PATCH wraps the configuration and treats 204 without body as success."""
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(204)

    graph, _ = client(handler)
    graph.update_authentication("c1", {"@odata.type": "#microsoft.graph.basicAuthentication"})
    assert bodies == [
        {"authenticationConfiguration": {"@odata.type": "#microsoft.graph.basicAuthentication"}}
    ]


def test_429_is_retried_after_retry_after_seconds() -> None:
    """Throttling waits exactly what Retry-After says, then succeeds."""
    answers = [
        error(429, "TooManyRequests", **{"Retry-After": "3"}),
        httpx.Response(200, json=CONNECTOR),
    ]
    graph, sleeps = client(lambda r: answers.pop(0))
    graph.get_connector("c1")
    assert sleeps == [3.0]


def test_retry_after_http_date_is_understood() -> None:
    """Retry-After may be an HTTP date."""
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    answers = [
        error(503, "serviceNotAvailable", **{"Retry-After": when}),
        httpx.Response(200, json=CONNECTOR),
    ]
    graph, sleeps = client(lambda r: answers.pop(0))
    graph.get_connector("c1")
    assert 3 <= sleeps[0] <= 6


def test_retries_are_bounded_and_the_error_carries_the_request_id() -> None:
    """A service that keeps answering 503 fails after four attempts with Graph's request-id."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error(503, "serviceNotAvailable", **{"request-id": "rid-header"})

    graph, sleeps = client(handler)
    with pytest.raises(GraphError) as caught:
        graph.get_connector("c1")
    assert len(calls) == 4
    assert len(sleeps) == 3
    assert caught.value.request_id == "rid-header"
    assert caught.value.status == 503
    assert "after 4 attempt(s)" in str(caught.value)


def test_401_renews_the_token_once() -> None:
    """An expired token is renewed once; the retry carries the new one."""
    tokens = Tokens()
    answers = [error(401, "InvalidAuthenticationToken"), httpx.Response(200, json=CONNECTOR)]
    auth: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        auth.append(request.headers["Authorization"])
        return answers.pop(0)

    graph, _ = client(handler, tokens)
    graph.get_connector("c1")
    assert auth == ["Bearer token-1", "Bearer token-2"]


def test_403_names_the_missing_permission() -> None:
    """Access denied says which Graph permission the identity needs."""
    graph, _ = client(lambda r: error(403, "Authorization_RequestDenied"))
    with pytest.raises(GraphError, match=r"APIConnectors\.ReadWrite\.All") as caught:
        graph.get_connector("c1")
    assert caught.value.code == "Authorization_RequestDenied"
    assert caught.value.request_id == "rid-body"


def test_404_says_the_connector_is_unknown() -> None:
    """An unknown connector id is reported as such."""
    graph, _ = client(lambda r: error(404, "Request_ResourceNotFound"))
    with pytest.raises(GraphError, match="c1 was not found in the tenant"):
        graph.get_connector("c1")


def test_upload_after_an_ambiguous_failure_rereads_instead_of_uploading_twice() -> None:
    """A 504 on uploadClientCertificate is followed by a GET; the certificate is there, so no re-upload."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "POST":
            return error(504, "GatewayTimeout")
        return httpx.Response(200, json=CONNECTOR)

    graph, _ = client(handler)
    state = graph.upload_client_certificate("c1", "UEZY", "pw", thumbprint=THUMBPRINT)
    assert state.thumbprints == (THUMBPRINT,)
    assert calls == ["POST", "GET"]


def test_upload_missing_after_an_ambiguous_failure_is_left_to_the_next_run() -> None:
    """When the re-read lacks the certificate, the upload is not sent again in this run (reads can
    lag); the error says it may have landed, and the next run uploads only if still missing."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "POST":
            return error(503, "serviceNotAvailable")
        return httpx.Response(200, json={**CONNECTOR, "authenticationConfiguration": {}})

    graph, _ = client(handler)
    with pytest.raises(GraphError) as caught:
        graph.upload_client_certificate("c1", "UEZY", "pw", thumbprint=THUMBPRINT)
    assert caught.value.may_have_landed
    assert calls == ["POST", "GET"]


def test_retry_after_longer_than_the_run_waits_gives_up_instead_of_calling_early() -> None:
    """Retry-After is never shortened: a wait beyond the limit ends the call, saying so."""
    graph, sleeps = client(lambda r: error(429, "TooManyRequests", **{"Retry-After": "600"}))
    with pytest.raises(GraphError, match="asked to wait 600 s"):
        graph.get_connector("c1")
    assert sleeps == []


def test_a_write_that_timed_out_stays_ambiguous_when_a_later_attempt_is_refused() -> None:
    """Once a PATCH may have landed, the final error says so whatever the last answer was."""
    answers: list[httpx.Response | Exception] = [
        httpx.ReadTimeout("slow"),
        error(400, "Request_BadRequest"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    graph, _ = client(handler)
    with pytest.raises(GraphError) as caught:
        graph.update_authentication("c1", {"@odata.type": "x"})
    assert caught.value.may_have_landed


def test_refused_upload_is_not_retried() -> None:
    """A 400 from Graph is final: one POST, no re-read."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return error(400, "AADB2C90215")

    graph, _ = client(handler)
    with pytest.raises(GraphError):
        graph.upload_client_certificate("c1", "UEZY", "pw", thumbprint=THUMBPRINT)
    assert calls == ["POST"]


def test_dropped_connection_is_retried_for_get() -> None:
    """A dropped connection on GET is retried."""
    answers: list[httpx.Response | Exception] = [
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(200, json=CONNECTOR),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    graph, sleeps = client(handler)
    graph.get_connector("c1")
    assert len(sleeps) == 1


def test_credential_failure_is_a_graph_error() -> None:
    """No token is a GraphError that says so, not a traceback."""
    graph, _ = client(lambda r: httpx.Response(200, json=CONNECTOR), Tokens(fail=True))
    with pytest.raises(GraphError, match="cannot get a Microsoft Graph token"):
        graph.get_connector("c1")


def test_error_never_contains_the_request_body() -> None:
    """A refused PATCH does not echo the password it carried."""
    graph, _ = client(lambda r: error(400, "AADB2C90213"))
    with pytest.raises(GraphError) as caught:
        graph.update_authentication("c1", {"password": "canary-SECRET-123"})
    assert "canary-SECRET-123" not in str(caught.value)
    assert "3DES" in str(caught.value)


def test_parse_tolerates_missing_hash_and_iso_dates() -> None:
    """@odata.type without '#', and DateTime strings instead of epoch seconds, are understood."""
    state = parse_connector(
        {
            "authenticationConfiguration": {
                "@odata.type": "microsoft.graph.ClientCertificateAuthentication",
                "certificateList": [
                    {
                        "thumbprint": THUMBPRINT,
                        "notBefore": "2026-01-01T00:00:00Z",
                        "notAfter": "1800000000",
                        "isActive": False,
                    }
                ],
            }
        },
        "c1",
    )
    assert state.auth_type == "certificate"
    assert state.certificates[0].not_before.year == 2026
    assert state.certificates[0].not_after.year == 2027


def test_parse_basic_and_unknown_types() -> None:
    """Basic auth exposes the username; unknown types keep their raw name."""
    basic = parse_connector(
        {
            "authenticationConfiguration": {
                "@odata.type": "#microsoft.graph.basicAuthentication",
                "username": "u",
                "password": "******",
            }
        },
        "c1",
    )
    assert (basic.auth_type, basic.username) == ("basic", "u")
    assert parse_connector({}, "c1").auth_type == "none"


# -- ids are one path segment (issue 9, class 2) -------------------------------------------


def test_connector_id_is_percent_encoded_as_one_path_segment() -> None:
    """'/', '?', '#', '%' and spaces in an id stay inside its segment of the URL."""
    graph, seen = recording_client()
    graph.get_connector("x/../REAL?$x=1#y %")
    assert (
        seen[0].url.raw_path == b"/beta/identity/apiConnectors/x%2F..%2FREAL%3F%24x%3D1%23y%20%25"
    )


def test_upload_puts_the_action_after_the_encoded_id() -> None:
    """uploadClientCertificate follows the encoded id as its own segment."""
    graph, seen = recording_client()
    graph.upload_client_certificate("a/b", "UEZY", "pw", thumbprint=THUMBPRINT)
    assert seen[0].url.raw_path == b"/beta/identity/apiConnectors/a%2Fb/uploadClientCertificate"


@pytest.mark.parametrize("connector_id", ["", ".", ".."])
def test_dot_segments_are_never_sent(connector_id: str) -> None:
    """'.' and '..' would be resolved by the client: refused before any request."""
    graph, _ = client(lambda request: pytest.fail("no request may be sent"))
    with pytest.raises(GraphError, match="cannot be put into a Graph URL"):
        graph.get_connector(connector_id)


# -- every field of Graph's answer is checked (issue 9, class 5) ---------------------------


def certificate_body(**item: Any) -> dict[str, Any]:
    entry = {"thumbprint": THUMBPRINT, "notBefore": 1700000000, "notAfter": 1800000000}
    return {
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.clientCertificateAuthentication",
            "certificateList": [{**entry, "isActive": True, **item}],
        }
    }


FIELD = "authenticationConfiguration.certificateList[0]"


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"authenticationConfiguration": "basic"}, "authenticationConfiguration as a string"),
        ({"authenticationConfiguration": []}, "authenticationConfiguration as an array"),
        ({"displayName": 7}, "displayName as a number, expected a string"),
        (
            {"authenticationConfiguration": {"@odata.type": ["x"]}},
            "authenticationConfiguration @odata.type as an array",
        ),
        (
            {
                "authenticationConfiguration": {
                    "@odata.type": "#microsoft.graph.clientCertificateAuthentication",
                    "certificateList": {"thumbprint": THUMBPRINT},
                }
            },
            "certificateList as an object, expected an array",
        ),
        (certificate_body(notAfter="garbage"), f"{FIELD}.notAfter 'garbage' (a string)"),
        (certificate_body(notAfter=10**20), f"{FIELD}.notAfter 100000000000000000000 (a number)"),
        (certificate_body(notAfter="1.5e9"), f"{FIELD}.notAfter '1.5e9' (a string)"),
        (certificate_body(notAfter=1.5e9), f"{FIELD}.notAfter 1500000000.0 (a number)"),
        (certificate_body(notBefore=True), f"{FIELD}.notBefore True (a boolean)"),
        (certificate_body(notBefore=None), f"{FIELD}.notBefore missing"),
        (certificate_body(notAfter="0001-01-01T00:00:00+01:00"), f"{FIELD}.notAfter '0001"),
        (certificate_body(isActive="false"), f"{FIELD}.isActive 'false' (a string)"),
        (certificate_body(thumbprint=None), f"{FIELD}.thumbprint missing"),
        (certificate_body(thumbprint="zz" * 20), f"{FIELD}.thumbprint 'zzzz"),
        (
            {
                "authenticationConfiguration": {
                    "@odata.type": "#microsoft.graph.basicAuthentication",
                    "username": {"name": "svc"},
                }
            },
            "authenticationConfiguration username as an object, expected a string",
        ),
    ],
)
def test_a_field_of_the_wrong_type_or_range_is_a_graph_error_naming_it(
    document: dict[str, Any], fragment: str
) -> None:
    """Wrong types, formats and ranges are GraphErrors naming connector and field, never believed."""
    with pytest.raises(GraphError) as caught:
        parse_connector(document, "c1")
    assert str(caught.value).startswith("connector c1: Microsoft Graph sent ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"<html>maintenance</html>", "answered 200 with a body that is not usable JSON"),
        (b'[{"id": "c1"}]', "answered with a JSON list, expected an object"),
        (b"[" * 1000 + b"]" * 1000, "not usable JSON (nested deeper than 32 levels)"),
        (b'{"id": "c1", "id": "c2"}', "not usable JSON (duplicate key 'id')"),
    ],
)
def test_an_answer_that_is_not_a_json_object_is_a_graph_error(
    content: bytes, fragment: str
) -> None:
    """HTML with status 200, an array, deep nesting or a repeated key: a GraphError, no traceback."""
    graph, _ = client(lambda request: httpx.Response(200, content=content))
    with pytest.raises(GraphError) as caught:
        graph.get_connector("c1")
    assert fragment in str(caught.value)


# -- echoed text is bounded (issue 9, class 6) ---------------------------------------------


def test_a_huge_graph_error_message_becomes_a_short_reason() -> None:
    """A 1 MB error message from Graph is kept to 200 characters and its length."""
    body = {"error": {"code": "Request_BadRequest", "message": "m" * 1_000_000}}
    graph, _ = client(lambda request: httpx.Response(400, json=body))
    with pytest.raises(GraphError) as caught:
        graph.get_connector("c1")
    assert str(caught.value) == (
        "connector c1: Graph answered 400 Request_BadRequest: "
        + "m" * 200
        + "… (1000000 characters)"
    )


def test_an_error_body_over_the_answer_limit_is_not_read() -> None:
    """A 5 MB error body is not parsed at all: the reason is the status line."""
    body = {"error": {"code": "Request_BadRequest", "message": "m" * 5_000_000}}
    graph, _ = client(lambda request: httpx.Response(400, json=body))
    with pytest.raises(GraphError) as caught:
        graph.get_connector("c1")
    assert str(caught.value) == "connector c1: Graph answered 400 Bad Request"


def test_an_error_message_on_several_lines_becomes_one_line() -> None:
    """A Graph message with CR/LF cannot forge lines in a reason or a log."""
    body = {"error": {"code": "x", "message": "bad\r\nrotation.run_completed failed=0"}}
    graph, _ = client(lambda request: httpx.Response(400, json=body))
    with pytest.raises(GraphError) as caught:
        graph.get_connector("c1")
    assert (
        str(caught.value)
        == "connector c1: Graph answered 400 x: bad rotation.run_completed failed=0"
    )


def test_an_application_action_answered_200_with_an_unusable_body_may_have_landed() -> None:
    """addKey answered 200 with HTML: a GraphError with may_have_landed (the key was added);
    a refusal is not ambiguous."""
    graph, _ = client(lambda request: httpx.Response(200, text="<html>busy</html>"))
    with pytest.raises(GraphError) as raised:
        graph.application_action("obj", "addKey", {})
    assert (raised.value.status, raised.value.may_have_landed) == (200, True)
    refused, _ = client(lambda request: error(400, "BadRequest"))
    with pytest.raises(GraphError) as raised:
        refused.application_action("obj", "addKey", {})
    assert (raised.value.status, raised.value.may_have_landed) == (400, False)


def test_the_application_is_read_with_its_key_credentials_once() -> None:
    """GET /v1.0/applications/{id}?$select=id,keyCredentials, never retried: a 403 (no
    Application.Read.All) is a GraphError at once."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "obj", "keyCredentials": []})

    graph, _ = client(handler)
    assert graph.get_application("obj") == {"id": "obj", "keyCredentials": []}
    (request,) = seen
    assert (request.method, request.url.path) == ("GET", "/v1.0/applications/obj")
    assert request.url.params["$select"] == "id,keyCredentials"
    seen.clear()

    def deny(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return error(403, "Authorization_RequestDenied")

    denied, _ = client(deny)
    with pytest.raises(GraphError) as raised:
        denied.get_application("obj")
    assert (raised.value.status, len(seen)) == (403, 1)


def test_a_refused_connection_is_not_retried_and_names_the_endpoint() -> None:
    """Nothing listening at Graph: one attempt, no backoff, the message names the setting."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("[Errno 111] Connection refused") from ConnectionRefusedError(111)

    graph, sleeps = client(handler)
    with pytest.raises(GraphError) as caught:
        graph.get_connector("c1")
    assert (calls, sleeps) == (["GET"], [])
    assert f"nothing is listening at {BASE} (ROTATOR_GRAPH_ENDPOINT): connection refused" in str(
        caught.value
    )
    assert caught.value.may_have_landed is False


def test_a_refused_write_never_landed() -> None:
    """A PATCH whose connection was refused was never sent: not "may have landed"."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused") from ConnectionRefusedError(111)

    graph, _ = client(handler)
    with pytest.raises(GraphError) as caught:
        graph.upload_client_certificate("c1", "UEZY", "pw", thumbprint=THUMBPRINT)
    assert caught.value.may_have_landed is False
