"""The emulator as the real Azure SDK clients and httpx see it, over real sockets and TLS."""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.certificates import CertificateClient, CertificateContentType
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from rotator.emulator import Emulator, pki

pytestmark = pytest.mark.usefixtures("azure_env")

ROLE = "APIConnectors.ReadWrite.All"


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    """A CA for the test certificates."""
    return pki.make_ca("emulator test CA")


@pytest.fixture(scope="module")
def leaf(ca: pki.Issued) -> pki.Issued:
    """A valid client certificate signed by ``ca``."""
    return pki.make_leaf("api.contoso.test", issuer=ca)


@pytest.fixture(scope="module")
def second_leaf(ca: pki.Issued) -> pki.Issued:
    """Another valid client certificate signed by ``ca``."""
    return pki.make_leaf("api2.contoso.test", issuer=ca)


def secret_client(emu: Emulator, credential: Any = None) -> SecretClient:
    """A real SecretClient pointed at the emulator with fast retries."""
    return SecretClient(
        emu.vault_url,
        credential or ManagedIdentityCredential(),
        verify_challenge_resource=False,
        connection_verify=str(emu.ca_path),
        retry_total=2,
        retry_backoff_factor=0.01,
    )


def certificate_client(emu: Emulator) -> CertificateClient:
    """A real CertificateClient pointed at the emulator (through DefaultAzureCredential)."""
    return CertificateClient(
        emu.vault_url,
        DefaultAzureCredential(),
        verify_challenge_resource=False,
        connection_verify=str(emu.ca_path),
        retry_total=2,
        retry_backoff_factor=0.01,
    )


@pytest.fixture
def graph(emu: Emulator) -> Iterator[httpx.Client]:
    """An httpx client for the emulated Graph, trusting the emulator's CA, with a Graph token."""
    token = ManagedIdentityCredential().get_token(f"{emu.graph_url}/.default").token
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(
        base_url=f"{emu.graph_url}/beta/identity/apiConnectors",
        verify=context,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ) as client:
        yield client


def pfx_3des(issued: pki.Issued, password: bytes, chain: tuple[pki.Issued, ...] = ()) -> str:
    """Base64 of a PKCS#12 that B2C accepts: 3DES + SHA-1 MAC."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 (B2C accepts only the SHA-1 MAC)
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(
        b"api", issued.key, issued.certificate, [c.certificate for c in chain] or None, encryption
    )
    return base64.b64encode(data).decode()


def pfx_aes(issued: pki.Issued, password: bytes) -> str:
    """Base64 of a PKCS#12 with cryptography's best (PBES2/AES-256) encryption."""
    data = pkcs12.serialize_key_and_certificates(
        b"api",
        issued.key,
        issued.certificate,
        None,
        serialization.BestAvailableEncryption(password),
    )
    return base64.b64encode(data).decode()


def patch_certificate(
    client: httpx.Client, connector_id: str, value: str, password: str
) -> httpx.Response:
    """PATCH the connector's authentication to a PKCS#12."""
    body = {
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.pkcs12Certificate",
            "pkcs12Value": value,
            "password": password,
        }
    }
    return client.patch(f"/{connector_id}", json=body)


def error_code(response: httpx.Response) -> str:
    """The Graph ``error.code`` of a response."""
    return str(response.json()["error"]["code"])


# -- Key Vault through the SDK ----------------------------------------------------------------


def test_latest_secret_is_read_with_trailing_slash(emu: Emulator) -> None:
    """get_secret(name) asks for /secrets/name/ and gets the version created last."""
    emu.vault.add_secret_version("api-password", "old", created=pki.utcnow() - dt.timedelta(days=1))
    newest = emu.vault.add_secret_version("api-password", "new")

    secret = secret_client(emu).get_secret("api-password")

    assert (secret.value, secret.properties.version) == ("new", newest)
    vault = [e for e in emu.journal() if e.service == "vault"]
    assert {e.path for e in vault} == {"/secrets/api-password/"}
    assert vault[-1].status == 200


