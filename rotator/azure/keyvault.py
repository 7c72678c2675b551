"""Read versions and values of certificates and secrets from Azure Key Vault with the Azure SDK.

The only module that talks to Key Vault. SDK exceptions become ``KeyVaultError`` here, with the
role an operator has to grant when access is denied. Values are returned, never logged. What is
returned comes from the raw answers, read strictly by ``rotator.azure.keyvault_answers`` (through the
SDK's ``raw_response_hook``), not from the SDK's models, which pass wrong types through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineResponse
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.secrets import SecretClient

from rotator.azure.keyvault_answers import (
    MAX_ANSWER_BYTES,
    SecretValue,
    parse_secret_bundle,
    parse_version_page,
)
from rotator.azure.refused import NoRetryOnRefused, is_refused
from rotator.config.settings import ENV_CONFIG, ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE
from rotator.errors import ConfigurationError, KeyVaultError, one_line
from rotator.hints import fix_for, not_listening
from rotator.model import VersionInfo
from rotator.text import load_json, truncate

__all__ = ["MAX_PAGES", "KeyVaultClient", "SecretValue"]

MAX_PAGES = 100
"""The most pages of one version list read (25 versions a page): a list longer than that, or a
``nextLink`` that leads back to itself, is an error, not an endless loop."""

_ROLE = {
    "certificates": "Key Vault Certificate User",
    "secrets": "Key Vault Secrets User",
}


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
        # azure-core's policy with these options, but a refused connection is final (refused.py)
        options.setdefault("retry_policy", NoRetryOnRefused(**options))
        self._secrets = SecretClient(self.vault_url, credential, **options)
        self._certificates = CertificateClient(self.vault_url, credential, **options)

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        """Every version of certificate ``name`` with validity and thumbprint, in Key Vault's order.

        Raises:
            KeyVaultError: not found, access denied, or the call failed.
        """
        return self._list_versions(
            "certificates", name, self._certificates.list_properties_of_certificate_versions
        )

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        """Every version of secret ``name`` with its validity, in Key Vault's order (no values).

        Raises:
            KeyVaultError: not found, access denied, or the call failed.
        """
        return self._list_versions(
            "secrets", name, self._secrets.list_properties_of_secret_versions
        )

    def get_secret(self, name: str, version: str) -> SecretValue:
        """The value of secret ``name`` at ``version``; for a certificate, its PFX or PEM with the key.

        Raises:
            KeyVaultError: not found, disabled, access denied, or the call failed.
        """
        answers: list[SecretValue] = []
        what = _what("secrets", name, version)

        def read(response: PipelineResponse[Any, Any]) -> None:
            if response.http_response.status_code == 200:
                body = response.http_response.body()
                answers.append(parse_secret_bundle(body, what=what, name=name, version=version))

        with self._translate("secrets", name, version):
            self._secrets.get_secret(name, version, raw_response_hook=read)
        if not answers:  # the SDK returned without a 200 answer: cannot happen, never believed
            raise KeyVaultError(f"{what}: Key Vault sent no answer to read")
        return answers[-1]

    def _list_versions(self, kind: str, name: str, pager: Callable[..., Any]) -> list[VersionInfo]:
        """Every version of ``name``, page by page, each page read strictly; at most
        ``MAX_PAGES`` pages."""
        versions: list[VersionInfo] = []
        pages = 0
        what = _what(kind, name)

        def read(response: PipelineResponse[Any, Any]) -> None:
            nonlocal pages
            if response.http_response.status_code != 200:
                return
            page = parse_version_page(
                response.http_response.body(),
                what=what,
                kind=kind,
                name=name,
                vault_url=self.vault_url,
            )
            pages += 1
            versions.extend(page.versions)
            if page.next_link and pages >= MAX_PAGES:
                raise KeyVaultError(
                    f"{what}: Key Vault's version list goes on past {MAX_PAGES} pages "
                    f"({len(versions)} versions read); delete old versions, or check the vault "
                    "URL points at Key Vault"
                )

        with self._translate(kind, name):
            for _ in pager(name, raw_response_hook=read).by_page():
                pass  # the SDK follows nextLink; ``read`` keeps what each page says
        return versions

    def close(self) -> None:
        """Close both SDK clients and their connection pools."""
        self._secrets.close()
        self._certificates.close()

    @contextmanager
    def _translate(self, kind: str, name: str, version: str | None = None) -> Iterator[None]:
        what = _what(kind, name, version)
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
            if is_refused(exc):  # the fix (is the emulator running?) is fix_for's, for the reader
                where = not_listening(self.vault_url, f"the keyVaultUrl of {ENV_CONFIG}")
                raise KeyVaultError(f"{what}: {where}") from exc
            detail = truncate(one_line(exc.message))
            fix = fix_for(detail)
            raise KeyVaultError(
                f"{what}: cannot reach {self.vault_url}: {detail}" + (f"; {fix}" if fix else "")
            ) from exc
        except ValueError as exc:
            if "challenge resource" in str(exc):
                raise ConfigurationError(
                    f"{self.vault_url} answered with a challenge for another resource; for a local "
                    f"vault set {ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE}=false"
                ) from exc
            raise KeyVaultError(
                f"{what}: Key Vault's answer {where} could not be read "
                f"({type(exc).__name__}: {truncate(one_line(exc))})"
            ) from exc
        except (TypeError, KeyError, AttributeError) as exc:  # the SDK's models, on a bad answer
            raise KeyVaultError(
                f"{what}: Key Vault's answer {where} could not be read ({type(exc).__name__})"
            ) from exc


def _what(kind: str, name: str, version: str | None = None) -> str:
    """``Key Vault secret 'name' version v``: how errors name the object."""
    return f"Key Vault {kind[:-1]} '{name}'" + (f" version {version}" if version else "")


def _code(exc: HttpResponseError) -> str | None:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error else None
    return truncate(code) if isinstance(code, str) and code else None


def _inner_code(exc: HttpResponseError) -> str | None:
    model = getattr(exc, "model", None)
    inner = getattr(getattr(model, "error", None), "inner_error", None)
    code = getattr(inner, "code", None)
    if not code:
        try:
            text = exc.response.text() if exc.response is not None else ""
            code = load_json(text, max_bytes=MAX_ANSWER_BYTES)["error"]["innererror"]["code"]
        except (ValueError, AttributeError, KeyError, TypeError):
            return None
    return truncate(code) if isinstance(code, str) and code else None


def _message(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) if error else None
    return truncate(one_line(text or exc.message or exc.reason))
