"""The probe's pure parts: its configuration, which addresses it may call, how it shows a URL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rotator.config.probe import parse_probe, top_level_probe
from rotator.config.settings import Settings
from rotator.errors import ConfigurationError, ProbeError
from rotator.functions.triggers import RequestError, parse_rotate_request
from rotator.model import DEFAULT_BODY, ProbeConfig
from rotator.steps import probe, probe_wire

WHERE = "ROTATOR_CONFIG: connectors[0]"


def error_of(value: Any, default: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigurationError) as raised:
        parse_probe(value, where=WHERE, default=default)
    return str(raised.value)


def test_no_probe_anywhere_means_no_probe() -> None:
    """A connector is probed only when it or the top level asks for it."""
    assert parse_probe(None, where=WHERE) is None


def test_an_empty_probe_has_the_documented_defaults() -> None:
    """{} probes the targetUrl with POST, B2C's payload, 401/403 as rejection, no wait, required."""
    config = parse_probe({}, where=WHERE)
    assert config == ProbeConfig()
    assert config is not None
    assert config.url is None
    assert config.method == "POST"
    assert json.loads(config.body) == dict(DEFAULT_BODY)
    assert config.reject_status == frozenset({401, 403})
    assert config.wait_seconds == 0.0
    assert config.required is True


def test_a_connector_overrides_the_default_key_by_key_or_turns_it_off() -> None:
    """The top-level probe is the default; a connector's keys win; false turns it off."""
    default = {"waitSeconds": 30, "headers": {"x-probe": "rotator"}}
    merged = parse_probe({"required": False}, where=WHERE, default=default)
    assert merged is not None
    assert (merged.wait_seconds, merged.required, merged.headers) == (
        30.0,
        False,
        (("x-probe", "rotator"),),
    )
    assert parse_probe(False, where=WHERE, default=default) is None
    assert parse_probe(None, where=WHERE, default=default) == parse_probe(default, where=WHERE)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "'probe' must be an object or false"),
        ({"retries": 3}, "probe: unknown key 'retries'"),
        ({"method": "DELETE"}, "probe.method must be one of POST, GET, PUT, PATCH"),
        ({"rejectStatus": []}, "probe.rejectStatus must be a non-empty list of HTTP statuses"),
        ({"rejectStatus": [200]}, "probe.rejectStatus must be a non-empty list of HTTP statuses"),
        ({"rejectStatus": [401.0]}, "probe.rejectStatus must be a non-empty list of HTTP statuses"),
        ({"waitSeconds": 901}, "probe.waitSeconds must be a number from 0 to 900"),
        ({"waitSeconds": -1}, "probe.waitSeconds must be a number from 0 to 900"),
        ({"waitSeconds": True}, "probe.waitSeconds must be a number from 0 to 900"),
        ({"waitSeconds": float("nan")}, "probe.waitSeconds must be a number from 0 to 900"),
        ({"required": "true"}, "probe.required must be true or false"),
        ({"headers": {"Authorization": "Basic x"}}, "probe.headers may not set 'Authorization'"),
        ({"headers": {"bad name": "x"}}, "is not a header name with a string value"),
        ({"headers": {"x-a": 1}}, "is not a header name with a string value"),
        ({"headers": {"x-a": "a\r\nInjected: 1"}}, "'x-a' has a control character"),
        ({"body": {"pad": "x" * 70000}}, "probe.body is larger than 64 KiB"),
    ],
)
def test_a_wrong_probe_is_a_configuration_error(value: Any, message: str) -> None:
    """Every key is checked for type and range, and the message names it."""
    text = error_of(value)
    assert text.startswith(WHERE)
    assert message in text


@pytest.mark.parametrize(
    "url",
    [
        "http://api.contoso.com/x",
        "https://user:secret@api.contoso.com/x",
        "https://api.contoso.com:0/x",
        "https://api.contoso.com:99999/x",
        "https://api.contoso.com/a b",
        "https://api.contoso.com/a\\b",
        "https://api.contoso.com/a\nb",
        "https:///nohost",
        "",
    ],
)
def test_a_probe_url_must_be_plain_https(url: str) -> None:
    """Only https with a host, no user info, a real port, no spaces or control characters; the
    URL itself is not echoed (it may hold a key)."""
    text = error_of({"url": url})
    assert "probe.url" in text
    assert "secret" not in text


def test_the_top_level_probe_must_be_an_object() -> None:
    """A top-level probe of another type is named as the default probe."""
    with pytest.raises(
        ConfigurationError, match="'probe' must be an object \\(the default probe\\)"
    ):
        top_level_probe(False)
    assert top_level_probe(None) is None