def test_vault_challenge_names_tenant_and_resource(emu: Emulator) -> None:
    """An unauthenticated vault request gets 401 with the Bearer challenge Key Vault sends."""
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    response = httpx.get(f"{emu.vault_url}/secrets/x/?api-version=7.6", verify=context)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{emu.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert response.json()["error"]["code"] == "Unauthorized"


def test_secret_versions_are_listed_by_version_id_not_by_date(emu: Emulator) -> None:
    """The version list is ordered by version id, as the real service does, not by created date."""
    created: list[str] = []
    while len(created) < 3 or created == sorted(created):
        created.append(emu.vault.add_secret_version("pw", f"v{len(created)}"))

    listed = [p.version for p in secret_client(emu).list_properties_of_secret_versions("pw")]

    assert listed == sorted(created)
    assert listed != created


def test_version_list_pages_through_next_link(emu: Emulator) -> None:
    """More versions than a page are fetched through absolute https nextLinks with $skiptoken."""
    for index in range(7):
        emu.vault.add_secret_version("paged", f"v{index}")

    listed = list(secret_client(emu).list_properties_of_secret_versions("paged", max_page_size=3))

    assert len(listed) == 7
    pages = [e for e in emu.journal() if e.path == "/secrets/paged/versions" and e.status == 200]
    assert len(pages) == 3
    assert all("$skiptoken=" in e.query for e in pages[1:])


def test_certificate_bundle_maps_to_sdk_fields(
    emu: Emulator, ca: pki.Issued, leaf: pki.Issued
) -> None:
    """Thumbprint, cer, secret id, key id and the latest policy come through the SDK intact."""
    version = emu.vault.import_certificate("api-cert", leaf, chain=[ca.certificate])

    cert = certificate_client(emu).get_certificate("api-cert")

    assert cert.properties is not None
    assert cert.properties.version == version
    assert cert.properties.x509_thumbprint.hex().upper() == leaf.thumbprint
    assert bytes(cert.cer or b"") == leaf.certificate.public_bytes(serialization.Encoding.DER)
    assert cert.secret_id == f"{emu.vault_url}/secrets/api-cert/{version}"
    assert cert.key_id == f"{emu.vault_url}/keys/api-cert/{version}"
    assert cert.properties.not_before == leaf.certificate.not_valid_before_utc
    assert cert.policy is not None
    assert cert.policy.content_type == CertificateContentType.pkcs12
    assert cert.policy.exportable is True


def test_certificate_version_has_no_policy(emu: Emulator, leaf: pki.Issued) -> None:
    """A versioned certificate GET carries no policy, like the real service."""
    version = emu.vault.import_certificate("api-cert", leaf)

    cert = certificate_client(emu).get_certificate_version("api-cert", version)

    assert cert.policy is None


def test_backing_secret_is_managed_pfx_with_key_and_chain(
    emu: Emulator, ca: pki.Issued, leaf: pki.Issued
) -> None:
    """The certificate's secret is managed, has a kid, and holds a password-less PFX."""
    version = emu.vault.import_certificate("api-cert", leaf, chain=[ca.certificate])

    secret = secret_client(emu).get_secret("api-cert", version)

    assert secret.properties.managed is True
    assert secret.properties.key_id == f"{emu.vault_url}/keys/api-cert/{version}"
    assert secret.properties.content_type == "application/x-pkcs12"
    key, cert, chain = pkcs12.load_key_and_certificates(base64.b64decode(secret.value or ""), None)
    assert key is not None
    assert cert == leaf.certificate
    assert chain == [ca.certificate]


def test_pem_backing_secret_starts_with_the_key(emu: Emulator, leaf: pki.Issued) -> None:
    """A PEM certificate's secret is an unencrypted PKCS#8 key followed by the leaf."""
    version = emu.vault.import_certificate("pem-cert", leaf, content_type="application/x-pem-file")

    value = secret_client(emu).get_secret("pem-cert", version).value or ""

    first_block = value[: value.index("-----END") + 40]
    key = serialization.load_pem_private_key(first_block.encode(), password=None)  # PKCS#8, clear
    assert isinstance(key, pki.PrivateKey)
    assert key.public_key().public_numbers() == leaf.key.public_key().public_numbers()
    assert value.count("-----BEGIN CERTIFICATE-----") == 1


def test_non_exportable_certificate_secret_has_no_key(emu: Emulator, leaf: pki.Issued) -> None:
    """With a non-exportable key the backing secret holds only the certificate."""
    version = emu.vault.import_certificate("locked", leaf, exportable=False)

    value = secret_client(emu).get_secret("locked", version).value or ""
    loaded = pkcs12.load_pkcs12(base64.b64decode(value), None)

    assert loaded.key is None
    assert [c.certificate for c in loaded.additional_certs] == [leaf.certificate]
    policy = certificate_client(emu).get_certificate("locked").policy
    assert policy is not None
    assert policy.exportable is False


def test_disabled_latest_secret_is_forbidden(emu: Emulator) -> None:
    """Reading a disabled current version answers 403 Forbidden / SecretDisabled."""
    version = emu.vault.add_secret_version("pw", "value", enabled=False)

    with pytest.raises(HttpResponseError) as caught:
        secret_client(emu).get_secret("pw")

    assert caught.value.status_code == 403
    assert caught.value.error is not None
    assert caught.value.error.code == "Forbidden"
    assert "disabled secret" in str(caught.value.message)
    listed = list(secret_client(emu).list_properties_of_secret_versions("pw"))
    assert [(p.version, p.enabled) for p in listed] == [(version, False)]


def test_unknown_secret_raises_secret_not_found(emu: Emulator) -> None:
    """A missing secret is ResourceNotFoundError with code SecretNotFound."""
    with pytest.raises(ResourceNotFoundError) as caught:
        secret_client(emu).get_secret("missing")

    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"


def test_unknown_certificate_raises_certificate_not_found(emu: Emulator) -> None:
    """A missing certificate is ResourceNotFoundError with code CertificateNotFound."""
    with pytest.raises(ResourceNotFoundError) as caught:
        certificate_client(emu).get_certificate("missing")

    assert caught.value.error is not None
    assert caught.value.error.code == "CertificateNotFound"


def test_denied_secrets_are_forbidden_by_rbac(emu: Emulator) -> None:
    """deny('secrets', name) makes reads of that secret answer 403 ForbiddenByRbac."""
    emu.vault.add_secret_version("pw", "value")
    emu.vault.deny("secrets", "pw")

    with pytest.raises(HttpResponseError) as caught:
        secret_client(emu).get_secret("pw")

    assert caught.value.status_code == 403
    assert caught.value.error is not None
    assert caught.value.error.innererror == {"code": "ForbiddenByRbac"}


def test_graph_token_is_refused_by_vault(emu: Emulator) -> None:
    """A token whose audience is Graph gets 401 from the vault (ClientAuthenticationError)."""
    emu.vault.add_secret_version("pw", "value")
    emu.identity.audience_override = emu.graph_url

    with pytest.raises(ClientAuthenticationError):
        secret_client(emu).get_secret("pw")

    vault = [e for e in emu.journal() if e.service == "vault"]
    assert vault
    assert not any(e.authorized for e in vault)


def test_sdk_retries_vault_429_and_succeeds(emu: Emulator) -> None:
    """One injected Key Vault 429 (Throttled, Retry-After) is retried by the SDK."""
    emu.vault.add_secret_version("pw", "value")
    emu.faults.add(service="vault", path="/secrets/pw", status=429, retry_after="0", times=1)

    assert secret_client(emu).get_secret("pw").value == "value"

    # The SDK's challenge cache is process-wide: the anonymous 401 shows only on a fresh process.
    statuses = [e.status for e in emu.journal() if e.service == "vault" and e.status != 401]
    assert statuses == [429, 200]


# -- the managed-identity endpoint ------------------------------------------------------------


def test_identity_endpoint_answers_app_service_shape(emu: Emulator) -> None:
    """The token endpoint needs X-IDENTITY-HEADER and answers with a string expires_on."""
    params = {"api-version": "2019-08-01", "resource": "https://vault.azure.net"}
    refused = httpx.get(emu.identity_endpoint, params=params)
    answer = httpx.get(
        emu.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": emu.identity_header}
    )

    assert refused.status_code == 401
    body = answer.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["expires_on"].isdigit()
    assert int(body["expires_on"]) > time.time() + 3600
    assert (body["resource"], body["token_type"]) == ("https://vault.azure.net", "Bearer")


def test_env_holds_exactly_the_documented_variables(emu: Emulator) -> None:
    """env() gives the seven variables that point rotator and azure-identity at the emulator
    (the probe may call its loopback API side)."""
    assert emu.env() == {
        "ROTATOR_GRAPH_ENDPOINT": emu.graph_url,
        "ROTATOR_CA_BUNDLE": str(emu.ca_path),
        "ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        "IDENTITY_ENDPOINT": emu.identity_endpoint,
        "IDENTITY_HEADER": emu.identity_header,
        "AZURE_TOKEN_CREDENTIALS": "managedidentitycredential",
        "ROTATOR_PROBE_ALLOW_PRIVATE": "true",
    }


# -- Graph through httpx ----------------------------------------------------------------------


def test_get_shows_basic_auth_with_masked_password(emu: Emulator, graph: httpx.Client) -> None:
    """GET shows basicAuthentication with the username and ****** instead of the password."""
    connector_id = emu.graph.add_connector(
        "API", "https://api.test/x", username="svc", password="pw1"
    )

    response = graph.get(f"/{connector_id}")

    assert response.status_code == 200
    assert response.json()["authenticationConfiguration"] == {
        "@odata.type": "#microsoft.graph.basicAuthentication",
        "username": "svc",
        "password": "******",
    }
    assert response.headers["request-id"]


def test_patch_basic_answers_204_and_keeps_password_hidden(
    emu: Emulator, graph: httpx.Client
) -> None:
    """PATCH basic auth answers 204 with no body; GET masks it; password_matches confirms it."""
    connector_id = emu.graph.add_connector(username="svc", password="old")
    body = {
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.basicAuthentication",
            "username": "svc2",
            "password": "canary-password-1",
        }
    }

    patched = graph.patch(f"/{connector_id}", json=body)

    assert (patched.status_code, patched.content) == (204, b"")
    shown = graph.get(f"/{connector_id}").json()["authenticationConfiguration"]
    assert (shown["username"], shown["password"]) == ("svc2", "******")
    assert emu.graph.password_matches(connector_id, "canary-password-1")
    assert not emu.graph.password_matches(connector_id, "old")
    assert emu.graph.connector(connector_id).writes == 1


