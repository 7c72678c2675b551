"""The emulated B2C policy keys (Graph beta ``/trustFramework/keySets``) over real sockets and TLS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ssl
import uuid
from collections.abc import Iterator

import httpx
import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from rotator.emulator import Emulator, pki
from rotator.emulator.keysets_api import intermittent_error_body
from rotator.emulator.seeding import (
    DEMO_CERTIFICATE_KEYSET,
    DEMO_KEYSET_CERTIFICATE,
    DEMO_KEYSET_PASSWORD_SECRET,
    DEMO_PASSWORD_KEYSET,
    seed_demo_keysets,
)

pytestmark = pytest.mark.usefixtures("azure_env")

WRITE = "TrustFrameworkKeySet.ReadWrite.All"
READ = "TrustFrameworkKeySet.Read.All"
DAY = 86400


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    """A CA for the test certificates."""
    return pki.make_ca("key sets test CA")


@pytest.fixture(scope="module")
def leaf(ca: pki.Issued) -> pki.Issued:
    """A valid RSA client certificate signed by ``ca``."""
    return pki.make_leaf("restapi.contoso.test", issuer=ca)


def client(emu: Emulator, token: str | None) -> httpx.Client:
    """An httpx client for ``/beta/trustFramework/keySets`` trusting the emulator's CA."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=f"{emu.graph_url}/beta/trustFramework/keySets",
        verify=ssl.create_default_context(cafile=str(emu.ca_path)),
        headers=headers,
        timeout=5,
    )


def token(emu: Emulator, *roles: str, tenant_id: str | None = None) -> str:
    """A Graph token minted by the emulator with ``roles``."""
    return emu.tokens.mint(audience=emu.graph_url, roles=roles, tenant_id=tenant_id)[0]


@pytest.fixture
def graph(emu: Emulator) -> Iterator[httpx.Client]:
    """A client with the managed identity's default Graph token (from the token endpoint)."""
    default = ManagedIdentityCredential().get_token(f"{emu.graph_url}/.default").token
    with client(emu, default) as http:
        yield http


@pytest.fixture
def control(emu: Emulator) -> Iterator[httpx.Client]:
    """An httpx client for the control surface."""
    with httpx.Client(
        base_url=emu.control_url,
        verify=ssl.create_default_context(cafile=str(emu.ca_path)),
        timeout=5,
    ) as http:
        yield http


def pfx_3des(issued: pki.Issued, password: bytes) -> str:
    """Base64 of a PKCS#12 that B2C accepts: 3DES + SHA-1 MAC."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 (B2C accepts only the SHA-1 MAC)
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(
        b"api", issued.key, issued.certificate, None, encryption
    )
    return base64.b64encode(data).decode()


def pfx_aes(issued: pki.Issued, password: bytes) -> str:
    """Base64 of a PKCS#12 with PBES2/AES-256 (what B2C refuses as a wrong password)."""
    data = pkcs12.serialize_key_and_certificates(
        b"api",
        issued.key,
        issued.certificate,
        None,
        serialization.BestAvailableEncryption(password),
    )
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def error(response: httpx.Response) -> tuple[int, str]:
    """The status and Graph ``error.code`` of a response."""
    return response.status_code, str(response.json()["error"]["code"])


def now() -> int:
    """The wall clock in Unix seconds."""
    return int(pki.utcnow().timestamp())


def certificate_set(emu: Emulator) -> str:
    """An empty key set for certificates."""
    return emu.keysets.create_keyset("RestApiClientCertificate")


def secret_set(emu: Emulator) -> str:
    """An empty key set for secrets."""
    return emu.keysets.create_keyset("RestApiPassword")


# -- list, get, create, delete ----------------------------------------------------------------


def test_list_shows_only_the_callers_tenant(emu: Emulator, graph: httpx.Client) -> None:
    """GET keySets lists the sets of the token's tenant and hides another tenant's."""
    mine = certificate_set(emu)
    emu.keysets.create_keyset("Elsewhere", tenant_id=str(uuid.uuid4()))

    response = graph.get("")

    assert response.status_code == 200
    assert response.json()["@odata.context"].endswith("/beta/$metadata#trustFramework/keySets")
    assert [s["id"] for s in response.json()["value"]] == [mine]


