"""Measure what real servers do to a probe: server x credential -> what came over the wire, and the
verdict of rotator's probe as it is on this branch (``rotator.steps.probe.attempt``), N runs each.

Starts nginx, Apache httpd, uvicorn, hypercorn and gunicorn on loopback (tests/integration/
real_servers.py: what each is configured to do), then per case:

- ``wire``: a plain ``ssl`` client that, like the probe, writes its request right after the
  handshake and then reads: the TLS alert (and in which phase), a close or reset before any HTTP
  status, or the status and the title / first bytes of the body;
- ``two writes`` and ``read first`` (only where ``wire`` saw no HTTP status): the same client
  writing the head and the body separately, as ``http.client`` (so the probe) does, and one
  reading for 0.5 s before writing, which is how a TLS 1.3 server's post-handshake alert can be
  caught;
- ``probe``: ``rotator.steps.probe.attempt`` with the default probe configuration.

Run: ``.venv/bin/python scripts/probe_wire_matrix.py`` (as root, or with nginx and apache2
installed). ``PROBE_RUNS`` (default 20) sets the repetitions, ``PROBE_SERVERS`` a comma-separated
subset of families (nginx, apache, uvicorn, hypercorn, gunicorn). Prints a markdown table.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rotator.model import ProbeConfig  # noqa: E402
from rotator.steps import probe  # noqa: E402
from rotator.steps.probe_verdict import judge  # noqa: E402
from tests.integration.real_servers import (  # noqa: E402
    BASIC_PASSWORD,
    BASIC_SERVERS,
    BASIC_USER,
    FAMILIES,
    Certificates,
    RealServers,
    wire_outcome,
)

CERTIFICATE_CASES = ("trusted", "untrusted", "not-pinned", "expired", "not-yet-valid", None)
BASIC_CASES = ("right", "wrong", "none")


def basic_header(case: str) -> str | None:
    """The Authorization header of a basic-auth case."""
    if case == "none":
        return None
    password = BASIC_PASSWORD if case == "right" else "wrong-" + BASIC_PASSWORD
    return "Basic " + base64.b64encode(f"{BASIC_USER}:{password}".encode()).decode()


def probe_today(
    servers: RealServers, url: str, credential: str | None, authorization: str | None
) -> str:
    """``rotator.steps.probe.attempt`` as it is on this branch: verdict and its detail ("-" without a
    credential: rotator always presents one)."""
    network = probe.Network(str(servers.workdir / "server-ca.pem"), True, 5.0)
    if authorization is not None:
        user, _, password = base64.b64decode(authorization.split()[1]).decode().partition(":")
        cred = probe.Credential(username=user, password=password)
    elif credential is not None:
        cred = probe.Credential(bundle=servers.certificates.bundle(credential))
    else:
        return "-"  # rotator always presents a credential
    config = ProbeConfig()
    answer = probe.attempt(config, url, cred, network)
    # the verdict on this one answer, without the control request run_probe may add
    decision = judge(answer, None, config.reject_status, certificate=cred.bundle is not None)
    detail = re.sub(r"\(ConnectionResetError: .*\)", "(ConnectionResetError)", answer.detail)
    detail = re.sub(r"\(RemoteDisconnected: .*\)", "(RemoteDisconnected)", detail)
    return f"{decision.verdict.value}: {detail}"


def tally(results: list[str]) -> str:
    """``a 14x; b 6x``, most frequent first."""
    counts = Counter(results)
    return "; ".join(f"{what} {n}x" for what, n in counts.most_common())


def row(
    servers: RealServers, url: str, credential: str | None, authorization: str | None, runs: int
) -> str:
    """The cells of one case: the three wire modes and the probe, ``runs`` times each."""
    context = servers.context(credential)
    seen = [wire_outcome(url, context, authorization=authorization) for _ in range(runs)]
    split = early = "-"
    if not all(s.startswith("HTTP") for s in seen):  # only a refusal without status races
        split = tally(
            [
                wire_outcome(url, context, authorization=authorization, split=True)
                for _ in range(runs)
            ]
        )
        early = tally(
            [
                wire_outcome(url, context, authorization=authorization, read_first=True)
                for _ in range(runs)
            ]
        )
    verdicts = [probe_today(servers, url, credential, authorization) for _ in range(runs)]
    return f"{tally(seen)} | {split} | {early} | {tally(verdicts)} |"


def main() -> int:
    runs = int(os.environ.get("PROBE_RUNS", "20"))
    families = [f for f in os.environ.get("PROBE_SERVERS", ",".join(FAMILIES)).split(",") if f]
    started = time.monotonic()
    with RealServers(Certificates.make(), families) as servers:
        for family, why in servers.unavailable.items():
            print(f"# {family}: unavailable: {why}", file=sys.stderr)
        print(f"servers ready in {time.monotonic() - started:.1f} s; {runs} runs per cell\n")
        for family in families:
            for name, what in FAMILIES[family].items():
                if name in servers.urls:
                    print(f"- `{name}`: {what}")
        print()
        print(
            f"| server | credential | wire (write first, {runs} runs) | two writes | read first | probe today |"
        )
        print("|---|---|---|---|---|---|")
        for family in families:
            for name in FAMILIES[family]:
                if name not in servers.urls:
                    continue
                url = servers.urls[name]
                cases: list[tuple[str, str | None, str | None]]
                if name in BASIC_SERVERS:
                    cases = [(f"password {c}", None, basic_header(c)) for c in BASIC_CASES]
                else:
                    cases = [(c or "no certificate", c, None) for c in CERTIFICATE_CASES]
                for label, credential, authorization in cases:
                    print(
                        f"| {name} | {label} | {row(servers, url, credential, authorization, runs)}"
                    )
    print(f"\ntotal {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
