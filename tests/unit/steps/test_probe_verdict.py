"""The probe's verdict as a pure function of the answers: accepted only on evidence."""

from __future__ import annotations

import pytest

from rotator.model import Verdict
from rotator.steps.probe_verdict import (
    MAX_BODY_READ,
    NGINX_PAGES,
    Answer,
    Decision,
    Evidence,
    Reach,
    judge,
    make_it_trusted,
    nginx_certificate_error,
    says_nothing,
    wants_control,
)

REJECT = frozenset({401, 403})


def status(code: int) -> Answer:
    return Answer(Reach.STATUS, code)


NGINX = Answer(Reach.STATUS, 400, nginx_page=True)
ALERT = Answer(Reach.TLS_ALERT)
CLOSED = Answer(Reach.CLOSED)
UNREACHABLE = Answer(Reach.UNREACHABLE)
NO_STATUS = Answer(Reach.NO_STATUS)
TLS_FAILED = Answer(Reach.TLS_FAILED)


def verdict(answer: Answer, control: Answer | None = None, *, cert: bool = True) -> Decision:
    return judge(answer, control, REJECT, certificate=cert)


@pytest.mark.parametrize("cert", [True, False])
@pytest.mark.parametrize(
    ("answer", "evidence"),
    [
        (status(401), Evidence.STATUS),
        (status(403), Evidence.STATUS),
        (NGINX, Evidence.NGINX),
        (ALERT, Evidence.TLS_ALERT),
    ],
)
def test_refusals_are_rejected_for_both_kinds(
    answer: Answer, evidence: Evidence, cert: bool
) -> None:
    """A rejectStatus, nginx's certificate page and a TLS alert reject certificates and passwords."""
    assert verdict(answer, cert=cert) == Decision(Verdict.REJECTED, evidence)


def test_a_close_after_the_handshake_rejects_only_a_certificate() -> None:
    """Closed before any status: rejected for a certificate, unknown for a password."""
    assert verdict(CLOSED) == Decision(Verdict.REJECTED, Evidence.CLOSED)
    assert verdict(CLOSED, cert=False) == Decision(Verdict.UNKNOWN, Evidence.CLOSED)


def test_a_2xx_is_accepted_and_a_2xx_control_says_no_client_auth() -> None:
    """2xx: accepted on its status; with a 2xx to the control too: no-client-auth."""
    assert verdict(status(200)) == Decision(Verdict.ACCEPTED, Evidence.STATUS)
    assert verdict(status(200), ALERT) == Decision(Verdict.ACCEPTED, Evidence.STATUS)
    assert verdict(status(204), status(200)) == Decision(Verdict.ACCEPTED, Evidence.NO_CLIENT_AUTH)


@pytest.mark.parametrize("control", [status(401), status(403), NGINX, ALERT, CLOSED, status(405)])
def test_a_400_with_a_refused_or_different_control_is_accepted(control: Answer) -> None:
    """B2C's 400 ValidationError to the new credential and a refusal (or another 4xx) to the
    control: the API let the new one through."""
    assert verdict(status(400), control) == Decision(Verdict.ACCEPTED, Evidence.CONTROL_DIFFERS)


def test_the_same_answer_to_the_control_is_unknown() -> None:
    """The same status to a throwaway credential proves nothing."""
    assert verdict(status(400), status(400)) == Decision(Verdict.UNKNOWN, Evidence.CONTROL_SAME)
    assert verdict(status(409), status(409), cert=False).evidence is Evidence.CONTROL_SAME


@pytest.mark.parametrize(
    "control", [status(200), status(500), status(429), status(404), UNREACHABLE, NO_STATUS, None]
)
def test_a_control_that_proves_nothing_leaves_unknown(control: Answer | None) -> None:
    """A control that was let through, met an outage or got no answer (or none sent): unknown."""
    assert verdict(status(400), control) == Decision(Verdict.UNKNOWN, Evidence.STATUS)


def test_a_closed_control_is_no_refusal_of_a_password() -> None:
    """A password control whose connection closed says nothing: unknown."""
    assert verdict(status(400), CLOSED, cert=False).verdict is Verdict.UNKNOWN


@pytest.mark.parametrize("code", [300, 301, 302, 307, 399, 404, 407, 408, 429, 500, 502, 503, 504])
def test_statuses_that_say_nothing_are_unknown_whatever_the_control(code: int) -> None:
    """Redirects, 404, 407, 429 and 5xx are unknown, even beside a refused control."""
    assert verdict(status(code), ALERT) == Decision(Verdict.UNKNOWN, Evidence.STATUS)
    assert not wants_control(status(code), REJECT)