def test_get_answers_the_set_with_its_keys(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """GET keySets/{id} answers the id and every key, as JWKs, with the entity context."""
    keyset = certificate_set(emu)
    kid = emu.keysets.add_certificate(keyset, leaf.certificate)

    body = graph.get(f"/{keyset}").json()

    assert body["id"] == keyset == "B2C_1A_RestApiClientCertificate"
    assert body["@odata.context"].endswith("#trustFramework/keySets/$entity")
    assert [k["kid"] for k in body["keys"]] == [kid]


def test_get_of_an_unknown_set_is_404_aadb2c90073(graph: httpx.Client) -> None:
    """A key set that does not exist answers 404 with B2C's AADB2C90073 in Graph's error shape."""
    response = graph.get("/B2C_1A_Missing")

    assert error(response) == (404, "AADB2C90073")
    inner = response.json()["error"]["innerError"]
    assert {"correlationId", "date", "request-id", "client-request-id"} <= set(inner)
    assert response.headers["request-id"] == inner["request-id"]


def test_another_tenants_set_is_invisible(emu: Emulator, graph: httpx.Client) -> None:
    """A key set of another directory answers 404 to a token of this one."""
    keyset = emu.keysets.create_keyset("Theirs", tenant_id=str(uuid.uuid4()))

    assert error(graph.get(f"/{keyset}/getActiveKey")) == (404, "AADB2C90073")


def test_create_puts_the_prefix_in_front_and_answers_location(
    emu: Emulator, graph: httpx.Client
) -> None:
    """POST keySets {"id": "X"} answers 201 with id B2C_1A_X and Location keySets('B2C_1A_X')."""
    response = graph.post("", json={"id": "RestApiKey"})

    assert response.status_code == 201
    assert response.json()["id"] == "B2C_1A_RestApiKey"
    assert response.json()["keys"] == []
    location = response.headers["location"]
    assert location == "/trustFramework/keySets('B2C_1A_RestApiKey')"
    assert graph.get(f"{emu.graph_url}/beta{location}").json()["id"] == "B2C_1A_RestApiKey"


def test_create_keeps_an_id_that_has_the_prefix(graph: httpx.Client) -> None:
    """An id that already starts with B2C_1A_ is kept as it is."""
    response = graph.post("", json={"id": "B2C_1A_Given"})

    assert (response.status_code, response.json()["id"]) == (201, "B2C_1A_Given")


def test_create_of_an_existing_set_is_aadb2c95028(emu: Emulator, graph: httpx.Client) -> None:
    """Creating a set that exists is refused with AADB2C95028, prefix or not."""
    certificate_set(emu)

    response = graph.post("", json={"id": "RestApiClientCertificate"})

    assert error(response) == (409, "AADB2C95028")
    assert "B2C_1A_RestApiClientCertificate" in response.json()["error"]["message"]


def test_create_with_a_secret_key_never_shows_k(emu: Emulator, graph: httpx.Client) -> None:
    """A set created with an oct key answers it without k; the store matches the value."""
    key = {"kty": "oct", "use": "enc", "k": "c2VjcmV0"}

    response = graph.post("", json={"id": "WithKey", "keys": [key]})

    assert response.status_code == 201
    assert "k" not in response.json()["keys"][0]
    assert emu.keysets.secret_matches("B2C_1A_WithKey", "c2VjcmV0") is not None


def test_create_without_id_is_aadb2c90253(graph: httpx.Client) -> None:
    """A create without an id is refused with AADB2C90253 (a missing parameter)."""
    assert error(graph.post("", json={})) == (400, "AADB2C90253")


def test_delete_removes_the_set(emu: Emulator, graph: httpx.Client) -> None:
    """DELETE answers 204; the set is gone, and a second DELETE is 404."""
    keyset = certificate_set(emu)

    assert graph.delete(f"/{keyset}").status_code == 204
    assert emu.keysets.keysets() == []
    assert error(graph.delete(f"/{keyset}")) == (404, "AADB2C90073")


# -- getActiveKey -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["getActiveKey", "getActiveKey()", "getactivekey"])
def test_get_active_key_answers_the_active_key(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued, action: str
) -> None:
    """GET …/getActiveKey, and the SDK's …/getActiveKey(), answer the active key."""
    keyset = certificate_set(emu)
    kid = emu.keysets.add_certificate(keyset, leaf.certificate)

    response = graph.get(f"/{keyset}/{action}")

    assert response.status_code == 200
    assert response.json()["kid"] == kid
    assert response.json()["@odata.context"].endswith("#microsoft.graph.trustFrameworkKey")


def test_post_to_get_active_key_is_refused(emu: Emulator, graph: httpx.Client) -> None:
    """getActiveKey is a GET: a POST fails with UnknownError, as real Graph answers."""
    keyset = certificate_set(emu)

    assert error(graph.post(f"/{keyset}/getActiveKey")) == (405, "UnknownError")


def test_get_active_key_of_a_set_without_valid_key_is_aadb2c90019(
    emu: Emulator, graph: httpx.Client
) -> None:
    """A set whose keys are all expired or not yet valid has no active key: AADB2C90019."""
    keyset = secret_set(emu)
    emu.keysets.add_secret(keyset, "old", nbf=now() - 10 * DAY, exp=now() - DAY)
    emu.keysets.add_secret(keyset, "future", nbf=now() + DAY)

    assert error(graph.get(f"/{keyset}/getActiveKey")) == (400, "AADB2C90019")


# -- the active-key rule across the clock -----------------------------------------------------


def test_greatest_nbf_not_in_the_future_is_active_whatever_the_upload_order(
    emu: Emulator, graph: httpx.Client
) -> None:
    """A key uploaded later with an older nbf never becomes active while the newer one is valid."""
    keyset = secret_set(emu)
    newer = graph.post(
        f"/{keyset}/uploadSecret", json={"use": "enc", "k": "b", "nbf": now() - DAY}
    ).json()["kid"]
    graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "a", "nbf": now() - 9 * DAY})

    assert graph.get(f"/{keyset}/getActiveKey").json()["kid"] == newer


