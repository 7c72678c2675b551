"""A refused connection is final: recognised however it is wrapped, not retried by the Key Vault
clients' policy, and turned into a named token-endpoint error by the identity transport."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpRequest

from rotator.azure.refused import (
    EndpointRefusedError,
    NoRetryOnRefused,
    RefusedIsFinal,
    is_refused,
)


def wrapped_refusal() -> ServiceRequestError:
    """A refused connection as azure-core's requests transport reports it."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise requests.ConnectionError("Failed to establish a new connection") from refused
    except requests.ConnectionError as error:
        return ServiceRequestError("cannot connect", error=error)


def test_a_refusal_is_found_however_deep_it_is_wrapped() -> None:
    """ECONNREFUSED under requests and azure-core counts; a timeout does not."""
    assert is_refused(wrapped_refusal())
    assert not is_refused(ServiceRequestError("timed out", error=TimeoutError()))


def test_an_exception_that_causes_itself_ends_the_search() -> None:
    """A cycle of causes is not followed for ever."""
    error = ValueError("loop")
    error.__context__ = error
    assert not is_refused(error)


def retry_settings(policy: NoRetryOnRefused) -> dict[str, Any]:
    return policy.configure_retries({})


def test_the_key_vault_retry_policy_gives_up_on_a_refusal() -> None:
    """NoRetryOnRefused: no further attempt after a refused connection."""
    policy = NoRetryOnRefused(retry_total=3)
    request = HttpRequest("GET", "https://127.0.0.1:9/")

    class Request:
        http_request = request

    assert policy.increment(retry_settings(policy), Request(), wrapped_refusal()) is False


def test_the_key_vault_retry_policy_still_retries_other_connection_errors() -> None:
    """A connection that timed out is retried as azure-core would."""
    policy = NoRetryOnRefused(retry_total=3)
    request = HttpRequest("GET", "https://127.0.0.1:9/")

    class Request:
        http_request = request

    timeout = ServiceRequestError("timed out", error=TimeoutError())
    assert policy.increment(retry_settings(policy), Request(), timeout) is True


def test_the_identity_transport_names_the_refused_endpoint_without_the_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused token request is an EndpointRefusedError naming scheme, host and port."""

    def refuse(self: Any, request: Any, **kwargs: Any) -> Any:
        raise wrapped_refusal()

    monkeypatch.setattr("azure.core.pipeline.transport.RequestsTransport.send", refuse)
    url = "http://127.0.0.1:9/msi/token?api-version=2019-08-01&resource=https://graph"
    with pytest.raises(EndpointRefusedError) as caught:
        RefusedIsFinal().send(HttpRequest("GET", url))
    assert caught.value.message == "nothing is listening at http://127.0.0.1:9: connection refused"
