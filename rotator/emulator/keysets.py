"""B2C policy keys (Graph beta ``trustFramework/keySets``): the key-set store and its clock.

A key set holds JSON Web Keys and only grows through the upload actions. Secrets are never kept:
an uploaded ``k`` is held as a salted PBKDF2 hash (for :meth:`KeySetStore.secret_matches`), and an
uploaded PKCS#12 is reduced to its public certificate. The REST face is
:mod:`rotator.emulator.keysets_api`.

Which key B2C uses ("Key rollover" in B2C's
``policy-keys-overview.md``): the key with the greatest ``nbf`` that is not in the future and not
expired; upload order does not matter (among keys with the same ``nbf``, the later upload). The
emulator judges that by :meth:`KeySetStore.now`: the wall clock plus :attr:`KeySetStore.clock_offset`,
which tests move to walk across a key's ``nbf`` or ``exp`` without waiting.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.emulator import pki
from rotator.emulator.lag import use_stale_read

KeyType = Literal["RSA", "oct"]
PREFIX = "B2C_1A_"  # B2C puts it before the id a create asks for (trustframework-post-keysets.md)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
STATUS_ENABLED = "enabled"
_HASH_ROUNDS = 1000


@dataclass(frozen=True)
class RequestShape:
    """The shape of one upload body: the action and each field's JSON type, never a value."""

    action: str
    fields: tuple[tuple[str, str], ...]


def json_type(value: object) -> str:
    """The JSON type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class KeySetExists(ValueError):
    """A key set with that id is already in the tenant."""


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWKs carry ``n``, ``e`` and ``x5t``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def x5t(certificate: x509.Certificate) -> str:
    """Base64url SHA-1 of the DER certificate: a JWK's ``x5t``."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return b64url(hashlib.sha1(der, usedforsecurity=False).digest())


def epoch(moment: dt.datetime) -> int:
    """Seconds since 1970 (a JWK's NumericDate)."""
    return int(moment.timestamp())


def normalized_id(requested: str) -> str:
    """The id B2C gives a set created as ``requested``: ``B2C_1A_`` in front unless already there.

    Raises:
        ValueError: an empty id or one with characters B2C does not allow.
    """
    if not ID_PATTERN.match(requested):
        raise ValueError(f"key set id {requested!r} must be letters, digits, '_', '-' or '.'")
    if requested.upper().startswith(PREFIX.upper()):
        return requested
    return PREFIX + requested


@dataclass(frozen=True)
class PolicyKey:
    """One key of a set as Graph describes it (never ``k`` nor a private part), plus
    ``uploaded_at`` and ``is_active`` (emulator details)."""

    kid: str
    use: str
    kty: KeyType
    nbf: int | None
    exp: int | None
    x5t: str | None
    x5c: tuple[str, ...]
    n: str | None
    e: str | None
    status: str
    uploaded_at: dt.datetime
    is_active: bool


@dataclass(frozen=True)
class KeySetSnapshot:
    """What the emulated Graph holds for one key set right now; ``writes`` counts the uploads
    and replacements since it was created."""

    id: str
    tenant_id: str
    keys: tuple[PolicyKey, ...]
    writes: int

    @property
    def active(self) -> PolicyKey | None:
        """The key B2C uses now, or None."""
        return next((key for key in self.keys if key.is_active), None)


@dataclass
class StoredKey:
    """A key as the store holds it: public facts, and a hash of ``k`` for a secret."""

    kid: str
    use: str
    kty: KeyType
    nbf: int | None
    exp: int | None
    uploaded_at: dt.datetime
    sequence: int = 0
    x5t: str | None = None
    x5c: tuple[str, ...] = ()
    n: str | None = None
    e: str | None = None
    salt: bytes = field(default=b"", repr=False)
    digest: bytes = field(default=b"", repr=False)


@dataclass
class StoredKeySet:
    """A key set as the store holds it."""

    id: str
    tenant_id: str
    keys: list[StoredKey] = field(default_factory=list)
    writes: int = 0


