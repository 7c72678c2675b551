"""Issue 22's switches of infra/main.bicep, evaluated for given parameters (bicepmodel.deployment).

Each test deploys the templates on paper: module and resource conditions evaluated, loops counted,
module parameters as main.bicep passes them. What only Azure can tell (that ARM accepts a scope,
that Event Grid passes a firewall) is in infra/README.md, "What cannot be verified without Azure".
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.infra import bicepmodel
from tests.infra.bicepmodel import BicepFile, Deployed
from tests.infra.test_infra import EVERY_CLOUD, TARGETS
from tests.infra.test_infra import STORAGE_QUEUE as QUEUE
from tests.infra.test_infra import STORAGE_QUEUE_DATA_CONTRIBUTOR as QUEUE_CONTRIBUTOR
from tests.infra.test_infra import STORAGE_QUEUE_DATA_MESSAGE_SENDER as QUEUE_SENDER

MAIN = "infra/main.bicep"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
SUBSCRIPTION = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
SYSTEM_TOPIC = "Microsoft.EventGrid/systemTopics"
DIAGNOSTIC_SETTING = "Microsoft.Insights/diagnosticSettings"
PRIVATE_ENDPOINT = "Microsoft.Network/privateEndpoints"
DNS_ZONE = "Microsoft.Network/privateDnsZones"
ZONE_LINK = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
ZONE_GROUP = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
QUEUE_SERVICE = "Microsoft.Storage/storageAccounts/queueServices"
REQUIRED = {
    "keyVaultName": "contoso-kv",
    "rotatorConfig": TARGETS,
    "alertEmails": ["a@contoso.example"],
}
APP_SUBNET = "/subscriptions/0/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/rotator-app"
ENDPOINT_SUBNET = "/subscriptions/0/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/endpoints"
ZONES = {
    key: f"/subscriptions/0/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/{key}-zone"
    for key in ("blob", "queue", "vault")
}

# What the templates created before issue 22 (and still create with diagnosticsEnabled=false).
BEFORE_ISSUE_22 = Counter(
    {
        "Microsoft.ManagedIdentity/userAssignedIdentities": 1,
        "Microsoft.OperationalInsights/workspaces": 1,
        "Microsoft.Insights/components": 1,
        "Microsoft.Storage/storageAccounts": 1,
        "Microsoft.Storage/storageAccounts/blobServices": 1,
        "Microsoft.Storage/storageAccounts/blobServices/containers": 3,
        "Microsoft.Web/serverfarms": 1,
        "Microsoft.Web/sites": 1,
        "Microsoft.Web/sites/basicPublishingCredentialsPolicies": 2,
        "Microsoft.EventGrid/systemTopics": 1,
        "Microsoft.Insights/actionGroups": 1,
        "Microsoft.Insights/scheduledQueryRules": 4,
        ROLE_ASSIGNMENT: 5,
    }
)


@pytest.fixture(scope="module")
def bicep() -> dict[str, BicepFile]:
    """Every Bicep file under infra/, parsed once for the module."""
    return bicepmodel.parse_all()


def _deploy(bicep: dict[str, BicepFile], **parameters: Any) -> list[Deployed]:
    return bicepmodel.deployment(bicep, {**REQUIRED, **parameters})


def _counts(deployed: list[Deployed]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for resource in deployed:
        counts[resource.type] += resource.count
    return counts


def _only(deployed: list[Deployed], type_: str, symbol: str | None = None) -> Deployed:
    found = [d for d in deployed if d.type == type_ and symbol in (None, d.symbol)]
    assert len(found) == 1, f"expected one {type_} {symbol or ''}, found {found}"
    return found[0]


def _value(bicep: dict[str, BicepFile], resource: Deployed, node: Any) -> Any:
    """What ``node`` of ``resource``'s body is in this deployment."""
    return bicepmodel.evaluate(bicep[resource.file], node, resource.params)


def _main(bicep: dict[str, BicepFile], name: str, **parameters: Any) -> Any:
    """A variable of main.bicep for these parameters."""
    return bicepmodel.evaluate(bicep[MAIN], name, {**REQUIRED, **parameters})


def _output(bicep: dict[str, BicepFile], name: str, **parameters: Any) -> Any:
    node = bicep[MAIN].doc["outputs"][name]["value"]
    return bicepmodel.evaluate(bicep[MAIN], node, {**REQUIRED, **parameters})