def test_a_prestaged_key_becomes_active_when_the_clock_passes_its_nbf(
    emu: Emulator, graph: httpx.Client, control: httpx.Client
) -> None:
    """A key with a future nbf waits; moving the key sets' clock past it makes it active."""
    keyset = secret_set(emu)
    current = emu.keysets.add_secret(keyset, "current", nbf=now() - DAY, exp=now() + 30 * DAY)
    staged = emu.keysets.add_secret(keyset, "staged", nbf=now() + 5 * DAY, exp=now() + 90 * DAY)
    assert graph.get(f"/{keyset}/getActiveKey").json()["kid"] == current

    moved = control.put("/graph/keyset-clock", json={"offsetSeconds": 6 * DAY})

    assert moved.status_code == 200
    assert moved.json()["offsetSeconds"] == 6 * DAY
    assert graph.get(f"/{keyset}/getActiveKey").json()["kid"] == staged


def test_when_the_active_key_expires_the_next_valid_one_takes_over(
    emu: Emulator, graph: httpx.Client
) -> None:
    """Past the active key's exp, the valid key with the greatest nbf is active again."""
    keyset = secret_set(emu)
    lasting = emu.keysets.add_secret(keyset, "lasting", nbf=now() - 20 * DAY, exp=now() + 90 * DAY)
    short = emu.keysets.add_secret(keyset, "short", nbf=now() - DAY, exp=now() + 2 * DAY)
    assert graph.get(f"/{keyset}/getActiveKey").json()["kid"] == short

    emu.keysets.clock_offset = dt.timedelta(days=3)

    assert graph.get(f"/{keyset}/getActiveKey").json()["kid"] == lasting
    active = emu.keysets.keyset(keyset).active
    assert active is not None
    assert active.kid == lasting


def test_reset_puts_the_clock_back(emu: Emulator) -> None:
    """Emulator.reset() sets the key sets' clock back to the wall clock."""
    emu.keysets.clock_offset = dt.timedelta(days=400)

    emu.reset()

    assert emu.keysets.clock_offset == dt.timedelta(0)


# -- uploadPkcs12 -----------------------------------------------------------------------------


def test_upload_pkcs12_derives_the_key_from_the_certificate(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """uploadPkcs12 answers 200 with kid, kty RSA, x5t, x5c, n, e, nbf and exp of the certificate."""
    keyset = certificate_set(emu)

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(leaf, b"pw"), "password": "pw"}
    )

    assert response.status_code == 200
    key = response.json()
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    numbers = leaf.certificate.public_key()
    assert isinstance(numbers, rsa.RSAPublicKey)
    modulus = numbers.public_numbers().n
    assert key["kid"]
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["x5t"] == b64url(hashlib.sha1(der).digest())  # noqa: S324 (what x5t is)
    assert key["x5c"] == [base64.b64encode(der).decode()]
    assert key["n"] == b64url(modulus.to_bytes((modulus.bit_length() + 7) // 8, "big"))
    assert key["e"] == "AQAB"
    assert key["nbf"] == int(leaf.certificate.not_valid_before_utc.timestamp())
    assert key["exp"] == int(leaf.certificate.not_valid_after_utc.timestamp())
    assert not {"k", "d", "p", "q", "dp", "dq", "qi"} & set(key)
    assert [k["kid"] for k in graph.get(f"/{keyset}").json()["keys"]] == [key["kid"]]
    assert emu.keysets.keyset(keyset).writes == 1


def test_upload_pkcs12_appends_and_the_newest_certificate_becomes_active(
    emu: Emulator, graph: httpx.Client, ca: pki.Issued, leaf: pki.Issued
) -> None:
    """A renewed certificate (later notBefore) is appended beside the old one and is active."""
    keyset = certificate_set(emu)
    old = pki.make_leaf("old", issuer=ca, not_before=pki.utcnow() - dt.timedelta(days=300))
    emu.keysets.add_certificate(keyset, old.certificate)

    new = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(leaf, b"pw"), "password": "pw"}
    ).json()

    assert len(graph.get(f"/{keyset}").json()["keys"]) == 2
    assert graph.get(f"/{keyset}/getActiveKey()").json()["x5t"] == new["x5t"]


