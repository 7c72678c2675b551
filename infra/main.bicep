// rotator: keeps Microsoft Graph API connectors (Azure AD B2C / Entra External ID) on the newest
// credential held in an EXISTING Key Vault (RBAC permission model).
//
// Deploys into the current resource group: a user-assigned identity, a storage account (host
// storage, Flex deployment package, state store, Event Grid dead letters; no account keys), Log
// Analytics (or existingLogAnalyticsWorkspaceId) + workspace-based Application Insights
// (Entra-authenticated telemetry only), a Flex Consumption (FC1) Python 3.11/3.12 Function App, an
// action group (or existingActionGroupId) and four log alerts; with diagnosticsEnabled (default)
// also three metric alerts on event delivery and the storage account's diagnostic settings.
// Into the vault's resource group: the identity's two read roles on the vault (roleScope=vault) or
// on each named secret and certificate (roleScope=objects), the vault's Event Grid system topic
// (or the existing one, existingSystemTopic) and the event subscription.
// Optionally, in the identity's own tenant: the Microsoft Graph permission APIConnectors.ReadWrite.All.
//
// Key Vault events reach the app one of two ways (eventDelivery):
// - functionWebhook (default without a VNet): Event Grid calls `rotate_on_keyvault_event`; its
//   subscription is created on a second pass (deployEventSubscription=true) once the code exists.
// - storageQueue (ALWAYS with vnetEnabled, since VNet integration is outbound only and Event Grid
//   cannot reach a private app): Event Grid writes to the queue `keyvault-events` with the topic's
//   identity and the queue trigger reads it; this subscription is created on the first pass.
//
// vnetEnabled=true adds a VNet (or uses existingSubnetId / existingPrivateEndpointSubnetId), Flex
// VNet integration, private endpoints + private DNS zones (or existingPrivateDnsZoneIds) for blob,
// queue and the vault, and closes the storage account's public endpoint to all but trusted Azure
// services. The vault's own public access is its owner's to close (infra/README.md).
//
// Every role assignment is scoped to one resource (the vault or a vault object, the storage
// account, a container or a queue, Application Insights), named guid(scope, principalId, roleId),
// principalType ServicePrincipal. createRoleAssignments=false creates none and outputs them as
// roleAssignmentsToGrant. See infra/README.md for the deploy commands and the role table.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Where and what

@description('Region of the resources created here (the system topic follows the vault\'s region). Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Prefix of the resource names (lower-case letters, digits and hyphens).')
@minLength(3)
@maxLength(16)
param namePrefix string = 'rotator'

@description('Tags applied to every resource created.')
param tags object = {}

@description('Name of the existing Key Vault that holds the connectors\' certificates and passwords (RBAC permission model).')
param keyVaultName string

@description('Resource group of that Key Vault (default: this one). Same subscription.')
param keyVaultResourceGroupName string = resourceGroup().name

@description('Name of the vault\'s Event Grid system topic. A vault can have only one: if it already has one, give its name here.')
param systemTopicName string = '${keyVaultName}-events'

@description('Function App name (globally unique host name).')
param functionAppName string = '${namePrefix}-${uniqueString(resourceGroup().id)}'

