"""The :class:`Emulator`: one CA, six local servers (Graph, Key Vault, MI token endpoint, Entra
token endpoint, the connectors' API side, control)."""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import tempfile
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import serialization

from rotator.emulator import pki
from rotator.emulator.api import ApiService, ApiStore, Front
from rotator.emulator.control import ControlService
from rotator.emulator.entra import EntraDirectory, EntraService
from rotator.emulator.graph import GraphService, GraphStore
from rotator.emulator.identity import IdentityService, IdentitySettings, graph_audiences
from rotator.emulator.keysets import KeySetStore
from rotator.emulator.keyvault import MAX_PAGE_SIZE, KeyVaultService, VaultStore
from rotator.emulator.server import (
    EmulatorHTTPServer,
    Faults,
    Journal,
    JournalEntry,
    server_context,
)
from rotator.emulator.tokens import TokenMinter

# The API side's fronts, one server (port) each, the same endpoints behind.
_FRONTS = {"api": Front.APPLICATION, "api-nginx": Front.NGINX, "api-close": Front.CLOSE}
SERVERS = ("graph", "vault", "identity", "control", "entra", *_FRONTS)


# the CA file in the workdir (rotator.hints.EMULATOR_CA_FILE names it for a stale settings hint)
CA_FILE = "emulator-ca.pem"


