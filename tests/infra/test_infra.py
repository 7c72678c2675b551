"""infra/*.bicep, parsed with pycep-parser, against what the code defines and reads.

Rename a function, an event type, a setting or a log event in the code and one of these fails.
The deployment itself cannot be run here (no Azure, no Bicep compiler): scripts/check-infra lints
the same files with checkov.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import rotator.config.settings
from rotator.config.settings import Settings
from rotator.errors import ConfigurationError
from tests.infra import bicepmodel
from tests.infra.bicepmodel import BicepFile, RoleAssignment

REPO = bicepmodel.REPO
MAIN = "infra/main.bicep"
FUNCTION_APP = "infra/modules/function-app.bicep"
STORAGE = "infra/modules/storage.bicep"
KEYVAULT_ACCESS = "infra/modules/keyvault-access.bicep"
KEYVAULT_EVENTS = "infra/modules/keyvault-events.bicep"
ALERTS = "infra/modules/alerts.bicep"
MONITORING = "infra/modules/monitoring.bicep"
GRAPH = "infra/modules/graph-permission.bicep"
INFRA_README = REPO / "infra" / "README.md"

KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_CERTIFICATE_USER = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
VAULT = "Microsoft.KeyVault/vaults"
APPLICATION_INSIGHTS = "Microsoft.Insights/components"
STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
BLOB_CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
EVENT_SUBSCRIPTION = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
VAULT_SECRET = "Microsoft.KeyVault/vaults/secrets"
VAULT_CERTIFICATE = "Microsoft.KeyVault/vaults/certificates"
STORAGE_QUEUE = "Microsoft.Storage/storageAccounts/queueServices/queues"
STORAGE_QUEUE_DATA_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
API_CONNECTORS_READWRITE_ALL = "1dfe531a-24a6-4f1b-80f4-7a0dc5a0a171"

SETTINGS_A_DEPLOYMENT_MUST_GIVE = {"ROTATOR_CONFIG", "ROTATOR_SCHEDULE"}
_SETTING_NAME = re.compile(r"ROTATOR_[A-Z0-9_]+")

# Types whose resources take no `location` (every other resource created must have one): an
# extension resource lives at its scope, a child of a storage account or a system topic lives where
# its parent does, and Microsoft Graph objects are not Azure resources.
TYPES_WITHOUT_LOCATION = {
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    "Microsoft.Graph/appRoleAssignedTo",
    "Microsoft.Storage/storageAccounts/queueServices",
    "Microsoft.Storage/storageAccounts/queueServices/queues",
    "Microsoft.Insights/diagnosticSettings",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
}

# What a deployment hands the templates, for evaluating them (bicepmodel.evaluate).
APP_ID = "/subscriptions/0000/resourceGroups/rg-rotator/providers/Microsoft.Web/sites/rotator-app"
APP_HOST = "rotator-app.azurewebsites.net"
STORAGE_ACCOUNT_ID = "/subscriptions/0000/resourceGroups/rg-rotator/providers/Microsoft.Storage/storageAccounts/strotatorabc"
IDENTITY_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
STORAGE_ACCOUNT_NAME = "strotatorabc"
TARGETS = {
    "keyVaultUrl": "https://contoso-kv.vault.azure.net",
    "connectors": [{"id": "signup-api", "certificate": "signup-client"}],
}
# A valid value for every Graph identity parameter, so that each mode can be tried with all given.
GRAPH_IDENTITY_PARAMETERS = {
    "graphTenantId": "contosob2c.onmicrosoft.com",
    "graphClientId": "00000000-0000-0000-0000-000000000001",
    "graphClientCertificate": "rotator-graph-client",
    "graphClientSecretName": "rotator-graph-secret",
    "graphKeyVaultUrl": "https://contoso-graph-kv.vault.azure.net",
}


# Run a test once in Azure's public cloud and once in Azure Government (``environment``).
EVERY_CLOUD = pytest.mark.parametrize(
    "environment",
    [bicepmodel.PUBLIC_CLOUD, bicepmodel.US_GOVERNMENT_CLOUD],
    ids=["public", "usgov"],
)


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bicep() -> dict[str, BicepFile]:
    """Every Bicep file under infra/, parsed once for the module."""
    return bicepmodel.parse_all()


@pytest.fixture(scope="module")
def function_names() -> set[str]:
    """Names of the functions function_app.py defines, as the Functions host indexes them.

    ``app.get_functions()`` may be called only once per app object and other tests call it on the
    imported ``function_app``, so this loads a private copy of the module with its own app.
    """
    spec = importlib.util.spec_from_file_location(
        "_function_app_for_infra", REPO / "function_app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {f.get_function_name() for f in module.app.get_functions()}


def _code_files() -> list[Path]:
    return [*sorted((REPO / "rotator").rglob("*.py")), REPO / "function_app.py"]


def _string_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _code_setting_names() -> set[str]:
    return {
        name
        for path in _code_files()
        for literal in _string_literals(path)
        for name in _SETTING_NAME.findall(literal)
    }


def _bicep_setting_names(files: dict[str, BicepFile]) -> set[str]:
    names: set[str] = set()
    for file in files.values():
        for node in bicepmodel.walk(file.doc):
            if isinstance(node, dict):
                names |= {k for k in node if isinstance(k, str) and _SETTING_NAME.fullmatch(k)}
                name = node.get("name")
                if isinstance(name, str) and _SETTING_NAME.fullmatch(name):
                    names.add(name)
    return names


def _one(file: BicepFile, type_: str) -> dict[str, Any]:
    found = file.resources(type_)
    assert len(found) == 1, f"{file.name}: expected one {type_}, found {sorted(found)}"
    return bicepmodel.body(next(iter(found.values())))


def _module_call(files: dict[str, BicepFile], target: str) -> dict[str, Any]:
    """The declaration in main.bicep of the module whose file is ``target``."""
    main = files[MAIN]
    calls = [
        m
        for m in main.modules().values()
        if bicepmodel.module_file(main, m) == (REPO / target).resolve()
    ]
    assert len(calls) == 1, f"main.bicep should call {target} once, calls it {len(calls)} times"
    return calls[0]


def _module_argument(files: dict[str, BicepFile], target: str, param: str) -> Any:
    """What main.bicep passes to ``param`` of module ``target``, else the module's default."""
    passed = bicepmodel.module_params(_module_call(files, target))
    if param in passed:
        return files[MAIN].resolve(passed[param])
    return files[target].parameters()[param].get("default")


