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

@description('Private mode (vnetEnabled): the public endpoint refuses every caller except Azure\'s trusted services (Event Grid delivering to the queue and dead-lettering with the system topic\'s identity); the app reaches the account through its private endpoints.')
param privateNetwork bool = false

@description('Create the Function identity\'s role on the account (false: main.bicep lists it in roleAssignmentsToGrant instead).')
param createRoleAssignments bool = true

// Storage Blob Data Owner (b7e6dc6d-f1e8-4753-8033-0f276bb0955b), learn.microsoft.com/azure/
// role-based-access-control/built-in-roles/storage#storage-blob-data-owner.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

// Network access. Without a VNet (the default) the account is reached over its public endpoint,
// every request Entra-authenticated. With vnetEnabled the default action is Deny with no IP or
// VNet rule, so the public endpoint answers only Azure's trusted services, and the app uses the
// blob and queue private endpoints (private-endpoints.bicep). publicNetworkAccess stays 'Enabled'
// on purpose: Event Grid delivers to the queue and dead-letters from outside any VNet, which a
// storage firewall lets through only as a trusted service with the topic's SYSTEM-assigned
// identity and "Allow Azure services on the trusted services list" (bypass AzureServices)
// (learn.microsoft.com/azure/event-grid/handler-storage-queues, note on firewalls; the CIS
// benchmark's trusted-services control applies to "Enabled from selected virtual networks and IP
// addresses", ce.prod.cloudaware.com/ce/ca/azure/storage/trusted-azure-services-exceptions).
// 'Disabled' would close that exception too, as far as Microsoft's pages say, and the queue route
// that private mode depends on would stop (see infra/README.md, "Private network").
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:Default action is Deny with vnetEnabled; without a VNet (the default) Flex Consumption reaches its host storage over the public endpoint, every request Entra-authenticated (shared key off).
  //checkov:skip=CKV_AZURE_59:publicNetworkAccess stays Enabled so that Event Grid (a trusted service, outside any VNet) can deliver to the queue and dead-letter; with vnetEnabled the firewall (Deny, bypass AzureServices, no rules) admits nothing else. See the comment above.
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
      defaultAction: privateNetwork ? 'Deny' : 'Allow'
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
//   blob trigger's poison queue use host-storage queues. The Key Vault events queue
//   (eventDelivery=storageQueue) gets its own assignment in queue-events.bicep.
// - Storage Table Data Contributor: only Durable Functions and the optional persistence of host
//   diagnostic events use tables; the app works without it.
resource functionBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (createRoleAssignments) {
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
output queueEndpoint string = account.properties.primaryEndpoints.queue
