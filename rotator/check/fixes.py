"""What to do about each failure ``rotator check`` finds: the role on the vault, the Graph
permission or the setting to change, named for the identity that was actually seen."""

from __future__ import annotations

from collections.abc import Sequence

from rotator.azure.app_credential import KeyVaultAppCredential
from rotator.azure.graph_answers import PERMISSION
from rotator.azure.token_claims import ClaimsRecorder
from rotator.check.report import Finding, Identity
from rotator.config.settings import (
    ENV_CONFIG,
    ENV_GRAPH_CREDENTIAL,
    ENV_GRAPH_ENDPOINT,
    GraphCredentialMode,
    Settings,
)
from rotator.errors import GraphError, KeyVaultError
from rotator.hints import MANAGED_IDENTITY_VARIABLES, fix_for
from rotator.model import AnyTarget, CredentialKind

ROLE = {"certificates": "Key Vault Certificate User", "secrets": "Key Vault Secrets User"}


class Fixes:
    """The fix for each kind of failure, from the settings and the tokens recorded so far."""

    def __init__(
        self,
        settings: Settings,
        *,
        default: ClaimsRecorder,
        graph_tokens: ClaimsRecorder,
        app: KeyVaultAppCredential | None,
    ) -> None:
        self.settings = settings
        self.default = default
        self.graph_tokens = graph_tokens
        self.app = app
        self.mode = settings.graph_credential.value

    def app_failure(self, exc: Exception) -> Finding:
        """The app credential could not be read or was refused; its own fix, split off."""
        assert self.app is not None
        message = str(getattr(exc, "message", None) or exc)
        fix = self.app.last_fix or "see the message"
        detail = message.removesuffix(f"; {fix}")
        if isinstance(exc, KeyVaultError) and exc.status == 403:
            kind = "certificates" if ROLE["certificates"] in message else "secrets"
            fix = self.role(kind, self.settings.graph_key_vault_url or "")
        return Finding("graph.token", False, detail, fix)

    def token(self, detail: str = "") -> str:
        """No Graph token could be had (``detail``: why, as the credential said)."""
        if fix := fix_for(detail):  # this host: nothing listens at the endpoint, say
            return fix
        if all(name in detail for name in MANAGED_IDENTITY_VARIABLES):  # half of them set
            return f"set both {' and '.join(MANAGED_IDENTITY_VARIABLES)}, or neither"
        if self.settings.graph_credential is GraphCredentialMode.DEFAULT:
            return (
                f"the default chain found no working identity: in Azure enable the Function's "
                f"managed identity; for a B2C tenant set {ENV_GRAPH_CREDENTIAL}=client-certificate"
            )
        return "the message says what Entra refused and what to change"

    def role(self, kind: str, vault_url: str, *, backing_secret: bool = False) -> str:
        """The Key Vault role the identity lacks on ``vault_url``."""
        identity = self.keyvault_identity()
        who = identity.describe() if identity else "the identity rotator runs as"
        why = " (a certificate's private key is read from its backing secret)"
        return f"grant {who} the '{ROLE[kind]}' role on the vault {vault_url}" + (
            why if backing_secret else ""
        )

    # -- fixes --------------------------------------------------------------------------------

    def vault(self, exc: KeyVaultError, target: AnyTarget, kind: str) -> str:
        """A Key Vault call about ``target`` failed with ``exc``."""
        url, name = target.key_vault_url, target.key_vault_object
        if exc.status == 403 and exc.code in ("SecretDisabled", "CertificateDisabled"):
            return f"enable the version in Key Vault, or add a new one to {kind[:-1]} '{name}'"
        if exc.status == 403:
            backing = kind == "secrets" and target.kind is CredentialKind.CERTIFICATE
            return self.role(kind, url, backing_secret=backing)
        if exc.status == 404:
            return f"create {kind[:-1]} '{name}' in {url}, or correct its name in {ENV_CONFIG}"
        if exc.status == 401:
            return (
                f"the vault refused the token: the identity must be in the vault's tenant and get "
                f"tokens for Key Vault ({', '.join(self._kv_audiences())})"
            )
        return (
            fix_for(str(exc)) or f"check the vault URL {url} and this host's network access to it"
        )

    def graph(self, exc: GraphError, graph_findings: Sequence[Finding]) -> str:
        """Reading the connector failed with ``exc`` (the identity's findings may say why)."""
        failed = next((f for f in graph_findings if not f.ok and f.fix), None)
        if exc.status is None and failed is not None:
            return failed.fix or ""
        scope = self.settings.graph_scope
        claims = self.graph_tokens.claims(scope)
        tenant = claims.get("tid", "?")
        if exc.status == 403:
            who = Identity.from_token("graph", self.mode, scope, claims).describe()
            return (
                f"grant {who} the Microsoft Graph application permission {PERMISSION} and give "
                "admin consent"
            )
        if exc.status == 404:
            return (
                f"check the connector id in {ENV_CONFIG}: tenant {tenant} has no such connector "
                f"(for a B2C tenant, {ENV_GRAPH_CREDENTIAL} must use an app registered there)"
            )
        if exc.status == 401:
            return (
                failed.fix
                if failed and failed.fix
                else (
                    f"Graph refused the token: check {ENV_GRAPH_ENDPOINT} and {ENV_GRAPH_CREDENTIAL}"
                )
            )
        if failed and failed.fix:
            return failed.fix
        return fix_for(str(exc)) or "check network access to Graph"

    def version(self, target: AnyTarget) -> str:
        """Key Vault holds no version a connector could use."""
        what = "certificate" if target.kind is CredentialKind.CERTIFICATE else "secret"
        return (
            f"add a valid version of {what} '{target.key_vault_object}' in "
            f"{target.key_vault_url} (enabled, within its dates"
            + (", exportable RSA key of 2048 bits or more" if what == "certificate" else "")
            + ")"
        )

    def _kv_audiences(self) -> list[str]:
        return sorted(
            {s.removesuffix("/.default") for s, _ in self.default.all_claims()}
            - {self.settings.graph_endpoint}
        ) or ["https://vault.azure.net"]

    def keyvault_identity(self) -> Identity | None:
        """Who Key Vault saw: the first token the default chain got for another scope than Graph."""
        for scope, claims in self.default.all_claims():
            if scope != self.settings.graph_scope:
                return Identity.from_token("keyvault", "default", scope, claims)
        return None