def _hash_secret(value: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", value.encode("utf-8"), salt, _HASH_ROUNDS)


def new_kid() -> str:
    """A fresh key id (what B2C's ids look like is not documented: random base64url)."""
    return b64url(secrets.token_bytes(32))


def certificate_key(
    certificate: x509.Certificate, *, uploaded_at: dt.datetime, use: str = "sig"
) -> StoredKey:
    """The key B2C derives from an uploaded certificate: ``nbf``/``exp`` are its notBefore and
    notAfter (uploadPkcs12 takes no dates), ``x5c`` the DER certificate, ``n``/``e`` its key.

    Raises:
        ValueError: the certificate's key is not RSA.
    """
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the certificate's key is not RSA")  # noqa: TRY004 - answered as 400
    numbers = public.public_numbers()
    der = certificate.public_bytes(serialization.Encoding.DER)
    return StoredKey(
        kid=new_kid(),
        use=use,
        kty="RSA",
        nbf=epoch(certificate.not_valid_before_utc),
        exp=epoch(certificate.not_valid_after_utc),
        uploaded_at=uploaded_at,
        x5t=x5t(certificate),
        x5c=(base64.b64encode(der).decode("ascii"),),
        n=b64url(_uint(numbers.n)),
        e=b64url(_uint(numbers.e)),
    )


def secret_key(
    value: str, *, use: str, nbf: int | None, exp: int | None, uploaded_at: dt.datetime
) -> StoredKey:
    """An ``oct`` key holding ``value`` as a salted hash only."""
    salt = secrets.token_bytes(16)
    return StoredKey(
        kid=new_kid(),
        use=use,
        kty="oct",
        nbf=nbf,
        exp=exp,
        uploaded_at=uploaded_at,
        salt=salt,
        digest=_hash_secret(value, salt),
    )


def active_key(keys: Sequence[StoredKey], now: dt.datetime) -> StoredKey | None:
    """The key B2C uses at ``now``: the greatest ``nbf`` not in the future, not expired (a key
    without ``nbf`` counts as valid from the start, one without ``exp`` as never expiring);
    the later upload wins a tie."""
    moment = now.timestamp()
    valid = [
        key
        for key in keys
        if (key.nbf is None or key.nbf <= moment) and (key.exp is None or moment < key.exp)
    ]
    if not valid:
        return None
    return max(valid, key=lambda key: (key.nbf if key.nbf is not None else -1, key.sequence))


def snapshot(keyset: StoredKeySet, now: dt.datetime) -> KeySetSnapshot:
    """The public view of ``keyset`` at ``now``."""
    active = active_key(keyset.keys, now)
    return KeySetSnapshot(
        id=keyset.id,
        tenant_id=keyset.tenant_id,
        keys=tuple(
            PolicyKey(
                kid=key.kid,
                use=key.use,
                kty=key.kty,
                nbf=key.nbf,
                exp=key.exp,
                x5t=key.x5t,
                x5c=key.x5c,
                n=key.n,
                e=key.e,
                status=STATUS_ENABLED,
                uploaded_at=key.uploaded_at,
                is_active=key is active,
            )
            for key in keyset.keys
        ),
        writes=keyset.writes,
    )


class KeySetStore:
    """The emulated tenants' key sets, their clock and Graph's read lag (``stale_reads``)."""

    def __init__(self, default_tenant: str = "") -> None:
        """Start empty, on the wall clock; sets belong to ``default_tenant`` unless created in
        another one."""
        self.default_tenant = default_tenant
        self._lock = threading.RLock()
        self._sets: dict[str, StoredKeySet] = {}
        self._stale: dict[str, tuple[StoredKeySet, int]] = {}
        self._sequence = 0
        self._shapes: list[RequestShape] = []
        self.clock_offset = dt.timedelta(0)
        self.stale_reads = 0

    def now(self) -> dt.datetime:
        """The key sets' clock: the wall clock moved by :attr:`clock_offset`."""
        return pki.utcnow() + self.clock_offset

    def clear(self) -> None:
        """Remove every key set; back to the wall clock and no read lag."""
        with self._lock:
            self._sets.clear()
            self._stale.clear()
            self._shapes.clear()
            self.clock_offset = dt.timedelta(0)
            self.stale_reads = 0

    # -- seeding and inspection (Python API and control surface) ----------------------------

    def create_keyset(self, keyset_id: str, *, tenant_id: str | None = None) -> str:
        """Create an empty key set (``B2C_1A_`` is put in front as B2C does); return its id.

        Raises:
            ValueError: a bad id.
            KeySetExists: the set exists.
        """
        return self.create(keyset_id, [], tenant_id or self.default_tenant).id

    def add_certificate(self, keyset_id: str, certificate: x509.Certificate) -> str:
        """Seed a certificate's key into the set as an upload would (not counted as a write);
        return its ``kid``.

        Raises:
            KeyError: no such key set.
            ValueError: the certificate's key is not RSA.
        """
        key = certificate_key(certificate, uploaded_at=self.now())
        return self._append(keyset_id, key, write=False).kid

    def add_secret(
        self,
        keyset_id: str,
        value: str,
        *,
        use: str = "enc",
        nbf: int | None = None,
        exp: int | None = None,
    ) -> str:
        """Seed a secret into the set as uploadSecret would (not counted as a write); return
        its ``kid``.

        Raises:
            KeyError: no such key set.
        """
        key = secret_key(value, use=use, nbf=nbf, exp=exp, uploaded_at=self.now())
        return self._append(keyset_id, key, write=False).kid

    def keyset(self, keyset_id: str) -> KeySetSnapshot:
        """The current state of one key set (ignores the read lag).

        Raises:
            KeyError: no such key set.
        """
        with self._lock:
            return snapshot(self._get(keyset_id), self.now())

    def keysets(self) -> list[KeySetSnapshot]:
        """The current state of every key set."""
        now = self.now()
        with self._lock:
            return [snapshot(keyset, now) for keyset in self._sets.values()]

    def secret_matches(self, keyset_id: str, candidate: str) -> str | None:
        """The ``kid`` of the newest ``oct`` key of the set holding exactly ``candidate``, or None.

        Raises:
            KeyError: no such key set.
        """
        with self._lock:
            keys = list(self._get(keyset_id).keys)
        for key in reversed(keys):
            if key.kty == "oct" and key.digest:
                digest = _hash_secret(candidate, key.salt)
                if hmac.compare_digest(key.digest, digest):
                    return key.kid
        return None

    def request_shapes(self) -> list[RequestShape]:
        """The shape of every upload body received, oldest first: field names and JSON types,
        never a value (what a conformance test checks against Microsoft's request models)."""
        with self._lock:
            return list(self._shapes)

    def record_shape(self, action: str, body: Mapping[str, object]) -> None:
        """Remember the field names and JSON types of an upload body (no value)."""
        shape = RequestShape(action, tuple(sorted((k, json_type(v)) for k, v in body.items())))
        with self._lock:
            self._shapes.append(shape)

    def delete(self, keyset_id: str) -> bool:
        """Delete a key set; False when it does not exist."""
        with self._lock:
            self._stale.pop(keyset_id.lower(), None)
            return self._sets.pop(keyset_id.lower(), None) is not None

    # -- used by the REST face --------------------------------------------------------------

    def _get(self, keyset_id: str) -> StoredKeySet:
        keyset = self._sets.get(keyset_id.lower())
        if keyset is None:
            raise KeyError(f"no key set {keyset_id!r} in the emulator")
        return keyset

    def tenant_of(self, keyset_id: str) -> str | None:
        """The tenant that owns the key set, or None when there is no such set."""
        with self._lock:
            keyset = self._sets.get(keyset_id.lower())
            return keyset.tenant_id if keyset else None

    def current(self, keyset_id: str) -> StoredKeySet | None:
        """A copy of the set as it is now (no read lag), or None."""
        with self._lock:
            keyset = self._sets.get(keyset_id.lower())
            return copy.deepcopy(keyset) if keyset else None

    def read(self, keyset_id: str) -> StoredKeySet | None:
        """A copy of the set as a lagging Graph read shows it (uses up one stale read)."""
        key = keyset_id.lower()
        with self._lock:
            stale = use_stale_read(self._stale, key)
            if stale is not None:
                return copy.deepcopy(stale)
            keyset = self._sets.get(key)
            return copy.deepcopy(keyset) if keyset else None

    def read_all(self, tenant_id: str) -> list[StoredKeySet]:
        """Copies of the tenant's key sets (a lagging one shows its state before the write)."""
        with self._lock:
            return [
                copy.deepcopy(self._stale[key][0] if key in self._stale else keyset)
                for key, keyset in self._sets.items()
                if keyset.tenant_id == tenant_id.lower()
            ]

    def create(self, keyset_id: str, keys: Sequence[StoredKey], tenant_id: str) -> StoredKeySet:
        """Create a set (a POST, or seeding) holding ``keys``.

        Raises:
            ValueError: a bad id.
            KeySetExists: a set with that id exists (in any tenant: ids are per tenant in B2C,
                the emulator keeps one namespace).
        """
        final = normalized_id(keyset_id)
        with self._lock:
            if final.lower() in self._sets:
                raise KeySetExists(final)
            keyset = StoredKeySet(id=final, tenant_id=(tenant_id or self.default_tenant).lower())
            for key in keys:
                keyset.keys.append(self._numbered(key))
            self._sets[final.lower()] = keyset
            return copy.deepcopy(keyset)

    def _numbered(self, key: StoredKey) -> StoredKey:
        self._sequence += 1
        key.sequence = self._sequence
        return key

    def _before_write(self, keyset: StoredKeySet) -> None:
        if self.stale_reads <= 0:
            return
        previous = self._stale.get(keyset.id.lower())
        state = previous[0] if previous else copy.deepcopy(keyset)
        self._stale[keyset.id.lower()] = (state, self.stale_reads)

    def _append(self, keyset_id: str, key: StoredKey, *, write: bool) -> StoredKey:
        with self._lock:
            keyset = self._get(keyset_id)
            if write:
                self._before_write(keyset)
                keyset.writes += 1
            keyset.keys.append(self._numbered(key))
            return copy.deepcopy(key)

    def upload(self, keyset_id: str, key: StoredKey) -> StoredKey:
        """Append ``key`` (uploadPkcs12, uploadSecret): counts as a write.

        Raises:
            KeyError: no such key set.
        """
        return self._append(keyset_id, key, write=True)

    def replace(self, keyset_id: str, keys: Sequence[StoredKey]) -> StoredKeySet:
        """Replace every key of the set (PUT, PATCH): counts as a write.

        Raises:
            KeyError: no such key set.
        """
        with self._lock:
            keyset = self._get(keyset_id)
            self._before_write(keyset)
            keyset.keys = [self._numbered(key) for key in keys]
            keyset.writes += 1
            return copy.deepcopy(keyset)
