"""The identity rotator uses for Microsoft Graph (DESIGN.md decision 7).

A B2C tenant is a directory of its own: the Function's managed identity lives in the
subscription's tenant and cannot get a Graph token there. ``ROTATOR_GRAPH_CREDENTIAL`` chooses:

``default``
    azure-identity's default chain (the managed identity in Azure, ``az login`` on a laptop):
    for a workforce or External ID tenant where that identity lives. Today's behaviour.
``client-certificate``
    an app registered in the B2C tenant (``ROTATOR_GRAPH_TENANT_ID``, ``ROTATOR_GRAPH_CLIENT_ID``)
    with ``APIConnectors.ReadWrite.All``; its certificate is the Key Vault certificate named by
    ``ROTATOR_GRAPH_CLIENT_CERTIFICATE``, read with the default chain (the managed identity needs
    Key Vault Certificate User and Key Vault Secrets User on that vault). The newest usable
    version is used, its key comes from the backing secret and stays in memory.
``client-secret``
    the same app with a client secret kept in the Key Vault secret named by
    ``ROTATOR_GRAPH_CLIENT_SECRET``. The last resort: a secret can be copied and replayed, and
    Entra caps its life at two years.

Key Vault always uses the default chain. ``ROTATOR_AUTHORITY_HOST`` is the Entra authority of the
national cloud (``https://login.microsoftonline.us``, ``https://login.chinacloudapi.cn``).

Instance discovery: for an authority host it does not know, MSAL first asks
``https://login.microsoftonline.com/common/discovery/instance`` whether the host is a genuine
Entra authority. That call goes to the public cloud, so it fails in an isolated cloud and in a
private one (Azure Stack, the local emulator), and the public cloud cannot vouch for such hosts
anyway. rotator therefore passes ``disable_instance_discovery=True`` exactly when the host is
not one of azure-identity's ``AzureAuthorityHosts`` (for those MSAL skips the call itself). The
host is the operator's own setting, reached over TLS; it is trusted as configured.

The app's certificate or secret is read on first use and again at most every
``REFRESH_SECONDS`` (or at once when Entra refuses it), so a new version in Key Vault is picked
up without a restart. Failures that rotator can explain (missing object, no usable version, an
unregistered certificate, a wrong secret) name the setting and the fix.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
)

from rotator.azure.entra import authority_options, certificate_credential
from rotator.azure.entra_errors import explain_refusal, unreachable
from rotator.config.settings import (
    ENV_GRAPH_CLIENT_CERTIFICATE,
    ENV_GRAPH_CLIENT_SECRET,
    ENV_GRAPH_KEYVAULT_URL,
    GraphCredentialMode,
    Settings,
)
from rotator.errors import CredentialError, KeyVaultError, RotatorError
from rotator.events import emit
from rotator.steps import policy
from rotator.steps.context import utcnow
from rotator.steps.package import VaultReader, load_certificate, read_certificate, read_secret

if TYPE_CHECKING:
    from rotator.model import VersionInfo


log = logging.getLogger("rotator.credentials")
REFRESH_SECONDS = 3600.0
# The hosts MSAL knows without asking the public cloud (azure.identity.AzureAuthorityHosts).


@dataclass(frozen=True)
class AppCredentialSource:
    """Which app and which Key Vault version a client-credential identity uses (nothing secret)."""

    mode: GraphCredentialMode
    tenant_id: str
    client_id: str
    key_vault_url: str
    name: str
    version: str
    thumbprint: str | None = None  # client certificates: SHA-1, upper-case hex
    expires_on: dt.datetime | None = None

    def describe(self) -> str:
        """E.g. ``client certificate 'graph-app' version 3f… (thumbprint 0EB2…, until 2027-01-01)``."""
        kind = "certificate" if self.mode is GraphCredentialMode.CLIENT_CERTIFICATE else "secret"
        details = [f"thumbprint {self.thumbprint}"] if self.thumbprint else []
        if self.expires_on:
            details.append(f"until {self.expires_on:%Y-%m-%d}")
        extra = f" ({', '.join(details)})" if details else ""
        return (
            f"client {kind} '{self.name}' version {self.version} from {self.key_vault_url}{extra} "
            f"of app {self.client_id} in tenant {self.tenant_id}"
        )


class KeyVaultAppCredential:
    """A TokenCredential for an app registration whose client certificate or secret is kept in
    Key Vault: azure-identity's ``CertificateCredential`` / ``ClientSecretCredential`` underneath."""

    def __init__(
        self,
        settings: Settings,
        keyvault_factory: Callable[[str], VaultReader],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        """Remember where the credential lives; nothing is read until it is needed.

        Raises:
            ValueError: ``settings`` are not in a client mode (``Settings.from_env`` ensures it).
        """
        if (
            settings.graph_credential is GraphCredentialMode.DEFAULT
            or not settings.graph_tenant_id
            or not settings.graph_client_id
            or not settings.graph_key_vault_url
        ):
            raise ValueError("a Key Vault app credential needs a client mode in the settings")
        self.settings = settings
        self.mode = settings.graph_credential
        self.tenant_id: str = settings.graph_tenant_id
        self.client_id: str = settings.graph_client_id
        self.key_vault_url: str = settings.graph_key_vault_url
        if self.mode is GraphCredentialMode.CLIENT_CERTIFICATE:
            self.setting, self.name = (
                ENV_GRAPH_CLIENT_CERTIFICATE,
                settings.graph_client_certificate_name,
            )
        else:
            self.setting, self.name = ENV_GRAPH_CLIENT_SECRET, settings.graph_client_secret_name
        self._factory = keyvault_factory
        self._vault: VaultReader | None = None
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._source: AppCredentialSource | None = None
        self._credential: Any = None  # CertificateCredential | ClientSecretCredential
        # the one before a newer Key Vault version replaced it: used while Entra refuses the new
        # one (e.g. Key Vault auto-renewed the certificate before anyone uploaded it to the app)
        self._previous: tuple[Any, AppCredentialSource] | None = None
        self._read_at = 0.0
        self.last_fix: str | None = None  # what to do about the last failure (also in its message)

    # -- TokenCredential --------------------------------------------------------------------

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """A token for ``scopes`` from the app's current credential.

        Raises:
            ClientAuthenticationError: the credential cannot be read from Key Vault, or Entra
                refused it; the message names the setting and the fix.
        """
        options: dict[str, Any] = {"claims": claims, "tenant_id": tenant_id, **kwargs}
        if enable_cae:
            options["enable_cae"] = True
        credential, source = self._current()
        try:
            return credential.get_token(*scopes, **options)  # type: ignore[no-any-return]
        except (ClientAuthenticationError, ValueError) as exc:
            refused = exc
        if unreachable(refused):  # nothing was refused: do not re-read Key Vault for it
            raise ClientAuthenticationError(message=self._explain(refused, source)) from refused
        # Entra refused it: perhaps the app moved to a newer version already; read again once.
        try:
            fresh, fresh_source = self._current(force=True)
        except ClientAuthenticationError:
            fresh, fresh_source = credential, source
        if fresh_source.version != source.version:
            try:
                return fresh.get_token(*scopes, **options)  # type: ignore[no-any-return]
            except (ClientAuthenticationError, ValueError) as exc:
                refused, source = exc, fresh_source
        message = self._explain(refused, source)
        previous = self._previous_still_valid() or self._older_that_works(source, scopes, options)
        if previous is not None:
            try:
                token = previous[0].get_token(*scopes, **options)
            except (ClientAuthenticationError, ValueError):
                pass
            else:
                emit(
                    log,
                    logging.WARNING,
                    "graph.app_credential_fallback",
                    refused=source.describe(),
                    used=previous[1].describe(),
                    fix=self.last_fix,
                )
                return token  # type: ignore[no-any-return]
        raise ClientAuthenticationError(message=message) from refused

    def _older_that_works(
        self, refused: AppCredentialSource, scopes: tuple[str, ...], options: dict[str, Any]
    ) -> tuple[Any, AppCredentialSource] | None:
        """A process that starts after Key Vault renewed the certificate has no previous one to
        fall back on: try the older usable versions, newest first, until Entra takes one (kept
        as the previous credential from then on). None in secret mode, or when none works."""
        if self.mode is not GraphCredentialMode.CLIENT_CERTIFICATE or not self.name:
            return None
        try:
            vault, now = self._open_vault(), self._clock()
            versions = policy.usable_newest_first(vault.list_certificate_versions(self.name), now)
            for version in (v for v in versions if v.version != refused.version):
                bundle = load_certificate(vault, self.name, version, now, source=self.setting)
                credential = certificate_credential(self.settings, bundle)
                try:
                    credential.get_token(*scopes, **options)
                except (ClientAuthenticationError, ValueError):
                    credential.close()
                    continue
                source = self._source_of(version, bundle.thumbprint, bundle.not_after)
                with self._lock:
                    if self._previous is not None:
                        self._previous[0].close()
                    self._previous = (credential, source)
                return credential, source
        except RotatorError:
            return None
        return None

    def _previous_still_valid(self) -> tuple[Any, AppCredentialSource] | None:
        with self._lock:
            previous = self._previous
        if previous is None:
            return None
        expires_on = previous[1].expires_on
        return previous if expires_on is None or expires_on > self._clock() else None

    def close(self) -> None:
        """Close the underlying credential and vault client."""
        with self._lock:
            if self._credential is not None:
                self._credential.close()
                self._credential = None
            if self._previous is not None:
                self._previous[0].close()
                self._previous = None
            close = getattr(self._vault, "close", None)
            if close is not None:
                close()
            self._vault = None

    def __enter__(self) -> KeyVaultAppCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading the app credential ------------------------------------------------------------

    def resolve(self) -> AppCredentialSource:
        """Read the app's credential from Key Vault now and say which one it is.

        Raises:
            KeyVaultError: the object is missing, or reading it failed (the role to grant named).
            CredentialError: no usable version, or it fails validation (expired, no private key,
                not RSA 2048+, empty secret).
            ConfigurationError: the vault answered a challenge for another resource.
        """
        with self._lock:
            return self._read()[1]

    def _current(self, *, force: bool = False) -> tuple[Any, AppCredentialSource]:
        with self._lock:
            stale = time.monotonic() - self._read_at >= self._refresh_seconds
            if self._credential is not None and self._source is not None and not (force or stale):
                return self._credential, self._source
            try:
                return self._read()
            except RotatorError as exc:
                still_valid = self._source is not None and (
                    self._source.expires_on is None or self._source.expires_on > self._clock()
                )
                if self._credential is not None and self._source is not None and still_valid:
                    return self._credential, self._source  # keep it; retry the read next time
                raise ClientAuthenticationError(message=str(exc)) from exc

    def _read(self) -> tuple[Any, AppCredentialSource]:
        """Read Key Vault and (re)build the azure-identity credential; the caller holds the lock."""
        from azure.identity import ClientSecretCredential

        vault = self._open_vault()
        name = self.name or ""
        kind = "certificate" if self.mode is GraphCredentialMode.CLIENT_CERTIFICATE else "secret"
        where = f"{self.setting} ({kind} '{name}' in {self.key_vault_url})"
        options = authority_options(self.settings)
        try:
            if self.mode is GraphCredentialMode.CLIENT_CERTIFICATE:
                chosen, bundle = read_certificate(vault, name, now=self._clock(), source=where)
                source = self._source_of(chosen, bundle.thumbprint, bundle.not_after)
                if self._unchanged(source):
                    return self._kept()
                credential: Any = certificate_credential(self.settings, bundle)
                del bundle
            else:
                chosen, secret = read_secret(vault, name, now=self._clock(), source=where)
                source = self._source_of(chosen, None, chosen.expires_on)
                if self._unchanged(source):
                    return self._kept()
                credential = ClientSecretCredential(
                    self.tenant_id, self.client_id, secret, **options
                )
                del secret
        except KeyVaultError as exc:
            raise KeyVaultError(
                self._with_fix(str(exc), exc.status, answered=exc.status is not None),
                status=exc.status,
                code=exc.code,
            ) from exc
        except CredentialError as exc:
            raise CredentialError(self._with_fix(str(exc), None)) from exc
        if self._previous is not None:
            self._previous[0].close()
        if self._credential is not None and self._source is not None:
            self._previous = (self._credential, self._source)
        self._credential, self._source, self._read_at = credential, source, time.monotonic()
        return credential, source

    def _open_vault(self) -> VaultReader:
        if self._vault is None:
            self._vault = self._factory(self.key_vault_url)
        return self._vault

    def _source_of(
        self, chosen: VersionInfo, thumbprint: str | None, expires_on: dt.datetime | None
    ) -> AppCredentialSource:
        return AppCredentialSource(
            mode=self.mode,
            tenant_id=self.tenant_id,
            client_id=self.client_id,
            key_vault_url=self.key_vault_url,
            name=self.name or "",
            version=chosen.version,
            thumbprint=thumbprint,
            expires_on=expires_on,
        )

    def _unchanged(self, source: AppCredentialSource) -> bool:
        return self._credential is not None and self._source == source

    def _kept(self) -> tuple[Any, AppCredentialSource]:
        assert self._source is not None
        self._read_at = time.monotonic()
        return self._credential, self._source

    # -- messages -------------------------------------------------------------------------------

    def _with_fix(self, message: str, status: int | None, *, answered: bool = True) -> str:
        app = f"app {self.client_id} in tenant {self.tenant_id}"
        if not message.startswith(self.setting):
            message = f"{self.setting}: {message}"
        message = message.removesuffix("; add a valid version in Key Vault")  # said below
        if status == 404:
            fix = (
                f"create it in {self.key_vault_url}, or correct {self.setting} / "
                f"{ENV_GRAPH_KEYVAULT_URL}"
            )
        elif status == 403:
            fix = f"grant the managed identity that role on the vault {self.key_vault_url}"
        elif status == 401:
            fix = (
                f"the vault {self.key_vault_url} refused the managed identity's token: the "
                "identity must be in the vault's tenant and get tokens for Key Vault"
            )
        elif status is not None:
            fix = f"check that {self.key_vault_url} is reachable and try again"
        elif not answered:
            fix = (
                f"no answer from {self.key_vault_url}, or no token for it: check the network "
                "and that the managed identity (or your az login) can get Key Vault tokens"
            )
        elif self.mode is GraphCredentialMode.CLIENT_CERTIFICATE:
            fix = (
                "the app's certificate needs a version that is enabled, within its dates, with "
                f"an exportable RSA key of 2048 bits or more, uploaded to {app} (Certificates & "
                "secrets)"
            )
        else:
            fix = f"create a new client secret on {app} and store its value as a new version"
        self.last_fix = fix
        return f"{message}; {fix}"

    def _explain(self, exc: Exception, source: AppCredentialSource) -> str:
        """Entra's refusal, cut to its AADSTS line, with what to do about it."""
        message, self.last_fix = explain_refusal(
            exc,
            source,
            setting=self.setting,
            authority_host=self.settings.authority_host,
            client_id=self.client_id,
            tenant_id=self.tenant_id,
        )
        return message
