"""`azd up` and the deploy workflow, checked without Azure (issue 22): azure.yaml has what azd
needs, infra/main.parameters.json names only main.bicep's parameters, the hooks do what their
headers say against stand-ins for azd, az and curl, and the workflow lint catches what it should.

The parameter names test is strict: it fails until the parameters the infrastructure branch adds
(vnetEnabled, eventDelivery, pythonVersion) are in main.bicep, i.e. once both branches are merged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.infra import workflow_lint

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "infra" / "hooks"
MAIN_BICEP = REPO / "infra" / "main.bicep"
PARAMETERS = REPO / "infra" / "main.parameters.json"
WORKFLOW = REPO / ".github" / "workflows" / "deploy.yml"
PARAM = re.compile(r"^param\s+(\w+)\s+(\w+)(\s*=)?", re.MULTILINE)
CONTRACT = ("vnetEnabled", "eventDelivery", "pythonVersion")  # added by the infra branch
SAMPLE_CONFIG = {
    "keyVaultUrl": "https://contoso-kv.vault.azure.net",
    "connectors": [
        {"id": "signup-validation-api", "certificate": "signup-validation-client"},
        {
            "id": "claims-enrichment-api",
            "basic": {"username": "b2c", "passwordSecret": "claims-password"},
        },
    ],
}


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_helper", HOOKS / "deploy_helper.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helper = _helper()


def bicep_parameters(text: str | None = None) -> dict[str, bool]:
    """main.bicep's parameters → whether each has a default."""
    source = MAIN_BICEP.read_text(encoding="utf-8") if text is None else text
    return {name: bool(default) for name, _kind, default in PARAM.findall(source)}


# -- azure.yaml --------------------------------------------------------------------------------


def test_azure_yaml_has_what_azd_needs_for_a_flex_consumption_python_app() -> None:
    """One service: host function, language python, the project root, found by its name."""
    project = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", project["name"])
    (service,) = project["services"].values()
    assert {k: service[k] for k in ("project", "language", "host", "remoteBuild")} == {
        "project": ".",
        "language": "python",
        "host": "function",
        "remoteBuild": True,
    }
    assert service["resourceName"] == "${functionAppName}"
    assert "output functionAppName string" in MAIN_BICEP.read_text(encoding="utf-8")
    assert project["requiredVersions"]["azd"] == ">= 1.23.4"


def test_azure_yaml_hooks_point_at_executable_posix_scripts() -> None:
    """preprovision and postdeploy run the hooks under infra/hooks with sh."""
    hooks = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))["hooks"]
    assert set(hooks) == {"preprovision", "postdeploy"}
    for hook in hooks.values():
        script = REPO / hook["posix"]["run"]
        assert hook["posix"]["shell"] == "sh"
        assert script.is_file()
        assert script.stat().st_mode & stat.S_IXUSR


def test_the_package_leaves_out_the_deploy_files_and_azd_state() -> None:
    """.funcignore keeps infra/, azure.yaml and .azure (azd's environments) out of the app."""
    ignored = (REPO / ".funcignore").read_text(encoding="utf-8").split()
    assert {"infra", "azure.yaml", ".azure"} <= set(ignored)
    assert ".azure" in (REPO / ".gitignore").read_text(encoding="utf-8").split()


# -- infra/main.parameters.json --------------------------------------------------------------


