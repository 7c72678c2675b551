"""Verify a policy key: read the set until the new key is there with the dates intended, then ask
``getActiveKey`` until B2C uses it, within the verification timeout (a read can lag a write).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rotator.errors import GraphError, VerificationError
from rotator.model import CredentialKind
from rotator.steps.keyset_apply import KeyUpload
from rotator.steps.keyset_plan import KeySet, PolicyKey, x5t_of

if TYPE_CHECKING:
    from rotator.azure.keysets import KeySetClient


def find(change: KeyUpload, written: PolicyKey | None, key_set: KeySet) -> PolicyKey | None:
    """The new key in ``key_set``: by the ``kid`` B2C gave it, else (a certificate) its ``x5t``."""
    if written is not None and (key := key_set.by_kid(written.kid)):
        return key
    thumbprint = change.plan.chosen.thumbprint
    if change.plan.target.kind is CredentialKind.CERTIFICATE and thumbprint:
        return key_set.by_x5t(x5t_of(thumbprint))
    return None


def mismatch(change: KeyUpload, key: PolicyKey | None) -> str | None:
    """What about the key in the set contradicts the upload (missing, other dates), or None."""
    if key is None:
        return "the new key is not in the set"
    plan = change.plan
    want_nbf = plan.not_before.replace(microsecond=0)
    if change.install is not None:  # a certificate's dates are its own
        want_nbf = change.install.not_before.replace(microsecond=0)
    want_exp = change.install.not_after if change.install is not None else plan.expires
    if change.uploads and key.nbf != want_nbf:
        return f"{key.describe()} has nbf other than the intended {want_nbf:%Y-%m-%d %H:%M:%S} UTC"
    if change.uploads and want_exp is not None and key.exp != want_exp.replace(microsecond=0):
        return f"{key.describe()} has exp other than the intended {want_exp:%Y-%m-%d %H:%M:%S} UTC"
    return None


def confirm(
    client: KeySetClient,
    change: KeyUpload,
    written: PolicyKey | None,
    *,
    timeout: float,
    clock: Callable[[], dt.datetime],
    sleep: Callable[[float], None],
) -> PolicyKey:
    """Poll until the set holds the new key as intended and ``getActiveKey`` returns it (backing
    off from 0.25 s to 2 s), within ``timeout``; the active key.

    Raises:
        VerificationError: not confirmed in time; says whether the key is in the set but not
            active, and which key B2C uses instead.
    """
    key_set = change.plan.target.key_set
    deadline = time.monotonic() + timeout
    delay, reads, problem, key = 0.25, 0, "no read", None
    while True:
        reads += 1
        left = max(1.0, deadline - time.monotonic())
        try:
            if key is None or mismatch(change, key) is not None:
                key = find(change, written, client.get_key_set(key_set, within=left))
            problem = mismatch(change, key) or ""
            if not problem and key is not None:
                active = client.get_active_key(key_set, within=left)
                if active is not None and active.kid == key.kid:
                    return active
                problem = f"{key.describe()} is in the set but not active: B2C uses " + (
                    active.describe() if active else "no key (none is valid)"
                )
        except GraphError as exc:
            problem = f"the verification read failed: {exc}"
        if time.monotonic() + delay > deadline:
            raise VerificationError(
                f"key set {key_set}: the upload was accepted but not confirmed after {reads} "
                f"read(s): {problem}; the next run checks again"
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)
