"""Helper of the azd hooks and the deploy workflow: azd environment values → Bicep parameter
values, and the deployed status check → a short summary.

    python3 infra/hooks/deploy_helper.py rotator-config FILE
        FILE (ROTATOR_CONFIG_FILE) validated with rotator's own parser, printed as one line
        of JSON for ``azd env set ROTATOR_CONFIG_JSON`` (infra/main.parameters.json hands it
        to the object parameter rotatorConfig; azd 1.23.4 or later parses it, Azure/azure-dev#6694).
    python3 infra/hooks/deploy_helper.py alert-emails "a@contoso.example, b@contoso.example"
        The addresses as a JSON array, for the array parameter alertEmails.
    python3 infra/hooks/deploy_helper.py status-summary < body.json
        The JSON of ``GET /api/status?check=true`` as a few lines; exit 1 unless it says ok.
    python3 infra/hooks/deploy_helper.py parameters infra/main.parameters.json
        The parameters file with azd's ``${NAME}`` / ``${NAME=default}`` filled in from this
        process's environment and each value typed as main.bicep declares it (bool, int,
        object and array from their text), for ``az deployment group what-if|create`` in CI:
        one parameters file serves azd and the workflow. An empty value of a parameter that
        has a default is left out (the template's default applies); of one without, an error.

Exit 0 with the value on stdout, or 1 (2 for a wrong command line) with one line on stderr.
Everything printed is escaped: the config file and the remote answer are not trusted. Only the
standard library and rotator's pure configuration package are used, so the hooks need no venv.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MAX_CONFIG_BYTES = 1024 * 1024  # as rotator.config.targets.MAX_CONFIG_BYTES
MAX_ANSWER_BYTES = 4 * 1024 * 1024
EMAIL = re.compile(r"^[^@\s\"'<>,;()\\]+@[^@\s\"'<>,;()\\]+\.[^@\s\"'<>,;()\\]+$")
# azd environment variables that become the Graph settings of the app (main.parameters.json),
# so that the config is checked against the same Graph identity the Function will use.
GRAPH_SETTINGS = {
    "GRAPH_CREDENTIAL": "ROTATOR_GRAPH_CREDENTIAL",
    "GRAPH_TENANT_ID": "ROTATOR_GRAPH_TENANT_ID",
    "GRAPH_CLIENT_ID": "ROTATOR_GRAPH_CLIENT_ID",
    "GRAPH_CLIENT_CERTIFICATE": "ROTATOR_GRAPH_CLIENT_CERTIFICATE",
    "GRAPH_CLIENT_SECRET_NAME": "ROTATOR_GRAPH_CLIENT_SECRET",
    "GRAPH_KEY_VAULT_URL": "ROTATOR_GRAPH_KEYVAULT_URL",
}


PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}")
PARAM = re.compile(r"^param\s+(\w+)\s+(\w+)(\s*=)?", re.MULTILINE)
MAIN_BICEP = REPO / "infra" / "main.bicep"


class HookError(Exception):
    """What is wrong, in one line, for the person running azd."""


def safe(text: str, limit: int = 300) -> str:
    """``text`` with every control character escaped, cut to ``limit`` characters."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "…"


def rotator_config(path_text: str, environ: dict[str, str]) -> str:
    """The targets document in FILE as one line of JSON, after rotator's own validation."""
    path = Path(path_text).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HookError(
            f"ROTATOR_CONFIG_FILE: cannot read {safe(str(path))}: {exc.strerror or exc}"
        ) from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise HookError(f"ROTATOR_CONFIG_FILE: {safe(str(path))} is larger than 1 MiB")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HookError(
            f"ROTATOR_CONFIG_FILE: {safe(str(path))} is not JSON: {safe(str(exc))}"
        ) from exc
    if not isinstance(document, dict):
        raise HookError(f"ROTATOR_CONFIG_FILE: {safe(str(path))} must hold a JSON object")
    _validate_with_rotator(path, environ)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True)


def _validate_with_rotator(path: Path, environ: dict[str, str]) -> None:
    """rotator's own parser, as the Function will run it (Python 3.11+; else a warning)."""
    sys.path.insert(0, str(REPO))
    try:
        from rotator.config.settings import Settings
        from rotator.errors import ConfigurationError
    except (ImportError, SyntaxError):
        print(
            "preprovision: warning: ROTATOR_CONFIG_FILE checked as JSON only (rotator's parser "
            "needs Python 3.11+); the Function refuses a bad one at its first run",
            file=sys.stderr,
        )
        return
    finally:
        sys.path.remove(str(REPO))
    env = {"ROTATOR_CONFIG": str(path)}
    env.update({name: environ[key] for key, name in GRAPH_SETTINGS.items() if environ.get(key)})
    try:
        Settings.from_env(env)
    except ConfigurationError as exc:
        raise HookError(f"ROTATOR_CONFIG_FILE: {safe(str(exc), 600)}") from exc