def test_upload_pkcs12_with_aes_encryption_is_aadb2c90213(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """A PBES2/AES PKCS#12 with the right password is refused as a wrong password (AADB2C90213)."""
    keyset = certificate_set(emu)

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_aes(leaf, b"pw"), "password": "pw"}
    )

    assert error(response) == (400, "AADB2C90213")
    assert emu.keysets.keyset(keyset).keys == ()


def test_upload_pkcs12_with_a_sha256_mac_is_aadb2c90213(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """3DES with a SHA-256 MAC is not the SHA-1 export B2C reads: refused as AADB2C90213."""
    keyset = certificate_set(emu)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    data = pkcs12.serialize_key_and_certificates(
        b"api", leaf.key, leaf.certificate, None, encryption
    )
    body = {"key": base64.b64encode(data).decode(), "password": "pw"}

    assert error(graph.post(f"/{keyset}/uploadPkcs12", json=body)) == (400, "AADB2C90213")


def test_upload_pkcs12_with_a_wrong_password_is_aadb2c90213(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """A 3DES PKCS#12 with the wrong password is refused with AADB2C90213."""
    keyset = certificate_set(emu)

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(leaf, b"pw"), "password": "nope"}
    )

    assert error(response) == (400, "AADB2C90213")


@pytest.mark.parametrize(
    "value",
    ["not base64 at all!", base64.b64encode(b"garbage, not a PFX").decode()],
    ids=["not-base64", "not-pkcs12"],
)
def test_upload_pkcs12_of_garbage_is_aadb2c90215(
    emu: Emulator, graph: httpx.Client, value: str
) -> None:
    """A key that is not base64, or not a PKCS#12, is refused as badly formatted (AADB2C90215)."""
    keyset = certificate_set(emu)

    response = graph.post(f"/{keyset}/uploadPkcs12", json={"key": value, "password": "pw"})

    assert error(response) == (400, "AADB2C90215")
    assert "badly formatted" in response.json()["error"]["message"]


def test_upload_pkcs12_of_an_expired_certificate_is_aadb2c90214(
    emu: Emulator, graph: httpx.Client, ca: pki.Issued
) -> None:
    """A certificate whose notAfter has passed is refused with AADB2C90214, naming the date."""
    keyset = certificate_set(emu)
    start = pki.utcnow() - dt.timedelta(days=400)
    expired = pki.make_leaf(
        "old", issuer=ca, not_before=start, not_after=start + dt.timedelta(days=30)
    )

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(expired, b"pw"), "password": "pw"}
    )

    assert error(response) == (400, "AADB2C90214")
    assert keyset in response.json()["error"]["message"]


def test_upload_pkcs12_judges_expiry_on_the_key_sets_clock(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """With the clock moved past the certificate's notAfter, the upload is refused as expired."""
    keyset = certificate_set(emu)
    emu.keysets.clock_offset = dt.timedelta(days=400)

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(leaf, b"pw"), "password": "pw"}
    )

    assert error(response) == (400, "AADB2C90214")


def test_upload_pkcs12_of_an_ec_certificate_is_aadb2c90215(
    emu: Emulator, graph: httpx.Client, ca: pki.Issued
) -> None:
    """A certificate with an EC key is refused as badly formatted: policy keys are RSA."""
    keyset = certificate_set(emu)
    ec_leaf = pki.make_leaf("ec", issuer=ca, key=pki.new_ec_key())

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(ec_leaf, b"pw"), "password": "pw"}
    )

    assert error(response) == (400, "AADB2C90215")


