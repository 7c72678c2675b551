"""Probe a policy key: before the upload, call the API the custom policy calls (``probe.url``)
with the new credential, the way B2C's RESTful technical profile will: a certificate as the TLS
client certificate, a password as basic auth beside ``probe.username``, an API key in the
``probe.apiKeyHeader`` header. Only an accepted credential is uploaded.

The calls themselves are ``steps.probe``'s (its address checks, TLS and verdicts).
"""

from __future__ import annotations

import logging

from rotator.errors import ApiRejectedError, ProbeError
from rotator.events import emit
from rotator.model import PolicyKeyTarget, ProbeResult, RotationRequest, Verdict
from rotator.steps.context import Steps
from rotator.steps.keyset_apply import KeyUpload
from rotator.steps.probe import Credential, checked_url, network_of, run_probe, skipped
from rotator.steps.probe_verdict import Evidence, make_it_trusted
from rotator.steps.progress import Progress

log = logging.getLogger("rotator")


def credential_of(change: KeyUpload) -> Credential | None:
    """What the probe presents for ``change`` (None: nothing is uploaded, nothing to ask)."""
    target = change.plan.target
    if change.install is not None:
        return Credential(bundle=change.install.bundle)
    if change.secret is None:
        return None
    if target.api_key_header is not None:
        return Credential(password=change.secret, header=target.api_key_header)
    return Credential(username=target.username, password=change.secret)


def approve(
    steps: Steps,
    change: KeyUpload,
    request: RotationRequest,
    run: Progress[PolicyKeyTarget],
) -> KeyUpload:
    """The step between package and upload: the API must accept the new credential.

    Raises:
        ApiRejectedError: the API rejects it (after ``waitSeconds`` of retries).
        ProbeError: no verdict and the probe is ``required``, or the URL may not be called.
    """
    target = run.target
    config = target.probe
    credential = credential_of(change)
    if config is None or credential is None:
        return change
    if request.skip_probe:
        run.probe = skipped(config.url)
        _log(target, run.probe, logging.WARNING)
        return change
    url = checked_url(config.url, f"key set {target.key_set}")
    result = run_probe(config, url, credential, network_of(steps.settings), sleep=steps.sleep)
    run.probe = result
    _log(target, result)
    what = credential.describe(change.plan.chosen.version)
    tries = f", {result.attempts} attempts in {result.seconds:.0f} s" if result.attempts > 1 else ""
    if result.verdict is Verdict.ACCEPTED:
        if result.evidence == Evidence.NO_CLIENT_AUTH:
            run.notes.append(
                f"the API at {result.url} let a throwaway credential through too: it checks no "
                "credential"
            )
        return change
    if result.verdict is Verdict.REJECTED:
        raise ApiRejectedError(
            f"the API at {result.url} rejects the new {what} ({result.detail}{tries}); "
            f"uploading it to key set {target.key_set} now would break the policies that call "
            "that API once B2C switches to it; "
            + make_it_trusted(result.evidence, issuer=credential.issuer())
        )
    message = f"cannot tell whether the API at {result.url} accepts the new {what}: {result.detail}"
    if config.required:
        raise ProbeError(f"{message}; nothing was uploaded (probe.required is true)")
    if result.evidence != Evidence.UNREACHABLE:
        raise ProbeError(
            f"{message}; nothing was uploaded (the API answered, so probe.required: false "
            "does not apply)"
        )
    note = f"{message}; went on without its word (probe.required is false)"
    run.notes.append(note)
    return change


def _log(target: PolicyKeyTarget, result: ProbeResult, level: int | None = None) -> None:
    if level is None:
        level = logging.INFO if result.verdict is Verdict.ACCEPTED else logging.WARNING
    emit(
        log,
        level,
        "rotation.probe",
        targetKind=target.target_kind.value,
        keySet=target.key_set,
        **result.to_json(),
    )
