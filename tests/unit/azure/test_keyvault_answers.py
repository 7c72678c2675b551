"""Key Vault's answers read strictly: each wrong field is a KeyVaultError naming object and field."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from rotator.azure.keyvault_answers import parse_secret_bundle, parse_version_page
from rotator.errors import KeyVaultError

VAULT = "https://contoso-kv.vault.azure.net"
VERSION = "0123456789abcdef0123456789abcdef"
SHA1 = bytes(range(20))
X5T = base64.urlsafe_b64encode(SHA1).decode().rstrip("=")
WHAT = "Key Vault certificate 'api-cert'"


def item(**fields: Any) -> dict[str, Any]:
    attributes = {"enabled": True, "created": 1764000000, "nbf": 1764000000, "exp": 1795536000}
    base = {"id": f"{VAULT}/certificates/api-cert/{VERSION}", "x5t": X5T, "attributes": attributes}
    base.update(fields)
    return base


def page(*items: Any, **top: Any) -> bytes:
    return json.dumps({"value": list(items), "nextLink": None, **top}).encode()


def certificate_page(body: bytes) -> Any:
    return parse_version_page(
        body, what=WHAT, kind="certificates", name="api-cert", vault_url=VAULT
    )


def page_error(body: bytes) -> str:
    with pytest.raises(KeyVaultError) as caught:
        certificate_page(body)
    return str(caught.value)


def bundle(**fields: Any) -> bytes:
    base = {
        "id": f"{VAULT}/secrets/api-pw/{VERSION}",
        "value": "s3cret",
        "attributes": {"enabled": True},
    }
    base.update(fields)
    return json.dumps(base).encode()


def bundle_error(body: bytes) -> str:
    with pytest.raises(KeyVaultError) as caught:
        parse_secret_bundle(body, what="Key Vault secret 'api-pw'", name="api-pw", version=VERSION)
    return str(caught.value)


def test_a_page_of_versions_is_read_into_version_infos() -> None:
    """Version, enabled, times and the x5t as upper-case hex come from the raw answer."""
    (version,) = certificate_page(page(item())).versions
    assert (version.version, version.enabled, version.thumbprint) == (
        VERSION,
        True,
        SHA1.hex().upper(),
    )
    assert version.expires_on == dt.datetime.fromtimestamp(1795536000, dt.UTC)


def test_enabled_as_the_string_false_is_refused() -> None:
    """ "enabled": "false" is neither counted as enabled nor as disabled: it is an error."""
    message = page_error(page(item(attributes={"enabled": "false"})))
    assert message.startswith(f"{WHAT}: Key Vault's version list: value[0] (version {VERSION})")
    assert "attributes.enabled is 'false' (a string), expected true or false" in message


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("created", "yesterday", "attributes.created is 'yesterday' (a string), expected Unix"),
        ("exp", 10**20, "attributes.exp is 100000000000000000000 (a number), expected Unix"),
        ("nbf", 1.5e9, "attributes.nbf is 1500000000.0 (a number), expected Unix"),
        ("exp", True, "attributes.exp is True (a boolean), expected Unix"),
    ],
)
def test_a_time_that_is_not_unix_seconds_is_refused(field: str, value: Any, fragment: str) -> None:
    """created, nbf and exp must be integer Unix seconds between 1970 and 9999."""
    assert fragment in page_error(page(item(attributes={"enabled": True, field: value})))


@pytest.mark.parametrize(
    "x5t",
    ["not base64url at all!", base64.urlsafe_b64encode(SHA1[:19]).decode(), X5T + "A", 12345],
)
def test_an_x5t_that_is_not_a_sha1_thumbprint_is_refused(x5t: Any) -> None:
    """x5t must be 27 base64url characters of a 20-byte SHA-1."""
    message = page_error(page(item(x5t=x5t)))
    assert "x5t is" in message
    assert "expected a SHA-1 thumbprint in base64url (27 characters)" in message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html><body>Sign in</body></html>", "Key Vault's version list is not usable JSON"),
        (b'[{"id": "x"}]', "Key Vault's version list is [{'id': 'x'}] (an array), expected a JSON"),
        (b'{"value": "versions"}', "has 'value' 'versions' (a string), expected an array"),
        (b'{"nextLink": null}', "has 'value' missing, expected an array"),
        (page(["x"]), "value[0] is ['x'] (an array), expected an object"),
        (b'{"value": [], "value": []}', "not usable JSON (duplicate key 'value')"),
    ],
)
def test_a_page_that_is_not_a_version_list_is_refused(body: bytes, fragment: str) -> None:
    """HTML with status 200, a JSON array, 'value' of another type: a KeyVaultError each."""
    assert fragment in page_error(body)


@pytest.mark.parametrize(
    "object_id",
    [
        f"{VAULT}/certificates/other-cert/{VERSION}",
        f"{VAULT}/secrets/api-cert/{VERSION}",
        f"{VAULT}/certificates/api-cert/short",
        f"{VAULT}/certificates/api-cert/{VERSION}/x",
        f"http://contoso-kv.vault.azure.net/certificates/api-cert/{VERSION}",
        None,
    ],
)
def test_an_item_id_of_another_object_or_format_is_refused(object_id: Any) -> None:
    """Every listed id must be https://…/certificates/<this name>/<32-character version>."""
    assert "has 'id'" in page_error(page(item(id=object_id)))