def test_upload_pkcs12_without_key_is_aadb2c90253(emu: Emulator, graph: httpx.Client) -> None:
    """An uploadPkcs12 body without key is refused with AADB2C90253."""
    keyset = certificate_set(emu)

    assert error(graph.post(f"/{keyset}/uploadPkcs12", json={"password": "pw"})) == (
        400,
        "AADB2C90253",
    )


def test_upload_pkcs12_with_an_unknown_property_is_bad_request(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """nbf or any property uploadPkcs12 does not have is refused by Graph's OData layer."""
    keyset = certificate_set(emu)
    body = {"key": pfx_3des(leaf, b"pw"), "password": "pw", "nbf": now()}

    assert error(graph.post(f"/{keyset}/uploadPkcs12", json=body)) == (400, "BadRequest")


def test_upload_pkcs12_into_a_secret_set_is_aadb2c95032(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """RSA and oct keys cannot be mixed in one set: AADB2C95032."""
    keyset = secret_set(emu)
    emu.keysets.add_secret(keyset, "pw")

    response = graph.post(
        f"/{keyset}/uploadPkcs12", json={"key": pfx_3des(leaf, b"pw"), "password": "pw"}
    )

    assert error(response) == (400, "AADB2C95032")


def test_upload_into_an_unknown_set_is_404(graph: httpx.Client, leaf: pki.Issued) -> None:
    """An upload to a set that does not exist answers 404 AADB2C90073."""
    response = graph.post(
        "/B2C_1A_Missing/uploadPkcs12", json={"key": pfx_3des(leaf, b"pw"), "password": "pw"}
    )

    assert error(response) == (404, "AADB2C90073")


# -- uploadSecret -----------------------------------------------------------------------------


def test_upload_secret_stores_k_and_never_answers_it(emu: Emulator, graph: httpx.Client) -> None:
    """uploadSecret answers 200 with kid, use, kty oct, nbf and exp; k is held, never shown."""
    keyset = secret_set(emu)
    nbf, exp = now(), now() + 90 * DAY

    response = graph.post(
        f"/{keyset}/uploadSecret", json={"use": "enc", "k": "s3cret-value", "nbf": nbf, "exp": exp}
    )

    assert response.status_code == 200
    key = response.json()
    assert (key["use"], key["kty"], key["nbf"], key["exp"]) == ("enc", "oct", nbf, exp)
    assert "s3cret-value" not in response.text
    assert "s3cret-value" not in graph.get(f"/{keyset}").text
    assert "s3cret-value" not in graph.get(f"/{keyset}/getActiveKey").text
    assert emu.keysets.secret_matches(keyset, "s3cret-value") == key["kid"]
    assert emu.keysets.secret_matches(keyset, "other") is None


def test_upload_secret_without_dates_is_active_at_once(emu: Emulator, graph: httpx.Client) -> None:
    """A secret uploaded without nbf and exp has neither and is valid right away."""
    keyset = secret_set(emu)

    key = graph.post(f"/{keyset}/uploadSecret", json={"use": "sig", "k": "v"}).json()

    assert "nbf" not in key
    assert "exp" not in key
    assert graph.get(f"/{keyset}/getActiveKey").json()["kid"] == key["kid"]


def test_upload_secret_without_k_is_aadb2c90253(emu: Emulator, graph: httpx.Client) -> None:
    """uploadSecret without k is refused with AADB2C90253 naming the parameter."""
    keyset = secret_set(emu)

    response = graph.post(f"/{keyset}/uploadSecret", json={"use": "enc"})

    assert error(response) == (400, "AADB2C90253")
    assert "'k'" in response.json()["error"]["message"]


def test_upload_secret_with_a_past_exp_is_aadb2c90214(emu: Emulator, graph: httpx.Client) -> None:
    """A secret whose exp has passed is refused with AADB2C90214."""
    keyset = secret_set(emu)
    body = {"use": "enc", "k": "v", "nbf": now() - 9 * DAY, "exp": now() - DAY}

    assert error(graph.post(f"/{keyset}/uploadSecret", json=body)) == (400, "AADB2C90214")


def test_upload_secret_with_a_bad_use_is_aadb2c95033(emu: Emulator, graph: httpx.Client) -> None:
    """A use other than sig or enc is refused with AADB2C95033."""
    keyset = secret_set(emu)

    response = graph.post(f"/{keyset}/uploadSecret", json={"use": "signing", "k": "v"})

    assert error(response) == (400, "AADB2C95033")


def test_upload_secret_with_another_use_than_the_set_is_aadb2c95042(
    emu: Emulator, graph: httpx.Client
) -> None:
    """A secret whose use differs from the set's keys is refused with AADB2C95042."""
    keyset = secret_set(emu)
    emu.keysets.add_secret(keyset, "v1", use="enc")

    response = graph.post(f"/{keyset}/uploadSecret", json={"use": "sig", "k": "v2"})

    assert error(response) == (400, "AADB2C95042")


def test_upload_secret_with_nbf_as_text_is_bad_request(emu: Emulator, graph: httpx.Client) -> None:
    """nbf is an Int64: a string is refused by Graph's OData layer."""
    keyset = secret_set(emu)

    response = graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v", "nbf": "1"})

    assert error(response) == (400, "BadRequest")


def test_upload_secret_into_a_certificate_set_is_aadb2c95032(
    emu: Emulator, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """A secret cannot join a set of RSA keys: AADB2C95032."""
    keyset = certificate_set(emu)
    emu.keysets.add_certificate(keyset, leaf.certificate)

    response = graph.post(f"/{keyset}/uploadSecret", json={"use": "sig", "k": "v"})

    assert error(response) == (400, "AADB2C95032")


# -- PUT / PATCH ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_replacing_keys_that_carry_a_kid_is_aadb2c95059(
    emu: Emulator, graph: httpx.Client, method: str
) -> None:
    """PUT or PATCH with a key that has a kid is refused with AADB2C95059; nothing changes."""
    keyset = secret_set(emu)
    kid = emu.keysets.add_secret(keyset, "v1")
    body = {"keys": [{"kid": kid, "kty": "oct", "use": "enc", "k": "djE"}]}

    response = graph.request(method, f"/{keyset}", json=body)

    assert error(response) == (400, "AADB2C95059")
    assert [k.kid for k in emu.keysets.keyset(keyset).keys] == [kid]


def test_put_without_kid_replaces_every_key(emu: Emulator, graph: httpx.Client) -> None:
    """A PUT of keys without kid replaces the whole set (the old keys are gone) and answers 200."""
    keyset = secret_set(emu)
    old = emu.keysets.add_secret(keyset, "v1")

    response = graph.put(f"/{keyset}", json={"keys": [{"kty": "oct", "use": "enc", "k": "djI"}]})

    assert response.status_code == 200
    kids = [k["kid"] for k in response.json()["keys"]]
    assert len(kids) == 1
    assert old not in kids
    assert emu.keysets.secret_matches(keyset, "v1") is None


def test_put_with_a_key_without_kty_is_aadb2c95030(emu: Emulator, graph: httpx.Client) -> None:
    """A key without kty is refused with AADB2C95030."""
    keyset = secret_set(emu)

    response = graph.put(f"/{keyset}", json={"keys": [{"use": "enc", "k": "djI"}]})

    assert error(response) == (400, "AADB2C95030")


# -- permission, versions ---------------------------------------------------------------------


def test_the_default_managed_identity_token_may_write(graph: httpx.Client) -> None:
    """The emulator's default managed-identity token holds TrustFrameworkKeySet.ReadWrite.All."""
    assert graph.post("", json={"id": "ByDefault"}).status_code == 201


def test_no_token_is_401(emu: Emulator) -> None:
    """A request without a bearer token gets 401 InvalidAuthenticationToken."""
    with client(emu, None) as http:
        assert error(http.get("")) == (401, "InvalidAuthenticationToken")


def test_a_token_without_the_permission_is_403_naming_it(emu: Emulator) -> None:
    """A token without a TrustFrameworkKeySet role gets 403 AADB2C naming both permissions."""
    with client(emu, token(emu, "APIConnectors.ReadWrite.All")) as http:
        response = http.get("")

    assert error(response) == (403, "AADB2C")
    assert READ in response.json()["error"]["message"]
    assert WRITE in response.json()["error"]["message"]


def test_read_permission_reads_but_does_not_upload(emu: Emulator) -> None:
    """TrustFrameworkKeySet.Read.All lists, gets and calls getActiveKey; an upload is 403."""
    keyset = secret_set(emu)
    emu.keysets.add_secret(keyset, "v1")
    with client(emu, token(emu, READ)) as http:
        assert http.get("").status_code == 200
        assert http.get(f"/{keyset}").status_code == 200
        assert http.get(f"/{keyset}/getActiveKey").status_code == 200
        refused = http.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v2"})

    assert error(refused) == (403, "AADB2C")
    assert READ not in refused.json()["error"]["message"]


def test_v1_has_no_trust_framework(emu: Emulator) -> None:
    """Graph v1.0 has no trustFramework: 400 for the segment."""
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    response = httpx.get(
        f"{emu.graph_url}/v1.0/trustFramework/keySets",
        headers={"Authorization": f"Bearer {token(emu, WRITE)}"},
        verify=context,
    )

    assert error(response) == (400, "BadRequest")


# -- faults, journal, read lag ----------------------------------------------------------------


def test_faults_apply_to_key_set_routes(emu: Emulator, graph: httpx.Client) -> None:
    """A fault on getActiveKey answers in Graph's error shape with Retry-After, then passes."""
    keyset = secret_set(emu)
    emu.keysets.add_secret(keyset, "v1")
    emu.faults.add(service="graph", path="/getActiveKey", status=429, retry_after="2", times=1)

    throttled = graph.get(f"/{keyset}/getActiveKey")

    assert error(throttled) == (429, "TooManyRequests")
    assert throttled.headers["Retry-After"] == "2"
    assert graph.get(f"/{keyset}/getActiveKey").status_code == 200


def test_a_tenant_fault_hits_only_that_tenants_calls(emu: Emulator, graph: httpx.Client) -> None:
    """A fault for another tenant leaves this tenant's key-set calls alone."""
    emu.faults.add(service="graph", path="/trustFramework/", status=503, tenant=str(uuid.uuid4()))
    other = str(uuid.uuid4())
    emu.faults.add(service="graph", path="/trustFramework/", status=500, tenant=other)

    assert graph.get("").status_code == 200
    with client(emu, token(emu, WRITE, tenant_id=other)) as http:
        assert http.get("").status_code == 500


def test_lost_answer_of_an_upload_still_appends(emu: Emulator, graph: httpx.Client) -> None:
    """loseResponse on uploadSecret drops the answer after the key landed (a retry would add twice)."""
    keyset = secret_set(emu)
    emu.faults.add(service="graph", path="/uploadSecret", lose_response=True, times=1)

    with pytest.raises(httpx.TransportError):
        graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v1"})

    assert len(emu.keysets.keyset(keyset).keys) == 1


def test_the_journal_records_key_set_calls_without_bodies(
    emu: Emulator, graph: httpx.Client
) -> None:
    """Each key-set call is journaled with method, path, status and tenant; no body."""
    keyset = secret_set(emu)
    emu.clear_journal()

    graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "journal-canary"})
    graph.get(f"/{keyset}/getActiveKey()")

    calls = [(e.method, e.path, e.status, e.tenant) for e in emu.journal() if e.service == "graph"]
    assert calls == [
        ("POST", f"/beta/trustFramework/keySets/{keyset}/uploadSecret", 200, emu.tenant_id),
        ("GET", f"/beta/trustFramework/keySets/{keyset}/getActiveKey()", 200, emu.tenant_id),
    ]
    assert "journal-canary" not in repr(emu.journal())