def _role_ids(deployed: list[Deployed], bicep: dict[str, BicepFile]) -> Counter[str]:
    roles: Counter[str] = Counter()
    for d in deployed:
        if d.type == ROLE_ASSIGNMENT:
            role = d.body["properties"]["roleDefinitionId"]["function"]["parameters"]
            roles[bicep[d.file].resolve(role["resource_name_1"])] += d.count
    return roles


# --- the defaults -----------------------------------------------------------------------------


# on either route: the queue trigger is indexed whatever the route (Azure/azure-functions-host#6885)
QUEUE_ALWAYS = Counter({QUEUE_SERVICE: 1, QUEUE: 2, ROLE_ASSIGNMENT: 1})


def test_defaults_without_diagnostics_deploy_what_came_before_and_the_queue(
    bicep: dict[str, BicepFile],
) -> None:
    """diagnosticsEnabled=false with every other default: the resources of earlier versions, and
    the events queue with its poison queue and the app's role on them (the trigger's connection)."""
    assert _counts(_deploy(bicep, diagnosticsEnabled=False)) == BEFORE_ISSUE_22 + QUEUE_ALWAYS


def test_defaults_add_only_the_queue_delivery_alerts_and_diagnostic_settings(
    bicep: dict[str, BicepFile],
) -> None:
    """The defaults add the queue, three metric alerts and four diagnostic settings, nothing else."""
    added = _counts(_deploy(bicep)) - BEFORE_ISSUE_22
    assert added == QUEUE_ALWAYS + Counter(
        {"Microsoft.Insights/metricAlerts": 3, DIAGNOSTIC_SETTING: 4}
    )


def test_the_vault_itself_is_never_created_or_changed(bicep: dict[str, BicepFile]) -> None:
    """No switch deploys a Microsoft.KeyVault/vaults resource: the vault stays its owner's."""
    for parameters in ({}, {"vnetEnabled": True}, {"roleScope": "objects"}):
        types = {d.type for d in _deploy(bicep, **parameters)}
        assert "Microsoft.KeyVault/vaults" not in types, parameters


# --- private network --------------------------------------------------------------------------


def test_vnet_creates_a_subnet_delegated_to_microsoft_app_environments(
    bicep: dict[str, BicepFile],
) -> None:
    """vnetEnabled makes a VNet whose app subnet is delegated for Flex VNet integration."""
    deployed = _deploy(bicep, vnetEnabled=True)
    vnet = _only(deployed, "Microsoft.Network/virtualNetworks")
    subnets = {s["name"]: s["properties"] for s in vnet.body["properties"]["subnets"]}
    (delegation,) = subnets["app"]["delegations"]
    assert delegation["properties"]["serviceName"] == "Microsoft.App/environments"
    assert "delegations" not in subnets["private-endpoints"]
    assert "Microsoft.Network/virtualNetworks" not in _counts(_deploy(bicep))


def test_vnet_integrates_the_app_with_the_delegated_subnet(bicep: dict[str, BicepFile]) -> None:
    """The site's virtualNetworkSubnetId is the app subnet with vnetEnabled, unset without."""
    site = _only(_deploy(bicep, vnetEnabled=True), "Microsoft.Web/sites")
    subnet = _value(bicep, site, site.body["properties"]["virtualNetworkSubnetId"])
    assert subnet == "<network.outputs.appSubnetId>"
    site = _only(_deploy(bicep), "Microsoft.Web/sites")
    assert _value(bicep, site, site.body["properties"]["virtualNetworkSubnetId"]) is None


def test_vnet_makes_private_endpoints_for_blob_queue_and_the_vault(
    bicep: dict[str, BicepFile],
) -> None:
    """Three private endpoints, groups blob and queue on the account and vault on the vault."""
    endpoint = _only(_deploy(bicep, vnetEnabled=True), PRIVATE_ENDPOINT)
    assert endpoint.count == 3
    targets = {
        e["key"]: e["target"]
        for e in bicepmodel.evaluate(bicep[endpoint.file], "endpoints", endpoint.params)
    }
    assert targets == {
        "blob": "<storage.outputs.id>",
        "queue": "<storage.outputs.id>",
        "vault": "<vault.id>",
    }
    (connection,) = endpoint.body["properties"]["privateLinkServiceConnections"]
    e_key = {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "e", "operand_2": "key"},
        }
    }
    assert connection["properties"]["groupIds"] == [e_key]
    assert PRIVATE_ENDPOINT not in _counts(_deploy(bicep))


