"""The emulator's app registrations rolling their own keys (Graph addKey / removeKey), the token
endpoint with several keys, and faults and journal per tenant, over real sockets.

Graph tokens come from the emulator's own token endpoint through azure-identity's
``CertificateCredential``; proofs are built here with ``cryptography`` (RS256), on purpose
independent of rotator's own proof builder.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import time
import uuid
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from rotator.emulator import Emulator, pki

from .support import DAY, requests

pytestmark = pytest.mark.usefixtures("azure_env")

TENANT = str(uuid.uuid4())
OTHER_TENANT = str(uuid.uuid4())
APP_ID = str(uuid.uuid4())
OTHER_APP_ID = str(uuid.uuid4())
PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"


# -- helpers ----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def x5t(issued: pki.Issued) -> str:
    return b64url(issued.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - x5t is SHA-1


def proof(
    signer: pki.Issued,
    object_id: str,
    *,
    aud: str = PROOF_AUDIENCE,
    lifetime: int = 600,
    nbf_offset: int = 0,
    x5t_of: pki.Issued | None = None,
    padded: bool = False,
) -> str:
    """A proof-of-possession JWT (RS256, x5t) signed with ``signer``'s key."""
    nbf = int(time.time()) + nbf_offset
    header = {"alg": "RS256", "typ": "JWT", "x5t": x5t(x5t_of or signer)}
    claims = {"aud": aud, "iss": object_id, "nbf": nbf, "exp": nbf + lifetime}

    def encode(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode() if padded else b64url(raw)

    if padded:  # make sure the padded header really carries '='
        while not encode(header).endswith("="):
            header["pad"] = header.get("pad", "") + "x"
    signing_input = f"{encode(header)}.{encode(claims)}"
    key = signer.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def certificate(*, days: int = 365, expired: bool = False) -> pki.Issued:
    now = pki.utcnow()
    if expired:
        return pki.make_leaf("old app cert", not_before=now - 400 * DAY, not_after=now - DAY)
    return pki.make_leaf("app cert", not_before=now - DAY, not_after=now + days * DAY)


def der_b64(issued: pki.Issued) -> str:
    return base64.b64encode(issued.certificate.public_bytes(serialization.Encoding.DER)).decode()


def pem(issued: pki.Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + issued.certificate.public_bytes(serialization.Encoding.PEM)


def graph_token(
    emu: Emulator, issued: pki.Issued, *, tenant: str = TENANT, app: str = APP_ID
) -> str:
    """A Graph token for ``app`` from the emulated Entra, the assertion signed by ``issued``."""
    credential = CertificateCredential(
        tenant,
        app,
        certificate_data=pem(issued),
        authority=emu.authority_url,
        disable_instance_discovery=True,
        connection_verify=str(emu.ca_path),
    )
    return credential.get_token(f"{emu.graph_url}/.default").token


def graph(emu: Emulator, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(emu.ca_path))) as client:
        return client.request(
            method,
            f"{emu.graph_url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            json=body,
        )


def add_key(
    emu: Emulator,
    object_id: str,
    token: str,
    new: pki.Issued,
    proof_jwt: str,
    version: str = "v1.0",
) -> httpx.Response:
    body = {
        "keyCredential": {
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": der_b64(new),
            "displayName": f"rotator {new.thumbprint}",
        },
        "passwordCredential": None,
        "proof": proof_jwt,
    }
    return graph(emu, "POST", f"/{version}/applications/{object_id}/addKey", token, body)


@pytest.fixture
def app(emu: Emulator) -> dict[str, Any]:
    """APP_ID registered in TENANT with one valid certificate; its object id and a Graph token."""
    current = certificate()
    emu.entra.register_app(APP_ID, tenant_id=TENANT, certificate=current.certificate)
    object_id = emu.entra.object_id(TENANT, APP_ID)
    return {"cert": current, "object_id": object_id, "token": graph_token(emu, current)}


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["innerError"].get("emulatorDetail", "")


# -- addKey -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_add_key_with_a_good_proof_registers_the_certificate(
    emu: Emulator, app: dict[str, Any], version: str
) -> None:
    """addKey with a valid proof answers 200 with the new keyCredential as Graph shows it."""
    new = certificate(days=730)
    response = add_key(
        emu, app["object_id"], app["token"], new, proof(app["cert"], app["object_id"]), version
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customKeyIdentifier"] == new.thumbprint
    assert (body["type"], body["usage"]) == ("AsymmetricX509Cert", "Verify")
    assert body["displayName"] == f"rotator {new.thumbprint}"
    assert body["endDateTime"] == new.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["key"] is None
    keys = emu.entra.key_credentials(TENANT, APP_ID)
    assert [k.thumbprint for k in keys] == [app["cert"].thumbprint, new.thumbprint]
    assert [k.added_by_add_key for k in keys] == [False, True]
    assert keys[1].key_id == body["keyId"]
    assert keys[0].display_name == "CN=app cert"


@pytest.mark.parametrize(
    ("broken", "detail"),
    [
        ("padding", "not unpadded base64url"),
        ("aud", "aud is not"),
        ("iss", "iss is not"),
        ("lifetime", "more than 10 minutes"),
        ("expired", "expired"),
        ("not_yet_valid", "nbf is in the future"),
        ("unregistered", "names no key credential"),
        ("signature", "signature does not verify"),
    ],
)
def test_add_key_refuses_a_broken_proof(
    emu: Emulator, app: dict[str, Any], broken: str, detail: str
) -> None:
    """Each broken part of the proof is refused with 401 Authentication_MissingOrMalformed."""
    signer, object_id = app["cert"], app["object_id"]
    if broken == "expired":  # the signing certificate is registered but has expired
        old = certificate(expired=True)
        emu.entra.register_app(
            APP_ID, tenant_id=TENANT, certificates=[signer.certificate, old.certificate]
        )
        object_id = emu.entra.object_id(TENANT, APP_ID)
        jwt = proof(old, object_id)
    elif broken == "unregistered":
        jwt = proof(certificate(), object_id)
    elif broken == "signature":  # x5t names the registered certificate, another key signed
        jwt = proof(certificate(), object_id, x5t_of=signer)
    else:
        jwt = proof(
            signer,
            str(uuid.uuid4()) if broken == "iss" else object_id,
            aud="00000003-0000-0000-c000-000000000000" if broken == "aud" else PROOF_AUDIENCE,
            lifetime=601 if broken == "lifetime" else 600,
            nbf_offset=400 if broken == "not_yet_valid" else 0,
            padded=broken == "padding",
        )
    response = add_key(emu, object_id, app["token"], certificate(), jwt)
    status, code, reason = refusal(response)
    assert (status, code) == (401, "Authentication_MissingOrMalformed")
    assert detail in reason
    assert [k.added_by_add_key for k in emu.entra.key_credentials(TENANT, APP_ID)] == [False] * (
        2 if broken == "expired" else 1
    )


def test_add_key_refuses_a_proof_that_has_expired(emu: Emulator, app: dict[str, Any]) -> None:
    """A proof whose exp has passed is refused, even within the clock skew allowed for nbf."""
    jwt = proof(app["cert"], app["object_id"], nbf_offset=-300, lifetime=240)
    status, code, reason = refusal(add_key(emu, app["object_id"], app["token"], certificate(), jwt))
    assert (status, code, reason) == (401, "Authentication_MissingOrMalformed", "exp has passed")


def test_add_key_with_another_apps_token_is_denied(emu: Emulator, app: dict[str, Any]) -> None:
    """Only the application itself may roll its keys: another app's token gets 403."""
    other = certificate()
    emu.entra.register_app(OTHER_APP_ID, tenant_id=TENANT, certificate=other.certificate)
    token = graph_token(emu, other, app=OTHER_APP_ID)
    response = add_key(
        emu, app["object_id"], token, certificate(), proof(app["cert"], app["object_id"])
    )
    assert refusal(response)[:2] == (403, "Authorization_RequestDenied")


def test_add_key_for_an_unknown_object_id_is_not_found(emu: Emulator, app: dict[str, Any]) -> None:
    """An object id that is no application of the caller's tenant answers 404."""
    for object_id in (str(uuid.uuid4()), emu.entra.object_id(TENANT, APP_ID).upper()[:8]):
        response = add_key(
            emu, object_id, app["token"], certificate(), proof(app["cert"], app["object_id"])
        )
        assert refusal(response)[:2] == (404, "Request_ResourceNotFound")


def test_the_client_id_is_not_the_object_id(emu: Emulator, app: dict[str, Any]) -> None:
    """addKey addressed by the client id (not the object id) is not found."""
    response = add_key(emu, APP_ID, app["token"], certificate(), proof(app["cert"], APP_ID))
    assert refusal(response)[:2] == (404, "Request_ResourceNotFound")


def test_add_key_refuses_a_key_that_is_not_a_public_certificate(
    emu: Emulator, app: dict[str, Any]
) -> None:
    """A key holding a private key or garbage is 400, and the answer never repeats it."""
    private = app["cert"].key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for value in (base64.b64encode(private).decode(), "bm90IGEgY2VydGlmaWNhdGU=", "%%%"):
        body = {
            "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": value},
            "passwordCredential": None,
            "proof": proof(app["cert"], app["object_id"]),
        }
        path = f"/v1.0/applications/{app['object_id']}/addKey"
        response = graph(emu, "POST", path, app["token"], body)
        assert refusal(response)[:2] == (400, "KeyCredentialsInvalidValue")
        assert value not in response.text
    assert len(emu.entra.key_credentials(TENANT, APP_ID)) == 1