def test_settings_give_each_connector_its_probe() -> None:
    """ROTATOR_CONFIG's top-level probe reaches every connector but the one that says false."""
    document = {
        "keyVaultUrl": "https://kv.vault.azure.net",
        "probe": {"waitSeconds": 10},
        "connectors": [
            {"id": "a", "certificate": "c"},
            {"id": "b", "certificate": "c", "probe": False},
            {"id": "c", "certificate": "c", "probe": {"url": "https://api.contoso.com/v"}},
        ],
    }
    targets = Settings.from_env({"ROTATOR_CONFIG": json.dumps(document)}).targets
    probes = [t.probe for t in targets]
    assert probes[0] == ProbeConfig(wait_seconds=10.0)
    assert probes[1] is None
    assert probes[2] == ProbeConfig(url="https://api.contoso.com/v", wait_seconds=10.0)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "unique-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - a value under test, nothing binds
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("20.190.160.1", None),
        ("2603:1030::1", None),
    ],
)
def test_address_classes_the_probe_refuses(address: str, kind: str | None) -> None:
    """Loopback, link-local (the metadata service), private, unique-local, unspecified and
    multicast addresses are named; public ones pass (IPv4-mapped IPv6 is judged as IPv4)."""
    assert probe.address_class(address) == kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of the metadata service
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64, well-known prefix
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b::c0a8:101", "private"),  # 192.168.1.1
        ("64:ff9b:1::7f00:1", "loopback"),  # NAT64, local-use prefix
        ("64:ff9b:1::1414:1414", "private"),  # a site's own translator, even to a public host
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:5601:5601", "link-local"),  # client 169.254.169.254
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("::a9fe:a9fe", "link-local"),
        ("::ffff:a9fe:a9fe", "link-local"),  # IPv4-mapped
        ("2002:1414:1414::1", None),  # 6to4 of a public address
        ("64:ff9b::1414:1414", None),  # NAT64 to a public address: that host alone
        ("::ffff:20.20.20.20", None),
    ],
)
def test_an_ipv4_address_inside_ipv6_is_judged_as_ipv4(address: str, kind: str | None) -> None:
    """6to4, NAT64 (well-known and local-use), Teredo's client, IPv4-compatible and IPv4-mapped
    addresses carrying a loopback, link-local or private IPv4 address are refused as that."""
    assert probe.address_class(address) == kind


def test_a_private_address_is_refused_before_any_connection() -> None:
    """A name resolving to loopback is refused with the class named, unless allowed (tests)."""
    with pytest.raises(ProbeError, match=r"the probe refuses to call 127\.0\.0\.1: a loopback"):
        probe.resolve("127.0.0.1", 443, allow_private=False)
    assert probe.resolve("127.0.0.1", 443, allow_private=True) == ["127.0.0.1"]


def test_reports_show_a_url_without_its_query() -> None:
    """A query (a Functions key, say) never reaches a report or a log."""
    shown = probe.shown("https://api.contoso.com:8443/signup?code=s3cr3t#x")
    assert shown == "https://api.contoso.com:8443/signup"


def test_a_credential_describes_itself_without_its_secret() -> None:
    """A password credential names its version and user, never the password (nor in repr)."""
    credential = probe.Credential(username="api", password="s3cr3t")
    assert credential.describe("v1") == "password (version v1) for 'api'"
    assert "s3cr3t" not in repr(credential)


def rotate_body(**fields: Any) -> RequestError:
    body = json.dumps({"connectorId": "c1", **fields}).encode()
    with pytest.raises(RequestError) as raised:
        parse_rotate_request(body, {}, ["c1"])
    return raised.value


def test_skip_probe_over_http_needs_force_and_a_reason() -> None:
    """skipProbe alone is a 400 naming the field; with force and a reason it is passed on."""
    error = rotate_body(skipProbe=True)
    assert error.field == "skipProbe"
    assert "skipProbe needs force and a reason" in str(error)
    assert rotate_body(skipProbe="yes").field == "skipProbe"
    body = json.dumps(
        {"connectorId": "c1", "force": True, "reason": "leak", "skipProbe": True}
    ).encode()
    assert parse_rotate_request(body, {}, ["c1"]).skip_probe is True


def test_review_findings_on_the_probe_stay_fixed() -> None:
    """Shared address space is refused, user info never shown, non-ASCII URLs and header values
    are configuration errors (they would crash the request)."""
    assert probe.address_class("100.64.0.1") == "private"
    assert probe.shown("https://svc:S3cr3t@api.contoso.com:8443/x?code=1") == (
        "https://api.contoso.com:8443/x"
    )
    assert "percent-encode" in error_of({"url": "https://api.contoso.com/signüp"})
    assert "cannot carry" in error_of({"headers": {"x-probe": "rotator ✓"}})
    assert "ALERT_HANDSHAKE_FAILURE" not in "".join(probe_wire.CLIENT_CERT_ALERTS)
