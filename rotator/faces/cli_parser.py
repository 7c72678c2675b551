"""The ``rotator`` command's arguments: every command, flag and its help (argparse)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from rotator.faces.history import DEFAULT_LIMIT, parse_limit, parse_since

EXIT_USAGE = 2


class UsageError(Exception):
    """A command used the wrong way (flags that need each other); ``command`` names it."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command


class _Parser(argparse.ArgumentParser):
    """argparse with mistakes labelled "usage error" under the usage of the command at fault."""

    def error(self, message: str) -> NoReturn:
        """Print this parser's usage and the mistake, then exit 2."""
        self.exit(report_usage_error(self, message))


def report_usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """Print ``parser``'s usage and ``message`` labelled as a usage error; return exit code 2."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: usage error: {message}", file=sys.stderr)
    return EXIT_USAGE


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
attention (first column, most urgent first; upper case when it needs someone):
  failing   unreadable, or the last rotation failed and Graph is still not right
  refused   the last rotation was refused, or Key Vault holds nothing usable
  behind    Graph does not hold what a rotation would install now
  expiring  what Graph holds expires within ROTATOR_EXPIRY_WARNING_DAYS (default 30)
  deferred  a certificate waits for its notBefore; nothing to do
  ok

exit codes: 0 every target is ok or deferred;
            1 a target is failing, refused, behind or expiring;
            2 usage or configuration error.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rotator`` command."""
    parser = _Parser(
        prog="rotator",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbose_help = "log rotator's events to stderr (-vv: debug; -vvv: also the Azure SDK and httpx)"
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)
    # -v is accepted after the command too (`rotator rotate -v`)
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose_help
    )
    # rotate, status and check select connectors and can answer in JSON alike
    selection = _Parser(add_help=False)
    selection.add_argument(
        "--connector",
        action="append",
        default=[],
        metavar="ID",
        help="only this connector (repeatable; default: every configured connector)",
    )
    selection.add_argument(
        "--key-set",
        action="append",
        default=[],
        metavar="NAME",
        help="only this B2C policy key set (ROTATOR_CONFIG policyKeys, e.g. "
        "B2C_1A_RestApiClientCertificate; repeatable)",
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
        "needs exactly one --connector or --key-set",
    )
    rotate.add_argument("--reason", help="why (kept in the history with the rotation)")
    rotate.add_argument(
        "--skip-probe",
        action="store_true",
        help="do not ask the connector's API whether it accepts the new credential before the "
        "switch (an emergency: the old credential is compromised and a broken user flow is "
        "accepted); needs --force and --reason",
    )

    status = sub.add_parser(
        "status",
        parents=[common, selection],
        help="show what each connector holds against Key Vault",
        description="For each target, most urgent first: its word of attention, its id and "
        "display name, the last outcome in its history (when, trigger, reason), what Graph "
        "holds, the newest usable Key Vault version (and a pinned one) and days to expiry. "
        "--json keeps configuration order and adds displayName, lastOutcome and attention to "
        "every target. Changes nothing.",
        epilog=_STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "--html",
        metavar="FILE",
        help="also write the status page to FILE: one self-contained HTML file (per connector "
        "the Key Vault versions' validity on a timeline, what Graph holds, the last rotations)",
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
        help="show the rotation history of every target (or of one) from the state store",
        description="The last rotations as the state store keeps them: time, trigger, outcome, "
        "Key Vault version, thumbprint, reason and who asked. Without --connector or --key-set: "
        "every configured target's history in one list, newest first, each line naming its "
        "target (and the connector's display name when Graph answers within a few seconds; the "
        "history prints without Graph). With one: that target's history, applied version and "
        "pin. Never a secret.",
        epilog="exit codes: 0 the history was read; 1 a target's record could not be read;\n"
        "            2 usage or configuration error (an unknown id lists the known ones).\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = history.add_mutually_exclusive_group()
    which.add_argument("--connector", metavar="ID", help="only this connector")
    which.add_argument("--key-set", metavar="NAME", help="or only this B2C policy key set")
    history.add_argument(
        "--limit",
        type=parse_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N lines, the newest (default: {DEFAULT_LIMIT})",
    )
    history.add_argument(
        "--since",
        type=parse_since,
        metavar="DATE",
        help="only lines from DATE on: an ISO date (2026-12-01, midnight UTC) or datetime "
        "(2026-12-01T08:00:00Z; UTC when no zone is given)",
    )
    history.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    unpin = sub.add_parser(
        "unpin",
        parents=[common],
        help="clear a rollback pin so the next run returns to the newest version",
        description="A `rotate --version` rollback pins the connector to that version: later runs "
        "keep it until it is unpinned here or a newer version is added to Key Vault.",
    )
    pinned = unpin.add_mutually_exclusive_group(required=True)
    pinned.add_argument("--connector", metavar="ID", help="the pinned connector")
    pinned.add_argument("--key-set", metavar="NAME", help="or the pinned B2C policy key set")

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
        "a shell (or writes them to --env-file, and to --local-settings for the Functions "
        "host) so that `rotator rotate` and the local Function talk to it.",
    )
    emulator.add_argument(
        "--workdir", help="directory for the emulator's CA certificate (default: a temp dir)"
    )
    emulator.add_argument(
        "--seed",
        choices=["demo"],
        help="start with data: `demo` seeds the demo's vault, connectors, B2C policy keys and "
        "their API, and prints ROTATOR_CONFIG (connectors and policyKeys) with the other export "
        "lines",
    )
    emulator.add_argument(
        "--env-file",
        metavar="PATH",
        help="also write the export lines to PATH (mode 0600) for `source PATH`; refused while "
        "the emulator that wrote PATH still runs",
    )
    emulator.add_argument(
        "--local-settings",
        metavar="PATH",
        help="also write the same settings as local.settings.json for the Azure Functions host "
        "(mode 0600; ROTATOR_STATE_DIR shared with the CLI); refused while the emulator that "
        "wrote PATH still runs, or when rotator emulator did not write it",
    )
    emulator.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="first of six consecutive ports (graph, vault, identity, control, entra, api), "
        "1 to 65530; 0 (the default): any free ones",
    )
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed arguments; a mistake exits 2 with the usage of the command it was made in."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (``rotate``, ``status``...) inside ``parser``."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            chosen: argparse.ArgumentParser = action.choices[command]
            return chosen
    return parser