def test_adding_a_registered_certificate_again_is_refused(
    emu: Emulator, app: dict[str, Any]
) -> None:
    """addKey with a certificate the application already holds is 400 and adds nothing."""
    jwt = proof(app["cert"], app["object_id"])
    response = add_key(emu, app["object_id"], app["token"], app["cert"], jwt)
    assert refusal(response)[:2] == (400, "Request_BadRequest")
    assert len(emu.entra.key_credentials(TENANT, APP_ID)) == 1


# -- the token endpoint and the new key --------------------------------------------------------


def test_a_new_key_is_accepted_for_tokens_only_after_the_delay(
    emu: Emulator, app: dict[str, Any]
) -> None:
    """A key added through addKey gets AADSTS700027 until new_key_delay has passed (nor may it
    sign a proof yet), then works beside the old key; no sleep: the delay is an hour and the
    test has Entra catch up at once."""
    emu.entra.new_key_delay = 3600
    new = certificate(days=730)
    response = add_key(
        emu, app["object_id"], app["token"], new, proof(app["cert"], app["object_id"])
    )
    assert response.status_code == 200, response.text
    (_, added) = emu.entra.key_credentials(TENANT, APP_ID)
    assert added.accepted_from - added.added_at == dt.timedelta(seconds=3600)
    assert not added.usable(added.accepted_from - dt.timedelta(microseconds=1))
    assert added.usable(added.accepted_from)
    with pytest.raises(ClientAuthenticationError, match=r"AADSTS700027.*The key was not found"):
        graph_token(emu, new)
    early = add_key(
        emu, app["object_id"], app["token"], certificate(), proof(new, app["object_id"])
    )
    assert refusal(early)[:2] == (401, "Authentication_MissingOrMalformed")
    assert emu.entra.accept_new_keys() == 1
    assert graph_token(emu, new)
    assert emu.entra.issued()[-1].thumbprint == new.thumbprint
    graph_token(emu, app["cert"])  # the old key keeps working beside it