def alert_emails(text: str) -> str:
    """Comma-, semicolon- or space-separated addresses → a JSON array (at least one)."""
    addresses = [a for a in re.split(r"[,;\s]+", text) if a]
    if not addresses:
        raise HookError("ALERT_EMAILS: give at least one e-mail address (comma-separated)")
    for address in addresses:
        if len(address) > 254 or not EMAIL.match(address):
            raise HookError(f"ALERT_EMAILS: {safe(address, 80)!r} is not an e-mail address")
    return json.dumps(addresses)


def status_summary(body: bytes) -> tuple[bool, list[str]]:
    """``GET /api/status?check=true`` → (ok, lines): every failing check with its fix."""
    if len(body) > MAX_ANSWER_BYTES:
        raise HookError("status check: the answer is larger than 4 MiB")
    try:
        report = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HookError(f"status check: the answer is not JSON: {safe(repr(body[:120]))}") from None
    if not isinstance(report, dict) or not isinstance(report.get("ok"), bool):
        error = report.get("error") if isinstance(report, dict) else None
        if isinstance(error, dict):
            raise HookError(f"status check: {safe(str(error.get('message', error)))}")
        raise HookError("status check: the answer has no 'ok': not rotator's check report")
    ok: bool = report["ok"]
    lines = [f"status check: {'ok' if ok else 'NOT OK'} (checked at {_field(report, 'checkedAt')})"]
    graph = report["graph"] if isinstance(report.get("graph"), dict) else {}
    lines += _findings("Graph", graph.get("findings"))
    for identity in _objects(report.get("identities")):
        if identity.get("ok") is not True:
            lines += _findings(f"identity {_field(identity, 'name')}", identity.get("findings"))
    for target in _objects(report.get("targets")):
        name = target.get("connectorId") or target.get("keySet")
        state = "ok" if target.get("ok") is True else "NOT OK"
        lines.append(
            f"  {safe(str(name), 80)}: {state}, {_field(target, 'plan')}"
            f" ({_field(target, 'planDetail')})"
        )
        lines += _findings("   ", target.get("findings"))
    return ok, lines


def parameters(path_text: str, environ: dict[str, str], bicep: Path = MAIN_BICEP) -> str:
    """The ARM parameters file at PATH with its placeholders filled and values typed."""
    declared = {
        name: (kind, bool(default)) for name, kind, default in PARAM.findall(bicep.read_text())
    }
    try:
        document = json.loads(Path(path_text).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HookError(f"parameters: cannot read {safe(path_text)}: {safe(str(exc))}") from exc
    rendered: dict[str, Any] = {}
    for name, entry in document.get("parameters", {}).items():
        if name not in declared:
            raise HookError(f"parameters: {safe(name)} is not a parameter of main.bicep")
        kind, has_default = declared[name]
        value = _fill(entry.get("value"), environ)
        if value == "":
            if not has_default:
                found = PLACEHOLDER.findall(json.dumps(entry))
                variable = found[0][0] if found else name
                raise HookError(f"parameters: {name} is required: set {variable}")
            continue
        rendered[name] = {"value": _typed(name, kind, value)}
    return json.dumps({**document, "parameters": rendered}, indent=2)


def _fill(value: Any, environ: dict[str, str]) -> Any:
    """azd's substitution: ``${NAME}`` → its value or ""; ``${NAME=default}`` → default if unset."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {key: _fill(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, environ) for item in value]
    return value


def _typed(name: str, kind: str, value: Any) -> Any:
    if not isinstance(value, str) or kind == "string":
        return value
    try:
        if kind == "bool" and value in ("true", "false"):
            return value == "true"
        if kind == "int":
            return int(value)
        if kind in ("object", "array"):
            parsed = json.loads(value)
            if isinstance(parsed, dict if kind == "object" else list):
                return parsed
    except ValueError:
        pass
    raise HookError(f"parameters: {name} must be {kind}, got {safe(value, 80)!r}")


def _findings(where: str, findings: Any) -> list[str]:
    out = []
    for finding in _objects(findings):
        if finding.get("ok") is False:
            fix = f" → {_field(finding, 'fix')}" if finding.get("fix") else ""
            out.append(
                f"  {where.strip() or '-'} {_field(finding, 'check')}: "
                f"{_field(finding, 'detail')}{fix}"
            )
    return out


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _field(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    return "-" if value is None else safe(str(value), 200)


def main(argv: list[str]) -> int:
    commands = ("rotator-config", "alert-emails", "status-summary", "parameters")
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[1] == "rotator-config" and len(argv) == 3:
            print(rotator_config(argv[2], dict(os.environ)))
        elif argv[1] == "alert-emails" and len(argv) == 3:
            print(alert_emails(argv[2]))
        elif argv[1] == "parameters" and len(argv) == 3:
            print(parameters(argv[2], dict(os.environ)))
        elif argv[1] == "status-summary" and len(argv) == 2:
            ok, lines = status_summary(sys.stdin.buffer.read())
            print("\n".join(lines))
            return 0 if ok else 1
        else:
            print(f"deploy_helper: wrong arguments for {argv[1]} (see the usage)", file=sys.stderr)
            return 2
    except HookError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
