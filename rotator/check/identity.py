"""Who Graph and Key Vault saw in ``rotator check``, from the claims of the tokens rotator got,
and whether each Graph identity can rotate connectors (its audience, permission and credential)."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from azure.core.exceptions import ClientAuthenticationError

from rotator.azure.app_credential import KeyVaultAppCredential
from rotator.azure.credentials import graph_credential
from rotator.azure.graph_answers import PERMISSION
from rotator.azure.token_claims import ClaimsRecorder
from rotator.azure.wiring import tls_context
from rotator.check.fixes import Fixes
from rotator.check.report import Finding, Identity, IdentityCheck
from rotator.check.vaults import Vaults
from rotator.config.settings import ENV_AUTHORITY_HOST, ENV_GRAPH_ENDPOINT, Settings
from rotator.errors import RotatorError, one_line

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's well-known app id


def graph_identity(fixes: Fixes) -> tuple[Identity | None, tuple[Finding, ...]]:
    """Get a Graph token (through the app credential, if configured) and describe who it is for:
    its audience must be Graph's and it must carry ``APIConnectors.ReadWrite.All``."""
    settings, app, tokens = fixes.settings, fixes.app, fixes.graph_tokens
    scope = settings.graph_scope
    source = None
    if app is not None:
        try:
            source = app.resolve().describe()
        except RotatorError as exc:
            return None, (fixes.app_failure(exc),)
    try:
        tokens.get_token(scope)
    except (ClientAuthenticationError, ValueError) as exc:
        if app is not None and app.last_fix:
            return None, (fixes.app_failure(exc),)
        detail = f"cannot get a token for {scope}: {one_line(getattr(exc, 'message', exc))}"
        return None, (Finding("graph.token", False, detail, fixes.token(detail)),)
    claims = tokens.claims(scope)
    identity = Identity.from_token("graph", fixes.mode, scope, claims)
    identity = replace(identity, source=source) if source else identity
    findings = [
        Finding("graph.token", True, f"a token for {scope}"),
        graph_audience(identity, settings.graph_endpoint),
        graph_permission(identity),
    ]
    return identity, tuple(findings)


def graph_audience(identity: Identity, endpoint: str) -> Finding:
    """Whether the token is for Graph at ``endpoint`` (its URL or its well-known app id)."""
    expected = {endpoint, f"{endpoint}/", GRAPH_APP_ID}
    if identity.audience in expected:
        return Finding("graph.audience", True, f"audience {identity.audience}")
    return Finding(
        "graph.audience",
        False,
        f"the token asked for {identity.scope} came back for audience "
        f"{identity.audience!r}, which Graph at {endpoint} refuses",
        f"set {ENV_GRAPH_ENDPOINT} to the Graph root of the identity's cloud "
        "(https://graph.microsoft.com, https://graph.microsoft.us, "
        "https://microsoftgraph.chinacloudapi.cn) and check that the token service "
        f"({ENV_AUTHORITY_HOST} or the managed identity endpoint) belongs to that cloud",
    )


def graph_permission(identity: Identity) -> Finding:
    """Whether the token carries ``APIConnectors.ReadWrite.All`` (application or delegated)."""
    if PERMISSION in identity.roles:
        return Finding("graph.permission", True, f"{PERMISSION} (application permission)")
    if PERMISSION in identity.scopes:
        return Finding(
            "graph.permission",
            True,
            f"{PERMISSION} (delegated: the signed-in user also needs the External ID User "
            "Flow Administrator role)",
        )
    held = ", ".join(identity.roles or identity.scopes) or "none"
    return Finding(
        "graph.permission",
        False,
        f"the Graph token carries no {PERMISSION} (permissions: {held})",
        f"grant {identity.describe()} the Microsoft Graph application permission "
        f"{PERMISSION} and give admin consent",
    )


class IdentityPass:
    """The clients of one Graph identity in a check: its credential, recorded tokens and client."""

    def __init__(self, settings: Settings, default: ClaimsRecorder, vaults: Vaults) -> None:
        from rotator.azure.graph import GraphConnectorClient

        self.settings = settings
        self.credential = graph_credential(settings, default, vaults)
        self.tokens = ClaimsRecorder(self.credential)
        self.app = self.credential if isinstance(self.credential, KeyVaultAppCredential) else None
        self.graph = GraphConnectorClient(
            settings.graph_endpoint,
            self.tokens,
            api_version=settings.graph_api_version,
            verify=tls_context(settings),
            max_attempts=2,
        )
        self.fixes = Fixes(settings, default=default, graph_tokens=self.tokens, app=self.app)

    def check(self, *, connectors: bool = True, policy_keys: bool = False) -> IdentityCheck:
        """Who Graph sees for this identity, and the expiry of the app's credential; the
        permission of each kind of target it serves (connectors, policy keys)."""
        from rotator.check.policy_keys import keyset_permission

        identity, findings = graph_identity(self.fixes)
        if identity is not None:
            findings = (
                *(f for f in findings if connectors or f.check != "graph.permission"),
                *((keyset_permission(identity),) if policy_keys else ()),
            )
        expires = None
        if self.app is not None:
            with contextlib.suppress(RotatorError):
                expires = self.app.resolve().expires_on
        return IdentityCheck(
            name=self.settings.identity_name,
            tenant_id=self.settings.graph_tenant_id or (identity.tenant_id if identity else None),
            credential=self.settings.graph_credential.value,
            identity=identity,
            findings=findings,
            credential_expires_on=expires,
        )

    def close(self) -> None:
        """Close the Graph client and the app credential."""
        self.graph.close()
        if self.app is not None:
            self.app.close()
