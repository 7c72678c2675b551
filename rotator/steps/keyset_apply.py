"""Package and apply a policy key: read the planned Key Vault version, validate it, and append it
to the key set (``uploadPkcs12`` for a certificate, as a 3DES/SHA-1 PKCS#12 with a fresh random
password; ``uploadSecret`` for a secret, with the set's ``use`` and ``nbf`` / ``exp``). Append only:
a certificate already in the set is not uploaded again, and nothing is ever replaced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rotator.model import CredentialKind, Pkcs12Profile, PolicyKeyTarget
from rotator.steps.keyset_plan import KeySet, KeySetPlan, PolicyKey, x5t_of
from rotator.steps.package import Install, VaultReader, package_certificate, read_password
from rotator.steps.plan import source_of
from rotator.steps.progress import Progress

if TYPE_CHECKING:
    from rotator.azure.keysets import KeySetClient


@dataclass(frozen=True)
class KeyUpload:
    """What a policy key's rotation appends (nothing when the certificate is already there)."""

    plan: KeySetPlan
    before: KeySet  # the set as read before the upload
    install: Install | None = None  # a certificate to upload: PKCS#12, password, key for the probe
    secret: str | None = field(default=None, repr=False)  # a secret to upload
    notes: tuple[str, ...] = ()

    @property
    def uploads(self) -> bool:
        """Whether anything is sent (a certificate already in the set is not)."""
        return self.install is not None or self.secret is not None

    def describe(self, *, done: bool = False) -> str:
        """E.g. ``upload certificate 72C1… (version 3f…) to key set B2C_1A_x (3 keys)``."""
        plan = self.plan
        what = (
            f"certificate {plan.chosen.thumbprint} (version {plan.chosen.version})"
            if plan.target.kind is CredentialKind.CERTIFICATE
            else f"secret version {plan.chosen.version} (nbf {plan.not_before:%Y-%m-%d %H:%M} UTC)"
        )
        size = len(self.before.keys)
        where = f"key set {plan.target.key_set} (it held {size} key{'s' * (size != 1)})"
        if not self.uploads:
            return f"{'checked' if done else 'check'} that {what}, already in {where}, is active"
        return f"{'uploaded' if done else 'upload'} {what} to {where}"


def package(
    vault: VaultReader,
    plan: KeySetPlan,
    before: KeySet,
    run: Progress[PolicyKeyTarget],
    *,
    now: dt.datetime,
) -> KeyUpload:
    """Read and validate what ``plan`` uploads; a certificate becomes a 3DES/SHA-1 PKCS#12 (the
    only one B2C opens) with a fresh random password.

    Raises:
        KeyVaultError: the value could not be read.
        CredentialError: the value fails validation (or a secret is empty).
    """
    target = plan.target
    if target.kind is CredentialKind.CERTIFICATE:
        if plan.present is not None:
            run.key_id = plan.present.kid
            return KeyUpload(plan, before)
        install = package_certificate(
            vault,
            target.key_vault_object,
            plan.chosen,
            now,
            profile=Pkcs12Profile.LEGACY_3DES,
            source=source_of(target),
        )
        upload = KeyUpload(plan, before, install=install)
        secrets = [install.password, install.pfx]
        run.uploading(
            plan.chosen, secrets, thumbprint=install.thumbprint, not_after=install.not_after
        )
        return upload
    secret = read_password(vault, target, plan.chosen)
    run.uploading(plan.chosen, [secret])
    return KeyUpload(plan, before, secret=secret)


def upload(
    client: KeySetClient, change: KeyUpload, run: Progress[PolicyKeyTarget]
) -> PolicyKey | None:
    """Append ``change`` to the key set (after checking the lease is still held); the new key as
    B2C answered it, or None when nothing was sent.

    Raises:
        RotationInProgressError: the lease was lost before the upload.
        GraphError: B2C refused the key, or the outcome stays unknown (``may_have_landed``).
    """
    plan = change.plan
    key_set = plan.target.key_set
    if change.install is not None:
        run.ensure_lease()
        key = client.upload_pkcs12(
            key_set,
            change.install.pfx,
            change.install.password,
            x5t=x5t_of(change.install.thumbprint),
        )
    elif change.secret is not None:
        run.ensure_lease()
        key = client.upload_secret(
            key_set,
            change.secret,
            use=plan.use,
            nbf=plan.not_before,
            exp=plan.expires,
            before=change.before,
        )
    else:
        return None
    run.wrote = True
    run.key_id = key.kid
    return key