class Emulator:
    """Local stand-ins for Graph API connectors, Key Vault, the managed-identity endpoint and
    Entra ID's token endpoint for apps (:attr:`authority_url`).

    Bound to 127.0.0.1 only. ``start()`` binds and serves; ``stop()`` closes everything; it is
    also a context manager. Seed and inspect through :attr:`vault`, :attr:`graph`, :attr:`keysets`,
    :attr:`identity`, :attr:`entra`, :attr:`faults` and :meth:`journal`, or over
    :attr:`control_url`.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        graph_port: int = 0,
        vault_port: int = 0,
        identity_port: int = 0,
        control_port: int = 0,
        vault_page_size: int = MAX_PAGE_SIZE,
        entra_port: int = 0,
        api_port: int = 0,
    ) -> None:
        """Prepare the emulator (a fresh CA and tenant); nothing listens until :meth:`start`.

        Raises:
            ValueError: ``vault_page_size`` is not between 1 and 25.
        """
        if not 1 <= vault_page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"vault_page_size must be between 1 and {MAX_PAGE_SIZE}")
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self._ports = {
            "graph": graph_port,
            "vault": vault_port,
            "identity": identity_port,
            "control": control_port,
            "entra": entra_port,
            "api": api_port,
            "api-nginx": 0,  # the API's other fronts (see rotator.emulator.api): any free port
            "api-close": 0,
        }
        self._page_size = vault_page_size
        self.tenant_id = str(uuid.uuid4())
        self.tokens = TokenMinter(
            tenant_id=self.tenant_id, client_id=str(uuid.uuid4()), object_id=str(uuid.uuid4())
        )
        self.identity_header = secrets.token_urlsafe(32)
        self.vault = VaultStore()
        self.graph = GraphStore(self.tenant_id)
        self.keysets = KeySetStore(self.tenant_id)
        self.identity = IdentitySettings()
        self.entra = EntraDirectory(self.tenant_id)
        self.api = ApiStore()
        self.faults = Faults()
        self._journal = Journal()
        self._ca = pki.make_ca("rotator emulator CA")
        self._servers: dict[str, EmulatorHTTPServer] = {}
        self._workdir: Path | None = None
        self._owns_workdir = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Write the CA, bind the six servers and serve them in daemon threads.

        Raises:
            RuntimeError: already started.
            OSError: a port is taken.
        """
        if self._servers:
            raise RuntimeError("the emulator is already started")
        if self._workdir_arg is not None:
            self._workdir = self._workdir_arg
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._owns_workdir = False
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="rotator-emulator-"))
            self._owns_workdir = True
        ca_path = self._workdir / CA_FILE
        ca_path.write_bytes(self._ca.certificate.public_bytes(serialization.Encoding.PEM))
        server_certificate = pki.make_server_certificate(self._ca, ("localhost", "127.0.0.1"))
        workdir = self._workdir
        context = self._tls_context(workdir, server_certificate)
        self.api.serve_with(lambda: self._tls_context(workdir, server_certificate))
        try:
            for name in SERVERS:
                tls: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = (
                    None
                    if name == "identity"
                    else partial(self.api.tls_context, _FRONTS[name])
                    if name in _FRONTS
                    else context
                )
                journaled = name != "control"
                self._servers[name] = EmulatorHTTPServer(
                    self._ports[name],
                    ssl_context=tls,
                    faults=self.faults if journaled else None,
                    journal=self._journal if journaled else None,
                )
        except OSError:
            self._close_servers()
            raise
        graph_url, vault_url = self.graph_url, self.vault_url
        audiences = graph_audiences(graph_url)
        self._servers["graph"].service = GraphService(
            self.graph,
            self.tokens,
            base_url=lambda: graph_url,
            audiences=lambda: audiences,
            directory=self.entra,
            keysets=self.keysets,
        )
        self._servers["vault"].service = KeyVaultService(
            self.vault, self.tokens, base_url=lambda: vault_url, page_size=self._page_size
        )
        self._servers["identity"].service = IdentityService(
            self.identity,
            self.tokens,
            identity_header=self.identity_header,
            graph_audiences=lambda: audiences,
        )
        authority_url = self.authority_url
        self._servers["entra"].service = EntraService(
            self.entra,
            self.tokens,
            base_url=lambda: authority_url,
            graph_audiences=lambda: audiences,
        )
        for name, front in _FRONTS.items():
            api = ApiService(self.api, front)
            self._servers[name].service = api
            self._servers[name].admit = api.admit if front is Front.CLOSE else None
        self._servers["control"].service = ControlService(self)
        for name, server in self._servers.items():
            server.start(f"rotator-emulator-{name}")
        return self

    @staticmethod
    def _tls_context(workdir: Path, server: pki.Issued) -> ssl.SSLContext:
        cert_file = workdir / ".emulator-server-cert.pem"
        key_file = workdir / ".emulator-server-key.pem"
        cert_file.write_bytes(server.certificate.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                server.key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        try:
            return server_context(str(cert_file), str(key_file))
        finally:
            key_file.unlink(missing_ok=True)
            cert_file.unlink(missing_ok=True)

    def _close_servers(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def stop(self) -> None:
        """Stop every server and close open connections (a temporary workdir is removed)."""
        self._close_servers()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir = None

    def __enter__(self) -> Emulator:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on leaving the ``with`` block."""
        self.stop()

    # -- addresses --------------------------------------------------------------------------

    def _port(self, name: str) -> int:
        server = self._servers.get(name)
        if server is None:
            raise RuntimeError("the emulator is not started")
        return server.port

    @property
    def graph_url(self) -> str:
        """Graph root, e.g. ``https://127.0.0.1:port``; the API is under /beta and /v1.0."""
        return f"https://127.0.0.1:{self._port('graph')}"

    @property
    def vault_url(self) -> str:
        """The Key Vault URL to give SecretClient / CertificateClient."""
        return f"https://127.0.0.1:{self._port('vault')}"

    @property
    def identity_endpoint(self) -> str:
        """The App Service token endpoint (plain http, like App Service's own)."""
        return f"http://127.0.0.1:{self._port('identity')}/msi/token"

    @property
    def authority_url(self) -> str:
        """Entra ID's authority host for apps (``ROTATOR_AUTHORITY_HOST``), e.g.
        ``https://127.0.0.1:port``; the tenant goes in the path, as on login.microsoftonline.com."""
        return f"https://127.0.0.1:{self._port('entra')}"

    @property
    def api_url(self) -> str:
        """Base URL of the connectors' API side; ``api_url_for(name)`` is one endpoint."""
        return f"https://127.0.0.1:{self._port('api')}"

    def api_url_for(self, name: str, front: Front | str = Front.APPLICATION) -> str:
        """The URL of API endpoint ``name`` behind ``front`` (application, nginx or close: how
        a refused client certificate is refused, see :mod:`rotator.emulator.api`): a
        connector's ``targetUrl``."""
        return f"{self.api_front_url(front)}/{name}"

    def api_front_url(self, front: Front | str) -> str:
        """Base URL of the API side behind ``front`` (``api_url`` is the application front's)."""
        server = next(name for name, f in _FRONTS.items() if f == Front(front))
        return f"https://127.0.0.1:{self._port(server)}"

    @property
    def control_url(self) -> str:
        """Base URL of the HTTPS control surface (see :mod:`rotator.emulator.control`)."""
        return f"https://127.0.0.1:{self._port('control')}"

    @property
    def ca_path(self) -> Path:
        """PEM file of the CA that signed the servers' certificate (SANs localhost, 127.0.0.1)."""
        if self._workdir is None:
            raise RuntimeError("the emulator is not started")
        return self._workdir / CA_FILE

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self._ca.certificate.public_bytes(serialization.Encoding.PEM)

    def env(self) -> dict[str, str]:
        """The environment that points rotator (and azure-identity) at this emulator."""
        return {
            "ROTATOR_GRAPH_ENDPOINT": self.graph_url,
            "ROTATOR_CA_BUNDLE": str(self.ca_path),
            "ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "AZURE_TOKEN_CREDENTIALS": "managedidentitycredential",
            "ROTATOR_PROBE_ALLOW_PRIVATE": "true",  # the API side listens on loopback
        }

    # -- state ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Clear vault, graph (connectors and key sets), Entra apps, faults, journal and identity
        overrides; keep the CA and ports."""
        self.faults.clear()
        self.entra.clear()
        self.api.clear()
        self.vault.clear()
        self.graph.clear()
        self.keysets.clear()
        self.identity.reset()
        self._journal.clear()

    def journal(self) -> list[JournalEntry]:
        """Every request the Graph, Key Vault, identity and Entra servers received, oldest first."""
        return self._journal.entries()

    def clear_journal(self) -> None:
        """Forget the journal."""
        self._journal.clear()
