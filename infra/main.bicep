// rotator: keeps Microsoft Graph API connectors (Azure AD B2C / Entra External ID) on the newest
// credential held in an EXISTING Key Vault (RBAC permission model).
//
// Deploys into the current resource group: a user-assigned identity, a storage account (host
// storage, Flex deployment package, state store, Event Grid dead letters; no account keys), Log
// Analytics + workspace-based Application Insights (Entra-authenticated telemetry only), a Flex
// Consumption (FC1) Python 3.11 Function App, an action group and three log alerts. Into the
// vault's resource group: the identity's two read roles on the vault, the vault's Event Grid
// system topic and (second pass, once the code is published) the event subscription to
// `rotate_on_keyvault_event`. Optionally, in the identity's
// own tenant: the Microsoft Graph application permission APIConnectors.ReadWrite.All.
//
// Every role assignment is scoped to one resource (the vault, the storage account, or its
// dead-letter container), named guid(scope, principalId, roleId), principalType ServicePrincipal.
// See infra/README.md for the deploy commands and the role table.

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

// The existing vault, read here only for its region (handed to the system topic's module).
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
  }
}

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
    rotatorSettings: union(rotatorSettings, graphTenantSetting, graphClientSetting, graphCertificateSetting, graphSecretSetting, graphKeyVaultSetting, authorityHostSetting)
  }
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
  }
}

module deadLetterAccess 'modules/deadletter-access.bicep' = {
  name: 'rotator-deadletter-access'
  params: {
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
    systemTopicPrincipalId: keyVaultAccess.outputs.systemTopicPrincipalId
  }
}

module keyVaultEvents 'modules/keyvault-events.bicep' = if (deployEventSubscription) {
  name: 'rotator-keyvault-events'
  scope: resourceGroup(keyVaultResourceGroupName)
  dependsOn: [
    deadLetterAccess
  ]
  params: {
    systemTopicName: keyVaultAccess.outputs.systemTopicName
    endpointType: eventSubscriptionEndpoint
    functionAppId: functionApp.outputs.id
    functionAppHostName: functionApp.outputs.defaultHostName
    functionName: 'rotate_on_keyvault_event'
    storageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
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
  }
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
