"""The operator's command line: ``rotator rotate | status | check | history | unpin | demo |
emulator`` (the arguments are in ``cli_parser.py``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from rotator.errors import ConfigurationError, RotatorError
from rotator.faces import requester
from rotator.faces.cli_parser import (
    EXIT_USAGE,
    UsageError,
    build_parser,
    command_parser,
    parse,
    report_usage_error,
)
from rotator.faces.render import (
    history_to_json,
    render_check,
    render_fleet_history,
    render_history,
    render_report,
    render_status,
)
from rotator.model import RotationRequest
from rotator.text import printable

EXIT_OK, EXIT_FAILED = 0, 1
__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rotator`` console script; returns the exit code."""
    args = parse(argv)
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
            from rotator.faces.demo import run_demo

            return run_demo(sys.stdout)
        if args.command == "emulator":
            from rotator.faces.emulator_files import SettingsFileError
            from rotator.faces.serve import PortError, serve_emulator

            try:
                return serve_emulator(
                    workdir=args.workdir,
                    port=args.port,
                    seed=args.seed,
                    env_file=Path(args.env_file) if args.env_file else None,
                    local_settings_file=Path(args.local_settings) if args.local_settings else None,
                    out=sys.stdout,
                )
            except (PortError, SettingsFileError) as exc:  # one line: no usage, no traceback
                print(f"rotator emulator: {exc}", file=sys.stderr)
                return EXIT_USAGE
    except UsageError as exc:
        return report_usage_error(command_parser(build_parser(), exc.command), str(exc))
    except ConfigurationError as exc:
        print(f"rotator: configuration error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except RotatorError as exc:
        print(f"rotator: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("rotator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rotator status --json | head`: the reader left; nothing to add
        _silence_stdout()
        return EXIT_FAILED
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again on the
    closed pipe (the recipe of Python's ``signal`` documentation, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _rotate(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.config.settings import Settings
    from rotator.config.targets import check_key_vault_version
    from rotator.rotation import Rotator

    request = RotationRequest(
        connector_ids=tuple(args.connector),
        force=args.force,
        dry_run=args.dry_run,
        version=args.version,
        reason=args.reason,
        trigger="cli",
        requested_by=operator(),
        skip_probe=args.skip_probe,
        key_sets=tuple(args.key_set),
    )
    if request.version and len(request.connector_ids) + len(request.key_sets) != 1:
        raise UsageError("rotate", "--version needs exactly one --connector (or one --key-set)")
    if request.version:
        check_key_vault_version(request.version, "--version")
    if request.force and not request.reason:
        raise UsageError("rotate", "--force needs --reason TEXT (it goes into the history)")
    if request.skip_probe and not request.force:
        raise UsageError("rotate", "--skip-probe needs --force and --reason (an emergency)")
    settings = Settings.from_env()
    with Rotator.from_settings(settings) as rotator:
        # requestedBy: the caller Graph sees (from the token the run holds), else the OS user
        report = rotator.rotate(replace(request, requester=requester.from_tokens(rotator)))
    if args.json:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_report(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def _unpin(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.config.settings import Settings
    from rotator.rotation import Rotator

    name = args.connector or f"key set {args.key_set}"
    with Rotator.from_settings(Settings.from_env()) as rotator:
        old = rotator.unpin(args.connector, requested_by=operator(), key_set=args.key_set)
    if old is None:
        out.write(printable(f"{name} was not pinned") + "\n")
    else:
        out.write(
            printable(
                f"{name}: unpinned from version {old.version} (pinned {old.pinned_at}); "
                "the next run installs the newest usable version"
            )
            + "\n"
        )
    return EXIT_OK


def _history(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.config.settings import Settings
    from rotator.faces import history
    from rotator.rotation import Rotator

    with Rotator.from_settings(Settings.from_env()) as rotator:
        if args.connector is None and args.key_set is None:
            fleet = history.gather(rotator, since=args.since, limit=args.limit)
            out.write(
                json.dumps(fleet.to_json(), indent=2) + "\n"
                if args.json
                else render_fleet_history(fleet)
            )
            return EXIT_FAILED if fleet.errors else EXIT_OK
        target = history.configured(rotator, args.connector, args.key_set)
        record = rotator.history(args.connector, key_set=args.key_set)
        display = history.display_name(rotator, target)
    lines = history.newest_first(record.history, since=args.since, limit=args.limit)
    record = replace(record, history=tuple(reversed(lines)))  # as stored: oldest first
    name = args.connector or args.key_set
    if args.json:
        document = history_to_json(name, record, key_set=args.key_set, display_name=display)
        json.dump(document, out, indent=2)
        out.write("\n")
        return EXIT_OK
    label = args.connector or f"key set {args.key_set}"
    out.write(render_history(label, record, None if args.key_set else display))
    return EXIT_OK


def _status(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.config.settings import Settings
    from rotator.rotation import Rotator

    settings = Settings.from_env()
    with Rotator.from_settings(settings) as rotator:
        if args.html:
            from rotator.faces.render_html import render_status_page
            from rotator.faces.status_page import gather

            page = gather(rotator, tuple(args.connector), key_sets=tuple(args.key_set))
            report = page.report
            _write_page(Path(args.html), render_status_page(page))
        else:
            report = rotator.status(tuple(args.connector), key_sets=tuple(args.key_set))
    if args.json:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(render_status(report))
    return EXIT_FAILED if report.needs_action else EXIT_OK


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from rotator.check.preflight import run_check
    from rotator.config.settings import Settings

    settings = Settings.from_env()
    identity_log = logging.getLogger("azure.identity")
    level = identity_log.level
    if args.verbose < 3:  # a refused token is in the report with its fix: no warning as well
        identity_log.setLevel(logging.ERROR)
    try:
        report = run_check(
            settings, connector_ids=tuple(args.connector), key_sets=tuple(args.key_set)
        )
    finally:
        identity_log.setLevel(level)
    out.write(json.dumps(report.to_json(), indent=2) + "\n" if args.json else render_check(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def operator() -> str | None:
    """Who runs this command: the OS user (``requestedBy`` of an unpin, and of a rotation whose
    Graph token names nobody)."""
    return requester.os_user()


def _write_page(path: Path, html: str) -> None:
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UsageError("status", f"--html {path}: {exc.strerror or exc}") from exc
    print(f"rotator: status page written to {path}", file=sys.stderr)


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
    # the Azure SDK's warnings repeat what the report says (with its fix): only with -v
    azure = {0: logging.CRITICAL + 1, 1: logging.WARNING, 2: logging.WARNING}
    logging.getLogger("azure").setLevel(azure.get(verbosity, logging.NOTSET))
