"""``rotator demo``: a real rotation against the local emulator (its seed also serves
``rotator emulator --seed demo``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rotator.faces.render import render_report, render_status
from rotator.model import RotationRequest

if TYPE_CHECKING:
    from rotator.emulator import Emulator

CERTIFICATE = "b2c-api-client-cert"
PASSWORD_SECRET_NAME = "b2c-api-basic-password"  # noqa: S105 - a name, not a secret
DAY = dt.timedelta(days=1)
API_CERT_ENDPOINT = "enrich"  # the connectors' API endpoints in the emulator (their targetUrl)
API_BASIC_ENDPOINT = "loyalty"


def run_demo(out: TextIO) -> int:
    """Start the emulator, seed it, rotate three times (a probe refuses the first certificate
    rotation until the API trusts it), print what happened; 0 when it all checked out."""
    from rotator.config.settings import Settings
    from rotator.emulator import Emulator
    from rotator.rotation import Rotator

    with (
        tempfile.TemporaryDirectory(prefix="rotator-demo-") as tmp,
        Emulator(workdir=Path(tmp) / "emulator") as emu,
    ):
        out.write(
            "rotator demo: a local emulator of Graph, Key Vault, managed identity and the\n"
            "connectors' own API (HTTPS, real sockets, mutual TLS) is seeded with a certificate in\n"
            "four versions and a password in three. Before any write to Graph, rotator asks each\n"
            "connector's API whether it accepts the new credential (the probe): the API does not\n"
            "trust the renewed certificate yet, so that rotation is refused until it does.\n"
            "Two B2C policy keys (a certificate and a password key set) are one version behind\n"
            "too: rotator appends the new key (key sets only grow), probes the custom policy's\n"
            "API first, and verifies with getActiveKey that B2C uses it.\n"
        )
        config, expected = seed_demo(emu, out)
        config = with_policy_keys(emu, config, expected)
        env = {
            **emu.env(),
            "ROTATOR_CONFIG": json.dumps(config),
            "ROTATOR_STATE_DIR": str(Path(tmp) / "state"),
        }
        with _environment(env):
            settings = Settings.from_env()
            _say(out, "Settings that point rotator at the emulator:")
            for key in sorted(env):
                if key != "IDENTITY_HEADER":
                    out.write(f"    {key}={env[key]}\n")
            out.write("    IDENTITY_HEADER=<hidden>\n")

            runs = []
            calls: list[dict[str, int]] = []  # per run: Graph + Key Vault calls per key set
            with Rotator.from_settings(settings) as rotator:
                for title in (
                    "Run 1: rotate every connector and policy key (the API rejects the renewed "
                    "certificate)",
                    "Run 2: after the API was told to trust it too",
                    "Run 3: the same again (nothing to do, no secret read)",
                ):
                    if title.startswith("Run 2"):
                        _say(out, "The API now trusts the renewed certificate beside the old one")
                        emu.api.trust_certificate(API_CERT_ENDPOINT, expected["thumbprint"])
                        out.write(f"    {API_CERT_ENDPOINT}: trusts {expected['thumbprint']}\n")
                    _say(out, title)
                    emu.clear_journal()
                    runs.append(rotator.rotate(RotationRequest(trigger="demo")))
                    out.write(render_report(runs[-1]))
                    out.write(_requests(emu))
                    calls.append(_key_set_calls(emu, expected))
                    out.write(
                        "            policy keys "
                        + ", ".join(f"{n} calls for {name}" for name, n in calls[-1].items())
                        + "\n"
                    )

                _say(out, "Status")
                out.write(render_status(rotator.status()))

        problems = _check(emu, runs, expected) + _check_key_sets(emu, calls, expected)
        _say(out, "Checked in the emulator")
        for line in problems or [
            "every connector holds what Key Vault's newest usable version says",
            "each key set's active key (getActiveKey) is Key Vault's newest usable version;"
            " up to date with two calls per key set",
        ]:
            out.write(f"    {line}\n")
        return 1 if problems else 0


def seed_demo(emu: Emulator, out: TextIO) -> tuple[dict[str, Any], dict[str, str]]:
    """Seed a CA, four certificate versions, three password versions, two connectors and their
    API, and two B2C policy keys (``seed_demo_keysets``); return the targets (``ROTATOR_CONFIG``)
    and what the demo expects at the end."""
    from rotator.emulator import pki
    from rotator.emulator.seeding import seed_demo_keysets

    now = pki.utcnow()
    ca = pki.make_ca("Contoso Demo Issuing CA")
    versions = [
        # (label, not_before, not_after, created, enabled)
        ("current on the connector", now - 300 * DAY, now + 30 * DAY, now - 300 * DAY, True),
        ("renewed: the newest usable", now - DAY, now + 365 * DAY, now - DAY, True),
        (
            "disabled by an operator",
            now - 2 * DAY,
            now + 400 * DAY,
            now - dt.timedelta(hours=2),
            False,
        ),
        (
            "pre-staged, not yet valid",
            now + 10 * DAY,
            now + 400 * DAY,
            now - dt.timedelta(hours=1),
            True,
        ),
    ]
    _say(
        out,
        f"Key Vault certificate '{CERTIFICATE}' (issued by {ca.certificate.subject.rfc4514_string()})",
    )
    leaves: list[Any] = []
    for label, not_before, not_after, created, enabled in versions:
        leaf = pki.make_leaf(
            "api.contoso-demo.onmicrosoft.com",
            issuer=ca,
            not_before=not_before,
            not_after=not_after,
        )
        version = emu.vault.import_certificate(
            CERTIFICATE, leaf, chain=[ca.certificate], created=created, enabled=enabled
        )
        leaves.append(leaf)
        out.write(f"    {version}  {leaf.thumbprint}  {label}\n")

    cert_connector = emu.graph.add_connector(
        "Profile enrichment API", emu.api_url_for(API_CERT_ENDPOINT)
    )
    emu.graph.install_certificate(cert_connector, leaves[0], chain=[ca.certificate])
    # The API's side: its TLS layer knows the issuer, its code trusts only today's certificate.
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate(API_CERT_ENDPOINT, leaves[0].thumbprint)

    _say(out, f"Key Vault secret '{PASSWORD_SECRET_NAME}' (values are random and never printed)")
    password_versions = [
        ("old", now - 90 * DAY, True),
        ("the newest usable", now - 10 * DAY, True),
        ("disabled by an operator", now - dt.timedelta(hours=3), False),
    ]
    newest_password = ""
    for label, created, enabled in password_versions:
        value = secrets.token_urlsafe(24)
        version = emu.vault.add_secret_version(
            PASSWORD_SECRET_NAME, value, created=created, enabled=enabled
        )
        if label == "the newest usable":
            newest_password = value
            # the API already accepts the new password beside the old one
            emu.api.accept_basic(API_BASIC_ENDPOINT, "b2c-loyalty", value)
        out.write(f"    {version}  {label}\n")
    old_password = secrets.token_urlsafe(24)
    emu.api.accept_basic(API_BASIC_ENDPOINT, "b2c-loyalty", old_password)
    basic_connector = emu.graph.add_connector(
        "Loyalty points API",
        emu.api_url_for(API_BASIC_ENDPOINT),
        username="b2c-loyalty",
        password=old_password,
    )
    _say(out, "Graph API connectors")
    for connector_id in (cert_connector, basic_connector):
        snapshot = emu.graph.connector(connector_id)
        out.write(f"    {connector_id}  {snapshot.display_name}: {snapshot.auth_type}\n")

    _say(out, "B2C policy keys (trustFramework key sets) and their Key Vault objects")
    keysets = seed_demo_keysets(emu.vault, emu.keysets, emu.api, issuer=ca)
    for line in keysets.lines:
        out.write(f"    {line}\n")

    config = {
        "keyVaultUrl": emu.vault_url,
        "probe": {},  # every connector: ask its API (its targetUrl) before switching B2C
        "connectors": [
            {"id": cert_connector, "certificate": CERTIFICATE, "mode": "replace"},
            {
                "id": basic_connector,
                "basic": {"username": "b2c-loyalty", "passwordSecret": PASSWORD_SECRET_NAME},
            },
        ],
    }
    expected = {
        "cert_connector": cert_connector,
        "thumbprint": leaves[1].thumbprint,
        "basic_connector": basic_connector,
        "password": newest_password,
        "cert_keyset": keysets.certificate_keyset,
        "x5t": keysets.renewed_x5t,
        "password_keyset": keysets.password_keyset,
        "keyset_password": keysets.newest_password,
        "keyset_objects": f"{keysets.certificate} {keysets.password_secret}",
        "keyset_username": keysets.username,
    }
    return config, expected


def with_policy_keys(
    emu: Emulator, config: dict[str, Any], expected: Mapping[str, str]
) -> dict[str, Any]:
    """``config`` plus the demo's two policy keys (seeded by :func:`seed_demo`), each probed at
    the API its custom policy calls (a key set's ``probe.url`` is required: Graph has none)."""
    from rotator.emulator.seeding import DEMO_KEYSET_BASIC_ENDPOINT, DEMO_KEYSET_CERT_ENDPOINT

    certificate, secret = expected["keyset_objects"].split()
    cert_probe = {"url": emu.api_url_for(DEMO_KEYSET_CERT_ENDPOINT)}
    basic_probe = {
        "url": emu.api_url_for(DEMO_KEYSET_BASIC_ENDPOINT),
        "username": expected["keyset_username"],
    }
    keys = [
        {"keySet": expected["cert_keyset"], "certificate": certificate, "probe": cert_probe},
        {"keySet": expected["password_keyset"], "secret": secret, "probe": basic_probe},
    ]
    return {**config, "policyKeys": keys}


def _check(emu: Emulator, runs: list[Any], expected: Mapping[str, str]) -> list[str]:
    problems = []
    cert = emu.graph.connector(expected["cert_connector"])
    held = [c.thumbprint for c in cert.certificates]
    if held != [expected["thumbprint"]]:
        problems.append(f"certificate connector holds {held}, expected {expected['thumbprint']}")
    if not emu.graph.password_matches(expected["basic_connector"], expected["password"]):
        problems.append("basic connector does not hold the newest password")
    wanted = [
        ["refused", "rotated", "rotated", "rotated"],
        ["rotated", "up-to-date", "up-to-date", "up-to-date"],
        ["up-to-date", "up-to-date", "up-to-date", "up-to-date"],
    ]
    for number, (run, outcomes) in enumerate(zip(runs, wanted, strict=True), start=1):
        if [o.outcome.value for o in run.outcomes] != outcomes:
            problems.append(f"run {number} did not end {' and '.join(outcomes)}")
    return problems


def _key_set_calls(emu: Emulator, expected: Mapping[str, str]) -> dict[str, int]:
    """Per key set, the Graph and Key Vault calls a run made for it (its set, its vault object)."""
    objects = dict(
        zip(
            (expected["cert_keyset"], expected["password_keyset"]),
            expected["keyset_objects"].split(),
            strict=True,
        )
    )
    return {
        name: sum(
            (e.service == "graph" and f"/keySets/{name}" in e.path)
            or (e.service == "vault" and f"/{obj}/" in f"{e.path}/")
            for e in emu.journal()
        )
        for name, obj in objects.items()
    }


def _check_key_sets(
    emu: Emulator, calls: list[dict[str, int]], expected: Mapping[str, str]
) -> list[str]:
    problems = []
    cert = emu.keysets.keyset(expected["cert_keyset"]).active
    if cert is None or cert.x5t != expected["x5t"]:
        problems.append(f"{expected['cert_keyset']}'s active key is not the renewed certificate")
    password = emu.keysets.keyset(expected["password_keyset"]).active
    found = emu.keysets.secret_matches(expected["password_keyset"], expected["keyset_password"])
    if password is None or found != password.kid:
        problems.append(f"{expected['password_keyset']}'s active key is not the newest password")
    for number, run in enumerate(calls[1:], start=2):
        if any(n != 2 for n in run.values()):
            problems.append(f"run {number}: an up-to-date key set took other than two calls: {run}")
    return problems


def _requests(emu: Emulator) -> str:
    seen = Counter(entry.service for entry in emu.journal())
    parts = ", ".join(f"{seen.get(s, 0)} to {s}" for s in ("vault", "graph", "identity", "api"))
    return f"            requests   {parts}\n"


def _say(out: TextIO, title: str) -> None:
    out.write(f"\n== {title}\n")


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