@pytest.mark.parametrize(
    ("environment", "zones"),
    [
        (
            bicepmodel.PUBLIC_CLOUD,
            {
                "privatelink.blob.core.windows.net",
                "privatelink.queue.core.windows.net",
                "privatelink.vaultcore.azure.net",
            },
        ),
        (
            bicepmodel.US_GOVERNMENT_CLOUD,
            {
                "privatelink.blob.core.usgovcloudapi.net",
                "privatelink.queue.core.usgovcloudapi.net",
                "privatelink.vaultcore.usgovcloudapi.net",
            },
        ),
    ],
    ids=["public", "usgov"],
)
def test_private_dns_zones_are_this_clouds(
    bicep: dict[str, BicepFile], environment: dict[str, Any], zones: set[str]
) -> None:
    """The three zones come from environment(): the public cloud's names and Azure Government's."""
    deployed = bicepmodel.deployment(bicep, {**REQUIRED, "vnetEnabled": True}, environment)
    zone = _only(deployed, DNS_ZONE)
    created = bicepmodel.evaluate(bicep[zone.file], "zonesToCreate", zone.params, environment)
    assert {z["zone"] for z in created} == zones
    assert _only(deployed, ZONE_LINK).count == 3
    assert _only(deployed, ZONE_GROUP).count == 3


def test_existing_private_dns_zones_are_used_and_none_created(bicep: dict[str, BicepFile]) -> None:
    """existingPrivateDnsZoneIds for all three keys: no zone, no link; the zone groups name them."""
    deployed = _deploy(bicep, vnetEnabled=True, existingPrivateDnsZoneIds=ZONES)
    counts = _counts(deployed)
    assert counts[DNS_ZONE] == 0
    assert counts[ZONE_LINK] == 0
    group = _only(deployed, ZONE_GROUP)
    (config,) = group.body["properties"]["privateDnsZoneConfigs"]
    zone_ids = [
        bicepmodel._Evaluator(
            bicep[group.file], {**group.params, "e": endpoint}, bicepmodel.PUBLIC_CLOUD
        ).eval(config["properties"]["privateDnsZoneId"])
        for endpoint in bicepmodel.evaluate(bicep[group.file], "endpoints", group.params)
    ]
    assert zone_ids == [ZONES["blob"], ZONES["queue"], ZONES["vault"]]


def test_existing_subnets_are_used_and_no_vnet_created(bicep: dict[str, BicepFile]) -> None:
    """existingSubnetId (+ the endpoints' subnet): no VNet; the app, endpoints and links use them."""
    deployed = _deploy(
        bicep,
        vnetEnabled=True,
        existingSubnetId=APP_SUBNET,
        existingPrivateEndpointSubnetId=ENDPOINT_SUBNET,
    )
    assert "Microsoft.Network/virtualNetworks" not in _counts(deployed)
    site = _only(deployed, "Microsoft.Web/sites")
    assert _value(bicep, site, site.body["properties"]["virtualNetworkSubnetId"]) == APP_SUBNET
    endpoint = _only(deployed, PRIVATE_ENDPOINT)
    assert endpoint.params["subnetId"] == ENDPOINT_SUBNET
    assert endpoint.params["vnetId"] == APP_SUBNET.split("/subnets/")[0]


def test_vnet_closes_the_storage_firewall_to_all_but_trusted_services(
    bicep: dict[str, BicepFile],
) -> None:
    """With vnetEnabled the account's default action is Deny, bypass AzureServices, no rules."""
    for vnet, action in ((True, "Deny"), (False, "Allow")):
        account = _only(_deploy(bicep, vnetEnabled=vnet), "Microsoft.Storage/storageAccounts")
        acls = _value(bicep, account, account.body["properties"]["networkAcls"])
        assert acls == {"bypass": "AzureServices", "defaultAction": action}
        assert account.body["properties"]["allowSharedKeyAccess"] is False


