"""Errors caused by this host's setup name their fix."""

from __future__ import annotations

import pytest

from rotator.hints import fix_for, managed_identity_gap, no_credential, not_listening, refused_url

CHAIN = """DefaultAzureCredential failed to retrieve a token from the included credentials.
Attempted credentials:
\tEnvironmentCredential: EnvironmentCredential authentication unavailable. Environment variables are not fully configured.
\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable.
\tAzureCliCredential: Azure CLI not found on path
To mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/x."""


def test_an_unconfigured_chain_becomes_one_line_with_the_fix() -> None:
    """Nothing set up: one line naming what was tried and how to provide a credential."""
    line = no_credential(CHAIN)
    assert line is not None
    assert "\n" not in line
    assert len(line) < 300
    assert "Environment, ManagedIdentity, AzureCli" in line
    assert "az login" in line


def test_a_credential_that_tried_and_failed_keeps_its_message() -> None:
    """A real refusal (a credential that was set up) is not hidden behind the short line."""
    failed = CHAIN.replace(
        "Azure CLI not found on path", "ERROR: AADSTS700016: application not found"
    )
    assert no_credential(failed) is None
    assert no_credential("some other authentication error") is None


def test_tls_verification_failures_point_at_the_ca_bundle() -> None:
    """CERTIFICATE_VERIFY_FAILED names ROTATOR_CA_BUNDLE and a proxy's CA; others get nothing."""
    fix = fix_for(
        "cannot reach https://kv: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    assert fix is not None
    assert "ROTATOR_CA_BUNDLE" in fix
    assert "proxy" in fix
    assert fix_for("Key Vault answered 500") is None


def test_a_shorter_certificate_refusal_names_both_flags_it_needs() -> None:
    """The refusal of a certificate expiring sooner says --force needs --reason too."""
    import datetime as dt

    import pytest

    from rotator.errors import CredentialError
    from rotator.model import ConnectorState, GraphCertificate
    from rotator.steps.policy import check_not_shorter

    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    active = GraphCertificate("AA" * 20, now, now + dt.timedelta(days=60), is_active=True)
    connector = ConnectorState("c1", None, "certificate", certificates=(active,))
    with pytest.raises(CredentialError, match=r"use --force with --reason"):
        check_not_shorter(connector, now + dt.timedelta(days=10), source="version a")


def test_nothing_listening_on_this_machine_asks_whether_the_emulator_runs() -> None:
    """A refused loopback address: the fix asks whether the emulator is running."""
    error = not_listening("https://127.0.0.1:4242/path?q=1", "ROTATOR_GRAPH_ENDPOINT")
    assert error == (
        "nothing is listening at https://127.0.0.1:4242 (ROTATOR_GRAPH_ENDPOINT): connection refused"
    )
    fix = fix_for(f"connector c1: {error}")
    assert fix is not None
    assert fix.startswith("is the emulator (or the local service) running?")
    assert fix_for(f"{error}; {fix}") is None  # said once, not twice


def test_nothing_listening_elsewhere_points_at_the_setting() -> None:
    """A refused remote address: check the URL setting and the service, no emulator talk."""
    fix = fix_for(not_listening("https://kv.example:443", "keyVaultUrl"))
    assert fix == "check that URL setting and that the service is up and reachable from this host"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi"},
            "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not",
        ),
        ({"IDENTITY_HEADER": "h"}, "IDENTITY_HEADER is set but IDENTITY_ENDPOINT is not"),
        ({"IDENTITY_ENDPOINT": "e", "IDENTITY_HEADER": "h"}, None),
        ({}, None),
    ],
)
def test_half_a_managed_identity_names_the_missing_variable(
    env: dict[str, str], expected: str | None
) -> None:
    """Only one of IDENTITY_ENDPOINT / IDENTITY_HEADER: the message names both."""
    gap = managed_identity_gap(env)
    assert (gap.split(":")[0] if gap else None) == expected


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9", "https://[::1]:8443", "https://localhost", "https://kv.example:1"]
)
def test_the_refused_address_is_read_back_exactly(url: str) -> None:
    """refused_url gives back the scheme, host and port a not_listening message names."""
    assert refused_url(not_listening(f"{url}/a/b?c=d", "SETTING")) == url
    assert refused_url(not_listening(url)) == url