@description('Storage account name (3-24 lower-case letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param storageAccountName string = take('st${toLower(replace(namePrefix, '-', ''))}${uniqueString(resourceGroup().id)}', 24)

@description('Storage replication. The zone-redundant SKUs (Standard_ZRS, the default, Standard_GZRS, Standard_RAGZRS) exist only in regions with availability zones: elsewhere give Standard_LRS (or Standard_GRS / Standard_RAGRS). The account holds nothing a redeploy cannot recreate except the rotation history and pins.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param storageSkuName string = 'Standard_ZRS'

@description('Largest number of Flex Consumption instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per Flex Consumption instance (MB).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Create the Event Grid subscription to rotate_on_keyvault_event. Its endpoint is validated on creation, so the function must exist: deploy with false, publish the code, deploy again with true.')
param deployEventSubscription bool = false

@description('How Event Grid reaches rotate_on_keyvault_event. AzureFunction (default): Event Grid resolves the function by resource id. WebHook: the Event Grid extension\'s URL with its system key (eventgrid_extension), read at deployment; use it if creating or delivering to the AzureFunction endpoint fails on Flex Consumption (see infra/README.md).')
@allowed(['AzureFunction', 'WebHook'])
param eventSubscriptionEndpoint string = 'AzureFunction'

@description('Grant the managed identity the Graph application permission APIConnectors.ReadWrite.All in its own tenant (workforce / Entra External ID tenant that owns the connectors). False for Azure AD B2C, a separate directory: use ROTATOR_GRAPH_CREDENTIAL=client-certificate there. Public cloud only (the Microsoft Graph Bicep extension).')
param grantGraphPermission bool = false

@description('Runtime of the Function App (functionAppConfig.runtime.version).')
@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'

// ---------------------------------------------------------------------------------------------
// Key Vault events, private network

@description('How Key Vault events reach the app: functionWebhook (Event Grid calls rotate_on_keyvault_event; second pass, see deployEventSubscription) or storageQueue (Event Grid writes to the queue keyvault-events with the system topic\'s identity; the queue trigger reads it; created on the first pass). With vnetEnabled=true the queue is ALWAYS used, whatever this says: Event Grid cannot reach a private app.')
@allowed(['functionWebhook', 'storageQueue'])
param eventDelivery string = 'functionWebhook'

@description('Private network: Flex VNet integration, private endpoints and private DNS zones for blob, queue and the Key Vault, the storage account\'s public endpoint closed to all but trusted Azure services, Key Vault events through the queue. The vault\'s own public access is left to its owner (infra/README.md).')
param vnetEnabled bool = false

@description('vnetEnabled: an existing subnet delegated to Microsoft.App/environments for the app\'s VNet integration (empty: create a VNet). Give existingPrivateEndpointSubnetId with it.')
param existingSubnetId string = ''

@description('vnetEnabled with existingSubnetId: an existing subnet (not delegated) for the private endpoints.')
param existingPrivateEndpointSubnetId string = ''

@description('vnetEnabled without existingSubnetId: address space of the VNet created here.')
param vnetAddressPrefix string = '10.60.0.0/24'

@description('Subnet of the created VNet delegated to Microsoft.App/environments (inside vnetAddressPrefix).')
param appSubnetAddressPrefix string = '10.60.0.0/25'

@description('Subnet of the created VNet for the private endpoints (inside vnetAddressPrefix).')
param privateEndpointSubnetAddressPrefix string = '10.60.0.128/26'

@description('vnetEnabled: existing private DNS zones by resource id, keyed blob, queue and vault (e.g. a hub\'s central zones, already linked). A key left out gets its zone created here and linked to the VNet.')
param existingPrivateDnsZoneIds object = {}

// ---------------------------------------------------------------------------------------------
// Governance

@description('Use the vault\'s existing system topic systemTopicName as is: no tags set, no identity turned on. It must live in the vault\'s resource group and already have a system-assigned identity (dead-lettering and queue delivery use it).')
param existingSystemTopic bool = false

@description('Create the role assignments. false: create none and output them as roleAssignmentsToGrant for whoever holds the rights.')
param createRoleAssignments bool = true

@description('Where the two Key Vault read roles apply: vault (the whole vault) or objects (each secret and certificate rotatorConfig names in keyVaultName, plus keyVaultObjectNames).')
@allowed(['vault', 'objects'])
param roleScope string = 'vault'

@description('roleScope=objects: more objects to grant than rotatorConfig\'s connectors and policyKeys name, as {"certificates": [...], "secrets": [...]} (e.g. the "identities" credentials).')
param keyVaultObjectNames object = {}

@description('Resource id of an existing Log Analytics workspace (empty: create one).')
param existingLogAnalyticsWorkspaceId string = ''

@description('Resource id of an existing action group for every alert (empty: create one with alertEmails).')
param existingActionGroupId string = ''

@description('Alerts on Key Vault event delivery (DeliveryAttemptFailCount, DroppedEventCount, DeadLetteredCount; poison messages with the queue) and diagnostic settings of the system topic and the storage account, to the workspace. false: neither (the resources of earlier versions only).')
param diagnosticsEnabled bool = true

// ---------------------------------------------------------------------------------------------
// Alerts

@description('E-mail addresses that receive the alerts.')
@minLength(1)
param alertEmails array

@description('Hours between two runs of ROTATOR_SCHEDULE (keep the two in step). The "no completed run" alert fires after two periods of silence.')
@minValue(1)
@maxValue(24)
param schedulePeriodHours int = 6

// ---------------------------------------------------------------------------------------------
// Application settings the code reads (see the README's configuration table)

@description('ROTATOR_CONFIG: the targets document ({"keyVaultUrl": ..., "connectors": [...]}).')
param rotatorConfig object

@description('The default probe of every connector (ROTATOR_CONFIG\'s top-level "probe"; README "The probe"): before any write to Graph, call the connector\'s API with the new credential and go ahead only if it accepts it. {} probes every connector\'s targetUrl with the defaults; a connector may still say "probe": false. Empty (the default): only connectors with their own "probe" are probed. A "probe" already in rotatorConfig wins.')
param defaultProbe object = {}

@description('ROTATOR_GRAPH_ENDPOINT: Microsoft Graph root (national clouds differ).')
param graphEndpoint string = 'https://graph.microsoft.com'

@description('ROTATOR_GRAPH_API_VERSION.')
@allowed(['beta', 'v1.0'])
param graphApiVersion string = 'beta'

@description('ROTATOR_PKCS12_PROFILE: legacy-3des is what Azure AD B2C accepts; aes256 is opt-in.')
@allowed(['legacy-3des', 'aes256'])
param pkcs12Profile string = 'legacy-3des'

@description('ROTATOR_SCHEDULE: six-field NCRONTAB of the timer trigger.')
param schedule string = '0 0 */6 * * *'

// The bounds of the numeric settings are the code's (rotator/settings.py); tests/infra checks that
// each value the Bicep allows is one the app accepts, and no more.

@description('ROTATOR_EXPIRY_WARNING_DAYS: warn when the newest credential expires within this many days (0: the timer never warns).')
@minValue(0)
@maxValue(3650)
param expiryWarningDays int = 30

@description('ROTATOR_MAX_PARALLEL: targets rotated at the same time.')
@minValue(1)
@maxValue(64)
param maxParallel int = 4

@description('ROTATOR_HTTP_TIMEOUT: read timeout of each Graph and Key Vault call, in seconds.')
@minValue(1)
@maxValue(300)
param httpTimeoutSeconds int = 30

@description('ROTATOR_VERIFY_TIMEOUT: seconds to keep re-reading Graph until it shows the new credential.')
@minValue(0)
@maxValue(300)
param verifyTimeoutSeconds int = 10

@description('ROTATOR_GRAPH_CREDENTIAL: how the app gets a Graph token. default = the managed identity (workforce / External ID tenant); client-certificate = an app registered in the connectors\' tenant (Azure AD B2C).')
@allowed(['default', 'client-certificate', 'client-secret'])
param graphCredential string = 'default'

@description('ROTATOR_GRAPH_TENANT_ID: tenant of the connectors (client-certificate / client-secret).')
param graphTenantId string = ''

@description('ROTATOR_GRAPH_CLIENT_ID: application (client) id of the app registration in that tenant.')
param graphClientId string = ''

@description('ROTATOR_GRAPH_CLIENT_CERTIFICATE: name of the Key Vault certificate that app authenticates with (client-certificate).')
param graphClientCertificate string = ''

@description('ROTATOR_GRAPH_CLIENT_SECRET: NAME of the Key Vault secret that holds that app\'s client secret (client-secret, the last resort). Never the secret itself: the app reads it from Key Vault.')
param graphClientSecretName string = ''

@description('ROTATOR_GRAPH_KEYVAULT_URL: vault of that certificate or secret (client modes; empty: the top-level keyVaultUrl of rotatorConfig). The template grants the identity read roles on keyVaultName only.')
param graphKeyVaultUrl string = ''

@description('ROTATOR_AUTHORITY_HOST: Entra authority for national clouds (empty = the code\'s default, login.microsoftonline.com).')
param authorityHost string = ''

// ---------------------------------------------------------------------------------------------

// Container names are 3-63 lower-case letters, digits and single hyphens, starting and ending with a
// letter or digit. An app name's hyphens are dropped (take() could end the name on one, and a
// hyphen before the suffix would then double it); the suffix keeps names apart, as in Microsoft's
// Flex samples (Azure-Samples/functions-quickstart-python-http-azd: app-package-<app>-<7 chars>).
var deploymentContainerApp = take(replace(toLower(functionAppName), '-', ''), 32)
var deploymentContainerSuffix = take(uniqueString(resourceGroup().id, functionAppName), 7)
var deploymentContainerName = 'app-package-${deploymentContainerApp}-${deploymentContainerSuffix}'
var stateContainerName = 'rotator-state'
var deadLetterContainerName = 'eventgrid-deadletter'
var allTags = union(tags, {
  application: 'rotator'
})

// The delivery actually used: the queue whenever the app is private (enforced here, whatever
// eventDelivery says), else what was asked.
var effectiveEventDelivery = vnetEnabled ? 'storageQueue' : eventDelivery
var queueDelivery = effectiveEventDelivery == 'storageQueue'
var keyVaultEventsQueueName = 'keyvault-events'
// The event subscription: the queue's on the first pass; the function's only once asked.
var createEventSubscription = queueDelivery || deployEventSubscription

// Private network: the subnets created here or given.
var createNetwork = vnetEnabled && empty(existingSubnetId)
// Key Vault read roles: on the whole vault, or per secret and certificate.
var vaultWideRoles = roleScope == 'vault'
var grantVaultRoles = createRoleAssignments && vaultWideRoles
var grantObjectRoles = createRoleAssignments && !vaultWideRoles

// The existing vault: its region (for the system topic), its id (private endpoint, role grants).
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
  scope: resourceGroup(keyVaultResourceGroupName)
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-identity'
  location: location
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'rotator-monitoring'
  params: {
    workspaceName: '${namePrefix}-logs'
    applicationInsightsName: '${namePrefix}-insights'
    location: location
    tags: allTags
    functionPrincipalId: identity.properties.principalId
    existingWorkspaceId: existingLogAnalyticsWorkspaceId
    createRoleAssignments: createRoleAssignments
  }
}

module network 'modules/network.bicep' = if (createNetwork) {
  name: 'rotator-network'
  params: {
    name: '${namePrefix}-vnet'
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetAddressPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetAddressPrefix
  }
}

// The subnets and VNet in use: created above, or given (the VNet is the subnet id's parent).
var appSubnetId = createNetwork ? network.outputs.appSubnetId : existingSubnetId
var privateEndpointSubnetId = createNetwork ? network.outputs.privateEndpointSubnetId : existingPrivateEndpointSubnetId
var linkedVnetId = createNetwork ? network.outputs.id : split(existingSubnetId, '/subnets/')[0]

module storage 'modules/storage.bicep' = {
  name: 'rotator-storage'
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    stateContainerName: stateContainerName
    deadLetterContainerName: deadLetterContainerName
    functionPrincipalId: identity.properties.principalId
    privateNetwork: vnetEnabled
    createRoleAssignments: createRoleAssignments
  }
}