# --- Key Vault events through the queue -------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "effective"),
    [
        ({}, "functionWebhook"),
        ({"eventDelivery": "storageQueue"}, "storageQueue"),
        ({"vnetEnabled": True}, "storageQueue"),
        ({"vnetEnabled": True, "eventDelivery": "functionWebhook"}, "storageQueue"),
    ],
)
def test_event_delivery_is_the_queue_whenever_the_app_is_private(
    bicep: dict[str, BicepFile], parameters: dict[str, Any], effective: str
) -> None:
    """The eventDelivery output is what was asked, except storageQueue always with vnetEnabled."""
    assert _decorator_allowed(bicep, "eventDelivery") == ["functionWebhook", "storageQueue"]
    assert bicep[MAIN].parameters()["eventDelivery"]["default"] == "functionWebhook"
    assert _output(bicep, "eventDelivery", **parameters) == effective


def _decorator_allowed(bicep: dict[str, BicepFile], parameter: str) -> Any:
    decorators = bicep[MAIN].parameters()[parameter]["decorators"]
    (allowed,) = [d["argument"] for d in decorators if d["type"] == "allowed"]
    return allowed


def _subscription(bicep: dict[str, BicepFile], **parameters: Any) -> dict[str, Any]:
    """The event subscription's properties in this deployment (it must be deployed)."""
    subscription = _only(_deploy(bicep, **parameters), SUBSCRIPTION)
    return dict(_value(bicep, subscription, subscription.body["properties"]))


def test_queue_delivery_subscribes_the_queue_on_the_first_pass(bicep: dict[str, BicepFile]) -> None:
    """With the queue the subscription exists without deployEventSubscription and delivers to
    keyvault-events with the topic's identity; the function's needs the second pass."""
    properties = _subscription(bicep, eventDelivery="storageQueue")
    delivery = properties["deliveryWithResourceIdentity"]
    assert delivery["identity"] == {"type": "SystemAssigned"}
    assert delivery["destination"]["endpointType"] == "StorageQueue"
    assert delivery["destination"]["properties"]["queueName"] == "keyvault-events"
    assert delivery["destination"]["properties"]["resourceId"] == "<storage.outputs.id>"
    assert "destination" not in properties
    assert SUBSCRIPTION not in _counts(_deploy(bicep))
    function = _subscription(bicep, deployEventSubscription=True)
    assert function["destination"]["endpointType"] == "AzureFunction"
    assert "deliveryWithResourceIdentity" not in function


def test_queue_subscription_keeps_the_filter_retry_and_dead_letters(
    bicep: dict[str, BicepFile],
) -> None:
    """Both routes share the event types, the retry policy, dead-lettering and the schema."""
    queue = _subscription(bicep, vnetEnabled=True)
    function = _subscription(bicep, deployEventSubscription=True)
    for key in ("filter", "retryPolicy", "deadLetterWithResourceIdentity", "eventDeliverySchema"):
        assert queue[key] == function[key], key


def test_queue_delivery_creates_the_queue_and_its_poison_queue(bicep: dict[str, BicepFile]) -> None:
    """keyvault-events and keyvault-events-poison, and the output names the first."""
    names = {
        _value(bicep, d, d.body["name"])
        for d in _deploy(bicep, eventDelivery="storageQueue")
        if d.type == QUEUE
    }
    assert names == {"keyvault-events", "keyvault-events-poison"}
    assert _output(bicep, "keyVaultEventsQueueName") == "keyvault-events"
    assert _counts(_deploy(bicep))[QUEUE] == 2  # the webhook route keeps the trigger's queue


def test_queue_roles_are_sender_for_the_topic_and_contributor_for_the_app(
    bicep: dict[str, BicepFile],
) -> None:
    """The topic may add messages to the events queue; the app may read, release and poison."""
    deployed = _deploy(bicep, eventDelivery="storageQueue")
    roles = {
        d.symbol: d
        for d in deployed
        if d.file == "infra/modules/queue-events.bicep" and d.type == ROLE_ASSIGNMENT
    }
    assert set(roles) == {"topicMessageSender", "functionQueueContributor"}
    assert roles["topicMessageSender"].body["scope"] == "eventsQueue"
    assert roles["topicMessageSender"].params["systemTopicPrincipalId"] == (
        "<keyVaultAccess.outputs.systemTopicPrincipalId>"
    )
    assert roles["functionQueueContributor"].body["scope"] == "account"
    assert _role_ids(deployed, bicep) - _role_ids(_deploy(bicep), bicep) == Counter(
        {QUEUE_SENDER: 1}
    )
    assert _role_ids(_deploy(bicep), bicep)[QUEUE_CONTRIBUTOR] == 1  # the trigger reads it always


