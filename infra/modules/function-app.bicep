// The Function App on the Flex Consumption plan (FC1), Linux, Python 3.11 or 3.12, running as the
// user-assigned identity: host storage, the deployment package, Key Vault and (where the identity
// lives in the connectors' tenant) Microsoft Graph are all reached with that identity, never a key.
//
// Flex Consumption in Bicep (serverfarm sku FC1/FlexConsumption, `functionAppConfig` with
// deployment.storage / scaleAndConcurrency / runtime instead of linuxFxVersion and the
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION settings, which Flex does not accept):
// learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan
// and Azure-Samples/functions-quickstart-python-http-azd (infra/core/host/functions-flexconsumption.bicep).
// Site properties: learn.microsoft.com/azure/templates/microsoft.web/sites.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity: AzureWebJobsStorage__clientId and AZURE_CLIENT_ID.')
param identityClientId string

param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param applicationInsightsName string

@description('Largest number of instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance (MB).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Python version of the Flex runtime (functionAppConfig.runtime.version); 3.11 and 3.12 are what the project tests.')
@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'

@description('Subnet delegated to Microsoft.App/environments for Flex VNet integration (empty: none).')
param virtualNetworkSubnetId string = ''

@description('Name of the Key Vault events queue the queue trigger reads (empty: Event Grid calls the function, no queue settings).')
param keyVaultEventsQueueName string = ''

@description('The rotator settings (ROTATOR_* and AZURE_CLIENT_ID), name to value; main.bicep leaves out the optional ones that are empty so the code applies its own default.')
param rotatorSettings object

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy exists only in some regions, so it cannot be on by default; a missed run is harmless (the next timer tick or Event Grid's retry reconciles, and rotation is idempotent).
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Identity-based host storage: the account + managed identity + which identity (a user-assigned
// one must be named by its client id). No AzureWebJobsStorage connection string exists.
// The account is named differently per cloud (environment().suffixes.storage):
// - Azure's public cloud: by __accountName, as Microsoft's Flex samples do.
// - a national cloud: by its service URIs, which Microsoft's docs require there INSTEAD of
//   __accountName (learn.microsoft.com/azure/azure-functions/functions-app-settings,
//   AzureWebJobsStorage__accountName / __blobServiceUri / __queueServiceUri / __tableServiceUri).
//   Both forms at once can fail ("Unable to find matching constructor ... BlobServiceClient",
//   hashicorp/terraform-provider-azurerm#32062).
// rotator's state store reads __blobServiceUri when present, else builds the public-cloud blob URI
// from __accountName (rotator/settings.py), so it follows the host in either cloud.
var storageSuffix = environment().suffixes.storage
var publicCloudStorage = storageSuffix == 'core.windows.net'
var hostStorageByAccountName = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
]
var hostStorageByServiceUri = [
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: 'https://${storageAccountName}.blob.${storageSuffix}'
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: 'https://${storageAccountName}.queue.${storageSuffix}'
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: 'https://${storageAccountName}.table.${storageSuffix}'
  }
]

var hostSettings = concat(publicCloudStorage ? hostStorageByAccountName : hostStorageByServiceUri, [
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  // Application Insights accepts only Entra-authenticated telemetry (monitoring.bicep): the host
  // sends it as this identity, which holds Monitoring Metrics Publisher on the component.
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
])

// The queue trigger's identity-based connection "KeyVaultEventsQueue" (function_app.py), on either
// route (see queue-events.bicep for why): <CONNECTION>__queueServiceUri + __credential + __clientId
// (learn.microsoft.com/azure/azure-functions/functions-reference#configure-an-identity-based-connection,
// "Azure Queues" row: queueServiceUri; credential managedidentity and clientId for a user-assigned
// identity). The queue's URI uses this cloud's storage suffix, as host storage does.
var keyVaultEventsQueueSettings = empty(keyVaultEventsQueueName) ? [] : [
  {
    name: 'KeyVaultEventsQueue__queueServiceUri'
    value: 'https://${storageAccountName}.queue.${storageSuffix}'
  }
  {
    name: 'KeyVaultEventsQueue__credential'
    value: 'managedidentity'
  }
  {
    name: 'KeyVaultEventsQueue__clientId'
    value: identityClientId
  }
]

var rotatorAppSettings = [
  for setting in items(rotatorSettings): {
    name: setting.key
    value: string(setting.value)
  }
]

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:The HTTP functions (status, manual rotation) and publishing use the public endpoint, behind function keys and Entra sign-in; with eventDelivery=functionWebhook Event Grid calls it too. In private mode (vnetEnabled) events come through the queue and the app's outbound traffic uses the VNet.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero by design; a minimum instance count (always ready) would pay for idle instances of a job that runs every few hours and is idempotent.
  //checkov:skip=CKV_AZURE_213:Health check probes a path to evict bad instances behind App Service's load balancer; Flex Consumption manages its on-demand instances itself and this app has no health endpoint.
  //checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP(S) endpoint and deprecates siteConfig.ftpsState ("FTPS not supported"; some regions reject it); FTP basic publishing credentials are disabled by the basicPublishingCredentialsPolicies below.
  //checkov:skip=CKV_AZURE_17:Required client certificates would break Event Grid delivery (Event Grid presents none) and optional ones protect nothing; the endpoints use function/system keys over TLS 1.2.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // Flex Consumption VNet integration: the site's virtualNetworkSubnetId, a subnet delegated to
    // Microsoft.App/environments (Azure-Samples/functions-quickstart-python-http-azd, infra/app/api.bicep
    // -> virtualNetworkSubnetId; learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#enable-virtual-network-integration).
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      // no ftpsState: Flex Consumption has no FTP(S) endpoint and lists the property as deprecated
      // ("FTPS not supported"; some regions reject it). Basic publishing credentials are off below.
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: concat(hostSettings, keyVaultEventsQueueSettings, rotatorAppSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Basic (publishing-profile) authentication off for both FTP and the SCM/Kudu site: deployments
// use Microsoft Entra ID (`func azure functionapp publish`, `az functionapp deployment source
// config-zip`). learn.microsoft.com/azure/app-service/configure-basic-auth-disable
// `location` is not in the published type (Bicep warns BCP187) but Azure answers BadRequest "The
// parameter location has an invalid value" without it: Azure/bicep-types-az#1317, #1526, #1571,
// Azure/bicep#5531; the AVM module avm/res/web/site/basic-publishing-credentials-policy sets it.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  #disable-next-line BCP187
  location: location
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  #disable-next-line BCP187
  location: location
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
