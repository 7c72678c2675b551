"""Graph beta ``/trustFramework/keySets`` (B2C policy keys): list, get, create, getActiveKey,
uploadPkcs12, uploadSecret, PUT/PATCH and DELETE, answered from a :class:`KeySetStore`.

What it rests on (the sources cited below; [I] marks the emulator's own inference):

- Microsoft's Graph docs (microsoft-graph-docs-contrib ``api-reference/beta/api/
  trustframework*.md``): create answers 201 with ``B2C_1A_`` put in front of the id asked for
  and ``Location: /trustFramework/keySets('B2C_1A_…')``; PUT replaces every key and answers 200
  with the set; getActiveKey is a GET (a POST fails with ``UnknownError``: microsoft-graph-docs
  #9963); the SDK calls ``…/getActiveKey()``; uploadSecret and uploadPkcs12 answer 200 with the
  new key, never ``k``.
- B2C's error table (MicrosoftDocs/azure-docs ``active-directory-b2c/error-codes.md``) gives the
  codes and messages: AADB2C90213 password incorrect (also an AES/PBES2 file), AADB2C90214
  expired, AADB2C90215 badly formatted, AADB2C90253 a missing parameter, AADB2C95028 set exists,
  AADB2C95030/95031/95032/95033/95042 kty and use rules, AADB2C95059 a key with a ``kid`` in the
  payload, AADB2C90073 no such key container (MicrosoftDocs/azure-docs#98013), AADB2C90019 no
  valid key. The statuses are not documented: 400, 404 for a missing set, 409 for one that
  exists [I].
- The error body is Graph's with the B2C code in ``error.code`` and a ``correlationId`` in
  ``innerError``, as real answers show: ``{"error":{"code":"AADB2C90063","message":"There is a
  problem with the service.","innerError":{"correlationId":…,"date":…,"request-id":…,
  "client-request-id":…}}}`` (microsoft-graph-docs-contrib#2254), and a token without the
  permission gets 403 ``{"error":{"code":"AADB2C","message":"The application does not have any
  of the required … permissions (TrustFrameworkKeySet.Read.All,
  TrustFrameworkKeySet.ReadWrite.All) to access the resource. ",…}}`` (Azure/azure-cli#22755).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rotator.emulator import pfx
from rotator.emulator.identity import KEYSET_READ_ROLE, KEYSET_ROLE
from rotator.emulator.keysets import (
    KeySetExists,
    KeySetStore,
    StoredKey,
    StoredKeySet,
    active_key,
    certificate_key,
    new_kid,
    secret_key,
)

PASSWORD_INCORRECT = pfx.PASSWORD_INCORRECT
EXPIRED = "AADB2C90214"
BADLY_FORMATTED = pfx.BADLY_FORMATTED
NO_VALID_KEY = "AADB2C90019"
INTERMITTENT = "AADB2C90063"  # "There is a problem with the service." (uploadSecret, retry)
MISSING_PARAMETER = "AADB2C90253"
NOT_FOUND = "AADB2C90073"
EXISTS = "AADB2C95028"
KID_IN_PAYLOAD = "AADB2C95059"
USES = ("sig", "enc")
_ODATA_KEY = re.compile(r"^keysets\('(.+)'\)$", re.IGNORECASE)
_ACTIVE_KEY = ("getactivekey", "getactivekey()", "microsoft.graph.getactivekey")
_ACTIONS = {
    "uploadpkcs12": "uploadPkcs12",
    "microsoft.graph.uploadpkcs12": "uploadPkcs12",
    "uploadsecret": "uploadSecret",
    "microsoft.graph.uploadsecret": "uploadSecret",
}


def intermittent_error_body() -> str:
    """The body real Graph answered for B2C's intermittent uploadSecret failure, word for word but
    the ids (microsoft-graph-docs-contrib#2254; its status was not shown): give it to a ``body``
    fault on ``/uploadSecret`` to play it."""
    request_id = str(uuid.uuid4())
    inner = {
        "correlationId": str(uuid.uuid4()),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": request_id,
    }
    message = "There is a problem with the service."
    return json.dumps({"error": {"code": INTERMITTENT, "message": message, "innerError": inner}})


class KeySetProblem(Exception):
    """A Graph error answer for a key-set request; ``b2c`` adds innerError.correlationId."""

    def __init__(self, status: int, code: str, message: str, *, b2c: bool = True) -> None:
        """Keep the status, code and message."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.b2c = b2c


@dataclass(frozen=True)
class KeySetAnswer:
    """A successful answer: status, JSON body (None for 204) and a Location header, if any."""

    status: int
    body: dict[str, Any] | None
    location: str | None = None


def key_json(key: StoredKey) -> dict[str, Any]:
    """A key as Graph shows it: never ``k``, ``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``."""
    body: dict[str, Any] = {"kid": key.kid, "use": key.use, "kty": key.kty}
    if key.kty == "RSA":
        body |= {"n": key.n, "e": key.e, "x5t": key.x5t, "x5c": list(key.x5c)}
    if key.nbf is not None:
        body["nbf"] = key.nbf
    if key.exp is not None:
        body["exp"] = key.exp
    body["status"] = "enabled"
    return body


def keyset_json(keyset: StoredKeySet) -> dict[str, Any]:
    """A key set as Graph shows it."""
    return {"id": keyset.id, "keys": [key_json(key) for key in keyset.keys]}


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeySetsApi:
    """Answers ``/beta/trustFramework/keySets…`` for one caller at a time."""

    def __init__(self, store: KeySetStore) -> None:
        """Serve the key sets of ``store``."""
        self.store = store

    def handle(
        self,
        method: str,
        rest: Sequence[str],
        *,
        tenant: str,
        roles: frozenset[str],
        body: Callable[[], dict[str, Any]],
        context: str,
    ) -> KeySetAnswer:
        """Answer ``rest`` (the path after ``/beta/trustFramework``) for a caller of ``tenant``
        holding ``roles``; ``context`` is ``{graph}/beta/$metadata``.

        Raises:
            KeySetProblem: every refusal, in Graph's shape with B2C's codes.
        """
        segments = list(rest)
        odata = _ODATA_KEY.match(segments[0]) if segments else None
        if odata:  # keySets('B2C_1A_x'), the form of create's Location header
            segments = ["keySets", odata.group(1), *segments[1:]]
        if not segments or segments[0].lower() != "keysets":
            segment = segments[0] if segments else "trustFramework"
            raise KeySetProblem(
                400, "BadRequest", f"Resource not found for the segment '{segment}'.", b2c=False
            )
        self._authorize(method, roles)
        if len(segments) == 1:
            return self._collection(method, body, tenant, context)
        keyset_id = segments[1]
        if self.store.tenant_of(keyset_id) not in (None, tenant):
            raise _not_found(keyset_id, tenant)  # another directory's key set: invisible here
        if len(segments) == 2:
            return self._item(method, keyset_id, body, tenant, context)
        if len(segments) == 3:
            return self._action(method, keyset_id, segments[2], body, tenant, context)
        raise KeySetProblem(
            400, "BadRequest", f"Resource not found for the segment '{segments[-1]}'.", b2c=False
        )

    def _collection(
        self, method: str, body: Callable[[], dict[str, Any]], tenant: str, context: str
    ) -> KeySetAnswer:
        """``/keySets``: list (GET) or create (POST)."""
        if method == "GET":
            sets = [keyset_json(s) for s in self.store.read_all(tenant)]
            return KeySetAnswer(
                200, {"@odata.context": f"{context}#trustFramework/keySets", "value": sets}
            )
        if method == "POST":
            return self._create(body(), tenant, context)
        raise _not_allowed()

    def _item(
        self,
        method: str,
        keyset_id: str,
        body: Callable[[], dict[str, Any]],
        tenant: str,
        context: str,
    ) -> KeySetAnswer:
        """``/keySets/{id}``: GET, PUT or PATCH (replace the keys), DELETE."""
        entity = f"{context}#trustFramework/keySets/$entity"
        if method == "GET":
            return KeySetAnswer(200, {"@odata.context": entity, **self._read(keyset_id, tenant)})
        if method in ("PUT", "PATCH"):
            replaced = self._replace(keyset_id, body(), tenant)
            return KeySetAnswer(200, {"@odata.context": entity, **replaced})
        if method == "DELETE":
            if not self.store.delete(keyset_id):
                raise _not_found(keyset_id, tenant)
            return KeySetAnswer(204, None)
        raise _not_allowed()

    def _action(
        self,
        method: str,
        keyset_id: str,
        segment: str,
        body: Callable[[], dict[str, Any]],
        tenant: str,
        context: str,
    ) -> KeySetAnswer:
        """``/keySets/{id}/{action}``: getActiveKey (GET), uploadPkcs12 and uploadSecret (POST)."""
        key_context = f"{context}#microsoft.graph.trustFrameworkKey"
        action = segment.lower()
        if action in _ACTIVE_KEY:
            if method != "GET":
                raise _no_action(keyset_id, segment)
            active = self._active(keyset_id, tenant)
            return KeySetAnswer(200, {"@odata.context": key_context, **active})
        if action not in _ACTIONS:
            raise KeySetProblem(
                400, "BadRequest", f"Resource not found for the segment '{segment}'.", b2c=False
            )
        if method != "POST":
            raise _not_allowed()
        if self.store.tenant_of(keyset_id) is None:
            raise _not_found(keyset_id, tenant)
        upload = self._upload_pkcs12 if _ACTIONS[action] == "uploadPkcs12" else self._upload_secret
        key = upload(keyset_id, body(), tenant)
        return KeySetAnswer(200, {"@odata.context": key_context, **key_json(key)})

    # -- permission -------------------------------------------------------------------------

    @staticmethod
    def _authorize(method: str, roles: frozenset[str]) -> None:
        needed = (KEYSET_READ_ROLE, KEYSET_ROLE) if method == "GET" else (KEYSET_ROLE,)
        if not roles.intersection(needed):
            raise KeySetProblem(
                403,
                "AADB2C",
                "The application does not have any of the required application permissions "
                f"({', '.join(needed)}) to access the resource. ",
            )

    # -- reads ------------------------------------------------------------------------------

    def _read(self, keyset_id: str, tenant: str) -> dict[str, Any]:
        keyset = self.store.read(keyset_id)
        if keyset is None:
            raise _not_found(keyset_id, tenant)
        return keyset_json(keyset)

    def _active(self, keyset_id: str, tenant: str) -> dict[str, Any]:
        keyset = self.store.read(keyset_id)
        if keyset is None:
            raise _not_found(keyset_id, tenant)
        key = active_key(keyset.keys, self.store.now())
        if key is None:
            raise KeySetProblem(
                400,
                NO_VALID_KEY,
                f"The key container with ID '{keyset.id}' in tenant '{tenant}' does not have a "
                "valid key. Reason: Valid key not found..",
            )
        return key_json(key)

    # -- writes -----------------------------------------------------------------------------

    def _create(self, body: dict[str, Any], tenant: str, context: str) -> KeySetAnswer:
        _check_properties(body, ("id", "keys"), "microsoft.graph.trustFrameworkKeySet")
        requested = body.get("id")
        if not isinstance(requested, str) or not requested:
            raise _missing("id")
        keys = self._keys(body.get("keys") or [], allow_kid=True)
        try:
            keyset = self.store.create(requested, keys, tenant)
        except KeySetExists as exc:
            raise KeySetProblem(
                409,
                EXISTS,
                f"Can't create trustframework key set with name '{exc.args[0]}' because it "
                "already exists.",
            ) from exc
        except ValueError as exc:
            raise KeySetProblem(400, BADLY_FORMATTED, _badly(str(exc))) from exc
        answer = {"@odata.context": f"{context}#trustFramework/keySets/$entity"}
        return KeySetAnswer(
            201,
            {**answer, **keyset_json(keyset)},
            location=f"/trustFramework/keySets('{keyset.id}')",
        )

    def _replace(self, keyset_id: str, body: dict[str, Any], tenant: str) -> dict[str, Any]:
        _check_properties(body, ("id", "keys"), "microsoft.graph.trustFrameworkKeySet")
        keys = self._keys(body.get("keys") or [], allow_kid=False)
        try:
            return keyset_json(self.store.replace(keyset_id, keys))
        except KeyError as exc:
            raise _not_found(keyset_id, tenant) from exc

    def _keys(self, values: Any, *, allow_kid: bool) -> list[StoredKey]:
        """JWKs of a create or PUT body as stored keys (private parts dropped, a new ``kid``)."""
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise KeySetProblem(
                400, "AADB2C95034", "The presented TrustFrameworkKey entity is of the wrong format"
            )
        now = self.store.now()
        keys: list[StoredKey] = []
        for value in values:
            if value.get("kid") and not allow_kid:
                raise KeySetProblem(
                    400,
                    KID_IN_PAYLOAD,
                    "One of the keys in the payload has 'kid' which is not empty.",
                )
            kty = value.get("kty")
            if not kty:
                raise KeySetProblem(
                    400, "AADB2C95030", "Missing kty parameter for the trustframework key."
                )
            if kty not in ("RSA", "oct"):
                raise KeySetProblem(
                    400,
                    "AADB2C95031",
                    f"Bad kty parameter '{kty}' for the trustframework key. Must be RSA or oct.",
                )
            use = _use(value.get("use"))
            nbf, exp = _int64(value, "nbf"), _int64(value, "exp")
            if kty == "oct":
                k = value.get("k")
                if not isinstance(k, str) or not k:
                    raise _missing("k")
                keys.append(secret_key(k, use=use, nbf=nbf, exp=exp, uploaded_at=now))
            else:
                n, e = value.get("n"), value.get("e")
                if not isinstance(n, str) or not isinstance(e, str) or not n or not e:
                    raise KeySetProblem(
                        400,
                        "AADB2C95039",
                        "The presented TrustFrameworkKey RSA entity is missing or the modulus or "
                        "exponent.",
                    )
                x5c = value.get("x5c") or []
                keys.append(
                    StoredKey(
                        kid=new_kid(),
                        use=use,
                        kty="RSA",
                        nbf=nbf,
                        exp=exp,
                        uploaded_at=now,
                        x5t=value.get("x5t") if isinstance(value.get("x5t"), str) else None,
                        x5c=tuple(str(c) for c in x5c) if isinstance(x5c, list) else (),
                        n=n,
                        e=e,
                    )
                )
        _same_kind(keys)
        return keys

    def _upload_pkcs12(self, keyset_id: str, body: dict[str, Any], tenant: str) -> StoredKey:
        self.store.record_shape("uploadPkcs12", body)
        _check_properties(body, ("key", "password"), "uploadPkcs12")
        encoded = body.get("key")
        password = body.get("password", "")
        if not isinstance(encoded, str) or not encoded:
            raise _missing("key")
        if not isinstance(password, str):
            raise _not_string("password")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeySetProblem(
                400, BADLY_FORMATTED, _badly("the value is not valid base64")
            ) from exc
        now = self.store.now()
        try:
            accepted = pfx.accept(data, password, now=now)
        except pfx.PfxRejected as exc:
            if exc.code == pfx.NO_VALID_CERTIFICATE:  # B2C's key-set words for an expired key
                raise _expired(keyset_id, tenant, exc.message) from exc
            raise KeySetProblem(400, exc.code, exc.message) from exc
        try:
            key = certificate_key(accepted.leaf, uploaded_at=now)
        except ValueError as exc:
            raise KeySetProblem(400, BADLY_FORMATTED, _badly(str(exc))) from exc
        return self._append(keyset_id, key, tenant)

    def _upload_secret(self, keyset_id: str, body: dict[str, Any], tenant: str) -> StoredKey:
        self.store.record_shape("uploadSecret", body)
        _check_properties(body, ("use", "k", "nbf", "exp"), "uploadSecret")
        k = body.get("k")
        if k is None or k == "":
            raise _missing("k")
        if not isinstance(k, str):
            raise _not_string("k")
        use = _use(body.get("use"))
        nbf, exp = _int64(body, "nbf"), _int64(body, "exp")
        if exp is not None and exp <= self.store.now().timestamp():
            raise KeySetProblem(
                400,
                EXPIRED,
                f"The expiry date for the key container in tenant '{tenant}' with "
                f"storageReferenceId '{keyset_id}' is in the past. Passed date :'{_iso(exp)}'.",
            )
        key = secret_key(k, use=use, nbf=nbf, exp=exp, uploaded_at=self.store.now())
        return self._append(keyset_id, key, tenant)

    def _append(self, keyset_id: str, key: StoredKey, tenant: str) -> StoredKey:
        current = self.store.current(keyset_id)
        if current is None:
            raise _not_found(keyset_id, tenant)
        _same_kind([*current.keys, key])
        try:
            return self.store.upload(keyset_id, key)
        except KeyError as exc:
            raise _not_found(keyset_id, tenant) from exc


# -- checks and refusals ----------------------------------------------------------------------


def _check_properties(body: dict[str, Any], allowed: Sequence[str], type_name: str) -> None:
    for key in body:
        if not key.startswith("@odata.") and key not in allowed:
            raise KeySetProblem(
                400,
                "BadRequest",
                f"The property '{key}' does not exist on type '{type_name}'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type.",
                b2c=False,
            )


def _use(value: Any) -> str:
    if value is None or value == "":
        raise _missing("use")
    if value not in USES:
        raise KeySetProblem(
            400, "AADB2C95033", f"Bad use parameter '{value}' for the trustframework key."
        )
    return str(value)


def _int64(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeySetProblem(
            400,
            "BadRequest",
            f"Cannot convert the literal for property '{key}' to the expected type 'Edm.Int64'.",
            b2c=False,
        )
    return value


def _same_kind(keys: Sequence[StoredKey]) -> None:
    if len({key.kty for key in keys}) > 1:
        raise KeySetProblem(400, "AADB2C95032", "One can't mix RSA and Oct types in one key set.")
    if len({key.use for key in keys}) > 1:
        raise KeySetProblem(
            400, "AADB2C95042", "One can't mix signature and encryption usage in one key set."
        )


def _badly(reason: str) -> str:
    return f"The uploaded key is badly formatted. Reason: '{reason}'."


def _missing(parameter: str) -> KeySetProblem:
    return KeySetProblem(
        400, MISSING_PARAMETER, f"The trustframework keyset parameter '{parameter}' is missing"
    )


def _not_string(parameter: str) -> KeySetProblem:
    return KeySetProblem(
        400,
        "BadRequest",
        f"Cannot convert the literal for property '{parameter}' to the expected type 'Edm.String'.",
        b2c=False,
    )


def _expired(keyset_id: str, tenant: str, detail: str) -> KeySetProblem:
    found = re.search(r"expired on (\S+?)\.?$", detail)
    passed = found.group(1) if found else detail
    return KeySetProblem(
        400,
        EXPIRED,
        f"The expiry date for the key container in tenant '{tenant}' with storageReferenceId "
        f"'{keyset_id}' is in the past. Passed date :'{passed}'.",
    )


def _not_found(keyset_id: str, tenant: str) -> KeySetProblem:
    return KeySetProblem(
        404,
        NOT_FOUND,
        f"KeyContainer with 'id': '{keyset_id}' cannot be found in the directory '{tenant}'",
    )


def _not_allowed() -> KeySetProblem:
    return KeySetProblem(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
        b2c=False,
    )


def _no_action(keyset_id: str, action: str) -> KeySetProblem:
    # what a POST to getActiveKey answers (microsoft-graph-docs#9963); its status is not shown [I]
    return KeySetProblem(
        405,
        "UnknownError",
        '{"message":"No HTTP resource was found that matches the request URI '
        f"'https://cpim.windows.net/graph/trustFramework/keySets('{keyset_id}')/"
        f'Microsoft.Cpim.Api.DataModels.{action}\'.","messageDetail":"No action was found on '
        'the controller \'trustframework\' that matches the request.","stackTrace":null}',
        b2c=False,
    )
