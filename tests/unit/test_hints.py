"""Errors caused by this host's setup name their fix."""

from __future__ import annotations

from rotator.hints import fix_for, no_credential

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