module privateEndpoints 'modules/private-endpoints.bicep' = if (vnetEnabled) {
  name: 'rotator-private-endpoints'
  params: {
    namePrefix: namePrefix
    location: location
    tags: allTags
    subnetId: privateEndpointSubnetId
    vnetId: linkedVnetId
    storageAccountId: storage.outputs.id
    keyVaultId: vault.id
    existingPrivateDnsZoneIds: existingPrivateDnsZoneIds
  }
}

// The targets document with the default probe at its top level (unless it has its own).
var configKeepsItsProbe = empty(defaultProbe) || contains(rotatorConfig, 'probe')
var configWithProbe = configKeepsItsProbe ? rotatorConfig : union(rotatorConfig, { probe: defaultProbe })

// Settings with a value in every deployment ...
var rotatorSettings = {
  ROTATOR_CONFIG: string(configWithProbe)
  ROTATOR_GRAPH_ENDPOINT: graphEndpoint
  ROTATOR_GRAPH_API_VERSION: graphApiVersion
  ROTATOR_PKCS12_PROFILE: pkcs12Profile
  ROTATOR_SCHEDULE: schedule
  ROTATOR_EXPIRY_WARNING_DAYS: string(expiryWarningDays)
  ROTATOR_MAX_PARALLEL: string(maxParallel)
  ROTATOR_HTTP_TIMEOUT: string(httpTimeoutSeconds)
  ROTATOR_VERIFY_TIMEOUT: string(verifyTimeoutSeconds)
  ROTATOR_GRAPH_CREDENTIAL: graphCredential
  // The state store: this container on the host storage account (AzureWebJobsStorage__*).
  ROTATOR_STATE_CONTAINER: stateContainerName
  // DefaultAzureCredential picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identity.properties.clientId
}