def test_parameters_file_names_only_parameters_of_main_bicep() -> None:
    """Every parameter the file sets is declared in main.bicep (strict: passes once the
    infrastructure branch's vnetEnabled, eventDelivery and pythonVersion are merged)."""
    given = set(json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"])
    assert set(CONTRACT) <= given
    assert sorted(given - set(bicep_parameters())) == []


def test_parameters_file_gives_every_required_parameter() -> None:
    """A parameter of main.bicep without a default is fed from the azd environment."""
    given = set(json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"])
    required = {name for name, has_default in bicep_parameters().items() if not has_default}
    assert required <= given


def test_parameters_come_from_the_azd_environment_with_defaults() -> None:
    """The location and environment name are azd's own; optional switches have defaults."""
    values = {
        name: entry["value"]
        for name, entry in json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"].items()
    }
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["tags"] == {"azd-env-name": "${AZURE_ENV_NAME}"}
    assert values["vnetEnabled"] == "${VNET_ENABLED=false}"
    assert values["eventDelivery"] == "${EVENT_DELIVERY=functionWebhook}"
    assert values["pythonVersion"] == "${PYTHON_VERSION=3.11}"
    assert values["rotatorConfig"] == "${ROTATOR_CONFIG_JSON}"  # set by the preprovision hook


def _bicep_with_contract(tmp_path: Path) -> Path:
    """main.bicep plus the infrastructure branch's parameters where they are still missing."""
    text = MAIN_BICEP.read_text(encoding="utf-8")
    extra = {
        "vnetEnabled": "param vnetEnabled bool = false",
        "eventDelivery": "param eventDelivery string = 'functionWebhook'",
        "pythonVersion": "param pythonVersion string = '3.11'",
    }
    text += "\n" + "\n".join(v for k, v in extra.items() if k not in bicep_parameters(text))
    path = tmp_path / "main.bicep"
    path.write_text(text, encoding="utf-8")
    return path


def test_workflow_renders_the_parameters_file_typed_as_main_bicep_declares(
    tmp_path: Path,
) -> None:
    """CI fills the azd placeholders as azd does: bool, array and object typed, defaults used."""
    env = {
        "KEY_VAULT_NAME": "contoso-kv",
        "KEY_VAULT_RESOURCE_GROUP": "rg-secrets",
        "ALERT_EMAILS_JSON": '["oncall@contoso.example"]',
        "ROTATOR_CONFIG_JSON": json.dumps(SAMPLE_CONFIG),
        "AZURE_ENV_NAME": "prod",
        "VNET_ENABLED": "true",
    }
    rendered = json.loads(
        helper.parameters(str(PARAMETERS), env, bicep=_bicep_with_contract(tmp_path))
    )["parameters"]
    assert rendered["vnetEnabled"] == {"value": True}
    assert rendered["deployEventSubscription"] == {"value": False}
    assert rendered["alertEmails"] == {"value": ["oncall@contoso.example"]}
    assert rendered["rotatorConfig"] == {"value": SAMPLE_CONFIG}
    assert rendered["eventDelivery"] == {"value": "functionWebhook"}
    assert rendered["tags"] == {"value": {"azd-env-name": "prod"}}
    assert "location" not in rendered  # unset, and main.bicep has a default
    assert "graphTenantId" not in rendered  # empty: the template's default applies


def test_rendering_refuses_a_missing_required_value_and_a_wrong_type(tmp_path: Path) -> None:
    """Unset KEY_VAULT_NAME is named; a bool that is not true/false is refused."""
    bicep = _bicep_with_contract(tmp_path)
    base = {"ALERT_EMAILS_JSON": "[]", "ROTATOR_CONFIG_JSON": "{}"}
    with pytest.raises(helper.HookError, match="keyVaultName is required: set KEY_VAULT_NAME"):
        helper.parameters(str(PARAMETERS), base, bicep=bicep)
    with pytest.raises(helper.HookError, match="vnetEnabled must be bool, got 'yes'"):
        helper.parameters(
            str(PARAMETERS), {**base, "KEY_VAULT_NAME": "kv", "VNET_ENABLED": "yes"}, bicep=bicep
        )


# -- the hooks, against stand-ins for azd, az and curl -----------------------------------------

STUB_AZD = """#!/bin/sh
printf 'azd %s\\n' "$*" >>"$STUB_LOG"
exit "${STUB_AZD_EXIT:-0}"
"""
STUB_AZ = """#!/bin/sh
printf 'az %s\\n' "$*" >>"$STUB_LOG"
case "$*" in
    *"functionapp show"*) echo app1.azurewebsites.net ;;
    *"functionapp keys list"*) echo not-a-real-key-1234 ;;
esac
"""
STUB_CURL = """#!/bin/sh
printf 'curl %s\\n' "$*" >>"$STUB_LOG"
cat >>"$STUB_LOG.stdin"
out=
while [ $# -gt 0 ]; do
    [ "$1" = --output ] && out=$2
    shift
done
cp "$STUB_BODY" "$out"
printf '%s' "${STUB_CODE:-200}"
exit "${STUB_CURL_EXIT:-0}"
"""


@pytest.fixture
def stubs(tmp_path: Path) -> dict[str, str]:
    """A PATH whose azd, az and curl record their arguments (and curl its stdin) in a log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("azd", STUB_AZD), ("az", STUB_AZ), ("curl", STUB_CURL)):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"ok": True, "checkedAt": "2026-12-03T10:00:00Z"}), "utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS",)}
    return {
        **env,
        "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
        "STUB_LOG": str(tmp_path / "log"),
        "STUB_BODY": str(body),
        "AZURE_RESOURCE_GROUP": "rg-rotator",
    }


def run_hook(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOOKS / name), *args], env=env, capture_output=True, text=True, timeout=60
    )


def log(env: dict[str, str]) -> list[str]:
    path = Path(env["STUB_LOG"])
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_preprovision_validates_the_config_file_and_sets_the_parameters(
    stubs: dict[str, str], tmp_path: Path
) -> None:
    """A valid ROTATOR_CONFIG_FILE becomes ROTATOR_CONFIG_JSON (one line), the addresses a JSON
    array, and the vault's resource group defaults to the deployment's."""
    config = tmp_path / "rotator-config.json"
    config.write_text(json.dumps(SAMPLE_CONFIG, indent=2), encoding="utf-8")
    env = {
        **stubs,
        "KEY_VAULT_NAME": "contoso-kv",
        "ALERT_EMAILS": "oncall@contoso.example, security@contoso.example",
        "ROTATOR_CONFIG_FILE": str(config),
    }
    result = run_hook("preprovision.sh", env)
    assert result.returncode == 0, result.stderr
    compact = json.dumps(SAMPLE_CONFIG, separators=(",", ":"))
    assert log(env) == [
        f"azd env set ROTATOR_CONFIG_JSON {compact}",
        'azd env set ALERT_EMAILS_JSON ["oncall@contoso.example", "security@contoso.example"]',
        "azd env set KEY_VAULT_RESOURCE_GROUP rg-rotator",
    ]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"connectors": [{"id": "has space", "certificate": "c"}]}, "is not a connector id"),
        ({"connectors": "all"}, "ROTATOR_CONFIG"),
        ({"keyVaultUrl": "http://kv.vault.azure.net"}, "https"),
    ],
)
def test_preprovision_refuses_a_config_rotator_would_refuse(
    stubs: dict[str, str], tmp_path: Path, change: dict[str, Any], says: str
) -> None:
    """rotator's own parser decides; the error is one line and nothing is set."""
    config = tmp_path / "rotator-config.json"
    config.write_text(json.dumps({**SAMPLE_CONFIG, **change}), encoding="utf-8")
    env = {
        **stubs,
        "KEY_VAULT_NAME": "kv",
        "ALERT_EMAILS": "a@contoso.example",
        "ROTATOR_CONFIG_FILE": str(config),
    }
    result = run_hook("preprovision.sh", env)
    assert result.returncode == 1
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert log(env) == []


def test_preprovision_names_a_missing_variable(stubs: dict[str, str]) -> None:
    """Without ROTATOR_CONFIG_FILE the hook stops and says how to set it."""
    env = {**stubs, "KEY_VAULT_NAME": "kv", "ALERT_EMAILS": "a@contoso.example"}
    env.pop("ROTATOR_CONFIG_FILE", None)
    result = run_hook("preprovision.sh", env)
    assert result.returncode == 1
    assert "ROTATOR_CONFIG_FILE is not set: azd env set ROTATOR_CONFIG_FILE" in result.stderr


def test_alert_addresses_must_be_addresses() -> None:
    """A list with something that is not an address is refused, escaped."""
    with pytest.raises(helper.HookError, match="is not an e-mail address"):
        helper.alert_emails("oncall@contoso.example, \x1b[31mnope")


def test_postdeploy_creates_the_subscription_then_checks_the_app(stubs: dict[str, str]) -> None:
    """First deployment: wake the app, provision again with the subscription, then the status
    check; the function key goes to curl on stdin, never on a command line."""
    env = {**stubs, "functionAppName": "app1"}
    result = run_hook("postdeploy.sh", env)
    assert result.returncode == 0, result.stderr
    calls = log(env)
    curls = [c for c in calls if c.startswith("curl ")]
    assert curls[0].endswith("https://app1.azurewebsites.net/api/status")
    assert curls[-1].endswith("https://app1.azurewebsites.net/api/status?check=true")
    assert calls.index("azd env set DEPLOY_EVENT_SUBSCRIPTION true") < calls.index(
        "azd provision --no-prompt"
    )
    assert calls.index("azd provision --no-prompt") < calls.index(curls[-1])
    assert not any("not-a-real-key-1234" in c for c in calls)
    stdin = Path(env["STUB_LOG"] + ".stdin").read_text(encoding="utf-8")
    assert "x-functions-key: not-a-real-key-1234" in stdin
    assert "status check: ok" in result.stdout


def test_postdeploy_later_deployments_only_check(stubs: dict[str, str]) -> None:
    """Once DEPLOY_EVENT_SUBSCRIPTION is true, the hook provisions nothing."""
    env = {**stubs, "functionAppName": "app1", "DEPLOY_EVENT_SUBSCRIPTION": "true"}
    result = run_hook("postdeploy.sh", env)
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith("azd ") for c in log(env))


def test_status_check_fails_on_a_failing_report_and_escapes_it(stubs: dict[str, str]) -> None:
    """A report that is not ok fails the check, lists each failing finding with its fix, and
    cannot rewrite the terminal."""
    report = {
        "ok": False,
        "checkedAt": "2026-12-03T10:00:00Z",
        "graph": {"findings": [{"check": "graph.permission", "ok": True, "detail": "fine"}]},
        "targets": [
            {
                "connectorId": "signup-api",
                "ok": False,
                "plan": "refuse",
                "planDetail": "no usable version",
                "findings": [
                    {
                        "check": "keyvault.value",
                        "ok": False,
                        "detail": "forbidden\x1b[2K",
                        "fix": "grant Key Vault Secrets User",
                    }
                ],
            }
        ],
    }
    Path(stubs["STUB_BODY"]).write_text(json.dumps(report), encoding="utf-8")
    result = run_hook("status-check.sh", stubs, "rg-rotator", "app1")
    assert result.returncode == 1
    assert "status check: NOT OK" in result.stdout
    assert "signup-api: NOT OK, refuse (no usable version)" in result.stdout
    assert "keyvault.value: forbidden\\x1b[2K → grant Key Vault Secrets User" in result.stdout
    assert "\x1b" not in result.stdout


def test_status_check_reports_a_configuration_error_of_the_app(stubs: dict[str, str]) -> None:
    """A 500 with rotator's error body fails with its message."""
    body = {"error": {"code": "configurationError", "message": "ROTATOR_CONFIG is not set"}}
    Path(stubs["STUB_BODY"]).write_text(json.dumps(body), encoding="utf-8")
    result = run_hook("status-check.sh", {**stubs, "STUB_CODE": "500"}, "rg-rotator", "app1")
    assert result.returncode == 1
    assert "status check: ROTATOR_CONFIG is not set" in result.stderr


def test_status_check_retries_while_the_host_does_not_answer(stubs: dict[str, str]) -> None:
    """No answer at all (curl fails, 000) is tried again, then reported with the count."""
    env = {
        **stubs,
        "STUB_CODE": "000",
        "STUB_CURL_EXIT": "7",
        "STATUS_CHECK_TRIES": "3",
        "STATUS_CHECK_WAIT": "0",
    }
    result = run_hook("status-check.sh", env, "rg-rotator", "app1")
    assert result.returncode == 1
    assert "still answers HTTP 000 after 3 tries" in result.stderr
    assert len([c for c in log(env) if c.startswith("curl ")]) == 3


def test_status_check_stops_on_an_answer_it_cannot_use(stubs: dict[str, str]) -> None:
    """A 401 (wrong key) ends the check at once with the status."""
    result = run_hook("status-check.sh", {**stubs, "STUB_CODE": "401"}, "rg-rotator", "app1")
    assert result.returncode == 1
    assert "answered HTTP 401" in result.stderr


# -- hooks and workflow lint -------------------------------------------------------------------


@pytest.mark.parametrize("hook", sorted(p.name for p in HOOKS.glob("*.sh")))
def test_hook_parses_and_passes_shellcheck(hook: str) -> None:
    """sh -n, bash -n and shellcheck find nothing in each hook."""
    path = HOOKS / hook
    for shell in ("sh", "bash"):
        subprocess.run([shell, "-n", str(path)], check=True)
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    result = subprocess.run([shellcheck, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_deploy_workflow_passes_the_lint() -> None:
    """The workflow as committed: OIDC permissions, known inputs, clean run: scripts."""
    assert workflow_lint.lint(WORKFLOW) == []


def test_deploy_workflow_uses_oidc_what_if_and_flex_deploy() -> None:
    """Pull requests get what-if; main deploys with functions-action (Flex, remote build)."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    what_if, deploy = workflow["jobs"]["what-if"], workflow["jobs"]["deploy"]
    assert "pull_request" in what_if["if"]
    assert any("az deployment group what-if" in s.get("run", "") for s in what_if["steps"])
    (publish,) = [s for s in deploy["steps"] if s.get("uses", "").startswith("Azure/functions")]
    assert publish["with"]["sku"] == "flexconsumption"
    assert publish["with"]["remote-build"] is True
    logins = [
        s for job in (what_if, deploy) for s in job["steps"] if "azure/login" in s.get("uses", "")
    ]
    assert all(set(s["with"]) == {"client-id", "tenant-id", "subscription-id"} for s in logins)
    assert any("status-check.sh" in s.get("run", "") for s in deploy["steps"])


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda t: t.replace("id-token: write", "id-token: read"), "id-token: write"),
        (lambda t: t.replace("remote-build: true", "remote-bild: true"), "no input 'remote-bild'"),
        (
            lambda t: t.replace("app-name: ${{ steps.infra.outputs.app }}", "package2: x"),
            "needs input 'app-name'",
        ),
        (
            lambda t: t.replace("azure/login@v2", "azure/login@v1"),
            "azure/login@v1 is not an action",
        ),
        (
            lambda t: t.replace("steps.state.outputs.live }}", "steps.stat.outputs.live }}"),
            "no earlier step",
        ),
        (
            lambda t: t.replace('"$AZURE_RESOURCE_GROUP" \\', "$AZURE_RESOURCE_GROUP \\", 1),
            "SC2086",
        ),
    ],
)
def test_workflow_lint_catches(tmp_path: Path, edit: Any, says: str) -> None:
    """Each kind of mistake the lint claims to find, it finds."""
    broken = tmp_path / "deploy.yml"
    broken.write_text(edit(WORKFLOW.read_text(encoding="utf-8")), encoding="utf-8")
    assert any(says in problem for problem in workflow_lint.lint(broken))