def test_an_expired_registered_key_gets_no_token(emu: Emulator) -> None:
    """Among several keys, an expired one is refused with AADSTS700027 'The key used is expired'."""
    good, old = certificate(), certificate(expired=True)
    emu.entra.register_app(
        APP_ID, tenant_id=TENANT, certificates=[good.certificate, old.certificate]
    )
    assert graph_token(emu, good)
    with pytest.raises(ClientAuthenticationError, match=r"AADSTS700027.*The key used is expired"):
        graph_token(emu, old)


# -- removeKey and GET ------------------------------------------------------------------------


def test_remove_key_removes_it_and_its_tokens(emu: Emulator, app: dict[str, Any]) -> None:
    """removeKey with a valid proof answers 204; the removed key gets no token any more."""
    new = certificate(days=730)
    added = add_key(emu, app["object_id"], app["token"], new, proof(app["cert"], app["object_id"]))
    key_id = added.json()["keyId"]
    assert graph_token(emu, new)
    path = f"/beta/applications/{app['object_id']}/removeKey"
    body = {"keyId": key_id, "proof": proof(app["cert"], app["object_id"])}
    response = graph(emu, "POST", path, app["token"], body)
    assert response.status_code == 204, response.text
    assert [k.thumbprint for k in emu.entra.key_credentials(TENANT, APP_ID)] == [
        app["cert"].thumbprint
    ]
    with pytest.raises(ClientAuthenticationError, match=r"AADSTS700027.*The key was not found"):
        graph_token(emu, new)


