"""The operator's command line: ``rotator rotate | status | demo | emulator``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from rotator.errors import ConfigurationError, RotatorError
from rotator.model import RotationRequest
from rotator.render import render_check, render_history, render_report, render_status
from rotator.text import printable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_DESCRIPTION = """\
Keep Microsoft Graph API connectors (Azure AD B2C / Entra External ID) on the newest
usable credential held in Azure Key Vault.

Targets come from ROTATOR_CONFIG (inline JSON or a path); Azure credentials from the
azure-identity default chain (managed identity, environment, `az login`); Graph may use an
app of the B2C tenant instead (ROTATOR_GRAPH_CREDENTIAL). See README.md for every setting.
"""

_EPILOG = """\
exit codes: 0 every target rotated, up to date, dry run or skipped (being rotated by another caller);
            1 a target was refused or failed;
            2 usage or configuration error.
"""
_STATUS_EPILOG = """\
exit codes: 0 every target in sync; 1 a target out of sync or unreadable; 2 usage or configuration error.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rotator`` command."""
    parser = argparse.ArgumentParser(
        prog="rotator",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbose_help = "log rotator's events to stderr (-vv: debug; -vvv: also the Azure SDK and httpx)"
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)
    # -v is accepted after the command too (`rotator rotate -v`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose_help
    )
    # rotate, status and check select connectors and can answer in JSON alike
    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "--connector",
        action="append",
        default=[],
        metavar="ID",
        help="only this connector (repeatable; default: every configured connector)",
    )
    selection.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rotate = sub.add_parser(
        "rotate",
        parents=[common, selection],
        help="rotate connectors whose credential is behind Key Vault",
        description="Install the newest usable Key Vault credential on each connector that "
        "does not hold it yet, then verify with a GET. Connectors already up to date are "
        'left alone (no secret is read). A connector with a probe (ROTATOR_CONFIG "probe") '
        "is switched only after its own API accepted the new credential: the probe is a real "
        "request to that API, dry runs included.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rotate.add_argument(
        "--force",
        action="store_true",
        help="rotate even when up to date or when the new certificate expires sooner; "
        "always replaces (emergency); needs --reason. Validation still applies.",
    )
    rotate.add_argument(
        "--dry-run",
        action="store_true",
        help="read and validate everything and probe the connector's API (a real request to "
        "it, when a probe is configured), write nothing",
    )
    rotate.add_argument(
        "--version",
        metavar="KV_VERSION",
        help="install this Key Vault version instead of the newest (roll back); "
        "needs exactly one --connector",
    )
    rotate.add_argument("--reason", help="why (kept in the history with the rotation)")
    rotate.add_argument(
        "--skip-probe",
        action="store_true",
        help="do not ask the connector's API whether it accepts the new credential before the "
        "switch (an emergency: the old credential is compromised and a broken user flow is "
        "accepted); needs --force and --reason",
    )

    sub.add_parser(
        "status",
        parents=[common, selection],
        help="show what each connector holds against Key Vault",
        description="For each target: what Graph holds, the newest usable Key Vault version "
        "(and a pinned one), whether they are in sync, and days to expiry. Changes nothing.",
        epilog=_STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    sub.add_parser(
        "check",
        parents=[common, selection],
        help="preflight after deployment: can every connector be rotated? Changes nothing",
        description="Validate the configuration, then for each target report the identity seen "
        "by Graph and Key Vault, whether the Key Vault versions and the value a rotation would "
        "install can be read and pass validation, whether the Graph token carries "
        "APIConnectors.ReadWrite.All and the connector can be read, and what a rotation would do now. Each failure names the "
        "fix. Nothing is written to Graph or to the state store; no secret or token is printed.",
        epilog="exit codes: 0 every target would rotate cleanly or is up to date;\n"
        "            1 a check failed (the fix is printed);\n"
        "            2 usage or configuration error.\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    history = sub.add_parser(
        "history",
        parents=[common],
        help="show a connector's rotation history from the state store",
        description="The last rotations of a connector as the state store keeps them: time, "
        "trigger, outcome, Key Vault version, thumbprint, reason and who asked; and the applied "
        "version and pin. Never a secret.",
    )
    history.add_argument("--connector", required=True, metavar="ID", help="the connector")
    history.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    unpin = sub.add_parser(
        "unpin",
        parents=[common],
        help="clear a rollback pin so the next run returns to the newest version",
        description="A `rotate --version` rollback pins the connector to that version: later runs "
        "keep it until it is unpinned here or a newer version is added to Key Vault.",
    )
    unpin.add_argument("--connector", required=True, metavar="ID", help="the pinned connector")

    sub.add_parser(
        "demo",
        help="run a real rotation against the local emulator",
        description="Start the local emulator of Graph, Key Vault and managed identity, seed a "
        "vault and two connectors, rotate both, verify, run again to show up-to-date.",
    )
    emulator = sub.add_parser(
        "emulator",
        help="serve the local emulator and print the settings that point rotator at it",
        description="Serve the emulator until interrupted. Prints `export` lines to paste into "
        "a shell so that `rotator rotate` talks to it.",
    )
    emulator.add_argument(
        "--workdir", help="directory for the emulator's CA certificate (default: a temp dir)"
    )
    emulator.add_argument(
        "--port",
        type=int,
        default=0,
        help="first of six consecutive ports (graph, vault, identity, control, entra, api); "
        "default: any free",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rotator`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        if args.command == "rotate":
            return _rotate(args, sys.stdout)
        if args.command == "status":
            return _status(args, sys.stdout)
        if args.command == "check":
            return _check(args, sys.stdout)
        if args.command == "unpin":
            return _unpin(args, sys.stdout)
        if args.command == "history":
            return _history(args, sys.stdout)
        if args.command == "demo":
            from rotator.demo import run_demo

            return run_demo(sys.stdout)
        if args.command == "emulator":
            from rotator.demo import serve_emulator

            return serve_emulator(workdir=args.workdir, port=args.port, out=sys.stdout)
    except ConfigurationError as exc:
        print(f"rotator: configuration error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except RotatorError as exc:
        print(f"rotator: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("rotator: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover


def _rotate(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.rotation import Rotator
    from rotator.settings import Settings
    from rotator.targets import check_key_vault_version

    settings = Settings.from_env()
    request = RotationRequest(
        connector_ids=tuple(args.connector),
        force=args.force,
        dry_run=args.dry_run,
        version=args.version,
        reason=args.reason,
        trigger="cli",
        requested_by=os.environ.get("USER") or os.environ.get("USERNAME"),
        skip_probe=args.skip_probe,
    )
    if request.version and len(request.connector_ids) != 1:
        raise ConfigurationError("--version needs exactly one --connector")
    if request.version:
        check_key_vault_version(request.version, "--version")
    if request.force and not request.reason:
        raise ConfigurationError("--force needs --reason (it goes into the history)")
    if request.skip_probe and not request.force:
        raise ConfigurationError("--skip-probe needs --force and --reason (an emergency)")
    with Rotator.from_settings(settings) as rotator:
        report = rotator.rotate(request)
    if args.json:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_report(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _unpin(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.rotation import Rotator
    from rotator.settings import Settings

    with Rotator.from_settings(Settings.from_env()) as rotator:
        old = rotator.unpin(args.connector, requested_by=os.environ.get("USER"))
    if old is None:
        out.write(f"{args.connector} was not pinned\n")
    else:
        out.write(
            printable(
                f"{args.connector}: unpinned from version {old.version} (pinned {old.pinned_at}); "
                "the next run installs the newest usable version"
            )
            + "\n"
        )
    return EXIT_OK


def _history(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.rotation import Rotator
    from rotator.settings import Settings

    with Rotator.from_settings(Settings.from_env()) as rotator:
        record = rotator.history(args.connector)
    if args.json:
        json.dump(record.to_json(), out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(render_history(args.connector, record))
    return EXIT_OK


def _status(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.rotation import Rotator
    from rotator.settings import Settings

    settings = Settings.from_env()
    with Rotator.from_settings(settings) as rotator:
        report = rotator.status(tuple(args.connector))
    if args.json:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_status(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.check import run_check
    from rotator.settings import Settings

    settings = Settings.from_env()
    identity_log = logging.getLogger("azure.identity")
    level = identity_log.level
    if args.verbose < 3:  # a refused token is in the report with its fix: no warning as well
        identity_log.setLevel(logging.ERROR)
    try:
        report = run_check(settings, connector_ids=tuple(args.connector))
    finally:
        identity_log.setLevel(level)
    out.write(json.dumps(report.to_json(), indent=2) + "\n" if args.json else render_check(report))
    return EXIT_OK if report.ok else EXIT_FAILED


class _EventFormatter(logging.Formatter):
    """``LEVEL logger message`` (rotator's events already carry their data in the message)."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname:<7} {record.name} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(verbosity: int) -> None:
    """Events to stderr: none by default, INFO with -v, DEBUG with -vv, every library with -vvv."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_EventFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    level = {0: logging.CRITICAL + 1, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.getLogger("rotator").setLevel(level)
