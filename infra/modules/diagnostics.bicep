// Diagnostic settings of the storage account to the Log Analytics workspace: the blob and queue
// services' resource logs (StorageRead, StorageWrite, StorageDelete: every host-storage, state-store,
// deployment-package, dead-letter and Key Vault events queue operation, with the caller's identity)
// and Transaction metrics; the account itself has metrics only (Transaction; Capacity is left out,
// it changes hourly and says nothing about failures).
// Categories: learn.microsoft.com/azure/storage/blobs/monitor-blob-storage-reference and
// .../queues/monitor-queue-storage-reference (log categories of blobServices / queueServices;
// metric categories Transaction and Capacity); a diagnostic setting of a storage service is an
// extension resource on `<account>/blobServices/default` or `<account>/queueServices/default`
// (learn.microsoft.com/azure/templates/microsoft.insights/diagnosticsettings).
// The system topic's setting lives with the topic, in keyvault-access.bicep.

param storageAccountName string

@description('Resource id of the Log Analytics workspace.')
param workspaceId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]
var transactionMetrics = [
  {
    category: 'Transaction'
    enabled: true
  }
]

resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'rotator-diagnostics'
  scope: account
  properties: {
    workspaceId: workspaceId
    metrics: transactionMetrics
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'rotator-diagnostics'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: transactionMetrics
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'rotator-diagnostics'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: transactionMetrics
  }
}
