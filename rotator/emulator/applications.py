"""Graph ``/applications/{id}`` for an app rolling its own keys: GET, ``addKey`` and ``removeKey``.

What Graph documents (microsoft-graph-docs-contrib ``api-reference/v1.0/api/application-addkey.md``,
``application-removekey.md`` and ``concepts/application-rollkey-prooftoken.md``):

- ``{id}`` is the application's **object id**; an application "does not need any specific
  permission to roll its own keys", so the caller is the application itself (its token's
  ``appid`` is the application's client id, its ``tid`` the application's tenant). Another
  caller gets 403 ``Authorization_RequestDenied``; an object id unknown in the caller's tenant
  404 ``Request_ResourceNotFound``.
- ``proof`` is a JWT signed RS256 with the key of one of the application's existing **valid**
  certificates (header ``x5t`` = base64url SHA-1 thumbprint), claims ``aud`` =
  ``00000002-0000-0000-c000-000000000000``, ``iss`` = the application's object id, ``nbf``,
  ``exp`` at most 10 minutes after ``nbf``; "padding character '=' must not be included in the
  JWT header and payload or an Authentication_MissingOrMalformed error is returned".
- Every refused proof answers **401** ``Authentication_MissingOrMalformed`` "Access Token
  missing or malformed." (the status and wording users report from real Graph:
  microsoftgraph/microsoft-graph-docs-contrib#1076 and #4307, microsoft-graph-docs#22076).
  The emulator adds ``innerError.emulatorDetail`` naming the failed check (never a key).
- A ``key`` that is not a DER certificate answers 400 ``KeyCredentialsInvalidValue`` (Graph's
  code for a bad key value, e.g. ansible-collections/azure#2127); a certificate the application
  already holds answers 400 ``Request_BadRequest`` (the emulator's wording: no source found).

Reading the application: real Graph needs ``Application.Read.All`` (or ownership through
``Application.ReadWrite.OwnedBy``) for ``GET /applications/{id}``; the emulator lets the app read
itself, so a client must still cope with a 403 there (inject it with a fault).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from rotator.emulator.entra import CLOCK_SKEW_SECONDS, EntraDirectory, KeyCredential, _App

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"  # the proof's ``aud`` (AAD Graph's id)
PROOF_MAX_LIFETIME_SECONDS = 600
PROOF_REFUSED_STATUS = 401
PROOF_REFUSED_CODE = "Authentication_MissingOrMalformed"
KEY_TYPE = "AsymmetricX509Cert"
KEY_USAGE = "Verify"
_B64URL_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ACTIONS = {"addkey": "addKey", "microsoft.graph.addkey": "addKey"}
_ACTIONS |= {"removekey": "removeKey", "microsoft.graph.removekey": "removeKey"}


class ApplicationProblem(Exception):
    """A Graph error answer for an application request (``detail`` is the emulator's own)."""

    def __init__(self, status: int, code: str, message: str, detail: str | None = None) -> None:
        """Keep the Graph status, code and message."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Caller:
    """Who calls: the verified Graph token's tenant and app (client) id, lower-case."""

    tenant_id: str
    app_id: str


def _proof_refused(detail: str) -> ApplicationProblem:
    return ApplicationProblem(
        PROOF_REFUSED_STATUS, PROOF_REFUSED_CODE, "Access Token missing or malformed.", detail
    )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_credential_json(credential: KeyCredential) -> dict[str, Any]:
    """A key credential as Graph shows it (``key`` is never returned)."""
    return {
        "customKeyIdentifier": credential.thumbprint,
        "displayName": credential.display_name,
        "endDateTime": _iso(credential.end),
        "key": None,
        "keyId": credential.key_id,
        "startDateTime": _iso(credential.start),
        "type": KEY_TYPE,
        "usage": KEY_USAGE,
    }


def _decode_part(part: str, what: str) -> bytes:
    if not _B64URL_PART.match(part):
        raise _proof_refused(f"the {what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _proof_refused(f"the {what} is not base64url") from exc


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode_part(part, what))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _proof_refused(f"the {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise _proof_refused(f"the {what} is not a JSON object")
    return value


def _x5t(certificate: x509.Certificate) -> str:
    digest = certificate.fingerprint(hashes.SHA1())  # noqa: S303 - x5t is SHA-1 by definition
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_proof(app: _App, proof: Any, *, now: float) -> KeyCredential:
    """Check a proof-of-possession JWT for ``app``; return the key credential that signed it.

    Raises:
        ApplicationProblem: 401 ``Authentication_MissingOrMalformed`` for any broken part.
    """
    if not isinstance(proof, str) or not proof:
        raise _proof_refused("the proof is missing")
    parts = proof.split(".")
    if len(parts) != 3:
        raise _proof_refused("the proof is not a compact JWT of three parts")
    header = _json_part(parts[0], "header")
    payload = _json_part(parts[1], "payload")
    signature = _decode_part(parts[2], "signature")
    if header.get("alg") != "RS256":
        raise _proof_refused("the header's alg is not RS256")
    x5t = header.get("x5t")
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    signer = next(
        (k for k in app.keys if isinstance(x5t, str) and _x5t(k.certificate) == x5t), None
    )
    if signer is None:
        raise _proof_refused("x5t names no key credential of this application")
    if not signer.credential.usable(moment):
        raise _proof_refused("the signing key credential is expired, not yet valid or not accepted")
    public_key = signer.certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _proof_refused("the signing certificate has no RSA key")
    try:
        public_key.verify(
            signature,
            f"{parts[0]}.{parts[1]}".encode("ascii"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise _proof_refused("the signature does not verify with the x5t certificate") from None
    _check_claims(app, payload, now)
    return signer.credential


def _check_claims(app: _App, payload: dict[str, Any], now: float) -> None:
    if payload.get("aud") != PROOF_AUDIENCE:
        raise _proof_refused(f"aud is not {PROOF_AUDIENCE}")
    if str(payload.get("iss", "")).lower() != app.application_id:
        raise _proof_refused("iss is not the application's object id")
    nbf, exp = _number(payload, "nbf"), _number(payload, "exp")
    if nbf > now + CLOCK_SKEW_SECONDS:
        raise _proof_refused("nbf is in the future")
    if exp <= now:
        raise _proof_refused("exp has passed")
    if exp - nbf > PROOF_MAX_LIFETIME_SECONDS:
        raise _proof_refused("exp - nbf is more than 10 minutes")


def _number(payload: dict[str, Any], claim: str) -> float:
    value = payload.get(claim)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _proof_refused(f"{claim} must be a number")
    return float(value)


class ApplicationsApi:
    """Answers ``/applications/{objectId}`` (GET) and its ``addKey`` / ``removeKey`` actions."""

    def __init__(self, directory: EntraDirectory) -> None:
        """Serve the applications of ``directory``."""
        self.directory = directory

    def handle(
        self,
        method: str,
        rest: list[str],
        caller: Caller,
        body: Callable[[], dict[str, Any]],
    ) -> tuple[int, dict[str, Any] | None]:
        """Answer ``rest`` (the path after ``/applications``) as ``(status, JSON body)``.

        Raises:
            ApplicationProblem: every refusal, in Graph's codes.
        """
        if not rest:
            raise ApplicationProblem(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
                "listing applications needs Application.Read.All",
            )
        app = self._own_application(rest[0], caller)
        if len(rest) == 1:
            if method != "GET":
                raise _not_allowed()
            return 200, self._application_json(app)
        action = _ACTIONS.get(rest[1].lower()) if len(rest) == 2 else None
        if action is None:
            raise ApplicationProblem(
                400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'."
            )
        if method != "POST":
            raise _not_allowed()
        if action == "addKey":
            return 200, self._add_key(app, body())
        self._remove_key(app, body())
        return 204, None

    def _own_application(self, object_id: str, caller: Caller) -> _App:
        app = self.directory.application(object_id) if _GUID.match(object_id) else None
        if app is None or app.tenant_id != caller.tenant_id:
            raise ApplicationProblem(
                404,
                "Request_ResourceNotFound",
                f"Resource '{object_id}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        if app.client_id != caller.app_id:
            raise ApplicationProblem(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
                "only the application itself may roll its keys without a permission",
            )
        return app

    def _application_json(self, app: _App) -> dict[str, Any]:
        return {
            "id": app.application_id,
            "appId": app.client_id,
            "displayName": app.display_name,
            "keyCredentials": [key_credential_json(k.credential) for k in list(app.keys)],
        }

    @staticmethod
    def _check_properties(body: dict[str, Any], allowed: tuple[str, ...], action: str) -> None:
        for key in body:
            if key not in allowed and not key.startswith("@odata."):
                raise ApplicationProblem(
                    400,
                    "BadRequest",
                    f"The parameter '{key}' in the request payload is not a valid parameter "
                    f"for the operation '{action}'.",
                )

    def _add_key(self, app: _App, body: dict[str, Any]) -> dict[str, Any]:
        self._check_properties(body, ("keyCredential", "passwordCredential", "proof"), "addKey")
        verify_proof(app, body.get("proof"), now=time.time())
        credential = body.get("keyCredential")
        if not isinstance(credential, dict):
            raise ApplicationProblem(
                400, "Request_BadRequest", "The property 'keyCredential' is required."
            )
        if credential.get("type") != KEY_TYPE or credential.get("usage") != KEY_USAGE:
            raise ApplicationProblem(
                400,
                "KeyCredentialsInvalidValue",
                f"Only keys of type '{KEY_TYPE}' with usage '{KEY_USAGE}' can be added here.",
            )
        if body.get("passwordCredential") is not None:
            raise ApplicationProblem(
                400,
                "Request_BadRequest",
                f"passwordCredential must be null for a key of type '{KEY_TYPE}'.",
            )
        certificate = _certificate(credential.get("key"))
        name = credential.get("displayName")
        display_name = name if isinstance(name, str) else certificate.subject.rfc4514_string()
        added = self.directory.add_key(app, certificate, display_name, dt.datetime.now(dt.UTC))
        if added is None:
            raise ApplicationProblem(
                400,
                "Request_BadRequest",
                "A key credential with the same certificate already exists on the application.",
            )
        return key_credential_json(added)

    def _remove_key(self, app: _App, body: dict[str, Any]) -> None:
        self._check_properties(body, ("keyId", "proof"), "removeKey")
        verify_proof(app, body.get("proof"), now=time.time())
        key_id = body.get("keyId")
        if not isinstance(key_id, str) or not self.directory.remove_key(app, key_id):
            raise ApplicationProblem(
                404,
                "Request_ResourceNotFound",
                f"No key credential with keyId '{key_id}' exists on the application.",
            )


def _not_allowed() -> ApplicationProblem:
    return ApplicationProblem(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _certificate(value: Any) -> x509.Certificate:
    """The public certificate of a ``key`` (base64 DER); never echoes the value."""
    invalid = ApplicationProblem(
        400,
        "KeyCredentialsInvalidValue",
        "Key credential value is invalid: it must be the base64 DER of a public X.509 certificate.",
    )
    if not isinstance(value, str) or not value:
        raise invalid
    try:
        return x509.load_der_x509_certificate(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise invalid from None