def test_remove_key_refuses_a_bad_proof_and_an_unknown_key(
    emu: Emulator, app: dict[str, Any]
) -> None:
    """removeKey checks the proof like addKey, and an unknown keyId is 404."""
    path = f"/v1.0/applications/{app['object_id']}/removeKey"
    key_id = emu.entra.key_credentials(TENANT, APP_ID)[0].key_id
    bad = {"keyId": key_id, "proof": proof(app["cert"], app["object_id"], lifetime=900)}
    assert refusal(graph(emu, "POST", path, app["token"], bad))[:2] == (
        401,
        "Authentication_MissingOrMalformed",
    )
    unknown = {"keyId": str(uuid.uuid4()), "proof": proof(app["cert"], app["object_id"])}
    assert refusal(graph(emu, "POST", path, app["token"], unknown))[:2] == (
        404,
        "Request_ResourceNotFound",
    )
    assert len(emu.entra.key_credentials(TENANT, APP_ID)) == 1


def test_get_application_shows_its_key_credentials(emu: Emulator, app: dict[str, Any]) -> None:
    """GET /applications/{objectId} by the app itself shows id, appId and keyCredentials."""
    response = graph(emu, "GET", f"/v1.0/applications/{app['object_id']}", app["token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["appId"]) == (app["object_id"], APP_ID)
    (key,) = body["keyCredentials"]
    assert key["customKeyIdentifier"] == app["cert"].thumbprint
    assert key["keyId"] == emu.entra.key_credentials(TENANT, APP_ID)[0].key_id
    assert key["key"] is None


# -- per tenant -------------------------------------------------------------------------------


@pytest.fixture
def two_tenants(emu: Emulator) -> dict[str, str]:
    """Graph tokens of one app in TENANT and one in OTHER_TENANT (both may read connectors)."""
    first, second = certificate(), certificate()
    emu.entra.register_app(APP_ID, tenant_id=TENANT, certificate=first.certificate)
    emu.entra.register_app(OTHER_APP_ID, tenant_id=OTHER_TENANT, certificate=second.certificate)
    return {
        TENANT: graph_token(emu, first),
        OTHER_TENANT: graph_token(emu, second, tenant=OTHER_TENANT, app=OTHER_APP_ID),
    }


def test_a_tenant_fault_throttles_only_that_tenant(
    emu: Emulator, two_tenants: dict[str, str]
) -> None:
    """A 429 fault with tenant= answers only that tenant's requests; the other gets 200."""
    emu.faults.add(service="graph", status=429, retry_after="1", tenant=TENANT)
    emu.clear_journal()
    throttled = graph(emu, "GET", "/beta/identity/apiConnectors", two_tenants[TENANT])
    healthy = graph(emu, "GET", "/beta/identity/apiConnectors", two_tenants[OTHER_TENANT])
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "1")
    assert healthy.status_code == 200
    assert [(e.tenant, e.status) for e in requests(emu, service="graph")] == [
        (TENANT, 429),
        (OTHER_TENANT, 200),
    ]


def test_a_tenant_delay_slows_only_that_tenant(emu: Emulator, two_tenants: dict[str, str]) -> None:
    """A delay fault with tenant= slows only that tenant's requests."""
    emu.faults.add(service="graph", delay=0.3, tenant=OTHER_TENANT)
    emu.clear_journal()
    for tenant in (TENANT, OTHER_TENANT, TENANT):
        assert graph(emu, "GET", "/beta/identity/apiConnectors", two_tenants[tenant]).is_success
    durations = {e.tenant: e.duration for e in requests(emu, service="graph")}
    assert durations[OTHER_TENANT] >= 0.3 > durations[TENANT]


def test_the_journal_says_which_tenant_each_request_acted_in(
    emu: Emulator, two_tenants: dict[str, str]
) -> None:
    """Graph and Entra entries carry their tenant; a request without a valid token has none."""
    emu.clear_journal()
    graph(emu, "GET", "/beta/identity/apiConnectors", two_tenants[OTHER_TENANT])
    graph(emu, "GET", "/beta/identity/apiConnectors", "not-a-token")
    assert [e.tenant for e in requests(emu, service="graph")] == [OTHER_TENANT, None]
    emu.clear_journal()
    emu.faults.add(service="entra", method="POST", status=400, tenant=TENANT)
    with pytest.raises(ClientAuthenticationError):
        CertificateCredential(
            TENANT,
            APP_ID,
            certificate_data=pem(certificate()),
            authority=emu.authority_url,
            disable_instance_discovery=True,
            connection_verify=str(emu.ca_path),
        ).get_token(f"{emu.graph_url}/.default")
    entra = requests(emu, service="entra")
    assert entra
    assert {e.tenant for e in entra} == {TENANT}
    assert 400 in {e.status for e in entra}


def test_control_surface_registers_apps_sets_the_delay_and_faults_a_tenant(
    emu: Emulator,
) -> None:
    """The control surface registers several certificates, reads key credentials, sets the key
    delay and adds a tenant fault."""
    first, second = certificate(), certificate(days=30)
    with httpx.Client(
        base_url=emu.control_url, verify=ssl.create_default_context(cafile=str(emu.ca_path))
    ) as control:
        created = control.post(
            "/entra/apps",
            json={
                "clientId": APP_ID,
                "tenantId": TENANT,
                "certificate": der_b64(first),
                "certificates": [der_b64(second)],
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["objectId"] == emu.entra.object_id(TENANT, APP_ID)
        keys = control.get(f"/entra/apps/{TENANT}/{APP_ID}").json()
        assert [k["thumbprint"] for k in keys["keyCredentials"]] == [
            first.thumbprint,
            second.thumbprint,
        ]
        assert keys["keyCredentials"][0]["addedByAddKey"] is False
        assert control.put("/entra/new-key-delay", json={"seconds": 2.5}).json() == {"seconds": 2.5}
        assert emu.entra.new_key_delay == 2.5
        assert control.put("/entra/new-key-delay", json={"seconds": -1}).status_code == 400
        assert control.post("/faults", json={"service": "graph", "status": 429, "tenant": TENANT})
        assert control.get("/faults").json()["value"][0]["tenant"] == TENANT.lower()
        assert control.get(f"/entra/apps/{TENANT}/{OTHER_APP_ID}").status_code == 404