def _main_value(files: dict[str, BicepFile], value: Any, **parameters: Any) -> Any:
    """What ``value`` (a node of main.bicep) becomes with the required parameters and these."""
    given = {"keyVaultName": "contoso-kv", "rotatorConfig": TARGETS, **parameters}
    return bicepmodel.evaluate(files[MAIN], value, given)


def _event_subscription(
    files: dict[str, BicepFile], endpoint_type: str = "AzureFunction"
) -> dict[str, Any]:
    """The subscription's properties as deployed with ``endpointType`` for this app."""
    given = {
        "endpointType": endpoint_type,
        "functionAppId": APP_ID,
        "functionAppHostName": APP_HOST,
        "functionName": _module_argument(files, KEYVAULT_EVENTS, "functionName"),
        "storageAccountId": STORAGE_ACCOUNT_ID,
        "deadLetterContainerName": "eventgrid-deadletter",
    }
    subscription = _one(files[KEYVAULT_EVENTS], EVENT_SUBSCRIPTION)
    return dict(bicepmodel.evaluate(files[KEYVAULT_EVENTS], subscription["properties"], given))


def _destination(files: dict[str, BicepFile], endpoint_type: str) -> dict[str, Any]:
    """The subscription's destination as deployed with ``endpointType`` for this app."""
    return dict(_event_subscription(files, endpoint_type)["destination"])


def _host_settings(
    files: dict[str, BicepFile], environment: dict[str, Any] = bicepmodel.PUBLIC_CLOUD
) -> dict[str, str]:
    """The Functions host's app settings (function-app.bicep) in cloud ``environment``."""
    given = {"storageAccountName": STORAGE_ACCOUNT_NAME, "identityClientId": IDENTITY_CLIENT_ID}
    settings = bicepmodel.evaluate(files[FUNCTION_APP], "hostSettings", given, environment)
    return {s["name"]: s["value"] for s in settings}


def _rotator_settings(files: dict[str, BicepFile], **parameters: Any) -> dict[str, str]:
    """The ROTATOR_* app settings main.bicep hands the Function App for these parameters."""
    given = {"rotatorConfig": TARGETS, **parameters}
    passed = bicepmodel.module_params(_module_call(files, FUNCTION_APP))["rotatorSettings"]
    settings = bicepmodel.evaluate(files[MAIN], passed, given)
    return {name: str(value) for name, value in settings.items()}


def _setting_parameters(files: dict[str, BicepFile]) -> dict[str, str]:
    """App setting name to the main.bicep parameter that gives its value (directly or string())."""
    main = files[MAIN]
    found = {}
    for node in bicepmodel.walk(main.doc.get("variables")):
        if not isinstance(node, dict):
            continue
        for name, value in node.items():
            if isinstance(value, dict) and value.get("function", {}).get("type") == "string":
                value = value["function"]["parameters"]["value_to_convert"]
            if (
                isinstance(name, str)
                and _SETTING_NAME.fullmatch(name)
                and value in main.parameters()
            ):
                found[name] = str(value)
    return found


def _settings_the_code_reads() -> set[str]:
    """Every environment name in rotator/settings.py (ENV_*) and every ROTATOR_* the code reads."""
    declared = {
        value
        for name, value in vars(rotator.config.settings).items()
        if name.startswith("ENV_") and isinstance(value, str)
    }
    return declared | _code_setting_names()