@EVERY_CLOUD
def test_queue_connection_settings_are_identity_based(
    bicep: dict[str, BicepFile], environment: dict[str, Any]
) -> None:
    """KeyVaultEventsQueue__queueServiceUri/credential/clientId on both routes."""
    file = bicep["infra/modules/function-app.bicep"]
    given = {
        "storageAccountName": "strotator",
        "identityClientId": "client-id",
        "keyVaultEventsQueueName": "keyvault-events",
    }
    settings = bicepmodel.evaluate(file, "keyVaultEventsQueueSettings", given, environment)
    suffix = environment["suffixes"]["storage"]
    assert {s["name"]: s["value"] for s in settings} == {
        "KeyVaultEventsQueue__queueServiceUri": f"https://strotator.queue.{suffix}",
        "KeyVaultEventsQueue__credential": "managedidentity",
        "KeyVaultEventsQueue__clientId": "client-id",
    }
    given["keyVaultEventsQueueName"] = ""
    assert bicepmodel.evaluate(file, "keyVaultEventsQueueSettings", given, environment) == []
    for parameters in ({"vnetEnabled": True}, {}):  # the trigger is indexed on either route
        site = _only(_deploy(bicep, **parameters), "Microsoft.Web/sites")
        assert site.params["keyVaultEventsQueueName"] == "keyvault-events", parameters


# --- alerts and diagnostics -------------------------------------------------------------------


def test_delivery_alerts_watch_the_three_event_grid_metrics(bicep: dict[str, BicepFile]) -> None:
    """One metric alert each on DeliveryAttemptFailCount, DroppedEventCount and DeadLetteredCount."""
    alert = _only(_deploy(bicep), "Microsoft.Insights/metricAlerts")
    metrics = bicepmodel.evaluate(bicep[alert.file], "deliveryMetrics", alert.params)
    assert {m["metric"] for m in metrics} == {
        "DeliveryAttemptFailCount",
        "DroppedEventCount",
        "DeadLetteredCount",
    }
    (criterion,) = alert.body["properties"]["criteria"]["allOf"]
    assert criterion["metricNamespace"] == "Microsoft.EventGrid/systemTopics"
    assert alert.params["systemTopicId"] == "<keyVaultAccess.outputs.systemTopicId>"


def test_poison_alert_exists_only_with_the_queue_and_reads_the_hosts_poison_log(
    bicep: dict[str, BicepFile],
) -> None:
    """A log alert on the host's MaxDequeueCount warning naming keyvault-events-poison."""
    deployed = _deploy(bicep, eventDelivery="storageQueue")
    rule = _only(deployed, "Microsoft.Insights/scheduledQueryRules", "poisonMessage")
    (criterion,) = rule.body["properties"]["criteria"]["allOf"]
    query = _value(bicep, rule, criterion["query"])
    assert "MaxDequeueCount" in query
    assert '"keyvault-events-poison"' in query
    assert not [d for d in _deploy(bicep) if d.symbol == "poisonMessage"]


def test_host_json_lets_the_hosts_poison_warning_reach_application_insights() -> None:
    """The poison alert reads a host Warning: host.json's default level must keep Warnings and
    must not sample traces away."""
    host = json.loads((bicepmodel.REPO / "host.json").read_text(encoding="utf-8"))
    levels = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]
    default = host["logging"]["logLevel"]["default"]
    assert levels.index(default) <= levels.index("Warning")
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    assert not sampling["isEnabled"] or "Trace" in sampling["excludedTypes"].split(";")


def test_system_topic_diagnostics_send_delivery_failures(bicep: dict[str, BicepFile]) -> None:
    """The topic's diagnostic setting sends DeliveryFailures (a system topic has no PublishFailures)."""
    setting = _only(_deploy(bicep), DIAGNOSTIC_SETTING, "topicDiagnostics")
    logs = [log["category"] for log in setting.body["properties"]["logs"]]
    assert logs == ["DeliveryFailures"]
    assert setting.params["workspaceId"] == "<monitoring.outputs.workspaceId>"
    assert not [d for d in _deploy(bicep, diagnosticsEnabled=False) if d.type == DIAGNOSTIC_SETTING]


