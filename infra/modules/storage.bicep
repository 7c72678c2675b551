// The Function App's own storage account: Functions host storage, the Flex Consumption deployment
// package, the rotator's state store and the Event Grid dead-letter container. No account key is
// ever used: shared key access is off and every client (host, deployment, rotator, Event Grid)
// authenticates with Microsoft Entra ID.
//
// Properties: learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts
// Identity-based host storage on Flex Consumption (AzureWebJobsStorage__accountName +
// __credential + __clientId, Storage Blob Data Owner): learn.microsoft.com/azure/azure-functions/
// functions-reference#connecting-to-host-storage-with-an-identity and the Flex samples in
// Azure-Samples/azure-functions-flex-consumption-samples (IaC/bicep).

@description('Globally unique storage account name: 3-24 lower-case letters and digits.')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

@description('Replication. Zone-redundant by default; Standard_LRS is enough where the region has no availability zones (the account holds no irreplaceable data).')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param skuName string = 'Standard_ZRS'

@description('Blob container the Flex Consumption platform deploys the app package from.')
param deploymentContainerName string

@description('Blob container of the rotator state store (history and per-connector leases).')
param stateContainerName string

@description('Blob container Event Grid writes undeliverable Key Vault events to.')
param deadLetterContainerName string

@description('Principal id of the Function App user-assigned identity.')
param functionPrincipalId string

// Storage Blob Data Owner (b7e6dc6d-f1e8-4753-8033-0f276bb0955b), learn.microsoft.com/azure/
// role-based-access-control/built-in-roles/storage#storage-blob-data-owner.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches its host storage over the public endpoint; every request is still Entra-authenticated (shared key off).
  //checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: the Functions host, the Flex deployment service and Event Grid dead-lettering need the public endpoint when no VNet is deployed.
  //checkov:skip=CKV_AZURE_206:Replication is the skuName parameter, zone-redundant by default; geo-replication buys little here: host state and the package are re-created by a deploy, and every rotation is also logged to Application Insights.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: stateContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The one storage role of the Function App identity, on this account only.
// - Functions host with identity-based AzureWebJobsStorage: Storage Blob Data Owner is the
//   documented minimum ("covers the basic needs of Functions host storage": blobs read/write,
//   creating the azure-webjobs-hosts / azure-webjobs-secrets containers, the timer trigger's
//   singleton and schedule-monitor blob leases, function keys in blob storage).
// - Flex Consumption deployment: the platform reads the package from deploymentContainerName with
//   this identity (functionAppConfig.deployment.storage.authentication = UserAssignedIdentity).
// - The rotator state store (stateContainerName): blob read/write plus blob leases for the
//   per-connector lock; already covered by the same role, so no second assignment is made.
// Not assigned, on purpose:
// - Storage Queue Data Contributor: only queue-based triggers/bindings, Durable Functions and the
//   blob trigger's poison queue use host-storage queues; this app has timer, Event Grid and HTTP
//   triggers only.
// - Storage Table Data Contributor: only Durable Functions and the optional persistence of host
//   diagnostic events use tables; the app works without it.
resource functionBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, functionPrincipalId, storageBlobDataOwner)
  scope: account
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    description: 'rotator Function App: identity-based host storage, Flex deployment package, rotator state store.'
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