// ... and optional ones, left out when empty so the code applies its own default. The app
// registration settings are left out in 'default' mode too, and the certificate and the secret
// outside their own mode: the code refuses a setting its mode would ignore.
var graphAppMode = graphCredential != 'default'
var graphCertificateMode = graphCredential == 'client-certificate'
var graphSecretMode = graphCredential == 'client-secret'
var graphTenantSetting = (empty(graphTenantId) || !graphAppMode) ? {} : {
  ROTATOR_GRAPH_TENANT_ID: graphTenantId
}
var graphClientSetting = (empty(graphClientId) || !graphAppMode) ? {} : {
  ROTATOR_GRAPH_CLIENT_ID: graphClientId
}
var graphCertificateSetting = (empty(graphClientCertificate) || !graphCertificateMode) ? {} : {
  ROTATOR_GRAPH_CLIENT_CERTIFICATE: graphClientCertificate
}
var graphSecretSetting = (empty(graphClientSecretName) || !graphSecretMode) ? {} : {
  ROTATOR_GRAPH_CLIENT_SECRET: graphClientSecretName
}
var graphKeyVaultSetting = (empty(graphKeyVaultUrl) || !graphAppMode) ? {} : {
  ROTATOR_GRAPH_KEYVAULT_URL: graphKeyVaultUrl
}
var authorityHostSetting = empty(authorityHost) ? {} : {
  ROTATOR_AUTHORITY_HOST: authorityHost
}

