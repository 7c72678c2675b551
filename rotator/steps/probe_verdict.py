"""The probe's verdict (pure): what the API's answer to the new credential, and to a control
credential it certainly does not trust, say about whether it accepts the new one.

``accepted`` needs evidence: a 2xx, or an answer that differs from the control's. ``rejected``: a
status in ``rejectStatus``, a TLS alert, nginx's certificate-error page, or (certificate probes) a
connection closed after the handshake before any status. Everything else is ``unknown``. Only an
API that was not reached at all (``unreachable``) lets ``probe.required: false`` go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rotator.model import Verdict

# Statuses that say nothing about the credential (a gateway, a proxy, a rate limit, an outage).
_SAYS_NOTHING = frozenset({404, 407, 408, 425, 429})
# nginx's own pages for its internal 495/496 (sent as 400); matched in at most 4 KiB of the body.
NGINX_PAGES = (
    b"<title>400 The SSL certificate error</title>",
    b"<title>400 No required SSL certificate was sent</title>",
)
MAX_BODY_READ = 4096


class Evidence(StrEnum):
    """What decided a probe's verdict (the outcome's ``probe.evidence``)."""

    STATUS = "status"  # the HTTP status alone (a 2xx, a rejectStatus, or one that says nothing)
    TLS_ALERT = "tls-alert"  # the TLS layer refused the client certificate with an alert
    CLOSED = "closed-after-handshake"  # closed or reset after the handshake, before any status
    NGINX = "nginx-certificate-error"  # nginx's 400 page for a bad or missing certificate
    CONTROL_DIFFERS = "control-differs"  # the control credential was answered with a refusal
    CONTROL_SAME = "control-same"  # the control was answered the same: the answer proves nothing
    NO_CLIENT_AUTH = "no-client-auth"  # 2xx to the control as well: the API checks no credential
    UNREACHABLE = "unreachable"  # nothing from the server: no name, refused, or timed out
    NO_ANSWER = "no-answer"  # reached, but no HTTP status (timeout, too large, not HTTP, TLS)


# How a server refuses a client certificate in or right after the TLS handshake.
_TLS_REFUSALS = frozenset({"tls-alert", "nginx-certificate-error", "closed-after-handshake"})


class Reach(StrEnum):
    """How far one attempt got with the server."""

    UNREACHABLE = "unreachable"  # no byte from the server (DNS, refused, connect/TLS timeout)
    TLS_ALERT = "tls-alert"
    TLS_FAILED = "tls-failed"  # any other TLS failure (the API's own certificate, a mismatch)
    CLOSED = "closed-after-handshake"
    NO_STATUS = "no-answer"  # bytes came, but no complete response head in time
    STATUS = "status"


@dataclass(frozen=True)
class Answer:
    """What one attempt saw: how far it got, the status, whether the body was nginx's page."""

    reach: Reach
    status: int | None = None
    nginx_page: bool = False
    detail: str = ""  # in words, for the outcome's reason; holds nothing the server sent

    @property
    def kind(self) -> str:
        """The answer in the evidence vocabulary (``status``, ``tls-alert``...)."""
        return Evidence.NGINX.value if self.nginx_page else self.reach.value

    def to_json(self) -> dict[str, Any]:
        """``{"answer", "status"}`` (the control's answer in the outcome)."""
        return {"answer": self.kind, "status": self.status}


@dataclass(frozen=True)
class Decision:
    """A verdict and the evidence that decided it."""

    verdict: Verdict
    evidence: Evidence


def refusal(answer: Answer, reject_status: frozenset[int], *, certificate: bool) -> Evidence | None:
    """The evidence that ``answer`` is a refusal of the credential, or None."""
    if answer.reach is Reach.STATUS and answer.status in reject_status:
        return Evidence.STATUS
    if answer.nginx_page:
        return Evidence.NGINX
    if answer.reach is Reach.TLS_ALERT:
        return Evidence.TLS_ALERT
    if answer.reach is Reach.CLOSED and certificate:
        return Evidence.CLOSED
    return None


def is_2xx(answer: Answer) -> bool:
    """An HTTP answer with a 2xx status."""
    return answer.reach is Reach.STATUS and answer.status is not None and 200 <= answer.status < 300


def says_nothing(status: int) -> bool:
    """A status no API answers because of a credential: 1xx, 3xx (never followed), 404, 407,
    408, 425, 429 and 5xx (a gateway, a proxy, a rate limit, an outage)."""
    return status < 200 or 300 <= status < 400 or status >= 500 or status in _SAYS_NOTHING


def wants_control(answer: Answer, reject_status: frozenset[int]) -> bool:
    """Whether a control request can tell more: a 2xx (does the API check credentials at all?)
    or a 4xx that is neither a refusal nor a status that says nothing (e.g. B2C's 400)."""
    if answer.reach is not Reach.STATUS or answer.status is None:
        return False
    if answer.status in reject_status or answer.nginx_page:  # a refusal already
        return False
    return is_2xx(answer) or not says_nothing(answer.status)


def judge(
    answer: Answer,
    control: Answer | None,
    reject_status: frozenset[int],
    *,
    certificate: bool,
) -> Decision:
    """The verdict on the new credential from its answer and, if one was sent, the control's."""
    if evidence := refusal(answer, reject_status, certificate=certificate):
        return Decision(Verdict.REJECTED, evidence)
    if answer.reach is Reach.UNREACHABLE:
        return Decision(Verdict.UNKNOWN, Evidence.UNREACHABLE)
    if answer.reach is Reach.CLOSED:  # a password probe: a closed connection says nothing
        return Decision(Verdict.UNKNOWN, Evidence.CLOSED)
    if answer.reach is not Reach.STATUS or answer.status is None:
        return Decision(Verdict.UNKNOWN, Evidence.NO_ANSWER)
    if is_2xx(answer):
        if control is not None and is_2xx(control):
            return Decision(Verdict.ACCEPTED, Evidence.NO_CLIENT_AUTH)
        return Decision(Verdict.ACCEPTED, Evidence.STATUS)
    if says_nothing(answer.status) or control is None:
        return Decision(Verdict.UNKNOWN, Evidence.STATUS)
    if refusal(control, reject_status, certificate=certificate) is not None or (
        control.reach is Reach.STATUS
        and control.status is not None
        and control.status != answer.status
        and control.status >= 400
        and not says_nothing(control.status)  # 5xx among them
    ):
        return Decision(Verdict.ACCEPTED, Evidence.CONTROL_DIFFERS)
    if control.reach is Reach.STATUS and control.status == answer.status:
        return Decision(Verdict.UNKNOWN, Evidence.CONTROL_SAME)
    return Decision(Verdict.UNKNOWN, Evidence.STATUS)  # the control proved nothing either


def nginx_certificate_error(status: int, body: bytes) -> bool:
    """Whether a 400 answer is nginx's page for a bad or missing client certificate."""
    head = body[:MAX_BODY_READ]
    return status == 400 and any(page in head for page in NGINX_PAGES)


def make_it_trusted(evidence: str | None, *, issuer: str | None) -> str:
    """The fix that ends a rejected probe's error: for a certificate (``issuer``: its issuer's
    name) that the API's TLS server refused before its application saw it (an alert, nginx's
    page, a closed connection), trusting the certificate alone is not enough."""
    if issuer is None:
        return "make the API accept it first"
    if evidence in _TLS_REFUSALS:
        return (
            "the API's TLS server refused it: make the API trust the CA that issued it "
            f"({issuer}), not only the certificate, first"
        )
    return "make the API trust it first"