def test_stale_reads_show_the_set_before_the_upload(emu: Emulator, graph: httpx.Client) -> None:
    """With read lag, GETs after uploads show the set before them (uploads use no lagging read)."""
    keyset = secret_set(emu)
    emu.keysets.add_secret(keyset, "v1")
    emu.keysets.stale_reads = 1

    graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v2"})

    graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v3"})

    counts = [len(graph.get(f"/{keyset}").json()["keys"]) for _ in range(2)]
    assert counts == [1, 3]


# -- control surface --------------------------------------------------------------------------


def test_control_surface_seeds_and_inspects_key_sets(
    emu: Emulator, control: httpx.Client, graph: httpx.Client, leaf: pki.Issued
) -> None:
    """POST /graph/keysets, …/certificates, …/secrets and secret-check seed and inspect a set."""
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    created = control.post("/graph/keysets", json={"id": "RestApiClientCertificate"})
    keyset = created.json()["id"]
    kid = control.post(
        f"/graph/keysets/{keyset}/certificates", json={"cer": base64.b64encode(der).decode()}
    ).json()["kid"]
    secrets_set = control.post("/graph/keysets", json={"id": "RestApiPassword"}).json()["id"]
    control.post(
        f"/graph/keysets/{secrets_set}/secrets", json={"value": "ctl-canary", "nbf": now()}
    )

    snapshot = control.get(f"/graph/keysets/{keyset}").json()
    check = control.post(
        f"/graph/keysets/{secrets_set}/secret-check", json={"candidate": "ctl-canary"}
    )

    assert created.status_code == 201
    assert keyset == "B2C_1A_RestApiClientCertificate"
    assert snapshot["activeKid"] == kid
    assert snapshot["keys"][0]["x5t"] == graph.get(f"/{keyset}").json()["keys"][0]["x5t"]
    assert check.json()["matches"] is True
    assert "ctl-canary" not in control.get("/graph/keysets").text
    assert control.post("/graph/keysets", json={"id": keyset}).status_code == 409
    assert control.delete(f"/graph/keysets/{keyset}").status_code == 204
    assert control.get(f"/graph/keysets/{keyset}").status_code == 404