module functionApp 'modules/function-app.bicep' = {
  name: 'rotator-function-app'
  params: {
    name: functionAppName
    planName: '${namePrefix}-plan'
    location: location
    tags: allTags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    pythonVersion: pythonVersion
    virtualNetworkSubnetId: vnetEnabled ? appSubnetId : ''
    // always: the queue trigger is indexed on either route, and a trigger without its connection
    // is an indexing error even when disabled (Azure/azure-functions-host#6885)
    keyVaultEventsQueueName: keyVaultEventsQueueName
    rotatorSettings: union(rotatorSettings, graphTenantSetting, graphClientSetting, graphCertificateSetting, graphSecretSetting, graphKeyVaultSetting, authorityHostSetting)
  }
  // In private mode the host reaches its storage only through the private endpoints.
  dependsOn: [
    privateEndpoints
  ]
}

module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: 'rotator-keyvault-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    functionPrincipalId: identity.properties.principalId
    systemTopicName: systemTopicName
    location: vault.location
    tags: allTags
    existingSystemTopic: existingSystemTopic
    grantVaultRoles: grantVaultRoles
    workspaceId: diagnosticsEnabled ? monitoring.outputs.workspaceId : ''
  }
}

// roleScope=objects: the Key Vault objects rotatorConfig names, derived here. An entry's objects
// are in keyVaultName when its own keyVaultUrl (else the top-level one) is this vault's URL.
// A certificate's private key is read as the secret of the same name, so every certificate is a
// secret too. ARM's if() evaluates only the branch it takes, so a missing key is never read.
var vaultUrlPrefix = 'https://${toLower(keyVaultName)}.'
var topLevelVaultUrl = contains(rotatorConfig, 'keyVaultUrl') ? rotatorConfig.keyVaultUrl : vaultUrlPrefix
var configConnectors = contains(rotatorConfig, 'connectors') ? rotatorConfig.connectors : []
var configPolicyKeys = contains(rotatorConfig, 'policyKeys') ? rotatorConfig.policyKeys : []
var entriesInThisVault = filter(concat(configConnectors, configPolicyKeys), e => startsWith(toLower(contains(e, 'keyVaultUrl') ? e.keyVaultUrl : topLevelVaultUrl), vaultUrlPrefix))
var configCertificateNames = [for e in filter(entriesInThisVault, e => contains(e, 'certificate')): e.certificate]
var configPasswordNames = [for e in filter(entriesInThisVault, e => contains(e, 'basic')): e.basic.passwordSecret]
var configPolicySecretNames = [for e in filter(entriesInThisVault, e => contains(e, 'secret')): e.secret]
// rotator's own Graph credential (client modes), when it lives in this vault.
var graphObjectsInThisVault = startsWith(toLower(empty(graphKeyVaultUrl) ? topLevelVaultUrl : graphKeyVaultUrl), vaultUrlPrefix)
var graphCertificateNames = (graphCertificateMode && graphObjectsInThisVault && !empty(graphClientCertificate)) ? [graphClientCertificate] : []
var graphSecretNames = (graphSecretMode && graphObjectsInThisVault && !empty(graphClientSecretName)) ? [graphClientSecretName] : []
var extraCertificateNames = contains(keyVaultObjectNames, 'certificates') ? keyVaultObjectNames.certificates : []
var extraSecretNames = contains(keyVaultObjectNames, 'secrets') ? keyVaultObjectNames.secrets : []
var objectCertificateNames = union(configCertificateNames, graphCertificateNames, extraCertificateNames)
var objectSecretNames = union(objectCertificateNames, configPasswordNames, configPolicySecretNames, graphSecretNames, extraSecretNames)

