"""A refused connection is an answer, not a hiccup: nothing listens at that address (a stopped
emulator, a wrong port). rotator's clients do not retry it, so a run with nothing listening ends
in a second with a message naming the endpoint instead of after every backoff of every retry.

Timeouts, resets and DNS failures are retried as before; a scheduled run is retried by the
Functions host, and Event Grid delivers again, at a scale where a restarting endpoint is back.

- :class:`NoRetryOnRefused`: azure-core's retry policy for the Key Vault SDK clients (their
  public ``retry_policy`` option), giving up on a refused connection.
- :class:`RefusedIsFinal`: the ``transport`` of the azure-identity default chain, whose retry
  policy cannot be chosen: a refused connection to the token endpoint (the managed identity's
  ``IDENTITY_ENDPOINT``) raises ``EndpointRefusedError``, a ``ClientAuthenticationError``, which
  azure-core never retries and which is what ``get_token`` raises when it cannot get a token.
- :func:`is_refused`: the test both use, and Graph's httpx client too.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import RequestsTransport

from rotator.hints import not_listening

_MAX_CHAIN = 16  # exceptions followed through causes, contexts and wrapped errors


def is_refused(exc: BaseException) -> bool:
    """True when ``exc`` is, or was caused by, a refused TCP connection (``ECONNREFUSED``),
    however the library wrapped it (httpx, requests, urllib3, azure-core)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo and len(seen) < _MAX_CHAIN:
        error = todo.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ConnectionRefusedError):
            return True
        wrapped = (getattr(error, "inner_exception", None), getattr(error, "reason", None))
        todo += [error.__cause__, error.__context__, *wrapped, *error.args]
    return False


class EndpointRefusedError(ClientAuthenticationError):
    """Nothing listens at the token endpoint ``url`` (the message says so, without the query)."""

    def __init__(self, url: str) -> None:
        super().__init__(message=not_listening(url))
        self.url = url


class NoRetryOnRefused(RetryPolicy[Any, Any]):
    """azure-core's retry policy (same options), except that a refused connection is final."""

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        """Count the attempt; no retry after a refused connection.

        Returns:
            Whether another attempt may be made.
        """
        if error is not None and is_refused(error):
            return False
        return super().increment(settings, response=response, error=error)


class RefusedIsFinal(RequestsTransport):  # type: ignore[misc]  # azure-core exports it lazily (Any)
    """azure-core's requests transport that raises ``EndpointRefusedError`` for a refused
    connection (see the module docstring)."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Send ``request``.

        Raises:
            EndpointRefusedError: nothing listens at the request's host and port.
            ServiceRequestError, ServiceResponseError: any other failure, as azure-core's.
        """
        try:
            return super().send(request, **kwargs)
        except ServiceRequestError as exc:
            if is_refused(exc):
                raise EndpointRefusedError(str(request.url)) from exc
            raise
