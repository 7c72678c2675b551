"""The B2C policy key client (Graph beta ``trustFramework/keySets``) on the connector client's
connection, token, retries and deadline: get a set, its active key, and the two append-only
uploads. Never creates, replaces (PUT/PATCH) or deletes a key set.

An upload is not idempotent (a retried POST appends the key twice), so after an error whose
outcome is unknown the set is read again first: if the key is there the upload landed; if not,
it is sent once more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rotator.azure.graph_answers import response_json
from rotator.azure.keyset_answers import keyset_error, parse_key, parse_key_set
from rotator.errors import GraphError
from rotator.steps.keyset_plan import KeySet, PolicyKey

if TYPE_CHECKING:
    from rotator.azure.graph import GraphConnectorClient

NO_VALID_KEY = "AADB2C90019"  # getActiveKey of a set without a valid key
INTERMITTENT = "AADB2C90063"  # "a problem with the service" on uploadSecret: read, then retry
UPLOAD_ATTEMPTS = 2  # an upload whose outcome is unknown and that is not in the set: once more
Landed = Callable[[KeySet], PolicyKey | None]
"""Finds, in the set read after an unknown outcome, the key an upload added (None: not there)."""


class KeySetClient:
    """Reads and appends to ``trustFrameworkKeySet`` objects as one Graph identity."""

    def __init__(self, graph: GraphConnectorClient) -> None:
        self._graph = graph

    def get_key_set(self, key_set: str, *, within: float | None = None) -> KeySet:
        """The set and every key in it.

        Raises:
            GraphError: not found (404), access denied (403), or no usable answer.
        """
        response = self._call("GET", key_set, "", idempotent=True, within=within)
        return parse_key_set(response_json(response, f"key set {key_set}"), key_set)

    def get_active_key(self, key_set: str, *, within: float | None = None) -> PolicyKey | None:
        """The key B2C uses now (``getActiveKey``); None when the set has no valid key.

        Raises:
            GraphError: not found, access denied, or no usable answer.
        """
        try:
            response = self._call("GET", key_set, "/getActiveKey", idempotent=True, within=within)
        except GraphError as exc:
            if exc.code == NO_VALID_KEY:
                return None
            raise
        body = response_json(response, f"key set {key_set}")
        return parse_key(body, f"key set {key_set}: Microsoft Graph sent the active key")

    def upload_pkcs12(self, key_set: str, pfx: str, password: str, *, x5t: str) -> PolicyKey:
        """``uploadPkcs12``: append the certificate (base64 PKCS#12, 3DES) with its password.

        Raises:
            GraphError: B2C refused it (AADB2C9021x), or the outcome stays unknown.
        """
        body = {"key": pfx, "password": password}
        return self._upload(key_set, "/uploadPkcs12", body, lambda ks: ks.by_x5t(x5t))

    def upload_secret(
        self,
        key_set: str,
        value: str,
        *,
        use: str,
        nbf: dt.datetime,
        exp: dt.datetime | None,
        before: KeySet,
    ) -> PolicyKey:
        """``uploadSecret``: append ``value`` with ``use`` and ``nbf`` / ``exp`` in epoch seconds
        (``exp`` left out when None). ``before`` is the set as read before the upload: a key
        that was not in it, with this ``nbf``, is this upload's after a lost answer.

        Raises:
            GraphError: B2C refused it, or the outcome stays unknown.
        """
        body: dict[str, Any] = {"use": use, "k": value, "nbf": int(nbf.timestamp())}
        if exp is not None:
            body["exp"] = int(exp.timestamp())
        old = {k.kid for k in before.keys}
        nbf_s = nbf.replace(microsecond=0)

        def landed(ks: KeySet) -> PolicyKey | None:
            return next((k for k in ks.keys if k.kid not in old and k.nbf == nbf_s), None)

        return self._upload(key_set, "/uploadSecret", body, landed)

    def _upload(self, key_set: str, action: str, body: dict[str, Any], landed: Landed) -> PolicyKey:
        subject = f"key set {key_set}"
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._call("POST", key_set, action, body=body, idempotent=False)
            except GraphError as exc:
                if not exc.may_have_landed and exc.code != INTERMITTENT:
                    raise
                try:
                    found = landed(self.get_key_set(key_set))
                except GraphError as reread:
                    reread.may_have_landed = True
                    raise reread from exc
                if found is not None:
                    return found  # the upload whose answer was lost did land
                if attempt >= UPLOAD_ATTEMPTS:
                    raise
                continue  # not in the set: send it once more
            return parse_key(
                response_json(response, subject), f"{subject}: Microsoft Graph sent the new key"
            )

    def _call(
        self,
        method: str,
        key_set: str,
        action: str,
        *,
        body: dict[str, Any] | None = None,
        idempotent: bool,
        within: float | None = None,
    ) -> Any:
        path = f"trustFramework/keySets/{quote(key_set, safe='')}{action}"
        return self._graph.call(
            method,
            path,
            subject=f"key set {key_set}",
            errors=keyset_error,
            body=body,
            idempotent=idempotent,
            within=within,
        )
