"""The App Service managed-identity token endpoint (protocol 2019-08-01, plain HTTP)."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Any

from rotator.emulator.server import Request, Response, json_body
from rotator.emulator.tokens import TokenMinter

GRAPH_ROLE = "APIConnectors.ReadWrite.All"
KEYSET_ROLE = "TrustFrameworkKeySet.ReadWrite.All"  # B2C policy keys: write (and read)
KEYSET_READ_ROLE = "TrustFrameworkKeySet.Read.All"  # B2C policy keys: read, getActiveKey
DEFAULT_GRAPH_ROLES = frozenset({GRAPH_ROLE, KEYSET_ROLE})
GRAPH_PUBLIC_AUDIENCES = frozenset(
    {"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"}
)
TOKEN_PATH = "/msi/token"  # noqa: S105 (a URL path)
API_VERSION = "2019-08-01"
# a managed identity's tokens name it as its resource (the Function App) is named
DEFAULT_DISPLAY_NAME = "func-rotator-emulator"


class IdentitySettings:
    """What the token endpoint puts in tokens; tests change these attributes directly."""

    def __init__(self) -> None:
        """Start with the defaults: the Graph roles for connectors and key sets granted,
        audiences as requested."""
        self._lock = threading.Lock()
        self.graph_roles: set[str] = set(DEFAULT_GRAPH_ROLES)
        self.audience_override: str | None = None
        self.display_name: str | None = DEFAULT_DISPLAY_NAME  # app_displayname; None: left out

    def reset(self) -> None:
        """Back to the defaults."""
        with self._lock:
            self.graph_roles = set(DEFAULT_GRAPH_ROLES)
            self.audience_override = None
            self.display_name = DEFAULT_DISPLAY_NAME

    def describe(self) -> dict[str, Any]:
        """JSON-ready view (for the control surface)."""
        return {
            "graphRoles": sorted(self.graph_roles),
            "audienceOverride": self.audience_override,
            "displayName": self.display_name,
        }


class IdentityService:
    """Answers ``GET /msi/token?api-version=2019-08-01&resource=…`` with ``X-IDENTITY-HEADER``."""

    name = "identity"

    def __init__(
        self,
        settings: IdentitySettings,
        tokens: TokenMinter,
        *,
        identity_header: str,
        graph_audiences: Callable[[], frozenset[str]],
    ) -> None:
        """Mint with ``tokens``; ``graph_audiences`` tells which resources get the Graph roles."""
        self.settings = settings
        self.tokens = tokens
        self._identity_header = identity_header
        self._graph_audiences = graph_audiences

    def _error(self, status: int, message: str) -> Response:
        body = {"statusCode": status, "message": message}
        return Response(status, json_body(body), [("Content-Type", "application/json")])

    def authorized(self, request: Request) -> bool:
        """True when the request carries the right ``X-IDENTITY-HEADER``."""
        supplied = request.header("x-identity-header") or ""
        return hmac.compare_digest(supplied.encode(), self._identity_header.encode())

    def tenant_of(self, request: Request) -> str | None:
        """The managed-identity endpoint carries no bearer token: the tenant is unknown."""
        return None

    def fault(self, request: Request, status: int) -> Response:
        """An injected (or crash) answer in the App Service error shape."""
        response = self._error(status, f"The managed identity endpoint answered {status}.")
        response.authorized = self.authorized(request)
        return response

    def handle(self, request: Request) -> Response:
        """Mint a token for the requested resource."""
        if request.path.rstrip("/").lower() != TOKEN_PATH:
            return self._error(404, "Not found.")
        if request.method != "GET":
            return self._error(405, "Only GET is supported.")
        if not self.authorized(request):
            return self._error(401, "The X-IDENTITY-HEADER header is missing or not valid.")
        params = request.params()
        if params.get("api-version") != API_VERSION:
            return self._error(400, f"The api-version must be {API_VERSION}.")
        resource = params.get("resource", "").strip()
        if not resource:
            return self._error(400, "Required query parameter 'resource' is missing.")
        audience = resource.rstrip("/")
        override = self.settings.audience_override
        roles: set[str] = set()
        if audience in self._graph_audiences():
            roles = set(self.settings.graph_roles)
        asked = params.get("client_id") or params.get("mi_res_id") or params.get("object_id")
        if asked and asked.lower() != self.tokens.client_id.lower():
            # App Service knows only the identities assigned to the app
            return self._error(
                400,
                "No User Assigned or Delegated Managed Identity found for specified "
                "ClientId/ResourceId/PrincipalId.",
            )
        client_id = self.tokens.client_id
        token, expires_on = self.tokens.mint(
            audience=override if override is not None else audience,
            roles=roles,
            client_id=client_id,
            display_name=self.settings.display_name,
        )
        body = {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }
        response = Response(200, json_body(body), [("Content-Type", "application/json")])
        response.authorized = True
        return response


def graph_audiences(graph_url: str) -> frozenset[str]:
    """Audiences the emulated Graph accepts: its own URL (both host spellings) and the real one."""
    localhost = graph_url.replace("://127.0.0.1", "://localhost")
    return GRAPH_PUBLIC_AUDIENCES | {graph_url, localhost}
