"""Graph's answers about policy key sets, read as hostile: lenient where Microsoft's examples are,
strict everywhere else; error answers name the permission and B2C's codes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from rotator.azure.keyset_answers import keyset_error, parse_key, parse_key_set
from rotator.errors import GraphError

WHERE = "key set B2C_1A_x: Microsoft Graph sent keys[0]"


def key(**fields: Any) -> dict[str, Any]:
    return {"kid": "k1", "use": "sig", "kty": "RSA", "nbf": 1700000000, "exp": 1800000000, **fields}


def test_a_key_is_read_with_its_dates_as_utc() -> None:
    """kid, use, kty (lower case), nbf and exp (epoch seconds), x5t without padding."""
    parsed = parse_key(key(x5t="abc_-="), WHERE)
    assert parsed.kid == "k1"
    assert parsed.kty == "rsa"
    assert parsed.nbf == dt.datetime.fromtimestamp(1700000000, dt.UTC)
    assert parsed.x5t == "abc_-"


def test_dates_may_be_strings_and_kty_upper_case_as_in_the_docs() -> None:
    """Microsoft's examples show "nbf": "1508969811" and "kty": "OCT": both are read."""
    parsed = parse_key(key(nbf="1508969811", exp="1508973711", kty="OCT"), WHERE)
    assert parsed.nbf == dt.datetime.fromtimestamp(1508969811, dt.UTC)
    assert parsed.kty == "oct"


def test_a_key_without_dates_has_none() -> None:
    """nbf and exp are optional."""
    parsed = parse_key({"kid": "k"}, WHERE)
    assert (parsed.nbf, parsed.exp, parsed.use) == (None, None, None)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"kid": None}, "kid"),
        ({"kid": ""}, "kid"),
        ({"kid": 7}, "kid"),
        ({"nbf": True}, "nbf"),
        ({"nbf": 1.5}, "nbf"),
        ({"exp": "soon"}, "exp"),
        ({"x5t": "not base64url!"}, "x5t"),
        ({"use": ["sig"]}, "use"),
        ({"kty": "x" * 100}, "kty"),
    ],
)
def test_a_wrong_field_is_an_error_naming_it(fields: dict[str, Any], named: str) -> None:
    """Every field of the wrong type or format is refused, named in the message."""
    with pytest.raises(GraphError, match=rf"keys\[0\]\.{named}"):
        parse_key(key(**fields), WHERE)


def test_a_key_that_is_not_an_object_is_refused() -> None:
    """A key must be a JSON object."""
    with pytest.raises(GraphError, match="expected an object"):
        parse_key(["k"], WHERE)


def test_a_set_reads_every_key_and_missing_keys_mean_none() -> None:
    """keys: each parsed; absent or null: an empty set; not a list: an error."""
    assert len(parse_key_set({"keys": [key(), key(kid="k2")]}, "B2C_1A_x").keys) == 2
    assert parse_key_set({"id": "B2C_1A_x"}, "B2C_1A_x").keys == ()
    assert parse_key_set({"keys": None}, "B2C_1A_x").keys == ()
    with pytest.raises(GraphError, match="keys as an object"):
        parse_key_set({"keys": {}}, "B2C_1A_x")


def test_a_set_larger_than_any_real_one_is_refused() -> None:
    """A hostile answer with a huge key list is bounded."""
    with pytest.raises(GraphError, match="more than"):
        parse_key_set({"keys": [{"kid": "k"}] * 10_001}, "B2C_1A_x")


def answer(status: int, code: str, message: str = "m") -> httpx.Response:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return httpx.Response(status, content=body, headers={"request-id": "r-1"})


def test_403_names_the_key_set_permission() -> None:
    """Access denied: the fix is TrustFrameworkKeySet.ReadWrite.All with admin consent."""
    error = keyset_error(answer(403, "AADB2C"), "key set B2C_1A_x", attempts=1)
    assert "TrustFrameworkKeySet.ReadWrite.All" in str(error)
    assert error.status == 403
    assert error.request_id == "r-1"


def test_404_says_rotator_never_creates_a_key_set() -> None:
    """Not found: check keySet; create it in the portal."""
    error = keyset_error(answer(404, "AADB2C90073"), "key set B2C_1A_x", attempts=1)
    assert "was not found" in str(error)
    assert "never creates a key set" in str(error)


def test_b2c_codes_are_explained_and_an_echoed_secret_is_redacted() -> None:
    """AADB2C90213 names 3DES; a secret echoed in the message never reaches the text."""
    secret = "Sup3r-Secret-Value-123456789"
    error = keyset_error(
        answer(400, "AADB2C90213", f"bad password {secret}"),
        "key set B2C_1A_x",
        attempts=1,
        secrets=[secret],
    )
    assert "3DES" in str(error)
    assert secret not in str(error)
    assert error.code == "AADB2C90213"