def test_next_link_on_the_vault_with_its_default_port_is_followed() -> None:
    """Key Vault writes :443 into its nextLinks; that is the same vault."""
    link = "https://CONTOSO-kv.vault.azure.net:443/certificates/api-cert/versions?$skiptoken=x"
    assert certificate_page(page(item(), nextLink=link)).next_link == link


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/certificates/api-cert/versions",
        "http://contoso-kv.vault.azure.net/certificates/api-cert/versions",
        "https://contoso-kv.vault.azure.net:8443/certificates/api-cert/versions",
        7,
    ],
)
def test_next_link_off_the_vault_is_refused(link: Any) -> None:
    """A nextLink to another host, scheme or port would take the SDK's token there: refused."""
    message = page_error(page(item(), nextLink=link))
    assert f"has 'nextLink' {link!r}" in message
    assert f"expected a link on {VAULT}" in message


def test_a_secret_bundle_gives_value_and_content_type() -> None:
    """A well-formed bundle of the version asked for is its value."""
    secret = parse_secret_bundle(
        bundle(contentType="text/plain"), what="w", name="API-PW", version=VERSION.upper()
    )
    assert (secret.value, secret.content_type) == ("s3cret", "text/plain")


@pytest.mark.parametrize(("value", "kind"), [(12345, "a number"), ({"a": 1}, "an object")])
def test_a_secret_value_that_is_not_text_is_refused_without_showing_it(
    value: Any, kind: str
) -> None:
    """A value of 12345 or {"a": 1} is never turned into the password "12345" or "{'a': 1}"."""
    message = bundle_error(bundle(value=value))
    assert f"has 'value' {kind}, expected a string; nothing was sent" in message
    assert "12345" not in message
    assert "'a'" not in message


def test_a_secret_bundle_of_another_version_is_refused() -> None:
    """The bundle must be the version asked for."""
    other = "f" * 32
    message = bundle_error(bundle(id=f"{VAULT}/secrets/api-pw/{other}"))
    assert f"is for version {other}, not the version {VERSION} asked for" in message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"contentType": ["x"]}, "has 'contentType' ['x'] (an array), expected a string"),
        ({"attributes": {"enabled": "true"}}, "attributes.enabled is 'true' (a string)"),
        ({"attributes": None}, "attributes is missing, expected an object"),
    ],
)
def test_a_secret_bundle_field_of_the_wrong_type_is_refused(
    fields: dict[str, Any], fragment: str
) -> None:
    """contentType and attributes are checked like the version list's."""
    assert fragment in bundle_error(bundle(**fields))