def test_storage_diagnostics_log_blob_and_queue_operations(bicep: dict[str, BicepFile]) -> None:
    """Blob and queue services send StorageRead/Write/Delete and Transaction; the account metrics."""
    settings = {
        d.symbol: d
        for d in _deploy(bicep)
        if d.type == DIAGNOSTIC_SETTING and d.file == "infra/modules/diagnostics.bicep"
    }
    assert set(settings) == {"accountDiagnostics", "blobDiagnostics", "queueDiagnostics"}
    for symbol in ("blobDiagnostics", "queueDiagnostics"):
        setting = settings[symbol]
        logs = _value(bicep, setting, setting.body["properties"]["logs"])
        assert [log["category"] for log in logs] == ["StorageRead", "StorageWrite", "StorageDelete"]
    for setting in settings.values():
        metrics = _value(bicep, setting, setting.body["properties"]["metrics"])
        assert [m["category"] for m in metrics] == ["Transaction"]


def test_an_existing_workspace_and_action_group_are_used_instead_of_new_ones(
    bicep: dict[str, BicepFile],
) -> None:
    """existingLogAnalyticsWorkspaceId and existingActionGroupId: neither is created."""
    workspace = "/subscriptions/0/resourceGroups/rg-mon/providers/Microsoft.OperationalInsights/workspaces/central"
    group = (
        "/subscriptions/0/resourceGroups/rg-mon/providers/Microsoft.Insights/actionGroups/oncall"
    )
    deployed = _deploy(
        bicep, existingLogAnalyticsWorkspaceId=workspace, existingActionGroupId=group
    )
    counts = _counts(deployed)
    assert counts["Microsoft.OperationalInsights/workspaces"] == 0
    assert counts["Microsoft.Insights/actionGroups"] == 0
    insights = _only(deployed, "Microsoft.Insights/components")
    assert _value(bicep, insights, "logAnalyticsWorkspaceId") == workspace
    rule = _only(deployed, "Microsoft.Insights/scheduledQueryRules", "rotationFailed")
    assert _value(bicep, rule, "notifiedActionGroupId") == group


# --- governance -------------------------------------------------------------------------------


def test_an_existing_system_topic_is_not_created_tagged_or_given_an_identity(
    bicep: dict[str, BicepFile],
) -> None:
    """existingSystemTopic: no systemTopics resource is deployed; its identity is read, not set."""
    deployed = _deploy(bicep, existingSystemTopic=True, eventDelivery="storageQueue")
    assert SYSTEM_TOPIC not in _counts(deployed)
    access = bicep["infra/modules/keyvault-access.bicep"]
    principal = bicepmodel.evaluate(access, "topicPrincipalId", {"existingSystemTopic": True})
    assert principal == "<platformSystemTopic.identity.principalId>"
    assert access.resources()["platformSystemTopic"]["existing"] is True


@pytest.mark.parametrize(
    "parameters",
    [{}, {"vnetEnabled": True}, {"roleScope": "objects"}, {"eventDelivery": "storageQueue"}],
)
def test_no_role_assignment_is_created_when_asked_not_to(
    bicep: dict[str, BicepFile], parameters: dict[str, Any]
) -> None:
    """createRoleAssignments=false: no role assignment at all, in any mode."""
    deployed = _deploy(bicep, createRoleAssignments=False, **parameters)
    assert ROLE_ASSIGNMENT not in _counts(deployed)


@pytest.mark.parametrize(
    "parameters",
    [{}, {"vnetEnabled": True}, {"roleScope": "objects"}],
    ids=["vault", "vnet", "objects"],
)
def test_roles_to_grant_list_exactly_what_would_be_created(
    bicep: dict[str, BicepFile], parameters: dict[str, Any]
) -> None:
    """roleAssignmentsToGrant names the role ids the template creates otherwise (and [] then)."""
    listed = _output(bicep, "roleAssignmentsToGrant", createRoleAssignments=False, **parameters)
    created = _role_ids(_deploy(bicep, **parameters), bicep)
    assert Counter(g["roleDefinitionId"] for g in listed) == created
    assert {g["principalType"] for g in listed} == {"ServicePrincipal"}
    assert all(g["scope"] and g["roleName"] for g in listed)
    topic = "<keyVaultAccess.outputs.systemTopicPrincipalId>"
    app = "<identity.properties.principalId>"
    by_role = {(g["roleName"], g["principalId"]) for g in listed}
    assert ("Storage Blob Data Contributor", topic) in by_role
    assert ("Storage Blob Data Owner", app) in by_role
    assert {g["principalId"] for g in listed} <= {app, topic}
    assert _output(bicep, "roleAssignmentsToGrant", **parameters) == []


