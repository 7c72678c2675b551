"""What the probe's control request costs (run: ./dev bench): requests to the connector's API
and milliseconds per probe, with the control request and without it, against the emulator's API
side (real mutual TLS on loopback). Prints a table of medians and the difference.

"Without" is the first request alone (the verdict the probe had before issue 18 could reach);
"with" is ``run_probe``, which sends one control request (a throwaway credential: a self-signed
certificate from a fresh RSA-2048 key, or a random password) where the first answer is a 2xx or
an ambiguous 4xx, and none after a refusal.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.emulator import Emulator, pki
from rotator.model import ProbeConfig, Verdict
from rotator.steps import probe
from rotator.steps.pkcs12 import CertificateBundle
from rotator.steps.probe_verdict import Answer

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Emulator(workdir=Path(tmp) / "emu") as emu:
        ca = pki.make_ca("bench CA")
        leaf = pki.make_leaf("bench.test", issuer=ca)
        other = pki.make_ca("another CA")
        stranger = pki.make_leaf("bench.test", issuer=other)
        emu.api.trust_issuer(ca.certificate)
        emu.api.trust_certificate("bench", leaf.thumbprint)
        emu.api.accept_basic("bench", "api-user", "right")
        url = emu.api_url_for("bench")
        network = probe.Network(str(emu.ca_path), True, 10)
        cases = {
            "certificate, accepted (2xx)": (probe.Credential(bundle=_bundle(leaf, ca)), "accepted"),
            "certificate, refused (TLS)": (
                probe.Credential(bundle=_bundle(stranger, other)),
                "rejected",
            ),
            "password, accepted (2xx)": (
                probe.Credential(username="api-user", password="right"),
                "accepted",
            ),
            "password, refused (401)": (
                probe.Credential(username="api-user", password="wrong"),
                "rejected",
            ),
        }
        counted = {"n": 0}
        real_attempt = probe.attempt

        def counting(*args: Any, **kwargs: Any) -> Answer:
            counted["n"] += 1
            return real_attempt(*args, **kwargs)

        probe.attempt = counting
        print(f"{'case':32} {'requests':>9} {'without ms':>11} {'with ms':>9} {'added ms':>9}")
        wrong = []
        for name, (credential, expected) in cases.items():
            alone, full, requests = [], [], []
            for _ in range(RUNS):
                started = time.perf_counter()
                real_attempt(ProbeConfig(), url, credential, network)
                alone.append((time.perf_counter() - started) * 1000)
                counted["n"] = 0
                started = time.perf_counter()
                result = probe.run_probe(ProbeConfig(), url, credential, network)
                full.append((time.perf_counter() - started) * 1000)
                requests.append(counted["n"])
                if result.verdict is not Verdict(expected):
                    wrong.append(f"{name}: {result.verdict.value} (expected {expected})")
            a, f = statistics.median(alone), statistics.median(full)
            print(
                f"{name:32} {statistics.median(requests):>9.0f} {a:>11.1f} {f:>9.1f} {f - a:>9.1f}"
            )
        started = time.perf_counter()
        for _ in range(RUNS):
            probe.throwaway(cases["certificate, accepted (2xx)"][0])
        keygen = (time.perf_counter() - started) * 1000 / RUNS
        print(f"of which the throwaway certificate (RSA-2048 key + self-signed): {keygen:.1f} ms")
        for line in wrong:
            print(f"FAILED: {line}", file=sys.stderr)
        return 1 if wrong else 0


def _bundle(leaf: pki.Issued, issuer: pki.Issued) -> CertificateBundle:
    assert isinstance(leaf.key, rsa.RSAPrivateKey)
    return CertificateBundle(leaf.certificate, leaf.key, (issuer.certificate,))


if __name__ == "__main__":
    sys.exit(main())