# -- the demo's seed --------------------------------------------------------------------------


def test_demo_seed_holds_two_key_sets_one_version_behind_key_vault(
    emu: Emulator, graph: httpx.Client
) -> None:
    """The demo's two key sets hold Key Vault's older versions; the default token reads them."""
    seeded = seed_demo_keysets(emu.vault, emu.keysets, emu.api, issuer=pki.make_ca("demo CA"))

    listed = {s["id"]: s["keys"] for s in graph.get("").json()["value"]}
    active = graph.get(f"/{DEMO_CERTIFICATE_KEYSET}/getActiveKey()").json()
    secret = SecretClient(
        emu.vault_url,
        ManagedIdentityCredential(),
        verify_challenge_resource=False,
        connection_verify=str(emu.ca_path),
    ).get_secret(DEMO_KEYSET_PASSWORD_SECRET)
    certificate = CertificateClient(
        emu.vault_url,
        ManagedIdentityCredential(),
        verify_challenge_resource=False,
        connection_verify=str(emu.ca_path),
    ).get_certificate(DEMO_KEYSET_CERTIFICATE)

    assert sorted(listed) == sorted([DEMO_CERTIFICATE_KEYSET, DEMO_PASSWORD_KEYSET])
    assert [k["kty"] for k in listed[DEMO_PASSWORD_KEYSET]] == ["oct"]
    assert active["x5t"] != seeded.renewed_x5t
    assert certificate.properties is not None
    assert certificate.properties.x509_thumbprint.hex().upper() == seeded.renewed_thumbprint
    assert secret.value == seeded.newest_password
    assert emu.keysets.secret_matches(DEMO_PASSWORD_KEYSET, seeded.newest_password) is None
    assert len(seeded.certificate_versions) == len(seeded.password_versions) == 2