module keyVaultObjectAccess 'modules/keyvault-object-access.bicep' = if (grantObjectRoles) {
  name: 'rotator-keyvault-object-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    functionPrincipalId: identity.properties.principalId
    secretNames: objectSecretNames
    certificateNames: objectCertificateNames
  }
}

module deadLetterAccess 'modules/deadletter-access.bicep' = {
  name: 'rotator-deadletter-access'
  params: {
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
    systemTopicPrincipalId: keyVaultAccess.outputs.systemTopicPrincipalId
    createRoleAssignments: createRoleAssignments
  }
}

module queueEvents 'modules/queue-events.bicep' = {
  name: 'rotator-queue-events'
  params: {
    storageAccountName: storage.outputs.name
    queueName: keyVaultEventsQueueName
    systemTopicPrincipalId: keyVaultAccess.outputs.systemTopicPrincipalId
    functionPrincipalId: identity.properties.principalId
    topicDelivers: queueDelivery
    createRoleAssignments: createRoleAssignments
  }
}

module keyVaultEvents 'modules/keyvault-events.bicep' = if (createEventSubscription) {
  name: 'rotator-keyvault-events'
  scope: resourceGroup(keyVaultResourceGroupName)
  dependsOn: [
    deadLetterAccess
    queueEvents
  ]
  params: {
    systemTopicName: keyVaultAccess.outputs.systemTopicName
    endpointType: queueDelivery ? 'StorageQueue' : eventSubscriptionEndpoint
    functionAppId: functionApp.outputs.id
    functionAppHostName: functionApp.outputs.defaultHostName
    functionName: 'rotate_on_keyvault_event'
    storageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
    queueName: keyVaultEventsQueueName
    maxDeliveryAttempts: 10
    eventTimeToLiveInMinutes: 1440
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'rotator-alerts'
  params: {
    namePrefix: namePrefix
    location: location
    tags: allTags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmails: alertEmails
    schedulePeriodHours: schedulePeriodHours
    existingActionGroupId: existingActionGroupId
  }
}

module deliveryAlerts 'modules/delivery-alerts.bicep' = if (diagnosticsEnabled) {
  name: 'rotator-delivery-alerts'
  params: {
    namePrefix: namePrefix
    location: location
    tags: allTags
    systemTopicId: keyVaultAccess.outputs.systemTopicId
    actionGroupId: alerts.outputs.actionGroupId
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    poisonQueueName: queueDelivery ? '${keyVaultEventsQueueName}-poison' : ''
  }
}

module storageDiagnostics 'modules/diagnostics.bicep' = if (diagnosticsEnabled) {
  name: 'rotator-storage-diagnostics'
  params: {
    storageAccountName: storage.outputs.name
    workspaceId: monitoring.outputs.workspaceId
  }
}

// Every role assignment the template makes (or, with createRoleAssignments=false, would make), for
// roleAssignmentsToGrant. Role ids as in the modules (tests/infra checks they agree). Built from
// values known when the deployment starts (resourceId(), parameters), because Bicep allows nothing
// else in a variable's for-body (BCP182); the principal ids, known only later, are added in the
// output's own loop through `grantPrincipalIds`.
var storageAccountId = resourceId('Microsoft.Storage/storageAccounts', storageAccountName)
var vaultRoleGrants = [
  {
    principal: 'app'
    scope: vault.id
    roleName: 'Key Vault Secrets User'
    roleDefinitionId: '4633458b-17de-408a-b874-0445c86b69e6'
  }
  {
    principal: 'app'
    scope: vault.id
    roleName: 'Key Vault Certificate User'
    roleDefinitionId: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'
  }
]
var secretRoleGrants = [for name in objectSecretNames: {
  principal: 'app'
  scope: '${vault.id}/secrets/${name}'
  roleName: 'Key Vault Secrets User'
  roleDefinitionId: '4633458b-17de-408a-b874-0445c86b69e6'
}]
var certificateRoleGrants = [for name in objectCertificateNames: {
  principal: 'app'
  scope: '${vault.id}/certificates/${name}'
  roleName: 'Key Vault Certificate User'
  roleDefinitionId: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'
}]
var storageRoleGrants = [
  {
    principal: 'app'
    scope: storageAccountId
    roleName: 'Storage Blob Data Owner'
    roleDefinitionId: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  }
  {
    principal: 'app'
    scope: resourceId('Microsoft.Insights/components', '${namePrefix}-insights')
    roleName: 'Monitoring Metrics Publisher'
    roleDefinitionId: '3913510d-42f4-4e42-8a64-420c390055eb'
  }
  {
    principal: 'topic'
    scope: '${storageAccountId}/blobServices/default/containers/${deadLetterContainerName}'
    roleName: 'Storage Blob Data Contributor'
    roleDefinitionId: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  }
]
var queueRoleGrants = [
  {
    principal: 'topic'
    scope: '${storageAccountId}/queueServices/default/queues/${keyVaultEventsQueueName}'
    roleName: 'Storage Queue Data Message Sender'
    roleDefinitionId: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  }
  {
    principal: 'app'
    scope: storageAccountId
    roleName: 'Storage Queue Data Contributor'
    roleDefinitionId: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  }
]
var keyVaultRoleGrants = vaultWideRoles ? vaultRoleGrants : concat(secretRoleGrants, certificateRoleGrants)
var allRoleGrants = concat(keyVaultRoleGrants, storageRoleGrants, queueDelivery ? queueRoleGrants : [queueRoleGrants[1]])
var roleGrantsToList = createRoleAssignments ? [] : allRoleGrants
var grantPrincipalIds = {
  app: identity.properties.principalId
  topic: keyVaultAccess.outputs.systemTopicPrincipalId
}

// Microsoft Graph extension in its own module (see the module's header for why).
module graphPermission 'modules/graph-permission.bicep' = if (grantGraphPermission) {
  name: 'rotator-graph-permission'
  params: {
    principalId: identity.properties.principalId
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output storageAccountName string = storage.outputs.name
output stateContainerName string = stateContainerName
output keyVaultUri string = keyVaultAccess.outputs.vaultUri
output systemTopicName string = keyVaultAccess.outputs.systemTopicName
@description('How Key Vault events reach the app: storageQueue whenever vnetEnabled, else eventDelivery.')
output eventDelivery string = effectiveEventDelivery
@description('The queue Key Vault events are delivered to (used with eventDelivery=storageQueue); its poison queue is this name + -poison.')
output keyVaultEventsQueueName string = keyVaultEventsQueueName
@description('createRoleAssignments=false: the role assignments to grant (scope, roleName, roleDefinitionId, principalId, principalType); empty when the template made them.')
output roleAssignmentsToGrant array = [for grant in roleGrantsToList: {
  scope: grant.scope
  roleName: grant.roleName
  roleDefinitionId: grant.roleDefinitionId
  principalId: grantPrincipalIds[grant.principal]
  principalType: 'ServicePrincipal'
}]
