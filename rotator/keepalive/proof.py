"""The proof of possession Graph's ``addKey`` / ``removeKey`` want (pure): a JWT signed with a key
the application already has registered, and the public key credential to add.

Claims per Microsoft's "application rollkey prooftoken" page: ``aud``
``00000002-0000-0000-c000-000000000000``, ``iss`` the application's object id, ``nbf`` now and
``exp`` at most 10 minutes later; header RS256 with the signing certificate's ``x5t``; base64url
without any ``=`` padding (Graph answers ``Authentication_MissingOrMalformed`` otherwise).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"
MAX_LIFETIME = 600  # seconds: Graph refuses a proof that lives longer


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def proof_token(
    private_key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    *,
    object_id: str,
    now: dt.datetime,
    lifetime: int = MAX_LIFETIME,
) -> str:
    """A proof signed with ``private_key`` (whose certificate the application has registered).

    Raises:
        ValueError: ``lifetime`` is not between 1 and 600 seconds.
    """
    if not 1 <= lifetime <= MAX_LIFETIME:
        raise ValueError(f"a proof lives 1 to {MAX_LIFETIME} seconds, not {lifetime}")
    der = certificate.public_bytes(serialization.Encoding.DER)
    header = {"alg": "RS256", "typ": "JWT", "x5t": b64url(hashlib.sha1(der).digest())}  # noqa: S324 - x5t is SHA-1 by definition
    nbf = int(now.timestamp())
    payload = {"aud": PROOF_AUDIENCE, "iss": object_id, "nbf": nbf, "exp": nbf + lifetime}
    signing_input = f"{_part(header)}.{_part(payload)}"
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def key_credential(certificate: x509.Certificate, thumbprint: str) -> dict[str, Any]:
    """The ``keyCredential`` of addKey: the public certificate only, never a private key."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64.b64encode(der).decode("ascii"),
        "displayName": f"rotator {thumbprint}",
    }


def _part(claims: dict[str, Any]) -> str:
    return b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