def _settings_left_out_on_purpose() -> set[str]:
    """The settings infra/README.md lists under "Settings the template leaves out on purpose"."""
    text = INFRA_README.read_text(encoding="utf-8")
    section = text.split("### Settings the template leaves out on purpose", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", section, flags=re.MULTILINE))


def _app_settings(files: dict[str, BicepFile]) -> set[str]:
    """Every name the templates can set as an app setting, in any branch and any cloud."""
    names: set[str] = set()
    for node in bicepmodel.walk([f.doc for f in files.values()]):
        if isinstance(node, dict):
            names |= {k for k in node if isinstance(k, str)}
            if isinstance(node.get("name"), str):
                names.add(node["name"])
    return names


def _parameter_bounds(files: dict[str, BicepFile], parameter: str) -> tuple[int, int]:
    low = _decorator(files, MAIN, parameter, "min_value")
    high = _decorator(files, MAIN, parameter, "max_value")
    return int(low), int(high)


def _code_accepts(name: str, value: str) -> bool:
    environ = {
        "ROTATOR_CONFIG": json.dumps(TARGETS),
        "ROTATOR_STATE_DIR": "/tmp/rotator",
        name: value,
    }
    try:
        Settings.from_env(environ)
    except ConfigurationError:
        return False
    return True


def _decorator(files: dict[str, BicepFile], file: str, parameter: str, kind: str) -> Any:
    """The argument of ``parameter``'s one decorator ``kind`` (pycep's names: min_value, allowed)."""
    decorators = files[file].parameters()[parameter]["decorators"]
    arguments = [d.get("argument") for d in decorators if d["type"] == kind]
    assert len(arguments) == 1, f"{file}: {parameter} has {len(arguments)} @{kind} decorators"
    return arguments[0]


def _alert_queries(files: dict[str, BicepFile]) -> dict[str, str]:
    rules = files[ALERTS].resources("Microsoft.Insights/scheduledQueryRules")
    return {
        symbol: "\n".join(c["query"] for c in rule["config"]["properties"]["criteria"]["allOf"])
        for symbol, rule in rules.items()
    }


def _event_names_in(query: str) -> set[str]:
    return set(re.findall(r'"(rotation\.[a-z_]+)"', query))


def _roles(files: dict[str, BicepFile]) -> list[RoleAssignment]:
    return bicepmodel.role_assignments(files)


# --- parsing ----------------------------------------------------------------------------------


def test_every_bicep_file_parses(bicep: dict[str, BicepFile]) -> None:
    """Every .bicep file under infra/ parses with pycep-parser, main.bicep and its modules included."""
    assert set(bicep) == {p.relative_to(REPO).as_posix() for p in bicepmodel.bicep_paths()}
    main = bicep[MAIN]
    called = {bicepmodel.module_file(main, m) for m in main.modules().values()}
    assert called <= {(REPO / name).resolve() for name in bicep}


def test_example_parameters_name_only_and_all_required_parameters() -> None:
    """main.parameters.example.json gives every required parameter of main.bicep and no unknown one."""
    assert bicepmodel.parameter_file_problems() == []


# --- Event Grid -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint_type", ["AzureFunction", "WebHook"])
def test_event_subscription_delivers_to_a_function_the_app_defines(
    bicep: dict[str, BicepFile], function_names: set[str], endpoint_type: str
) -> None:
    """Either endpoint type names rotate_on_keyvault_event, a function function_app.py defines."""
    target = _module_argument(bicep, KEYVAULT_EVENTS, "functionName")
    destination = _destination(bicep, endpoint_type)
    assert destination["endpointType"] == endpoint_type
    if endpoint_type == "AzureFunction":
        assert destination["properties"]["resourceId"] == f"{APP_ID}/functions/{target}"
    else:
        query = parse_qs(urlsplit(destination["properties"]["endpointUrl"]).query)
        assert query["functionName"] == [target]
    assert target in function_names


def test_event_subscription_endpoint_is_the_function_app_of_this_deployment(
    bicep: dict[str, BicepFile],
) -> None:
    """The endpoint's app id and host name are outputs of the Function App main.bicep deploys."""
    passed = bicepmodel.module_params(_module_call(bicep, KEYVAULT_EVENTS))
    for parameter, output in (("functionAppId", "id"), ("functionAppHostName", "defaultHostName")):
        operands = passed[parameter]["operator"]["operands"]
        function_app_module = bicep[MAIN].modules()[operands["operand_1"]]
        assert (
            bicepmodel.module_file(bicep[MAIN], function_app_module)
            == (REPO / FUNCTION_APP).resolve()
        )
        assert operands["operand_2"]["operator"]["operands"] == {
            "operand_1": "outputs",
            "operand_2": output,
        }


def test_event_subscription_endpoint_is_azure_function_unless_webhook_is_asked(
    bicep: dict[str, BicepFile],
) -> None:
    """eventSubscriptionEndpoint allows AzureFunction (the default) and WebHook, and reaches the
    module unless the events go through the queue."""
    allowed = ["AzureFunction", "WebHook"]
    assert _decorator(bicep, MAIN, "eventSubscriptionEndpoint", "allowed") == allowed
    assert _decorator(bicep, KEYVAULT_EVENTS, "endpointType", "allowed") == [
        *allowed,
        "StorageQueue",
    ]
    assert bicep[MAIN].parameters()["eventSubscriptionEndpoint"]["default"] == "AzureFunction"
    passed = bicepmodel.module_params(_module_call(bicep, KEYVAULT_EVENTS))["endpointType"]
    assert _main_value(bicep, passed) == "AzureFunction"
    assert _main_value(bicep, passed, eventSubscriptionEndpoint="WebHook") == "WebHook"


def test_webhook_endpoint_is_the_event_grid_extension_url_with_its_system_key(
    bicep: dict[str, BicepFile],
) -> None:
    """WebHook posts to https://<app>/runtime/webhooks/eventgrid with the eventgrid_extension key."""
    webhook = _destination(bicep, "WebHook")["properties"]
    url = urlsplit(webhook["endpointUrl"])
    assert (url.scheme, url.netloc, url.path) == ("https", APP_HOST, "/runtime/webhooks/eventgrid")
    code = parse_qs(url.query)["code"]
    assert code == [f"<listKeys({APP_ID}/host/default)>.systemKeys.eventgrid_extension"]
    batching = {k: v for k, v in webhook.items() if k != "endpointUrl"}
    azure_function = _destination(bicep, "AzureFunction")["properties"]
    assert batching == {k: v for k, v in azure_function.items() if k != "resourceId"}


def test_azure_function_endpoint_reads_no_key(bicep: dict[str, BicepFile]) -> None:
    """In the default mode the deployed destination holds no key and calls no list* function."""
    assert "listKeys" not in json.dumps(_destination(bicep, "AzureFunction"))


def test_event_subscription_filters_exactly_the_event_types_the_code_handles(
    bicep: dict[str, BicepFile],
) -> None:
    """includedEventTypes equals rotator.functions.triggers.HANDLED_EVENT_TYPES, no more and no fewer."""
    from rotator.functions.triggers import HANDLED_EVENT_TYPES

    included = _event_subscription(bicep)["filter"]["includedEventTypes"]
    assert len(included) == len(set(included))
    assert set(included) == set(HANDLED_EVENT_TYPES)


def test_event_subscription_uses_the_event_grid_schema(bicep: dict[str, BicepFile]) -> None:
    """Events arrive in the Event Grid schema, which the Event Grid trigger validates by itself."""
    assert _event_subscription(bicep)["eventDeliverySchema"] == "EventGridSchema"


def test_event_subscription_retries_a_bounded_number_of_times(bicep: dict[str, BicepFile]) -> None:
    """Delivery is retried 10 times within a day, then the event is dead-lettered."""
    retry = _event_subscription(bicep)["retryPolicy"]
    events = bicep[KEYVAULT_EVENTS]
    assert events.variables()["retryPolicy"] == {
        "maxDeliveryAttempts": "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes",
    }
    assert retry == {"maxDeliveryAttempts": 10, "eventTimeToLiveInMinutes": 1440}
    assert events.parameters()["maxDeliveryAttempts"]["type"] == "int"
    assert _module_argument(bicep, KEYVAULT_EVENTS, "maxDeliveryAttempts") == 10
    assert _module_argument(bicep, KEYVAULT_EVENTS, "eventTimeToLiveInMinutes") == 1440


def test_event_subscription_dead_letters_to_a_blob_container_with_the_topic_identity(
    bicep: dict[str, BicepFile],
) -> None:
    """Undeliverable events go to eventgrid-deadletter, written with the system topic's identity."""
    dead_letter = _event_subscription(bicep)["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    destination = dead_letter["deadLetterDestination"]
    assert destination["endpointType"] == "StorageBlob"
    container = _module_argument(bicep, KEYVAULT_EVENTS, "deadLetterContainerName")
    assert container == "eventgrid-deadletter"


def test_system_topic_is_the_key_vaults_with_a_managed_identity(
    bicep: dict[str, BicepFile],
) -> None:
    """The system topic's source is the existing vault, and it has the identity dead-lettering uses."""
    access = bicep[KEYVAULT_ACCESS]
    topic = bicepmodel.body(access.resources()["systemTopic"])
    assert topic["properties"]["topicType"] == "Microsoft.KeyVault.vaults"
    source = topic["properties"]["source"]["operator"]["operands"]
    assert access.resources()[source["operand_1"]]["type"] == VAULT
    assert access.resources()[source["operand_1"]]["existing"] is True
    assert topic["identity"] == {"type": "SystemAssigned"}


# --- application settings ---------------------------------------------------------------------


def test_every_rotator_setting_the_bicep_sets_is_read_by_the_code(
    bicep: dict[str, BicepFile],
) -> None:
    """Each ROTATOR_* app setting in the Bicep is a name the code (rotator/, function_app.py) reads."""
    unknown = _bicep_setting_names(bicep) - _code_setting_names()
    assert not unknown, f"set by infra/ but read nowhere in the code: {sorted(unknown)}"


def test_settings_a_deployment_must_give_are_set(bicep: dict[str, BicepFile]) -> None:
    """ROTATOR_CONFIG and ROTATOR_SCHEDULE, which the code reads, are set by the Bicep."""
    assert _code_setting_names() >= SETTINGS_A_DEPLOYMENT_MUST_GIVE
    assert _bicep_setting_names(bicep) >= SETTINGS_A_DEPLOYMENT_MUST_GIVE


def test_azure_client_id_is_the_user_assigned_identitys_client_id(
    bicep: dict[str, BicepFile],
) -> None:
    """AZURE_CLIENT_ID is the identity's clientId, so DefaultAzureCredential uses that identity."""
    main = bicep[MAIN]
    value = main.variables()["rotatorSettings"]["AZURE_CLIENT_ID"]
    operands = value["operator"]["operands"]
    assert main.resources()[operands["operand_1"]]["type"] == (
        "Microsoft.ManagedIdentity/userAssignedIdentities"
    )
    assert operands["operand_2"]["operator"]["operands"] == {
        "operand_1": "properties",
        "operand_2": "clientId",
    }


def test_state_store_setting_names_the_container_the_bicep_creates(
    bicep: dict[str, BicepFile],
) -> None:
    """ROTATOR_STATE_CONTAINER is the rotator-state container created on the host storage account."""
    main = bicep[MAIN]
    setting = main.resolve(main.variables()["rotatorSettings"]["ROTATOR_STATE_CONTAINER"])
    created = main.resolve(
        bicepmodel.module_params(_module_call(bicep, STORAGE))["stateContainerName"]
    )
    assert setting == created == "rotator-state"


def test_host_storage_is_identity_based(bicep: dict[str, BicepFile]) -> None:
    """AzureWebJobsStorage is the account + managed identity + client id, never a connection string."""
    for environment in (bicepmodel.PUBLIC_CLOUD, bicepmodel.US_GOVERNMENT_CLOUD):
        settings = _host_settings(bicep, environment)
        assert "AzureWebJobsStorage" not in settings
        assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
        assert settings["AzureWebJobsStorage__clientId"] == IDENTITY_CLIENT_ID
        assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings


def test_host_storage_is_named_by_account_in_the_public_cloud(bicep: dict[str, BicepFile]) -> None:
    """In Azure's public cloud the host gets __accountName only, as in Microsoft's Flex samples."""
    settings = _host_settings(bicep, bicepmodel.PUBLIC_CLOUD)
    assert settings["AzureWebJobsStorage__accountName"] == STORAGE_ACCOUNT_NAME
    assert not [name for name in settings if name.endswith("ServiceUri")]


def test_host_storage_is_named_by_this_clouds_service_uris_in_a_national_cloud(
    bicep: dict[str, BicepFile],
) -> None:
    """Elsewhere the blob, queue and table URIs come from environment(), instead of __accountName."""
    settings = _host_settings(bicep, bicepmodel.US_GOVERNMENT_CLOUD)
    assert "AzureWebJobsStorage__accountName" not in settings
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == (
            f"https://{STORAGE_ACCOUNT_NAME}.{service}.core.usgovcloudapi.net"
        )


@EVERY_CLOUD
def test_state_store_uses_the_host_storage_account_in_every_cloud(
    bicep: dict[str, BicepFile], environment: dict[str, Any]
) -> None:
    """The code, given the host settings the Bicep deploys, writes its state to that cloud's account."""
    environ = {**_host_settings(bicep, environment), "ROTATOR_CONFIG": json.dumps(TARGETS)}
    suffix = environment["suffixes"]["storage"]
    assert (
        Settings.from_env(environ).state_blob_uri == f"https://{STORAGE_ACCOUNT_NAME}.blob.{suffix}"
    )


def test_function_app_sends_telemetry_as_its_identity(bicep: dict[str, BicepFile]) -> None:
    """APPLICATIONINSIGHTS_AUTHENTICATION_STRING is ClientId=<identity>;Authorization=AAD."""
    settings = _host_settings(bicep)
    expected = f"ClientId={IDENTITY_CLIENT_ID};Authorization=AAD"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == expected


def test_the_only_list_call_reads_the_event_grid_system_key(bicep: dict[str, BicepFile]) -> None:
    """No template reads an account key: the one list* call is listKeys on the app's host keys."""
    calls = [
        (file.name, node["func_name"], node["resource_identifier"])
        for file in bicep.values()
        for node in bicepmodel.walk(file.doc)
        if isinstance(node, dict) and str(node.get("func_name", "")).startswith("list")
    ]
    assert calls == [(KEYVAULT_EVENTS, "listKeys", "${functionAppId}/host/default")]
    events = bicep[KEYVAULT_EVENTS]
    key = bicepmodel.evaluate(events, "eventGridSystemKey", {"functionAppId": APP_ID})
    assert key.endswith(".systemKeys.eventgrid_extension")
    assert "eventGridSystemKey" not in json.dumps(events.doc.get("outputs") or {})


# --- settings the code reads ------------------------------------------------------------------


def test_every_setting_the_code_reads_is_deployed_or_left_out_on_purpose(
    bicep: dict[str, BicepFile],
) -> None:
    """Each setting the code reads is set by the Bicep or listed, with why, in infra/README.md."""
    read = _settings_the_code_reads()
    deployed = read & _app_settings(bicep)
    left_out = _settings_left_out_on_purpose()
    assert not deployed & left_out, (
        f"deployed and listed as left out: {sorted(deployed & left_out)}"
    )
    assert read - deployed == left_out


@pytest.mark.parametrize("mode", ["default", "client-certificate", "client-secret"])
def test_every_graph_credential_mode_deploys_settings_the_code_accepts(
    bicep: dict[str, BicepFile], mode: str
) -> None:
    """With every Graph parameter filled in, each allowed mode gets exactly the settings it needs."""
    assert mode in _decorator(bicep, MAIN, "graphCredential", "allowed")
    settings = _rotator_settings(bicep, graphCredential=mode, **GRAPH_IDENTITY_PARAMETERS)
    assert Settings.from_env(settings).graph_credential.value == mode


def test_graph_credential_allows_only_modes_the_code_knows(bicep: dict[str, BicepFile]) -> None:
    """graphCredential's @allowed list is exactly the code's GraphCredentialMode values."""
    allowed = _decorator(bicep, MAIN, "graphCredential", "allowed")
    assert sorted(allowed) == sorted(m.value for m in rotator.config.settings.GraphCredentialMode)


def test_numeric_parameters_allow_exactly_what_the_code_accepts(
    bicep: dict[str, BicepFile],
) -> None:
    """Each numeric setting's @minValue/@maxValue are the code's bounds: both ends in, one past out."""
    numeric = {
        name: parameter
        for name, parameter in _setting_parameters(bicep).items()
        if bicep[MAIN].parameters()[parameter]["type"] == "int"
    }
    assert set(numeric) >= {
        "ROTATOR_MAX_PARALLEL",
        "ROTATOR_EXPIRY_WARNING_DAYS",
        "ROTATOR_HTTP_TIMEOUT",
        "ROTATOR_VERIFY_TIMEOUT",
    }
    for name, parameter in numeric.items():
        low, high = _parameter_bounds(bicep, parameter)
        deployed = {
            value: _rotator_settings(bicep, **{parameter: value})[name]
            for value in (low - 1, low, high, high + 1)
        }
        accepted = {value: _code_accepts(name, text) for value, text in deployed.items()}
        assert accepted == {low - 1: False, low: True, high: True, high + 1: False}, (
            f"{parameter} allows {low}..{high}; the code accepts {accepted}"
        )


def test_numeric_parameter_defaults_are_the_codes_defaults(bicep: dict[str, BicepFile]) -> None:
    """Deploying a numeric parameter's default changes nothing against leaving the setting out."""
    base = {"ROTATOR_CONFIG": json.dumps(TARGETS), "ROTATOR_STATE_DIR": "/tmp/rotator"}
    deployed = _rotator_settings(bicep)
    for name, parameter in _setting_parameters(bicep).items():
        if bicep[MAIN].parameters()[parameter]["type"] == "int":
            assert Settings.from_env({**base, name: deployed[name]}) == Settings.from_env(base), (
                name
            )


# --- role assignments -------------------------------------------------------------------------


def test_role_assignments_grant_exactly_the_expected_roles(bicep: dict[str, BicepFile]) -> None:
    """Two Key Vault read roles (vault-wide, or per object), Blob Data Owner and Metrics Publisher
    for the app, dead letters and queue delivery for the topic, the queue role for the app."""
    granted = Counter(a.role_definition_id for a in _roles(bicep))
    assert granted == Counter(
        {
            KEY_VAULT_SECRETS_USER: 2,
            KEY_VAULT_CERTIFICATE_USER: 2,
            STORAGE_BLOB_DATA_OWNER: 1,
            STORAGE_BLOB_DATA_CONTRIBUTOR: 1,
            MONITORING_METRICS_PUBLISHER: 1,
            STORAGE_QUEUE_DATA_MESSAGE_SENDER: 1,
            STORAGE_QUEUE_DATA_CONTRIBUTOR: 1,
        }
    )


def test_each_role_is_scoped_to_the_vault_the_storage_account_or_application_insights(
    bicep: dict[str, BicepFile],
) -> None:
    """Vault roles on the vault or one secret / certificate; storage on the account, its container
    or its queue; telemetry on the component."""
    expected_scope = {
        KEY_VAULT_SECRETS_USER: {VAULT, VAULT_SECRET},
        KEY_VAULT_CERTIFICATE_USER: {VAULT, VAULT_CERTIFICATE},
        STORAGE_BLOB_DATA_OWNER: {STORAGE_ACCOUNT},
        STORAGE_BLOB_DATA_CONTRIBUTOR: {BLOB_CONTAINER},
        MONITORING_METRICS_PUBLISHER: {APPLICATION_INSIGHTS},
        STORAGE_QUEUE_DATA_MESSAGE_SENDER: {STORAGE_QUEUE},
        STORAGE_QUEUE_DATA_CONTRIBUTOR: {STORAGE_ACCOUNT},
    }
    for assignment in _roles(bicep):
        assert assignment.scope_type in expected_scope[assignment.role_definition_id], assignment


def test_no_role_assignment_is_at_subscription_or_resource_group_scope(
    bicep: dict[str, BicepFile],
) -> None:
    """Every role assignment names a resource as its scope in a resource-group-scoped file."""
    for assignment in _roles(bicep):
        assert assignment.scope_symbol is not None, f"{assignment} has no resource scope"
        assert assignment.scope_type in {
            VAULT,
            VAULT_SECRET,
            VAULT_CERTIFICATE,
            STORAGE_ACCOUNT,
            BLOB_CONTAINER,
            STORAGE_QUEUE,
            APPLICATION_INSIGHTS,
        }, assignment
        globals_ = bicep[assignment.file].doc.get("globals") or {}
        assert globals_.get("scope", {}).get("value", "resourceGroup") == "resourceGroup"


def test_role_assignment_names_are_guid_of_scope_principal_and_role(
    bicep: dict[str, BicepFile],
) -> None:
    """Each name is guid(scope.id, principalId, roleId): stable across deployments, unique per grant."""
    for assignment in _roles(bicep):
        file = bicep[assignment.file]
        scope_id, principal, role = assignment.name_parts
        scope = assignment.scope_symbol
        looped = {
            "operator": {
                "type": "index_accessor",
                "operands": {"operand_1": scope, "operand_2": "i"},
            }
        }
        assert scope_id in (
            {
                "operator": {
                    "type": "property_accessor",
                    "operands": {"operand_1": scope, "operand_2": "id"},
                }
            },
            {
                "operator": {
                    "type": "property_accessor",
                    "operands": {"operand_1": looped, "operand_2": "id"},
                }
            },
        ), assignment
        assert principal in file.parameters(), assignment
        assert file.resolve(role) == assignment.role_definition_id, assignment


def test_role_assignments_are_for_service_principals(bicep: dict[str, BicepFile]) -> None:
    """principalType is ServicePrincipal (both principals are managed identities)."""
    assert {a.principal_type for a in _roles(bicep)} == {"ServicePrincipal"}


def test_telemetry_role_goes_to_the_function_identity(bicep: dict[str, BicepFile]) -> None:
    """Monitoring Metrics Publisher is granted to the user-assigned identity's principal."""
    passed = bicepmodel.module_params(_module_call(bicep, MONITORING))["functionPrincipalId"]
    operands = passed["operator"]["operands"]
    assert bicep[MAIN].resources()[operands["operand_1"]]["type"] == (
        "Microsoft.ManagedIdentity/userAssignedIdentities"
    )
    assert operands["operand_2"]["operator"]["operands"] == {
        "operand_1": "properties",
        "operand_2": "principalId",
    }


# --- every resource ---------------------------------------------------------------------------


def test_every_resource_that_takes_a_location_has_one(bicep: dict[str, BicepFile]) -> None:
    """Each resource created has a location unless its type takes none (Azure's BadRequest else)."""
    checked = set()
    for file in bicep.values():
        for symbol, resource in file.resources().items():
            if resource["existing"] or resource["type"] in TYPES_WITHOUT_LOCATION:
                continue
            checked.add(resource["type"])
            assert bicepmodel.body(resource).get("location"), (
                f"{file.name}: {symbol} has no location"
            )
    assert "Microsoft.Web/sites/basicPublishingCredentialsPolicies" in checked


# --- storage ----------------------------------------------------------------------------------


def test_storage_account_disallows_shared_key_access(bicep: dict[str, BicepFile]) -> None:
    """allowSharedKeyAccess is false: no account key or SAS can be used."""
    account = _one(bicep[STORAGE], STORAGE_ACCOUNT)
    assert account["properties"]["allowSharedKeyAccess"] is False


def test_storage_account_requires_https_and_tls12(bicep: dict[str, BicepFile]) -> None:
    """The account accepts HTTPS only, with TLS 1.2 or later."""
    properties = _one(bicep[STORAGE], STORAGE_ACCOUNT)["properties"]
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"


def test_storage_account_allows_no_public_blob_access(bicep: dict[str, BicepFile]) -> None:
    """No container can be made public, and none is."""
    storage = bicep[STORAGE]
    assert _one(storage, STORAGE_ACCOUNT)["properties"]["allowBlobPublicAccess"] is False
    containers = storage.resources(BLOB_CONTAINER).values()
    assert {c["config"]["properties"]["publicAccess"] for c in containers} == {"None"}


def test_storage_has_the_state_deployment_and_dead_letter_containers(
    bicep: dict[str, BicepFile],
) -> None:
    """main.bicep creates the rotator-state and eventgrid-deadletter containers and the package one."""
    main = bicep[MAIN]
    names = {
        param: main.resolve(bicepmodel.module_params(_module_call(bicep, STORAGE))[param])
        for param in ("stateContainerName", "deadLetterContainerName", "deploymentContainerName")
    }
    assert names["stateContainerName"] == "rotator-state"
    assert names["deadLetterContainerName"] == "eventgrid-deadletter"
    assert len(bicep[STORAGE].resources(BLOB_CONTAINER)) == 3


def test_storage_sku_is_a_parameter_that_states_the_zone_rule(bicep: dict[str, BicepFile]) -> None:
    """storageSkuName reaches the account; its description says where ZRS fails and what to give."""
    main_allowed = _decorator(bicep, MAIN, "storageSkuName", "allowed")
    assert main_allowed == _decorator(bicep, STORAGE, "skuName", "allowed")
    assert {"Standard_ZRS", "Standard_LRS"} <= set(main_allowed)
    description = _decorator(bicep, MAIN, "storageSkuName", "description")
    assert "availability zones" in description
    assert "Standard_LRS" in description
    assert bicepmodel.module_params(_module_call(bicep, STORAGE))["skuName"] == "storageSkuName"
    assert _one(bicep[STORAGE], STORAGE_ACCOUNT)["sku"] == {"name": "skuName"}


_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize(
    "app_name",
    [
        None,
        "ab",
        "Rotator-Prod",
        "x" * 60,
        "a" * 31 + "-" + "b" * 28,
        "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p",
    ],
)
def test_deployment_container_name_is_valid_for_any_app_name(
    bicep: dict[str, BicepFile], app_name: str | None
) -> None:
    """Lower-case letters, digits and single hyphens, 3-63 long, for the default and odd app names."""
    given = {} if app_name is None else {"functionAppName": app_name}
    name = bicepmodel.evaluate(bicep[MAIN], "deploymentContainerName", given)
    assert _CONTAINER_NAME.match(name), name


def test_deployment_container_names_of_apps_that_share_a_prefix_differ(
    bicep: dict[str, BicepFile],
) -> None:
    """Two app names equal in their first 32 characters still get two containers (the suffix)."""
    names = {
        bicepmodel.evaluate(bicep[MAIN], "deploymentContainerName", {"functionAppName": app})
        for app in ("x" * 40, "x" * 41)
    }
    assert len(names) == 2


# --- function app -----------------------------------------------------------------------------


def test_function_app_is_https_only(bicep: dict[str, BicepFile]) -> None:
    """httpsOnly is true: plain HTTP is redirected."""
    site = _one(bicep[FUNCTION_APP], "Microsoft.Web/sites")
    assert site["properties"]["httpsOnly"] is True


def test_function_app_sets_no_ftps_state(bicep: dict[str, BicepFile]) -> None:
    """No ftpsState: Flex Consumption has no FTP(S) and deprecates the property."""
    site = _one(bicep[FUNCTION_APP], "Microsoft.Web/sites")
    assert "ftpsState" not in site["properties"]["siteConfig"]


def test_function_app_requires_tls12(bicep: dict[str, BicepFile]) -> None:
    """minTlsVersion is 1.2 for the app and its SCM site."""
    site_config = _one(bicep[FUNCTION_APP], "Microsoft.Web/sites")["properties"]["siteConfig"]
    assert site_config["minTlsVersion"] == "1.2"
    assert site_config["scmMinTlsVersion"] == "1.2"


def test_function_app_turns_off_basic_publishing_credentials(bicep: dict[str, BicepFile]) -> None:
    """FTP and SCM basic (publishing-profile) authentication are both off."""
    policies = bicep[FUNCTION_APP].resources(
        "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    )
    assert {p["config"]["name"]: p["config"]["properties"]["allow"] for p in policies.values()} == {
        "ftp": False,
        "scm": False,
    }


def test_function_app_runs_as_a_user_assigned_identity(bicep: dict[str, BicepFile]) -> None:
    """The app's only identity is the user-assigned one that the roles are granted to."""
    site = _one(bicep[FUNCTION_APP], "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    keys = [k.strip("'") for k in site["identity"]["userAssignedIdentities"]]
    assert keys == ["${identityId}"]


def test_function_app_is_python_on_flex_consumption(bicep: dict[str, BicepFile]) -> None:
    """The plan is FC1 (Flex Consumption) and the runtime Python, at the version main.bicep passes."""
    app = bicep[FUNCTION_APP]
    assert _one(app, "Microsoft.Web/serverfarms")["sku"] == {
        "name": "FC1",
        "tier": "FlexConsumption",
    }
    runtime = _one(app, "Microsoft.Web/sites")["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "pythonVersion"}
    passed = bicepmodel.module_params(_module_call(bicep, FUNCTION_APP))
    assert passed["pythonVersion"] == "pythonVersion"


@pytest.mark.parametrize("file", [MAIN, FUNCTION_APP])
def test_python_version_allows_311_and_312_and_defaults_to_311(
    bicep: dict[str, BicepFile], file: str
) -> None:
    """pythonVersion allows exactly 3.11 and 3.12 (the versions CI runs), 3.11 by default."""
    assert _decorator(bicep, file, "pythonVersion", "allowed") == ["3.11", "3.12"]
    assert bicep[file].parameters()["pythonVersion"]["default"] == "3.11"


def test_key_vault_reference_identity_is_not_set(bicep: dict[str, BicepFile]) -> None:
    """keyVaultReferenceIdentity is gone: the app uses no Key Vault references."""
    for file in bicep.values():
        assert "keyVaultReferenceIdentity" not in json.dumps(file.doc), file.name


def test_deployment_package_is_read_with_the_user_assigned_identity(
    bicep: dict[str, BicepFile],
) -> None:
    """Flex reads the package from its blob container with the identity, not a key."""
    config = _one(bicep[FUNCTION_APP], "Microsoft.Web/sites")["properties"]["functionAppConfig"]
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }


def test_application_insights_accepts_only_entra_authenticated_telemetry(
    bicep: dict[str, BicepFile],
) -> None:
    """The component disables local (instrumentation-key) authentication."""
    assert _one(bicep[MONITORING], APPLICATION_INSIGHTS)["properties"]["DisableLocalAuth"] is True


# --- alerts -----------------------------------------------------------------------------------


def test_there_are_four_alert_rules(bicep: dict[str, BicepFile]) -> None:
    """A failed rotation, an expiring credential, a missing run and a change to rotator's own
    Graph credential each have one log alert."""
    assert len(_alert_queries(bicep)) == 4


def test_keep_alive_events_are_alerted(bicep: dict[str, BicepFile]) -> None:
    """Keys added or removed on rotator's app, its expiry and a stranded keep-alive alert."""
    queried = set().union(*(_event_names_in(q) for q in _alert_queries(bicep).values()))
    assert {
        "rotation.identity_key_added",
        "rotation.identity_key_removed",
        "rotation.identity_expiry_warning",
        "rotation.identity_keep_alive",
    } <= queried


def test_failed_rotation_alert_queries_run_and_target_completion(
    bicep: dict[str, BicepFile],
) -> None:
    """The failure alert reads rotation.run_completed at Error and failed/refused targets."""
    query = _alert_queries(bicep)["rotationFailed"]
    assert _event_names_in(query) == {"rotation.run_completed", "rotation.target_completed"}
    assert "severityLevel >= 3" in query
    assert '("failed", "refused")' in query


def test_expiry_alert_queries_expiry_warning_and_expired(bicep: dict[str, BicepFile]) -> None:
    """The expiry alert reads rotation.expiry_warning and rotation.expired, and the expiry of
    rotator's own Graph app certificate."""
    query = _alert_queries(bicep)["credentialExpiring"]
    assert _event_names_in(query) == {
        "rotation.expiry_warning",
        "rotation.expired",
        "rotation.identity_expiry_warning",
    }


def test_no_run_alert_fires_on_silence_for_two_schedule_periods(
    bicep: dict[str, BicepFile],
) -> None:
    """The dead-job alert fires when rotation.run_completed is absent for 2 x the period (12 h)."""
    alerts = bicep[ALERTS]
    rule = alerts.resources("Microsoft.Insights/scheduledQueryRules")["noCompletedRun"]["config"]
    (condition,) = rule["properties"]["criteria"]["allOf"]
    assert _event_names_in(condition["query"]) == {"rotation.run_completed"}
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == (
        "Count",
        "LessThan",
        1,
    )
    window = str(rule["properties"]["windowSize"])
    # only windows Azure accepts: PT{2..6}H for periods up to 3 h, else one or two days
    assert "PT${2 * schedulePeriodHours}H" in window
    assert "'P1D'" in window
    assert "'P2D'" in window
    assert alerts.parameters()["schedulePeriodHours"]["default"] == 6
    assert bicep[MAIN].parameters()["schedulePeriodHours"]["default"] == 6


def test_alerted_event_names_are_logged_by_the_code(bicep: dict[str, BicepFile]) -> None:
    """Every rotation.* event an alert queries is a string the code logs."""
    queried = set().union(*(_event_names_in(q) for q in _alert_queries(bicep).values()))
    logged = {literal for path in _code_files() for literal in _string_literals(path)}
    assert queried <= logged, f"alerted on but never logged: {sorted(queried - logged)}"


def test_alerts_notify_the_email_receivers_of_the_action_group(bicep: dict[str, BicepFile]) -> None:
    """Every rule notifies the one action group, whose e-mail receivers come from a parameter."""
    alerts = bicep[ALERTS]
    group = _one(alerts, "Microsoft.Insights/actionGroups")
    receivers = json.dumps(group["properties"]["emailReceivers"])
    assert "alertEmails" in receivers
    for rule in alerts.resources("Microsoft.Insights/scheduledQueryRules").values():
        (action_group,) = rule["config"]["properties"]["actions"]["actionGroups"]
        assert action_group == "notifiedActionGroupId"
    assert bicepmodel.evaluate(alerts, "notifiedActionGroupId", {}) == "<actionGroup.id>"


# --- Microsoft Graph permission ---------------------------------------------------------------


def test_graph_grant_is_api_connectors_readwrite_all_on_microsoft_graph(
    bicep: dict[str, BicepFile],
) -> None:
    """The app role assigned is APIConnectors.ReadWrite.All of the Microsoft Graph service principal."""
    graph = bicep[GRAPH]
    assert "microsoftGraphV1" in (graph.doc.get("extensions") or {})
    grant = _one(graph, "Microsoft.Graph/appRoleAssignedTo")
    assert graph.resolve(grant["appRoleId"]) == API_CONNECTORS_READWRITE_ALL
    resource = grant["resourceId"]["operator"]["operands"]
    microsoft_graph = graph.resources()[resource["operand_1"]]
    assert microsoft_graph["type"] == "Microsoft.Graph/servicePrincipals"
    assert microsoft_graph["existing"] is True
    assert graph.resolve(microsoft_graph["config"]["appId"]) == MICROSOFT_GRAPH_APP_ID


def test_graph_grant_goes_to_the_function_identity_only_when_asked(
    bicep: dict[str, BicepFile],
) -> None:
    """The grant is to the user-assigned identity, behind grantGraphPermission (default false)."""
    main = bicep[MAIN]
    call = _module_call(bicep, GRAPH)
    assert call["config"]["condition"] == "grantGraphPermission"
    assert main.parameters()["grantGraphPermission"]["default"] is False
    operands = bicepmodel.module_params(call)["principalId"]["operator"]["operands"]
    assert main.resources()[operands["operand_1"]]["type"] == (
        "Microsoft.ManagedIdentity/userAssignedIdentities"
    )
    assert operands["operand_2"]["operator"]["operands"] == {
        "operand_1": "properties",
        "operand_2": "principalId",
    }


def test_graph_extension_alias_is_configured() -> None:
    """bicepconfig.json maps the microsoftGraphV1 alias to the GA Microsoft Graph v1.0 types."""
    config = json.loads((REPO / "infra" / "bicepconfig.json").read_text(encoding="utf-8"))
    reference = config["extensions"]["microsoftGraphV1"]
    assert reference.startswith("br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:")


def test_default_probe_reaches_every_connector_through_rotator_config(
    bicep: dict[str, BicepFile],
) -> None:
    """defaultProbe becomes ROTATOR_CONFIG's top-level probe, which the code gives each connector."""
    settings = _rotator_settings(bicep, defaultProbe={"waitSeconds": 60, "required": False})
    targets = Settings.from_env(settings).targets
    assert {(t.probe.wait_seconds, t.probe.required) for t in targets if t.probe} == {(60.0, False)}
    assert all(t.probe is not None for t in targets)


def test_no_default_probe_leaves_rotator_config_as_given(bicep: dict[str, BicepFile]) -> None:
    """Without defaultProbe (or with a probe in rotatorConfig already) the document is unchanged."""
    assert json.loads(_rotator_settings(bicep)["ROTATOR_CONFIG"]) == TARGETS
    own = {**TARGETS, "probe": {"waitSeconds": 5}}
    given = _rotator_settings(bicep, rotatorConfig=own, defaultProbe={"waitSeconds": 60})
    assert json.loads(given["ROTATOR_CONFIG"]) == own