def test_patch_with_3des_pfx_is_accepted_and_active(
    emu: Emulator, graph: httpx.Client, ca: pki.Issued, leaf: pki.Issued
) -> None:
    """A 3DES/SHA-1 PKCS#12 replaces basic auth; GET lists its thumbprint as the active one."""
    connector_id = emu.graph.add_connector(username="svc", password="pw")

    response = patch_certificate(graph, connector_id, pfx_3des(leaf, b"pfx-pw", (ca,)), "pfx-pw")

    assert response.status_code == 204
    config = graph.get(f"/{connector_id}").json()["authenticationConfiguration"]
    assert config["@odata.type"] == "#microsoft.graph.clientCertificateAuthentication"
    assert config["certificateList"] == [
        {
            "thumbprint": leaf.thumbprint,
            "notAfter": int(leaf.certificate.not_valid_after_utc.timestamp()),
            "notBefore": int(leaf.certificate.not_valid_before_utc.timestamp()),
            "isActive": True,
        }
    ]
    entry = emu.graph.connector(connector_id).certificates[0]
    assert (entry.encryption, entry.chain_thumbprints) == ("3des", (ca.thumbprint,))


def test_patch_with_aes_pfx_is_refused_as_wrong_password(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """A PBES2/AES-256 PKCS#12 is refused with B2C's misleading AADB2C90213, right password or not."""
    connector_id = emu.graph.add_connector()

    response = patch_certificate(graph, connector_id, pfx_aes(leaf, b"pfx-pw"), "pfx-pw")

    assert (response.status_code, error_code(response)) == (400, "AADB2C90213")
    assert response.json()["error"]["message"] == (
        "The certificate password provided in request is incorrect."
    )
    assert emu.graph.connector(connector_id).auth_type == "basic"


def test_patch_with_wrong_pfx_password_is_refused(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """A 3DES PKCS#12 with the wrong password is refused with AADB2C90213."""
    connector_id = emu.graph.add_connector()

    response = patch_certificate(graph, connector_id, pfx_3des(leaf, b"right"), "wrong")

    assert (response.status_code, error_code(response)) == (400, "AADB2C90213")


def test_patch_with_certificate_only_pfx_is_badly_formatted(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """A PKCS#12 without a private key is refused with AADB2C90215."""
    connector_id = emu.graph.add_connector()
    value = base64.b64encode(pki.keyvault_pfx(None, leaf.certificate)).decode()

    response = patch_certificate(graph, connector_id, value, "")

    assert (response.status_code, error_code(response)) == (400, "AADB2C90215")


def test_patch_with_expired_certificate_is_refused(
    emu: Emulator, graph: httpx.Client, ca: pki.Issued
) -> None:
    """An expired certificate is refused with AADB2C90220."""
    now = pki.utcnow()
    expired = pki.make_leaf(
        "old",
        issuer=ca,
        not_before=now.replace(year=now.year - 2),
        not_after=now.replace(year=now.year - 1),
    )
    connector_id = emu.graph.add_connector()

    response = patch_certificate(graph, connector_id, pfx_3des(expired, b"pw"), "pw")

    assert (response.status_code, error_code(response)) == (400, "AADB2C90220")


def test_upload_appends_and_newest_valid_upload_is_active(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued, second_leaf: pki.Issued
) -> None:
    """uploadClientCertificate answers 200 with every certificate; the newest valid one is active."""
    connector_id = emu.graph.add_connector()
    patch_certificate(graph, connector_id, pfx_3des(leaf, b"pw"), "pw")

    response = graph.post(
        f"/{connector_id}/uploadClientCertificate",
        json={"pkcs12Value": pfx_3des(second_leaf, b"pw2"), "password": "pw2"},
    )

    assert response.status_code == 200
    listed = response.json()["authenticationConfiguration"]["certificateList"]
    assert [(c["thumbprint"], c["isActive"]) for c in listed] == [
        (leaf.thumbprint, False),
        (second_leaf.thumbprint, True),
    ]


def test_future_certificate_upload_stays_inactive(
    emu: Emulator, graph: httpx.Client, ca: pki.Issued, leaf: pki.Issued
) -> None:
    """A certificate whose notBefore is in the future is listed but not active yet."""
    now = pki.utcnow()
    future = pki.make_leaf(
        "next",
        issuer=ca,
        not_before=now.replace(year=now.year + 1),
        not_after=now.replace(year=now.year + 2),
    )
    connector_id = emu.graph.add_connector()
    emu.graph.install_certificate(connector_id, leaf)

    response = graph.post(
        f"/{connector_id}/uploadclientcertificate",
        json={"pkcs12Value": pfx_3des(future, b"pw"), "password": "pw"},
    )

    listed = response.json()["authenticationConfiguration"]["certificateList"]
    assert [c["isActive"] for c in listed] == [True, False]


def test_odata_type_without_hash_and_lowercase_path_are_accepted(
    emu: Emulator, graph: httpx.Client
) -> None:
    """'microsoft.graph.basicAuthentication' without '#' on a lower-case path is accepted."""
    connector_id = emu.graph.add_connector()
    body = {
        "authenticationConfiguration": {
            "@odata.type": "Microsoft.Graph.BasicAuthentication",
            "username": "u",
            "password": "p",
        }
    }

    response = graph.patch(f"{emu.graph_url}/BETA/identity/apiconnectors/{connector_id}", json=body)

    assert response.status_code == 204


def test_v1_endpoint_serves_the_same_connector(emu: Emulator, graph: httpx.Client) -> None:
    """The v1.0 path reads the same connector with a v1.0 @odata.context."""
    connector_id = emu.graph.add_connector("API")

    body = graph.get(f"{emu.graph_url}/v1.0/identity/apiConnectors/{connector_id}").json()

    assert body["displayName"] == "API"
    assert body["@odata.context"].startswith(f"{emu.graph_url}/v1.0/$metadata#")


def test_create_connector_answers_201(emu: Emulator, graph: httpx.Client) -> None:
    """POST on the collection creates a basic-auth connector and answers 201 with it."""
    body = {
        "displayName": "New",
        "targetUrl": "https://api.test/new",
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.basicAuthentication",
            "username": "u",
            "password": "p",
        },
    }

    response = graph.post("", json=body)

    assert response.status_code == 201
    created = emu.graph.connector(response.json()["id"])
    assert (created.display_name, created.username) == ("New", "u")


def test_unknown_connector_is_not_found_with_ids(emu: Emulator, graph: httpx.Client) -> None:
    """An unknown id is 404 Request_ResourceNotFound; request ids are in headers and innerError."""
    response = graph.get(
        "/00000000-0000-0000-0000-000000000000", headers={"client-request-id": "abc"}
    )

    assert (response.status_code, error_code(response)) == (404, "Request_ResourceNotFound")
    inner = response.json()["error"]["innerError"]
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"] == "abc"


def test_vault_token_is_refused_by_graph(emu: Emulator) -> None:
    """A Key Vault token gets 401 InvalidAuthenticationToken from Graph."""
    connector_id = emu.graph.add_connector()
    token = ManagedIdentityCredential().get_token("https://vault.azure.net/.default").token
    context = ssl.create_default_context(cafile=str(emu.ca_path))

    response = httpx.get(
        f"{emu.graph_url}/beta/identity/apiConnectors/{connector_id}",
        headers={"Authorization": f"Bearer {token}"},
        verify=context,
    )

    assert (response.status_code, error_code(response)) == (401, "InvalidAuthenticationToken")


def test_token_without_the_role_is_denied_by_graph(emu: Emulator) -> None:
    """A Graph token without APIConnectors.ReadWrite.All gets 403 Authorization_RequestDenied."""
    emu.identity.graph_roles = {"User.Read.All"}
    connector_id = emu.graph.add_connector()
    token = ManagedIdentityCredential().get_token(f"{emu.graph_url}/.default").token
    context = ssl.create_default_context(cafile=str(emu.ca_path))

    response = httpx.get(
        f"{emu.graph_url}/beta/identity/apiConnectors/{connector_id}",
        headers={"Authorization": f"Bearer {token}"},
        verify=context,
    )

    assert (response.status_code, error_code(response)) == (403, "Authorization_RequestDenied")
    assert (
        response.json()["error"]["message"] == "Insufficient privileges to complete the operation."
    )


def test_stale_reads_show_the_pre_write_state(emu: Emulator, graph: httpx.Client) -> None:
    """With stale_reads=2 the two GETs after a PATCH still show the old username."""
    connector_id = emu.graph.add_connector(username="before", password="p")
    emu.graph.stale_reads = 2
    body = {
        "authenticationConfiguration": {
            "@odata.type": "#microsoft.graph.basicAuthentication",
            "username": "after",
            "password": "p2",
        }
    }
    graph.patch(f"/{connector_id}", json=body)

    seen = [
        graph.get(f"/{connector_id}").json()["authenticationConfiguration"]["username"]
        for _ in range(3)
    ]

    assert seen == ["before", "before", "after"]


# -- faults and journal -----------------------------------------------------------------------


def test_429_with_retry_after_then_success(emu: Emulator, graph: httpx.Client) -> None:
    """A times=1 Graph 429 answers TooManyRequests with Retry-After, then the route works again."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(service="graph", method="GET", status=429, retry_after="7", times=1)

    throttled = graph.get(f"/{connector_id}")
    after = graph.get(f"/{connector_id}")

    assert (throttled.status_code, error_code(throttled)) == (429, "TooManyRequests")
    assert throttled.headers["Retry-After"] == "7"
    assert after.status_code == 200


def test_faults_run_in_order_and_expire(emu: Emulator, graph: httpx.Client) -> None:
    """Faults added in a row play out in order; times=N ones disappear after N requests."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(service="graph", status=503, times=2)
    emu.faults.add(service="graph", status=500, times=1)

    statuses = [graph.get(f"/{connector_id}").status_code for _ in range(4)]

    assert statuses == [503, 503, 500, 200]


def test_fault_matches_only_its_method_and_path(emu: Emulator, graph: httpx.Client) -> None:
    """A fault on PATCH .../uploadClientCertificate leaves a GET of the connector alone."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(service="graph", method="POST", path="uploadClientCertificate$", status=504)

    assert graph.get(f"/{connector_id}").status_code == 200


def test_body_fault_answers_that_text_instead_of_the_service(
    emu: Emulator, graph: httpx.Client
) -> None:
    """body= answers its text with status 200 and its content type, once, then the service again."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(
        service="graph",
        method="GET",
        body="<html>maintenance</html>",
        content_type="text/html",
        times=1,
    )

    faked = graph.get(f"/{connector_id}")
    after = graph.get(f"/{connector_id}")

    assert (faked.status_code, faked.text) == (200, "<html>maintenance</html>")
    assert faked.headers["Content-Type"] == "text/html"
    assert after.json()["id"] == connector_id


def test_dropped_connection_has_no_answer(emu: Emulator, graph: httpx.Client) -> None:
    """drop=True closes the socket without an answer; the journal records status 0."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(service="graph", drop=True, times=1)

    with pytest.raises(httpx.RemoteProtocolError):
        graph.get(f"/{connector_id}")

    assert graph.get(f"/{connector_id}").status_code == 200
    assert [e.status for e in emu.journal() if e.service == "graph"] == [0, 200]


def test_delay_slows_the_answer(emu: Emulator, graph: httpx.Client) -> None:
    """delay=0.3 holds the answer for at least that long, then answers normally."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(service="graph", delay=0.3, times=1)

    started = time.perf_counter()
    response = graph.get(f"/{connector_id}")

    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_delay_beyond_client_timeout_times_out(emu: Emulator, graph: httpx.Client) -> None:
    """A delay longer than the client's read timeout surfaces as a timeout."""
    connector_id = emu.graph.add_connector()
    emu.faults.add(service="graph", delay=0.5, times=1)

    with pytest.raises(httpx.ReadTimeout):
        graph.get(f"/{connector_id}", timeout=0.1)


def test_journal_records_requests_without_secrets(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """The journal and snapshots hold method, path, status and auth state, never a password."""
    connector_id = emu.graph.add_connector(username="u", password="canary-old")
    value = pfx_3des(leaf, b"canary-pfx-pw")
    patch_certificate(graph, connector_id, value, "canary-pfx-pw")

    entries = [e for e in emu.journal() if e.service == "graph"]

    assert [(e.method, e.status, e.authorized) for e in entries] == [("PATCH", 204, True)]
    visible = repr(emu.journal()) + repr(emu.graph.connector(connector_id))
    assert "canary" not in visible
    assert value[:40] not in visible


# -- control surface --------------------------------------------------------------------------


def test_control_surface_seeds_what_the_sdk_reads(emu: Emulator, leaf: pki.Issued) -> None:
    """Secrets, certificates and connectors seeded over HTTPS are what the clients then see."""
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    with httpx.Client(base_url=emu.control_url, verify=context) as control:
        secret = control.post("/vault/secrets/pw", json={"value": "seeded", "tags": {"a": "b"}})
        cert = control.post(
            "/vault/certificates/c",
            json={"cer": base64.b64encode(der).decode(), "secretValue": "not-a-pfx"},
        )
        created = control.post("/graph/connectors", json={"username": "u", "password": "canary-x"})
        snapshot = control.get(f"/graph/connectors/{created.json()['id']}")
        fault = control.post("/faults", json={"service": "vault", "status": 503, "times": 1})

    assert (secret.status_code, cert.status_code, created.status_code, fault.status_code) == (
        201,
        201,
        201,
        201,
    )
    assert "canary" not in snapshot.text
    assert snapshot.json()["authType"] == "basic"
    assert secret_client(emu).get_secret("pw").value == "seeded"
    seeded = certificate_client(emu).get_certificate("c").properties
    assert seeded is not None
    assert seeded.version == cert.json()["version"]
    assert 503 in [e.status for e in emu.journal() if e.service == "vault"]


def test_control_journal_and_reset(emu: Emulator, graph: httpx.Client) -> None:
    """GET /journal lists service requests as JSON; POST /reset empties state and journal."""
    connector_id = emu.graph.add_connector()
    graph.get(f"/{connector_id}")
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(base_url=emu.control_url, verify=context) as control:
        journal = control.get("/journal").json()["value"]
        reset = control.post("/reset")
        after = control.get("/graph/connectors").json()["value"]

    graph_entries = [e for e in journal if e["service"] == "graph"]
    assert [(e["method"], e["path"], e["status"]) for e in graph_entries] == [
        ("GET", f"/beta/identity/apiConnectors/{connector_id}", 200)
    ]
    assert json.dumps(journal).count("Bearer") == 0
    assert (reset.status_code, after, emu.journal()) == (204, [], [])


def test_control_surface_registers_an_entra_app(emu: Emulator) -> None:
    """An app registered over HTTPS gets Graph tokens with a client secret from the authority."""
    from azure.identity import ClientSecretCredential

    tenant, client = "2b2c0000-0000-4000-8000-000000000001", "2b2c0000-0000-4000-8000-000000000002"
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(base_url=emu.control_url, verify=context) as control:
        created = control.post(
            "/entra/apps", json={"clientId": client, "tenantId": tenant, "secret": "s3cret-canary"}
        )
        refused = control.post("/entra/apps", json={"clientId": "nope", "tenantId": tenant})
    assert created.status_code == 201
    assert refused.status_code == 400
    credential = ClientSecretCredential(
        tenant,
        client,
        "s3cret-canary",
        authority=emu.authority_url,
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_path),
    )
    token = credential.get_token(f"{emu.graph_url}/.default")
    assert token.token.count(".") == 2


def test_vault_refuses_a_token_from_another_tenant(emu: Emulator) -> None:
    """A vault trusts only its own tenant's tokens: another tenant's is AKV10032, with a challenge."""
    token, _ = emu.tokens.mint(
        audience="https://vault.azure.net", roles=set(), tenant_id=str(uuid.uuid4())
    )
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(verify=context) as client:
        answer = client.get(
            f"{emu.vault_url}/secrets/x/versions?api-version=7.6",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 401
    assert "AKV10032" in answer.json()["error"]["message"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer authorization=")


def test_managed_identity_endpoint_knows_only_the_apps_identity(emu: Emulator) -> None:
    """A client_id the app does not have is refused the way App Service does (400)."""
    with httpx.Client() as client:

        def ask(client_id: str) -> httpx.Response:
            return client.get(
                emu.identity_endpoint,
                params={
                    "api-version": "2019-08-01",
                    "resource": "https://vault.azure.net",
                    "client_id": client_id,
                },
                headers={"X-IDENTITY-HEADER": emu.identity_header},
            )

        unknown, known = ask(str(uuid.uuid4())), ask(emu.tokens.client_id)
    assert unknown.status_code == 400
    assert "No User Assigned or Delegated Managed Identity" in unknown.text
    assert known.status_code == 200


def test_graph_shows_a_connector_only_to_its_own_tenant(emu: Emulator) -> None:
    """Connectors of a B2C tenant are invisible to tokens of the managed identity's tenant."""
    b2c = str(uuid.uuid4())
    connector = emu.graph.add_connector("B2C API", "https://b2c.test", tenant_id=b2c)
    context = ssl.create_default_context(cafile=str(emu.ca_path))

    def get(tenant: str | None) -> httpx.Response:
        token, _ = emu.tokens.mint(
            audience=emu.graph_url, roles={"APIConnectors.ReadWrite.All"}, tenant_id=tenant
        )
        with httpx.Client(verify=context) as client:
            return client.get(
                f"{emu.graph_url}/beta/identity/apiConnectors/{connector}",
                headers={"Authorization": f"Bearer {token}"},
            )

    assert get(None).status_code == 404
    assert get(b2c).status_code == 200


def test_graph_refuses_3des_with_a_sha256_mac(emu: Emulator, leaf: pki.Issued) -> None:
    """Only the TripleDES-SHA1 export passes: 3DES bags with a SHA-256 MAC get AADB2C90213."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    pfx = pkcs12.serialize_key_and_certificates(b"x", leaf.key, leaf.certificate, None, encryption)
    connector = emu.graph.add_connector()
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    token, _ = emu.tokens.mint(audience=emu.graph_url, roles={"APIConnectors.ReadWrite.All"})
    with httpx.Client(verify=context) as client:
        answer = client.patch(
            f"{emu.graph_url}/beta/identity/apiConnectors/{connector}",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "authenticationConfiguration": {
                    "@odata.type": "#microsoft.graph.pkcs12Certificate",
                    "pkcs12Value": base64.b64encode(pfx).decode(),
                    "password": "pw",
                }
            },
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "AADB2C90213"