def test_upload_bodies_are_remembered_as_shapes_without_values(
    emu: Emulator, graph: httpx.Client
) -> None:
    """Each upload body is remembered as field names and JSON types only, never a value."""
    keyset = secret_set(emu)

    graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "shape-canary", "nbf": now()})

    (shape,) = emu.keysets.request_shapes()
    assert shape.action == "uploadSecret"
    assert shape.fields == (("k", "string"), ("nbf", "integer"), ("use", "string"))
    assert "shape-canary" not in repr(emu.keysets.request_shapes())


def test_the_intermittent_aadb2c90063_is_played_by_a_body_fault(
    emu: Emulator, graph: httpx.Client
) -> None:
    """A body fault with intermittent_error_body() answers B2C's AADB2C90063 once; the retry lands."""
    keyset = secret_set(emu)
    emu.faults.add(
        service="graph",
        method="POST",
        path="/uploadSecret$",
        status=500,
        body=intermittent_error_body(),
        times=1,
    )

    first = graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v1"})
    second = graph.post(f"/{keyset}/uploadSecret", json={"use": "enc", "k": "v1"})

    assert error(first) == (500, "AADB2C90063")
    assert second.status_code == 200
    assert len(emu.keysets.keyset(keyset).keys) == 1


def test_control_surface_refuses_bad_key_set_input(control: httpx.Client) -> None:
    """A bad clock offset, a bad use, an unknown set and a missing id are 400 or 404, not 500."""
    created = control.post("/graph/keysets", json={"id": "RestApiPassword"}).json()["id"]

    bad_clock = control.put("/graph/keyset-clock", json={"offsetSeconds": "soon"})
    bad_use = control.post(f"/graph/keysets/{created}/secrets", json={"value": "v", "use": "x"})
    unknown = control.post("/graph/keysets/B2C_1A_Missing/secrets", json={"value": "v"})
    no_id = control.post("/graph/keysets", json={})

    assert [r.status_code for r in (bad_clock, bad_use, unknown, no_id)] == [400, 400, 404, 400]
    assert control.get("/graph/keyset-clock").json()["offsetSeconds"] == 0
