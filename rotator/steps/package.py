"""Package: read a planned version's value from Key Vault, validate it, and repackage it for Graph.

A certificate becomes a PKCS#12 with a fresh password (``pkcs12.py`` does the cryptography); a
basic-auth password is checked for emptiness. The vault is passed in as a :class:`VaultReader`,
so everything here is testable without a network; nothing secret is kept in a ``repr``.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rotator.errors import CredentialError, KeyVaultError
from rotator.events import emit
from rotator.model import BasicTarget, ConnectorState, Pkcs12Profile, Target, VersionInfo
from rotator.steps import pkcs12, policy
from rotator.steps.plan import ConnectorPlan, source_of

if TYPE_CHECKING:
    from rotator.azure.keyvault import SecretValue

log = logging.getLogger("rotator")


class VaultReader(Protocol):
    """What reading a credential needs from a vault (``rotator.azure.keyvault.KeyVaultClient``)."""

    vault_url: str

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        """Every version of certificate ``name``."""
        ...

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        """Every version of secret ``name``."""
        ...

    def get_secret(self, name: str, version: str) -> SecretValue:
        """The value of secret ``name`` at ``version``."""
        ...


@dataclass(frozen=True)
class Install:
    """One certificate to put on a connector: its Key Vault version and the PFX Graph gets."""

    version: VersionInfo
    thumbprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    pfx: str  # base64 PKCS#12, encrypted with ``password``
    password: str
    bundle: pkcs12.CertificateBundle  # key and chain, for the probe's TLS handshake

    def __repr__(self) -> str:
        return f"Install(version={self.version.version!r}, thumbprint={self.thumbprint!r})"


@dataclass(frozen=True)
class CertificateChange:
    """The certificates a rotation writes, in order (the one active now first)."""

    plan: ConnectorPlan
    installs: tuple[Install, ...]
    notes: tuple[str, ...] = ()  # e.g. a refused pre-stage, said in the outcome

    @property
    def last(self) -> VersionInfo:
        """The version the outcome reports (the newest written)."""
        return self.installs[-1].version

    def describe(self, connector: ConnectorState, now: dt.datetime, *, done: bool = False) -> str:
        """E.g. ``replace certificate 0EB2… with 72C1… (version 3f…)``; past tense when ``done``."""
        names = ", ".join(
            f"{i.thumbprint} (version {i.version.version}"
            + (
                f", pre-staged until {i.not_before:%Y-%m-%d %H:%M} UTC)"
                if i.not_before > now
                else ")"
            )
            for i in self.installs
        )
        replace, add = ("replaced", "added") if done else ("replace", "add")
        if self.plan.compact:
            return f"{replace} {connector.describe()} (it held expired certificates) with {names}"
        if self.plan.replace:
            return f"{replace} {connector.describe()} with {names}"
        return f"{add} {names} beside {connector.describe()}"


@dataclass(frozen=True)
class PasswordChange:
    """The basic-auth password a rotation writes (never shown)."""

    plan: ConnectorPlan
    username: str
    password: str = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def last(self) -> VersionInfo:
        """The version written."""
        return self.plan.chosen

    def describe(self, connector: ConnectorState, now: dt.datetime, *, done: bool = False) -> str:
        """E.g. ``replace basic auth as 'api' with version 3f… for 'api'``."""
        verb = "replaced" if done else "replace"
        return (
            f"{verb} {connector.describe()} with version {self.plan.chosen.version} "
            f"for {self.username!r}"
        )


Change = CertificateChange | PasswordChange


def change_for(
    vault: VaultReader,
    plan: ConnectorPlan,
    connector: ConnectorState,
    *,
    now: dt.datetime,
    profile: Pkcs12Profile,
    force: bool,
) -> Change:
    """Read and package what ``plan`` installs that the connector does not hold yet.

    A pre-staged (future) certificate that fails validation does not block the current one: it
    is left out, logged (``rotation.prestage_refused``) and noted in the change.

    Raises:
        KeyVaultError: a value could not be read.
        CredentialError: the value fails validation, or (unless ``force``) the new certificate
            expires before the one the connector uses now.
    """
    target = plan.target
    if isinstance(target, BasicTarget):
        password = read_password(vault, target, plan.chosen)
        return PasswordChange(plan, target.username, password)
    todo = plan.versions if plan.replace else list(plan.missing)
    name = target.certificate
    installs = [
        package_certificate(vault, name, v, now, profile=profile, source=source_of(target))
        for v in todo
        if v is plan.chosen
    ]
    notes: list[str] = []
    if plan.pending in todo and plan.pending is not None:
        try:
            installs.append(
                package_certificate(
                    vault,
                    name,
                    plan.pending,
                    now,
                    profile=profile,
                    source=source_of(target),
                    future=True,
                )
            )
        except CredentialError as exc:  # a broken pre-stage must not block the current one
            emit(
                log,
                logging.WARNING,
                "rotation.prestage_refused",
                connectorId=target.connector_id,
                reason=str(exc),
            )
            notes.append(f"pre-staging refused: {exc}")
            if not installs:
                raise
    if not force:
        policy.check_not_shorter(
            connector,
            installs[0].not_after,
            source=f"{source_of(target)} version {installs[0].version.version}",
        )
    return CertificateChange(plan, tuple(installs), tuple(notes))


def package_certificate(
    vault: VaultReader,
    name: str,
    version: VersionInfo,
    now: dt.datetime,
    *,
    profile: Pkcs12Profile,
    source: str,
    future: bool = False,
) -> Install:
    """Read the private key of ``version`` (its backing secret), validate it and package it as
    PKCS#12 with a fresh password. ``future``: a version not valid yet is accepted (pre-staged).

    Raises:
        KeyVaultError: the backing secret could not be read.
        CredentialError: the value fails validation.
    """
    bundle = load_certificate(vault, name, version, now, source=source, future=future)
    password = pkcs12.new_password()
    pfx = pkcs12.to_pkcs12(bundle, password, profile)
    return Install(
        version=version,
        thumbprint=bundle.thumbprint,
        not_before=bundle.not_before,
        not_after=bundle.not_after,
        pfx=base64.b64encode(pfx).decode(),
        password=password,
        bundle=bundle,
    )


def load_certificate(
    vault: VaultReader,
    name: str,
    version: VersionInfo,
    now: dt.datetime,
    *,
    source: str,
    future: bool = False,
) -> pkcs12.CertificateBundle:
    """The key and chain of ``version`` from its backing secret, validated as a connector's.

    Raises:
        KeyVaultError: the backing secret could not be read.
        CredentialError: the value fails validation.
    """
    versioned = f"{source} version {version.version}"
    secret = vault.get_secret(name, version.version)
    bundle = pkcs12.load_secret(secret.value, secret.content_type, source=versioned)
    del secret
    pkcs12.validate(
        bundle,
        now=now,
        source=versioned,
        expected_thumbprint=version.thumbprint,
        allow_future=future,
    )
    return bundle


def read_password(vault: VaultReader, target: Target, version: VersionInfo) -> str:
    """The value of ``version`` of a basic-auth target's secret.

    Raises:
        KeyVaultError: the secret could not be read.
        CredentialError: the value is empty.
    """
    value = vault.get_secret(target.key_vault_object, version.version).value
    if not value.strip():
        raise CredentialError(f"{source_of(target)} version {version.version} is empty")
    return value


def read_certificate(
    vault: VaultReader, name: str, *, now: dt.datetime, source: str
) -> tuple[VersionInfo, pkcs12.CertificateBundle]:
    """The newest usable version of certificate ``name`` with its validated key and chain.

    Reads the version list, then the backing secret of that version (PFX or PEM), and checks
    it as a connector's certificate is checked: exportable key, RSA of at least 2048 bits,
    valid now, the certificate Key Vault lists.

    Raises:
        KeyVaultError: the certificate does not exist, or a Key Vault call failed.
        CredentialError: no usable version, or the version fails validation.
    """
    versions = vault.list_certificate_versions(name)
    chosen = _newest(versions, now, kind="certificate", source=source)
    return chosen, load_certificate(vault, name, chosen, now, source=source)


def read_secret(
    vault: VaultReader, name: str, *, now: dt.datetime, source: str
) -> tuple[VersionInfo, str]:
    """The newest usable version of secret ``name`` and its (non-empty) value.

    Raises:
        KeyVaultError: the secret does not exist, or a Key Vault call failed.
        CredentialError: no usable version, or the value is empty.
    """
    versions = vault.list_secret_versions(name)
    chosen = _newest(versions, now, kind="secret", source=source)
    value = vault.get_secret(name, chosen.version).value
    if not value.strip():
        raise CredentialError(f"{source} version {chosen.version} is empty")
    return chosen, value


def _newest(
    versions: list[VersionInfo], now: dt.datetime, *, kind: str, source: str
) -> VersionInfo:
    if not versions:
        raise KeyVaultError(f"{source} was not found (no {kind} of that name)", status=404)
    return policy.newest_usable(versions, now, source=source)
