"""Read versions and values of certificates and secrets from Azure Key Vault with the Azure SDK.

The only module that talks to Key Vault. SDK exceptions become ``KeyVaultError`` here, with the
role an operator has to grant when access is denied. Values are returned, never logged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.certificates import CertificateClient, CertificateProperties
from azure.keyvault.secrets import SecretClient, SecretProperties

from rotator.errors import ConfigurationError, KeyVaultError, one_line
from rotator.model import VersionInfo
from rotator.settings import ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE

_ROLE = {
    "certificates": "Key Vault Certificate User",
    "secrets": "Key Vault Secrets User",
}


@dataclass(frozen=True)
class SecretValue:
    """A secret's value and content type; ``repr`` never shows the value."""

    value: str
    content_type: str | None

    def __repr__(self) -> str:
        return f"SecretValue(value=<{len(self.value)} chars>, content_type={self.content_type!r})"


class KeyVaultClient:
    """Versions and values from one vault: certificates' public data, secrets' values on demand."""

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential,
        *,
        verify_challenge_resource: bool = True,
        connection_verify: str | bool = True,
        **client_kwargs: Any,
    ) -> None:
        self.vault_url = vault_url.rstrip("/")
        options: dict[str, Any] = {
            "verify_challenge_resource": verify_challenge_resource,
            "connection_verify": connection_verify,
            "connection_timeout": 10,
            "read_timeout": 30,
            "retry_total": 3,
            "retry_backoff_max": 8,
            "timeout": 90,  # the retry policy's overall deadline per call, as for Graph
            **client_kwargs,
        }
        self._secrets = SecretClient(self.vault_url, credential, **options)
        self._certificates = CertificateClient(self.vault_url, credential, **options)

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        """Every version of certificate ``name`` with validity and thumbprint, in Key Vault's order.

        Raises:
            KeyVaultError: not found, access denied, or the call failed.
        """
        with self._translate("certificates", name):
            return [
                _version(
                    name,
                    props,
                    props.x509_thumbprint.hex().upper() if props.x509_thumbprint else None,
                )
                for props in self._certificates.list_properties_of_certificate_versions(name)
            ]

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        """Every version of secret ``name`` with its validity, in Key Vault's order (no values).

        Raises:
            KeyVaultError: not found, access denied, or the call failed.
        """
        with self._translate("secrets", name):
            return [
                _version(name, props, None)
                for props in self._secrets.list_properties_of_secret_versions(name)
            ]

    def get_secret(self, name: str, version: str) -> SecretValue:
        """The value of secret ``name`` at ``version``; for a certificate, its PFX or PEM with the key.

        Raises:
            KeyVaultError: not found, disabled, access denied, or the call failed.
        """
        with self._translate("secrets", name, version):
            secret = self._secrets.get_secret(name, version)
            return SecretValue(secret.value or "", secret.properties.content_type)

    def close(self) -> None:
        """Close both SDK clients and their connection pools."""
        self._secrets.close()
        self._certificates.close()

    @contextmanager
    def _translate(self, kind: str, name: str, version: str | None = None) -> Iterator[None]:
        what = f"Key Vault {kind[:-1]} '{name}'" + (f" version {version}" if version else "")
        where = f"in {self.vault_url}"
        try:
            yield
        except ResourceNotFoundError as exc:
            raise KeyVaultError(
                f"{what} was not found {where}; check the name in ROTATOR_CONFIG and the vault URL",
                status=404,
                code=_code(exc),
            ) from exc
        except ClientAuthenticationError as exc:
            raise KeyVaultError(
                f"{what}: authentication to {self.vault_url} failed: {_message(exc)}",
                status=exc.status_code,
                code=_code(exc),
            ) from exc
        except HttpResponseError as exc:
            status, code = exc.status_code, _code(exc)
            inner = _inner_code(exc)
            if status == 403 and inner in ("SecretDisabled", "CertificateDisabled"):
                message = f"{what} is disabled {where}"
            elif status == 403:
                message = (
                    f"{what}: access denied {where} ({inner or code}); grant the identity the "
                    f"'{_ROLE[kind]}' role on the vault"
                )
            elif status == 429:
                message = f"{what}: Key Vault throttled the request {where}; try again later"
            else:
                message = f"{what}: Key Vault answered {status} ({code}): {_message(exc)}"
            raise KeyVaultError(message, status=status, code=inner or code) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise KeyVaultError(
                f"{what}: cannot reach {self.vault_url}: {one_line(exc.message)}"
            ) from exc
        except ValueError as exc:
            if "challenge resource" in str(exc):
                raise ConfigurationError(
                    f"{self.vault_url} answered with a challenge for another resource; for a local "
                    f"vault set {ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE}=false"
                ) from exc
            raise


def _version(
    name: str, props: SecretProperties | CertificateProperties, thumbprint: str | None
) -> VersionInfo:
    return VersionInfo(
        name=name,
        version=props.version or "",
        enabled=bool(props.enabled),
        created_on=_utc(props.created_on),
        not_before=_utc(props.not_before),
        expires_on=_utc(props.expires_on),
        thumbprint=thumbprint,
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _code(exc: HttpResponseError) -> str | None:
    error = getattr(exc, "error", None)
    return getattr(error, "code", None) if error else None


def _inner_code(exc: HttpResponseError) -> str | None:
    model = getattr(exc, "model", None)
    inner = getattr(getattr(model, "error", None), "inner_error", None)
    code = getattr(inner, "code", None)
    if code:
        return str(code)
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else {}
    except (ValueError, AttributeError):
        return None
    inner_json = body.get("error", {}).get("innererror") if isinstance(body, dict) else None
    return (
        str(inner_json["code"]) if isinstance(inner_json, dict) and "code" in inner_json else None
    )


def _message(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) if error else None
    return one_line(text or exc.message or exc.reason)