def test_no_answer_is_unreachable_or_no_answer() -> None:
    """Nothing from the server is 'unreachable'; something but no status is 'no-answer'."""
    assert verdict(UNREACHABLE) == Decision(Verdict.UNKNOWN, Evidence.UNREACHABLE)
    assert verdict(NO_STATUS) == Decision(Verdict.UNKNOWN, Evidence.NO_ANSWER)
    assert verdict(TLS_FAILED) == Decision(Verdict.UNKNOWN, Evidence.NO_ANSWER)


def test_a_control_is_wanted_only_where_it_can_tell_more() -> None:
    """A 2xx or an ambiguous 4xx asks for a control; refusals and non-answers do not."""
    assert wants_control(status(200), REJECT)
    assert wants_control(status(400), REJECT)
    assert wants_control(status(405), REJECT)
    for answer in (status(401), NGINX, ALERT, CLOSED, UNREACHABLE, NO_STATUS, TLS_FAILED):
        assert not wants_control(answer, REJECT)


def test_a_custom_reject_status_is_a_refusal() -> None:
    """A status the configuration names in rejectStatus rejects, 400 included."""
    assert judge(status(400), None, frozenset({400}), certificate=True) == Decision(
        Verdict.REJECTED, Evidence.STATUS
    )


def test_nginx_pages_are_recognised_only_in_a_400_within_4_kib() -> None:
    """Both nginx titles are recognised in a 400's first 4 KiB; not in another status or later."""
    for page in NGINX_PAGES:
        assert nginx_certificate_error(400, b"<html><head>" + page)
        assert not nginx_certificate_error(403, page)
        assert not nginx_certificate_error(400, b" " * MAX_BODY_READ + page)
    assert not nginx_certificate_error(400, b'{"action":"ValidationError"}')


def test_the_control_answer_is_shown_in_the_evidence_vocabulary() -> None:
    """The outcome shows the control as ``{"answer", "status"}``."""
    assert status(403).to_json() == {"answer": "status", "status": 403}
    assert NGINX.to_json() == {"answer": "nginx-certificate-error", "status": 400}
    assert ALERT.to_json() == {"answer": "tls-alert", "status": None}
    assert CLOSED.to_json() == {"answer": "closed-after-handshake", "status": None}


def test_the_2xx_range_ends_at_299() -> None:
    """299 is a 2xx (accepted); 300 is a redirect (unknown)."""
    assert verdict(status(299)).verdict is Verdict.ACCEPTED
    assert verdict(status(300), status(300)).verdict is Verdict.UNKNOWN


def test_a_400_control_differs_from_another_4xx() -> None:
    """409 to the new credential, 400 to the control: a different 4xx, accepted."""
    assert verdict(status(409), status(400)) == Decision(Verdict.ACCEPTED, Evidence.CONTROL_DIFFERS)


def test_which_statuses_say_nothing() -> None:
    """1xx, 3xx, 404, 407, 408, 425, 429 and 5xx say nothing; 200, 299, 400, 405, 409 do."""
    for code in (100, 199, 300, 399, 404, 407, 408, 425, 429, 500, 599):
        assert says_nothing(code), code
    for code in (200, 201, 299, 400, 401, 405, 409, 499):
        assert not says_nothing(code), code


def test_a_status_answer_without_a_status_is_no_answer() -> None:
    """An answer marked as a status but without one is judged as no answer and wants no control."""
    assert verdict(Answer(Reach.STATUS)) == Decision(Verdict.UNKNOWN, Evidence.NO_ANSWER)
    assert not wants_control(Answer(Reach.STATUS), REJECT)


@pytest.mark.parametrize(
    ("evidence", "issuer", "fix"),
    [
        (
            "tls-alert",
            "CN=Other CA",
            "the API's TLS server refused it: make the API trust the CA that issued it "
            "(CN=Other CA), not only the certificate, first",
        ),
        ("nginx-certificate-error", "CN=X", "the API's TLS server refused it: make the API trust"),
        ("closed-after-handshake", "CN=X", "the API's TLS server refused it: make the API trust"),
        ("status", "CN=X", "make the API trust it first"),
        ("tls-alert", None, "make the API accept it first"),
        ("status", None, "make the API accept it first"),
    ],
)
def test_the_fix_of_a_rejection_says_what_the_api_must_trust(
    evidence: str, issuer: str | None, fix: str
) -> None:
    """A certificate refused by the TLS server needs its issuer trusted; one refused by the
    application its thumbprint; a password just accepted."""
    assert make_it_trusted(evidence, issuer=issuer).startswith(fix)