def test_roles_to_grant_name_the_scopes_the_modules_use(bicep: dict[str, BicepFile]) -> None:
    """The listed scopes are the account, its dead-letter container and queue, the component and the vault."""
    listed = _output(bicep, "roleAssignmentsToGrant", createRoleAssignments=False, vnetEnabled=True)
    account = f"{bicepmodel._RESOURCE_GROUP['id']}/providers/Microsoft.Storage/storageAccounts/"
    scopes = {g["roleName"]: g["scope"] for g in listed}
    assert scopes["Storage Blob Data Owner"].startswith(account)
    assert scopes["Storage Blob Data Contributor"].endswith(
        "/blobServices/default/containers/eventgrid-deadletter"
    )
    assert scopes["Storage Queue Data Message Sender"].endswith(
        "/queueServices/default/queues/keyvault-events"
    )
    assert scopes["Monitoring Metrics Publisher"].endswith(
        "/providers/Microsoft.Insights/components/rotator-insights"
    )
    assert scopes["Key Vault Secrets User"] == "<vault.id>"


def test_object_scope_grants_per_secret_and_certificate_instead_of_the_vault(
    bicep: dict[str, BicepFile],
) -> None:
    """roleScope=objects: no vault-wide role; Secrets User per secret, Certificate User per certificate."""
    config = {
        "keyVaultUrl": "https://contoso-kv.vault.azure.net",
        "connectors": [
            {"id": "signup-api", "certificate": "signup-client"},
            {"id": "claims-api", "basic": {"username": "b2c", "passwordSecret": "claims-password"}},
            {
                "id": "elsewhere",
                "certificate": "x",
                "keyVaultUrl": "https://other-kv.vault.azure.net",
            },
        ],
        "policyKeys": [
            {"keySet": "B2C_1A_RestApiKey", "secret": "rest-api-key"},
            {"keySet": "B2C_1A_ClientCert", "certificate": "signup-client"},
        ],
    }
    deployed = _deploy(bicep, roleScope="objects", rotatorConfig=config)
    vault_wide = [
        d
        for d in deployed
        if d.file == "infra/modules/keyvault-access.bicep" and d.type == ROLE_ASSIGNMENT
    ]
    assert vault_wide == []
    secrets = _only(deployed, ROLE_ASSIGNMENT, "secretUser")
    certificates = _only(deployed, ROLE_ASSIGNMENT, "certificateUser")
    assert secrets.params["secretNames"] == ["signup-client", "claims-password", "rest-api-key"]
    assert certificates.params["certificateNames"] == ["signup-client"]
    assert (secrets.count, certificates.count) == (3, 1)
    assert secrets.body["scope"]["operator"]["operands"]["operand_1"] == "secrets"
    assert certificates.body["scope"]["operator"]["operands"]["operand_1"] == "certificates"


def test_object_scope_includes_rotators_own_graph_credential_and_named_extras(
    bicep: dict[str, BicepFile],
) -> None:
    """The client certificate of client-certificate mode and keyVaultObjectNames are granted too."""
    given = {
        "graphCredential": "client-certificate",
        "graphClientCertificate": "rotator-graph-client",
        "keyVaultObjectNames": {"secrets": ["identity-secret"], "certificates": ["tenant2-cert"]},
    }
    certificates = _main(bicep, "objectCertificateNames", **given)
    assert certificates == ["signup-client", "rotator-graph-client", "tenant2-cert"]
    assert _main(bicep, "objectSecretNames", **given) == [*certificates, "identity-secret"]
    elsewhere = {**given, "graphKeyVaultUrl": "https://graph-kv.vault.azure.net"}
    assert "rotator-graph-client" not in _main(bicep, "objectCertificateNames", **elsewhere)


def test_role_scope_allows_vault_and_objects_and_defaults_to_vault(
    bicep: dict[str, BicepFile],
) -> None:
    """roleScope is vault (default) or objects; the default grants the two roles on the vault."""
    assert _decorator_allowed(bicep, "roleScope") == ["vault", "objects"]
    deployed = _deploy(bicep)
    vault_roles = [
        d
        for d in deployed
        if d.file == "infra/modules/keyvault-access.bicep" and d.type == ROLE_ASSIGNMENT
    ]
    assert {d.symbol for d in vault_roles} == {"secretsUser", "certificateUser"}
    assert not [d for d in deployed if d.file == "infra/modules/keyvault-object-access.bicep"]
