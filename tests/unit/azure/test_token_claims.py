"""A token's claims read for display only: who the caller is (upn, app_displayname, oid), from
a payload treated as hostile (bounded, printable, an opaque token read as nobody)."""

from __future__ import annotations

import base64
import json
from typing import Any

from rotator.azure.token_claims import MAX_CALLER_CHARS, caller_of, decode_claims
from rotator.model import RotationRequest


def jwt(claims: Any) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{body}.c2ln"


def test_the_upn_wins_then_the_app_displayname_then_the_oid() -> None:
    """A user's upn before an app's display name, before the principal's object id."""
    full = {"upn": "alice@contoso.com", "app_displayname": "rotator", "oid": "o-1"}
    assert caller_of(full) == "alice@contoso.com"
    assert caller_of({"app_displayname": "rotator", "oid": "o-1"}) == "rotator"
    assert caller_of({"oid": "o-1"}) == "o-1"


def test_a_token_that_names_nobody_is_none() -> None:
    """No usable claim (missing, empty, not a string): None, so the OS user stands in."""
    assert caller_of({}) is None
    assert caller_of({"upn": "  ", "app_displayname": 7, "oid": ["x"]}) is None


def test_a_hostile_claim_is_one_short_printable_line() -> None:
    """Control characters are escaped and the name is cut to MAX_CALLER_CHARS."""
    who = caller_of({"upn": "a\x1b[2J\nb" + "x" * 1000}) or ""
    assert who.startswith("a\\x1b[2J\\nb")
    assert len(who) == MAX_CALLER_CHARS


def test_decoding_reads_a_jwt_and_nothing_else() -> None:
    """A JWT's payload is read; an opaque token, bad base64, a non-object or a huge token is {}."""
    assert decode_claims(jwt({"oid": "o-1"})) == {"oid": "o-1"}
    assert decode_claims("opaque-token") == {}
    assert decode_claims("a.!!!.c") == {}
    assert decode_claims(jwt(["not", "an", "object"])) == {}
    assert decode_claims(jwt({"upn": "x" * 20_000})) == {}


def test_a_request_names_the_caller_its_requester_gives_for_the_identity() -> None:
    """asking(identity): the requester's name for that identity, else requested_by."""
    names = {"b2c": "app"}
    request = RotationRequest(requested_by="os-user", requester=names.get)
    assert request.asking("b2c") == "app"
    assert request.asking("other") == "os-user"
    assert RotationRequest(requested_by="ops").asking("b2c") == "ops"
